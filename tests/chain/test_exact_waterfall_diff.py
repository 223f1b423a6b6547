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
from openmbs.structuring import compile_exact, example_deal
from openmbs.structuring._exact import (
    CPN_FLOAT,
    CPN_NETWAC,
    E_SEQUENTIAL,
    E_TURBO,
    F_Z,
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
