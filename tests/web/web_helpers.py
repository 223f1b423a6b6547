"""Helpers of the dashboard tests: a server in a thread, and the event store's own figures,
read with the indexer's queries and plain SQL (never with ``openmbs.web``)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
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


@dataclass
class Served:
    """A dashboard being served: its base URL and the app's inputs."""

    url: str
    events: Path
    run: Path | None
    server: Any
    thread: threading.Thread

    def get(self, path: str) -> tuple[int, str, Message]:
        """Status, body and headers (case-insensitive) of a GET (4xx/5xx are returned,
        not raised)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as r:
                return r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(app: Any, events: Path, run: Path | None) -> Served:
    """Serve ``app`` with uvicorn in a thread on a free port; returns once it listens."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"dashboard did not start on port {port}")
        time.sleep(0.05)
    return Served(f"http://127.0.0.1:{port}", events, run, server, thread)


def stop_server(s: Served) -> None:
    s.server.should_exit = True
    s.thread.join(timeout=30)
