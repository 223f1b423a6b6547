"""Vectorised text-to-value converters that report every bad cell instead of failing.

Each converter takes an Arrow string array (one column of one chunk of a tape, exactly
as read from the file) and returns the converted array plus a boolean numpy mask of the
cells that could not be converted. Blank cells (empty or whitespace only) are null and
never bad; whether a null is allowed is the validator's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Parsed",
    "clean",
    "mask",
    "parse_bool",
    "parse_code",
    "parse_date",
    "parse_float",
    "parse_int",
    "parse_mapped",
]

BoolMask = npt.NDArray[np.bool_]

_FLOAT_RE = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?$"
_INT_RE = r"^[+-]?\d{1,9}$"
_NULL_STR = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class Parsed:
    """A converted column and the mask of cells that could not be converted."""

    values: pa.Array
    bad: BoolMask
    reason: str


def mask(arr: pa.Array | pa.ChunkedArray) -> BoolMask:
    """A boolean Arrow array as a numpy mask, null counted as False."""
    filled = pc.fill_null(arr, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    out: BoolMask = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)
    return out


def clean(col: pa.Array) -> pa.Array:
    """Trim surrounding whitespace; blank cells become null."""
    if col.type != pa.string():
        col = pc.cast(col, pa.string())
    trimmed = pc.utf8_trim_whitespace(col)
    return pc.if_else(pc.equal(trimmed, ""), _NULL_STR, trimmed)


def parse_float(
    col: pa.Array, *, divisor: float = 1.0, sentinels: tuple[float, ...] = ()
) -> Parsed:
    """Decimal numbers; ``sentinels`` (in source units) become null; result / ``divisor``.

    Dividing (not multiplying by 0.01) keeps percent conversions correctly rounded:
    ``95 / 100`` is the double nearest 0.95, ``95 * 0.01`` is not.
    """
    s = clean(col)
    ok = pc.match_substring_regex(s, _FLOAT_RE)
    vals = pc.cast(pc.if_else(ok, s, _NULL_STR), pa.float64())
    np_vals = vals.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(np_vals) | np.isnan(np_vals)  # NaN here means null
    bad = mask(pc.invert(ok)) | ~finite
    if bad.any():
        vals = pc.if_else(pa.array(~bad), vals, pa.scalar(None, pa.float64()))
    for sentinel in sentinels:
        vals = pc.if_else(pc.equal(vals, sentinel), pa.scalar(None, pa.float64()), vals)
    if divisor != 1.0:
        vals = pc.divide(vals, divisor)
    return Parsed(vals, bad, "not a number")


def parse_int(col: pa.Array, *, sentinels: tuple[int, ...] = ()) -> Parsed:
    """Whole numbers of at most 9 digits (an optional sign); ``sentinels`` become null."""
    s = pc.replace_substring_regex(clean(col), r"^\+", "")
    ok = pc.match_substring_regex(s, _INT_RE)
    bad = mask(pc.invert(ok))
    vals = pc.cast(pc.cast(pc.if_else(ok, s, _NULL_STR), pa.int64()), pa.int32())
    for sentinel in sentinels:
        vals = pc.if_else(pc.equal(vals, sentinel), pa.scalar(None, pa.int32()), vals)
    return Parsed(vals, bad, "not a whole number")


_DATE_SHAPES = {
    "iso": (r"^\d{4}-\d{2}-\d{2}$", "YYYY-MM-DD"),
    "yyyymm": (r"^\d{6}$", "YYYYMM"),
    "mmyyyy": (r"^\d{6}$", "MMYYYY"),
}


def parse_date(col: pa.Array, *, layout: str = "iso") -> Parsed:
    """Dates: ``iso`` YYYY-MM-DD, ``yyyymm`` or ``mmyyyy`` (day taken as the 1st).

    Impossible dates (2020-02-30, month 13) are bad, not rolled over.
    """
    regex, shown = _DATE_SHAPES[layout]
    s = clean(col)
    ok = pc.match_substring_regex(s, regex)
    s_ok = pc.if_else(ok, s, _NULL_STR)
    if layout == "yyyymm":
        iso = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(s_ok, 0, 4), pc.utf8_slice_codeunits(s_ok, 4, 6), "01", "-"
        )
    elif layout == "mmyyyy":
        iso = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(s_ok, 2, 6), pc.utf8_slice_codeunits(s_ok, 0, 2), "01", "-"
        )
    else:
        iso = s_ok
    ts = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    back = pc.strftime(ts, format="%Y-%m-%d")
    good = pc.equal(back, iso)  # rejects roll-over (2020-02-30 -> 2020-03-01)
    bad = mask(pc.invert(ok)) | (mask(ok) & ~mask(good))
    vals = pc.cast(ts, pa.date32())
    if bad.any():
        vals = pc.if_else(pa.array(~bad), vals, pa.scalar(None, pa.date32()))
    return Parsed(vals, bad, f"not a date ({shown})")


def parse_code(
    col: pa.Array, codes: Mapping[str, object], out_type: pa.DataType | None = None
) -> Parsed:
    """Map source codes to canonical values; a code not in ``codes`` is bad.

    A code mapped to ``None`` (a "not available" code such as Freddie's ``9``) is null.
    """
    s = clean(col)
    keys = pa.array(list(codes.keys()), pa.string())
    targets = pa.array(list(codes.values()), pa.string() if out_type is None else out_type)
    idx = pc.index_in(s, value_set=keys)
    bad = mask(pc.and_(pc.is_valid(s), pc.is_null(idx)))
    vals = pc.take(targets, idx)
    allowed = ", ".join(repr(k) for k in codes)
    return Parsed(vals, bad, f"unknown code (allowed: {allowed})")


def parse_mapped(
    col: pa.Array, fn: Callable[[str], object], out_type: pa.DataType, reason: str
) -> Parsed:
    """Map each distinct value through ``fn`` (raising ``ValueError`` marks it bad)."""
    s = clean(col)
    uniques = pc.unique(s).drop_null()
    codes: dict[str, object] = {}
    for u in uniques.to_pylist():
        try:
            codes[u] = fn(u)
        except ValueError:
            continue
    out = parse_code(s, codes, out_type)
    return Parsed(out.values, out.bad, reason)


def parse_bool(
    col: pa.Array,
    *,
    true: tuple[str, ...] = ("true",),
    false: tuple[str, ...] = ("false",),
    null: tuple[str, ...] = (),
) -> Parsed:
    """Flags from the given true/false spellings; ``null`` spellings mean not available."""
    codes: dict[str, object] = {t: True for t in true}
    codes.update({f: False for f in false})
    codes.update({n: None for n in null})
    return parse_code(col, codes, pa.bool_())
