"""Hull-White one-factor model: exact fit to the curve, Monte Carlo no-arbitrage checks."""

from __future__ import annotations

import numpy as np
import pytest

from openmbs.errors import AssumptionError, InputError
from openmbs.pricing import ZeroCurve
from openmbs.risk import HullWhite, mortgage_rate_paths

CURVE = ZeroCurve([0.25, 1.0, 2.0, 5.0, 10.0, 30.0], [0.043, 0.041, 0.039, 0.040, 0.043, 0.046])


def _se_check(samples: np.ndarray, target: np.ndarray, n_sd: float = 4.0) -> None:
    """Means of antithetic pair averages within ``n_sd`` standard errors of ``target``."""
    half = samples.shape[0] // 2
    pair = 0.5 * (samples[:half] + samples[half:])
    mean = pair.mean(axis=0)
    se = pair.std(axis=0, ddof=1) / np.sqrt(half)
    z = np.abs(mean - target) / np.maximum(se, 1e-300)
    assert np.all(z < n_sd), (z.max(), np.argmax(z))


def test_bond_price_at_zero_is_the_curve() -> None:
    hw = HullWhite(CURVE, a=0.08, sigma=0.012)
    t = np.array([0.01, 0.25, 0.7, 1.0, 3.3, 10.0, 17.5, 30.0, 40.0])
    np.testing.assert_allclose(hw.bond_price(0.0, t, 0.0), CURVE.discount(t), rtol=1e-14)
    # Arrays in, the same answer as the ZeroCurve object.
    hw2 = HullWhite((CURVE.times, CURVE.zero_rates), a=0.08, sigma=0.012)
    np.testing.assert_allclose(hw2.bond_price(0.0, t, 0.0), CURVE.discount(t), rtol=1e-14)
    # r(0) is the instantaneous forward at 0 and P(0, T) from r(0) is the curve too.
    r0 = hw.alpha(0.0)
    np.testing.assert_allclose(hw.bond_price_from_short_rate(0.0, t, r0), CURVE.discount(t))


@pytest.mark.parametrize(("a", "sigma"), [(0.05, 0.01), (0.5, 0.025), (0.0, 0.008)])
def test_monte_carlo_discount_factors_reprice_the_curve(a: float, sigma: float) -> None:
    # No arbitrage: E[exp(-integral of r)] = P(0, t) for every t on the grid.
    hw = HullWhite(CURVE, a=a, sigma=sigma)
    paths = hw.simulate(4000, 360, seed=11)
    assert paths.discount.shape == (4000, 361)
    np.testing.assert_array_equal(paths.discount[:, 0], 1.0)
    _se_check(paths.discount[:, 1:], CURVE.discount(paths.times[1:]))


def test_factor_distribution_matches_the_ou_law() -> None:
    a, sigma = 0.2, 0.015
    paths = HullWhite(CURVE, a=a, sigma=sigma).simulate(6000, 120, seed=3, antithetic=False)
    k = np.array([1, 12, 60, 120])
    t = paths.times[k]
    var = sigma**2 * (1 - np.exp(-2 * a * t)) / (2 * a)
    sample = paths.x[:, k].var(axis=0, ddof=1)
    # Sample variance of 6000 independent normals: relative standard error sqrt(2/5999).
    np.testing.assert_allclose(sample, var, rtol=4 * np.sqrt(2 / 5999))
    assert np.all(np.abs(paths.x[:, k].mean(axis=0)) < 4 * np.sqrt(var / 6000))


def test_antithetic_pairs_mirror() -> None:
    hw = HullWhite(CURVE, a=0.1, sigma=0.01)
    p = hw.simulate(10, 24, seed=5)
    np.testing.assert_array_equal(p.x[:5], -p.x[5:])
    alpha = hw.alpha(p.times)
    np.testing.assert_allclose(p.short_rate[:5] + p.short_rate[5:], np.tile(2 * alpha, (5, 1)))
    # Same seed, same paths; another seed, other paths.
    np.testing.assert_array_equal(hw.simulate(10, 24, seed=5).x, p.x)
    assert not np.array_equal(hw.simulate(10, 24, seed=6).x, p.x)
    with pytest.raises(InputError, match="even"):
        hw.simulate(9, 24)


def test_bond_price_is_a_martingale_under_the_bank_account() -> None:
    # E[D(0,t) P(t,T)] = P(0,T): checks the analytic P(t,T) at t > 0.
    hw = HullWhite(CURVE, a=0.1, sigma=0.015)
    p = hw.simulate(4000, 60, seed=21)
    k = 60  # t = 5 years
    for maturity in (6.0, 10.0, 25.0):
        deflated = p.discount[:, k] * hw.bond_price(p.times[k], maturity, p.x[:, k])
        _se_check(deflated[:, None], np.array([float(CURVE.discount(maturity))]))


def test_theta_drives_the_mean_short_rate() -> None:
    # alpha (the mean short rate less the convexity of x) solves alpha' = theta - a alpha,
    # the drift of dr = (theta - a r) dt: check it by finite differences between knots.
    hw = HullWhite(CURVE, a=0.07, sigma=0.011)
    t = np.array([0.5, 1.5, 3.0, 7.0, 12.0, 20.0, 35.0])
    h = 1e-5
    d_alpha = (hw.alpha(t + h) - hw.alpha(t - h)) / (2 * h)
    np.testing.assert_allclose(d_alpha, hw.theta(t) - hw.a * hw.alpha(t), atol=1e-8)
    # With no volatility the short rate is the instantaneous forward.
    p = HullWhite(CURVE, a=0.07, sigma=0.0).simulate(2, 12, seed=0)
    tt = p.times + 1e-6  # right limits, off the knot at 0.25
    inst_fwd = (np.log(CURVE.discount(tt - 1e-6)) - np.log(CURVE.discount(tt + 1e-6))) / 2e-6
    np.testing.assert_allclose(p.short_rate[0, 1:], inst_fwd[1:], atol=1e-8)
    np.testing.assert_allclose(p.discount[0], CURVE.discount(p.times), rtol=1e-12)


def test_mortgage_rate_paths() -> None:
    hw = HullWhite(CURVE, a=0.05, sigma=0.01)
    p = hw.simulate(200, 36, seed=1)
    m = mortgage_rate_paths(hw, p, tenor_years=10.0, spread_bp=170.0)
    assert m.shape == (200, 36)
    # Today's rate: the pricing package's par yield on the same curve plus the spread.
    assert m[:, 0] == pytest.approx(CURVE.par_yield(10.0, freq=2) + 0.017, abs=1e-12)
    # Rates rise with the factor: a lower x (higher bond prices) is a lower mortgage rate.
    k = 24
    order = np.argsort(p.x[:, k])
    assert np.all(np.diff(m[order, k]) > 0)
    # Flat curve, no volatility: the par rate of a flat continuous curve, any time.
    flat = HullWhite(([1.0], [0.05]), a=0.1, sigma=0.0)
    pf = flat.simulate(2, 12, seed=0)
    par = 2 * (np.exp(0.05 / 2) - 1)  # semi-annual par yield of a flat 5% continuous curve
    np.testing.assert_allclose(mortgage_rate_paths(flat, pf, spread_bp=0.0), par, rtol=1e-12)


def test_bad_inputs() -> None:
    with pytest.raises(AssumptionError, match="sigma"):
        HullWhite(CURVE, a=0.1, sigma=-0.01)
    with pytest.raises(AssumptionError, match="mean reversion"):
        HullWhite(CURVE, a=-1.0, sigma=0.01)
    with pytest.raises(InputError, match="increasing"):
        HullWhite(([2.0, 1.0], [0.03, 0.04]), a=0.1, sigma=0.01)
    with pytest.raises(InputError, match="whole number"):
        HullWhite(CURVE, a=0.1, sigma=0.01).par_rate(0.0, 0.0, 10.1)
