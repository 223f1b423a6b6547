"""Zero curves, par bootstrap and spreads, with expected values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.errors import InputError
from openmbs.pricing import (
    ParCurve,
    ZeroCurve,
    analyze,
    bootstrap_par_curve,
    coupon_schedule,
    payment_times,
    price_from_yield,
    price_from_z_spread,
    spread_to_curve_at_wal,
    z_spread,
)


def test_zero_curve_interpolation_by_hand() -> None:
    c = ZeroCurve([1.0, 3.0], [0.04, 0.06])
    assert c.zero(2.0) == pytest.approx(0.05)  # halfway
    assert c.zero(0.5) == pytest.approx(0.04)  # flat before the first knot
    assert c.zero(10.0) == pytest.approx(0.06)  # flat after the last
    assert c.discount(2.0) == pytest.approx(math.exp(-0.10))
    assert c.discount(0.0) == 1.0
    # forward 1y -> 3y: (0.06*3 - 0.04*1) / 2 = 0.07
    assert c.forward(1.0, 3.0) == pytest.approx(0.07)
    arr = c.zero(np.array([1.0, 2.0, 3.0]))
    assert arr.tolist() == pytest.approx([0.04, 0.05, 0.06])
    up = c.shift(25)
    assert up.zero_rates.tolist() == pytest.approx([0.0425, 0.0625])
    assert c.zero_rates.tolist() == pytest.approx([0.04, 0.06])  # unchanged


def test_zero_curve_par_yield_flat() -> None:
    # Flat continuous rate r: a semi-annual par yield equals 2(e^{r/2} - 1) at any
    # whole-period maturity (each coupon period grows by e^{r/2}).
    r = 0.05
    c = ZeroCurve([1.0], [r])
    for t in (0.5, 1.0, 7.0, 30.0):
        assert c.par_yield(t) == pytest.approx(2 * math.expm1(r / 2), abs=1e-14)
    # Annual coupons: e^r - 1.
    assert c.par_yield(5.0, freq=1) == pytest.approx(math.expm1(r), abs=1e-14)


def test_zero_curve_from_zero_yields() -> None:
    c = ZeroCurve.from_zero_yields([1.0, 2.0], [0.05, 0.06], freq=2)
    assert c.zero(1.0) == pytest.approx(2 * math.log(1.025))
    assert c.discount(2.0) == pytest.approx(1.03**-4)
    d = ZeroCurve.from_zero_yields([1.0], [0.05], freq=None)
    assert d.zero(1.0) == 0.05


def test_curve_input_errors() -> None:
    with pytest.raises(InputError, match="increase"):
        ZeroCurve([2.0, 1.0], [0.01, 0.02])
    with pytest.raises(InputError, match="2 times for 1 rates"):
        ZeroCurve([1.0, 2.0], [0.01])
    with pytest.raises(InputError, match="time"):
        ZeroCurve([0.0], [0.01])
    with pytest.raises(InputError, match="curve point 2"):
        ParCurve.parse("1:4.5,abc")


def test_coupon_schedule() -> None:
    t, a = coupon_schedule(2.0, 2)
    assert t.tolist() == [0.5, 1.0, 1.5, 2.0]
    assert a.tolist() == [0.5, 0.5, 0.5, 0.5]
    t, a = coupon_schedule(0.25, 2)
    assert t.tolist() == [0.25] and a.tolist() == [0.25]


def _par_bond_value(curve: ZeroCurve, tenor: float, coupon: float, freq: int) -> float:
    """Price of a bond paying coupon/freq each period (prorated stub), by hand."""
    value, t, prev = 0.0, tenor, None
    times = []
    while t > 1e-12:
        times.append(t)
        t -= 1.0 / freq
    times.reverse()
    prev = 0.0
    for ti in times:
        value += coupon * (ti - prev) * curve.discount(ti)
        prev = ti
    return value + curve.discount(tenor)


@settings(max_examples=30)
@given(
    st.lists(st.floats(0.001, 0.12), min_size=1, max_size=8),
    st.sampled_from([1, 2, 4, 12]),
)
def test_bootstrap_reprices_par_bonds_exactly(yields: list[float], freq: int) -> None:
    tenors = [0.25, 1.0, 2.0, 3.5, 5.0, 7.0, 10.0, 30.0][: len(yields)]
    curve = bootstrap_par_curve(tenors, yields, freq=freq)
    for t, c in zip(tenors, yields, strict=True):
        assert _par_bond_value(curve, t, c, freq) == pytest.approx(1.0, abs=1e-13)
        assert curve.par_yield(t, freq) == pytest.approx(c, abs=1e-13)


def test_bootstrap_steep_long_end() -> None:
    # A jump from 3.125% at 10y to 10.9375% at 30y with annual coupons needs a 30y zero
    # rate above 100% under linear zero interpolation (found by hypothesis).
    tenors = [0.25, 1.0, 2.0, 3.5, 5.0, 7.0, 10.0, 30.0]
    yields = [0.0625] * 3 + [0.03125] * 4 + [0.109375]
    curve = bootstrap_par_curve(tenors, yields, freq=1)
    for t, c in zip(tenors, yields, strict=True):
        assert _par_bond_value(curve, t, c, 1) == pytest.approx(1.0, abs=1e-13)


def test_bootstrap_flat_par_curve_is_flat() -> None:
    # Flat 5% semi-annual par yields -> flat continuous zero 2 ln(1.025).
    curve = bootstrap_par_curve([1, 2, 5, 10, 30], [0.05] * 5)
    assert curve.zero_rates == pytest.approx([2 * math.log(1.025)] * 5, abs=1e-13)


def test_par_curve_interpolation_and_parse() -> None:
    pc = ParCurve.parse("1:4.5,2:4.4,5:4.2,10:4.3,30:4.5")
    assert pc.tenors.tolist() == [1, 2, 5, 10, 30]
    assert pc.par_yield(3.5) == pytest.approx(0.043)  # halfway between 4.4 and 4.2
    assert pc.par_yield(0.5) == pytest.approx(0.045)  # flat before 1y
    zc = pc.zero_curve()
    assert zc.par_yield(5.0) == pytest.approx(0.042, abs=1e-13)


def test_spread_to_curve_at_wal_by_hand() -> None:
    pc = ParCurve([2.0, 10.0], [0.04, 0.05])
    # WAL 6y: interpolated 4.5%; yield 5.6% -> 110 bp.
    assert spread_to_curve_at_wal(0.056, 6.0, pc) == pytest.approx(110.0)
    # On a zero curve: the par yield of a flat 4% continuous curve is 2(e^0.02 - 1).
    zc = ZeroCurve([1.0], [0.04])
    assert spread_to_curve_at_wal(0.05, 6.0, zc) == pytest.approx(
        1e4 * (0.05 - 2 * math.expm1(0.02))
    )


def test_z_spread_single_flow_by_hand() -> None:
    # 100 paid at month 12 (1y) on a flat 4% curve, price 100 e^{-0.05}: spread 100 bp.
    cf = [0.0] * 11 + [100.0]
    zc = ZeroCurve([0.5, 1.0, 2.0], [0.04, 0.04, 0.04])
    assert z_spread(cf, 100.0, zc, 100 * math.exp(-0.05)) == pytest.approx(100.0, abs=1e-8)


@settings(max_examples=30)
@given(
    r=st.floats(0.0, 0.10),
    y=st.floats(0.0, 0.15),
    delay=st.integers(0, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_z_spread_flat_curve_equals_yield_spread(r: float, y: float, delay: int, seed: int) -> None:
    # With a flat continuous curve r, discounting at r + s is discounting at the
    # continuous equivalent of the BEY, 2 ln(1 + y/2); so s = 2 ln(1 + y/2) - r.
    rng = np.random.default_rng(seed)
    cf = rng.uniform(0.0, 5.0, 120)
    cf[-1] += 100.0
    price = price_from_yield(cf, 100.0, y, delay_days=delay)
    s = z_spread(cf, 100.0, ZeroCurve([1.0, 30.0], [r, r]), price, delay_days=delay)
    assert s == pytest.approx(1e4 * (2 * math.log1p(y / 2) - r), abs=1e-6)


def test_z_spread_round_trip_on_sloped_curve_with_delay() -> None:
    zc = bootstrap_par_curve([1, 2, 5, 10, 30], [0.045, 0.044, 0.042, 0.043, 0.045])
    cf = np.full(240, 900.0)
    p = price_from_z_spread(cf, 120_000.0, zc, 85.0, delay_days=24)
    # Independent: discount by hand at the payment times.
    t = payment_times(240, delay_days=24)
    by_hand = (
        100
        * sum(
            c * math.exp(-(zc.zero(float(ti)) + 0.0085) * ti) for c, ti in zip(cf, t, strict=True)
        )
        / 120_000
    )
    assert p == pytest.approx(by_hand, rel=1e-13)
    assert z_spread(cf, 120_000.0, zc, p, delay_days=24) == pytest.approx(85.0, abs=1e-7)


def test_spread_uses_analyze_wal() -> None:
    # Two principal payments of 50 at years 1 and 3 (months 12 and 36): WAL 2y.
    cf = np.zeros(36)
    cf[11] = cf[35] = 50.0
    a = analyze(cf, cf, 100.0, yield_=0.06)
    assert a.average_life == pytest.approx(2.0)
    pc = ParCurve([1.0, 3.0], [0.04, 0.05])
    assert spread_to_curve_at_wal(a.yield_, a.average_life, pc) == pytest.approx(150.0)
