"""Differential test: ``ExactWaterfall.vy`` against the exact Python waterfall.

Every figure of :class:`ExactPeriodResult` and every field of :class:`ExactState`
after each period must be equal to the unit. The contract compiles once per session;
each hypothesis example runs inside ``boa.env.anchor()``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openmbs.chain._exact_waterfall import (
    ZERO_ADDRESS,
    apply_onchain,
    deploy_exact_waterfall,
    exact_params,
    exact_waterfall_deployer,
    read_state,
    report_struct,
)
from openmbs.chain.fastevm import make_lean
from openmbs.structuring import (
    EXAMPLE_DEALS,
    Collections,
    compile_exact,
    example_deal,
    example_deal_path,
    parse_deal,
    run_waterfall,
)
from openmbs.structuring._exact import (
    CPN_FLOAT,
    CPN_NETWAC,
    E_SEQUENTIAL,
    E_TRAP,
    E_TURBO,
    F_Z,
    MAX_FEES,
    MAX_TRANCHES,
    MAX_TRIGGERS,
    R_COVERS_INTEREST,
    T_CUMLOSS,
    T_DELINQ,
    T_IC,
    T_OC,
    WAD,
    ExactDeal,
    ExactPeriodResult,
    ExactRemittance,
    ExactState,
    apply_period,
    initial_state,
)

DEAL_ADDRESS = "0x00000000000000000000000000000000000d3a10"


def _synthetic() -> ExactDeal:
    """four_tranche with the features the examples lack: a floater (negative margin,
    floor, cap), a net-WAC class, a lockout, a Z class accreting to the senior,
    interest on shortfall and an interest-coverage trigger (sequential + turbo)."""
    d = compile_exact(example_deal("four_tranche"))
    return dataclasses.replace(
        d,
        coupon_kind=(d.coupon_kind[0], CPN_FLOAT, CPN_NETWAC, d.coupon_kind[3]),
        margin=(0, -WAD // 200, -WAD // 100, 0),
        floor=(0, WAD // 100, 0, 0),
        cap=(0, WAD * 7 // 100, 0, 0),
        lockout=(0, 0, 3, 0),
        flags=(0, 0, 0, F_Z),
        accretion_mask=(0, 0, 0, 0b0001),
        interest_on_shortfall=1,
        n_triggers=3,
        trig_test=(*d.trig_test, T_IC),
        trig_ref=(*d.trig_ref, 1),
        trig_threshold=(*d.trig_threshold, WAD * 11 // 10),
        trig_effect=(*d.trig_effect, E_SEQUENTIAL | E_TURBO),
        trig_curable=(*d.trig_curable, 1),
    )


DEALS: dict[str, ExactDeal] = {
    name: compile_exact(example_deal(name)) for name in ("four_tranche", "senior_sub", "pac_io")
}
DEALS["synthetic"] = _synthetic()


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback: these tests need no deployed
    deal (each one anchors its own state)."""
    yield


@pytest.fixture(scope="session")
def compiled() -> Any:
    """The contract, compiled once per session."""
    return exact_waterfall_deployer()


@pytest.fixture
def anchored(compiled: Any) -> Iterator[Any]:
    with boa.env.anchor():
        yield compiled


# one period: (prepay bp, loss bp, recovery % of loss, interest % of due, 60+ bp,
# index rate bp, subsequent recoveries bp of pool original)
_period = st.tuples(
    st.integers(0, 800),
    st.one_of(st.just(0), st.integers(0, 300), st.integers(300, 1500)),
    st.integers(0, 100),
    st.one_of(st.just(100), st.integers(0, 130)),
    st.integers(1, 1500),
    st.integers(0, 1000),
    st.one_of(st.just(0), st.integers(0, 50)),
)


def _remittances(
    deal: ExactDeal, periods: Sequence[tuple[int, ...]], wind_down: bool
) -> Iterator[ExactRemittance]:
    pool = deal.pool_original
    for p, (pre_bp, loss_bp, rec_pct, int_pct, dq_bp, idx_bp, sub_bp) in enumerate(periods, 1):
        sched = pool // 360
        prepaid = min(pool - sched, pool * pre_bp // 10_000)
        loss = min(pool - sched - prepaid, pool * loss_bp // 10_000)
        recov = loss * rec_pct // 100
        loss -= recov  # the liquidated balance is the loss plus its recovery
        end = pool - sched - prepaid - loss - recov
        if wind_down and p == len(periods):
            prepaid += end  # the pool pays off (final period: reserve and dust released)
            end = 0
        yield ExactRemittance(
            period=p,
            interest=pool * 6 // 100 // 12 * int_pct // 100,
            scheduled_principal=sched,
            prepaid_principal=prepaid,
            recoveries=recov,
            realized_losses=loss,
            beginning_balance=pool,
            ending_balance=end,
            delinquent_60=end * dq_bp // 10_000,
            index_rate=WAD * idx_bp // 10_000,
            subsequent_recoveries=deal.pool_original * sub_bp // 10_000,
        )
        pool = end


def _split(rem: ExactRemittance) -> tuple[int, int]:
    """(30-59 days, 90+ days) of the report for ``rem`` (whose ``delinquent_60`` is the
    60+ balance): 2.5% of the pool 30-59 days late, two thirds of the 60+ balance 90+,
    so every bucket is non-zero while the pool and its 60+ balance are."""
    return rem.ending_balance // 40, rem.delinquent_60 * 2 // 3


def _run(contract: Any, deal: ExactDeal, rems: Iterator[ExactRemittance]) -> list[int]:
    """Apply every remittance on both engines; returns the effect masks seen."""
    state: ExactState = initial_state(deal)
    assert read_state(contract, deal) == state
    effects = []
    for rem in rems:
        state, expected = apply_period(deal, state, rem)
        d30, d90 = _split(rem)
        assert rem.ending_balance == 0 or min(d30, rem.delinquent_60 - d90, d90) > 0
        got = apply_onchain(contract, deal, rem, DEAL_ADDRESS, delinquent_30=d30, delinquent_90_plus=d90)
        assert got == expected, f"period {rem.period}: {rem}"
        assert read_state(contract, deal) == state, f"state after period {rem.period}"
        effects.append(expected.effects)
    return effects


@pytest.mark.parametrize("name", sorted(DEALS))
def test_exact_waterfall_stress_path(anchored: Any, name: str) -> None:
    """A fixed path with heavy losses, an interest drought and a pay-off: the triggers
    trip, juniors are written down, the reserve is drawn, dust is released."""
    deal = DEALS[name]
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    periods = [
        (200, 0, 0, 100, 100, 300, 0),
        (100, 1200, 30, 100, 900, 500, 0),
        (100, 1500, 10, 0, 1200, 800, 0),
        (300, 0, 0, 40, 100, 100, 20),
        (500, 800, 50, 120, 50, 0, 0),
        (900, 0, 0, 100, 20, 0, 0),
    ]
    effects = _run(contract, deal, _remittances(deal, periods, wind_down=False))
    if name == "four_tranche":
        # the path exercises what it means to: triggers latch, the junior is written down
        assert effects[2] != 0
        assert read_state(contract, deal).writedown[3] > 0


def test_exact_waterfall_only_deal_and_sealed(anchored: Any) -> None:
    deal = DEALS["four_tranche"]
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    rem = next(_remittances(deal, [(0, 0, 0, 100, 100, 0, 0)], wind_down=False))
    with boa.reverts(dev="only deal"):
        apply_onchain(contract, deal, rem, boa.env.eoa)
    unsealed = anchored.deploy(exact_params(deal), DEAL_ADDRESS, ZERO_ADDRESS)
    with boa.reverts(dev="not sealed"):
        apply_onchain(unsealed, deal, rem, DEAL_ADDRESS)


def _allocation_input(rem: ExactRemittance, reserve_account: int) -> tuple[Any, ...]:
    """The deal's ``WaterfallInput`` for ``rem`` (reserve account = reserve + dust),
    every delinquency bucket non-zero (:func:`_split`)."""
    d30, d90 = _split(rem)
    report = report_struct(rem, delinquent_30=d30, delinquent_90_plus=d90, loan_count=10, loan_tape_root=b"\x42" * 32)
    return (report, reserve_account)


@pytest.mark.parametrize("name", ["four_tranche", "senior_sub", "pac_io", "synthetic"])
def test_exact_waterfall_allocate_interface(anchored: Any, name: str) -> None:
    """The deal's ``allocate``: the Allocation carries the exact figures (payments,
    write-downs, write-ups + accretion, balances, carried indices) and keeps the
    deal's identity ``sum(interest + principal) + fee + residual + reserve == cash +
    old reserve`` (the deal's reserve account holds the reserve and the dust)."""
    deal = DEALS[name]
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    state = initial_state(deal)
    periods = [(200, 0, 0, 100, 100, 0, 0), (100, 1200, 30, 60, 900, 0, 0), (300, 0, 0, 0, 300, 0, 10)]
    n = deal.n_tranches
    for rem in _remittances(deal, periods, wind_down=False):
        inp = _allocation_input(rem, state.reserve + state.dust)
        state, res = apply_period(deal, state, rem)
        a = contract.allocate(inp, sender=DEAL_ADDRESS)
        assert list(a.interest[:n]) == list(res.interest_paid)
        assert list(a.principal[:n]) == list(res.principal_paid)
        assert list(a.loss[:n]) == list(res.writedown)
        assert list(a.writeup[:n]) == [u + z for u, z in zip(res.writeup, res.accreted, strict=True)]
        assert list(a.balance[:n]) == list(res.ending_balance)
        assert list(a.interest_shortfall[:n]) == list(res.interest_shortfall)
        assert list(a.interest_index[:n]) == list(state.interest_index)
        assert list(a.principal_index[:n]) == list(state.principal_index)
        # the loss and write-up indices come only for tranches whose index moved
        assert list(a.loss_index[:n]) == [x if w else 0 for x, w in zip(state.loss_index, res.writedown, strict=True)]
        moved = [u + z for u, z in zip(res.writeup, res.accreted, strict=True)]
        assert list(a.writeup_index[:n]) == [x if w else 0 for x, w in zip(state.writeup_index, moved, strict=True)]
        assert a.fee == sum(res.fees_paid)
        assert a.residual == res.residual_paid
        assert a.reserve_balance == state.reserve + state.dust
        assert a.state[0] == state.cum_loss and a.state[1] == rem.period
        assert a.state[2] == sum(bit << k for k, bit in enumerate(state.latch)) | (res.effects << 8)
        assert [contract.state_word(w) for w in range(4)] == list(a.state)
        credited = sum(a.interest) + sum(a.principal)
        assert credited + a.fee + a.residual + a.reserve_balance == inp[0][13] + inp[1]
        assert read_state(contract, deal) == state
    # period 4, with a deal reserve account one unit off the waterfall's reserve + dust
    rem4 = dataclasses.replace(rem, period=4, beginning_balance=rem.ending_balance)
    with boa.reverts(dev="reserve out of sync"):
        contract.allocate(_allocation_input(rem4, state.reserve + state.dust + 1), sender=DEAL_ADDRESS)
    short = _allocation_input(rem4, state.reserve + state.dust)
    short = ((*short[0][:13], short[0][13] + 1, *short[0][14:]), short[1])
    with boa.reverts(dev="cash is not the collections"):
        contract.allocate(short, sender=DEAL_ADDRESS)


def test_exact_waterfall_rejects_malformed_parameters(anchored: Any) -> None:
    """The constructor refuses parameters the port cannot honour (never ignores one)."""
    deal = DEALS["four_tranche"]
    unknown_step = dataclasses.replace(deal, steps=(*deal.steps[:-1], 11))
    with boa.reverts(dev="unknown step"):
        anchored.deploy(exact_params(unknown_step), DEAL_ADDRESS, ZERO_ADDRESS)
    unknown_test = dataclasses.replace(deal, trig_test=(5, *deal.trig_test[1:]))
    with boa.reverts(dev="unknown trigger test"):
        anchored.deploy(exact_params(unknown_test), DEAL_ADDRESS, ZERO_ADDRESS)
    bad_rank = dataclasses.replace(deal, rank_end=(0, *deal.rank_end[1:]))
    with boa.reverts(dev="bad rank"):
        anchored.deploy(exact_params(bad_rank), DEAL_ADDRESS, ZERO_ADDRESS)


# ---------------------------------------------------------------------------------
# attacks on the trigger tests, run on every engine (exact, float numba / numpy, chain)
# ---------------------------------------------------------------------------------

ENGINES = ("exact", "numba", "numpy", "chain")


@dataclasses.dataclass(frozen=True)
class _Seen:
    """What a test looks at in one period, from any engine (money in base units;
    float engines' figures are scaled back to units, so compare them with ``tol``)."""

    failing: tuple[int, ...]
    effects: int
    principal: tuple[float, ...]
    interest: tuple[float, ...]
    fees: float
    residual: float
    release: float
    deposit: float
    draw: float
    ending: tuple[float, ...]


def _run_engine(
    engine: str, deal: ExactDeal, rems: Sequence[ExactRemittance]
) -> tuple[list[_Seen], float, ExactState | None]:
    """The periods as ``engine`` pays them, the tolerance (units) of its figures and,
    for the exact engine and the chain, the state after the last period."""
    if engine in ("exact", "chain"):
        state = initial_state(deal)
        out: list[_Seen] = []
        contract = deploy_exact_waterfall(deal, DEAL_ADDRESS) if engine == "chain" else None
        for rem in rems:
            state, r = apply_period(deal, state, rem)
            if contract is not None:
                # the report's buckets: 30-59 days 2% of the pool, the 60+ balance
                # split evenly between 60-89 days and 90+ (the contract adds them)
                r = apply_onchain(
                    contract, deal, rem, DEAL_ADDRESS,
                    delinquent_30=rem.ending_balance // 50, delinquent_90_plus=rem.delinquent_60 // 2,
                )  # fmt: skip
            out.append(
                _Seen(r.trigger_failing, r.effects, r.principal_paid, r.interest_paid, sum(r.fees_paid),
                      r.residual_paid, r.reserve_release, r.reserve_deposit, r.reserve_draw, r.ending_balance)
            )  # fmt: skip
        return out, 0.0, (state if contract is None else read_state(contract, deal))
    scale = 10**deal.decimals

    def col(name: str) -> Any:
        return [getattr(r, name) / scale for r in rems]

    coll = Collections.from_arrays(
        original_balance=deal.pool_original / scale,
        interest=col("interest"),
        scheduled_principal=col("scheduled_principal"),
        prepaid_principal=col("prepaid_principal"),
        recoveries=col("recoveries"),
        losses=col("realized_losses"),
        beginning_balance=col("beginning_balance"),
        ending_balance=col("ending_balance"),
        delinquent_60=col("delinquent_60"),
        index_rate=[r.index_rate / WAD for r in rems],
        subsequent_recoveries=col("subsequent_recoveries"),
    )
    fr = run_waterfall(deal, coll, engine=engine)  # type: ignore[arg-type]

    def t(name: str) -> Any:
        return fr.table(name)[0] * scale

    prin, intr, fees, end = t("principal_paid"), t("interest_paid"), t("fees_paid"), t("ending_balance")
    failing, effects = fr.table("trigger_failing")[0], fr.table("effects")[0]
    resid, rel, dep, draw = (t(k) for k in ("residual_paid", "reserve_release", "reserve_deposit", "reserve_draw"))
    out = [
        _Seen(
            tuple(int(x) for x in failing[p]),
            int(effects[p]),
            tuple(prin[p]),
            tuple(intr[p]),
            float(fees[p].sum()),
            float(resid[p]),
            float(rel[p]),
            float(dep[p]),
            float(draw[p]),
            tuple(end[p]),
        )
        for p in range(len(rems))
    ]
    return out, 1e-9 * deal.pool_original, None


def _level_path(
    deal: ExactDeal,
    cpr: float,
    months: int,
    *,
    wac: float = 0.065,
    net: float = 0.06,
    dq_bp: tuple[int, int, int] = (200, 50, 50),
    loss_bp: Sequence[int] = (),
    sub_bp: Sequence[int] = (),
) -> list[ExactRemittance]:
    """A level-pay 360-month pool at a constant CPR: scheduled principal of the level
    payment at ``wac``, interest at the net coupon, every delinquency bucket non-zero
    (``dq_bp`` of the ending balance: 30-59, 60-89, 90+ days; the exact remittance
    carries the 60+ balance). ``loss_bp[p]``: a liquidation of that many bp of the
    original pool, all lost; ``sub_bp[p]``: subsequent recoveries, bp of the original."""
    pool = deal.pool_original
    smm = 1 - (1 - cpr) ** (1 / 12)
    r = wac / 12
    out = []
    for p in range(1, months + 1):
        left = 360 - p + 1
        sched = int(pool * (r / ((1 + r) ** left - 1)))
        loss = deal.pool_original * (loss_bp[p - 1] if p <= len(loss_bp) else 0) // 10_000
        prepaid = int((pool - sched - loss) * smm)
        end = pool - sched - loss - prepaid
        sub = deal.pool_original * (sub_bp[p - 1] if p <= len(sub_bp) else 0) // 10_000
        rem = ExactRemittance(
            period=p, interest=int(pool * net / 12), scheduled_principal=sched,
            prepaid_principal=prepaid, recoveries=0, realized_losses=loss, beginning_balance=pool,
            ending_balance=end, delinquent_60=end * (dq_bp[1] + dq_bp[2]) // 10_000,
            subsequent_recoveries=sub,
        )  # fmt: skip
        out.append(rem)
        pool = end
    return out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cpr", [0.12, 0.135])
def test_oc_test_compares_pool_and_classes_at_one_date(anchored: Any, engine: str, cpr: float) -> None:
    """four_tranche (3% OC, OC trigger at 1.02 with turbo) prepaying at 12-13.5 CPR
    with no losses: the overcollateralisation after each distribution only grows
    (1.03 at closing), so the test never fails, nothing is turbo-paid, all principal
    collected goes to the classes and the excess interest goes to the residual."""
    deal = DEALS["four_tranche"]
    rems = _level_path(deal, cpr, 12)
    seen, tol, _ = _run_engine(engine, deal, rems)
    for rem, s in zip(rems, seen, strict=True):
        # the true ratio after the distribution never falls below the closing 1.03
        assert rem.ending_balance * 100 >= 103 * sum(s.ending) - tol
        assert s.failing == (0, 0), f"period {rem.period}: OC test failed with no losses"
        assert s.effects == 0
        collected = rem.scheduled_principal + rem.prepaid_principal
        assert abs(sum(s.principal) - collected) <= tol, f"period {rem.period}: turbo paid"
        excess = rem.interest - s.fees - sum(s.interest) - s.deposit + s.release + s.draw
        assert excess > 0 and abs(s.residual - excess) <= tol


def _with_trigger(deal: ExactDeal, test: int, threshold: int, effect: int, curable: int) -> ExactDeal:
    """``deal`` with one more trigger; the reserve covers interest only (a loss is
    written down, not paid by the reserve, so the reserve's release is what moves)."""
    return dataclasses.replace(
        deal,
        reserve_flags=R_COVERS_INTEREST,
        n_triggers=deal.n_triggers + 1,
        trig_test=(*deal.trig_test, test),
        trig_ref=(*deal.trig_ref, 0),
        trig_threshold=(*deal.trig_threshold, threshold),
        trig_effect=(*deal.trig_effect, effect),
        trig_curable=(*deal.trig_curable, curable),
        trigger_names=(*deal.trigger_names, "extra"),
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_failing_or_latched_trigger_blocks_reserve_release(anchored: Any, engine: str) -> None:
    """four_tranche's reserve (2.5M, target 0.5% of the pool) steps down as the pool
    pays down, but not while a trigger fails (a curable 60+ delinquency test at 5%,
    sequential) nor while a non-curable one stays latched (a cumulative-loss test at
    0.5% whose loss was later recovered: passing, still latched)."""
    base = DEALS["four_tranche"]
    # 1. curable delinquency: fails in period 1 (8% 60+), cures in period 2
    deal = _with_trigger(base, T_DELINQ, WAD * 5 // 100, E_SEQUENTIAL, 1)
    rems = _level_path(deal, 0.9, 2)  # ~17% a month prepaid: the target falls below the reserve
    rems[0] = dataclasses.replace(rems[0], delinquent_60=rems[0].ending_balance * 8 // 100)
    seen, _, _ = _run_engine(engine, deal, rems)
    assert seen[0].failing[2] == 1 and seen[0].effects & E_SEQUENTIAL
    assert seen[0].release == 0, "reserve stepped down while the delinquency test failed"
    assert seen[1].failing[2] == 0 and seen[1].release > 0  # cured: the step-down resumes
    # 2. non-curable cumulative loss: fails in period 1, recovered in period 2 (net
    # loss 0, the test passes) but stays latched: still no release
    deal = _with_trigger(base, T_CUMLOSS, WAD * 5 // 1000, E_SEQUENTIAL, 0)
    rems = _level_path(deal, 0.9, 3, loss_bp=(60,), sub_bp=(0, 60))
    seen, _, _ = _run_engine(engine, deal, rems)
    assert seen[0].failing[2] == 1 and seen[0].release == 0
    assert seen[1].failing[2] == 0 and seen[1].effects & E_SEQUENTIAL, "latched, not failing"
    assert seen[1].release == 0 and seen[2].release == 0, "reserve stepped down while latched"


@pytest.mark.parametrize("engine", ENGINES)
def test_cumulative_loss_nets_subsequent_recoveries(anchored: Any, engine: str) -> None:
    """senior_sub (cumulative-loss trigger at 2%, non-curable, sequential): each month a
    liquidation loses 1% of the original pool and the next month recovers it in full.
    Gross losses reach 6%, net losses never pass 1%: the test never fails, principal
    stays pro rata, the subordinate class is paid every period; a recovery larger than
    the net loss takes it to 0, never below."""
    deal = DEALS["senior_sub"]
    loss_bp = (100, 100, 100, 100, 100, 100, 0)
    sub_bp = (0, 100, 100, 100, 100, 100, 150)
    rems = _level_path(deal, 0.08, 7, net=0.055, wac=0.06, loss_bp=loss_bp, sub_bp=sub_bp)
    seen, _, final = _run_engine(engine, deal, rems)
    for rem, s in zip(rems, seen, strict=True):
        assert s.failing[0] == 0, f"period {rem.period}: cumulative loss failed on recovered losses"
        assert s.effects == 0
        assert s.principal[1] > 0, f"period {rem.period}: the subordinate class got no principal"
    if final is not None:
        assert final.cum_loss == 0 and final.latch == (0, 0)


def test_allocate_feeds_the_whole_60_plus_balance_to_the_delinquency_test(anchored: Any) -> None:
    """senior_sub (60+ delinquency trigger at 5%, sequential): 10% of the pool 90+ days
    late, 1% 60-89, 3% 30-59. The deal's ``allocate`` must test the whole 60+ balance
    (11%) as the exact engine does, so principal goes to the senior class only."""
    deal = DEALS["senior_sub"]
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    rem = _level_path(deal, 0.08, 1, net=0.055, wac=0.06)[0]
    end = rem.ending_balance
    d30, d60, d90 = end * 3 // 100, end // 100, end * 10 // 100
    rem = dataclasses.replace(rem, delinquent_60=d60 + d90)
    _, expected = apply_period(deal, initial_state(deal), rem)
    assert expected.trigger_failing == (0, 1) and expected.principal_paid[1] == 0
    cash = rem.interest + rem.scheduled_principal + rem.prepaid_principal + rem.recoveries + rem.subsequent_recoveries
    report = (
        rem.period, rem.scheduled_principal, rem.prepaid_principal, rem.interest, rem.recoveries,
        rem.realized_losses, rem.beginning_balance, rem.ending_balance, 10, d30, d60,
        d90, rem.index_rate, cash, b"\x42" * 32, rem.subsequent_recoveries,
        0, 0, 0, 0, 0,  # no advances, reimbursements, penalties or late fees
    )  # fmt: skip
    a = contract.allocate((report, 0), sender=DEAL_ADDRESS)
    assert list(a.principal[:2]) == list(expected.principal_paid), "chain paid the subordinate class"
    assert a.state[2] == 0b10 | (E_SEQUENTIAL << 8)


# ---------------------------------------------------------------------------------
# the differential test at scale: every example deal and random deals, on the lean EVM
# ---------------------------------------------------------------------------------

#: CI (``HYPOTHESIS_PROFILE=ci``) runs the full count; a local run a few examples.
CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
#: hypothesis examples per example deal (the three files and ``synthetic``), of fresh
#: random deals, and of the derandomized random deals whose run must exercise every
#: event (fixed examples, so that check is not left to luck: 617 deal-periods); each
#: example runs PATH_MIN-PATH_MAX periods, so CI checks at least (4 x 12 + 70) x 8 +
#: 617 = 1,561 deal-periods (about 1,750; about 100 s of one core, lean EVM)
EXAMPLE_RUNS = 12 if CI else 2
RANDOM_RUNS = 70 if CI else 6
COVER_RUNS = 60
PATH_MIN, PATH_MAX = 8, 14
EXAMPLE_FILES = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "examples" / "deals").glob("*.toml"))
_COVERAGE_KEYS = (
    "trip_oc", "trip_ic", "trip_cumloss", "trip_delinq", "cure", "latched_passing",
    "sequential", "trap", "turbo", "reserve_draw", "reserve_release", "writedown", "writeup",
    "accretion", "interest_shortfall", "fee_shortfall", "dust", "cleanup", "cleanup_eligible",
)  # fmt: skip


@pytest.fixture(scope="module")
def lean_env(compiled: Any) -> Iterator[Any]:
    """A fresh embedded EVM made lean (``chain.fastevm``, as the lifecycle runs), swapped in
    as titanoboa's environment for the test and restored after."""
    env = boa.Env()
    assert make_lean(env), "the lean EVM does not know this titanoboa / py-evm"
    with boa.swap_env(env):
        yield env


def _buckets(rem: ExactRemittance, draw: Any) -> tuple[int, int]:
    """(30-59 days, 90+ days) for a report whose 60+ balance is ``rem.delinquent_60``:
    every bucket non-zero while the pool is (60-89 days = 60+ less 90+)."""
    end, dq = rem.ending_balance, rem.delinquent_60
    if end == 0:
        return 0, 0
    d90 = draw(st.integers(1, dq - 1)) if dq >= 2 else 0
    d30 = draw(st.integers(1, max(1, (end - dq) // 20)))
    return min(d30, end - dq), d90


@st.composite
def _paths(draw: Any, deal: ExactDeal) -> list[tuple[ExactRemittance, int, int]]:
    """PATH_MIN-PATH_MAX periods of collections with every report field moving: prepayments (with
    bursts), liquidations with losses and recoveries, subsequent recoveries, interest
    droughts (reserve draws, IC trips), delinquency spikes then cures, the floater
    index; the last period pays the pool off (clean-up) in half the paths. Each item
    is (remittance with the 60+ balance, 30-59 days, 90+ days)."""
    pool = deal.pool_original
    n = draw(st.integers(PATH_MIN, PATH_MAX))
    cleanup = draw(st.booleans())
    out: list[tuple[ExactRemittance, int, int]] = []
    cum_loss = 0
    for p in range(1, n + 1):
        sched = pool // draw(st.sampled_from([120, 240, 360]))
        pre_bp = draw(st.one_of(st.integers(0, 300), st.integers(300, 3000)))
        prepaid = (pool - sched) * pre_bp // 10_000
        liq_bp = draw(st.one_of(st.just(0), st.integers(0, 200), st.integers(200, 1200)))
        liq = min(pool - sched - prepaid, pool * liq_bp // 10_000)
        sev = draw(st.integers(0, 100))
        loss = liq * sev // 100
        recov = liq - loss
        end = pool - sched - prepaid - liq
        sub = 0
        if cum_loss > 0 and draw(st.integers(0, 2)) == 0:  # recover part, all or more
            sub = cum_loss * draw(st.integers(1, 130)) // 100
        if cleanup and p == n:
            prepaid += end
            end = 0
        int_pct = draw(st.one_of(st.just(100), st.integers(0, 60), st.integers(60, 140)))
        coupon = draw(st.sampled_from([4, 6, 8]))
        dq_bp = draw(st.one_of(st.integers(2, 300), st.integers(300, 2500)))
        rem = ExactRemittance(
            period=p,
            interest=pool * coupon // 1200 * int_pct // 100,
            scheduled_principal=sched,
            prepaid_principal=prepaid,
            recoveries=recov,
            realized_losses=loss,
            beginning_balance=pool,
            ending_balance=end,
            delinquent_60=end * dq_bp // 10_000,
            index_rate=WAD * draw(st.integers(0, 1200)) // 10_000,
            subsequent_recoveries=sub,
        )
        d30, d90 = _buckets(rem, draw)
        out.append((rem, d30, d90))
        cum_loss = max(cum_loss + loss - sub, 0)
        pool = end
    return out


#: class names A, B, C, ... up to the waterfall's bound
_NAMES = tuple(chr(ord("A") + i) for i in range(MAX_TRANCHES))


@st.composite
def _random_deals(draw: Any) -> ExactDeal:
    """A valid random deal spec, compiled: 1 to MAX_TRANCHES classes (an IO strip among them or not)
    with every coupon kind, every principal rule (sequential, pro-rata groups, PAC with
    its support, Z accrual, PO, lockouts), 0-4 fees, a reserve covering interest and/or
    losses or none, 0-4 triggers of every test and effect, curable or not, and the
    order of payments shuffled (the four required steps and any of the others)."""
    pool = draw(st.integers(1_000, 50_000_000))
    io = draw(st.booleans())
    n = draw(st.integers(1, MAX_TRANCHES - (1 if io else 0)))
    prio, tranches = 1, []
    for i in range(n):
        if i > 0 and draw(st.integers(0, 3)) > 0:
            prio += 1  # else same rank as the previous class
        t: dict[str, Any] = {"name": _NAMES[i], "priority": prio + 1}
        kind = draw(st.sampled_from(["fixed", "floating", "net_wac", "fixed_capped", "none"]))
        t["coupon"] = kind
        if kind in ("fixed", "fixed_capped"):
            t["rate"] = draw(st.integers(0, 900)) / 10_000
        elif kind == "floating":
            t["margin"] = draw(st.integers(-200, 300)) / 10_000
            t["floor"] = draw(st.integers(0, 200)) / 10_000
            if draw(st.booleans()):
                t["cap"] = t["floor"] + draw(st.integers(0, 800)) / 10_000
        elif kind == "net_wac":
            t["margin"] = draw(st.integers(-100, 50)) / 10_000
        t["principal"] = draw(st.sampled_from(["sequential", "pro_rata", "pac", "support"]))
        if t["principal"] == "pro_rata":
            t["group"] = draw(st.sampled_from(["g", "h"]))
        if draw(st.integers(0, 4)) == 0:
            t["lockout"] = draw(st.integers(1, 5))
        tranches.append(t)
    # pro-rata groups: adjacent members (a class whose group differs from its pro-rata
    # neighbour's starts a new group name)
    gid = 0
    for i, t in enumerate(tranches):
        if t["principal"] == "pro_rata":
            prev = tranches[i - 1] if i else None
            if prev is None or prev["principal"] != "pro_rata" or prev["group"] != t["group"]:
                gid += 1
            t["group"] = f"g{gid}"
    weights = [draw(st.integers(1, 30)) for _ in range(n)]
    oc_bp = draw(st.sampled_from([0, 0, 100, 300, 800]))
    scale = (10_000 - oc_bp) / 10_000 / sum(weights)
    for t, wgt in zip(tranches, weights, strict=True):
        t["balance"] = float(int(pool * wgt * scale))
        if t["principal"] == "pac":
            face, sched, left = t["balance"], [], t["balance"]
            for _ in range(draw(st.integers(1, 16))):
                left = max(0.0, left - float(int(face * draw(st.integers(0, 2500)) / 10_000)))
                sched.append(left)
            t["pac_schedule"] = sched
    last = tranches[-1]
    if n >= 2 and last["priority"] > tranches[0]["priority"] and last["coupon"] != "none" and draw(st.booleans()):
        last["accrual"] = True
        seniors = [t["name"] for t in tranches if t["priority"] < last["priority"]]
        last["accretion_targets"] = draw(st.lists(st.sampled_from(seniors), min_size=1, max_size=2, unique=True))
    names = [t["name"] for t in tranches]
    if io:
        strip = {
            "name": "IO", "priority": draw(st.integers(1, prio + 1)), "principal": "none",
            "notional": draw(st.sampled_from(["pool", *names])), "rate": draw(st.integers(1, 200)) / 10_000,
            "offering_price": draw(st.integers(1, 2000)) / 100,  # percent of notional (the chain never sees it)
        }  # fmt: skip
        tranches.append(strip)
    top: dict[str, Any] = {
        "name": "random",
        "closing_date": dt.date(2026, 1, 29),
        "first_payment_date": dt.date(2026, 2, 25),
        "asset": {"symbol": "USDC", "decimals": 6},
        "pool": {"balance": float(pool), "servicing_in_net_rate": draw(st.booleans())},
        "tranches": tranches,
        "interest_on_shortfall": draw(st.booleans()),
        "cleanup_call": draw(st.sampled_from([0.0, 0.1])),
    }
    fees = []
    for k in range(draw(st.integers(0, MAX_FEES))):
        kinds = ["trustee", "administrator", "protocol"]
        if not top["pool"]["servicing_in_net_rate"]:
            kinds.append("servicing")
        fee: dict[str, Any] = {
            "name": f"fee{k}", "kind": draw(st.sampled_from(kinds)), "rate": draw(st.integers(0, 50)) / 10_000,
            "fixed": float(draw(st.integers(0, pool // 20_000 + 1))),
        }  # fmt: skip
        if draw(st.booleans()):
            fee["cap"] = float(draw(st.integers(1, pool // 2_000 + 2)))
        fees.append(fee)
    top["fees"] = fees
    if draw(st.booleans()):
        top["reserve"] = {
            "initial": float(pool * draw(st.integers(0, 300)) // 10_000),
            "floor": float(pool * draw(st.integers(0, 100)) // 10_000),
            "target_percent": draw(st.integers(0, 300)) / 10_000,
            "covers_interest": draw(st.booleans()),
            "covers_losses": draw(st.booleans()),
        }
    effects = ["sequential", "turbo"] + (["trap"] if "reserve" in top else [])
    thresholds = {
        "overcollateralization": (9_500, 11_000),
        "interest_coverage": (8_000, 16_000),
        "cumulative_loss": (20, 600),
        "delinquency_60": (200, 1_500),
    }
    triggers = []
    for k in range(draw(st.integers(0, MAX_TRIGGERS))):
        test = draw(st.sampled_from(sorted(thresholds)))
        lo, hi = thresholds[test]
        trig: dict[str, Any] = {
            "name": f"trig{k}", "test": test, "threshold": draw(st.integers(lo, hi)) / 10_000,
            "effects": draw(st.lists(st.sampled_from(effects), min_size=1, max_size=3, unique=True)),
            "curable": draw(st.booleans()),
        }  # fmt: skip
        if test in ("overcollateralization", "interest_coverage"):
            trig["tranche"] = draw(st.sampled_from(names))
        triggers.append(trig)
    top["triggers"] = triggers
    optional = ["fees", "writeup", "excess_covers_losses", "reserve_covers_losses", "trigger_excess", "reserve_topup"]
    steps = ["interest", "principal", "writedown", "residual"] + [s for s in optional if draw(st.booleans())]
    top["order"] = draw(st.permutations(steps))
    return compile_exact(parse_deal(top))


def _coverage(
    deal: ExactDeal, rem: ExactRemittance, before: ExactState, r: ExactPeriodResult, after: ExactState, seen: Counter[str]
) -> None:
    """Count what a period exercised (the test asserts every kind was seen)."""
    names = {T_OC: "trip_oc", T_IC: "trip_ic", T_CUMLOSS: "trip_cumloss", T_DELINQ: "trip_delinq"}
    for k in range(deal.n_triggers):
        if r.trigger_failing[k] and not before.latch[k]:
            seen[names[deal.trig_test[k]]] += 1
        if before.latch[k] and not after.latch[k]:
            seen["cure"] += 1
        if after.latch[k] and not r.trigger_failing[k]:
            seen["latched_passing"] += 1
    for bit, name in ((E_SEQUENTIAL, "sequential"), (E_TRAP, "trap"), (E_TURBO, "turbo")):
        seen[name] += 1 if r.effects & bit else 0
    seen["reserve_draw"] += r.reserve_draw > 0
    seen["reserve_release"] += r.reserve_release > 0 and rem.ending_balance > 0  # a step-down
    seen["writedown"] += sum(r.writedown) > 0
    seen["writeup"] += sum(r.writeup) > 0
    seen["accretion"] += sum(r.accreted) > 0
    seen["interest_shortfall"] += sum(r.interest_shortfall) > 0
    seen["fee_shortfall"] += sum(after.fee_shortfall) > 0
    seen["dust"] += r.dust > 0
    seen["cleanup"] += rem.ending_balance == 0
    seen["cleanup_eligible"] += r.cleanup_eligible


def _differential(deal: ExactDeal, path: Sequence[tuple[ExactRemittance, int, int]], seen: Counter[str]) -> None:
    """Deploy ``deal`` on the current (lean) chain and run ``path`` on it and on the exact
    engine: every figure of every period and the whole stored state after it equal to
    the unit, and cash conserved in every period."""
    with boa.env.anchor():
        contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
        state = initial_state(deal)
        assert read_state(contract, deal) == state
        for rem, d30, d90 in path:
            before = state
            state, expected = apply_period(deal, state, rem)
            got = apply_onchain(contract, deal, rem, DEAL_ADDRESS, delinquent_30=d30, delinquent_90_plus=d90)
            assert got == expected, f"period {rem.period}: {rem} (30-59 {d30}, 90+ {d90})"
            assert read_state(contract, deal) == state, f"state after period {rem.period}"
            # cash: every unit in is paid out, held in the reserve, or dust
            assert expected.cash_in == (
                expected.cash_out + expected.reserve_deposit - expected.reserve_draw
                - expected.reserve_release + expected.dust_change
            )  # fmt: skip
            assert expected.reserve_balance == state.reserve and expected.dust == state.dust
            if rem.ending_balance == 0:  # the pool paid off: nothing is left in the deal
                assert state.reserve == 0 and state.dust == 0
            _coverage(deal, rem, before, expected, state, seen)
            seen["periods"] += 1


def _settings(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def test_example_files_are_the_shipped_examples() -> None:
    """Every ``examples/deals/*.toml`` is run below (the shipped copies are the same)."""
    assert sorted(EXAMPLE_DEALS) == EXAMPLE_FILES
    root = Path(__file__).resolve().parents[2] / "examples" / "deals"
    for name in EXAMPLE_FILES:
        assert (root / f"{name}.toml").read_bytes() == example_deal_path(name).read_bytes()


@pytest.mark.xdist_group("exact_waterfall_scale")
@pytest.mark.parametrize("name", [*EXAMPLE_FILES, "synthetic"])
def test_differential_example_deals(lean_env: Any, record_property: Any, name: str) -> None:
    """Each example deal (and ``synthetic``, four_tranche with a floater, a net-WAC
    class, a lockout, a Z class and an IC trigger) on random paths: chain == exact
    engine to the unit."""
    deal = DEALS[name] if name == "synthetic" else compile_exact(example_deal(name))
    seen: Counter[str] = Counter()

    @_settings(EXAMPLE_RUNS)
    @given(data=st.data())
    def run(data: Any) -> None:
        _differential(deal, data.draw(_paths(deal)), seen)

    run()
    record_property("differential_deal_periods", seen["periods"])
    assert seen["periods"] >= PATH_MIN * EXAMPLE_RUNS


@pytest.mark.xdist_group("exact_waterfall_scale")
def test_differential_random_deals(lean_env: Any, record_property: Any) -> None:
    """Fresh random deals (every feature of the exact engine) on random paths each
    run: chain == exact engine to the unit, cash conserved."""
    seen: Counter[str] = Counter()

    @_settings(RANDOM_RUNS)
    @given(data=st.data())
    def run(data: Any) -> None:
        deal = data.draw(_random_deals())
        _differential(deal, data.draw(_paths(deal)), seen)

    run()
    record_property("differential_deal_periods", seen["periods"])
    assert seen["periods"] >= PATH_MIN * RANDOM_RUNS


@pytest.mark.xdist_group("exact_waterfall_scale")
def test_differential_random_deals_cover_every_event(lean_env: Any, record_property: Any) -> None:
    """Derandomized random deals (the same examples every run, no example database):
    chain == exact engine to the unit, and over the run every trigger test trips,
    triggers cure and stay latched while passing, every effect applies, the reserve
    is drawn and steps down, classes are written down and up, Z classes accrete,
    interest and fees fall short, dust arises, pools pay off and clean-up calls become
    exercisable."""
    seen: Counter[str] = Counter()

    @settings(_settings(COVER_RUNS), derandomize=True, database=None)
    @given(data=st.data())
    def run(data: Any) -> None:
        deal = data.draw(_random_deals())
        _differential(deal, data.draw(_paths(deal)), seen)

    run()
    record_property("differential_deal_periods", seen["periods"])
    missing = [k for k in _COVERAGE_KEYS if seen[k] == 0]
    assert missing == [], f"the random deals never exercised {missing} ({dict(seen)})"
