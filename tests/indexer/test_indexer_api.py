"""The public API of ``openmbs.indexer`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.indexer as indexer
from api_pin import check_public_api

PUBLIC = [
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

SIGNATURES = {
    "Indexer": "(store: 'EventStore', source: 'LogSource', registry: 'ContractRegistry', *, batch_blocks: 'int' = 1000, confirmations: 'int | None' = None, start_block: 'int' = 0) -> 'None'",
    "EventStore": "(path: 'str | os.PathLike[str]' = ':memory:', *, read_only: 'bool' = False) -> 'None'",
    "deal_contracts": "(url: 'str', deal: 'str') -> 'DealContracts'",
    "registry_for_deal": "(url: 'str', deal: 'str') -> 'ContractRegistry'",
    "verify_store": "(con: 'duckdb.DuckDBPyConnection', path: 'str', *, new: 'bool' = False) -> 'None'",
}


def test_indexer_public_api() -> None:
    check_public_api(indexer, PUBLIC, SIGNATURES)
