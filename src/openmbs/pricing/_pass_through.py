"""A pass-through priced end to end: project the pool, then every yield-based measure.

:func:`price_pass_through` is what ``openmbs price`` computes, as a library call: the
pool (a generic level-pay pool or a loan tape) is projected under the prepayment,
default and loss assumptions (SIFMA Standard Formulas, :mod:`openmbs.cashflow`), priced
at a price or a yield (:func:`~openmbs.pricing.analyze`), and optionally measured
against a par curve (spread at the average life, Z-spread) and for effective duration
and convexity (rates shifted, the generic pool re-projected with its PSA speed scaled
by the refinancing S-curve). Every rate in and out is a decimal; spreads and shifts are
basis points; times are years; prices are per 100 of current face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import PoolCashflows, advance_mode, project_pool, project_tape
from openmbs.collateral import LoanTape
from openmbs.errors import InputError
from openmbs.pricing._curve import ParCurve
from openmbs.pricing._effective import (
    EffectiveAnalytics,
    effective_measures,
    pass_through_projector,
)
from openmbs.pricing._measures import BondAnalytics, analyze
from openmbs.pricing._spread import spread_to_curve_at_wal, z_spread

__all__ = ["GenericPool", "PassThroughAnalytics", "price_pass_through"]


@dataclass(frozen=True)
class GenericPool:
    """A generic pool: one level-pay loan with the pool's balance, coupons, term and age.

    Attributes
    ----------
    balance : float
        Current balance (currency units).
    gross_coupon, net_coupon : float
        Gross WAC and net pass-through coupon, annual decimals (0.065 is 6.5%).
    original_term : int
        Original term, months.
    loan_age : int, default 0
        Months since origination (WALA); the remaining term is ``original_term - loan_age``.
    """

    balance: float
    gross_coupon: float
    net_coupon: float
    original_term: int = 360
    loan_age: int = 0

    def project_kwargs(self) -> dict[str, Any]:
        """The pool as keyword arguments of :func:`openmbs.cashflow.project_pool`."""
        return {
            "balance": self.balance,
            "gross_coupon": self.gross_coupon,
            "net_coupon": self.net_coupon,
            "original_term": self.original_term,
            "remaining_term": self.original_term - self.loan_age,
            "loan_age": self.loan_age,
        }


@dataclass(frozen=True)
class PassThroughAnalytics:
    """What :func:`price_pass_through` measured.

    Attributes
    ----------
    measures : BondAnalytics
        Price, yield (decimal), mortgage yield, average life, durations, convexity,
        accrued and full price.
    balance : float
        Current face priced (the projection's balance at the start of month 1).
    delay_days, settle_days : int
        The timing used (days after the accrual month's end; 30/360 days into the month).
    spread_to_curve_bp, z_spread_bp : float or None
        Yield less the curve's par yield at the average life, and the Z-spread
        (continuous), basis points; ``None`` without a curve.
    effective : EffectiveAnalytics or None
        Effective duration and convexity; ``None`` unless asked for.
    """

    measures: BondAnalytics
    balance: float
    delay_days: int
    settle_days: int
    spread_to_curve_bp: float | None = None
    z_spread_bp: float | None = None
    effective: EffectiveAnalytics | None = None

    def as_dict(self) -> dict[str, float | int]:
        """Flat JSON-ready fields: decimals for rates (key ``yield``), years, bp.

        Fields that were not computed (no curve, no effective measures) are left out.
        """
        m = self.measures
        out: dict[str, float | int] = {
            "price": m.price,
            "yield": m.yield_,
            "mortgage_yield": m.mortgage_yield,
            "average_life": m.average_life,
            "macaulay_duration": m.macaulay_duration,
            "modified_duration": m.modified_duration,
            "convexity": m.convexity,
            "accrued": m.accrued,
            "full_price": m.full_price,
            "balance": self.balance,
            "delay_days": self.delay_days,
            "settle_days": self.settle_days,
        }
        if self.spread_to_curve_bp is not None and self.z_spread_bp is not None:
            out["spread_to_curve_bp"] = self.spread_to_curve_bp
            out["z_spread_bp"] = self.z_spread_bp
        if self.effective is not None:
            out["effective_duration"] = self.effective.effective_duration
            out["effective_convexity"] = self.effective.effective_convexity
            out["effective_shift_bp"] = self.effective.shift_bp
        return out


def _psa_speed(prepayment: Prepayment) -> float:
    """The one PSA speed of ``prepayment``, for the effective measures' S-curve."""
    if prepayment.kind != "psa" or prepayment.values.size != 1:
        raise InputError(
            "effective measures scale a PSA speed by the refinancing S-curve: the "
            f"prepayment must be one PSA speed, got {prepayment.describe()}"
        )
    return float(prepayment.values.reshape(-1)[0])


def price_pass_through(
    pool: GenericPool | LoanTape,
    *,
    prepayment: Prepayment,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: str = "principal",
    price: float | None = None,
    yield_: float | None = None,
    delay_days: int = 0,
    settle_days: int = 0,
    curve: ParCurve | None = None,
    effective: bool = False,
    mortgage_rate: float | None = None,
    shift_bp: float = 25.0,
) -> PassThroughAnalytics:
    """Project a pass-through's pool and measure it at a price or a yield.

    Parameters
    ----------
    pool : GenericPool or LoanTape
        A generic pool (rates decimals) or a loan tape (projected loan by loan).
    prepayment, default, severity, lag, advance
        Assumptions, as in :func:`openmbs.cashflow.project_pool` (``severity`` a decimal
        of the defaulted balance; ``advance`` ``"principal"``, ``"all"`` or ``"none"``).
    price : float, optional
        Clean price per 100 of current face. Exactly one of ``price`` and ``yield_``.
    yield_ : float, optional
        Bond-equivalent (semi-annual) yield, decimal.
    delay_days : int, default 0
        Days after the end of the accrual month at which cash is paid (stated delay - 31).
    settle_days : int, default 0
        30/360 days from the first of the month to settlement (accrued interest).
    curve : ParCurve, optional
        Par curve: adds the spread to the curve at the average life and the Z-spread.
    effective : bool, default False
        Add effective duration and convexity: shift rates by ``+-shift_bp``, re-project
        the generic pool with its PSA speed scaled by the refinancing S-curve, re-price
        (yield held, or Z-spread held when ``curve`` is given). Needs a
        :class:`GenericPool` and a single PSA speed.
    mortgage_rate : float, optional
        Current mortgage rate (decimal) for the refinancing incentive; default the WAC.
    shift_bp : float, default 25
        Rate shift of the effective measures, basis points.

    Returns
    -------
    PassThroughAnalytics

    Notes
    -----
    SIFMA Uniform Practices, Standard Formulas: cash flows as in section SF (prepayment,
    default, loss and advancing), 30/360 timing with the payment delay, bond-equivalent
    yield, mortgage yield ``1200[(1+Y/200)^(1/6)-1]``, average life, durations and
    convexity of section G. Accrued interest of a generic pool runs at its net coupon;
    a tape's is taken from the first month's net interest.

    Examples
    --------
    A pass-through with no payment delay, priced at a mortgage yield equal to its net
    coupon, is at par whatever the prepayment speed:

    >>> from openmbs.behaviour import Prepayment
    >>> from openmbs.pricing import bey_from_mortgage_yield
    >>> pool = GenericPool(balance=1_000_000.0, gross_coupon=0.065, net_coupon=0.06)
    >>> r = price_pass_through(pool, prepayment=Prepayment.psa(150.0),
    ...                        yield_=bey_from_mortgage_yield(0.06))
    >>> round(r.measures.price, 6), round(r.measures.mortgage_yield, 6)
    (100.0, 0.06)
    """
    if (price is None) == (yield_ is None):
        raise InputError(
            f"give exactly one of price and yield_ (got price={price!r}, yield_={yield_!r})"
        )
    assumptions: dict[str, Any] = {
        "default": default,
        "severity": severity,
        "lag": lag,
        "advance": advance_mode(advance),
    }
    projection: PoolCashflows
    coupon: float | None
    if isinstance(pool, GenericPool):
        projection = project_pool(**pool.project_kwargs(), prepayment=prepayment, **assumptions)
        coupon = pool.net_coupon
    else:
        if effective:
            raise InputError(
                "effective measures re-project a generic pool, not a loan tape: "
                "give the pool's balance, coupons, term and age instead"
            )
        projection = project_tape(pool, prepayment=prepayment, **assumptions)
        coupon = None  # accrued from the first month's net interest
    balance = float(projection.beginning_balance[0])
    measures = analyze(
        projection.cash_flow,
        projection.principal,
        balance,
        price=price,
        yield_=yield_,
        delay_days=delay_days,
        settle_days=settle_days,
        coupon=coupon,
    )
    spread_bp: float | None = None
    z_bp: float | None = None
    zero = curve.zero_curve() if curve is not None else None
    if curve is not None and zero is not None:
        spread_bp = spread_to_curve_at_wal(measures.yield_, measures.average_life, curve)
        z_bp = z_spread(
            projection.cash_flow,
            balance,
            zero,
            measures.price,
            delay_days=delay_days,
            settle_days=settle_days,
            accrued=measures.accrued,
        )
    eff: EffectiveAnalytics | None = None
    if effective and isinstance(pool, GenericPool):  # a tape was refused above
        project = pass_through_projector(
            **pool.project_kwargs(),
            **assumptions,
            psa=_psa_speed(prepayment),
            mortgage_rate=mortgage_rate,
        )
        eff = effective_measures(
            project,
            price=measures.price,
            curve=zero,
            shift_bp=shift_bp,
            delay_days=delay_days,
            settle_days=settle_days,
            coupon=coupon,
        )
    return PassThroughAnalytics(
        measures=measures,
        balance=balance,
        delay_days=delay_days,
        settle_days=settle_days,
        spread_to_curve_bp=spread_bp,
        z_spread_bp=z_bp,
        effective=eff,
    )
