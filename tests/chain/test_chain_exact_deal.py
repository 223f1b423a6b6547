"""Differential test of the whole deal: report -> oracle -> Deal -> ExactWaterfall.

Every example deal (four_tranche, senior_sub, pac_io, and agency_remic: 13 classes with
its rule program) and a synthetic deal with the
features the examples lack (floater with floor and cap, net-WAC class, lockout, Z
class accreting to the senior, interest on shortfall, an IC trigger with sequential +
turbo effects) is deployed once with ``deploy_deal``; random remittance sequences
(losses, recoveries, subsequent recoveries, delinquencies, interest droughts, a
clean-up pay-off) go through ``RemittanceOracle.submit`` with 3-of-5 attestations.
After each period every on-chain figure must equal the exact Python waterfall's
(``apply_period``) to the unit: per-tranche payments, write-downs, write-ups and
accretion, balances, shortfalls, the four carried indices, fees, residual, reserve
account (reserve + dust), trigger states, and each holder's claim computed from the
engine's indices (``units * (index - index at checkpoint) // 1e18``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import boa
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.chain import DealClient, config_from_exact, deploy_deal
from openmbs.chain._exact_waterfall import read_state
from openmbs.oracle import RemittanceReport, attest
from openmbs.structuring import compile_exact, example_deal
from openmbs.structuring._exact import (
    CPN_FLOAT,
    CPN_NETWAC,
    E_SEQUENTIAL,
    E_TURBO,
    F_IO,
    F_Z,
    T_IC,
    WAD,
    ExactDeal,
    ExactPeriodResult,
    ExactRemittance,
    ExactState,
    apply_period,
    initial_state,
)

FAR = 2**40
LOANS = 500
KEYS = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]


def _synthetic() -> ExactDeal:
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
    name: compile_exact(example_deal(name)) for name in ("four_tranche", "senior_sub", "pac_io", "agency_remic")
}
DEALS["synthetic"] = _synthetic()


@dataclasses.dataclass(repr=False)
class Closed:
    """A closed deal: tranche t is held 60/40 by holders[0] and holders[1]."""

    d: DealClient
    exact: ExactDeal
    admin: str
    servicer: str
    holders: list[str]
    late: str


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback (no shared test-double deal)."""
    yield


@pytest.fixture(scope="module")
def deals() -> dict[str, Closed]:
    """Every deal deployed and closed once, OUTSIDE the tests (titanoboa's pytest
    plugin rolls back what a test or a hypothesis example deploys)."""
    return {name: _closed(name) for name in DEALS}


def _closed(name: str) -> Closed:
    """Deploy and close ``name``: tranche t is held 60/40 by two investors."""
    exact = DEALS[name]
    admin = boa.env.generate_address(f"admin-{name}")
    servicer = boa.env.generate_address(f"servicer-{name}")
    # The oracle accepts only figures a pool can produce (docs/chain.md): the pool at
    # cut-off is a fifth 90+ days delinquent (period 1's losses come out of it) and the
    # rest 30-59 days (period 1's 60+ balance rolls from it); the index band is wide,
    # so that the paths below move the floaters' index as they please.
    pool = exact.pool_original
    cfg = dataclasses.replace(
        config_from_exact(exact, name=name, loan_count=LOANS,
                          initial_delinquent=(pool - pool // 5, 0, pool // 5),
                          offering_price_wad=[10**18] * exact.n_tranches),
        max_index_change=0.10,
    )
    d = deploy_deal(cfg, attestors=[k.address for k in KEYS], admin=admin, servicer=servicer)
    holders = [boa.env.generate_address(f"{name}-h{i}") for i in range(2)]
    late = boa.env.generate_address(f"{name}-late")
    d.allow([*holders, late, admin, servicer], FAR)
    for t, face in enumerate(exact.face):
        first = face * 3 // 5
        for h, amount in ((holders[0], first), (holders[1], face - first)):
            d.settlement.mint(h, amount, sender=admin)
            d.subscribe(h, t, amount)
    seller_before = int(d.settlement.balanceOf(admin))
    d.close()
    # the seller is paid the proceeds less the reserve, which the deal now holds
    assert int(d.settlement.balanceOf(admin)) - seller_before == sum(exact.face) - exact.reserve_initial
    assert int(d.deal.reserve_balance()) == exact.reserve_initial
    assert int(d.deal.cash_held()) == exact.reserve_initial
    for h in holders:
        d.settle(h)
    d.settlement.mint(servicer, 10 * exact.pool_original, sender=admin)
    return Closed(d, exact, admin, servicer, holders, late)


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
    """Remittances the oracle accepts: the pool rolls forward, subsequent recoveries
    never exceed the losses not yet recovered; optionally the pool pays off at the end
    (clean-up call: reserve and dust released)."""
    pool = deal.pool_original
    unrecovered = 0
    serious = pool // 5  # the 60+ balance of the report before (at cut-off: see _closed)
    for p, (pre_bp, loss_bp, rec_pct, int_pct, dq_bp, idx_bp, sub_bp) in enumerate(periods, 1):
        sched = pool // 360
        prepaid = min(pool - sched, pool * pre_bp // 10_000)
        # liquidated loans were 60+ days delinquent the month before, and so were this
        # month's 90+ loans (the oracle's bound): _report puts 1% of the 60+ balance in
        # the 90+ bucket, so the 60+ balance is capped to keep that within last month's
        # 60+ balance less this month's liquidations
        loss = min(pool - sched - prepaid, pool * loss_bp // 10_000, serious)
        recov = loss * rec_pct // 100
        loss -= recov
        end = pool - sched - prepaid - loss - recov
        if wind_down and p == len(periods):
            prepaid += end
            end = 0
        serious = min(end * dq_bp // 10_000, 100 * (serious - loss - recov) + 99)
        unrecovered += loss
        sub = min(unrecovered, deal.pool_original * sub_bp // 10_000)
        unrecovered -= sub
        yield ExactRemittance(
            period=p,
            interest=pool * 6 // 100 // 12 * int_pct // 100,
            scheduled_principal=sched,
            prepaid_principal=prepaid,
            recoveries=recov,
            realized_losses=loss,
            beginning_balance=pool,
            ending_balance=end,
            delinquent_60=serious,
            index_rate=WAD * idx_bp // 10_000,
            subsequent_recoveries=sub,
        )
        pool = end


def _report(rem: ExactRemittance) -> RemittanceReport:
    """The report of ``rem`` (whose ``delinquent_60`` is the 60+ balance the engine
    tests), every delinquency bucket non-zero while the pool and its 60+ balance are,
    within the oracle's roll-forward bounds: the rest of the pool 30-59 days late, 1%
    of the 60+ balance 90+ days (the waterfall adds 60-89 and 90+ back)."""
    d90 = rem.delinquent_60 // 100
    return RemittanceReport(
        period=rem.period,
        scheduled_principal=rem.scheduled_principal,
        unscheduled_principal=rem.prepaid_principal,
        interest=rem.interest,
        recoveries=rem.recoveries,
        losses=rem.realized_losses,
        beginning_balance=rem.beginning_balance,
        ending_balance=rem.ending_balance,
        loan_count=LOANS,
        # the rest of the pool 30-59 days late, so that next month's 60+ may grow;
        # a sliver of the 60+ balance 90+ days late (the waterfall adds them back)
        delinquent_30=rem.ending_balance - rem.delinquent_60,
        delinquent_60=rem.delinquent_60 - d90,
        delinquent_90_plus=d90,
        index_rate=rem.index_rate,
        cash=rem.interest + rem.scheduled_principal + rem.prepaid_principal + rem.recoveries
        + rem.subsequent_recoveries,
        loan_tape_root=rem.period.to_bytes(32, "big"),
        subsequent_recoveries=rem.subsequent_recoveries,
    )


def _check_period(c: Closed, rem: ExactRemittance, res: ExactPeriodResult, state: ExactState, logs: list[Any]) -> None:
    d, ex = c.d, c.exact
    n = ex.n_tranches
    alloc = sorted((e for e in logs if type(e).__name__ == "TrancheAllocated"), key=lambda e: e.tranche)
    assert [e.period for e in alloc] == [rem.period] * n
    for i, e in enumerate(alloc):
        got = (e.interest, e.principal, e.loss, e.writeup, e.balance, e.interest_shortfall)
        want = (res.interest_paid[i], res.principal_paid[i], res.writedown[i], res.writeup[i] + res.accreted[i],
                res.ending_balance[i], res.interest_shortfall[i])  # fmt: skip
        assert got == want, f"period {rem.period} tranche {i}"
    (dist,) = [e for e in logs if type(e).__name__ == "Distributed"]
    assert dist.fee == sum(res.fees_paid)
    assert dist.residual == res.residual_paid
    assert dist.reserve_balance == state.reserve + state.dust
    latch_bits = sum(bit << k for k, bit in enumerate(state.latch))
    assert list(dist.state) == [state.cum_loss, rem.period, latch_bits | (res.effects << 8), state.dust]
    deal = d.deal
    for i in range(n):
        assert int(deal.interest_index(i)) == state.interest_index[i]
        assert int(deal.principal_index(i)) == state.principal_index[i]
        assert int(deal.loss_index(i)) == state.loss_index[i]
        assert int(deal.writeup_index(i)) == state.writeup_index[i]
        assert int(deal.tranche_balance(i)) == state.balance[i]
        assert int(deal.interest_shortfall(i)) == state.shortfall[i]
        assert int(deal.tranche_factor(i)) == state.balance[i] * WAD // ex.face[i]
    assert int(deal.reserve_balance()) == state.reserve + state.dust
    assert [int(deal.waterfall_state(w)) for w in range(4)] == list(dist.state)
    assert read_state(d.waterfall, ex) == state


@pytest.mark.parametrize("name", sorted(DEALS))
@settings(max_examples=2, deadline=None)
@given(periods=st.lists(_period, min_size=2, max_size=4), wind_down=st.booleans(), transfer_at=st.integers(1, 4))
def test_deal_distribute_matches_exact_engine(
    deals: dict[str, Closed], name: str, periods: list[tuple[int, ...]], wind_down: bool, transfer_at: int
) -> None:
    c = deals[name]
    d, ex = c.d, c.exact
    n = ex.n_tranches
    h0, h1 = c.holders
    with boa.env.anchor():
        state = initial_state(ex)
        # each holder's expected claim, from the ENGINE's indices (checkpoints on transfer)
        units = {(h, t): int(d.tokens[t].balanceOf(h)) for h in (h0, h1, c.late) for t in range(n)}
        ckpt = {(h, t): 0 for h in (h0, h1, c.late) for t in range(n)}
        owed = {(h, t): 0 for h in (h0, h1, c.late) for t in range(n)}
        fee_before = int(d.deal.payee_owed(c.admin))

        def cash_index(t: int) -> int:
            return state.interest_index[t] + state.principal_index[t]

        def accrue(h: str, t: int) -> None:
            owed[(h, t)] += units[(h, t)] * (cash_index(t) - ckpt[(h, t)]) // WAD
            ckpt[(h, t)] = cash_index(t)

        paid_out = 0
        for rem in _remittances(ex, periods, wind_down):
            report = _report(rem)
            sigs = attest(report, [k.key for k in KEYS[:3]], chain_id=d.chain_id(), verifying_contract=str(d.oracle.address))
            d.remit(report, sigs)
            logs = d.oracle.get_logs()
            state, res = apply_period(ex, state, rem)
            _check_period(c, rem, res, state, logs)
            paid_out += sum(res.fees_paid) + res.residual_paid
            if rem.period == transfer_at:
                # a transfer checkpoints both sides; h1 then claims everything
                t = rem.period % n
                amount = units[(h0, t)] // 3
                accrue(h0, t)
                accrue(c.late, t)
                d.tokens[t].transfer(c.late, amount, sender=h0)
                units[(h0, t)] -= amount
                units[(c.late, t)] += amount
                for tt in range(n):
                    accrue(h1, tt)
                    assert d.claim(h1, tt) == owed[(h1, tt)]
                    owed[(h1, tt)] = 0
        for h in (h0, h1, c.late):
            for t in range(n):
                accrue(h, t)
                assert d.claimable(t, h) == owed[(h, t)], f"holder {h} tranche {t}"
        # fees and residual go to the seller (admin): everything the engine paid them
        assert int(d.deal.payee_owed(c.admin)) - fee_before == paid_out
        # the deal's books: cash held = reserve account + what holders and payees are
        # owed + the index-rounding dust (never negative, below one unit per holder
        # and tranche per period)
        held = int(d.deal.cash_held())
        owed_holders = sum(d.claimable(t, h) for h in (h0, h1, c.late) for t in range(n))
        dust = held - int(d.deal.reserve_balance()) - owed_holders - int(d.deal.payee_owed(c.admin))
        assert 0 <= dust <= 3 * n * (len(periods) + 1)
        assert int(d.settlement.balanceOf(d.deal.address)) == held


def test_deal_stress_path_all_features(deals: dict[str, Closed]) -> None:
    """A fixed path on the synthetic deal: Z accretion, write-downs then write-ups
    from subsequent recoveries, an interest drought (shortfall carried with interest
    on it), triggers (sequential + turbo), and a clean-up pay-off that releases the
    reserve account."""
    c = deals["synthetic"]
    d, ex = c.d, c.exact
    periods = [
        # each month's 60+ (fifth figure) covers the next month's losses (second)
        (200, 0, 0, 100, 1300, 300, 0),
        (100, 1200, 30, 100, 1600, 500, 0),
        (100, 1500, 10, 0, 1200, 800, 0),
        (300, 0, 0, 40, 900, 100, 20),
        (500, 800, 50, 120, 50, 0, 30),
        (900, 0, 0, 100, 20, 0, 0),
    ]
    with boa.env.anchor():
        state = initial_state(ex)
        seen = {"accreted": False, "writeup": False, "writedown": False, "effects": False, "shortfall": False}
        for rem in _remittances(ex, periods, wind_down=True):
            report = _report(rem)
            d.remit(report, attest(report, [k.key for k in KEYS[:3]], chain_id=d.chain_id(),
                                   verifying_contract=str(d.oracle.address)))
            state, res = apply_period(ex, state, rem)
            _check_period(c, rem, res, state, d.oracle.get_logs())
            seen["accreted"] |= any(res.accreted)
            seen["writeup"] |= any(res.writeup)
            seen["writedown"] |= any(res.writedown)
            seen["effects"] |= res.effects != 0
            seen["shortfall"] |= any(res.interest_shortfall)
        assert all(seen.values()), seen
        # the pool paid off: reserve released, nothing left in the reserve account
        assert int(d.deal.reserve_balance()) == 0
        assert int(d.oracle.last_ending_balance()) == 0


def test_z_class_factor_exceeds_one(deals: dict[str, Closed]) -> None:
    """Z accretion raises the Z class above its original face (factor > 1e18)."""
    c = deals["synthetic"]
    d, ex = c.d, c.exact
    z = ex.flags.index(F_Z)
    with boa.env.anchor():
        state = initial_state(ex)
        for rem in _remittances(ex, [(0, 0, 0, 100, 100, 300, 0)] * 2, wind_down=False):
            report = _report(rem)
            d.remit(report, attest(report, [k.key for k in KEYS[:3]], chain_id=d.chain_id(),
                                   verifying_contract=str(d.oracle.address)))
            state, _ = apply_period(ex, state, rem)
        assert state.balance[z] > ex.face[z]
        assert int(d.deal.tranche_factor(z)) == state.balance[z] * WAD // ex.face[z] > WAD
        assert int(d.deal.writeup_index(z)) == state.writeup_index[z] > 0


def test_io_notional_follows_reference(deals: dict[str, Closed]) -> None:
    """pac_io: the IO strip's balance is its notional, set by the engine; its interest
    index is per unit of original notional."""
    c = deals["pac_io"]
    d, ex = c.d, c.exact
    io = [i for i in range(ex.n_tranches) if ex.flags[i] & F_IO]
    assert io
    with boa.env.anchor():
        state = initial_state(ex)
        for rem in _remittances(ex, [(300, 0, 0, 100, 100, 0, 0)] * 2, wind_down=False):
            report = _report(rem)
            d.remit(report, attest(report, [k.key for k in KEYS[:3]], chain_id=d.chain_id(),
                                   verifying_contract=str(d.oracle.address)))
            state, _ = apply_period(ex, state, rem)
        for i in io:
            assert 0 < int(d.deal.tranche_balance(i)) == state.balance[i] < ex.face[i]
            assert int(d.deal.interest_index(i)) == state.interest_index[i] > 0
            assert int(d.deal.principal_index(i)) == 0


def test_subsequent_recoveries_bounded_and_in_cash(deals: dict[str, Closed]) -> None:
    """The oracle refuses subsequent recoveries above the losses not yet recovered,
    and counts them in the cash."""
    c = deals["four_tranche"]
    d, ex = c.d, c.exact
    with boa.env.anchor():
        pool = ex.pool_original
        loss = pool // 100
        rem = ExactRemittance(1, pool // 200, 0, 0, 0, loss, pool, pool - loss)
        bad = dataclasses.replace(rem, subsequent_recoveries=loss + 1)
        r = _report(bad)
        from openmbs.errors import RemittanceRejected

        with pytest.raises(RemittanceRejected, match="subsequent recoveries above losses"):
            d.remit(r, attest(r, [k.key for k in KEYS[:3]], chain_id=d.chain_id(),
                              verifying_contract=str(d.oracle.address)))
        r = dataclasses.replace(_report(dataclasses.replace(rem, subsequent_recoveries=loss)))
        short = dataclasses.replace(r, cash=r.cash - 1)
        with pytest.raises(RemittanceRejected, match="cash != collections"):
            d.remit(short, attest(short, [k.key for k in KEYS[:3]], chain_id=d.chain_id(),
                                  verifying_contract=str(d.oracle.address)))
        d.remit(r, attest(r, [k.key for k in KEYS[:3]], chain_id=d.chain_id(), verifying_contract=str(d.oracle.address)))
        assert int(d.oracle.unrecovered_losses()) == 0
