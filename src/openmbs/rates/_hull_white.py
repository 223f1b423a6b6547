"""Hull-White one-factor short-rate model, fitted exactly to an initial zero curve.

Dynamics (risk-neutral measure)::

    dr(t) = (theta(t) - a r(t)) dt + sigma dW(t)

written as ``r(t) = x(t) + alpha(t)`` with the Ornstein-Uhlenbeck factor
``dx = -a x dt + sigma dW``, ``x(0) = 0``, and the deterministic shift

    alpha(t) = f(0, t) + sigma^2 / (2 a^2) (1 - exp(-a t))^2

where ``f(0, t)`` is the initial curve's instantaneous forward rate. This choice of
``alpha`` (equivalently ``theta(t) = df(0,t)/dt + a f(0,t) + sigma^2/(2a) (1 - e^{-2at})``)
makes the model reprice every zero-coupon bond of the initial curve exactly
(Brigo & Mercurio, *Interest Rate Models - Theory and Practice*, 2nd ed., section 3.3;
Hull & White, "Pricing interest-rate-derivative securities", Review of Financial
Studies, 1990).

Simulation steps ``x`` *and* its time integral exactly: over a step of length ``dt`` the
pair ``(x(t+dt), integral of x over the step)`` is bivariate normal given ``x(t)``, so
path discount factors ``exp(-integral of r)`` carry no discretisation bias and their
Monte Carlo mean converges to the initial discount curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from openmbs.errors import AssumptionError, InputError

__all__ = ["HullWhite", "HullWhitePaths", "mortgage_rate_paths"]

FloatArray = npt.NDArray[np.float64]

#: Typical spread of the US 30-year fixed primary mortgage rate over the 10-year
#: Treasury par yield, in basis points (see docs/risk.md for the source).
DEFAULT_MORTGAGE_SPREAD_BP = 170.0


def _h(u: FloatArray | float) -> FloatArray:
    """``(1 - exp(-u)) / u``, equal to 1 at ``u = 0`` (stable for small ``u``)."""
    uu = np.asarray(u, dtype=np.float64)
    safe = np.where(uu == 0.0, 1.0, uu)
    return np.asarray(np.where(uu == 0.0, 1.0, -np.expm1(-safe) / safe), dtype=np.float64)


def _g(u: FloatArray | float) -> FloatArray:
    """``[u - 2(1 - e^-u) + (1 - e^-2u)/2] / u^3`` (series below ``u = 1e-3``).

    ``sigma^2 tau^3 g(a tau)`` is the variance of the integral of ``x`` over ``tau``
    years started from a known value, ``V(tau)`` in Brigo & Mercurio's notation.
    """
    uu = np.asarray(u, dtype=np.float64)
    small = uu < 1e-3
    us = np.where(small, 1.0, uu)
    closed = (us + 2.0 * np.expm1(-us) - 0.5 * np.expm1(-2.0 * us)) / us**3
    series = 1.0 / 3.0 - uu / 4.0 + 7.0 * uu**2 / 60.0 - uu**3 / 24.0
    return np.asarray(np.where(small, series, closed), dtype=np.float64)


class _LinearZeroCurve:
    """Zero rates linear between knots and flat outside: the same curve as
    :class:`openmbs.pricing.ZeroCurve`, with its instantaneous forwards."""

    def __init__(self, times: npt.ArrayLike, zero_rates: npt.ArrayLike) -> None:
        t = np.asarray(times, dtype=np.float64).ravel()
        z = np.asarray(zero_rates, dtype=np.float64).ravel()
        if t.size == 0 or t.shape != z.shape:
            raise InputError(f"curve: got {t.size} times for {z.size} zero rates")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(z))):
            raise InputError(f"curve: times {t.tolist()!r} and rates must be finite")
        if t[0] <= 0.0 or np.any(np.diff(t) <= 0.0):
            raise InputError(f"curve times {t.tolist()!r}: must be positive and increasing")
        self.times = t
        self.zero_rates = z
        self.slopes = np.diff(z) / np.diff(t) if t.size > 1 else np.zeros(0)

    def __repr__(self) -> str:
        knots = ", ".join(
            f"{t:g}:{z:.6f}" for t, z in zip(self.times, self.zero_rates, strict=True)
        )
        return f"ZeroCurve({knots})"

    def _slope(self, t: FloatArray) -> FloatArray:
        if self.slopes.size == 0:
            return np.zeros_like(t)
        i = np.searchsorted(self.times, t, side="right") - 1
        inside = (i >= 0) & (i < self.slopes.size)
        return np.where(inside, self.slopes[np.clip(i, 0, self.slopes.size - 1)], 0.0)

    def zero(self, t: FloatArray) -> FloatArray:
        return np.asarray(np.interp(t, self.times, self.zero_rates), dtype=np.float64)

    def log_discount(self, t: FloatArray) -> FloatArray:
        return -self.zero(t) * t

    def forward(self, t: FloatArray) -> FloatArray:
        """Instantaneous forward ``f(0,t) = d(z t)/dt = z(t) + t z'(t)`` (right limit)."""
        return self.zero(t) + t * self._slope(t)

    def forward_slope(self, t: FloatArray) -> FloatArray:
        """``df(0,t)/dt = 2 z'(t)`` between knots (right limit at a knot)."""
        return 2.0 * self._slope(t)


@dataclass(frozen=True, eq=False)
class HullWhitePaths:
    """Simulated Hull-White paths on a regular grid.

    Attributes
    ----------
    times : ndarray, shape (n_steps + 1,)
        Grid times in years, ``times[0] = 0``.
    x : ndarray, shape (n_paths, n_steps + 1)
        The Ornstein-Uhlenbeck factor (``x[:, 0] = 0``).
    short_rate : ndarray, shape (n_paths, n_steps + 1)
        ``r = x + alpha(t)``, decimals per year, continuously compounded.
    discount : ndarray, shape (n_paths, n_steps + 1)
        Path discount factors ``exp(-integral of r from 0 to t)`` (1 at ``t = 0``).
    antithetic : bool
        Whether path ``n_paths/2 + i`` is the mirror of path ``i``.
    seed : int
        The seed the normals were drawn with.
    """

    times: FloatArray
    x: FloatArray
    short_rate: FloatArray
    discount: FloatArray
    antithetic: bool
    seed: int

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.x.shape[0])

    @property
    def n_steps(self) -> int:
        """Number of time steps."""
        return int(self.x.shape[1] - 1)


@dataclass(frozen=True, eq=False)
class HullWhite:
    """Hull-White one-factor model fitted to an initial zero curve.

    Parameters
    ----------
    curve : ZeroCurve or (times, zero_rates)
        The initial curve: an :class:`openmbs.pricing.ZeroCurve` (or any object with
        ``times`` and ``zero_rates`` arrays) or a pair of arrays of times in years and
        continuously-compounded zero rates (decimals). Zero rates are linear between
        knots and flat outside, as in ``ZeroCurve``.
    a : float
        Mean-reversion speed per year (>= 0; 0 is the Ho-Lee model).
    sigma : float
        Short-rate volatility, decimal per sqrt(year) (normal volatility: 0.01 is
        100 bp a year).

    Notes
    -----
    Zero-coupon bond prices are analytic::

        P(t, T) = P(0,T)/P(0,t) exp(-B(T-t) x(t) + [V(T-t) - V(T) + V(t)] / 2)
        B(tau) = (1 - exp(-a tau)) / a
        V(tau) = sigma^2 / a^2 [tau - 2 (1 - e^{-a tau}) / a + (1 - e^{-2 a tau}) / (2a)]

    with ``x(t) = r(t) - alpha(t)``. At ``t = 0``, ``x = 0`` and ``P(0, T)`` is the
    initial curve's discount factor exactly.

    Examples
    --------
    >>> hw = HullWhite(([1.0, 10.0], [0.03, 0.04]), a=0.05, sigma=0.01)
    >>> round(float(hw.bond_price(0.0, 5.0, 0.0)), 10) == round(float(hw.discount(5.0)), 10)
    True
    """

    curve: Any
    a: float
    sigma: float

    def __post_init__(self) -> None:
        c = self.curve
        if isinstance(c, _LinearZeroCurve):
            lin = c
        elif hasattr(c, "times") and hasattr(c, "zero_rates"):
            lin = _LinearZeroCurve(c.times, c.zero_rates)
        elif isinstance(c, tuple) and len(c) == 2:
            lin = _LinearZeroCurve(c[0], c[1])
        else:
            raise InputError(f"curve {c!r}: expected a ZeroCurve or a pair (times, zero_rates)")
        object.__setattr__(self, "curve", lin)
        if not (np.isfinite(self.a) and self.a >= 0.0):
            raise AssumptionError(f"mean reversion a {self.a!r}: expected a number >= 0")
        if not (np.isfinite(self.sigma) and self.sigma >= 0.0):
            raise AssumptionError(f"volatility sigma {self.sigma!r}: expected a number >= 0")

    # ------------------------------------------------------------------ curve pieces

    def discount(self, t: npt.ArrayLike) -> FloatArray:
        """Initial-curve discount factor ``P(0, t)``."""
        tt = np.asarray(t, dtype=np.float64)
        return np.asarray(np.exp(self.curve.log_discount(tt)), dtype=np.float64)

    def forward(self, t: npt.ArrayLike) -> FloatArray:
        """Initial-curve instantaneous forward rate ``f(0, t)``."""
        return np.asarray(self.curve.forward(np.asarray(t, dtype=np.float64)), dtype=np.float64)

    def B(self, tau: npt.ArrayLike) -> FloatArray:
        """``B(tau) = (1 - exp(-a tau)) / a`` (``tau`` when ``a = 0``)."""
        tt = np.asarray(tau, dtype=np.float64)
        return tt * _h(self.a * tt)

    def V(self, tau: npt.ArrayLike) -> FloatArray:
        """Variance of the integral of ``x`` over ``tau`` years from a known start."""
        tt = np.asarray(tau, dtype=np.float64)
        return self.sigma**2 * tt**3 * _g(self.a * tt)

    def alpha(self, t: npt.ArrayLike) -> FloatArray:
        """Deterministic shift ``alpha(t) = f(0,t) + sigma^2/2 B(t)^2``."""
        tt = np.asarray(t, dtype=np.float64)
        return self.forward(tt) + 0.5 * self.sigma**2 * self.B(tt) ** 2

    def theta(self, t: npt.ArrayLike) -> FloatArray:
        """Drift ``theta(t) = df(0,t)/dt + a f(0,t) + sigma^2/(2a) (1 - exp(-2 a t))``.

        With zero rates linear between knots, ``df(0,t)/dt = 2 z'(t)`` is piecewise
        constant; at a knot the right-hand limit is returned.
        """
        tt = np.asarray(t, dtype=np.float64)
        f = self.forward(tt)
        return np.asarray(
            self.curve.forward_slope(tt) + self.a * f + self.sigma**2 * tt * _h(2.0 * self.a * tt),
            dtype=np.float64,
        )

    def bond_price(self, t: npt.ArrayLike, maturity: npt.ArrayLike, x: npt.ArrayLike) -> FloatArray:
        """Zero-coupon bond price ``P(t, T)`` given the factor ``x(t)``.

        Parameters
        ----------
        t : array_like
            Valuation time in years.
        maturity : array_like
            Bond maturity ``T >= t`` in years.
        x : array_like
            The factor ``x(t) = r(t) - alpha(t)`` (0 on the initial curve at ``t = 0``).

        Returns
        -------
        ndarray
            Broadcast over the inputs.
        """
        tt = np.asarray(t, dtype=np.float64)
        mm = np.asarray(maturity, dtype=np.float64)
        xx = np.asarray(x, dtype=np.float64)
        tau = mm - tt
        if np.any(tau < 0.0):
            raise InputError("bond_price: maturity must not be before the valuation time")
        log_a = (
            self.curve.log_discount(mm)
            - self.curve.log_discount(tt)
            + 0.5 * (self.V(tau) - self.V(mm) + self.V(tt))
        )
        return np.asarray(np.exp(log_a - self.B(tau) * xx), dtype=np.float64)

    def bond_price_from_short_rate(
        self, t: npt.ArrayLike, maturity: npt.ArrayLike, short_rate: npt.ArrayLike
    ) -> FloatArray:
        """``P(t, T)`` given the short rate ``r(t)`` (``x = r - alpha(t)``)."""
        return self.bond_price(t, maturity, np.asarray(short_rate) - self.alpha(t))

    def par_rate(
        self, t: float, x: npt.ArrayLike, tenor_years: float, *, frequency: int = 2
    ) -> FloatArray:
        """Par coupon rate at time ``t`` of a ``tenor_years`` bond paying ``frequency``
        coupons a year, on the curve implied by the factor ``x(t)``.

        ``c = frequency (1 - P(t, t+tenor)) / sum_i P(t, t + i/frequency)``, a yield
        compounded ``frequency`` times a year (bond-equivalent for 2).
        """
        n = round(tenor_years * frequency)
        if n < 1 or abs(n - tenor_years * frequency) > 1e-9:
            raise InputError(
                f"tenor_years {tenor_years!r}: must be a whole number of coupon periods "
                f"at frequency {frequency}"
            )
        xx = np.asarray(x, dtype=np.float64)
        pay = float(t) + np.arange(1, n + 1, dtype=np.float64) / frequency
        p = self.bond_price(float(t), pay, xx[..., None])
        return np.asarray(frequency * (1.0 - p[..., -1]) / p.sum(axis=-1), dtype=np.float64)

    # ------------------------------------------------------------------ simulation

    def simulate(
        self,
        n_paths: int,
        n_steps: int,
        *,
        dt: float = 1.0 / 12.0,
        seed: int = 0,
        antithetic: bool = True,
    ) -> HullWhitePaths:
        """Monte Carlo short-rate paths and path discount factors on a regular grid.

        Parameters
        ----------
        n_paths : int
            Number of paths (even when ``antithetic``).
        n_steps : int
            Number of steps; monthly by default, so 360 steps cover 30 years.
        dt : float
            Step length in years.
        seed : int
            Seed of NumPy's default generator (PCG64); same seed, same paths.
        antithetic : bool
            Draw ``n_paths / 2`` normal vectors and use each with both signs: path
            ``n_paths/2 + i`` has ``x`` equal to minus path ``i``'s.

        Returns
        -------
        HullWhitePaths

        Notes
        -----
        Exact discretisation: with ``e = exp(-a dt)``, given ``x_k``, ``x_{k+1}`` and
        ``I_k`` (the integral of ``x`` over the step) are jointly normal with means
        ``x_k e`` and ``x_k B(dt)``, variances ``sigma^2 (1 - e^2)/(2a)`` and
        ``V(dt)``, and covariance ``sigma^2 B(dt)^2 / 2``. The path discount factor is
        ``P(0,t) exp(-V(t)/2 - sum of I_k)``, since the integral of ``alpha`` from 0 to
        ``t`` equals ``-ln P(0,t) + V(t)/2``.
        """
        if n_paths < 1 or n_steps < 1:
            raise InputError(f"n_paths {n_paths!r}, n_steps {n_steps!r}: must be positive")
        if antithetic and n_paths % 2:
            raise InputError(f"n_paths {n_paths!r}: antithetic sampling needs an even number")
        if not (np.isfinite(dt) and dt > 0.0):
            raise InputError(f"dt {dt!r}: must be a positive number of years")
        a, s = self.a, self.sigma
        e = np.exp(-a * dt)
        b = dt * float(_h(a * dt))
        var_x = s**2 * dt * float(_h(2.0 * a * dt))
        var_i = s**2 * dt**3 * float(_g(a * dt))
        cov = 0.5 * s**2 * b**2
        sd_x = np.sqrt(var_x)
        load = cov / sd_x if sd_x > 0.0 else 0.0
        sd_i = np.sqrt(max(var_i - load**2, 0.0))

        rng = np.random.default_rng(seed)
        n_draw = n_paths // 2 if antithetic else n_paths
        z = rng.standard_normal((2, n_draw, n_steps))
        if antithetic:
            z = np.concatenate([z, -z], axis=1)
        x = np.zeros((n_paths, n_steps + 1))
        integral = np.zeros((n_paths, n_steps + 1))
        for k in range(n_steps):
            xk = x[:, k]
            x[:, k + 1] = xk * e + sd_x * z[0, :, k]
            integral[:, k + 1] = integral[:, k] + xk * b + load * z[0, :, k] + sd_i * z[1, :, k]
        times = dt * np.arange(n_steps + 1, dtype=np.float64)
        log_p0 = self.curve.log_discount(times)
        discount = np.exp(log_p0[None, :] - 0.5 * self.V(times)[None, :] - integral)
        return HullWhitePaths(
            times=times,
            x=x,
            short_rate=x + self.alpha(times)[None, :],
            discount=discount,
            antithetic=antithetic,
            seed=seed,
        )


def mortgage_rate_paths(
    model: HullWhite,
    paths: HullWhitePaths,
    *,
    tenor_years: float = 10.0,
    spread_bp: float = DEFAULT_MORTGAGE_SPREAD_BP,
    frequency: int = 2,
) -> FloatArray:
    """Prevailing mortgage-rate paths: a par rate of the simulated curve plus a spread.

    Parameters
    ----------
    model : HullWhite
        The model the paths were simulated with.
    paths : HullWhitePaths
        Simulated paths (``n_paths`` by ``n_steps + 1`` grid times).
    tenor_years : float
        Tenor of the par rate the mortgage rate follows (10 years: the mortgage-rate
        proxy most often used, as a 30-year mortgage's expected life is near 10 years).
    spread_bp : float
        Spread added to the par rate, basis points.
    frequency : int
        Coupons a year of the par bond (2: a Treasury-style bond-equivalent yield).

    Returns
    -------
    ndarray, shape (n_paths, n_steps)
        Column ``k`` is the mortgage rate observed at the start of period ``k + 1``
        (grid time ``times[k]``), decimals; it feeds a prepayment model's period
        ``k + 1``. Column 0 is the same on every path (today's rate).

    Notes
    -----
    ``m(t) = c_tenor(t) + spread_bp / 10^4`` with ``c_tenor(t)`` the par coupon from the
    analytic Hull-White bond prices at ``t`` (:meth:`HullWhite.par_rate`).
    """
    out = np.empty((paths.n_paths, paths.n_steps))
    for k in range(paths.n_steps):
        out[:, k] = model.par_rate(
            float(paths.times[k]), paths.x[:, k], tenor_years, frequency=frequency
        )
    return out + spread_bp / 10_000.0
