"""Event indexer: contract logs -> DuckDB, resumable with no gap and no duplicate.

A :class:`LogSource` (a JSON-RPC node, or logs collected from titanoboa's embedded EVM)
is read by block batches; each log is decoded with the registered contract ABIs and
stored, with the cursor of its source, in one DuckDB transaction per batch. The query
functions answer a user's questions from the events alone. See ``docs/indexer.md``.
"""

from __future__ import annotations

from openmbs.indexer._abi import (
    ContractRegistry,
    DecodedLog,
    EventColumn,
    EventType,
    abi_of,
    sql_type,
)
from openmbs.indexer._deal import DealContracts, deal_contracts, registry_for_deal
from openmbs.indexer._export import BIGNUM_DECIMAL, event_table, export_parquet
from openmbs.indexer._indexer import DEFAULT_DB_NAME, Indexer, IndexStats, default_db_path
from openmbs.indexer._queries import (
    DEFAULT_EVENT_MAP,
    PROJECTION_TABLE,
    EventBinding,
    event_rows,
    holder_claims,
    holder_positions,
    other_income,
    pool_performance,
    remittance_reports,
    store_projection,
    store_tables,
    table_rows,
    tranche_payments,
)
from openmbs.indexer._sources import (
    BoaLogCollector,
    LogSource,
    MemoryLogSource,
    RawLog,
    RpcLogSource,
    parse_rpc_log,
)
from openmbs.indexer._statement_queries import (
    STATEMENT_EVENT_MAP,
    accepted_remittances,
    distributions,
)
from openmbs.indexer._store import UNTRUSTED_CONFIG, EventStore, open_untrusted, verify_store

__all__ = [
    "BIGNUM_DECIMAL",
    "DEFAULT_DB_NAME",
    "DEFAULT_EVENT_MAP",
    "PROJECTION_TABLE",
    "STATEMENT_EVENT_MAP",
    "UNTRUSTED_CONFIG",
    "BoaLogCollector",
    "ContractRegistry",
    "DealContracts",
    "DecodedLog",
    "EventBinding",
    "EventColumn",
    "EventStore",
    "EventType",
    "IndexStats",
    "Indexer",
    "LogSource",
    "MemoryLogSource",
    "RawLog",
    "RpcLogSource",
    "abi_of",
    "accepted_remittances",
    "deal_contracts",
    "default_db_path",
    "distributions",
    "event_rows",
    "event_table",
    "export_parquet",
    "holder_claims",
    "holder_positions",
    "open_untrusted",
    "other_income",
    "parse_rpc_log",
    "pool_performance",
    "registry_for_deal",
    "remittance_reports",
    "sql_type",
    "store_projection",
    "store_tables",
    "table_rows",
    "tranche_payments",
    "verify_store",
]
