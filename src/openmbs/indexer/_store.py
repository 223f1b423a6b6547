"""The DuckDB event store: raw events, typed tables per event type, cursors.

Tables
------
``events``
    One row per log: ``block_number``, ``log_index`` (primary key), ``tx_hash``,
    ``tx_index``, ``block_hash``, ``contract_address``, ``contract`` (registered name or
    NULL), ``event`` (event name or NULL when unknown), ``signature``, ``topic0``,
    ``topics`` (JSON list of hex), ``data`` (hex), ``args`` (JSON object, NULL when not
    decoded), ``source``.
``event_types``
    One row per event signature seen: ``signature``, ``name``, ``topic0``,
    ``table_name``, ``columns`` (JSON list of [name, abi type, SQL type]).
``ev_<event_name>``
    One typed table per event signature (see ``_abi.EventType``): the meta columns
    ``block_number``, ``log_index``, ``tx_hash``, ``contract_address``, ``contract``,
    then one column per argument. A typed row is written with its ``events`` row in the
    same transaction, so ``events``' primary key keeps (block, log index) unique in the
    typed tables too; they carry no index of their own (an ART index per table cost
    more than the rest of a typed table's write, on insert and on checkpoint).
``cursor``
    ``source`` (primary key) and ``last_block``: the last block fully indexed from
    that source.
``blocks``
    ``source``, ``block_number`` (primary key together), ``block_hash`` and
    ``parent_hash`` of every block indexed from a source that reports hashes (a
    JSON-RPC node): what the indexer compares with the chain to detect a reorganisation.

A file written by someone else is opened by :func:`open_untrusted`: read-only, with no
file, network or extension access from SQL, and only after :func:`verify_store` found
base tables of the expected schema and no other object (a view or macro named like a
table would otherwise run its author's SQL in the reader's process).

Every batch of blocks is written in ONE transaction together with its cursor update,
so the store only ever holds whole batches: a crash at any point loses at most the
batch in flight, which the next run indexes again.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from openmbs.errors import DataIntegrityError, InputError
from openmbs.indexer._abi import META_COLUMNS, DecodedLog, EventType, checksum, sql_type

__all__ = ["UNTRUSTED_CONFIG", "EventStore", "open_untrusted", "verify_store"]

_DDL = """
CREATE TABLE IF NOT EXISTS events (
    block_number UBIGINT NOT NULL,
    log_index UBIGINT NOT NULL,
    tx_hash VARCHAR NOT NULL,
    tx_index UBIGINT,
    block_hash VARCHAR,
    contract_address VARCHAR NOT NULL,
    contract VARCHAR,
    event VARCHAR,
    signature VARCHAR,
    topic0 VARCHAR,
    topics JSON NOT NULL,
    data VARCHAR NOT NULL,
    args JSON,
    source VARCHAR NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE TABLE IF NOT EXISTS event_types (
    signature VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    topic0 VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL UNIQUE,
    columns JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS cursor (
    source VARCHAR PRIMARY KEY,
    last_block BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS blocks (
    source VARCHAR NOT NULL,
    block_number UBIGINT NOT NULL,
    block_hash VARCHAR NOT NULL,
    parent_hash VARCHAR,
    PRIMARY KEY (source, block_number)
);
"""

#: DuckDB settings for a database file openmbs did not write in this process: no file,
#: network or extension access from SQL (``read_text``, ``COPY``, ``ATTACH``, ...), no
#: extension installed or loaded on demand, and the settings locked so a query cannot
#: turn them back on.
UNTRUSTED_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}

#: Columns (name, DuckDB type) of the fixed tables, in order; ``None`` marks a table an
#: older store may lack.
_FIXED: dict[str, tuple[tuple[str, str], ...]] = {
    "events": (
        ("block_number", "UBIGINT"),
        ("log_index", "UBIGINT"),
        ("tx_hash", "VARCHAR"),
        ("tx_index", "UBIGINT"),
        ("block_hash", "VARCHAR"),
        ("contract_address", "VARCHAR"),
        ("contract", "VARCHAR"),
        ("event", "VARCHAR"),
        ("signature", "VARCHAR"),
        ("topic0", "VARCHAR"),
        ("topics", "JSON"),
        ("data", "VARCHAR"),
        ("args", "JSON"),
        ("source", "VARCHAR"),
    ),
    "event_types": (
        ("signature", "VARCHAR"),
        ("name", "VARCHAR"),
        ("topic0", "VARCHAR"),
        ("table_name", "VARCHAR"),
        ("columns", "JSON"),
    ),
    "cursor": (("source", "VARCHAR"), ("last_block", "BIGINT")),
}
_OPTIONAL: dict[str, tuple[tuple[str, str], ...]] = {
    "blocks": (
        ("source", "VARCHAR"),
        ("block_number", "UBIGINT"),
        ("block_hash", "VARCHAR"),
        ("parent_hash", "VARCHAR"),
    ),
    # written by the lifecycle beside the events (openmbs.indexer.PROJECTION_TABLE)
    "projection": (("period", "BIGINT"), ("loss", "DOUBLE")),
}


def verify_store(con: duckdb.DuckDBPyConnection, path: str, *, new: bool = False) -> None:
    """Check that the database holds only base tables of the event store's schema.

    ``new=True`` accepts a database that lacks the fixed tables (one about to be
    created); everything it does hold must still conform.

    Raises
    ------
    DataIntegrityError
        Naming the file and the object: a view, macro, sequence, user type or schema of
        its own; a table the schema does not know; a missing fixed table; a column whose
        name, type or position differs, or a generated (computed) column.

    Notes
    -----
    Reads only DuckDB's catalog functions (``duckdb_tables()``, ``duckdb_columns()``,
    ...) and then the ``event_types`` table, once it is known to be a base table, for
    the names and ABI types of the typed tables.
    """
    where = f"event store {path!r}"
    others = (
        ("view", "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"),
        ("macro", "SELECT schema_name || '.' || function_name FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro') AND database_name = current_database()"),
        ("sequence", "SELECT schema_name || '.' || sequence_name FROM duckdb_sequences() WHERE database_name = current_database()"),
        ("type", "SELECT schema_name || '.' || type_name FROM duckdb_types() WHERE NOT internal AND database_name = current_database()"),
        ("schema", "SELECT schema_name FROM duckdb_schemas() WHERE NOT internal AND database_name = current_database()"),
    )
    for kind, sql in others:
        found = sorted(str(r[0]) for r in con.execute(sql).fetchall())
        if found:
            raise DataIntegrityError(
                f"{where}: holds {kind} {found[0]!r}; an event store holds only tables, "
                "refusing to read it"
            )
    cols: dict[str, list[tuple[str, str, bool]]] = {}
    for schema, table, column, dtype, generated in con.execute(
        "SELECT t.schema_name, t.table_name, c.column_name, c.data_type, c.is_generated "
        "FROM duckdb_tables() t LEFT JOIN duckdb_columns() c ON c.table_oid = t.table_oid "
        "WHERE t.database_name = current_database() ORDER BY t.table_name, c.column_index"
    ).fetchall():
        if schema != "main":
            raise DataIntegrityError(f"{where}: table {schema}.{table} is outside schema main")
        cols.setdefault(str(table), [])
        if column is not None:
            cols[str(table)].append((str(column), str(dtype), bool(generated)))

    def check(table: str, want: Sequence[tuple[str, str]]) -> None:
        got = cols.pop(table)
        for name, _dtype, generated in got:
            if generated:
                raise DataIntegrityError(
                    f"{where}: table {table!r} column {name!r} is a generated column"
                )
        if [(n, t.upper()) for n, t, _ in got] != [(n, t.upper()) for n, t in want]:
            raise DataIntegrityError(
                f"{where}: table {table!r} has columns {[(n, t) for n, t, _ in got]}, "
                f"expected {list(want)}"
            )

    has_types = "event_types" in cols
    for table, want in _FIXED.items():
        if table in cols:
            check(table, want)
        elif not new:
            raise DataIntegrityError(f"{where}: no table {table!r} (not an event store)")
    for table, want in _OPTIONAL.items():
        if table in cols:
            check(table, want)
    types = (
        con.execute(
            "SELECT signature, table_name, CAST(columns AS VARCHAR) FROM event_types "
            "ORDER BY table_name"
        ).fetchall()
        if has_types
        else []
    )
    for sig, table, columns in types:
        try:
            spec = [(str(n), sql_type(str(a))) for n, a, _t in json.loads(columns)]
        except (TypeError, ValueError) as exc:
            raise DataIntegrityError(
                f"{where}: table 'event_types' row {sig!r} field 'columns' value {columns!r}: "
                f"not a list of [name, abi type, sql type] ({exc})"
            ) from exc
        if table not in cols:
            raise DataIntegrityError(
                f"{where}: table 'event_types' row {sig!r} names table {table!r}, which is "
                "not a table of the file"
            )
        check(str(table), list(META_COLUMNS) + spec)
    if cols:
        raise DataIntegrityError(
            f"{where}: holds table {sorted(cols)[0]!r}, which is not part of an event store"
        )


def open_untrusted(path: str | os.PathLike[str]) -> duckdb.DuckDBPyConnection:
    """Open an event store file someone else may have written, for reading.

    Read-only, with :data:`UNTRUSTED_CONFIG`, and checked by :func:`verify_store`.

    Raises
    ------
    InputError
        When the file does not exist or is not a DuckDB database.
    DataIntegrityError
        When it holds anything but the event store's tables (see :func:`verify_store`).
    """
    p = str(path)
    if not Path(p).is_file():
        raise InputError(f"file {p!r}: no such event store")
    try:
        con = duckdb.connect(p, read_only=True, config=UNTRUSTED_CONFIG)
    except duckdb.Error as exc:
        raise InputError(f"file {p!r}: not a readable DuckDB event store ({exc})") from exc
    try:
        verify_store(con, p)
    except BaseException:
        con.close()
        raise
    return con

_ARROW = {"UBIGINT": pa.uint64(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_()}


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"[^0-9a-zA-Z_]", "_", s).lower()
    return s


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


_dumps = json.JSONEncoder().encode  # json.dumps with its defaults, minus a call


def _args_json(d: DecodedLog) -> str | None:
    """``json.dumps(d.args)`` (None when not decoded)."""
    if d.args is None:
        return None
    return d.event.args_json(d.args) if d.event is not None else _dumps(d.args)


def _topics_json(topics: Sequence[bytes]) -> str:
    """``json.dumps(["0x" + t.hex() for t in topics])`` (hex needs no escaping)."""
    if not topics:
        return "[]"
    return '["0x' + '", "0x'.join([t.hex() for t in topics]) + '"]'


def _arrow_column(values: Sequence[Any], sqlt: str) -> pa.Array:
    if sqlt in _ARROW:
        return pa.array(values, type=_ARROW[sqlt])
    if all(type(v) is str for v in values):
        return pa.array(values, type=pa.string())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


class EventStore:
    """A DuckDB database of indexed events.

    Parameters
    ----------
    path : str or Path, default ":memory:"
        Database file (created with its tables when absent).
    read_only : bool, default False
        Open an existing file read-only, as a file someone else may have written
        (:func:`open_untrusted`: no external access from SQL, schema checked). Use it
        for every file this process did not create.

    Raises
    ------
    DataIntegrityError
        When the file holds anything but the event store's tables (views, macros,
        unknown tables, columns of another type), read-only or not.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, read_only: bool = False) -> None:
        self.path = str(path)
        if read_only:
            self.con = open_untrusted(self.path)
        else:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(self.path)
            try:
                verify_store(self.con, self.path, new=True)
                self._exec(_DDL)
            except BaseException:
                self.con.close()
                raise
        self._tables: dict[str, str] = {
            sig: table
            for sig, table in self.con.execute("SELECT signature, table_name FROM event_types").fetchall()
        }

    def _exec(self, sql: str, params: list[Any] | None = None) -> None:
        """Run a statement to completion (DuckDB wants every result consumed)."""
        self.con.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ cursors

    def cursor(self, source: str) -> int:
        """Last block fully indexed from ``source`` (``-1`` when none)."""
        rows = self.con.execute(
            "SELECT last_block FROM cursor WHERE source = ?", [source]
        ).fetchall()
        return -1 if not rows else int(rows[0][0])

    def table_for(self, signature: str) -> str | None:
        """Typed table name of an event signature (None when never seen)."""
        return self._tables.get(signature)

    def tables_for_event(self, name: str) -> list[str]:
        """Typed tables of every signature with this event name."""
        rows = self.con.execute(
            "SELECT table_name FROM event_types WHERE name = ? ORDER BY table_name", [name]
        ).fetchall()
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------ writing

    def _new_tables(self, types: Sequence[EventType]) -> dict[str, str]:
        """Create the typed tables of the event types never seen (in first-seen order) and
        record them in ``event_types``; returns signature -> table of those created."""
        new: dict[str, str] = {}
        used = set(self._tables.values())
        for et in types:
            if et.signature in self._tables or et.signature in new:
                continue
            table = "ev_" + _snake(et.name)
            if table in used:
                table = f"{table}_{et.topic0[2:10]}"
            used.add(table)
            new[et.signature] = table
        if not new:
            return new
        ddl = []
        params: list[Any] = []
        by_sig = {et.signature: et for et in types}
        for sig, table in new.items():
            et = by_sig[sig]
            cols = [f"{_quote(n)} {t}" for n, t in META_COLUMNS]
            cols += [f"{_quote(c.name)} {c.sql_type}" for c in et.columns]
            ddl.append(f"CREATE TABLE {_quote(table)} ({', '.join(cols)});")
            params += [
                et.signature,
                et.name,
                et.topic0,
                table,
                json.dumps([[c.name, c.abi_type, c.sql_type] for c in et.columns]),
            ]
        self._exec("\n".join(ddl))
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(new))
        self._exec(f"INSERT INTO event_types VALUES {values}", params)
        return new

    def block_hashes(self, source: str) -> list[tuple[int, str]]:
        """The stored ``(block number, hash)`` of ``source``'s indexed blocks, newest first."""
        rows = self.con.execute(
            "SELECT block_number, block_hash FROM blocks WHERE source = ? ORDER BY block_number DESC",
            [source],
        ).fetchall()
        return [(int(n), str(h)) for n, h in rows]

    def block_hash(self, source: str, block: int) -> str | None:
        """The stored hash of one indexed block of ``source`` (None when not stored)."""
        rows = self.con.execute(
            "SELECT block_hash FROM blocks WHERE source = ? AND block_number = ?", [source, int(block)]
        ).fetchall()
        return None if not rows else str(rows[0][0])

    def rollback(self, source: str, to_block: int) -> int:
        """Forget everything ``source`` indexed above ``to_block``, in one transaction:
        its events, their typed rows, its stored block hashes; the cursor moves back to
        ``to_block``. Returns the number of events removed.

        Used after a chain reorganisation (``to_block`` is the common ancestor); a crash
        at any point leaves the store as it was before or after, never in between.
        """
        to_block = int(to_block)
        self._exec("BEGIN TRANSACTION")
        try:
            n = self.con.execute(
                "SELECT count(*) FROM events WHERE source = ? AND block_number > ?", [source, max(to_block, -1)]
            ).fetchall()[0][0]
            lo = max(to_block, -1)
            for table in sorted(set(self._tables.values())):
                # typed rows have no source column: they are the rows of this source's events
                self._exec(
                    f"DELETE FROM {_quote(table)} WHERE block_number > ? AND (block_number, log_index) IN "
                    "(SELECT block_number, log_index FROM events WHERE source = ? AND block_number > ?)",
                    [lo, source, lo],
                )
            self._exec("DELETE FROM events WHERE source = ? AND block_number > ?", [source, lo])
            self._exec("DELETE FROM blocks WHERE source = ? AND block_number > ?", [source, lo])
            self._exec("UPDATE cursor SET last_block = ? WHERE source = ? AND last_block > ?", [to_block, source, to_block])
            self._exec("COMMIT")
        except BaseException:
            self._exec("ROLLBACK")
            raise
        return int(n)

    def write_batch(
        self,
        source: str,
        last_block: int,
        logs: Sequence[DecodedLog],
        *,
        blocks: Sequence[tuple[int, str, str | None]] = (),
    ) -> None:
        """Store a batch of decoded logs and move ``source``'s cursor to ``last_block``,
        in one transaction; ``blocks`` are ``(number, hash, parent hash)`` of blocks of
        the batch, kept to detect a reorganisation later.

        Raises
        ------
        DataIntegrityError
            When a log's (block, log index) is already stored, or the cursor would move
            backwards; nothing of the batch is written.

        Notes
        -----
        The batch goes to DuckDB as one Arrow table per destination table (``events``
        and each typed table), each inserted by one ``INSERT ... SELECT``; new typed
        tables are created by one statement and recorded in ``event_types`` by another.
        """
        new_tables: dict[str, str] = {}
        self._exec("BEGIN TRANSACTION")
        try:
            prev = self.cursor(source)
            if last_block < prev:
                raise DataIntegrityError(
                    f"source {source!r}: cursor would move back from block {prev} to {last_block}"
                )
            if logs:
                self._insert_events(source, logs)
                groups: dict[str, tuple[EventType, list[DecodedLog]]] = {}
                for d in logs:
                    et = d.event
                    if et is not None:
                        group = groups.get(et.signature)
                        if group is None:
                            groups[et.signature] = (et, [d])
                        else:
                            group[1].append(d)
                new_tables = self._new_tables([et for et, _ in groups.values()])
                for sig, (et, rows) in groups.items():
                    table = self._tables.get(sig) or new_tables[sig]
                    self._insert_typed(table, et, rows)
            if blocks:
                values = ", ".join(["(?, ?, ?, ?)"] * len(blocks))
                params: list[Any] = []
                for n, h, parent in blocks:
                    params += [source, int(n), h, parent]
                self._exec(
                    f"INSERT OR REPLACE INTO blocks VALUES {values}", params
                )
            self._exec(
                "INSERT INTO cursor VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET last_block = excluded.last_block",
                [source, int(last_block)],
            )
            self._exec("COMMIT")
        except duckdb.ConstraintException as exc:
            self._exec("ROLLBACK")
            raise DataIntegrityError(
                f"source {source!r}: batch up to block {last_block} holds a log already stored: {exc}"
            ) from exc
        except BaseException:
            self._exec("ROLLBACK")
            raise
        self._tables.update(new_tables)

    def _insert_arrow(self, sql: str, batch: pa.Table) -> None:
        """Run ``sql``, which reads the Arrow table ``batch`` as ``_openmbs_batch``.

        The table is found by DuckDB's replacement scan (a Python variable of the frame
        that calls ``execute``), which costs less than registering and unregistering a
        view (a catalog change) per table.
        """
        _openmbs_batch = batch  # read by DuckDB's replacement scan
        self.con.execute(sql).fetchall()

    def _insert_events(self, source: str, logs: Sequence[DecodedLog]) -> None:
        raw = [d.log for d in logs]
        events = [d.event for d in logs]
        batch = pa.table(
            {
                "block_number": pa.array([x.block_number for x in raw], pa.uint64()),
                "log_index": pa.array([x.log_index for x in raw], pa.uint64()),
                "tx_hash": pa.array([x.tx_hash for x in raw], pa.string()),
                "tx_index": pa.array([x.tx_index for x in raw], pa.uint64()),
                "block_hash": pa.array([x.block_hash for x in raw], pa.string()),
                "contract_address": pa.array([checksum(x.address) for x in raw], pa.string()),
                "contract": pa.array([d.contract for d in logs], pa.string()),
                "event": pa.array([e.name if e else None for e in events], pa.string()),
                "signature": pa.array([e.signature if e else None for e in events], pa.string()),
                "topic0": pa.array(
                    ["0x" + x.topics[0].hex() if x.topics else None for x in raw], pa.string()
                ),
                "topics": pa.array([_topics_json(x.topics) for x in raw], pa.string()),
                "data": pa.array(["0x" + x.data.hex() for x in raw], pa.string()),
                "args": pa.array([_args_json(d) for d in logs], pa.string()),
                "source": pa.array([source] * len(logs), pa.string()),
            }
        )
        self._insert_arrow("INSERT INTO events SELECT * FROM _openmbs_batch", batch)

    def _insert_typed(self, table: str, et: EventType, rows: Sequence[DecodedLog]) -> None:
        raw = [d.log for d in rows]
        data: dict[str, pa.Array] = {
            "block_number": pa.array([x.block_number for x in raw], pa.uint64()),
            "log_index": pa.array([x.log_index for x in raw], pa.uint64()),
            "tx_hash": pa.array([x.tx_hash for x in raw], pa.string()),
            "contract_address": pa.array([checksum(x.address) for x in raw], pa.string()),
            "contract": pa.array([d.contract for d in rows], pa.string()),
        }
        select = [_quote(n) for n, _ in META_COLUMNS]
        width = len(et.columns)
        columns = list(zip(*[d.row if d.row else [None] * width for d in rows], strict=True))
        for j, col in enumerate(et.columns):
            key = f"c{j}"
            data[key] = _arrow_column(columns[j] if columns else (), col.sql_type)
            select.append(f"CAST({_quote(key)} AS {col.sql_type})")
        self._insert_arrow(
            f"INSERT INTO {_quote(table)} SELECT {', '.join(select)} FROM _openmbs_batch",
            pa.table(data),
        )
