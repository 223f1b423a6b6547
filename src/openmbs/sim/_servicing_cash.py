"""Servicing cash of the loan simulator: advance stops, reimbursements, late fees and
prepayment penalties (docs/simulation.md, "Servicing cash").

Arrays in, arrays out: every function takes the live loans' arrays of one month (record
units, int64) and returns new arrays; :class:`openmbs.sim.LoanSimulator` calls them from
``step`` and keeps the per-loan state (outstanding advances, installments missed without
an advance).

Conventions
-----------
* Advances are counted NET of the servicing fee (a servicer advances the pass-through
  interest, not its own fee): the advanced principal plus, when interest is advanced,
  the installment's net interest.
* An advance is reimbursed out of the loan's own cash first: a reinstating loan's
  catch-up payment of the advanced installments, or its liquidation proceeds (gross
  ``recovery``), up to the outstanding advances.
* Money rounds to the nearest record unit (``numpy.rint``), as the simulator's interest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs.errors import AssumptionError, TapeError

__all__ = [
    "PenaltyTerms",
    "ServicingTerms",
    "late_fees",
    "may_advance",
    "penalty_terms",
    "prepayment_penalties",
    "reimburse",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Days past due per missed monthly installment.
DAYS_PER_INSTALLMENT = 30


@dataclass(frozen=True)
class ServicingTerms:
    """What the servicer does with a delinquent loan's cash (defaults change nothing).

    Attributes
    ----------
    advance_stop_days : int or None
        Make no advance on a loan already this many days past due (30 per missed
        installment) at the start of the month; ``None``: no such stop.
    advance_stop_at_default : bool
        Make no advance on a defaulted loan (in foreclosure).
    advance_recoverable_only : bool
        Make no advance the servicer deems non-recoverable: the loan's outstanding
        advances plus the installment would exceed the estimated net liquidation
        proceeds ``(1 - severity) x balance`` (the proceeds repay advances first).
    late_fee_rate : float
        Late fee, a decimal of the missed installment (P&I), charged once the
        installment is more than ``late_fee_grace_days`` late; retained by the servicer.
    late_fee_grace_days : int
        Grace period in days (a missed monthly installment is 30 days late at the end of
        its month).
    prepayment_penalty_type, prepayment_penalty_term, prepayment_penalty_pct
        Penalty terms of loans whose tape gives none (``hard`` or ``soft``; months from
        origination; decimal of the amount prepaid). A term or percent of 0 means no
        penalty.
    """

    advance_stop_days: int | None = None
    advance_stop_at_default: bool = False
    advance_recoverable_only: bool = False
    late_fee_rate: float = 0.0
    late_fee_grace_days: int = 15
    prepayment_penalty_type: Literal["hard", "soft"] = "hard"
    prepayment_penalty_term: int = 0
    prepayment_penalty_pct: float = 0.0

    def __post_init__(self) -> None:
        stop = self.advance_stop_days
        if stop is not None and (isinstance(stop, bool) or not isinstance(stop, int) or stop < 0):
            raise AssumptionError(f"advance_stop_days must be None or an integer >= 0, got {stop!r}")
        for name in ("late_fee_rate", "prepayment_penalty_pct"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise AssumptionError(f"{name} must be a decimal in [0, 1], got {v!r}")
        for name in ("late_fee_grace_days", "prepayment_penalty_term"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise AssumptionError(f"{name} must be an integer >= 0, got {v!r}")
        if self.prepayment_penalty_type not in ("hard", "soft"):
            raise AssumptionError(
                f"prepayment_penalty_type must be 'hard' or 'soft', got {self.prepayment_penalty_type!r}"
            )

    @property
    def is_default(self) -> bool:
        """Whether these terms change nothing (the simulator's path of earlier versions)."""
        return self == ServicingTerms()

    @property
    def stops_advancing(self) -> bool:
        """Whether any stop rule is on."""
        return (
            self.advance_stop_days is not None
            or self.advance_stop_at_default
            or self.advance_recoverable_only
        )


@dataclass(frozen=True)
class PenaltyTerms:
    """Per-loan prepayment-penalty terms (tape order): ``hard`` (else soft), ``term``
    in months from origination, ``pct`` a decimal (0 = no penalty)."""

    hard: BoolArray
    term: IntArray
    pct: FloatArray

    @property
    def any(self) -> bool:
        """Whether any loan has a penalty."""
        return bool(np.any((self.pct > 0) & (self.term > 0)))


def _flag(values: list[Any], source: str | None) -> list[bool | None]:
    out: list[bool | None] = []
    for row, v in enumerate(values, start=1):
        if v is None:
            out.append(None)
        elif isinstance(v, bool):
            out.append(v)
        elif isinstance(v, str) and v.strip().upper() in ("Y", "N", "TRUE", "FALSE", "1", "0"):
            out.append(v.strip().upper() in ("Y", "TRUE", "1"))
        elif isinstance(v, (int, float)) and v in (0, 1):
            out.append(bool(v))
        else:
            raise TapeError(
                "need a flag (Y/N, true/false)",
                file=source,
                row=row,
                field="prepayment_penalty_flag",
                value=v,
            )
    return out


def penalty_terms(table: pa.Table, terms: ServicingTerms, source: str | None = None) -> PenaltyTerms:
    """The loans' penalty terms: the tape's optional columns, else ``terms``.

    Columns (each optional, nulls fall back): ``prepayment_penalty_flag`` (bool or
    ``Y``/``N``; ``N`` means no penalty whatever the other columns say),
    ``prepayment_penalty_type`` (``hard``/``soft``), ``prepayment_penalty_term``
    (months >= 0), ``prepayment_penalty_pct`` (decimal in [0, 1]).

    Raises
    ------
    TapeError
        Naming the file, row, field and value of a bad cell.
    """
    n = table.num_rows
    names = table.column_names
    hard = np.full(n, terms.prepayment_penalty_type == "hard")
    term = np.full(n, terms.prepayment_penalty_term, dtype=np.int64)
    pct = np.full(n, float(terms.prepayment_penalty_pct), dtype=np.float64)
    if "prepayment_penalty_type" in names:
        for row, v in enumerate(table.column("prepayment_penalty_type").to_pylist(), start=1):
            if v is None:
                continue
            kind = str(v).strip().lower()
            if kind not in ("hard", "soft"):
                raise TapeError(
                    "need 'hard' or 'soft'", file=source, row=row, field="prepayment_penalty_type", value=v
                )
            hard[row - 1] = kind == "hard"
    for name, arr, ok_max in (("prepayment_penalty_term", term, None), ("prepayment_penalty_pct", pct, 1.0)):
        if name not in names:
            continue
        for row, v in enumerate(table.column(name).to_pylist(), start=1):
            if v is None:
                continue
            good = isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            good = good and (ok_max is None or v <= ok_max) and (ok_max is not None or float(v).is_integer())
            if not good:
                need = "a decimal in [0, 1]" if ok_max is not None else "a whole number of months >= 0"
                raise TapeError(f"need {need}", file=source, row=row, field=name, value=v)
            arr[row - 1] = v
    if "prepayment_penalty_flag" in names:
        flags = _flag(table.column("prepayment_penalty_flag").to_pylist(), source)
        off = np.array([f is False for f in flags], dtype=np.bool_)
        pct[off] = 0.0
    return PenaltyTerms(hard=hard, term=term, pct=pct)


def may_advance(
    terms: ServicingTerms,
    *,
    days_past_due: IntArray,
    defaulted: BoolArray,
    outstanding: IntArray,
    installment: IntArray,
    balance: IntArray,
    severity: FloatArray,
) -> BoolArray:
    """Which loans the servicer still advances this month (before any stop rule: all).

    ``days_past_due`` at the start of the month; ``installment`` the advance it would
    make; ``balance`` the loan's balance; ``severity`` its loss severity (decimal).
    """
    ok = np.ones(days_past_due.shape, dtype=np.bool_)
    if terms.advance_stop_days is not None:
        ok &= days_past_due < terms.advance_stop_days
    if terms.advance_stop_at_default:
        ok &= ~defaulted
    if terms.advance_recoverable_only:
        proceeds = np.floor((1.0 - severity) * balance)
        ok &= (outstanding + installment).astype(np.float64) <= proceeds
    return ok


def late_fees(terms: ServicingTerms, missed: BoolArray, installment: IntArray, days_past_due: IntArray) -> IntArray:
    """Late fees charged this month: ``round(rate x installment)`` on each loan that
    missed its installment (``missed``) and is more than the grace period late
    (``days_past_due`` at the end of the month)."""
    if terms.late_fee_rate == 0.0:
        return np.zeros(missed.shape, dtype=np.int64)
    due = missed & (days_past_due > terms.late_fee_grace_days)
    return np.where(due, np.rint(terms.late_fee_rate * installment), 0).astype(np.int64)


def prepayment_penalties(
    pen: PenaltyTerms, loans: npt.NDArray[np.intp], age: IntArray, prepaid: IntArray, full: BoolArray
) -> IntArray:
    """Penalties on this month's unscheduled principal: ``round(pct x prepaid)`` while
    the loan's age at the start of the month is below its term; a soft penalty only
    on a prepayment in full. ``loans`` maps the live arrays to tape rows."""
    pct = pen.pct[loans]
    due = (pct > 0) & (age < pen.term[loans]) & (prepaid > 0) & (pen.hard[loans] | full)
    return np.where(due, np.rint(pct * prepaid), 0).astype(np.int64)


def reimburse(outstanding: IntArray, available: IntArray) -> tuple[IntArray, IntArray]:
    """Reimburse outstanding advances out of ``available`` cash of the same loans:
    ``(reimbursed, still outstanding)`` with ``reimbursed = min(outstanding,
    available)``."""
    paid = np.minimum(outstanding, np.maximum(available, 0))
    return paid, outstanding - paid
