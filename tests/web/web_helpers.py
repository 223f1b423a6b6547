"""What the dashboard tests compare pages with: the event store's own figures, read
with the indexer's queries and plain SQL (never with ``openmbs.web``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def units(text: str) -> int:
    """Base units of an exact decimal shown by the dashboard (``1,234.500000`` with 6
    decimals -> 1234500000)."""
    t = text.strip().replace(",", "")
    neg = t.startswith("-")
    t = t.lstrip("-")
    whole, _, frac = t.partition(".")
    assert len(frac) == 6, f"shown value {text!r} is not exact to 6 decimals"
    v = int(whole) * 10**6 + int(frac)
    return -v if neg else v


def store(path: Path) -> duckdb.DuckDBPyConnection:
    """The event store, opened read-only as an untrusted file."""
    from openmbs.indexer import open_untrusted

    return open_untrusted(path)


def deal_row(con: duckdb.DuckDBPyConnection) -> tuple[str, str, list[str]]:
    """(deal address, oracle address, token addresses) of the store's one deal."""
    import json

    rows = con.execute(
        "SELECT contract_address, oracle, CAST(tokens AS VARCHAR) FROM ev_deal_configured"
    ).fetchall()
    assert len(rows) == 1
    return str(rows[0][0]), str(rows[0][1]), [str(t) for t in json.loads(rows[0][2])]


def distributed(con: duckdb.DuckDBPyConnection) -> dict[int, dict[str, Any]]:
    """Per period, the ``Distributed`` event's figures."""
    out = {}
    for p, cash, fee, residual, reserve, credited in con.execute(
        "SELECT CAST(period AS BIGINT), CAST(cash AS HUGEINT), CAST(fee AS HUGEINT), "
        "CAST(residual AS HUGEINT), CAST(reserve_balance AS HUGEINT), CAST(credited AS HUGEINT) "
        "FROM ev_distributed"
    ).fetchall():
        out[int(p)] = {
            "cash": int(cash),
            "fee": int(fee),
            "residual": int(residual),
            "reserve_balance": int(reserve),
            "credited": int(credited),
        }
    return out
