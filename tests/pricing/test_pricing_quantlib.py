"""Cross-check of yield, price, durations, convexity and 30/360 against QuantLib.

Cash flows are placed on real dates: accrual month k starts on the first of the month,
so month k's payment falls on the first of month k+1 plus ``delay`` days, and QuantLib's
30/360 (USA) day counter gives exactly the times of our 30/360 timing.

Delay and settlement days stay below 27 so that no date is the last day of February:
QuantLib accumulates year fractions between consecutive payment dates, and 30/360 is not
additive across an end-of-February date (Jan 28 -> Feb 28 is 30 days, Feb 28 -> Mar 28
is 28), whereas the Standard Formulas count each payment's time from settlement.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.pricing import analyze, days_30_360, price_from_yield, yield_from_price

ql = pytest.importorskip("QuantLib")

DC = ql.Thirty360(ql.Thirty360.USA)


def _leg(cf: np.ndarray, start: ql.Date, delay: int) -> list[ql.SimpleCashFlow]:
    return [
        ql.SimpleCashFlow(float(c), start + ql.Period(k + 1, ql.Months) + delay)
        for k, c in enumerate(cf)
    ]


@settings(max_examples=40)
@given(
    n=st.integers(1, 360),
    y=st.floats(0.0, 0.25),
    delay=st.integers(0, 26),
    settle=st.integers(0, 26),
    month=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_against_quantlib(n: int, y: float, delay: int, settle: int, month: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cf = rng.uniform(0.0, 10.0, n)
    prin = rng.uniform(0.0, 5.0, n)
    prin[-1] += 10.0
    cf = cf + prin
    bal = 1000.0 * float(rng.uniform(0.5, 2.0))
    start = ql.Date(1, month, 2026)
    settle_date = start + settle
    leg = _leg(cf, start, delay)
    args = (y, DC, ql.Compounded, ql.Semiannual)
    ql_npv = ql.CashFlows.npv(leg, ql.InterestRate(*args), False, settle_date, settle_date)

    full = price_from_yield(cf, bal, y, delay_days=delay, settle_days=settle)
    assert full == pytest.approx(100.0 * ql_npv / bal, rel=1e-12)

    ql_yield = ql.CashFlows.yieldRate(
        leg,
        ql_npv,
        DC,
        ql.Compounded,
        ql.Semiannual,
        False,
        settle_date,
        settle_date,
        1e-13,
        200,
        0.05,
    )
    ours = yield_from_price(cf, bal, full, delay_days=delay, settle_days=settle)
    assert ours == pytest.approx(ql_yield, abs=1e-9)

    a = analyze(cf, prin, bal, yield_=y, delay_days=delay, settle_days=settle, coupon=0.0)
    ql_mod = ql.CashFlows.duration(
        leg, *args, ql.Duration.Modified, False, settle_date, settle_date
    )
    ql_mac = ql.CashFlows.duration(
        leg, *args, ql.Duration.Macaulay, False, settle_date, settle_date
    )
    ql_conv = ql.CashFlows.convexity(leg, *args, False, settle_date, settle_date)
    assert a.modified_duration == pytest.approx(ql_mod, rel=1e-10)
    assert a.macaulay_duration == pytest.approx(ql_mac, rel=1e-10)
    assert a.convexity == pytest.approx(ql_conv, rel=1e-10)


@given(
    d1=st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)),
    d2=st.dates(dt.date(2000, 1, 1), dt.date(2060, 12, 31)),
)
def test_30_360_matches_quantlib_usa(d1: dt.date, d2: dt.date) -> None:
    q = DC.dayCount(ql.Date(d1.day, d1.month, d1.year), ql.Date(d2.day, d2.month, d2.year))
    assert days_30_360(d1, d2) == q
