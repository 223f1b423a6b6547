"""Table tests of price/yield, average life, duration and convexity.

Every expected value is worked out by hand from the formulas in the test comments
(SIFMA Standard Formulas conventions: 30/360 timing, delay after the end of the
accrual month, bond-equivalent yields).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmbs.errors import ConvergenceError, InputError
from openmbs.pricing import (
    accrued_interest,
    analyze,
    average_life,
    bey_from_mortgage_yield,
    days_30_360,
    delay_from_stated,
    mortgage_yield_from_bey,
    payment_times,
    price_from_yield,
    settle_days_from_date,
    yield_from_price,
)

# ---------------------------------------------------------------- timing


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        ((2026, 1, 1), (2026, 2, 25), 54),  # 30 + 24
        ((2026, 1, 31), (2026, 3, 31), 60),  # D1 31->30, D2 31->30
        ((2026, 1, 1), (2026, 1, 31), 30),  # D1 = 1: D2 stays 31
        ((2026, 2, 28), (2026, 3, 31), 30),  # last of Feb -> 30; then D2 31 -> 30
        ((2024, 2, 29), (2025, 2, 28), 360),  # both last of Feb
        ((2026, 3, 1), (2026, 3, 16), 15),
        ((2026, 2, 25), (2026, 1, 1), -54),
    ],
)
def test_days_30_360_table(
    start: tuple[int, int, int], end: tuple[int, int, int], days: int
) -> None:
    assert days_30_360(dt.date(*start), dt.date(*end)) == days


def test_stated_delay_conversion() -> None:
    # Fannie/UMBS 55 days: paid on the 25th of the next month = 24 days after month end.
    assert delay_from_stated(55) == 24
    # Ginnie I 45 days: paid on the 15th = 14 days after; Ginnie II 50: the 20th = 19.
    assert delay_from_stated(45) == 14
    assert delay_from_stated(50) == 19
    assert delay_from_stated(31) == 0
    with pytest.raises(InputError, match="30"):
        delay_from_stated(30)


def test_payment_times_delay_and_settlement() -> None:
    # Month 1 with a 24-day delay: 30 + 24 = 54 days = 0.15 years.
    t = payment_times(3, delay_days=24)
    assert t == pytest.approx([54 / 360, 84 / 360, 114 / 360], abs=1e-15)
    # Settling on the 16th (15 days in) brings each payment 15 days closer.
    t = payment_times(2, delay_days=24, settle_days=15)
    assert t == pytest.approx([39 / 360, 69 / 360], abs=1e-15)
    assert settle_days_from_date(dt.date(2026, 3, 16)) == 15
    assert settle_days_from_date(dt.date(2026, 3, 1)) == 0
    with pytest.raises(InputError, match="settle_days"):
        payment_times(2, settle_days=31)
    with pytest.raises(InputError, match="delay_days"):
        payment_times(2, delay_days=-1)


# ---------------------------------------------------------------- price / yield


def test_single_cash_flow_no_delay() -> None:
    # 106 paid at month 6 (0.5 y) on face 100 at price 100: (1 + y/2)^1 = 1.06 -> y = 12%.
    cf = np.array([0, 0, 0, 0, 0, 106.0])
    assert yield_from_price(cf, 100.0, 100.0) == pytest.approx(0.12, abs=1e-13)
    # At 8%: 106 / 1.04 = 101.923076923...
    assert price_from_yield(cf, 100.0, 0.08) == pytest.approx(106 / 1.04, abs=1e-12)


def test_single_cash_flow_with_delay() -> None:
    # 100 paid at the end of month 1 + 24 days = 54 days = 0.15 y, at 6% BEY:
    # 100 / 1.03^0.3.
    p = price_from_yield([100.0], 100.0, 0.06, delay_days=24)
    assert p == pytest.approx(100 / 1.03**0.3, abs=1e-12)


def test_level_annuity_at_own_yield_is_par() -> None:
    # A 360-month level annuity at a 6% monthly rate, priced at the BEY equivalent of
    # 6% monthly compounding (2[(1.005)^6 - 1]), is worth its balance: 100.
    r, n, bal = 0.06, 360, 250_000.0
    pay = bal * (r / 12) / (1 - (1 + r / 12) ** -n)
    y = 2 * ((1 + r / 12) ** 6 - 1)
    assert price_from_yield(np.full(n, pay), bal, y) == pytest.approx(100.0, abs=1e-10)
    assert yield_from_price(np.full(n, pay), bal, 100.0) == pytest.approx(y, abs=1e-12)


def test_mortgage_yield_conversion_at_6_percent() -> None:
    # 6% BEY: (1.03)^(1/6) = 1.0049386..., mortgage yield 5.9263464%.
    m = mortgage_yield_from_bey(0.06)
    assert m == pytest.approx(0.059263464, abs=5e-10)
    # Same effective annual rate: (1 + m/12)^12 = 1.03^2 = 1.0609.
    assert (1 + m / 12) ** 12 == pytest.approx(1.0609, abs=1e-14)
    assert bey_from_mortgage_yield(m) == pytest.approx(0.06, abs=1e-15)
    # 6% mortgage yield -> 2[(1.005)^6 - 1] = 6.0755018...% BEY.
    assert bey_from_mortgage_yield(0.06) == pytest.approx(0.0607550188, abs=1e-10)


def test_two_period_average_life() -> None:
    # 60 at month 1 and 40 at month 2: (1*60 + 2*40) / 100 months = 1.4 months.
    assert average_life([60.0, 40.0]) == pytest.approx(1.4 / 12, abs=1e-15)
    # A 24-day delay adds 24/360 years.
    assert average_life([60.0, 40.0], delay_days=24) == pytest.approx(1.4 / 12 + 24 / 360)
    with pytest.raises(InputError, match="principal"):
        average_life([0.0, 0.0])


def test_accrued_interest() -> None:
    # 6% net coupon, 15 days: 100 * 0.06/12 * 15/30 = 0.25 per 100.
    assert accrued_interest(500.0, 100_000.0, settle_days=15) == pytest.approx(0.25)


def test_analyze_single_flow_by_hand() -> None:
    # 106 at 0.5 y, price 100 -> y = 12%, Macaulay 0.5, modified 0.5/1.06,
    # convexity t(t + 1/2) / (1 + y/2)^2 = 0.5 / 1.1236.
    cf = np.array([0, 0, 0, 0, 0, 106.0])
    prin = np.array([0, 0, 0, 0, 0, 100.0])
    a = analyze(cf, prin, 100.0, price=100.0)
    assert a.yield_ == pytest.approx(0.12, abs=1e-12)
    assert a.mortgage_yield == pytest.approx(12 * (1.06 ** (1 / 6) - 1), abs=1e-12)
    assert a.macaulay_duration == pytest.approx(0.5, abs=1e-12)
    assert a.modified_duration == pytest.approx(0.5 / 1.06, abs=1e-12)
    assert a.convexity == pytest.approx(0.5 / 1.06**2, abs=1e-12)
    assert a.average_life == pytest.approx(0.5, abs=1e-15)
    assert a.accrued == 0.0
    assert a.full_price == pytest.approx(100.0)


def test_analyze_two_flows_by_hand() -> None:
    # 50 at month 6 and 50 at month 12 (no interest), at y = 10%: v = 1.05.
    # PV = 50/1.05 + 50/1.05^2; Macaulay = (0.5*50/1.05 + 1*50/1.05^2) / PV.
    cf = np.zeros(12)
    cf[5] = cf[11] = 50.0
    a = analyze(cf, cf, 100.0, yield_=0.10)
    pv1, pv2 = 50 / 1.05, 50 / 1.05**2
    assert a.price == pytest.approx(pv1 + pv2, abs=1e-12)
    mac = (0.5 * pv1 + 1.0 * pv2) / (pv1 + pv2)
    assert a.macaulay_duration == pytest.approx(mac, abs=1e-12)
    assert a.modified_duration == pytest.approx(mac / 1.05, abs=1e-12)
    conv = (0.5 * 1.0 * pv1 + 1.0 * 1.5 * pv2) / ((pv1 + pv2) * 1.05**2)
    assert a.convexity == pytest.approx(conv, abs=1e-12)
    assert a.average_life == pytest.approx(0.75)


def test_analyze_settlement_accrued_and_clean_price() -> None:
    # One month of a 6% coupon on 100: interest 0.5, then principal 100, no delay,
    # settling on the 16th (15 days in): accrued = 0.5 * 15/30 = 0.25 per 100;
    # full price = 100.5 / 1.03^(2 * 15/360); clean = full - 0.25.
    cf, prin = np.array([100.5]), np.array([100.0])
    a = analyze(cf, prin, 100.0, yield_=0.06, settle_days=15)
    full = 100.5 / 1.03 ** (2 * 15 / 360)
    assert a.accrued == pytest.approx(0.25)
    assert a.full_price == pytest.approx(full, abs=1e-12)
    assert a.price == pytest.approx(full - 0.25, abs=1e-12)
    # The stated coupon gives the same accrued here.
    b = analyze(cf, prin, 100.0, yield_=0.06, settle_days=15, coupon=0.06)
    assert b.accrued == pytest.approx(0.25)
    # And pricing back at that clean price recovers the yield.
    c = analyze(cf, prin, 100.0, price=a.price, settle_days=15)
    assert c.yield_ == pytest.approx(0.06, abs=1e-12)


def test_analyze_interest_only_has_no_average_life() -> None:
    # An IO strip: 1 a month for 12 months on a notional of 100, no principal.
    a = analyze(np.ones(12), np.zeros(12), 100.0, yield_=0.05)
    assert math.isnan(a.average_life)
    # Price by hand: sum_k (1.025)^(-k/6) per 100 of notional.
    assert a.price == pytest.approx(sum(1.025 ** (-k / 6) for k in range(1, 13)), abs=1e-12)


def test_analyze_input_errors() -> None:
    cf = np.array([1.0, 101.0])
    with pytest.raises(InputError, match="exactly one"):
        analyze(cf, cf, 100.0)
    with pytest.raises(InputError, match="exactly one"):
        analyze(cf, cf, 100.0, price=100.0, yield_=0.05)
    with pytest.raises(InputError, match="3 periods"):
        analyze(cf, np.ones(3), 100.0, price=100.0)
    with pytest.raises(InputError, match="balance"):
        analyze(cf, cf, 0.0, price=100.0)
    with pytest.raises(InputError, match=r"cash_flow\[1\]"):
        price_from_yield([1.0, math.nan], 100.0, 0.05)
    with pytest.raises(InputError, match="price"):
        yield_from_price(cf, 100.0, -5.0)
    with pytest.raises(InputError, match="yield_"):
        price_from_yield(cf, 100.0, -2.5)


def test_yield_solver_reports_impossible_price() -> None:
    # Cash flows that are all zero cannot be worth 100.
    with pytest.raises(ConvergenceError, match=r"price 100\.0"):
        yield_from_price(np.zeros(12), 100.0, 100.0)


def test_solvers_ignore_rounding_noise_in_late_flows() -> None:
    # A 30-year annuity followed by tiny negative rounding residues: at extreme yields
    # (or spreads) these residues would dominate the present value, but the root is near
    # the market and must still be found: 2[(1.005)^6 - 1] for a 6% monthly annuity.
    from openmbs.pricing import ZeroCurve, z_spread

    r, n, bal = 0.06, 348, 1000.0
    pay = bal * (r / 12) / (1 - (1 + r / 12) ** -n)
    cf = np.concatenate([np.full(n, pay), np.full(12, -1e-9)])
    assert yield_from_price(cf, bal, 100.0) == pytest.approx(2 * (1.005**6 - 1), abs=1e-10)
    s = z_spread(cf, bal, ZeroCurve([1.0], [0.04]), 100.0)
    assert s == pytest.approx(1e4 * (2 * math.log(1.005**6) - 0.04), abs=1e-5)


@given(
    n=st.integers(1, 360),
    y=st.floats(-0.05, 0.5),
    delay=st.integers(0, 45),
    settle=st.integers(0, 29),
    seed=st.integers(0, 2**32 - 1),
)
def test_price_yield_round_trip(n: int, y: float, delay: int, settle: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cf = rng.uniform(0.0, 10.0, n)
    cf[-1] += 50.0
    p = price_from_yield(cf, 100.0, y, delay_days=delay, settle_days=settle)
    assert yield_from_price(cf, 100.0, p, delay_days=delay, settle_days=settle) == pytest.approx(
        y, abs=1e-10
    )
