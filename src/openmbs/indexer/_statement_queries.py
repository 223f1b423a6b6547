"""What a distribution statement reads from the event store: the accepted reports with
their evidence, and the deal's distributions.

Two queries over :data:`STATEMENT_EVENT_MAP` (openmbs's own event names; a deal whose
contracts name things differently passes its own map, as with the other queries):

* :func:`accepted_remittances`: one row per accepted period, the report's figures, the
  EIP-712 digest the attestors signed, the loan tape's Merkle root, the signers and the
  transaction that carried it;
* :func:`distributions`: one row per distributed period, the cash, fees, residual,
  reserve balance and the waterfall's state words.

Money stays in integer base units (``decimal128(38, 0)``); ``signers`` and ``state``
are JSON text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import duckdb
import pyarrow as pa

from openmbs.indexer._queries import EventBinding, _con, _empty, _source
from openmbs.indexer._store import EventStore
from openmbs.oracle import RemittanceReport

__all__ = ["STATEMENT_EVENT_MAP", "accepted_remittances", "distributions"]

#: The report's figures (every field of :class:`openmbs.oracle.RemittanceReport`, the
#: one definition of a report, but the event's own ``period`` / ``loan_tape_root`` and
#: the count).
_REPORT_MONEY = tuple(
    f.name for f in dataclasses.fields(RemittanceReport)
    if f.name not in ("period", "loan_count", "loan_tape_root")
)

#: Meaning -> event of the statement's queries (openmbs's own contracts).
STATEMENT_EVENT_MAP: Mapping[str, EventBinding] = {
    "accepted_report": EventBinding(
        "RemittanceAccepted",
        {
            "period": "period",
            "digest": "digest",
            "loan_tape_root": "loan_tape_root",
            "signers": "signers",
            "loan_count": "report_loan_count",
            **{f: f"report_{f}" for f in _REPORT_MONEY},
        },
    ),
    "distribution": EventBinding(
        "Distributed",
        {
            "period": "period",
            "cash": "cash",
            "fee": "fee",
            "residual": "residual",
            "reserve_balance": "reserve_balance",
            "credited": "credited",
            "state": "state",
        },
    ),
}

_MONEY = pa.decimal128(38, 0)


def accepted_remittances(
    db: EventStore | duckdb.DuckDBPyConnection,
    *,
    event_map: Mapping[str, EventBinding] = STATEMENT_EVENT_MAP,
) -> pa.Table:
    """Every accepted remittance report with its evidence, in period order.

    Columns: ``period``, ``loan_count``, the report's money fields (``scheduled_principal``,
    ``unscheduled_principal``, ``interest``, ``recoveries``, ``losses``,
    ``beginning_balance``, ``ending_balance``, ``delinquent_30``, ``delinquent_60``,
    ``delinquent_90_plus``, ``index_rate`` (WAD), ``cash``, ``subsequent_recoveries``,
    ``advances``, ``advance_reimbursements``, ``liquidation_reimbursements``,
    ``prepayment_penalties``, ``late_fees``; base units), ``digest`` (the EIP-712 digest the attestors signed), ``loan_tape_root``,
    ``signers`` (JSON array of addresses), ``block_number``, ``tx_hash``.
    """
    con = _con(db)
    wanted = {"period": "BIGINT", "loan_count": "BIGINT"} | dict.fromkeys(_REPORT_MONEY, "HUGEINT")
    wanted |= {"digest": "VARCHAR", "loan_tape_root": "VARCHAR", "signers": "VARCHAR"}
    src = _source(con, "accepted_report", event_map, wanted)
    schema: dict[str, pa.DataType] = {"period": pa.int64(), "loan_count": pa.int64()}
    schema |= dict.fromkeys(_REPORT_MONEY, _MONEY)
    schema |= {
        "digest": pa.string(),
        "loan_tape_root": pa.string(),
        "signers": pa.string(),
        "block_number": pa.uint64(),
        "tx_hash": pa.string(),
    }
    if src is None:
        return _empty(schema)
    cols = ", ".join(schema)
    return con.sql(f"SELECT {cols} FROM ({src}) ORDER BY period, block_number, log_index").to_arrow_table()


def distributions(
    db: EventStore | duckdb.DuckDBPyConnection,
    *,
    event_map: Mapping[str, EventBinding] = STATEMENT_EVENT_MAP,
) -> pa.Table:
    """Every distribution of the deal, in period order.

    Columns: ``period``, ``cash`` (remitted), ``fee`` (all fees paid), ``residual`` (paid
    to the residual holder), ``reserve_balance`` (after the period), ``credited`` (cash
    credited to the classes), ``state`` (JSON array of the waterfall's state words),
    ``block_number``, ``tx_hash``.
    """
    con = _con(db)
    money = ("cash", "fee", "residual", "reserve_balance", "credited")
    wanted = {"period": "BIGINT"} | dict.fromkeys(money, "HUGEINT") | {"state": "VARCHAR"}
    src = _source(con, "distribution", event_map, wanted)
    schema: dict[str, pa.DataType] = {"period": pa.int64()} | dict.fromkeys(money, _MONEY)
    schema |= {"state": pa.string(), "block_number": pa.uint64(), "tx_hash": pa.string()}
    if src is None:
        return _empty(schema)
    cols = ", ".join(schema)
    return con.sql(f"SELECT {cols} FROM ({src}) ORDER BY period, block_number, log_index").to_arrow_table()
