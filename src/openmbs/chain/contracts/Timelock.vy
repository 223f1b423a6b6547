# pragma version ~=0.4.3
"""
@title openmbs Timelock: delayed parameter changes
@custom:contract-name Timelock
@license Apache-2.0
@notice The snekmate timelock controller: proposers `schedule` a call, executors
        `execute` it after the minimum delay, cancellers `cancel` it. It holds
        DEFAULT_ADMIN_ROLE of the deal and the oracle, the role their parameter
        setters check (attestors, quorum, bounds, recipients, waterfall) and the
        admin of their other roles (docs/chain.md, "Authority model").
        Besides the proposers (snekmate makes each a canceller), `cancellers_` get
        CANCELLER_ROLE alone: the deal's guardian is one, so a change queued by a
        stolen or rogue proposer key can be cancelled during the delay by a
        different key that can neither schedule nor execute.
"""

from snekmate.auth import access_control
from snekmate.governance import timelock_controller

initializes: access_control
initializes: timelock_controller[access_control := access_control]

exports: timelock_controller.__interface__


@deploy
def __init__(
    minimum_delay_: uint256,
    proposers_: DynArray[address, 8],
    executors_: DynArray[address, 8],
    cancellers_: DynArray[address, 8],
    admin_: address,
):
    """
    @notice Create the timelock.
    @param minimum_delay_ Minimum delay between schedule and execute, in seconds.
    @param proposers_ Accounts that may schedule (and cancel) operations.
    @param executors_ Accounts that may execute ready operations.
    @param cancellers_ Accounts that may only cancel pending operations (the guardian).
    @param admin_ Optional admin for initial role set-up (zero address: none).
    """
    access_control.__init__()
    p: DynArray[address, 255] = []
    for a: address in proposers_:
        p.append(a)
    e: DynArray[address, 255] = []
    for a: address in executors_:
        e.append(a)
    timelock_controller.__init__(minimum_delay_, p, e, admin_)
    for a: address in cancellers_:
        assert a != empty(address)  # dev: zero canceller
        access_control._grant_role(timelock_controller.CANCELLER_ROLE, a)
