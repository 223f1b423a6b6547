"""``Deal.distribute``'s per-tranche index checks, written out inline on the hot path
(they were ``_check_index`` calls): a waterfall that credits an index beyond the cash
it pays, or moves one back, is refused with the same ``# dev:`` reasons, and the
largest index the cash allows is accepted (the bound is exact, not loose).

The attacker is the waterfall contract itself (governance replaced it: the deal must
not trust its answer)."""

from __future__ import annotations

from typing import Any

import boa
import pytest

from openmbs.errors import RemittanceRejected

WAD = 10**18

EVIL = """
# pragma version ~=0.4.3
struct RemittanceReport:
    period: uint256
    scheduled_principal: uint256
    unscheduled_principal: uint256
    interest: uint256
    recoveries: uint256
    losses: uint256
    beginning_balance: uint256
    ending_balance: uint256
    loan_count: uint256
    delinquent_30: uint256
    delinquent_60: uint256
    delinquent_90_plus: uint256
    index_rate: uint256
    cash: uint256
    loan_tape_root: bytes32
    subsequent_recoveries: uint256
    advances: uint256
    advance_reimbursements: uint256
    liquidation_reimbursements: uint256
    prepayment_penalties: uint256
    late_fees: uint256

struct WaterfallInput:
    report: RemittanceReport
    reserve_balance: uint256

struct Allocation:
    interest: uint256[BOUND]
    principal: uint256[BOUND]
    loss: uint256[BOUND]
    writeup: uint256[BOUND]
    balance: uint256[BOUND]
    interest_shortfall: uint256[BOUND]
    interest_index: uint256[BOUND]
    principal_index: uint256[BOUND]
    loss_index: uint256[BOUND]
    writeup_index: uint256[BOUND]
    fee: uint256
    residual: uint256
    reserve_balance: uint256
    state: uint256[4]

# the whole cash to tranche `tranche` as interest (kind 0) or principal (kind 1), at
# the index the attacker chose
tranche: public(uint256)
kind: public(uint256)
index: public(uint256)

@external
def set(tranche_: uint256, kind_: uint256, index_: uint256):
    self.tranche = tranche_
    self.kind = kind_
    self.index = index_

@external
def allocate(inp: WaterfallInput) -> Allocation:
    a: Allocation = empty(Allocation)
    a.reserve_balance = inp.reserve_balance
    if self.kind == 0:
        a.interest[self.tranche] = inp.report.cash
        a.interest_index[self.tranche] = self.index
    else:
        a.principal[self.tranche] = inp.report.cash
        a.principal_index[self.tranche] = self.index
    return a

@external
@view
def tranche_balance(i: uint256) -> uint256:
    return 0

@external
@view
def shortfall(i: uint256) -> uint256:
    return 0

@external
@view
def state_word(w: uint256) -> uint256:
    return 0

@external
@pure
def max_tranches() -> uint256:
    return BOUND
"""


def _evil(d: Any) -> Any:
    """The attacker's waterfall, of the deal's build (its Allocation rows are the
    deal's class bound, which ``set_waterfall`` checks)."""
    return boa.loads(EVIL.replace("BOUND", str(d.bound)))


def _largest(cash: int, face: int) -> int:
    """The largest index step the deal allows for ``cash`` on ``face``:
    ``step * face < cash * 1e18 + face``."""
    return (cash * WAD + face - 1) // face


@pytest.mark.parametrize(("tranche", "kind"), [(0, 0), (1, 1), (3, 0), (2, 1)])
def test_an_index_above_the_cash_or_moved_back_is_refused(world, tranche, kind):
    d = world.d
    evil = _evil(d)
    with boa.env.prank(d.timelock.address):
        d.deal.set_waterfall(evil.address)
    face = int(d.deal.original_face(tranche))
    r = world.report()
    top = _largest(r.cash, face)
    evil.set(tranche, kind, top + 1)
    with pytest.raises(RemittanceRejected, match="index above cash"):
        d.remit(r, world.sign(r))
    evil.set(tranche, kind, top)  # the exact bound is accepted
    d.remit(r, world.sign(r))
    idx = d.deal.interest_index(tranche) if kind == 0 else d.deal.principal_index(tranche)
    assert idx == top
    r2 = world.report()
    evil.set(tranche, kind, top - 1)  # an index below the last one
    with pytest.raises(RemittanceRejected, match="index moved back"):
        d.remit(r2, world.sign(r2))
