"""Servicer advances, their reimbursement and prepayment penalties on chain
(docs/chain.md, "Advances and penalties").

Attacks first: a servicer (with its attestors) reporting reimbursements it is not
owed, keeping penalties, or attestors' signatures over other figures; each is refused
with the oracle's ``# dev:`` reason and nothing is applied. Then the differential test:
random paths of advances, reimbursements (out of catch-up payments and liquidation
proceeds) and penalties go through ``RemittanceOracle.submit`` and every on-chain
figure equals the exact engine's (``apply_period(exact_remittance(report))``) to the
unit, for penalties paid to the residual holder and to a named class; and the deal's
cash is conserved (every unit deposited is owed to a holder or payee, held in the
reserve, or index-rounding dust).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from typing import Any

import boa
import pytest
from eth_account import Account
from hypothesis import example, given, settings
from hypothesis import strategies as st

from openmbs.chain import DealClient, config_from_exact, deploy_deal
from openmbs.chain._exact_waterfall import read_state
from openmbs.errors import RemittanceRejected
from openmbs.oracle import RemittanceReport, attest
from openmbs.structuring import compile_exact, exact_remittance, example_deal
from openmbs.structuring._exact import (
    ExactDeal,
    ExactPeriodResult,
    ExactState,
    apply_period,
    initial_state,
)

SERIOUS = 100_000_000_000  # conftest.SERIOUS_AT_CUTOFF: the world deal's 90+ balance at cut-off


def _with(report: RemittanceReport, **kw: int) -> RemittanceReport:
    """``report`` with ``kw`` and the cash its figures say (``collections``)."""
    r = dataclasses.replace(report, **kw)
    return dataclasses.replace(r, cash=r.collections())


def _rejected(world: Any, report: RemittanceReport, sigs: list[Any], match: str) -> None:
    period, held = world.d.deal.last_period(), world.d.deal.cash_held()
    outstanding = int(world.d.oracle.outstanding_advances())
    with pytest.raises(RemittanceRejected, match=re.escape(match)):
        world.d.remit(report, sigs)
    assert world.d.deal.last_period() == period and world.d.deal.cash_held() == held
    assert int(world.d.oracle.outstanding_advances()) == outstanding


# ------------------------------------------------------------------ attacks


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        # an advance is a scheduled installment not collected: not more than them
        ({"advances": 6_000_000_001}, "advances above scheduled collections"),
        # reimbursed more than was ever advanced (the deal has advanced nothing yet)
        ({"advance_reimbursements": 1}, "reimbursements above advances outstanding"),
        ({"advances": 1_000, "advance_reimbursements": 1_001}, "reimbursements above advances outstanding"),
        # taken out of liquidation proceeds that do not exist
        ({"advances": 1_000, "advance_reimbursements": 1_000, "liquidation_reimbursements": 1_000},
         "reimbursements above liquidation proceeds"),
        # more taken out of proceeds than reimbursed in all
        ({"advances": 1_000, "advance_reimbursements": 10, "liquidation_reimbursements": 11,
          "losses": 500, "recoveries": 500}, "liquidation reimbursements above reimbursements"),
        # a penalty is a fraction of the amount prepaid
        ({"prepayment_penalties": 2_000_000_001}, "penalties above prepayments"),
    ],
)
def test_reimbursements_and_penalties_the_pool_cannot_produce_are_refused(world, kw, reason):
    """The world deal's report: interest 5e9, scheduled 1e9, unscheduled 2e9; cash is
    made consistent, so only the bound under test fails."""
    kw = dict(kw)
    base = world.report(losses=kw.pop("losses", 0), recoveries=kw.pop("recoveries", 0))
    r = _with(base, **kw)
    _rejected(world, r, world.sign(r), reason)


def test_servicer_cannot_keep_penalties_or_reimburse_twice_through_the_cash(world):
    """Attestors sign figures whose cash leaves out the penalties, or also deposits
    (or keeps) the reimbursement out of proceeds: the cash identity refuses both."""
    base = world.report(losses=SERIOUS // 4, recoveries=SERIOUS // 4)
    r = _with(base, advances=3_000, advance_reimbursements=3_000, liquidation_reimbursements=3_000,
              prepayment_penalties=40_000_000, late_fees=5_000)  # fmt: skip
    for cash in (r.cash - r.prepayment_penalties, r.cash + r.liquidation_reimbursements, r.cash - 1):
        bad = dataclasses.replace(r, cash=cash)
        _rejected(world, bad, world.sign(bad), "cash != collections")
    # late fees are the servicer's: in the report, never in the cash
    bad = dataclasses.replace(r, cash=r.cash + r.late_fees)
    _rejected(world, bad, world.sign(bad), "cash != collections")


def test_attestors_signatures_do_not_cover_other_servicing_figures(world):
    """A quorum signed the report; the servicer raises its reimbursement (or lowers the
    penalties, or the late fees) after signing: the digest changes, the signers do not
    recover."""
    r = _with(world.report(), advances=5_000, prepayment_penalties=1_000, late_fees=7)
    sigs = world.sign(r)
    for kw in ({"advance_reimbursements": 5_000}, {"prepayment_penalties": 0}, {"late_fees": 0},
               {"advances": 4_000}):  # fmt: skip
        _rejected(world, _with(r, **kw), sigs, "signer is not an attestor")
    world.d.remit(r, sigs)
    assert int(world.d.oracle.outstanding_advances()) == 5_000


def test_outstanding_advances_follow_the_accepted_reports(world):
    """Advances accumulate; reimbursements draw them down to zero and never below."""
    made = [7_000, 0, 3_000]
    back = [0, 6_000, 4_000]
    outstanding = 0
    for adv, rb in zip(made, back, strict=True):
        r = _with(world.report(), advances=adv, advance_reimbursements=rb)
        world.remit(r)
        outstanding += adv - rb
        assert int(world.d.oracle.outstanding_advances()) == outstanding
    assert outstanding == 0
    r = _with(world.report(), advance_reimbursements=1)
    _rejected(world, r, world.sign(r), "reimbursements above advances outstanding")


# ------------------------------------------------------------------ differential and conservation

KEYS = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
LOANS = 500
FAR = 2**40


def _deal(penalty_to: int) -> ExactDeal:
    return dataclasses.replace(compile_exact(example_deal("four_tranche")), penalty_to=penalty_to)


@dataclasses.dataclass
class Closed:
    d: DealClient
    exact: ExactDeal
    admin: str
    servicer: str
    holders: list[str]


@pytest.fixture(autouse=True)
def _rollback(request: pytest.FixtureRequest) -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback: the attack tests, which take
    the shared ``world``, run in a snapshot of it that is rolled back after them (as
    the conftest does); the differential tests deploy their own deals and need none."""
    if "world" not in request.fixturenames:
        yield
        return
    world = request.getfixturevalue("world")
    with boa.env.anchor():
        world.reset_engine()
        yield


@pytest.fixture(scope="module")
def deals() -> dict[str, Closed]:
    return {"residual": _closed("pen_residual", _deal(-1)), "class": _closed("pen_class", _deal(3))}


def _closed(name: str, exact: ExactDeal) -> Closed:
    admin = boa.env.generate_address(f"admin-{name}")
    servicer = boa.env.generate_address(f"servicer-{name}")
    pool = exact.pool_original
    cfg = config_from_exact(exact, name=name, loan_count=LOANS, initial_delinquent=(pool - pool // 5, 0, pool // 5),
                            offering_price_wad=[10**18] * exact.n_tranches)  # fmt: skip
    d = deploy_deal(cfg, attestors=[k.address for k in KEYS], admin=admin, servicer=servicer)
    holders = [boa.env.generate_address(f"{name}-h{t}") for t in range(exact.n_tranches)]
    d.allow([*holders, admin, servicer], FAR)
    for t, face in enumerate(exact.face):
        d.settlement.mint(holders[t], face, sender=admin)
        d.subscribe(holders[t], t, face)
    d.close()
    for h in holders:
        d.settle(h)
    d.settlement.mint(servicer, 10 * pool, sender=admin)
    return Closed(d, exact, admin, servicer, holders)


# one period: prepay bp, liquidated bp of pool, recovery % of liquidated, advance % of
# scheduled P&I, reimbursement % of outstanding, % of it out of proceeds, penalty bp of
# prepaid, late fees
_period = st.tuples(
    st.integers(0, 800),
    st.one_of(st.just(0), st.integers(0, 400)),
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(0, 100),
    st.integers(0, 500),
    st.integers(0, 10**9),
)


def _reports(deal: ExactDeal, periods: Sequence[tuple[int, ...]]) -> Iterator[RemittanceReport]:
    """Reports the oracle accepts: the pool rolls forward (liquidations out of last
    month's 60+ balance), advances within the scheduled P&I, reimbursements within the
    advances outstanding, those out of proceeds within the proceeds, penalties within
    the prepayments; cash = ``collections``."""
    pool = deal.pool_original
    serious = pool // 5
    outstanding = 0
    for p, (pre_bp, liq_bp, rec_pct, adv_pct, rb_pct, liq_pct, pen_bp, late) in enumerate(periods, 1):
        sched = pool // 360
        prepaid = min(pool - sched, pool * pre_bp // 10_000)
        liquidated = min(pool - sched - prepaid, pool * liq_bp // 10_000, serious)
        recov = liquidated * rec_pct // 100
        loss = liquidated - recov
        end = pool - sched - prepaid - liquidated
        serious = min(end // 10, serious - liquidated + end // 20)
        interest = pool * 6 // 100 // 12
        advances = (interest + sched) * adv_pct // 100
        reimbursed = (outstanding + advances) * rb_pct // 100
        out_of_proceeds = min(reimbursed * liq_pct // 100, recov)
        outstanding += advances - reimbursed
        r = RemittanceReport(
            period=p, scheduled_principal=sched, unscheduled_principal=prepaid, interest=interest,
            recoveries=recov, losses=loss, beginning_balance=pool, ending_balance=end, loan_count=LOANS,
            delinquent_30=end - serious, delinquent_60=serious, delinquent_90_plus=0, index_rate=0, cash=0,
            loan_tape_root=p.to_bytes(32, "big"), advances=advances, advance_reimbursements=reimbursed,
            liquidation_reimbursements=out_of_proceeds, prepayment_penalties=prepaid * pen_bp // 10_000,
            late_fees=late,
        )  # fmt: skip
        yield dataclasses.replace(r, cash=r.collections())
        pool = end


def _check(c: Closed, res: ExactPeriodResult, state: ExactState, logs: list[Any], period: int) -> None:
    d, ex = c.d, c.exact
    alloc = sorted((e for e in logs if type(e).__name__ == "TrancheAllocated"), key=lambda e: e.tranche)
    for i, e in enumerate(alloc):
        got = (e.interest, e.principal, e.loss, e.writeup, e.balance, e.interest_shortfall)
        want = (res.interest_paid[i], res.principal_paid[i], res.writedown[i], res.writeup[i] + res.accreted[i],
                res.ending_balance[i], res.interest_shortfall[i])  # fmt: skip
        assert got == want, f"period {period} tranche {i}"
    (dist,) = [e for e in logs if type(e).__name__ == "Distributed"]
    assert (dist.fee, dist.residual) == (sum(res.fees_paid), res.residual_paid)
    assert dist.reserve_balance == state.reserve + state.dust
    assert read_state(d.waterfall, ex) == state


@pytest.mark.parametrize("name", ["residual", "class"])
@settings(max_examples=5, deadline=None)
@given(periods=st.lists(_period, min_size=2, max_size=5))
# every feature at once: advances, reimbursements out of catch-ups and proceeds,
# penalties, late fees, losses
@example(periods=[(100, 200, 50, 50, 0, 0, 100, 5), (100, 200, 50, 80, 100, 60, 100, 5), (50, 100, 30, 20, 50, 100, 300, 0)])
def test_chain_matches_exact_engine_with_advances_and_penalties(
    deals: dict[str, Closed], name: str, periods: list[tuple[int, ...]]
) -> None:
    c = deals[name]
    d, ex = c.d, c.exact
    n = ex.n_tranches
    with boa.env.anchor():
        state = initial_state(ex)
        deposited = penalties = 0
        held_before = int(d.deal.cash_held())
        for r in _reports(ex, periods):
            d.remit(r, attest(r, [k.key for k in KEYS[:3]], chain_id=d.chain_id(),
                              verifying_contract=str(d.oracle.address)))  # fmt: skip
            state, res = apply_period(ex, state, exact_remittance(r))
            _check(c, res, state, d.oracle.get_logs(), r.period)
            assert res.cash_in == r.cash
            deposited += r.cash
            penalties += r.prepayment_penalties
        # conservation: every unit deposited is owed to a holder or payee, in the
        # reserve account, or rounding dust (below one unit per tranche and period)
        held = int(d.deal.cash_held())
        assert held - held_before == deposited
        owed = sum(d.claimable(t, h) for t, h in enumerate(c.holders))
        dust = held - int(d.deal.reserve_balance()) - owed - int(d.deal.payee_owed(c.admin))
        assert 0 <= dust <= n * (len(periods) + 1)
        assert int(d.settlement.balanceOf(d.deal.address)) == held
        assert penalties > 0 or all(p[6] == 0 or p[0] == 0 for p in periods)
