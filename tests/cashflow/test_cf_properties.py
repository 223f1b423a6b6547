"""Properties of the projection: conservation, signs, schedule, loan vs pool vs rep line."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import (
    ADVANCE_MODES,
    PoolCashflows,
    project_loans,
    project_pool,
    project_tape,
)
from openmbs.cashflow._project import repline_arrays
from openmbs.cashflow._reference import reference_loan

prepayments = st.one_of(
    st.floats(0.0, 0.6).map(Prepayment.cpr),
    st.floats(0.0, 800.0).map(Prepayment.psa),
    st.floats(0.0, 0.05).map(Prepayment.smm),
    st.floats(0.0, 0.03).map(Prepayment.abs),
    st.lists(st.floats(0.0, 0.5), min_size=1, max_size=20).map(Prepayment.cpr),
)
defaults = st.one_of(
    st.none(),
    st.floats(0.0, 0.3).map(Default.cdr),
    st.floats(0.0, 2000.0).map(Default.sda),
    st.floats(0.0, 0.05).map(Default.mdr),
)
pools = st.fixed_dictionaries(
    {
        "balance": st.floats(1.0, 1e9),
        "gross_coupon": st.one_of(st.just(0.0), st.floats(0.001, 0.15)),
        "remaining_term": st.integers(1, 360),
        "age": st.integers(0, 120),
        "fee": st.floats(0.0, 0.01),
    }
)


def _pool(p: dict[str, float], **kw: object) -> PoolCashflows:
    g = p["gross_coupon"]
    rem = int(p["remaining_term"])
    return project_pool(balance=p["balance"], gross_coupon=g, net_coupon=max(g - p["fee"], 0.0),
                        original_term=rem + int(p["age"]), remaining_term=rem, **kw)  # type: ignore[arg-type]


def _check_conservation(cf: PoolCashflows, start: float) -> None:
    paid = np.cumsum(cf.principal + cf.loss)
    total = paid + cf.performing_balance + cf.foreclosure_balance
    np.testing.assert_allclose(total, start, rtol=1e-9)
    # beginning balance of period t+1 = performing balance at the end of period t
    np.testing.assert_allclose(cf.beginning_balance[1:], cf.performing_balance[:-1],
                               rtol=1e-9, atol=1e-9 * start)
    np.testing.assert_allclose(cf.principal,
                               cf.voluntary_prepayment + cf.actual_amortization
                               + cf.amortization_from_defaults + cf.recovery, rtol=1e-12)
    np.testing.assert_allclose(cf.recovery + cf.loss, cf.liquidated_balance,
                               rtol=1e-9, atol=1e-9 * start)
    np.testing.assert_allclose(cf.actual_interest, cf.expected_interest - cf.lost_interest)
    np.testing.assert_allclose(cf.cash_flow, cf.net_interest + cf.principal)


def _check_signs(cf: PoolCashflows, start: float) -> None:
    tol = -1e-9 * start
    for name, arr in cf.to_dict().items():
        if name != "period":
            assert np.all(arr >= tol), name
    assert np.all(cf.loss <= cf.liquidated_balance + 1e-9 * start)
    assert cf.performing_balance[-1] + cf.foreclosure_balance[-1] <= 1e-9 * start


@settings(max_examples=40)
@given(pools, prepayments, defaults, st.floats(0.0, 1.0), st.integers(0, 24),
       st.sampled_from(ADVANCE_MODES))
def test_conservation_and_signs(pool, prepay, default, severity, lag, advance) -> None:  # type: ignore[no-untyped-def]
    cf = _pool(pool, prepayment=prepay, default=default, severity=severity, lag=lag,
               advance=advance)
    _check_conservation(cf, pool["balance"])
    _check_signs(cf, pool["balance"])


@settings(max_examples=25)
@given(pools)
def test_zero_rates_give_level_pay_schedule(pool) -> None:  # type: ignore[no-untyped-def]
    cf = _pool(pool, prepayment=Prepayment.cpr(0.0), default=Default.cdr(0.0))
    b, c, n = pool["balance"], pool["gross_coupon"] / 12, int(pool["remaining_term"])
    k = np.arange(n + 1)
    if c == 0.0:
        sched = b * (n - k) / n
        pay = np.full(n, b / n)
    else:
        v = 1 + c
        sched = b * (v**n - v**k) / (v**n - 1)  # textbook remaining balance
        pay = np.full(n, b * c / (1 - v**-n))
    np.testing.assert_allclose(cf.performing_balance, sched[1:], rtol=1e-9, atol=1e-7 * b)
    np.testing.assert_allclose(cf.principal + cf.actual_interest, pay, rtol=1e-9)
    assert np.all(cf.new_default == 0.0)
    assert np.all(cf.voluntary_prepayment == 0.0)


@settings(max_examples=25)
@given(pools, prepayments, defaults, st.floats(0.0, 1.0), st.integers(0, 12),
       st.sampled_from(ADVANCE_MODES), st.integers(1, 300))
def test_identical_loans_equal_generic_pool(pool, prepay, default, severity, lag, advance, n) -> None:  # type: ignore[no-untyped-def]
    kw = {"prepayment": prepay, "default": default, "severity": severity, "lag": lag,
          "advance": advance}
    one = _pool(pool, **kw)
    g = pool["gross_coupon"]
    many = project_loans(np.full(n, pool["balance"] / n), np.full(n, g),
                         np.full(n, max(g - pool["fee"], 0.0)),
                         np.full(n, int(pool["remaining_term"])), np.full(n, int(pool["age"])), **kw)  # type: ignore[arg-type]
    for name, arr in one.to_dict().items():
        np.testing.assert_allclose(getattr(many, name), arr, rtol=1e-9,
                                   atol=1e-9 * pool["balance"], err_msg=name)


def _random_loans(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    bal = rng.uniform(1e4, 1e6, n)
    gross = rng.integers(16, 64, n) / 800.0  # 2% .. 7.875% in 1/8 steps
    net = gross - rng.choice([0.0025, 0.005, 0.0075], n)
    age = rng.integers(0, 60, n)
    orig = rng.choice([180, 240, 360], n)
    rem = orig - age
    return bal, gross, net, rem, age


@settings(max_examples=10)
@given(st.integers(0, 10_000), prepayments, defaults, st.floats(0.0, 1.0), st.integers(0, 12),
       st.sampled_from(ADVANCE_MODES))
def test_loan_level_matches_reference(seed, prepay, default, severity, lag, advance) -> None:  # type: ignore[no-untyped-def]
    bal, gross, net, rem, age = _random_loans(seed, 7)
    cf = project_loans(bal, gross, net, rem, age, prepayment=prepay, default=default,
                       severity=severity, lag=lag, advance=advance)
    n = int(rem.max())
    total = {k: np.zeros(n) for k in cf.to_dict() if k not in ("period", "factor")}
    for i in range(bal.size):
        r = int(rem[i])
        smm = list(prepay.smm_vector(int(age[i]), r))
        mdr = list(default.mdr_vector(int(age[i]), r, r, lag=lag)) if default else [0.0] * r
        ref = reference_loan(float(bal[i]), float(gross[i]), float(net[i]), r, smm, mdr,
                             severity=severity, lag=lag, advance=advance)
        for k, v in ref.items():
            total[k][:r] += v
    for k, v in total.items():
        np.testing.assert_allclose(getattr(cf, k), v, rtol=1e-8, atol=1e-6, err_msg=k)


def _table(bal, gross, net, rem, age) -> pa.Table:  # type: ignore[no-untyped-def]
    return pa.table({
        "current_balance": pa.array(bal, pa.float64()),
        "note_rate": pa.array(gross, pa.float64()),
        "net_rate": pa.array(net, pa.float64()),
        "original_term": pa.array(rem + age, pa.int32()),
        "remaining_term": pa.array(rem, pa.int32()),
        "loan_age": pa.array(age, pa.int32()),
    })


@settings(max_examples=15)
@given(st.integers(0, 10_000), prepayments, defaults, st.integers(0, 6))
def test_repline_with_one_loan_per_group_is_loan_level(seed, prepay, default, lag) -> None:  # type: ignore[no-untyped-def]
    bal, gross, net, rem, age = _random_loans(seed, 12)
    # make every loan its own group: distinct rate buckets
    gross = 0.02 + 0.0025 * np.arange(12)
    net = gross - 0.0025
    kw = {"prepayment": prepay, "default": default, "severity": 0.4, "lag": lag}
    rb = repline_arrays(bal, gross, net, rem, age)[0]
    assert rb.size == 12
    loan = project_tape(_table(bal, gross, net, rem, age), method="loan", **kw)  # type: ignore[arg-type]
    rep = project_tape(_table(bal, gross, net, rem, age), method="repline", **kw)  # type: ignore[arg-type]
    for name, arr in loan.to_dict().items():
        np.testing.assert_allclose(getattr(rep, name), arr, rtol=1e-10, atol=1e-6, err_msg=name)


def test_repline_groups_and_weights() -> None:
    bal = np.array([100.0, 300.0, 50.0])
    gross = np.array([0.06, 0.0605, 0.08])
    net = gross - 0.005
    rem = np.array([350, 340, 200])
    age = np.array([10, 20, 160])
    rb = repline_arrays(bal, gross, net, rem, age)[0]
    # loans 0 and 1 share the rate bucket [6%, 6.125%) but not the remaining-term bucket
    # ((350 - 1) // 12 = 29, (340 - 1) // 12 = 28), so three rep lines
    assert rb.size == 3
    rb2, rg2, _, rr2, ra2 = repline_arrays(bal, gross, net, rem, age, term_step=360,
                                             age_step=360)
    assert rb2.size == 2
    k = int(np.argmax(rb2))
    assert rb2[k] == 400.0
    assert rg2[k] == pytest.approx((100 * 0.06 + 300 * 0.0605) / 400)
    assert rr2[k] == round((100 * 350 + 300 * 340) / 400)  # 342.5 -> 342 (round half even)
    assert ra2[k] == round((100 * 10 + 300 * 20) / 400)


def test_heterogeneous_pool_conserves() -> None:
    bal, gross, net, rem, age = _random_loans(3, 2000)
    cf = project_loans(bal, gross, net, rem, age, prepayment=Prepayment.psa(150),
                       default=Default.sda(200), severity=0.35, lag=6, advance=False)
    _check_conservation(cf, float(bal.sum()))
    _check_signs(cf, float(bal.sum()))
    assert cf.n_periods == int(rem.max())
