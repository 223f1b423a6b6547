"""Differential test: ``ExactWaterfall.vy`` against the exact Python waterfall.

Every figure of :class:`ExactPeriodResult` and every field of :class:`ExactState`
after each period must be equal to the unit. The contract compiles once per session;
each hypothesis example runs inside ``boa.env.anchor()``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import boa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.chain._exact_waterfall import (
    apply_onchain,
    deploy_exact_waterfall,
    exact_params,
    exact_waterfall_deployer,
    read_state,
)
from openmbs.structuring import Collections, compile_exact, example_deal, run_waterfall
from openmbs.structuring._exact import (
    CPN_FLOAT,
    CPN_NETWAC,
    E_SEQUENTIAL,
    E_TURBO,
    F_Z,
    R_COVERS_INTEREST,
    T_CUMLOSS,
    T_DELINQ,
    T_IC,
    WAD,
    ExactDeal,
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
    st.integers(0, 1500),
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


def _run(contract: Any, deal: ExactDeal, rems: Iterator[ExactRemittance]) -> list[int]:
    """Apply every remittance on both engines; returns the effect masks seen."""
    state: ExactState = initial_state(deal)
    assert read_state(contract, deal) == state
    effects = []
    for rem in rems:
        state, expected = apply_period(deal, state, rem)
        got = apply_onchain(contract, deal, rem, DEAL_ADDRESS)
        assert got == expected, f"period {rem.period}: {rem}"
        assert read_state(contract, deal) == state, f"state after period {rem.period}"
        effects.append(expected.effects)
    return effects


@pytest.mark.parametrize("name", sorted(DEALS))
@settings(max_examples=3, deadline=None)
@given(periods=st.lists(_period, min_size=3, max_size=5), wind_down=st.booleans())
def test_exact_waterfall_matches_python(
    compiled: Any, name: str, periods: list[tuple[int, ...]], wind_down: bool
) -> None:
    deal = DEALS[name]
    with boa.env.anchor():
        contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
        _run(contract, deal, _remittances(deal, periods, wind_down))


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
        (500, 800, 50, 120, 0, 0, 0),
        (900, 0, 0, 100, 0, 0, 0),
    ]
    effects = _run(contract, deal, _remittances(deal, periods, wind_down=False))
    if name == "four_tranche":
        # the path exercises what it means to: triggers latch, the junior is written down
        assert effects[2] != 0
        assert read_state(contract, deal).writedown[3] > 0


def test_exact_waterfall_only_deal_and_sealed(anchored: Any) -> None:
    deal = DEALS["four_tranche"]
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    rem = next(_remittances(deal, [(0, 0, 0, 100, 0, 0, 0)], wind_down=False))
    with boa.reverts(dev="only deal"):
        apply_onchain(contract, deal, rem, boa.env.eoa)
    unsealed = anchored.deploy(exact_params(deal), DEAL_ADDRESS)
    with boa.reverts(dev="not sealed"):
        apply_onchain(unsealed, deal, rem, DEAL_ADDRESS)


def _allocation_input(rem: ExactRemittance, reserve_account: int) -> tuple[Any, ...]:
    """The deal's ``WaterfallInput`` for ``rem`` (reserve account = reserve + dust)."""
    cash = rem.interest + rem.scheduled_principal + rem.prepaid_principal + rem.recoveries + rem.subsequent_recoveries
    report = (
        rem.period, rem.scheduled_principal, rem.prepaid_principal, rem.interest, rem.recoveries,
        rem.realized_losses, rem.beginning_balance, rem.ending_balance, 10, 0, rem.delinquent_60,
        0, rem.index_rate, cash, b"\x42" * 32, rem.subsequent_recoveries,
    )  # fmt: skip
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
    periods = [(200, 0, 0, 100, 0, 0, 0), (100, 1200, 30, 60, 900, 0, 0), (300, 0, 0, 0, 0, 0, 10)]
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
        anchored.deploy(exact_params(unknown_step), DEAL_ADDRESS)
    unknown_test = dataclasses.replace(deal, trig_test=(5, *deal.trig_test[1:]))
    with boa.reverts(dev="unknown trigger test"):
        anchored.deploy(exact_params(unknown_test), DEAL_ADDRESS)
    bad_rank = dataclasses.replace(deal, rank_end=(0, *deal.rank_end[1:]))
    with boa.reverts(dev="bad rank"):
        anchored.deploy(exact_params(bad_rank), DEAL_ADDRESS)


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
    return out, 1e-6 * deal.pool_original, None


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
    )  # fmt: skip
    a = contract.allocate((report, 0), sender=DEAL_ADDRESS)
    assert list(a.principal[:2]) == list(expected.principal_paid), "chain paid the subordinate class"
    assert a.state[2] == 0b10 | (E_SEQUENTIAL << 8)
