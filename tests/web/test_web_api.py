"""The public API of ``openmbs.web`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.web as web
from api_pin import check_public_api

PUBLIC = [
    "ClassRow",
    "Deal",
    "LoanCheck",
    "Position",
    "Series",
    "StoreBusy",
    "check_address",
    "create_app",
    "deal_classes",
    "deals",
    "distributions",
    "find_deal",
    "fmt_units",
    "line_chart",
    "onchain_root",
    "verify_loan",
    "wallet_positions",
]

SIGNATURES = {
    "create_app": "(events: 'str | Path | None' = None, *, store: 'EventStore | None' = None, run: 'str | Path | None' = None, decimals: 'int' = 6, lock_wait: 'float' = 2.0) -> 'Starlette'",
    "verify_loan": "(con: 'duckdb.DuckDBPyConnection', deal: 'Deal', run: 'str | Path', loan_id: 'str', period: 'int', *, proof: 'list[str] | None' = None) -> 'LoanCheck'",
}


def test_web_public_api() -> None:
    check_public_api(web, PUBLIC, SIGNATURES)
