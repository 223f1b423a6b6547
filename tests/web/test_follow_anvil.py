"""`openmbs index --follow` beside `openmbs serve`, on a real node (anvil).

A deal is deployed and its offering closed through the CLI; `openmbs index --follow`
runs as a subprocess (it opens the store for each pass and closes it before sleeping)
while the dashboard serves the same file (opened read-only for each request). Each
period remitted through `openmbs servicer remit` appears on the distributions page
within a timeout, and every figure the page shows equals the event store's. Then the
command's one-line errors: a node that does not answer, an address that is no deal, a
record of another chain; and SIGTERM stops the follower cleanly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boa
import pytest
from eth_account import Account
from typer.testing import CliRunner
from web_helpers import Served, distributed, start_server, stop_server, store, units

from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ATTESTOR_KEYS = ["0x" + (bytes([i + 1]) * 32).hex() for i in range(5)]
ENV_NAMES = ("OPENMBS_PRIVATE_KEY", "ETH_PRIVATE_KEY", "OPENMBS_DEAL", "ETH_RPC_URL", "OPENMBS_ATTESTOR_KEYS")


@pytest.fixture
def node() -> Any:
    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    n = start_anvil(find_anvil() or install_anvil())
    saved = boa.env
    try:
        yield n
    finally:
        n.stop()
        boa.set_env(saved)


def _ok(args: list[str]) -> str:
    from openmbs.cli import app

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, (res.output, res.exception)
    return str(res.output)


def _openmbs(*args: str) -> list[str]:
    return [sys.executable, "-m", "openmbs", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["PYTHONPATH"] = str(REPO / "src")
    return env


def _deploy(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A deal on the node with its offering closed (all classes bought by the operator)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ETH_RPC_URL", node.url)
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[0])
    state = tmp_path / "deployment.json"
    attestors = ",".join(Account.from_key(k).address for k in ATTESTOR_KEYS)
    _ok(["chain", "deploy", "four_tranche", "--state", str(state), "--attestors", attestors,
         "--quorum", "3", "--loans", "10"])
    record = json.loads(state.read_text())
    monkeypatch.setenv("OPENMBS_DEAL", record["contracts"]["deal"])
    operator = Account.from_key(ANVIL_KEYS[0])
    _ok(["offering", "open", "--state", str(state), "--allow", operator.address])
    for t in record["config"]["tranches"]:
        _ok(["offering", "subscribe", "--state", str(state), "--tranche", t["symbol"],
             "--amount", str(int(t["face"])), "--mint"])
    _ok(["offering", "close", "--state", str(state)])
    _ok(["offering", "settle", "--state", str(state)])
    monkeypatch.setenv("OPENMBS_ATTESTOR_KEYS", ",".join(ATTESTOR_KEYS[:3]))
    return state


def _remit(state: Path, tmp_path: Path, period: int) -> None:
    out = tmp_path / f"period{period}.csv"
    prev = ["--previous", str(tmp_path / f"period{period - 1}.csv")] if period > 1 else []
    _ok(["servicer", "records", "--deal", str(state), "--out", str(out), *prev])
    assert f"period {period} accepted" in _ok(["servicer", "remit", "--deal", str(state), "--records", str(out)])


_ROW = re.compile(r'<tr data-period="(\d+)">(.*?)</tr>', re.S)
_CELL = re.compile(r'<td class="num ([a-z0-9_-]+)">([^<]*)</td>')


def _shown(s: Served, deal: str) -> dict[int, dict[str, int]]:
    """The distributions page's figures per period (an empty dict while the store is
    missing, locked or has not reached the deal yet)."""
    code, body, _ = s.get(f"/deal/{deal}/distributions")
    if code != 200:
        return {}
    return {
        int(p): {k: units(v) for k, v in _CELL.findall(cells) if k != "period"}
        for p, cells in _ROW.findall(body)
    }


def _wait_for(s: Served, deal: str, periods: int, follower: subprocess.Popen[str]) -> dict[int, dict[str, int]]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert follower.poll() is None, follower.communicate()
        shown = _shown(s, deal)
        if len(shown) >= periods:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"the dashboard did not show {periods} period(s) within 120 s")


def _store_figures(events: Path) -> dict[int, dict[str, int]]:
    """Per period, the ``Distributed`` and ``TrancheAllocated`` figures of the store, in
    the page's column names."""
    con = store(events)
    try:
        out = {p: dict(v) for p, v in distributed(con).items()}
        for p, tranche, interest, principal, loss, balance in con.execute(
            "SELECT CAST(period AS BIGINT), CAST(tranche AS BIGINT), CAST(interest AS HUGEINT), "
            "CAST(principal AS HUGEINT), CAST(loss AS HUGEINT), CAST(balance AS HUGEINT) "
            "FROM ev_tranche_allocated"
        ).fetchall():
            out[int(p)].update({
                f"c{tranche}-interest": int(interest), f"c{tranche}-principal": int(principal),
                f"c{tranche}-loss": int(loss), f"c{tranche}-balance": int(balance),
            })
    finally:
        con.close()
    return out


def test_follower_and_dashboard_side_by_side(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openmbs.web import create_app

    state = _deploy(node, tmp_path, monkeypatch)
    deal = json.loads(state.read_text())["contracts"]["deal"]
    events = tmp_path / "events.duckdb"
    # one pass first: the store exists (the dashboard refuses a missing file) and holds the deal
    first = json.loads(subprocess.run(
        _openmbs("index", "--rpc", node.url, "--state", str(state), "--db", str(events),
                 "--confirmations", "0", "--json"),
        capture_output=True, text=True, env=_env(), timeout=300, check=True,
    ).stdout)
    assert first["deal"] == deal and first["logs"] > 0 and first["cursor"] == int(node.rpc("eth_blockNumber", []), 16)
    follower = subprocess.Popen(
        _openmbs("index", "--rpc", node.url, "--deal", deal, "--db", str(events), "--follow",
                 "--interval", "0.5", "--confirmations", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    s = start_server(create_app(events, lock_wait=5.0), events, None)
    try:
        assert _shown(s, deal) == {}
        _remit(state, tmp_path, 1)
        shown = _wait_for(s, deal, 1, follower)
        assert shown == _store_figures(events) and list(shown) == [1]
        assert shown[1]["cash"] > 0 and shown[1]["c0-principal"] > 0
        _remit(state, tmp_path, 2)
        shown = _wait_for(s, deal, 2, follower)
        assert shown == _store_figures(events) and list(shown) == [1, 2]
        assert shown[2]["c0-balance"] < shown[1]["c0-balance"]
    finally:
        stop_server(s)
        if follower.poll() is None:
            follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert "Traceback" not in err and out.rstrip().endswith("stopped"), (out, err)
    # the follower is gone: the file is free for a writer again
    from openmbs.indexer import EventStore

    EventStore(events).close()


def _one_line_error(args: list[str]) -> str:
    proc = subprocess.run(_openmbs("index", *args), capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_bad_input_is_one_line(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _deploy(node, tmp_path, monkeypatch)
    record = json.loads(state.read_text())
    db = str(tmp_path / "events.duckdb")
    # a node that does not answer
    line = _one_line_error(["--rpc", "http://127.0.0.1:9", "--deal", record["contracts"]["deal"], "--db", db])
    assert "127.0.0.1:9" in line
    # a contract that is not a deal (the settlement token), and an address with no code
    line = _one_line_error(["--rpc", node.url, "--deal", record["contracts"]["settlement"], "--db", db])
    assert "no DealConfigured event" in line and record["contracts"]["settlement"] in line
    line = _one_line_error(["--rpc", node.url, "--deal", "0x" + "11" * 20, "--db", db])
    assert "no contract at that address" in line
    # a record of this chain, against a node of another
    other = start_anvil(find_anvil() or install_anvil(), chain_id=999)
    try:
        line = _one_line_error(["--rpc", other.url, "--state", str(state), "--db", db])
    finally:
        other.stop()
    assert "31337" in line and "chain 999" in line and str(state) in line
    assert not Path(db).exists()  # nothing was written


def test_ctrl_c_stops_the_follower_cleanly(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _deploy(node, tmp_path, monkeypatch)
    events = tmp_path / "events.duckdb"
    follower = subprocess.Popen(
        _openmbs("index", "--rpc", node.url, "--state", str(state), "--db", str(events), "--follow",
                 "--interval", "0.5", "--confirmations", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().startswith("following ")  # the handlers are installed
        assert "event(s)" in follower.stdout.readline()  # the first pass indexed the deal
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0 and "Traceback" not in err, err
    assert out.rstrip().endswith("stopped"), out
    con = store(events)
    try:
        cursor = con.execute("SELECT last_block FROM cursor").fetchall()
        assert cursor and int(cursor[0][0]) == int(node.rpc("eth_blockNumber", []), 16)
    finally:
        con.close()
