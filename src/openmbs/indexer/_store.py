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
    ``block_number``, ``log_index`` (primary key), ``tx_hash``, ``contract_address``,
    ``contract``, then one column per argument.
``cursor``
    ``source`` (primary key) and ``last_block``: the last block fully indexed from
    that source.

Every batch of blocks is written in ONE transaction together with its cursor update,
so the store only ever holds whole batches: a crash at any point loses at most the
batch in flight, which the next run indexes again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from openmbs.errors import DataIntegrityError
from openmbs.indexer._abi import META_COLUMNS, DecodedLog, EventType, checksum

__all__ = ["EventStore"]

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
"""

_ARROW = {"UBIGINT": pa.uint64(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_()}


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"[^0-9a-zA-Z_]", "_", s).lower()
    return s


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _arrow_column(values: list[Any], sqlt: str) -> pa.Array:
    if sqlt in _ARROW:
        return pa.array(values, type=_ARROW[sqlt])
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


class EventStore:
    """A DuckDB database of indexed events.

    Parameters
    ----------
    path : str or Path, default ":memory:"
        Database file (created with its tables when absent).
    read_only : bool, default False
        Open an existing file read-only (for queries while nothing writes).
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(self.path, read_only=read_only)
        if not read_only:
            self._exec(_DDL)
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

    def _ensure_table(self, et: EventType, new: dict[str, str]) -> str:
        table = self._tables.get(et.signature) or new.get(et.signature)
        if table is not None:
            return table
        used = set(self._tables.values()) | set(new.values())
        table = "ev_" + _snake(et.name)
        if table in used:
            table = f"{table}_{et.topic0[2:10]}"
        cols = [f"{_quote(n)} {t}" for n, t in META_COLUMNS]
        cols += [f"{_quote(c.name)} {c.sql_type}" for c in et.columns]
        cols.append("PRIMARY KEY (block_number, log_index)")
        self._exec(f"CREATE TABLE {_quote(table)} ({', '.join(cols)})")
        self._exec(
            "INSERT INTO event_types VALUES (?, ?, ?, ?, ?)",
            [
                et.signature,
                et.name,
                et.topic0,
                table,
                json.dumps([[c.name, c.abi_type, c.sql_type] for c in et.columns]),
            ],
        )
        new[et.signature] = table
        return table

    def write_batch(self, source: str, last_block: int, logs: Sequence[DecodedLog]) -> None:
        """Store a batch of decoded logs and move ``source``'s cursor to ``last_block``,
        in one transaction.

        Raises
        ------
        DataIntegrityError
            When a log's (block, log index) is already stored, or the cursor would move
            backwards; nothing of the batch is written.
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
                by_table: dict[str, tuple[EventType, list[DecodedLog]]] = {}
                for d in logs:
                    if d.event is not None:
                        t = self._ensure_table(d.event, new_tables)
                        by_table.setdefault(t, (d.event, []))[1].append(d)
                for table, (et, rows) in by_table.items():
                    self._insert_typed(table, et, rows)
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

    def _insert_events(self, source: str, logs: Sequence[DecodedLog]) -> None:
        batch = pa.table(
            {
                "block_number": pa.array([d.log.block_number for d in logs], pa.uint64()),
                "log_index": pa.array([d.log.log_index for d in logs], pa.uint64()),
                "tx_hash": [d.log.tx_hash for d in logs],
                "tx_index": pa.array([d.log.tx_index for d in logs], pa.uint64()),
                "block_hash": pa.array([d.log.block_hash for d in logs], pa.string()),
                "contract_address": [checksum(d.log.address) for d in logs],
                "contract": pa.array([d.contract for d in logs], pa.string()),
                "event": pa.array([d.event.name if d.event else None for d in logs], pa.string()),
                "signature": pa.array(
                    [d.event.signature if d.event else None for d in logs], pa.string()
                ),
                "topic0": pa.array(
                    ["0x" + d.log.topics[0].hex() if d.log.topics else None for d in logs],
                    pa.string(),
                ),
                "topics": [json.dumps(["0x" + t.hex() for t in d.log.topics]) for d in logs],
                "data": ["0x" + d.log.data.hex() for d in logs],
                "args": pa.array(
                    [None if d.args is None else json.dumps(d.args) for d in logs], pa.string()
                ),
                "source": [source] * len(logs),
            }
        )
        self.con.register("_openmbs_batch", batch)
        try:
            self._exec("INSERT INTO events SELECT * FROM _openmbs_batch")
        finally:
            with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it
                self.con.unregister("_openmbs_batch")

    def _insert_typed(self, table: str, et: EventType, rows: Sequence[DecodedLog]) -> None:
        data: dict[str, pa.Array] = {
            "block_number": pa.array([d.log.block_number for d in rows], pa.uint64()),
            "log_index": pa.array([d.log.log_index for d in rows], pa.uint64()),
            "tx_hash": pa.array([d.log.tx_hash for d in rows], pa.string()),
            "contract_address": pa.array([checksum(d.log.address) for d in rows], pa.string()),
            "contract": pa.array([d.contract for d in rows], pa.string()),
        }
        select = [_quote(n) for n, _ in META_COLUMNS]
        for j, col in enumerate(et.columns):
            key = f"c{j}"
            data[key] = _arrow_column([d.row[j] if d.row else None for d in rows], col.sql_type)
            select.append(f"CAST({_quote(key)} AS {col.sql_type})")
        self.con.register("_openmbs_typed", pa.table(data))
        try:
            self._exec(
                f"INSERT INTO {_quote(table)} SELECT {', '.join(select)} FROM _openmbs_typed"
            )
        finally:
            with contextlib.suppress(duckdb.Error):
                self.con.unregister("_openmbs_typed")
