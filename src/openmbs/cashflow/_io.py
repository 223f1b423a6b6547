"""Write a projection table to CSV, Parquet or JSON (atomically)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from openmbs._files import atomic_write
from openmbs.cashflow._result import PROJECTION_COLUMNS, PoolCashflows
from openmbs.errors import InputError

__all__ = ["OUTPUT_FORMATS", "projection_table", "write_projection"]

#: File suffixes :func:`write_projection` understands.
OUTPUT_FORMATS: tuple[str, ...] = (".csv", ".parquet", ".json")


def projection_table(cf: PoolCashflows) -> pa.Table:
    """The projection as an Arrow table, columns in ``PROJECTION_COLUMNS`` order."""
    return pa.table({name: getattr(cf, name) for name in PROJECTION_COLUMNS})


def write_projection(cf: PoolCashflows, path: str | os.PathLike[str]) -> Path:
    """Write the monthly table to ``path``; the format follows the suffix.

    ``.csv`` (header row, full float precision), ``.parquet``, or ``.json`` (an object
    with ``original_balance`` and ``columns``: one array per column). The file is
    written to a temporary name beside the target and renamed, so an existing file is
    never left half-written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise InputError(
            f"output file {str(target)!r}: unknown suffix {target.suffix!r}, "
            f"expected one of {', '.join(OUTPUT_FORMATS)}"
        )
    if not target.parent.is_dir():
        raise InputError(f"output file {str(target)!r}: folder {str(target.parent)!r} does not exist")
    def _w(tmp: Path) -> None:
        if suffix == ".csv":
            pacsv.write_csv(projection_table(cf), tmp)
        elif suffix == ".parquet":
            pq.write_table(projection_table(cf), tmp)
        else:
            doc = {
                "original_balance": cf.original_balance,
                "columns": {k: v.tolist() for k, v in cf.to_dict().items()},
            }
            tmp.write_text(json.dumps(doc))

    atomic_write(target, _w)
    return target
