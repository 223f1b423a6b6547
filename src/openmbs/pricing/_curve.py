"""Zero-coupon curves: interpolation, discounting, par yields and bootstrapping.

A :class:`ZeroCurve` holds continuously-compounded zero rates ``z_i`` at times ``t_i``
(years). The zero rate at any ``t`` is linearly interpolated between knots and held flat
outside them (flat extrapolation); the discount factor is ``exp(-z(t) t)``.

:func:`bootstrap_par_curve` builds the zero curve on which par bonds with the quoted
yields are priced at exactly par, under that same interpolation rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from openmbs.errors import ConvergenceError, InputError

__all__ = ["ParCurve", "ZeroCurve", "bootstrap_par_curve", "coupon_schedule"]

FloatArray = npt.NDArray[np.float64]


def _check_knots(
    times: npt.ArrayLike, rates: npt.ArrayLike, what: str
) -> tuple[FloatArray, FloatArray]:
    t = np.array(times, dtype=np.float64, ndmin=1)
    r = np.array(rates, dtype=np.float64, ndmin=1)
    if t.ndim != 1 or r.ndim != 1 or t.size != r.size or t.size == 0:
        raise InputError(
            f"{what}: got {t.size} times for {r.size} rates; need the same number, at least one"
        )
    for i in range(t.size):
        if not math.isfinite(t[i]) or t[i] <= 0:
            raise InputError(f"{what}: time[{i}] = {t[i]!r}; times must be finite and > 0 years")
        if not math.isfinite(r[i]):
            raise InputError(f"{what}: rate[{i}] = {r[i]!r}; rates must be finite decimals")
        if i and t[i] <= t[i - 1]:
            raise InputError(
                f"{what}: time[{i}] = {t[i]!r} after {t[i - 1]!r}; times must increase"
            )
    t.setflags(write=False)
    r.setflags(write=False)
    return t, r


def coupon_schedule(maturity: float, freq: int) -> tuple[FloatArray, FloatArray]:
    """Coupon times and accrual fractions of a bond maturing at ``maturity`` years.

    Coupons fall every ``1/freq`` years counted back from maturity; the earliest period
    (from time 0) may be a short stub, whose coupon is prorated by its length.

    Returns
    -------
    (times, accruals) : tuple of ndarray
        Increasing coupon times and each period's length in years (they sum to
        ``maturity``).

    Examples
    --------
    >>> t, a = coupon_schedule(1.25, 2)
    >>> t.tolist(), a.tolist()
    ([0.25, 0.75, 1.25], [0.25, 0.5, 0.5])
    """
    if freq < 1:
        raise InputError(f"freq {freq!r}: coupons per year must be >= 1")
    if not math.isfinite(maturity) or maturity <= 0:
        raise InputError(f"maturity {maturity!r}: must be > 0 years")
    step = 1.0 / freq
    n = max(1, math.ceil(maturity * freq - 1e-9))
    times = maturity - step * np.arange(n - 1, -1, -1, dtype=np.float64)
    accruals = np.diff(np.concatenate(([0.0], times)))
    return times, accruals


@dataclass(frozen=True, eq=False)
class ZeroCurve:
    """Continuously-compounded zero curve, linear in zero rates, flat outside the knots.

    Parameters
    ----------
    times : array_like
        Increasing knot times in years (> 0).
    zero_rates : array_like
        Continuously-compounded zero rates at the knots, decimals.

    Notes
    -----
    ``z(t)`` is linear between knots and equal to the first (last) rate before the first
    (after the last) knot. ``D(t) = exp(-z(t) t)``; the instantaneous-compounding forward
    rate between ``t1`` and ``t2`` is ``(z2 t2 - z1 t1) / (t2 - t1)``.

    Examples
    --------
    >>> c = ZeroCurve([1.0, 2.0], [0.04, 0.05])
    >>> round(c.zero(1.5), 6), round(c.forward(1.0, 2.0), 6)
    (0.045, 0.06)
    """

    times: FloatArray
    zero_rates: FloatArray

    def __post_init__(self) -> None:
        t, r = _check_knots(self.times, self.zero_rates, "ZeroCurve")
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "zero_rates", r)

    @classmethod
    def from_zero_yields(
        cls,
        tenors: Sequence[float] | npt.ArrayLike,
        zero_yields: Sequence[float] | npt.ArrayLike,
        *,
        freq: int | None = 2,
    ) -> ZeroCurve:
        """Curve from zero-coupon yields quoted with ``freq`` compoundings a year.

        ``z = freq * ln(1 + y / freq)``; ``freq=None`` means the yields are already
        continuously compounded.

        Examples
        --------
        >>> round(ZeroCurve.from_zero_yields([1.0], [0.05], freq=1).zero(1.0), 10)
        0.0487901642
        """
        t, y = _check_knots(tenors, zero_yields, "zero yields")
        if freq is None:
            return cls(t, y)
        if freq < 1:
            raise InputError(f"freq {freq!r}: compoundings per year must be >= 1 (or None)")
        if np.any(1.0 + y / freq <= 0):
            raise InputError(
                f"zero yields {y.tolist()!r}: each must exceed -{freq} (i.e. -100%*freq)"
            )
        return cls(t, freq * np.log1p(y / freq))

    @overload
    def zero(self, t: float) -> float: ...
    @overload
    def zero(self, t: FloatArray) -> FloatArray: ...
    def zero(self, t: float | FloatArray) -> float | FloatArray:
        """Continuously-compounded zero rate at ``t`` years (linear, flat outside)."""
        z = np.interp(t, self.times, self.zero_rates)
        return float(z) if np.ndim(t) == 0 else np.asarray(z, dtype=np.float64)

    @overload
    def discount(self, t: float) -> float: ...
    @overload
    def discount(self, t: FloatArray) -> FloatArray: ...
    def discount(self, t: float | FloatArray) -> float | FloatArray:
        """Discount factor ``exp(-z(t) t)`` (1 at ``t = 0``)."""
        tt = np.asarray(t, dtype=np.float64)
        d = np.exp(-np.interp(tt, self.times, self.zero_rates) * tt)
        return float(d) if np.ndim(t) == 0 else np.asarray(d, dtype=np.float64)

    def forward(self, t1: float, t2: float) -> float:
        """Continuously-compounded forward rate from ``t1`` to ``t2`` years (``t2 > t1``)."""
        if not t2 > t1:
            raise InputError(f"forward({t1!r}, {t2!r}): the end must be after the start")
        return (self.zero(t2) * t2 - self.zero(t1) * t1) / (t2 - t1)

    def par_yield(self, t: float, freq: int = 2) -> float:
        """Coupon rate of a bond maturing at ``t`` years that is worth par on this curve.

        Returns
        -------
        float
            ``(1 - D(t)) / sum_i a_i D(t_i)`` with the coupon times ``t_i`` and accrual
            fractions ``a_i`` of :func:`coupon_schedule` (a short first stub when ``t`` is
            not a whole number of periods); the yield compounds ``freq`` times a year.
        """
        times, acc = coupon_schedule(t, freq)
        annuity = float(np.dot(acc, self.discount(times)))
        return (1.0 - self.discount(float(t))) / annuity

    def shift(self, bp: float) -> ZeroCurve:
        """A new curve with every zero rate moved by ``bp`` basis points (parallel)."""
        return ZeroCurve(self.times, self.zero_rates + bp / 10_000.0)

    def __repr__(self) -> str:
        knots = ", ".join(
            f"{t:g}:{r:.6f}" for t, r in zip(self.times, self.zero_rates, strict=True)
        )
        return f"ZeroCurve({knots})"


@dataclass(frozen=True, eq=False)
class ParCurve:
    """Quoted par yields at tenors, for spread-to-curve at an interpolated point.

    ``par_yield(t)`` interpolates the quotes linearly in maturity and holds them flat
    outside the quoted tenors, as market practice does for a spread to the interpolated
    Treasury (par) curve. :meth:`zero_curve` bootstraps the matching zero curve.

    Examples
    --------
    >>> ParCurve([2.0, 10.0], [0.04, 0.05]).par_yield(6.0)
    0.045
    """

    tenors: FloatArray
    par_yields: FloatArray
    freq: int = 2

    def __post_init__(self) -> None:
        t, r = _check_knots(self.tenors, self.par_yields, "ParCurve")
        object.__setattr__(self, "tenors", t)
        object.__setattr__(self, "par_yields", r)

    def par_yield(self, t: float, freq: int | None = None) -> float:
        """Linearly interpolated par yield at ``t`` years (flat outside the tenors)."""
        if freq is not None and freq != self.freq:
            raise InputError(f"ParCurve quotes are {self.freq}-a-year par yields, not {freq!r}")
        return float(np.interp(t, self.tenors, self.par_yields))

    def zero_curve(self) -> ZeroCurve:
        """The bootstrapped zero curve (see :func:`bootstrap_par_curve`)."""
        return bootstrap_par_curve(self.tenors, self.par_yields, freq=self.freq)

    @classmethod
    def parse(cls, text: str, *, freq: int = 2) -> ParCurve:
        """Parse ``"1:4.5,2:4.4,5:4.2"`` (tenor years : par yield in percent).

        Examples
        --------
        >>> ParCurve.parse("1:4.5,10:4.3").par_yields.tolist()
        [0.045, 0.043]
        """
        tenors: list[float] = []
        yields: list[float] = []
        for i, item in enumerate(x for x in text.split(",") if x.strip()):
            try:
                a, b = item.split(":")
                tenors.append(float(a))
                yields.append(float(b) / 100.0)
            except ValueError:
                raise InputError(
                    f"curve point {i + 1} {item.strip()!r}: expected TENOR_YEARS:PAR_YIELD_PERCENT "
                    "(e.g. '2:4.4')"
                ) from None
        return cls(np.array(tenors), np.array(yields), freq=freq)


def bootstrap_par_curve(
    tenors: Sequence[float] | npt.ArrayLike,
    par_yields: Sequence[float] | npt.ArrayLike,
    *,
    freq: int = 2,
) -> ZeroCurve:
    """Zero curve on which bonds paying the quoted par yields are priced at par.

    Parameters
    ----------
    tenors : array_like
        Increasing maturities in years.
    par_yields : array_like
        Par yields (coupon rates of par bonds), decimals, paid ``freq`` times a year.
    freq : int, default 2
        Coupons per year (2: semi-annual, as Treasuries).

    Returns
    -------
    ZeroCurve
        Knots at the tenors. For each tenor ``T`` the par bond, with the schedule of
        :func:`coupon_schedule` (short first stub when ``T`` is not a whole number of
        periods), satisfies ``c * sum a_i D(t_i) + D(T) = 1`` on the returned curve,
        i.e. ``curve.par_yield(T, freq) == c`` to ~1e-14.

    Notes
    -----
    Sequential bootstrap: the zero rate at each tenor is solved (Brent) so that its par
    bond prices at par, given the knots already found and the curve's own interpolation
    (linear zero rates between knots, flat before the first), so the bonds reprice
    exactly on the curve as used.

    Examples
    --------
    >>> c = bootstrap_par_curve([1, 2, 5], [0.045, 0.044, 0.042])
    >>> round(c.par_yield(2.0), 12)
    0.044
    """
    t, c = _check_knots(tenors, par_yields, "par curve")
    if freq < 1:
        raise InputError(f"freq {freq!r}: coupons per year must be >= 1")
    zeros: list[float] = []
    for n in range(t.size):
        times, acc = coupon_schedule(float(t[n]), freq)

        def excess(z: float, n: int = n, times: FloatArray = times, acc: FloatArray = acc) -> float:
            knots_t = t[: n + 1]
            knots_z = np.array([*zeros, z])
            d = np.exp(-np.interp(times, knots_t, knots_z) * times)
            return float(c[n] * np.dot(acc, d) + d[-1] - 1.0)

        # Widen [0, 20%] outwards until the par condition changes sign (the excess
        # falls as the new zero rate rises); extreme quotes may need zero rates far
        # from the quotes because the interpolation ties the points in between.
        lo, hi = 0.0, 0.2
        while excess(lo) < 0 and lo > -2.0:
            lo = lo - 0.25 if lo > -0.5 else 2 * lo
        while excess(hi) > 0 and hi < 20.0:
            hi *= 2
        if excess(lo) * excess(hi) > 0:
            raise ConvergenceError(
                f"bootstrap: no zero rate in [{lo:.0%}, {hi:.0%}] reprices the "
                f"{float(t[n])!r}-year par bond at yield {float(c[n])!r}"
            )
        z_n, info = brentq(
            excess, lo, hi, xtol=1e-16, rtol=4 * np.finfo(float).eps, maxiter=200, full_output=True
        )
        if not info.converged:
            raise ConvergenceError(f"bootstrap: tenor {t[n]!r}: {info.flag}")
        zeros.append(float(z_n))
    return ZeroCurve(t, np.array(zeros))
