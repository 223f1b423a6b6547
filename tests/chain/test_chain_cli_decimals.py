"""The deal on chain from the command line with an 18-decimal settlement asset.

Loan records count record units (``10**-min(decimals, 9)`` of the asset); `openmbs chain
remit` scales their sums to the asset's base units before it submits. Without the scale
an 18-decimal deal's report would carry record-unit sums: a pool a billion times too
small, refused by the oracle's continuity check (or, worse, paid out wrong).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openmbs.cli import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's rollback: the CLI runs on its own embedded EVM."""
    yield


def _run(*args: str) -> str:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_an_eighteen_decimal_deal_is_remitted_and_claimed_from_the_cli(tmp_path: Path) -> None:
    text = (REPO / "examples" / "deals" / "four_tranche.toml").read_text()
    assert "decimals = 6" in text
    deal = tmp_path / "ft18.toml"
    deal.write_text(text.replace("decimals = 6", "decimals = 18"))
    state = tmp_path / "d.json"
    _run("chain", "deploy", "--deal", str(deal), "--state", str(state), "--loans", "8")
    pool = int(json.loads(state.read_text())["config"]["initial_pool_balance"])
    assert pool == 500_000_000 * 10**18

    p1 = tmp_path / "p1.csv"
    _run("servicer", "records", "--deal", str(state), "--out", str(p1))
    with p1.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # the records are in 9-decimal record units: their sum is the pool / 10**9
    assert sum(int(r["beginning_balance"]) for r in rows) * 10**9 == pool
    ending = sum(int(r["ending_balance"]) for r in rows) * 10**9
    out = _run("chain", "remit", "--records", str(p1), "--state", str(state))
    assert "period 1 accepted" in out
    assert f"pool balance {ending}" in out

    status = json.loads(_run("chain", "status", "--state", str(state), "--json"))
    assert status["status"]["pool_balance"] == ending
    assert status["status"]["last_period"] == 1
    # the senior class took the whole principal, in the asset's base units
    senior = status["tranches"][0]
    assert senior["original_face"] - senior["balance"] == pool - ending
    claimed = _run("chain", "claim", "--state", str(state), "--holder", "all")
    assert "claimed" in claimed
