"""A deal on a pool, end to end: size it, project the pool, run the waterfall, measure.

What the ``openmbs deal run|table|breakeven`` commands compute, as library calls over a
:class:`~openmbs.pricing.GenericPool` or a :class:`~openmbs.collateral.LoanTape`:

* :func:`size_deal` resizes the deal to the pool (percent-sized classes resolve
  against the pool's balance; a tape gives its balance, WAC, net WAC, term and age);
* :func:`pool_projector` projects the pool under any prepayment and default (a generic
  pool as one level-pay loan, a tape by rep lines, SIFMA Standard Formulas);
* :func:`run_deal`, :func:`deal_price_yield_table` and :func:`deal_breakeven` run the
  waterfall over those projections and measure the tranches
  (:func:`~openmbs.pricing.tranche_analytics`).

Rates are decimals, speeds (PSA, SDA) percent of the benchmark, times years, money in
currency units, prices per 100 of face.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import PoolCashflows, advance_mode, project_pool, project_tape
from openmbs.collateral import LoanTape, pool_stats
from openmbs.errors import InputError
from openmbs.pricing._pass_through import GenericPool
from openmbs.pricing._tranche import TrancheAnalytics, price_yield_table, tranche_analytics
from openmbs.structuring import (
    DealSpec,
    WaterfallResult,
    breakeven_cdr,
    breakeven_sda,
    collections_from_projection,
    run_waterfall,
)

__all__ = [
    "DealRun",
    "PoolProjector",
    "RepLinePool",
    "deal_breakeven",
    "deal_price_yield_table",
    "pool_projector",
    "run_deal",
    "size_deal",
]

#: ``project(prepayment, default) -> PoolCashflows`` of one pool.
PoolProjector = Callable[[Prepayment, Default | None], PoolCashflows]


@dataclass(frozen=True)
class RepLinePool:
    """A pool given as rep lines (a prospectus's "assumed mortgage loans"): each line is
    one level-pay loan projected on its own, and the flows are summed.

    Attributes
    ----------
    lines : tuple of GenericPool
        The rep lines (balance, coupons as decimals, original term and age in months).
    """

    lines: tuple[GenericPool, ...]

    @classmethod
    def from_deal(cls, deal: DealSpec) -> RepLinePool:
        """The deal's ``[[pool.replines]]`` (an error if it has none)."""
        if not deal.pool.replines:
            raise InputError(f"deal {deal.name!r} has no [[pool.replines]]")
        return cls(tuple(
            GenericPool(
                balance=r.balance, gross_coupon=r.wac, net_coupon=r.net_coupon,
                original_term=r.term,
                loan_age=r.term - (r.remaining_term if r.remaining_term is not None else r.term - r.age),
            )
            for r in deal.pool.replines
        ))

    @property
    def balance(self) -> float:
        """The summed balance of the lines (currency units)."""
        return float(sum(line.balance for line in self.lines))


def _summed(parts: Sequence[PoolCashflows]) -> PoolCashflows:
    """The flows of several projections summed period by period (a line past its term
    contributes 0); the factor is over the summed original balance."""
    n = max(c.n_periods for c in parts)
    orig = float(sum(c.original_balance for c in parts))
    cols: dict[str, Any] = {"original_balance": orig, "period": np.arange(1, n + 1, dtype=np.int64)}
    for f in fields(PoolCashflows):
        if f.name in ("original_balance", "period", "factor"):
            continue
        total = np.zeros(n)
        for c in parts:
            a = np.asarray(getattr(c, f.name), dtype=np.float64)
            total[: len(a)] += a
        cols[f.name] = total
    cols["factor"] = (cols["performing_balance"] + cols["foreclosure_balance"]) / orig
    return PoolCashflows(**cols)


def size_deal(deal: DealSpec, pool: GenericPool | LoanTape | RepLinePool) -> DealSpec:
    """``deal`` with its ``[pool]`` section replaced by ``pool``'s figures.

    A generic pool gives its own balance, coupons, term and age; a tape its current
    balance, WAC, net WAC, weighted original term and WALA (rounded to months). Rep
    lines are the deal's own: the deal is returned unchanged.
    """
    if isinstance(pool, RepLinePool):
        return deal
    if isinstance(pool, GenericPool):
        return deal.with_pool(balance=pool.balance, wac=pool.gross_coupon,
                              net_coupon=pool.net_coupon, term=pool.original_term,
                              age=pool.loan_age)
    st = pool_stats(pool)
    return deal.with_pool(
        balance=float(st.current_balance),
        wac=float(st.wac),
        net_coupon=float(st.net_wac),
        term=round(float(st.wa_original_term)),
        age=round(float(st.wala)),
    )


def pool_projector(
    pool: GenericPool | LoanTape | RepLinePool,
    *,
    severity: float = 0.0,
    lag: int = 0,
    advance: str = "principal",
) -> PoolProjector:
    """``project(prepayment, default)`` for ``pool`` with the loss assumptions fixed.

    A generic pool projects as one level-pay loan (:func:`openmbs.cashflow.project_pool`),
    a tape by rep lines (:func:`openmbs.cashflow.project_tape`, ``method="repline"``),
    a :class:`RepLinePool` line by line, summed.
    ``severity`` is a decimal of the defaulted balance, ``lag`` months, ``advance``
    ``"principal"``, ``"all"`` or ``"none"``.
    """
    adv = advance_mode(advance)
    if isinstance(pool, RepLinePool):
        projectors = [pool_projector(line, severity=severity, lag=lag, advance=advance)
                      for line in pool.lines]

        def project_lines(prepayment: Prepayment, default: Default | None) -> PoolCashflows:
            return _summed([p(prepayment, default) for p in projectors])

        return project_lines
    if isinstance(pool, GenericPool):
        if pool.loan_age >= pool.original_term:
            raise InputError(
                f"pool age {pool.loan_age} must be below its term {pool.original_term} (months)"
            )

        def project_generic(prepayment: Prepayment, default: Default | None) -> PoolCashflows:
            return project_pool(**pool.project_kwargs(), prepayment=prepayment,
                                default=default, severity=severity, lag=lag, advance=adv)

        return project_generic

    def project_replines(prepayment: Prepayment, default: Default | None) -> PoolCashflows:
        return project_tape(pool, prepayment=prepayment, default=default, severity=severity,
                            lag=lag, advance=adv, method="repline")

    return project_replines


def _check_tranche(deal: DealSpec, tranche: str) -> None:
    names = [t.name for t in deal.tranches]
    if tranche not in names:
        raise InputError(f"tranche {tranche!r} is not in deal {deal.name!r} ({', '.join(names)})")


@dataclass(frozen=True)
class DealRun:
    """One run of a deal's waterfall on a pool.

    Attributes
    ----------
    deal : DealSpec
        The deal as sized to the pool.
    result : WaterfallResult
        The waterfall's run (one scenario).
    tranches : tuple of TrancheAnalytics
        Each class's face, WAL, window, yield (decimal) and duration at the price, and
        its interest, principal and loss.
    residual : float
        Cash left to the residual holder (currency units).
    """

    deal: DealSpec
    result: WaterfallResult
    tranches: tuple[TrancheAnalytics, ...]
    residual: float

    def as_dict(self) -> dict[str, Any]:
        """``{"deal", "tranches", "residual"}``, JSON-ready (yields under ``"yield"``)."""
        return {
            "deal": self.deal.name,
            "tranches": [t.as_dict() for t in self.tranches],
            "residual": self.residual,
        }


def run_deal(
    deal: DealSpec,
    pool: GenericPool | LoanTape | RepLinePool,
    *,
    prepayment: Prepayment,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: str = "principal",
    index_rate: float = 0.0,
    price: float | None = None,
) -> DealRun:
    """Size ``deal`` to ``pool``, project the pool, run the waterfall, measure the classes.

    Parameters
    ----------
    deal : DealSpec
    pool : GenericPool or LoanTape
    prepayment, default, severity, lag, advance
        Assumptions as in :func:`pool_projector` (rates decimals).
    index_rate : float, default 0
        Floater index, decimal.
    price : float, optional
        Price per 100 of face for each class's yield and duration (NaN without).

    Returns
    -------
    DealRun

    Notes
    -----
    Pool cash flows by the SIFMA Standard Formulas; the waterfall of
    :func:`openmbs.structuring.run_waterfall`; yields bond-equivalent with the deal's
    payment delay (:func:`openmbs.pricing.tranche_analytics`).

    Examples
    --------
    >>> from openmbs.behaviour import Prepayment
    >>> from openmbs.structuring import example_deal
    >>> pool = GenericPool(balance=500e6, gross_coupon=0.065, net_coupon=0.06)
    >>> run = run_deal(example_deal("four_tranche"), pool, prepayment=Prepayment.psa(150))
    >>> [t.name for t in run.tranches], run.tranches[0].loss
    (['A', 'B', 'C', 'D'], 0.0)
    """
    sized = size_deal(deal, pool)
    cf = pool_projector(pool, severity=severity, lag=lag, advance=advance)(prepayment, default)
    coll = collections_from_projection(
        cf,
        servicing_in_net_rate=sized.pool.servicing_in_net_rate,
        cleanup_call=sized.cleanup_call,
        index_rate=index_rate,
    )
    res = run_waterfall(sized, coll)
    rows = tranche_analytics(res, price=price, delay_days=sized.payment_delay_days)
    return DealRun(sized, res, tuple(rows), float(res.summary.residual[0]))


def deal_price_yield_table(
    deal: DealSpec,
    pool: GenericPool | LoanTape | RepLinePool,
    tranche: str,
    *,
    prices: Sequence[float],
    psa: Sequence[float],
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: str = "principal",
    index_rate: float = 0.0,
) -> list[list[TrancheAnalytics]]:
    """One class's yield, WAL and duration for each price (rows) and PSA speed (columns).

    The pool is projected once per speed (:func:`pool_projector`) and the waterfall run
    on all of them at once (:func:`openmbs.pricing.price_yield_table`).
    """
    sized = size_deal(deal, pool)
    _check_tranche(sized, tranche)
    if not prices or not psa:
        raise InputError(f"give at least one price and one PSA speed (got {list(prices)!r}, "
                         f"{list(psa)!r})")
    project = pool_projector(pool, severity=severity, lag=lag, advance=advance)
    coll = collections_from_projection(
        [project(Prepayment.psa(s), default) for s in psa],
        servicing_in_net_rate=sized.pool.servicing_in_net_rate,
        cleanup_call=sized.cleanup_call,
        index_rate=index_rate,
    )
    return price_yield_table(sized, coll, tranche, list(prices),
                             delay_days=sized.payment_delay_days)


def deal_breakeven(
    deal: DealSpec,
    pool: GenericPool | LoanTape | RepLinePool,
    tranche: str,
    *,
    by: Literal["cdr", "sda"],
    prepayment: Prepayment,
    severity: float,
    lag: int = 0,
    advance: str = "principal",
) -> float:
    """The default rate at which ``tranche`` takes its first unit of loss: a CDR as a
    decimal (``by="cdr"``) or an SDA speed in percent of SDA (``by="sda"``).

    Bisection over the default rate (:func:`openmbs.structuring.breakeven_cdr`,
    :func:`~openmbs.structuring.breakeven_sda`), the prepayment and the loss severity
    (a decimal, above 0: without a loss no default rate is a breakeven) fixed.
    """
    if by not in ("cdr", "sda"):
        raise InputError(f"breakeven by {by!r}: must be 'cdr' or 'sda'")
    if not (math.isfinite(severity) and 0.0 < severity <= 1.0):
        raise InputError(
            f"breakeven severity {severity!r}: must be a decimal in (0, 1] (a loss is needed)"
        )
    sized = size_deal(deal, pool)
    _check_tranche(sized, tranche)
    project = pool_projector(pool, severity=severity, lag=lag, advance=advance)

    def with_default(default: Default) -> PoolCashflows:
        return project(prepayment, default)

    if by == "cdr":
        return breakeven_cdr(sized, with_default, tranche)
    return breakeven_sda(sized, with_default, tranche)
