"""The dashboard while an indexer writes the store.

DuckDB's file lock lets one process write a database file, and while it holds the
file no other process can open it, read-only or not. These tests show what the
dashboard does about it (docs/web.md, "Reading while an indexer writes"):

* a writer in another process that opens the file per batch (as ``Indexer`` batches
  are committed) and the dashboard, which opens it per request, take turns: every
  request answers, and a reload shows each batch once it is committed;
* a writer that keeps the file open makes requests answer 503 with Retry-After (never
  a 500 or a hang), and pages load again once it lets go;
* an indexer in the dashboard's own process (``create_app(store=...)``) is read
  through cursors of its connection: each committed batch shows on the next reload.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import duckdb
from web_helpers import start_server, stop_server

from openmbs.indexer import EventStore


def _typed_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(r[0]) for r in con.execute("SELECT table_name FROM event_types").fetchall()]


def _truncate(path: Path, keep_block: int) -> int:
    """Forget every event above ``keep_block`` (an indexer that is behind); returns the
    highest block of the original."""
    con = duckdb.connect(str(path))
    try:
        top = int(con.execute("SELECT max(block_number) FROM events").fetchall()[0][0])
        for t in [*_typed_tables(con), "events"]:
            con.execute(f'DELETE FROM "{t}" WHERE block_number > ?', [keep_block])
        con.execute("UPDATE cursor SET last_block = ?", [keep_block])
    finally:
        con.close()
    return top


#: A writer in another process: for each block, open the store, copy the block's rows
#: from the full store in one transaction with the cursor, close (an indexer's batch).
WRITER = textwrap.dedent(
    """
    import sys, time, duckdb
    target, full, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for block in range(first, last + 1):
        while True:
            try:
                con = duckdb.connect(target)
                break
            except duckdb.IOException:
                time.sleep(0.01)  # the dashboard holds it for a request: wait for it
        con.execute(f"ATTACH '{full}' AS src_db (READ_ONLY)")
        tables = [r[0] for r in con.execute("SELECT table_name FROM event_types").fetchall()]
        con.execute("BEGIN")
        for t in ["events", *tables]:
            con.execute(f'INSERT INTO "{t}" SELECT * FROM src_db."{t}" WHERE block_number = ?', [block])
        con.execute("UPDATE cursor SET last_block = ?", [block])
        con.execute("COMMIT")
        con.close()
        time.sleep(0.05)
    """
)


def _periods(body: str) -> int:
    return len(re.findall(r'<tr data-period="\d+">', body))


def test_reload_shows_batches_a_writer_in_another_process_commits(
    run_dir: Path, serve: Any, tmp_path: Path
) -> None:
    full = run_dir / "events.duckdb"
    events = tmp_path / "events.duckdb"
    shutil.copy(full, events)
    con = duckdb.connect(str(full), read_only=True)
    deal = con.execute("SELECT contract_address FROM ev_deal_configured").fetchall()[0][0]
    blocks = sorted(
        int(r[0]) for r in con.execute("SELECT DISTINCT block_number FROM ev_distributed").fetchall()
    )
    con.close()
    keep = blocks[5]  # the store holds the first six distributions
    top = _truncate(events, keep)
    s = serve(events, run_dir, lock_wait=5.0)
    code, body, _ = s.get(f"/deal/{deal}/distributions")
    assert code == 200 and _periods(body) == 6

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(events), str(full), str(keep + 1), str(top)]
    )
    seen: list[tuple[int, int]] = []
    try:
        while writer.poll() is None:
            code, body, _ = s.get(f"/deal/{deal}/distributions")
            seen.append((code, _periods(body) if code == 200 else -1))
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert {c for c, _ in seen} <= {200, 503}
    counts = [n for c, n in seen if c == 200]
    assert counts == sorted(counts)  # never goes back
    code, body, _ = s.get(f"/deal/{deal}/distributions")
    assert code == 200 and _periods(body) == len(blocks)


#: A writer that opens the store and holds it until told to let go.
HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    sys.stdin.readline()
    con.close()
    """
)


def test_a_writer_holding_the_file_gives_503_then_pages_load(
    run_dir: Path, serve: Any, tmp_path: Path
) -> None:
    events = tmp_path / "events.duckdb"
    shutil.copy(run_dir / "events.duckdb", events)
    s = serve(events, run_dir, lock_wait=0.3)
    assert s.get("/")[0] == 200
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(events)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, body, headers = s.get("/")
        assert code == 503
        assert headers.get("Retry-After") == "2"
        assert "is held by a writer" in body and str(events) in body
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert s.get("/")[0] == 200


def test_an_indexer_in_the_same_process_is_read_through_cursors(
    run_dir: Path, tmp_path: Path
) -> None:
    from openmbs.web import create_app

    full = run_dir / "events.duckdb"
    events = tmp_path / "events.duckdb"
    shutil.copy(full, events)
    top = _truncate(events, 2)
    store = EventStore(events)  # the writer's connection, held for the whole test
    s = start_server(create_app(store=store), events, None)
    try:
        deal = store.con.execute("SELECT contract_address FROM ev_deal_configured").fetchall()[0][0]
        store.con.execute(f"ATTACH '{full}' AS src_db (READ_ONLY)")
        tables = [str(r[0]) for r in store.con.execute("SELECT table_name FROM event_types").fetchall()]
        shown = []
        for block in range(3, top + 1):
            store.con.execute("BEGIN")
            for t in ["events", *tables]:
                store.con.execute(
                    f'INSERT INTO "{t}" SELECT * FROM src_db."{t}" WHERE block_number = ?', [block]
                )
            store.con.execute("UPDATE cursor SET last_block = ?", [block])
            store.con.execute("COMMIT")
            code, body, _ = s.get(f"/deal/{deal}/distributions")
            assert code == 200
            want = store.con.execute("SELECT count(*) FROM ev_distributed").fetchall()[0][0]
            assert _periods(body) == want  # what was committed, at once
            shown.append(_periods(body))
        assert shown[-1] > shown[0]
    finally:
        stop_server(s)
        store.close()


def test_requests_run_concurrently_without_error(served: Any, run_dir: Path) -> None:
    """Several readers at once: each request opens and closes its own connection."""
    con = duckdb.connect(str(run_dir / "events.duckdb"), read_only=True)
    deal = con.execute("SELECT contract_address FROM ev_deal_configured").fetchall()[0][0]
    con.close()
    codes: list[int] = []

    def hit() -> None:
        for path in ("/", f"/deal/{deal}", f"/deal/{deal}/performance"):
            codes.append(served.get(path)[0])

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert codes == [200] * 12
