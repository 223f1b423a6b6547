"""Delimited text -> string columns, and string columns -> typed arrays, with every
failure located by file, row, field and value (rows are 1-based data rows).

The agencies' files are pipe-delimited without quoting; they are read whole with
pyarrow's CSV reader as strings (one pass in C++), then converted column by column
with array operations. Error paths may loop in Python: they stop at the first bad value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from openmbs.errors import TapeError

__all__ = ["month_index", "months_column", "numbers", "read_strings", "strings"]


def read_strings(
    path: str | os.PathLike[str],
    names: tuple[str, ...],
    *,
    delimiter: str = "|",
) -> pa.Table:
    """Every field of a delimited file without a header as a string column named by
    ``names``.

    Raises
    ------
    TapeError
        The file cannot be opened, or a row has another number of fields than
        ``len(names)`` (names the row and the count).
    """
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise TapeError("no such file", file=file)
    if path.stat().st_size == 0:
        raise TapeError("the file has no data rows (it is empty)", file=file)
    bad: list[tuple[int | None, int, str]] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        bad.append((row.number, row.actual_columns, row.text))
        return "error"

    read = pcsv.ReadOptions(column_names=list(names), use_threads=False)
    types = {n: pa.string() for n in names}
    parse = pcsv.ParseOptions(delimiter=delimiter, quote_char=False, invalid_row_handler=on_invalid)
    convert = pcsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    try:
        table = pcsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if bad:
            number, count, text = bad[0]
            row = number if number is not None else _find_row(path, text)
            raise TapeError(
                f"expected {len(names)} fields separated by {delimiter!r}, found {count}",
                file=file,
                row=row,
                value=text[:120],
            ) from exc
        raise TapeError(f"cannot parse the file: {exc}", file=file) from exc
    if table.num_rows == 0:
        raise TapeError("the file has no data rows", file=file)
    return table.combine_chunks()


def _find_row(path: Path, text: str) -> int | None:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            if line.rstrip("\r\n") == text:
                return i
    return None


def strings(table: pa.Table, name: str) -> npt.NDArray[np.str_]:
    """A string column, stripped, as a numpy array of str."""
    col = pc.utf8_trim_whitespace(table.column(name))
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=str)


def numbers(
    table: pa.Table,
    name: str,
    *,
    file: str,
    field: str,
    low: float | None = None,
    high: float | None = None,
    required: bool = False,
) -> npt.NDArray[np.float64]:
    """A numeric column as float64, NaN where blank.

    Raises
    ------
    TapeError
        A value is not a number, is outside ``[low, high]``, or is blank when
        ``required``.
    """
    col = pc.utf8_trim_whitespace(table.column(name))
    empty = pc.equal(col, "")
    try:
        values = pc.cast(pc.if_else(empty, None, col), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = col.to_pylist()
        for i, v in enumerate(text):
            if v:
                try:
                    float(v)
                except ValueError:
                    raise TapeError(
                        "not a number", file=file, row=i + 1, field=field, value=v
                    ) from None
        raise
    out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    blank = np.isnan(out)
    if required and blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise TapeError("required value is blank", file=file, row=i + 1, field=field, value="")
    ok = ~blank & np.isfinite(out)
    bad = np.zeros(out.shape, dtype=bool)
    bad[~blank] = ~np.isfinite(out[~blank])
    if low is not None:
        bad |= ok & (out < low)
    if high is not None:
        bad |= ok & (out > high)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rng = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise TapeError(
            f"out of range {rng}", file=file, row=i + 1, field=field, value=col[i].as_py()
        )
    return out


_MONTH_FORMATS = {
    # format: (regex, month slice, year slice)
    "MM/DD/YYYY": (r"^(0[1-9]|1[0-2])/[0-3][0-9]/[0-9]{4}$", (0, 2), (6, 10)),
    "MM/YYYY": (r"^(0[1-9]|1[0-2])/[0-9]{4}$", (0, 2), (3, 7)),
    "YYYYMM": (r"^[0-9]{4}(0[1-9]|1[0-2])$", (4, 6), (0, 4)),
}


def months_column(
    table: pa.Table, name: str, fmt: str, *, file: str, field: str, required: bool = False
) -> npt.NDArray[np.int32]:
    """A month column as a month index ``year * 12 + month - 1``; -1 where blank.

    ``fmt`` is ``"MM/DD/YYYY"``, ``"MM/YYYY"`` or ``"YYYYMM"`` (the day, if any, is
    ignored: the agencies' files report months).
    """
    pattern, ms, ys = _MONTH_FORMATS[fmt]
    col = pc.utf8_trim_whitespace(table.column(name))
    empty = np.asarray(pc.equal(col, "").to_numpy(zero_copy_only=False), dtype=bool)
    good = np.asarray(
        pc.match_substring_regex(col, pattern).to_numpy(zero_copy_only=False), dtype=bool
    )
    bad = ~empty & ~good
    if required:
        bad |= empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        reason = "required value is blank" if empty[i] else f"not a month in the form {fmt}"
        raise TapeError(reason, file=file, row=i + 1, field=field, value=col[i].as_py())
    filled = pc.if_else(pc.equal(col, ""), "0" * 10, col)
    month = pc.cast(pc.utf8_slice_codeunits(filled, ms[0], ms[1]), pa.int32())
    year = pc.cast(pc.utf8_slice_codeunits(filled, ys[0], ys[1]), pa.int32())
    out = np.asarray(year, dtype=np.int32) * 12 + np.asarray(month, dtype=np.int32) - 1
    out[empty] = -1
    return out.astype(np.int32)


def month_index(text: str) -> int:
    """``"2009-04"``, ``"04/2009"``, ``"04/01/2009"`` or ``"200904"`` -> month index."""
    t = text.strip()
    for pattern, (ya, yb), (ma, mb) in (
        (r"^[0-9]{4}-[0-9]{2}$", (0, 4), (5, 7)),
        (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", (0, 4), (5, 7)),
        (r"^[0-9]{2}/[0-9]{4}$", (3, 7), (0, 2)),
        (r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$", (6, 10), (0, 2)),
        (r"^[0-9]{6}$", (0, 4), (4, 6)),
    ):
        if re.match(pattern, t):
            year, month = int(t[ya:yb]), int(t[ma:mb])
            if 1 <= month <= 12:
                return year * 12 + month - 1
    raise ValueError(f"not a month: {text!r} (expected YYYY-MM, MM/YYYY or YYYYMM)")
