"""Loan-level feature tables for credit models: reading, type inference and parsing.

A credit model takes *any* loan-level table, not only the canonical tape: a CSV or
Parquet file with one row per loan, feature columns and an outcome column. Text columns
are read as text and their type is inferred from their values:

- ``numeric``: every non-missing value parses as a number (``"650"``, ``"3.25"``);
- ``percent``: every non-missing value is a number followed by ``%`` (``"10.5%"`` ->
  ``0.105``, a decimal, as everywhere in openmbs);
- ``unit``: every non-missing value is a number, a blank and one and the same unit
  word (``" 36 months"`` -> ``36.0``, unit ``"months"``; singular and plural count as
  the same unit; ``"860xx"``, with no blank, is not a number of units);
- ``categorical``: anything else (``"RENT"``, ``"10+ years"``);
- ``identifier`` (a text column whose values are all distinct), ``constant`` (one value
  and no missing values) and ``empty`` (no value at all) are reported and left out of
  the features unless asked for by name (``empty`` never).

Missing values are the empty string and the tokens in :data:`MISSING_TOKENS`
(case-insensitive). Numeric Arrow columns (as Parquet files and typed tables carry) are
``numeric`` as they are.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from openmbs.errors import InputError

__all__ = [
    "MISSING_TOKENS",
    "FeatureKind",
    "FeatureSpec",
    "feature_matrix",
    "infer_features",
    "read_loan_table",
]

FeatureKind = Literal[
    "numeric", "percent", "unit", "categorical", "identifier", "constant", "empty"
]

#: Kinds that become model features.
USABLE_KINDS: frozenset[str] = frozenset({"numeric", "percent", "unit", "categorical"})

#: Text values read as missing (compared after stripping blanks, case-insensitive).
MISSING_TOKENS: frozenset[str] = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a"})

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PERCENT_RE = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")
_UNIT_RE = re.compile(rf"^\s*({_NUMBER})\s+([A-Za-z]+)\s*$")

#: A text column needs at least this many rows before "all values distinct" means an id.
_IDENTIFIER_MIN_ROWS = 50


@dataclass(frozen=True)
class FeatureSpec:
    """How one column of a loan-level table is read.

    Attributes
    ----------
    name : str
        Column name.
    kind : str
        One of ``numeric``, ``percent``, ``unit``, ``categorical``, ``identifier``,
        ``constant``, ``empty`` (see the module docstring).
    unit : str or None
        The unit word of a ``unit`` column (``"months"``), else None.
    n_missing : int
        Missing values in the column of the table it was inferred from.
    n_unique : int
        Distinct non-missing values.
    """

    name: str
    kind: str
    unit: str | None
    n_missing: int
    n_unique: int

    @property
    def usable(self) -> bool:
        """Whether this column can be a model feature."""
        return self.kind in USABLE_KINDS

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "n_missing": self.n_missing,
            "n_unique": self.n_unique,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            unit=None if data.get("unit") is None else str(data["unit"]),
            n_missing=int(data.get("n_missing", 0)),
            n_unique=int(data.get("n_unique", 0)),
        )


def read_loan_table(path: str | Path) -> pa.Table:
    """Read a loan-level CSV or Parquet file into an Arrow table.

    CSV columns are all read as text, so that type inference sees the values as written
    (leading zeros, ``%`` signs, unit words). Parquet columns keep their stored types.

    Parameters
    ----------
    path : str or Path
        ``.parquet``/``.pq`` files are read as Parquet; anything else as CSV with a
        header row (delimiter sniffed among ``,``, ``|``, ``;`` and tab).

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    InputError
        The file is missing, empty or unreadable; the message names the file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"file {str(p)!r}: not found")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pq.read_table(p)
        with p.open(newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(65536)
        if not sample.strip():
            raise InputError(f"file {str(p)!r}: empty file")
        try:
            delimiter = csv.Sniffer().sniff(sample.splitlines()[0], delimiters=",|;\t").delimiter
        except csv.Error:
            delimiter = ","
        header = next(csv.reader([sample.splitlines()[0]], delimiter=delimiter))
        names = [h.strip() for h in header]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"file {str(p)!r}: duplicate column name(s) {dup}")
        return pcsv.read_csv(
            p,
            read_options=pcsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except InputError:
        raise
    except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
        raise InputError(f"file {str(p)!r}: cannot read as a loan table: {exc}") from exc


def _is_numeric_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _clean_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Column values as stripped text, null where missing (vectorised)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    text = pc.utf8_trim_whitespace(arr)
    missing = pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(MISSING_TOKENS)))
    return pc.if_else(missing, pa.scalar(None, text.type), text)


def _text_values(col: pa.ChunkedArray | pa.Array) -> list[str | None]:
    """Column values as stripped strings, None where missing."""
    return list(_clean_text(col).to_pylist())


def _parse_float(s: str) -> float | None:
    try:
        x = float(s)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _unit_key(word: str) -> str:
    w = word.lower()
    return w[:-1] if len(w) > 1 and w.endswith("s") else w


def _infer_text(name: str, text: pa.Array, n_rows: int) -> FeatureSpec:
    n_missing = text.null_count
    uniq = {str(v) for v in pc.unique(text.drop_null()).to_pylist()}
    n_present = n_rows - n_missing
    if not uniq:
        return FeatureSpec(name, "empty", None, n_missing, 0)
    if all(_parse_float(v) is not None for v in uniq):
        kind = "constant" if len(uniq) == 1 and n_missing == 0 else "numeric"
        return FeatureSpec(name, kind, None, n_missing, len(uniq))
    if all(_PERCENT_RE.match(v) for v in uniq):
        kind = "constant" if len(uniq) == 1 and n_missing == 0 else "percent"
        return FeatureSpec(name, kind, None, n_missing, len(uniq))
    matches = [_UNIT_RE.match(v) for v in uniq]
    if all(m is not None for m in matches):
        words = {m.group(2).lower() for m in matches if m is not None}
        if len({_unit_key(w) for w in words}) == 1:
            # Report the plural spelling when the file uses it ("36 months").
            unit = max(words, key=len)
            kind = "constant" if len(uniq) == 1 and n_missing == 0 else "unit"
            return FeatureSpec(name, kind, unit, n_missing, len(uniq))
    if len(uniq) <= 1 and n_missing == 0:
        return FeatureSpec(name, "constant", None, n_missing, len(uniq))
    if len(uniq) == n_present and n_present >= _IDENTIFIER_MIN_ROWS:
        return FeatureSpec(name, "identifier", None, n_missing, len(uniq))
    return FeatureSpec(name, "categorical", None, n_missing, len(uniq))


def infer_features(
    table: pa.Table, columns: Sequence[str] | None = None, *, file: str | None = None
) -> tuple[FeatureSpec, ...]:
    """Infer how each column of a loan-level table should be read.

    Parameters
    ----------
    table : pyarrow.Table
        The loan-level table (see :func:`read_loan_table`).
    columns : sequence of str, optional
        Columns to inspect; all of them by default.
    file : str, optional
        The file the table came from, for error messages.

    Returns
    -------
    tuple of FeatureSpec
        One per column, in the order asked for.

    Raises
    ------
    InputError
        A requested column does not exist (names the file and the column).

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"term": [" 36 months", "60 months"], "util": ["10.5%", "3%"]})
    >>> [(f.kind, f.unit) for f in infer_features(t)]
    [('unit', 'months'), ('percent', None)]
    """
    names = list(table.column_names if columns is None else columns)
    specs: list[FeatureSpec] = []
    n = table.num_rows
    for name in names:
        if name not in table.column_names:
            raise InputError(
                f"file {file!r}, column {name!r}: no such column; columns are {table.column_names}"
            )
        col = table.column(name)
        t = col.type
        if pa.types.is_null(t):
            specs.append(FeatureSpec(name, "empty", None, n, 0))
        elif _is_numeric_type(t) or pa.types.is_boolean(t):
            arr = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
            present = arr[~np.isnan(arr)]
            n_unique = len(np.unique(present))
            n_missing = n - len(present)
            if len(present) == 0:
                kind = "empty"
            elif n_unique == 1 and n_missing == 0:
                kind = "constant"
            else:
                kind = "numeric"
            specs.append(FeatureSpec(name, kind, None, n_missing, n_unique))
        else:
            specs.append(_infer_text(name, _clean_text(col), n))
    return tuple(specs)


def _parse_column(col: pa.ChunkedArray, spec: FeatureSpec, *, file: str | None) -> npt.NDArray[Any]:
    """One column as float64 (numeric kinds, NaN for missing) or object (categorical)."""
    t = col.type
    if spec.kind == "categorical":
        if pa.types.is_null(t):
            return np.full(len(col), np.nan, dtype=object)
        text = _clean_text(col)
        out = np.array(text.to_pylist(), dtype=object)
        out[np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = np.nan
        return out
    if _is_numeric_type(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
        arr = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        return np.where(np.isfinite(arr), arr, np.nan)
    text = _clean_text(col)
    number = text
    scale = 1.0
    if spec.kind == "percent":
        # A bare number in a percent column is read in the same unit (percent).
        number = pc.replace_substring_regex(text, pattern=r"\s*%$", replacement="")
        scale = 0.01
    elif spec.kind == "unit":
        parts = pc.extract_regex(text, pattern=r"^(?P<n>\S+)\s+(?P<u>[A-Za-z]+)$")
        units = pc.unique(parts.filter(parts.is_valid()).field("u")).to_pylist()
        bad_units = [u for u in units if spec.unit is None or _unit_key(u) != _unit_key(spec.unit)]
        if bad_units:
            i = text.to_pylist().index(
                next(v for v in text.to_pylist() if v and v.endswith(bad_units[0]))
            )
            raise InputError(
                f"file {file!r}, row {i + 1}, column {spec.name!r}, value {text[i].as_py()!r}: "
                f"expected a number of {spec.unit!r}"
            )
        number = pc.if_else(parts.is_valid(), parts.field("n"), text)
    try:
        values = pc.cast(number, pa.float64())
        arr = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        if not np.all(
            np.isfinite(arr) | np.asarray(values.is_null().to_numpy(zero_copy_only=False))
        ):
            raise ValueError("non-finite value")
    except (pa.ArrowInvalid, ValueError):
        for i, v in enumerate(number.to_pylist()):
            if v is not None and _parse_float(v) is None:
                raise InputError(
                    f"file {file!r}, row {i + 1}, column {spec.name!r}, "
                    f"value {text[i].as_py()!r}: not a {spec.kind} value"
                    + (f" (expected a number of {spec.unit!r})" if spec.unit else "")
                ) from None
        raise
    return np.where(np.isfinite(arr), arr * scale, np.nan)


def feature_matrix(
    table: pa.Table, specs: Sequence[FeatureSpec], *, file: str | None = None
) -> npt.NDArray[Any]:
    """Parse the feature columns of a table into a 2-D object array for a model pipeline.

    Numeric kinds become floats (NaN where missing; percents as decimals; unit columns
    as the number of units); categorical columns stay strings (NaN where missing).

    Raises
    ------
    InputError
        A column is missing or a value does not parse; the message names the file, the
        1-based row, the column and the value.
    """
    n = table.num_rows
    out = np.empty((n, len(specs)), dtype=object)
    for j, spec in enumerate(specs):
        if spec.name not in table.column_names:
            raise InputError(
                f"file {file!r}, column {spec.name!r}: the model needs this feature column "
                f"and the table does not have it"
            )
        out[:, j] = _parse_column(table.column(spec.name), spec, file=file)
    return out
