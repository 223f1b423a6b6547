"""Validation of canonical loan tables: every rule, vectorised, every problem reported.

The rules (see docs/collateral.md for the table):

* required fields present (not null);
* numeric ranges of :data:`RANGES` (rates, terms, age, balances, LTV/CLTV/DTI, credit
  score, units, borrowers, delinquency);
* categorical fields take one of :data:`openmbs.collateral._schema.CATEGORY_VALUES`;
  ``state`` is a US state or territory code, ``zip3`` three digits, ``msa`` five digits;
* cross-field: remaining term <= original term; loan age + remaining term <= original
  term + :data:`TERM_TOLERANCE_MONTHS`; current balance <= original balance (+ half a
  cent) unless the loan is an ARM (negative amortization); net rate <= note rate;
  maturity on or after the first payment date; origination on or before it;
* loan ids are unique across the whole tape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from openmbs.collateral._parse import mask
from openmbs.collateral._schema import CATEGORY_VALUES, REQUIRED_FIELDS, US_STATE_CODES
from openmbs.errors import Problem

__all__ = [
    "RANGES",
    "TERM_TOLERANCE_MONTHS",
    "RowProblem",
    "duplicate_problems",
    "row_problems",
    "validate_table",
]

TERM_TOLERANCE_MONTHS = 3
"""Slack allowed in ``loan_age + remaining_term <= original_term`` (reporting lags)."""

BALANCE_TOLERANCE = 0.005
"""Half a cent: a current balance above the original by more is an error (non-ARM)."""


@dataclass(frozen=True)
class Range:
    """Allowed interval of a numeric field (bounds inclusive unless said otherwise)."""

    lo: float | None
    hi: float | None
    lo_open: bool = False
    what: str = "out of range"

    def text(self) -> str:
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"{'(' if self.lo_open else '['}{lo}, {hi}]"


RANGES: dict[str, Range] = {
    "current_balance": Range(0.0, None, what="negative balance"),
    "original_balance": Range(0.0, None, lo_open=True, what="original balance must be positive"),
    "note_rate": Range(0.0, 0.20, what="note rate out of range (decimal per year)"),
    "net_rate": Range(0.0, 0.20, what="net rate out of range (decimal per year)"),
    "servicing_fee": Range(0.0, 0.05, what="servicing fee out of range (decimal per year)"),
    "original_term": Range(1, 600, what="original term out of range (months)"),
    "remaining_term": Range(0, 600, what="remaining term out of range (months)"),
    "loan_age": Range(0, 600, what="loan age out of range (months)"),
    "credit_score": Range(300, 850, what="credit score out of range"),
    "ltv": Range(0.0, 5.0, lo_open=True, what="LTV out of range (decimal)"),
    "cltv": Range(0.0, 5.0, lo_open=True, what="CLTV out of range (decimal)"),
    "dti": Range(0.0, 1.0, what="DTI out of range (decimal)"),
    "mi_pct": Range(0.0, 1.0, what="MI coverage out of range (decimal)"),
    "units": Range(1, 4, what="number of units out of range"),
    "num_borrowers": Range(1, 10, what="number of borrowers out of range"),
    "delinquency_status": Range(0, 999, what="delinquency status out of range (months)"),
}
"""Numeric ranges; LTV/CLTV reach 500% because relief refinances (HARP) exceed 100%."""

_PATTERNS = {
    "zip3": (r"^\d{3}$", "zip3 must be three digits"),
    "msa": (r"^\d{5}$", "MSA code must be five digits"),
}


@dataclass(frozen=True)
class RowProblem:
    """A problem at a row index of a table (0-based), on a canonical field."""

    index: int
    field: str | None
    reason: str


def _col(table: pa.Table, name: str) -> pa.ChunkedArray:
    return table.column(name)


def _add(out: list[RowProblem], m: npt.NDArray[np.bool_], field: str, reason: str) -> None:
    for i in np.flatnonzero(m):
        out.append(RowProblem(int(i), field, reason))


def row_problems(table: pa.Table) -> list[RowProblem]:
    """Every per-row problem of a canonical table (not the duplicate-id check)."""
    out: list[RowProblem] = []
    names = set(table.column_names)
    for name in REQUIRED_FIELDS:
        if name in names:
            col = _col(table, name)
            missing = pc.is_null(col)
            if col.type == pa.string():
                missing = pc.or_(missing, pc.equal(pc.utf8_trim_whitespace(col), ""))
            _add(out, mask(missing), name, "missing required field")
    for name, rng in RANGES.items():
        if name not in names:
            continue
        col = _col(table, name)
        bad = np.zeros(table.num_rows, bool)
        if rng.lo is not None:
            below = pc.less_equal(col, rng.lo) if rng.lo_open else pc.less(col, rng.lo)
            bad |= mask(below)
        if rng.hi is not None:
            bad |= mask(pc.greater(col, rng.hi))
        if col.type == pa.float64():
            bad |= mask(pc.is_nan(col))
        _add(out, bad, name, f"{rng.what}: allowed {rng.text()}")
    for name, allowed in CATEGORY_VALUES.items():
        if name in names:
            col = _col(table, name)
            unknown = pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, pa.array(allowed))))
            _add(out, mask(unknown), name, f"unknown code (allowed: {', '.join(allowed)})")
    if "state" in names:
        col = _col(table, "state")
        states = pa.array(sorted(US_STATE_CODES))
        bad_state = pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, states)))
        _add(out, mask(bad_state), "state", "not a US state or territory code")
    for name, (regex, reason) in _PATTERNS.items():
        if name in names:
            col = _col(table, name)
            bad_pat = pc.invert(pc.match_substring_regex(col, regex))
            _add(out, mask(bad_pat), name, reason)
    if {"remaining_term", "original_term"} <= names:
        rem, orig = _col(table, "remaining_term"), _col(table, "original_term")
        _add(
            out, mask(pc.greater(rem, orig)), "remaining_term", "remaining term above original term"
        )
        if "loan_age" in names:
            age = _col(table, "loan_age")
            total = pc.add(pc.cast(age, pa.int64()), pc.cast(rem, pa.int64()))
            limit = pc.add(pc.cast(orig, pa.int64()), TERM_TOLERANCE_MONTHS)
            _add(
                out,
                mask(pc.and_(pc.greater(total, limit), pc.less_equal(rem, orig))),
                "loan_age",
                f"loan age + remaining term exceeds original term by more than "
                f"{TERM_TOLERANCE_MONTHS} months",
            )
    if {"current_balance", "original_balance", "amortization_type"} <= names:
        cur, orig_bal = _col(table, "current_balance"), _col(table, "original_balance")
        not_arm = pc.not_equal(_col(table, "amortization_type"), "arm")
        above = pc.greater(pc.subtract(cur, orig_bal), BALANCE_TOLERANCE)
        _add(
            out,
            mask(pc.and_(above, not_arm)),
            "current_balance",
            "current balance above original balance for a non-ARM loan",
        )
    if {"net_rate", "note_rate"} <= names:
        net, note = _col(table, "net_rate"), _col(table, "note_rate")
        _add(out, mask(pc.greater(net, note)), "net_rate", "net rate above note rate")
    if {"maturity_date", "first_payment_date"} <= names:
        mat, first = _col(table, "maturity_date"), _col(table, "first_payment_date")
        _add(
            out,
            mask(pc.less(mat, first)),
            "maturity_date",
            "maturity date before first payment date",
        )
        if "origination_date" in names:
            orig_d = _col(table, "origination_date")
            _add(
                out,
                mask(pc.greater(orig_d, first)),
                "origination_date",
                "origination date after first payment date",
            )
    out.sort(key=lambda p: p.index)
    return out


def duplicate_problems(loan_id: pa.ChunkedArray | pa.Array) -> list[tuple[int, list[int]]]:
    """Indices of rows whose loan id appears more than once, with the other indices."""
    counts = pc.value_counts(loan_id)
    if len(counts) == 0:
        return []
    values = counts.field("values")
    many = pc.filter(values, pc.and_(pc.greater(counts.field("counts"), 1), pc.is_valid(values)))
    if len(many) == 0:
        return []
    idx = np.flatnonzero(mask(pc.is_in(loan_id, many)))
    ids = pc.take(loan_id, pa.array(idx)).to_pylist()
    groups: dict[str, list[int]] = {}
    for i, lid in zip(idx.tolist(), ids, strict=True):
        groups.setdefault(lid, []).append(i)
    return [
        (i, [j for j in groups[lid] if j != i]) for i, lid in zip(idx.tolist(), ids, strict=True)
    ]


def validate_table(
    table: pa.Table, *, file: str | None = None, rows: Sequence[int] | None = None
) -> list[Problem]:
    """Check a canonical loan table and list every problem found (empty list: valid).

    Parameters
    ----------
    table
        A table with canonical column names (:data:`CANONICAL_SCHEMA` types).
    file
        The file name to put in each problem, if the table came from a file.
    rows
        The 1-based source row of each table row (default ``1..n``).

    Returns
    -------
    list of Problem
        Sorted by row; each names the row, the canonical field, the value and the rule.

    Notes
    -----
    The rules and their bounds are listed in docs/collateral.md ("Validation").

    Examples
    --------
    >>> from openmbs.collateral import generate_tape, validate_table
    >>> validate_table(generate_tape(100, seed=1).table)
    []
    """
    row_of = list(range(1, table.num_rows + 1)) if rows is None else list(rows)
    problems = [
        Problem(
            file=file,
            row=row_of[p.index],
            field=p.field,
            value=table.column(p.field)[p.index].as_py() if p.field else None,
            reason=p.reason,
        )
        for p in row_problems(table)
    ]
    if "loan_id" in table.column_names:
        for i, others in duplicate_problems(table.column("loan_id")):
            where = ", ".join(str(row_of[j]) for j in others)
            problems.append(
                Problem(
                    file,
                    row_of[i],
                    "loan_id",
                    table.column("loan_id")[i].as_py(),
                    f"duplicate loan id (also in row {where})",
                )
            )
    problems.sort(key=lambda p: p.row or 0)
    return problems
