"""Spreads of monthly cash flows to curves: spread to the par curve at the average life
and the zero-volatility (Z) spread.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from openmbs.errors import ConvergenceError, InputError
from openmbs.pricing._curve import ZeroCurve
from openmbs.pricing._measures import _as_vector, _check_balance
from openmbs.pricing._timing import payment_times

__all__ = [
    "ParYieldCurve",
    "price_from_z_spread",
    "spread_to_curve_at_wal",
    "z_spread",
]

FloatArray = npt.NDArray[np.float64]


class ParYieldCurve(Protocol):
    """Anything with a par yield at a maturity: :class:`ZeroCurve` or :class:`ParCurve`."""

    def par_yield(self, t: float, freq: int = ...) -> float: ...


def spread_to_curve_at_wal(yield_: float, average_life: float, curve: ParYieldCurve) -> float:
    """Yield spread to the par curve at the average life, in basis points.

    Parameters
    ----------
    yield_ : float
        Bond-equivalent yield of the security, decimal.
    average_life : float
        Its average life in years (the point on the curve).
    curve : ZeroCurve or ParCurve
        A :class:`ParCurve` interpolates the quoted par yields linearly; a
        :class:`ZeroCurve` gives the semi-annual par yield of a bond maturing at the
        average life (:meth:`ZeroCurve.par_yield`).

    Returns
    -------
    float
        ``10000 * (yield_ - par_yield(average_life))`` basis points.

    Notes
    -----
    The market's "spread to the interpolated curve at the WAL" (nominal spread): both
    yields are bond-equivalent (semi-annual), so no compounding conversion is needed.

    Examples
    --------
    >>> from openmbs.pricing import ParCurve
    >>> round(spread_to_curve_at_wal(0.055, 6.0, ParCurve([2.0, 10.0], [0.04, 0.05])), 6)
    100.0
    """
    if not math.isfinite(average_life) or average_life <= 0:
        raise InputError(f"average_life {average_life!r}: must be > 0 years")
    return 10_000.0 * (yield_ - curve.par_yield(average_life, 2))


def _z_pv(cf: FloatArray, times: FloatArray, zeros: FloatArray, spread: float) -> float:
    return float(np.dot(cf, np.exp(-(zeros + spread) * times)))


def price_from_z_spread(
    cash_flow: npt.ArrayLike,
    balance: float,
    curve: ZeroCurve,
    z_spread_bp: float,
    *,
    delay_days: float = 0,
    settle_days: float = 0,
    accrued: float = 0.0,
) -> float:
    """Price per 100 of current face discounting on ``curve`` plus a constant spread.

    Returns
    -------
    float
        ``100 / balance * sum CF_k exp(-(z(t_k) + s) t_k) - accrued`` with
        ``s = z_spread_bp / 10000`` continuously compounded and ``t_k`` the 30/360
        payment times with delay (:func:`payment_times`).

    Examples
    --------
    >>> from openmbs.pricing import ZeroCurve
    >>> import math
    >>> p = price_from_z_spread([0.0] * 11 + [100.0], 100.0, ZeroCurve([1.0], [0.04]), 100.0)
    >>> round(p - 100 * math.exp(-0.05), 12)
    0.0
    """
    cf = _as_vector(cash_flow, "cash_flow")
    bal = _check_balance(balance)
    times = payment_times(cf.size, delay_days=delay_days, settle_days=settle_days)
    return 100.0 * _z_pv(cf, times, curve.zero(times), z_spread_bp / 10_000.0) / bal - accrued


def z_spread(
    cash_flow: npt.ArrayLike,
    balance: float,
    curve: ZeroCurve,
    price: float,
    *,
    delay_days: float = 0,
    settle_days: float = 0,
    accrued: float = 0.0,
) -> float:
    """Zero-volatility spread, in basis points, that reprices the cash flows.

    Parameters
    ----------
    cash_flow, balance, delay_days, settle_days, accrued
        As in :func:`openmbs.pricing.price_from_yield`.
    curve : ZeroCurve
        Continuously-compounded zero curve.
    price : float
        Quoted (clean) price per 100 of current face.

    Returns
    -------
    float
        The constant ``s`` (in bp) added to every continuously-compounded zero rate such
        that ``100 / balance * sum CF_k exp(-(z(t_k) + s) t_k) = price + accrued``.

    Raises
    ------
    openmbs.errors.ConvergenceError
        When no spread between -5000 bp and +10000 bp reprices the cash flows.

    Notes
    -----
    Compounding: the spread is continuously compounded, like the curve's zero rates.
    On a flat curve at ``r`` the Z-spread is exactly ``2 ln(1 + y/2) - r`` where ``y``
    is the bond-equivalent yield at the same price.

    Examples
    --------
    >>> from openmbs.pricing import ZeroCurve
    >>> import math
    >>> s = z_spread([0.0] * 11 + [100.0], 100.0, ZeroCurve([1.0], [0.04]), 100 * math.exp(-0.05))
    >>> round(s, 8)
    100.0
    """
    cf = _as_vector(cash_flow, "cash_flow")
    bal = _check_balance(balance)
    if not math.isfinite(price) or price <= 0:
        raise InputError(f"price {price!r}: must be a finite price per 100 > 0")
    times = payment_times(cf.size, delay_days=delay_days, settle_days=settle_days)
    zeros = curve.zero(times)
    target = (price + accrued) * bal / 100.0

    def f(s: float) -> float:
        return _z_pv(cf, times, zeros, s) - target

    # Widen a bracket from [0, 500 bp] outwards only as far as the price requires
    # (extreme spreads make discount factors overflow).
    lo, hi = 0.0, 0.05
    f_lo, f_hi = f(lo), f(hi)
    step = 0.05
    while f_lo < 0 and f_hi < 0 and lo > -0.5:
        hi, f_hi = lo, f_lo
        lo = max(lo - step, -0.5)
        f_lo, step = f(lo), step * 2
    step = 0.1
    while f_lo > 0 and f_hi > 0 and hi < 1.0:
        lo, f_lo = hi, f_hi
        hi = min(hi + step, 1.0)
        f_hi, step = f(hi), step * 2
    if not (math.isfinite(f_lo) and math.isfinite(f_hi)) or f_lo * f_hi > 0:
        raise ConvergenceError(
            f"z-spread at price {price!r}: no spread between -5000 and 10000 bp reprices "
            f"the cash flows (searched {lo * 1e4:.0f} .. {hi * 1e4:.0f} bp)"
        )
    s, info = brentq(f, lo, hi, xtol=1e-15, maxiter=300, full_output=True)
    if not info.converged:
        raise ConvergenceError(f"z-spread at price {price!r}: {info.flag}")
    return float(s) * 10_000.0
