"""Effective duration and convexity: shift rates, re-project the cash flows, re-price.

A *projector* is any callable ``project(shift) -> cash flows`` where ``shift`` is a
parallel move of market rates as a decimal (``0.0025`` is +25 bp) and the result is
either a :class:`openmbs.cashflow.PoolCashflows` or a tuple ``(cash_flow, principal,
balance)``. Rate-dependent prepayment enters through the projector:
:func:`pass_through_projector` builds one for a generic pass-through with the simple
refinancing rule :class:`RefinancingSCurve`, and accepts a hook that maps a rate shift
to any :class:`openmbs.behaviour.Prepayment` (for a richer prepayment model).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from openmbs.behaviour import Prepayment
from openmbs.cashflow import project_pool
from openmbs.errors import InputError
from openmbs.pricing._curve import ZeroCurve
from openmbs.pricing._measures import (
    _as_vector,
    _check_balance,
    _check_yield,
    _first_interest,
    accrued_interest,
    price_from_yield,
    yield_from_price,
)
from openmbs.pricing._spread import price_from_z_spread, z_spread

if TYPE_CHECKING:
    from openmbs.cashflow._advance import AdvanceMode
    from openmbs.cashflow._result import PoolCashflows

__all__ = [
    "EffectiveAnalytics",
    "Projector",
    "RefinancingSCurve",
    "effective_measures",
    "pass_through_projector",
]

FloatArray = npt.NDArray[np.float64]


class Projector(Protocol):
    """``project(shift)``: cash flows after a parallel rate shift (decimal)."""

    def __call__(
        self, shift: float, /
    ) -> PoolCashflows | tuple[npt.ArrayLike, npt.ArrayLike, float]: ...


@dataclass(frozen=True)
class EffectiveAnalytics:
    """Effective (option-adjusted for prepayment) duration and convexity.

    Attributes
    ----------
    price : float
        Base clean price per 100 of current face.
    price_down, price_up : float
        Clean prices after rates move down / up by ``shift_bp``.
    shift_bp : float
        Size of the parallel shift, basis points.
    effective_duration : float
        ``(P- - P+) / (2 P0 dy)``, years (full prices, ``dy = shift_bp / 10000``).
    effective_convexity : float
        ``(P- + P+ - 2 P0) / (P0 dy**2)``, years squared.
    yield_ : float or None
        Base bond-equivalent yield, held constant across shifts (yield-based measure).
    z_spread_bp : float or None
        Base Z-spread, held constant across curve shifts (curve-based measure).
    """

    price: float
    price_down: float
    price_up: float
    shift_bp: float
    effective_duration: float
    effective_convexity: float
    yield_: float | None = None
    z_spread_bp: float | None = None


def _unpack(result: Any) -> tuple[FloatArray, FloatArray, float]:
    if hasattr(result, "cash_flow") and hasattr(result, "principal"):
        cf = _as_vector(result.cash_flow, "cash_flow")
        prin = _as_vector(result.principal, "principal")
        bal = float(result.beginning_balance[0])
    else:
        try:
            cf_like, prin_like, bal_like = result
        except (TypeError, ValueError):
            raise InputError(
                f"projector returned {type(result).__name__}: expected PoolCashflows or "
                "(cash_flow, principal, balance)"
            ) from None
        cf = _as_vector(cf_like, "cash_flow")
        prin = _as_vector(prin_like, "principal")
        bal = float(bal_like)
    return cf, prin, _check_balance(bal)


def effective_measures(
    project: Projector | Callable[[float], Any],
    *,
    price: float | None = None,
    yield_: float | None = None,
    curve: ZeroCurve | None = None,
    shift_bp: float = 25.0,
    delay_days: float = 0,
    settle_days: float = 0,
    coupon: float | None = None,
) -> EffectiveAnalytics:
    """Effective duration and convexity by shifting rates and re-projecting.

    Parameters
    ----------
    project : callable
        ``project(shift)`` returns the cash flows when market rates move by ``shift``
        (decimal): a ``PoolCashflows`` or ``(cash_flow, principal, balance)``. Called
        with ``0``, ``-dy`` and ``+dy``.
    price : float, optional
        Base clean price per 100. Without ``curve`` exactly one of ``price`` and
        ``yield_`` is needed; with ``curve``, ``price`` or ``yield_`` fixes the base price.
    yield_ : float, optional
        Base bond-equivalent yield, decimal.
    curve : ZeroCurve, optional
        When given, the base Z-spread to this curve is held constant and the curve is
        shifted by ``+-shift_bp``; otherwise the yield is held constant and shifted.
    shift_bp : float, default 25
        Size of the parallel shift, basis points (> 0).
    delay_days, settle_days, coupon
        As in :func:`openmbs.pricing.analyze`.

    Returns
    -------
    EffectiveAnalytics

    Notes
    -----
    Central differences of the full price ``P`` in the rate shift ``dy``:
    ``D_eff = (P(-dy) - P(+dy)) / (2 P(0) dy)`` and
    ``C_eff = (P(-dy) + P(+dy) - 2 P(0)) / (P(0) dy**2)``. Yield-based: the
    discount yield is ``y0 +- dy``. Curve-based: the zero curve is shifted by
    ``+-dy`` with the Z-spread held (continuous compounding). For cash flows that do
    not depend on the shift, the yield-based measures approach the modified duration
    and convexity of :func:`analyze` as ``dy -> 0``.

    Examples
    --------
    >>> import numpy as np
    >>> cf = np.array([0.0] * 59 + [130.0]); prin = np.array([0.0] * 59 + [100.0])
    >>> e = effective_measures(lambda s: (cf, prin, 100.0), yield_=0.05, shift_bp=1)
    >>> round(e.effective_duration, 4)
    4.878
    """
    if not (math.isfinite(shift_bp) and shift_bp > 0):
        raise InputError(f"shift_bp {shift_bp!r}: must be a positive number of basis points")
    dy = shift_bp / 10_000.0
    cf0, prin0, bal = _unpack(project(0.0))
    ai = accrued_interest(_first_interest(cf0, prin0, bal, coupon), bal, settle_days=settle_days)
    dd, sd = delay_days, settle_days
    if curve is None and (price is None) == (yield_ is None):
        raise InputError(
            f"give exactly one of price and yield_ (got price={price!r}, yield_={yield_!r})"
        )
    if curve is not None and price is None and yield_ is None:
        raise InputError("give price or yield_ to fix the base price for the curve-based measure")
    if price is None:
        y0 = _check_yield(float(yield_))  # type: ignore[arg-type]
        p0 = price_from_yield(cf0, bal, y0, accrued=ai, delay_days=dd, settle_days=sd)
    else:
        p0 = float(price)
        y0 = (
            yield_from_price(cf0, bal, p0, accrued=ai, delay_days=dd, settle_days=sd)
            if curve is None
            else math.nan
        )

    cf_dn, _, bal_dn = _unpack(project(-dy))
    cf_up, _, bal_up = _unpack(project(+dy))
    for b, name in ((bal_dn, "down"), (bal_up, "up")):
        if not math.isclose(b, bal, rel_tol=1e-12):
            raise InputError(
                f"projector's balance moved with the shift ({name}: {b!r} vs base {bal!r}); "
                "the current face must not depend on rates"
            )
    zs: float | None = None
    if curve is None:
        p_dn = price_from_yield(cf_dn, bal, y0 - dy, accrued=ai, delay_days=dd, settle_days=sd)
        p_up = price_from_yield(cf_up, bal, y0 + dy, accrued=ai, delay_days=dd, settle_days=sd)
    else:
        zs = z_spread(cf0, bal, curve, p0, accrued=ai, delay_days=dd, settle_days=sd)
        p_dn = price_from_z_spread(
            cf_dn, bal, curve.shift(-shift_bp), zs, accrued=ai, delay_days=dd, settle_days=sd
        )
        p_up = price_from_z_spread(
            cf_up, bal, curve.shift(+shift_bp), zs, accrued=ai, delay_days=dd, settle_days=sd
        )
    f0, f_dn, f_up = p0 + ai, p_dn + ai, p_up + ai
    return EffectiveAnalytics(
        price=p0,
        price_down=p_dn,
        price_up=p_up,
        shift_bp=float(shift_bp),
        effective_duration=(f_dn - f_up) / (2.0 * f0 * dy),
        effective_convexity=(f_dn + f_up - 2.0 * f0) / (f0 * dy * dy),
        yield_=None if curve is not None else y0,
        z_spread_bp=zs,
    )


@dataclass(frozen=True)
class RefinancingSCurve:
    """PSA multiplier as an arctan S-curve of the refinancing incentive.

    ``multiplier(i) = floor + (cap - floor) * (1/2 + arctan(slope * (i - midpoint)) / pi)``

    where the incentive ``i`` is a decimal rate difference (see
    :func:`pass_through_projector`). The multiplier rises from ``floor`` (deep out of
    the money: turnover only) to ``cap`` (deep in the money), steepest at ``midpoint``.

    Parameters
    ----------
    floor : float, default 0.5
        Multiplier far out of the money.
    cap : float, default 6.0
        Multiplier far in the money.
    midpoint : float, default 0.01
        Incentive (decimal, 0.01 = 100 bp) at the centre of the S.
    slope : float, default 100.0
        Steepness per unit of incentive (100 per 1.0 = 0.01 per bp): the multiplier
        covers half of its range between ``midpoint - 1/slope`` and
        ``midpoint + 1/slope`` (0 to 200 bp by default).

    Examples
    --------
    >>> rule = RefinancingSCurve()
    >>> round(rule(0.01), 6)
    3.25
    """

    floor: float = 0.5
    cap: float = 6.0
    midpoint: float = 0.01
    slope: float = 100.0

    def __post_init__(self) -> None:
        values = (self.floor, self.cap, self.midpoint, self.slope)
        if not all(math.isfinite(v) for v in values) or not 0 <= self.floor <= self.cap:
            raise InputError(
                f"RefinancingSCurve(floor={self.floor!r}, cap={self.cap!r}, ...): need "
                "finite parameters with 0 <= floor <= cap"
            )
        if self.slope <= 0:
            raise InputError(f"RefinancingSCurve slope {self.slope!r}: must be > 0")

    def __call__(self, incentive: float) -> float:
        s = 0.5 + math.atan(self.slope * (incentive - self.midpoint)) / math.pi
        return self.floor + (self.cap - self.floor) * s


def pass_through_projector(
    *,
    balance: float,
    gross_coupon: float,
    net_coupon: float,
    original_term: int,
    remaining_term: int,
    loan_age: int | None = None,
    psa: float = 100.0,
    mortgage_rate: float | None = None,
    rule: Callable[[float], float] | None = None,
    prepayment_for_shift: Callable[[float], Any] | None = None,
    default: Any = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
) -> Callable[[float], PoolCashflows]:
    """A projector for a generic pass-through whose prepayment speed depends on rates.

    Parameters
    ----------
    balance, gross_coupon, net_coupon, original_term, remaining_term, loan_age
        The pool, as in :func:`openmbs.cashflow.project_pool` (rates decimals).
    psa : float, default 100
        Prepayment speed (percent of PSA) at the base scenario (shift 0).
    mortgage_rate : float, optional
        Current primary mortgage rate (decimal); defaults to ``gross_coupon`` (no
        incentive at the base).
    rule : callable, optional
        Incentive -> PSA multiplier; default :class:`RefinancingSCurve()`.
    prepayment_for_shift : callable, optional
        Hook replacing the rule: ``shift -> Prepayment`` (any
        :class:`openmbs.behaviour.Prepayment`, e.g. from a richer behaviour model).
    default, severity, lag, advance
        Passed to :func:`openmbs.cashflow.project_pool` (``advance``: ``"principal"``,
        ``"all"`` or ``"none"``).

    Returns
    -------
    callable
        ``project(shift) -> PoolCashflows``.

    Notes
    -----
    Refinancing incentive ``i(shift) = gross_coupon - (mortgage_rate + shift)``: a
    borrower compares the note rate with the rate available after the shift. The speed is
    ``psa * rule(i(shift)) / rule(i(0))``, so the base scenario runs at exactly the given
    PSA speed and the rule sets how speeds move with rates.
    """
    the_rule: Callable[[float], float] = rule if rule is not None else RefinancingSCurve()
    rate = gross_coupon if mortgage_rate is None else mortgage_rate
    base_multiplier = the_rule(gross_coupon - rate)
    if not (math.isfinite(base_multiplier) and base_multiplier > 0):
        raise InputError(
            f"prepayment rule gives multiplier {base_multiplier!r} at the base: need > 0"
        )

    def project(shift: float) -> PoolCashflows:
        if prepayment_for_shift is not None:
            prepayment = prepayment_for_shift(shift)
        else:
            speed = psa * the_rule(gross_coupon - (rate + shift)) / base_multiplier
            prepayment = Prepayment.psa(speed)
        result: PoolCashflows = project_pool(
            balance=balance,
            gross_coupon=gross_coupon,
            net_coupon=net_coupon,
            original_term=original_term,
            remaining_term=remaining_term,
            loan_age=loan_age,
            prepayment=prepayment,
            default=default,
            severity=severity,
            lag=lag,
            advance=advance,
        )
        return result

    return project
