# pragma version ~=0.4.3
"""
@title SequentialTestWaterfall: a TEST DOUBLE of the waterfall (tests only)
@custom:contract-name SequentialTestWaterfall
@license Apache-2.0
@notice NOT the deal's waterfall (that is `ExactWaterfall.vy`). A deliberately simple
        and different rule set, used by tests to exercise the deal's infrastructure
        (indices, checkpoints, claims, losses, residual) and to show that the audit
        catches a waterfall that is not the deal's: interest due = balance x coupon
        / 12 + shortfall, paid in tranche order from collected interest; principal
        collections (scheduled + unscheduled + recoveries + subsequent recoveries)
        paid sequentially; losses written down from the most junior tranche with
        balance left; what is left goes to the residual. The reserve account is
        carried unchanged. Indices are floored each period with no carried
        remainder. state[0] accumulates losses, state[1] is the period. The tests
        keep an independent Python model of these rules.
"""

from .. import deal_types

MAX_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
STATE_WORDS: constant(uint256) = deal_types.STATE_WORDS
WAD: constant(uint256) = deal_types.WAD

coupon: public(immutable(uint256[MAX_TRANCHES]))
face: public(immutable(uint256[MAX_TRANCHES]))
count: public(immutable(uint256))
deal: public(immutable(address))

tranche_balance: public(uint256[MAX_TRANCHES])
shortfall: public(uint256[MAX_TRANCHES])
_index: uint256[MAX_TRANCHES][3]
_state: uint256[STATE_WORDS]


@deploy
def __init__(coupons_: DynArray[uint256, MAX_TRANCHES], faces_: DynArray[uint256, MAX_TRANCHES], deal_: address):
    assert len(coupons_) == len(faces_)  # dev: length mismatch
    c: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    f: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    for i: uint256 in range(len(coupons_), bound=MAX_TRANCHES):
        c[i] = coupons_[i]
        f[i] = faces_[i]
        self.tranche_balance[i] = faces_[i]
    coupon = c
    face = f
    count = len(coupons_)
    deal = deal_


@external
@pure
def max_tranches() -> uint256:
    """
    @notice The class bound of this build (`deal_types.MAX_TRANCHES`): the rows of
            the Allocation it exchanges with the deal.
    """
    return MAX_TRANCHES


@external
@view
def state_word(w: uint256) -> uint256:
    return self._state[w]


@external
def allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation:
    assert msg.sender == deal  # dev: only deal
    a: deal_types.Allocation = empty(deal_types.Allocation)
    r: deal_types.RemittanceReport = inp.report
    interest_left: uint256 = r.interest
    principal_left: uint256 = r.scheduled_principal + r.unscheduled_principal + r.recoveries - r.liquidation_reimbursements + r.subsequent_recoveries
    bal: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    for i: uint256 in range(count, bound=MAX_TRANCHES):
        bal[i] = self.tranche_balance[i]
        due: uint256 = bal[i] * coupon[i] // (12 * WAD) + self.shortfall[i]
        paid: uint256 = min(due, interest_left)
        interest_left -= paid
        a.interest[i] = paid
        a.interest_shortfall[i] = due - paid
        p: uint256 = min(bal[i], principal_left)
        principal_left -= p
        a.principal[i] = p
    loss_left: uint256 = r.losses
    for k: uint256 in range(count, bound=MAX_TRANCHES):
        i: uint256 = count - 1 - k
        room: uint256 = bal[i] - a.principal[i]
        l: uint256 = min(room, loss_left)
        loss_left -= l
        a.loss[i] = l
    for i: uint256 in range(count, bound=MAX_TRANCHES):
        a.balance[i] = bal[i] - a.principal[i] - a.loss[i]
        self.tranche_balance[i] = a.balance[i]
        self.shortfall[i] = a.interest_shortfall[i]
        self._index[0][i] += a.interest[i] * WAD // face[i]
        self._index[1][i] += a.principal[i] * WAD // face[i]
        self._index[2][i] += a.loss[i] * WAD // face[i]
        a.interest_index[i] = self._index[0][i]
        a.principal_index[i] = self._index[1][i]
        a.loss_index[i] = self._index[2][i]
    a.residual = interest_left + principal_left + r.prepayment_penalties
    a.reserve_balance = inp.reserve_balance
    self._state[0] += r.losses
    self._state[1] = r.period
    a.state = self._state
    return a
