"""Deals whose settlement asset does not have 6 decimals, through `openmbs demo`.

The demo used to size the pool in 6-decimal units whatever the deal's
``asset.decimals``: a deal with ``decimals = 9`` or ``18`` passed ``deal show`` and
``deal run`` and then failed with "pool balance ... units after sizing, simulated pool
... units". The loans are now simulated in the deal's base units, and the embedded chain
deploys a mock stablecoin of those decimals (the tranche tokens take them).

The loan-level simulator counts money in 64-bit integers: at 18 decimals a pool of more
than about 9 currency units does not fit, so an 18-decimal deal is refused up front
with the reason (the value and the limit), never wrapped around into nonsense.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import openmbs

EXAMPLE = Path(openmbs.__file__).parent / "examples" / "deals" / "four_tranche.toml"


def _deal(tmp_path: Path, decimals: int) -> Path:
    text = EXAMPLE.read_text()
    assert "decimals = 6" in text
    path = tmp_path / f"d{decimals}.toml"
    path.write_text(text.replace("decimals = 6", f"decimals = {decimals}"))
    return path


def _demo(args: list[str]) -> Any:
    from openmbs.cli import app

    return CliRunner().invoke(app, ["demo", *args])


def test_a_nine_decimal_deal_runs_and_reconciles_on_the_embedded_chain(tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _demo(["--deal", str(_deal(tmp_path, 9)), "--loans", "30", "--months", "2", "--investors", "2",
                 "--out", str(out)])
    assert res.exit_code == 0, (res.output, res.exception)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reconciled"] and summary["decimals"] == 9
    closing = json.loads((out / "closing.json").read_text())
    tape_balance = closing["pool_stats"]["current_balance"]
    # the pool in 9-decimal base units (each loan rounded to a unit)
    assert abs(closing["pool_units"] - tape_balance * 10**9) <= 30
    record = json.loads((out / "state" / "deployment.json").read_text())
    assert record["network"] == "embedded" and record["settlement"]["decimals"] == 9
    assert record["config"]["initial_pool_balance"] == closing["pool_units"]


def test_an_eighteen_decimal_deal_is_refused_with_the_reason(tmp_path: Path) -> None:
    res = _demo(["--deal", str(_deal(tmp_path, 18)), "--loans", "30", "--months", "2", "--investors", "2",
                 "--out", str(tmp_path / "out")])
    assert res.exit_code != 0
    msg = str(res.exception)
    assert "decimals value 18" in msg and "64-bit" in msg, msg
    assert "after sizing" not in msg
