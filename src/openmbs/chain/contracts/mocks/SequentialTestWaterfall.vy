# pragma version ~=0.4.3
"""
@title SequentialTestWaterfall: a TEST DOUBLE of the waterfall (tests and gas bench)
@custom:contract-name SequentialTestWaterfall
@license Apache-2.0
@notice NOT the deal's waterfall. A simple rule set that exercises the deal's
        infrastructure (indices, checkpoints, claims, losses, residual, state
        words) until the exact waterfall is ported: interest due = balance x coupon
        / 12 + shortfall, paid in tranche order from collected interest; principal
        collections (scheduled + unscheduled + recoveries) paid sequentially;
        losses written down from the most junior tranche with balance left; what
        is left goes to the residual. The reserve is carried unchanged; state[0]
        accumulates losses, state[1] counts periods. The tests keep an independent
        Python model of these rules.
"""

from .. import deal_types

MAX_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
WAD: constant(uint256) = deal_types.WAD

coupon: public(immutable(uint256[MAX_TRANCHES]))
count: public(immutable(uint256))


@deploy
def __init__(coupons_: DynArray[uint256, MAX_TRANCHES]):
    c: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    for i: uint256 in range(len(coupons_), bound=MAX_TRANCHES):
        c[i] = coupons_[i]
    coupon = c
    count = len(coupons_)


@external
@view
def allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation:
    a: deal_types.Allocation = empty(deal_types.Allocation)
    r: deal_types.RemittanceReport = inp.report
    interest_left: uint256 = r.interest
    principal_left: uint256 = r.scheduled_principal + r.unscheduled_principal + r.recoveries
    for i: uint256 in range(count, bound=MAX_TRANCHES):
        due: uint256 = inp.tranche_balance[i] * coupon[i] // (12 * WAD) + inp.interest_shortfall[i]
        paid: uint256 = min(due, interest_left)
        interest_left -= paid
        a.interest[i] = paid
        a.interest_shortfall[i] = due - paid
        p: uint256 = min(inp.tranche_balance[i], principal_left)
        principal_left -= p
        a.principal[i] = p
    loss_left: uint256 = r.losses
    for k: uint256 in range(count, bound=MAX_TRANCHES):
        i: uint256 = count - 1 - k
        room: uint256 = inp.tranche_balance[i] - a.principal[i]
        l: uint256 = min(room, loss_left)
        loss_left -= l
        a.loss[i] = l
    a.residual = interest_left + principal_left
    a.reserve_balance = inp.reserve_balance
    a.state = inp.state
    a.state[0] += r.losses
    a.state[1] += 1
    return a
