"""`openmbs chain` on the embedded chain: deploy records, export writes ABIs."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from openmbs.cli import app


def test_export_writes_abi_and_bytecode(tmp_path):
    res = CliRunner().invoke(app, ["chain", "export", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "Deal.json").read_text())
    names = {e.get("name") for e in doc["abi"]}
    assert {"claim", "claimAll", "distribute", "on_transfer", "Distributed"} <= names
    assert doc["bytecode"].startswith("0x") and len(doc["bytecode"]) > 1000
    assert (tmp_path / "TrancheToken.json").exists()


def test_embedded_deploy_records_and_later_commands_refuse(tmp_path):
    state = tmp_path / "d.json"
    runner = CliRunner()
    res = runner.invoke(app, ["chain", "deploy", "four_tranche", "--state", str(state), "--loans", "50"])
    assert res.exit_code == 0, res.output
    record = json.loads(state.read_text())
    assert record["network"] == "embedded"
    assert [t["face"] for t in record["config"]["tranches"]] == [
        400_000_000_000_000, 40_000_000_000_000, 25_000_000_000_000, 20_000_000_000_000,
    ]  # 80/8/5/4% of the 500,000,000 USDC pool in 6-decimal units
    res = runner.invoke(app, ["chain", "status", "--rpc", "http://127.0.0.1:1", "--state", str(state)])
    assert res.exit_code != 0
    assert "does not persist" in str(res.exception)
