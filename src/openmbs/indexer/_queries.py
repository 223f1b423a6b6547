"""Questions a user asks of the event store, answered from events alone.

The contracts' event names are declared once, in :data:`DEFAULT_EVENT_MAP`: each
*meaning* (``tranche_payment``, ``remittance``, ``transfer``, ``claim``) names an event
and maps the fields a query needs to the event's typed-table columns (struct arguments
are flattened: ``report_interest`` is the ``interest`` field of the ``report``
argument). A deal whose contracts name things differently passes its own map.

Every query returns a ``pyarrow.Table``; money stays in integer base units of the
settlement asset (``decimal128(38, 0)``), rates are decimals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from openmbs.errors import DataIntegrityError, InputError
from openmbs.indexer._store import EventStore

__all__ = [
    "DEFAULT_EVENT_MAP",
    "PROJECTION_TABLE",
    "EventBinding",
    "event_rows",
    "holder_claims",
    "holder_positions",
    "other_income",
    "pool_performance",
    "remittance_reports",
    "store_projection",
    "store_tables",
    "table_rows",
    "tranche_payments",
]


#: Table of an event store holding the pool projection at the deal's assumptions
#: (``period``, ``loss`` in currency units), read by :func:`pool_performance`.
PROJECTION_TABLE = "projection"


@dataclass(frozen=True)
class EventBinding:
    """An event that carries a meaning, and where each field of the meaning lives.

    Attributes
    ----------
    event : str
        Event name (every signature with this name is read).
    fields : mapping
        Meaning field -> column of the event's typed table; a field mapped to ``None``
        (or absent) reads as NULL.
    """

    event: str
    fields: Mapping[str, str | None] = field(default_factory=dict)


#: The one place that ties event names to meanings (openmbs's own contracts).
DEFAULT_EVENT_MAP: Mapping[str, EventBinding] = {
    "tranche_payment": EventBinding(
        "TrancheAllocated",
        {
            "period": "period",
            "tranche": "tranche",
            "interest": "interest",
            "principal": "principal",
            "loss": "loss",
            "balance": "balance",
            "interest_shortfall": "interest_shortfall",
        },
    ),
    "remittance": EventBinding(
        "RemittanceAccepted",
        {
            "period": "period",
            "beginning_balance": "report_beginning_balance",
            "scheduled_principal": "report_scheduled_principal",
            "prepaid_principal": "report_unscheduled_principal",
            "interest": "report_interest",
            "recoveries": "report_recoveries",
            "losses": "report_losses",
            "new_defaults": None,
            "ending_balance": "report_ending_balance",
            "loan_count": "report_loan_count",
            "delinquent_30": "report_delinquent_30",
            "delinquent_60": "report_delinquent_60",
            "delinquent_90_plus": "report_delinquent_90_plus",
            "foreclosure": None,
        },
    ),
    "transfer": EventBinding("Transfer", {"sender": "sender", "receiver": "receiver", "amount": "value"}),
    "claim": EventBinding("Claimed", {"holder": "holder", "tranche": "tranche", "amount": "amount"}),
}

_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _con(db: EventStore | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    return db.con if isinstance(db, EventStore) else db


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _source(
    con: duckdb.DuckDBPyConnection,
    meaning: str,
    event_map: Mapping[str, EventBinding],
    wanted: Mapping[str, str],
) -> str | None:
    """A SELECT over every table of the meaning's event, exposing ``wanted`` fields.

    ``wanted`` maps meaning field -> SQL type to cast to. Returns None when the event
    was never indexed.
    """
    if meaning not in event_map:
        raise InputError(f"event map has no meaning {meaning!r} (has {sorted(event_map)})")
    binding = event_map[meaning]
    tables = [
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM event_types WHERE name = ? ORDER BY table_name", [binding.event]
        ).fetchall()
    ]
    if not tables:
        return None
    parts = []
    for table in tables:
        cols = {
            str(r[0])
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
            ).fetchall()
        }
        select = ["block_number", "log_index", "tx_hash", "contract_address", "contract"]
        for f, sqlt in wanted.items():
            col = binding.fields.get(f)
            if col is not None and col not in cols:
                raise InputError(
                    f"event map: meaning {meaning!r} field {f!r} -> column {col!r}, "
                    f"but table {table!r} ({binding.event}) has columns {sorted(cols)}"
                )
            expr = f"CAST({_q(col)} AS {sqlt})" if col is not None else f"CAST(NULL AS {sqlt})"
            select.append(f"{expr} AS {_q(f)}")
        parts.append(f"SELECT {', '.join(select)} FROM {_q(table)}")
    return " UNION ALL ".join(parts)


def _empty(schema: Mapping[str, pa.DataType]) -> pa.Table:
    return pa.table({k: pa.array([], type=t) for k, t in schema.items()})


_MONEY = pa.decimal128(38, 0)


def tranche_payments(
    db: EventStore | duckdb.DuckDBPyConnection,
    *,
    tranche: int | None = None,
    event_map: Mapping[str, EventBinding] = DEFAULT_EVENT_MAP,
) -> pa.Table:
    """Per-tranche payment history: one row per (period, tranche), in order.

    Columns: ``period``, ``tranche``, ``interest``, ``principal``, ``loss``,
    ``balance`` (after the period), ``interest_shortfall``, ``cumulative_interest``,
    ``cumulative_principal``, ``cumulative_loss``, ``block_number``, ``tx_hash``.
    """
    con = _con(db)
    money = ["interest", "principal", "loss", "balance", "interest_shortfall"]
    wanted = {"period": "BIGINT", "tranche": "BIGINT"} | dict.fromkeys(money, "HUGEINT")
    src = _source(con, "tranche_payment", event_map, wanted)
    schema = {"period": pa.int64(), "tranche": pa.int64()} | dict.fromkeys(money, _MONEY)
    schema |= {
        "cumulative_interest": _MONEY,
        "cumulative_principal": _MONEY,
        "cumulative_loss": _MONEY,
        "block_number": pa.uint64(),
        "tx_hash": pa.string(),
    }
    if src is None:
        return _empty(schema)
    where = "" if tranche is None else f"WHERE tranche = {int(tranche)}"
    sql = f"""
        SELECT period, tranche, interest, principal, loss, balance, interest_shortfall,
            CAST(SUM(interest) OVER w AS HUGEINT) AS cumulative_interest,
            CAST(SUM(principal) OVER w AS HUGEINT) AS cumulative_principal,
            CAST(SUM(loss) OVER w AS HUGEINT) AS cumulative_loss,
            block_number, tx_hash
        FROM ({src}) {where}
        WINDOW w AS (PARTITION BY tranche ORDER BY period, block_number, log_index)
        ORDER BY tranche, period, block_number, log_index
    """
    return con.sql(sql).to_arrow_table()


def holder_positions(
    db: EventStore | duckdb.DuckDBPyConnection,
    *,
    event_map: Mapping[str, EventBinding] = DEFAULT_EVENT_MAP,
) -> pa.Table:
    """Token balances of every holder, rebuilt from transfer events.

    One row per (token contract, holder) with a non-zero history: ``contract``,
    ``contract_address``, ``holder``, ``received``, ``sent``, ``balance`` (``received -
    sent``; mints come from and burns go to the zero address, which is not a holder).
    """
    con = _con(db)
    src = _source(
        con,
        "transfer",
        event_map,
        {"sender": "VARCHAR", "receiver": "VARCHAR", "amount": "HUGEINT"},
    )
    schema = {
        "contract": pa.string(),
        "contract_address": pa.string(),
        "holder": pa.string(),
        "received": _MONEY,
        "sent": _MONEY,
        "balance": _MONEY,
    }
    if src is None:
        return _empty(schema)
    sql = f"""
        WITH t AS ({src}),
        legs AS (
            SELECT contract, contract_address, receiver AS holder, amount AS received,
                CAST(0 AS HUGEINT) AS sent FROM t
            UNION ALL
            SELECT contract, contract_address, sender AS holder, CAST(0 AS HUGEINT), amount FROM t
        )
        SELECT contract, contract_address, holder,
            CAST(SUM(received) AS HUGEINT) AS received,
            CAST(SUM(sent) AS HUGEINT) AS sent,
            CAST(SUM(received) - SUM(sent) AS HUGEINT) AS balance
        FROM legs WHERE holder <> '{_ZERO_ADDRESS}'
        GROUP BY contract, contract_address, holder
        ORDER BY contract, contract_address, holder
    """
    return con.sql(sql).to_arrow_table()


def holder_claims(
    db: EventStore | duckdb.DuckDBPyConnection,
    *,
    holder: str | None = None,
    event_map: Mapping[str, EventBinding] = DEFAULT_EVENT_MAP,
) -> pa.Table:
    """Cash claimed by each holder per tranche: ``holder``, ``tranche``, ``claims``
    (count), ``claimed`` (total), ``last_block``."""
    con = _con(db)
    src = _source(
        con, "claim", event_map, {"holder": "VARCHAR", "tranche": "BIGINT", "amount": "HUGEINT"}
    )
    schema = {
        "holder": pa.string(),
        "tranche": pa.int64(),
        "claims": pa.int64(),
        "claimed": _MONEY,
        "last_block": pa.uint64(),
    }
    if src is None:
        return _empty(schema)
    params: list[Any] = []
    where = ""
    if holder is not None:
        where = "WHERE lower(holder) = lower(?)"
        params.append(holder)
    sql = f"""
        SELECT holder, tranche, CAST(COUNT(*) AS BIGINT) AS claims,
            CAST(SUM(amount) AS HUGEINT) AS claimed, MAX(block_number) AS last_block
        FROM ({src}) {where}
        GROUP BY holder, tranche ORDER BY holder, tranche
    """
    return con.sql(sql, params=params or None).to_arrow_table()


def pool_performance(
    db: EventStore | duckdb.DuckDBPyConnection,
    *,
    projection: Any = None,
    decimals: int = 6,
    event_map: Mapping[str, EventBinding] = DEFAULT_EVENT_MAP,
) -> pa.Table:
    """Pool performance by period from the accepted remittance reports.

    Columns: the report's ``period``, ``beginning_balance``, ``scheduled_principal``,
    ``prepaid_principal``, ``interest``, ``recoveries``, ``losses``, ``ending_balance``,
    ``loan_count``, ``delinquent_30/60/90_plus`` (base units), then

    * ``smm = prepaid / (beginning - scheduled)``, ``cpr = 1 - (1 - smm)^12``;
    * ``mdr = new_defaults / beginning`` when the event map gives new defaults, else the
      liquidation rate ``(recoveries + losses) / beginning``; ``cdr = 1 - (1 - mdr)^12``;
    * ``dq30/dq60/dq90_plus``: delinquent balance / ending balance;
    * ``cumulative_loss``; and with a ``projection`` (a ``PoolCashflows`` or a table
      with ``period`` and ``loss`` in currency units), ``projected_loss`` and
      ``projected_cumulative_loss`` in base units (``round(x * 10**decimals)``).
      Without ``projection``, the store's ``projection`` table (``period``, ``loss``
      in currency units; ``openmbs demo`` writes it) is used when there is one.

    Notes
    -----
    SMM and CPR follow SIFMA Standard Formulas SF-4 (``(1 - SMM)^12 = 1 - CPR``) and
    MDR/CDR the default section; rates are decimals.
    """
    con = _con(db)
    money = [
        "beginning_balance",
        "scheduled_principal",
        "prepaid_principal",
        "interest",
        "recoveries",
        "losses",
        "new_defaults",
        "ending_balance",
        "delinquent_30",
        "delinquent_60",
        "delinquent_90_plus",
        "foreclosure",
    ]
    wanted = {"period": "BIGINT", "loan_count": "BIGINT"} | dict.fromkeys(money, "HUGEINT")
    src = _source(con, "remittance", event_map, wanted)
    if src is None:
        schema = {"period": pa.int64(), "loan_count": pa.int64()} | dict.fromkeys(money, _MONEY)
        schema |= dict.fromkeys(
            ["smm", "cpr", "mdr", "cdr", "dq30", "dq60", "dq90_plus"], pa.float64()
        )
        schema["cumulative_loss"] = _MONEY
        out = _empty(schema)
    else:
        sql = f"""
            WITH r AS ({src}),
            x AS (
                SELECT *,
                    CASE WHEN beginning_balance - scheduled_principal > 0
                        THEN CAST(prepaid_principal AS DOUBLE)
                            / CAST(beginning_balance - scheduled_principal AS DOUBLE)
                        ELSE 0.0 END AS smm,
                    CASE WHEN beginning_balance > 0 THEN
                        CAST(COALESCE(new_defaults, recoveries + losses) AS DOUBLE)
                            / CAST(beginning_balance AS DOUBLE)
                        ELSE 0.0 END AS mdr
                FROM r
            )
            SELECT period, loan_count, {", ".join(money)},
                smm, 1 - pow(1 - smm, 12) AS cpr, mdr, 1 - pow(1 - mdr, 12) AS cdr,
                CASE WHEN ending_balance > 0 THEN CAST(delinquent_30 AS DOUBLE) / CAST(ending_balance AS DOUBLE) END AS dq30,
                CASE WHEN ending_balance > 0 THEN CAST(delinquent_60 AS DOUBLE) / CAST(ending_balance AS DOUBLE) END AS dq60,
                CASE WHEN ending_balance > 0 THEN CAST(delinquent_90_plus AS DOUBLE) / CAST(ending_balance AS DOUBLE) END AS dq90_plus,
                CAST(SUM(losses) OVER (ORDER BY period, block_number, log_index) AS HUGEINT) AS cumulative_loss
            FROM x ORDER BY period, block_number, log_index
        """
        out = con.sql(sql).to_arrow_table()
    if projection is None:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if PROJECTION_TABLE not in tables:
            return out
        projection = con.sql(
            f"SELECT period, loss FROM {_q(PROJECTION_TABLE)} ORDER BY period"
        ).to_arrow_table()
    if hasattr(projection, "period") and hasattr(projection, "loss") and not isinstance(projection, pa.Table):
        proj_period = np.asarray(projection.period, dtype=np.int64)
        proj_loss = np.asarray(projection.loss, dtype=np.float64)
    elif isinstance(projection, pa.Table):
        if not {"period", "loss"} <= set(projection.column_names):
            raise InputError(
                f"projection table needs columns 'period' and 'loss', has {projection.column_names}"
            )
        proj_period = projection.column("period").to_numpy().astype(np.int64)
        proj_loss = projection.column("loss").to_numpy().astype(np.float64)
    else:
        raise InputError(
            f"projection must be a PoolCashflows or a pyarrow.Table, got {type(projection).__name__}"
        )
    units = np.rint(proj_loss * 10.0**decimals).astype(np.int64)
    lookup = dict(zip(proj_period.tolist(), units.tolist(), strict=True))
    cum = dict(zip(proj_period.tolist(), np.cumsum(units).tolist(), strict=True))
    periods = out.column("period").to_pylist()
    out = out.append_column("projected_loss", pa.array([lookup.get(p) for p in periods], pa.int64()))
    return out.append_column(
        "projected_cumulative_loss", pa.array([cum.get(p) for p in periods], pa.int64())
    )


def store_projection(store: EventStore, projection: Any) -> None:
    """Store the pool projection at the deal's assumptions in the :data:`PROJECTION_TABLE`
    table (replaced), for :func:`pool_performance`'s realised vs projected losses.

    ``projection`` is a ``PoolCashflows`` (its ``period`` and ``loss``, currency units)
    or a ``pyarrow.Table`` with columns ``period`` and ``loss``.
    """
    if isinstance(projection, pa.Table):
        if not {"period", "loss"} <= set(projection.column_names):
            raise InputError(
                f"projection table needs columns 'period' and 'loss', has {projection.column_names}"
            )
        period, loss = projection.column("period"), projection.column("loss")
    else:
        period, loss = projection.period, projection.loss
    proj = pa.table(
        {
            "period": pa.array(np.asarray(period, dtype=np.int64), pa.int64()),
            "loss": pa.array(np.asarray(loss, dtype=np.float64), pa.float64()),
        }
    )
    con = store.con
    con.register("_projection_in", proj)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {_q(PROJECTION_TABLE)} AS SELECT * FROM _projection_in")
    finally:
        con.unregister("_projection_in")


_POSITION = ("block_number", "log_index")


def store_tables(db: EventStore | duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of the store's event data, sorted: ``events`` (every log, raw) and the
    typed table of each event signature seen (``ev_*``)."""
    con = _con(db)
    names = {
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
    }
    return sorted(t for t in names if t == "events" or t.startswith("ev_"))


def table_rows(db: EventStore | duckdb.DuckDBPyConnection, table: str) -> list[dict[str, Any]]:
    """Every row of an event table (one of :func:`store_tables`), in chain order: the
    position (``block_number``, ``log_index``) as integers, every other column as its
    text (``None`` for NULL), so two stores' rows compare exactly whatever the column
    types. Raises :class:`InputError` for a table that is not an event table."""
    con = _con(db)
    if table not in store_tables(con):
        raise InputError(f"event store: no event table {table!r} (has {store_tables(con)})")
    cols = [str(r[0]) for r in con.execute(f"DESCRIBE {_q(table)}").fetchall()]
    sel = ", ".join(_q(c) if c in _POSITION else f"CAST({_q(c)} AS VARCHAR) AS {_q(c)}" for c in cols)
    cur = con.execute(f"SELECT {sel} FROM {_q(table)} ORDER BY block_number, log_index")
    header = [str(d[0]) for d in cur.description]
    return [dict(zip(header, r, strict=True)) for r in cur.fetchall()]


def event_rows(db: EventStore | duckdb.DuckDBPyConnection, event: str) -> list[dict[str, Any]] | None:
    """Every stored event named ``event`` (all its signatures' typed tables), in chain
    order, as :func:`table_rows` gives them (columns as text: a value is ``None`` when
    stored NULL, and is the caller's to parse). ``None`` when no event of that name was
    ever indexed."""
    con = _con(db)
    known = set(store_tables(con))
    tables = [
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM event_types WHERE name = ? ORDER BY table_name", [event]
        ).fetchall()
        if str(r[0]) in known
    ]
    if not tables:
        return None
    rows = [row for t in tables for row in table_rows(con, t)]
    rows.sort(key=lambda r: (int(r["block_number"]), int(r["log_index"])))
    return rows


def other_income(db: EventStore | duckdb.DuckDBPyConnection) -> dict[int, int]:
    """The other income each period distributed beside the servicer's cash: late-report
    penalties the servicer's bond paid to the deal (``Deal.OtherIncomeDistributed``),
    ``{period: base units}``; periods without any are absent (an empty dict when the
    store holds none). The exact engine takes it as ``exact_remittance(report,
    other_income=...)``.

    Raises
    ------
    DataIntegrityError
        A stored event whose period or amount is not a non-negative integer (named
        with its block and log index).
    """
    out: dict[int, int] = {}
    for r in event_rows(db, "OtherIncomeDistributed") or []:
        where = f"event store: OtherIncomeDistributed at block {r['block_number']} log {r['log_index']}"
        for f in ("period", "amount"):
            v = r.get(f)
            if v is None or not str(v).isdigit():
                raise DataIntegrityError(f"{where}: field {f!r} value {v!r} is not a non-negative integer")
        k = int(r["period"])
        out[k] = out.get(k, 0) + int(r["amount"])
    return out


def remittance_reports(
    db: EventStore | duckdb.DuckDBPyConnection,
    *,
    event_map: Mapping[str, EventBinding] = DEFAULT_EVENT_MAP,
) -> list[dict[str, Any]] | None:
    """The accepted remittance reports, in chain order, keyed by the fields of
    :class:`openmbs.oracle.RemittanceReport` (the one definition of a report).

    Each report field ``f`` is the event's flattened ``report`` argument column
    ``report_<f>``; ``period`` and ``loan_tape_root`` are the event's own arguments (what
    the oracle accepted and stores), when it has them. Values are the stored text
    (``None`` when missing), plus ``block_number`` and ``log_index``; the caller parses
    them. ``None`` when no report was ever indexed.
    """
    from openmbs.oracle import RemittanceReport

    rows = event_rows(db, event_map["remittance"].event)
    if rows is None:
        return None
    names = [f.name for f in dataclasses.fields(RemittanceReport)]
    out = []
    for r in rows:
        rep = {n: r.get(f"report_{n}") for n in names}
        for own in ("period", "loan_tape_root"):
            if own in r:
                rep[own] = r[own]
        out.append({"block_number": r["block_number"], "log_index": r["log_index"], **rep})
    return out
