"""The result of a pool projection: one array per column, one element per period.

This frozen table is the contract between the cash-flow engine and everything above it
(structuring, pricing, reports). Periods are 1-based months; element ``k`` of every
array is period ``k + 1``. Money is in currency units (float64).

Column meanings follow the SIFMA Standard Formulas' default cash-flow section (see
``docs/cashflow.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["PROJECTION_COLUMNS", "PoolCashflows", "ProjectionTotals"]

FloatArray = npt.NDArray[np.float64]

#: The monthly table's columns, in order (``period`` first).
PROJECTION_COLUMNS: tuple[str, ...] = (
    "period",
    "beginning_balance",
    "performing_balance",
    "new_default",
    "voluntary_prepayment",
    "expected_amortization",
    "actual_amortization",
    "amortization_from_defaults",
    "foreclosure_balance",
    "liquidated_balance",
    "recovery",
    "loss",
    "expected_interest",
    "lost_interest",
    "actual_interest",
    "servicing_fee",
    "net_interest",
    "principal",
    "cash_flow",
    "factor",
)


@dataclass(frozen=True, eq=False)
class PoolCashflows:
    """Projected monthly pool cash flows.

    Attributes
    ----------
    original_balance : float
        Pool balance at the start of period 1 (the balance the factor divides by).
    period : ndarray of int64
        1, 2, ..., n.
    beginning_balance : ndarray
        Performing balance at the start of the period.
    performing_balance : ndarray
        Performing (non-defaulted) balance at the end of the period.
    new_default : ndarray
        Balance that defaults in the period (taken off the prior performing balance).
    voluntary_prepayment : ndarray
        Unscheduled principal paid by performing loans.
    expected_amortization : ndarray
        Scheduled principal due on the prior performing balance plus the foreclosure
        pipeline, excluding loans liquidated in the period (SF-18 ``EXP AM``).
    actual_amortization : ndarray
        Scheduled principal paid by borrowers: on the prior performing balance less the
        period's new defaults (SF-18 ``ACT AM``).
    amortization_from_defaults : ndarray
        Scheduled principal on defaulted loans, advanced by the servicer with
        ``advance="principal"`` or ``"all"``; zero with ``"none"`` (SF-18 ``AM DEF``).
    foreclosure_balance : ndarray
        Defaulted balance awaiting liquidation at the end of the period.
    liquidated_balance : ndarray
        Defaulted balance liquidated in the period (``lag`` months after default).
    recovery : ndarray
        Cash recovered from liquidations.
    loss : ndarray
        Principal loss on liquidations: ``min(severity * liquidated, liquidated)``.
    expected_interest : ndarray
        Gross interest due on the prior performing balance plus foreclosure balance.
    lost_interest : ndarray
        Gross interest not received: on new defaults and the foreclosure pipeline with
        ``advance="principal"`` or ``"none"`` (SF-18 ``INT LOST``); zero with ``"all"``
        (the servicer advances it).
    actual_interest : ndarray
        Gross interest collected or advanced.
    servicing_fee : ndarray
        Servicing fee strip: (gross - net) / 12 on the balance whose interest is
        received or advanced (``actual_interest`` times (gross - net) / gross).
    net_interest : ndarray
        Interest passed through: ``actual_interest - servicing_fee``.
    principal : ndarray
        Principal passed through: voluntary prepayment + actual amortization +
        amortization from defaults (advanced; zero with ``advance="none"``) + recovery.
    cash_flow : ndarray
        ``net_interest + principal``.
    factor : ndarray
        ``(performing_balance + foreclosure_balance) / original_balance`` at period end.
    """

    original_balance: float
    period: npt.NDArray[np.int64]
    beginning_balance: FloatArray
    performing_balance: FloatArray
    new_default: FloatArray
    voluntary_prepayment: FloatArray
    expected_amortization: FloatArray
    actual_amortization: FloatArray
    amortization_from_defaults: FloatArray
    foreclosure_balance: FloatArray
    liquidated_balance: FloatArray
    recovery: FloatArray
    loss: FloatArray
    expected_interest: FloatArray
    lost_interest: FloatArray
    actual_interest: FloatArray
    servicing_fee: FloatArray
    net_interest: FloatArray
    principal: FloatArray
    cash_flow: FloatArray
    factor: FloatArray

    def __post_init__(self) -> None:
        n = len(self.period)
        for f in fields(self):
            if f.name == "original_balance":
                continue
            arr = getattr(self, f.name)
            if len(arr) != n:
                raise ValueError(f"column {f.name!r} has {len(arr)} periods, expected {n}")
            arr.setflags(write=False)

    @property
    def n_periods(self) -> int:
        return len(self.period)

    def to_dict(self) -> dict[str, Any]:
        """Columns as a dict of arrays, in ``PROJECTION_COLUMNS`` order."""
        return {name: getattr(self, name) for name in PROJECTION_COLUMNS}

    def totals(self) -> ProjectionTotals:
        """Sums over the periods, the last period with cash and the average life.

        A 12-month loan at 0% repays 1/12 a month: its average life is (1 + ... + 12) / 12
        = 6.5 months, 6.5 / 12 years.

        >>> from openmbs.behaviour import Prepayment
        >>> from openmbs.cashflow import project_pool
        >>> cf = project_pool(balance=120.0, gross_coupon=0.0, net_coupon=0.0,
        ...                   original_term=12, remaining_term=12, prepayment=Prepayment.cpr(0))
        >>> t = cf.totals()
        >>> round(t.principal, 9), t.last_period, round(t.wal * 12, 9)
        (120.0, 12, 6.5)
        """
        prin = float(self.principal.sum())
        periods = self.period.astype(np.float64)
        paid = np.flatnonzero(self.cash_flow > 0)
        return ProjectionTotals(
            principal=prin,
            voluntary_prepayment=float(self.voluntary_prepayment.sum()),
            scheduled_amortization=float(
                (self.actual_amortization + self.amortization_from_defaults).sum()
            ),
            recovery=float(self.recovery.sum()),
            new_default=float(self.new_default.sum()),
            loss=float(self.loss.sum()),
            actual_interest=float(self.actual_interest.sum()),
            servicing_fee=float(self.servicing_fee.sum()),
            net_interest=float(self.net_interest.sum()),
            lost_interest=float(self.lost_interest.sum()),
            cash_flow=float(self.cash_flow.sum()),
            last_period=int(paid[-1]) + 1 if paid.size else 0,
            wal=float((periods * self.principal).sum() / prin / 12.0) if prin > 0 else math.nan,
        )


@dataclass(frozen=True)
class ProjectionTotals:
    """Totals of a projection (:meth:`PoolCashflows.totals`), money in currency units.

    ``scheduled_amortization`` includes the scheduled principal of defaulted loans
    (``actual_amortization + amortization_from_defaults``); ``last_period`` is the last
    month with cash (0 when none); ``wal`` is the weighted average life of the principal
    in years from the start, months / 12 with no payment delay (NaN without principal).
    """

    principal: float
    voluntary_prepayment: float
    scheduled_amortization: float
    recovery: float
    new_default: float
    loss: float
    actual_interest: float
    servicing_fee: float
    net_interest: float
    lost_interest: float
    cash_flow: float
    last_period: int
    wal: float
