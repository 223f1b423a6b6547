"""The event store as Arrow tables and Parquet files any reader can open.

DuckDB stores ``uint256``/``int256`` arguments as ``BIGNUM`` (exact, arbitrary
precision), which only recent DuckDB versions read and which Arrow sees as an opaque
binary extension type. :func:`event_table` converts each such column to the narrowest of:

* ``decimal128(38, 0)`` when every value fits in 38 digits (all amounts, balances and
  periods of an openmbs deal do; the query functions' money type): exact in pyarrow,
  pandas (``Decimal`` objects) and every DuckDB version (``DECIMAL(38,0)``);
* ``decimal256(76, 0)`` when every value fits in 76 digits: exact in pyarrow and pandas;
  DuckDB reads Parquet decimals wider than 38 digits as ``DOUBLE`` (inexact above 2^53);
* decimal strings otherwise (a ``uint256`` can reach 78 digits, e.g. an unlimited ERC-20
  approval): exact everywhere, cast them to parse.

``JSON`` columns become strings. The field metadata ``openmbs.abi_integer`` says which
(``decimal128``, ``decimal256`` or ``decimal-string``).
:func:`export_parquet` writes every table of a store so, one file per table.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from openmbs.errors import InputError
from openmbs.indexer._store import EventStore

__all__ = ["BIGNUM_DECIMAL", "event_table", "export_parquet"]

#: The Arrow types of an ABI integer column whose values all fit (38, then 76 digits).
BIGNUM_DECIMAL = (pa.decimal128(38, 0), pa.decimal256(76, 0))
_META_KEY = b"openmbs.abi_integer"


def _con(db: EventStore | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    return db.con if isinstance(db, EventStore) else db


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    )


def _integer_column(values: list[str | None]) -> tuple[pa.Array, bytes]:
    digits = max((len(v.lstrip("-")) for v in values if v is not None), default=1)
    for t in BIGNUM_DECIMAL:
        if digits <= t.precision:
            return pa.array([None if v is None else Decimal(v) for v in values], t), f"decimal{t.bit_width}".encode()
    return pa.array(values, pa.string()), b"decimal-string"


def event_table(db: EventStore | duckdb.DuckDBPyConnection, table: str) -> pa.Table:
    """A table of the store as Arrow, every column readable by Arrow and pandas.

    ``BIGNUM`` columns (ABI ``uint256``/``int256``) are ``decimal128(38, 0)``,
    ``decimal256(76, 0)`` or decimal strings, the narrowest that holds every value (see
    the module docstring); ``JSON`` columns are strings; other
    columns keep DuckDB's Arrow types. Rows in the table's stored order (event tables:
    block and log index). Raises :class:`InputError` for a table the store lacks.
    """
    con = _con(db)
    if table not in _tables(con):
        raise InputError(f"event store: no table {table!r} (has {_tables(con)})")
    described = [(str(r[0]), str(r[1])) for r in con.execute(f"DESCRIBE {_q(table)}").fetchall()]
    kinds = {c: t for c, t in described}
    sel = ", ".join(
        f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" if t in ("BIGNUM", "VARINT", "JSON") else _q(c)
        for c, t in described
    )
    order = " ORDER BY block_number, log_index" if {"block_number", "log_index"} <= set(kinds) else ""
    raw = con.sql(f"SELECT {sel} FROM {_q(table)}{order}").to_arrow_table()
    fields, arrays = [], []
    for name in raw.column_names:
        col = raw.column(name)
        if kinds[name] in ("BIGNUM", "VARINT"):
            arr, how = _integer_column(col.to_pylist())
            fields.append(pa.field(name, arr.type, metadata={_META_KEY: how}))
            arrays.append(arr)
        else:
            fields.append(pa.field(name, col.type))
            arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def export_parquet(db: EventStore | duckdb.DuckDBPyConnection, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every table of the event store as ``<out_dir>/<table>.parquet``
    (:func:`event_table`'s types); returns the files written, in table order.

    Each file is written to a hidden temporary name and renamed, so a reader never sees
    half a file. The export opens in pyarrow, pandas, polars, Spark and any DuckDB
    version (``SELECT * FROM 'out/ev_transfer.parquet'``).
    """
    con = _con(db)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for table in _tables(con):
        path = out / f"{table}.parquet"
        tmp = out / f".{table}.parquet.tmp"
        pq.write_table(event_table(con, table), tmp)
        os.replace(tmp, path)
        written.append(path)
    return written
