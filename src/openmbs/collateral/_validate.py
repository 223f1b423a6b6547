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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from openmbs.collateral._parse import mask
from openmbs.collateral._schema import CATEGORY_VALUES, REQUIRED_FIELDS, US_STATE_CODES
from openmbs.errors import Problem

__all__ = [
    "MAX_LISTED_DUPLICATES",
    "RANGES",
    "TERM_TOLERANCE_MONTHS",
    "RowProblem",
    "duplicate_problems",
    "duplicate_reason",
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

_DIGITS = {
    "zip3": (3, "zip3 must be three digits"),
    "msa": (5, "MSA code must be five digits"),
}

_STATES = pa.array(sorted(US_STATE_CODES))


@dataclass(frozen=True)
class RowProblem:
    """A problem at a row index of a table (0-based), on a canonical field."""

    index: int
    field: str | None
    reason: str


def _col(table: pa.Table, name: str) -> pa.ChunkedArray:
    return table.column(name)


def _count(m: pa.Array | pa.ChunkedArray) -> int:
    """Number of true values of a boolean Arrow array (nulls count as false)."""
    if isinstance(m, pa.ChunkedArray):
        return sum(int(c.true_count) for c in m.chunks)
    return int(m.true_count)


def _add(out: list[RowProblem], m: pa.Array | pa.ChunkedArray, field: str, reason: str) -> None:
    # the common case (no bad row) costs one pass over a bitmap; only a flagged rule is
    # turned into row indices
    if _count(m) == 0:
        return
    for i in np.flatnonzero(mask(m)):
        out.append(RowProblem(int(i), field, reason))


def _any_of(masks: list[pa.Array | pa.ChunkedArray]) -> pa.Array | pa.ChunkedArray:
    acc = masks[0]
    for m in masks[1:]:
        acc = pc.or_kleene(acc, m)
    return acc


def _not_in(col: Any, *, codes: pa.Array) -> Any:
    return pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, codes)))


def _not_digits(col: Any, *, width: int) -> Any:
    return pc.invert(pc.and_(pc.equal(pc.binary_length(col), width), pc.ascii_is_decimal(col)))


def row_problems(
    table: pa.Table, *, encoded: Mapping[str, pa.DictionaryArray] | None = None
) -> list[RowProblem]:
    """Every per-row problem of a canonical table (not the duplicate-id check).

    ``encoded`` optionally gives text columns of a one-chunk ``table`` also in
    dictionary form (as a Parquet reader returns them): the text rules then run on each
    distinct value once and reach the rows through the indices, with the same result.

    Notes
    -----
    Each rule is one Arrow compute kernel over whole columns giving a validity bitmap;
    only a rule with at least one true bit is turned into row indices, so a clean batch
    costs a few passes over its columns and no Python work per row.
    """
    out: list[RowProblem] = []
    names = set(table.column_names)
    enc = encoded or {}

    def per_value(name: str, rule: Callable[[Any], Any]) -> Any:
        """``rule`` on each row's text: on the dictionary values when there are some."""
        d = enc.get(name)
        if d is None:
            return rule(_col(table, name))
        return pc.take(rule(d.dictionary), d.indices)  # a null index gives null (= ok)

    for name in REQUIRED_FIELDS:
        if name in names:
            col = _col(table, name)
            parts = [pc.is_null(col)]
            if col.type == pa.string():
                # blank = empty or whitespace only (what utf8_trim_whitespace would empty)
                parts.append(
                    per_value(name, lambda c: pc.or_(pc.equal(c, ""), pc.utf8_is_space(c)))
                )
            _add(out, _any_of(parts), name, "missing required field")
    for name, rng in RANGES.items():
        if name not in names:
            continue
        col = _col(table, name)
        parts = []
        if rng.lo is not None:
            parts.append(pc.less_equal(col, rng.lo) if rng.lo_open else pc.less(col, rng.lo))
        if rng.hi is not None:
            parts.append(pc.greater(col, rng.hi))
        if col.type == pa.float64():
            parts.append(pc.is_nan(col))
        _add(out, _any_of(parts), name, f"{rng.what}: allowed {rng.text()}")
    for name, allowed in CATEGORY_VALUES.items():
        if name in names:
            # is_in gives false (not null) for a null value: mask those with is_valid
            unknown = per_value(name, partial(_not_in, codes=pa.array(allowed)))
            _add(out, unknown, name, f"unknown code (allowed: {', '.join(allowed)})")
    if "state" in names:
        bad_state = per_value("state", partial(_not_in, codes=_STATES))
        _add(out, bad_state, "state", "not a US state or territory code")
    for name, (width, reason) in _DIGITS.items():
        if name in names:
            # exactly `width` ASCII digits (what the regex ^\d{width}$ matches); null passes
            bad_digits = per_value(name, partial(_not_digits, width=width))
            _add(out, bad_digits, name, reason)
    if {"remaining_term", "original_term"} <= names:
        rem, orig = _col(table, "remaining_term"), _col(table, "original_term")
        rem_above = pc.greater(rem, orig)
        _add(out, rem_above, "remaining_term", "remaining term above original term")
        if "loan_age" in names:
            age = _col(table, "loan_age")
            total = pc.add(pc.cast(age, pa.int64()), pc.cast(rem, pa.int64()))
            limit = pc.add(pc.cast(orig, pa.int64()), TERM_TOLERANCE_MONTHS)
            _add(
                out,
                pc.and_(pc.greater(total, limit), pc.invert(rem_above)),
                "loan_age",
                f"loan age + remaining term exceeds original term by more than "
                f"{TERM_TOLERANCE_MONTHS} months",
            )
    if {"current_balance", "original_balance", "amortization_type"} <= names:
        cur, orig_bal = _col(table, "current_balance"), _col(table, "original_balance")
        not_arm = per_value("amortization_type", lambda c: pc.not_equal(c, "arm"))
        above = pc.greater(pc.subtract(cur, orig_bal), BALANCE_TOLERANCE)
        _add(
            out,
            pc.and_(above, not_arm),
            "current_balance",
            "current balance above original balance for a non-ARM loan",
        )
    if {"net_rate", "note_rate"} <= names:
        net, note = _col(table, "net_rate"), _col(table, "note_rate")
        _add(out, pc.greater(net, note), "net_rate", "net rate above note rate")
    if {"maturity_date", "first_payment_date"} <= names:
        mat, first = _col(table, "maturity_date"), _col(table, "first_payment_date")
        _add(out, pc.less(mat, first), "maturity_date", "maturity date before first payment date")
        if "origination_date" in names:
            orig_d = _col(table, "origination_date")
            _add(
                out,
                pc.greater(orig_d, first),
                "origination_date",
                "origination date after first payment date",
            )
    out.sort(key=lambda p: p.index)
    return out


MAX_LISTED_DUPLICATES = 10
"""A duplicate-id problem lists at most this many other rows ("... and N more")."""

_HASH_MAX_LEN = 256
_HASH_MAX_LENGTHS = 64
_HASH_SLICE_ROWS = 1 << 16
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser (bijective on 64-bit words), in place."""
    h ^= h >> np.uint64(30)
    h *= _M2
    h ^= h >> np.uint64(27)
    h *= _M3
    h ^= h >> np.uint64(31)
    return h


def _word_positions(length: int) -> list[int]:
    """Byte offsets of the 64-bit words hashed for a string of ``length >= 8`` bytes."""
    positions = list(range(0, length - 7, 8))
    if positions[-1] != length - 8:
        positions.append(length - 8)
    return positions


def _string_hashes(chunk: pa.Array) -> npt.NDArray[np.uint64] | None:
    """A 64-bit hash of each string of an Arrow string array (nulls hash as blanks).

    The bytes of each string are read as 64-bit words (the last word of a string whose
    length is not a multiple of 8 overlaps the one before it; all strings of a length
    use the same word positions) and combined with a multiply-xor and the splitmix64
    finaliser, a few numpy passes per 8 bytes of id. Ids of one length (the usual case)
    are read in place through a strided view; other lengths are gathered, length by
    length. ``None`` when the ids are too long or too varied for that to pay.
    """
    n = len(chunk)
    if n == 0:
        return np.zeros(0, np.uint64)
    off_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    bufs = chunk.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_type, count=chunk.offset + n + 1)[chunk.offset :]
    lengths = np.diff(offsets)
    lo, hi = int(lengths.min()), int(lengths.max())
    if hi > _HASH_MAX_LEN:
        return None
    if lo == hi and lo >= 8 and bufs[2] is not None:
        # one length: string i starts at offsets[0] + i * lo; read its words in place
        base = int(offsets[0])
        h = np.full(n, (lo * int(_M1)) & _MASK64, np.uint64)
        for pos in _word_positions(lo):
            word = np.ndarray((n,), np.dtype("<u8"), bufs[2], base + pos, (lo,))
            h ^= word
            h *= _M2
        return _mix(h)
    present = np.flatnonzero(np.bincount(lengths, minlength=hi + 1))
    if present.size > _HASH_MAX_LENGTHS:
        return None
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    starts = offsets[:-1].astype(np.int64)
    out = np.empty(n, np.uint64)
    for length in present.tolist():
        rows = np.flatnonzero(lengths == length) if present.size > 1 else np.arange(n)
        if length >= 8:  # the same words as the in-place path reads
            cols = np.concatenate([np.arange(p, p + 8) for p in _word_positions(length)])
        else:  # one word, zero-padded
            cols = np.arange(length, dtype=np.int64)
        words = max(1, cols.size // 8)
        for a in range(0, rows.size, _HASH_SLICE_ROWS):
            part = rows[a : a + _HASH_SLICE_ROWS]
            mat = np.zeros((part.size, words * 8), np.uint8)
            if length:
                mat[:, : cols.size] = data[starts[part][:, None] + cols]
            w = mat.view("<u8")
            h = np.full(part.size, (length * int(_M1)) & _MASK64, np.uint64)
            for k in range(words):
                h ^= w[:, k]
                h *= _M2
            out[part] = _mix(h)
    return out


def _id_hashes(loan_id: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.uint64] | None:
    chunks = loan_id.chunks if isinstance(loan_id, pa.ChunkedArray) else [loan_id]
    parts = []
    for c in chunks:
        if not (pa.types.is_string(c.type) or pa.types.is_large_string(c.type)):
            return None
        h = _string_hashes(c)
        if h is None:
            return None
        parts.append(h)
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


def _exact_duplicates(loan_id: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.int64]:
    """Indices (ascending) of the non-null ids that occur more than once (exact)."""
    counts = pc.value_counts(loan_id)
    if len(counts) == 0:
        return np.zeros(0, np.int64)
    values = counts.field("values")
    many = pc.filter(values, pc.and_(pc.greater(counts.field("counts"), 1), pc.is_valid(values)))
    if len(many) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(mask(pc.is_in(loan_id, many))).astype(np.int64)


def duplicate_problems(
    loan_id: pa.ChunkedArray | pa.Array,
) -> list[tuple[int, list[int], int]]:
    """Rows whose loan id appears more than once: ``(index, other indices, n others)``.

    ``other indices`` lists at most :data:`MAX_LISTED_DUPLICATES` of the ``n others``.

    Notes
    -----
    Ids are first hashed to 64 bits (vectorised) and the hashes sorted; only when two
    hashes are equal are those rows' ids compared exactly, so a hash collision costs
    time, never a wrong answer. Null ids are never duplicates (they are reported as
    missing).
    """
    hashes = _id_hashes(loan_id)
    if hashes is None:
        idx = _exact_duplicates(loan_id)
    else:
        valid = mask(pc.is_valid(loan_id))
        hv = hashes[valid]
        srt = np.sort(hv)
        same = srt[1:] == srt[:-1]
        if not same.any():
            return []
        clash = np.unique(srt[1:][same])
        cand = np.flatnonzero(valid & np.isin(hashes, clash)).astype(np.int64)
        sub = _exact_duplicates(pc.take(loan_id, pa.array(cand)))
        idx = cand[sub]
    if idx.size == 0:
        return []
    ids = pc.take(loan_id, pa.array(idx)).to_pylist()
    groups: dict[str, list[int]] = {}
    for i, lid in zip(idx.tolist(), ids, strict=True):
        groups.setdefault(lid, []).append(i)
    out: list[tuple[int, list[int], int]] = []
    for i, lid in zip(idx.tolist(), ids, strict=True):
        members = groups[lid]
        others = []
        for j in members:
            if j != i:
                others.append(j)
                if len(others) == MAX_LISTED_DUPLICATES:
                    break
        out.append((i, others, len(members) - 1))
    return out


def duplicate_reason(others: list[int], n_others: int) -> str:
    """The text of a duplicate-id problem, from the other rows (1-based source rows)."""
    where = ", ".join(str(r) for r in others)
    if n_others > len(others):
        where += f" and {n_others - len(others)} more"
    return f"duplicate loan id (also in row {where})"


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
        for i, others, n_others in duplicate_problems(table.column("loan_id")):
            problems.append(
                Problem(
                    file,
                    row_of[i],
                    "loan_id",
                    table.column("loan_id")[i].as_py(),
                    duplicate_reason([row_of[j] for j in others], n_others),
                )
            )
    problems.sort(key=lambda p: p.row or 0)
    return problems
