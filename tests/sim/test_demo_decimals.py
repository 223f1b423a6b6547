"""Deals whose settlement asset does not have 6 decimals, through `openmbs demo`.

The demo used to size the pool in 6-decimal units whatever the deal's
``asset.decimals``: a deal with ``decimals = 9`` or ``18`` passed ``deal show`` and
``deal run`` and then failed with "pool balance ... units after sizing, simulated pool
... units". The loans are now simulated in the deal's base units, and the embedded chain
deploys a mock stablecoin of those decimals (the tranche tokens take them).

The loan-level simulator counts money in 64-bit integers, in a record unit of
``10**-record_decimals`` of the asset with ``record_decimals = min(decimals, 9)``: an
18-decimal deal's loan records are in 9-decimal units and its reports (the record sums
times ``10**9``), its chain and its exact engine in 18-decimal base units. A pool too large
even in 9-decimal units is refused up front with the reason (the value and the limit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
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


def test_an_eighteen_decimal_deal_runs_reconciles_and_audits(tmp_path: Path) -> None:
    """Records in 9-decimal record units, reports and chain in 18-decimal base units."""
    import pyarrow.parquet as pq

    from openmbs.report import period_statements

    out = tmp_path / "out"
    res = _demo(["--deal", str(_deal(tmp_path, 18)), "--loans", "200", "--months", "24", "--investors", "2",
                 "--out", str(out)])
    assert res.exit_code == 0, (res.output, res.exception)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reconciled"], summary
    assert summary["decimals"] == 18 and summary["record_decimals"] == 9
    closing = json.loads((out / "closing.json").read_text())
    assert closing["decimals"] == 18 and closing["record_decimals"] == 9
    tape_balance = closing["pool_stats"]["current_balance"]
    # the pool in 18-decimal base units: each loan rounded to a 9-decimal record unit
    assert abs(closing["pool_units"] - tape_balance * 10**18) <= 200 * 10**9
    assert closing["pool_units"] % 10**9 == 0
    record = json.loads((out / "state" / "deployment.json").read_text())
    assert record["settlement"]["decimals"] == 18 and record["record_decimals"] == 9
    assert record["config"]["initial_pool_balance"] == closing["pool_units"]
    # the loan files: record units, stated in their metadata; the reports: 10**9 times the sums
    t = pq.read_table(out / "loans" / "period=0001" / "part-0.parquet")
    meta = t.schema.metadata
    assert json.loads(meta[b"openmbs.record_decimals"]) == 9
    life = json.loads((out / "lifecycle.json").read_text())
    rep1 = life["reports"][0]
    assert rep1["beginning_balance"] == closing["pool_units"]
    assert rep1["ending_balance"] == int(t.column("ending_balance").to_numpy().sum()) * 10**9
    assert rep1["interest"] == int(t.column("interest_paid").to_numpy().sum()) * 10**9
    # the standalone audit passes
    from openmbs.cli import app

    aud = CliRunner().invoke(app, ["audit", str(out)])
    assert aud.exit_code == 0, (aud.output, aud.exception)
    # statements: the pool figures are the reports' (asset base units), never record units
    sts = period_statements(out / "events.duckdb", deal=out)  # loan figures checked against the reports
    assert sts[0].decimals == 18
    assert sts[0].pool["beginning_balance"] == closing["pool_units"]
    # `openmbs servicer remit`'s report of a loan file: the records' sums times 10**9
    from openmbs.commands.chain import _report, record_unit_scale

    dep = out / "state" / "deployment.json"
    assert record_unit_scale(dep) == 10**9
    manifest = json.loads((out / "state" / "manifest.json").read_text())
    for k in (1, 12):
        rep = _report(
            out / "loans" / f"period={k:04d}" / "part-0.parquet", None, 0.0, unit_scale=record_unit_scale(dep)
        )
        want = life["reports"][k - 1]
        for f in ("beginning_balance", "ending_balance", "interest", "cash", "delinquent_30", "losses"):
            assert getattr(rep, f) == want[f], (k, f)
        assert "0x" + rep.loan_tape_root.hex() == manifest["roots"][k - 1]
    # the dashboard's loan check: the record as written (record units), its unit stated
    import duckdb

    from openmbs.web import deals, verify_loan

    con = duckdb.connect(str(out / "events.duckdb"), read_only=True)
    try:
        (d,) = deals(con)
        loan = str(t.column("loan_id")[0])
        chk = verify_loan(con, d, out, loan, 1)
    finally:
        con.close()
    assert chk.verified and chk.record_decimals == 9
    assert chk.record["beginning_balance"] == t.column("beginning_balance")[0].as_py()
    # a closing.json stating another record unit fails the audit, naming the field
    text = (out / "closing.json").read_text()
    (out / "closing.json").write_text(text.replace('"record_decimals": 9', '"record_decimals": 18'))
    bad = CliRunner().invoke(app, ["audit", str(out)])
    assert bad.exit_code != 0 and "record_decimals" in bad.output, bad.output


def test_unit_scale_of_a_deployment_record(tmp_path: Path) -> None:
    from openmbs.commands.chain import record_unit_scale
    from openmbs.errors import InputError

    base = {"format": "openmbs-chain-deployment/2", "deal": "d", "network": "rpc", "chain_id": 1,
            "contracts": {}, "config": {}}
    cases = [({"settlement": {"decimals": 6}}, 1), ({"settlement": {"decimals": 18}}, 10**9),
             ({"settlement": {"decimals": 18}, "record_decimals": 9}, 10**9)]
    for extra, want in cases:
        path = tmp_path / "d.json"
        path.write_text(json.dumps({**base, **extra}))
        assert record_unit_scale(path) == want, extra
    path.write_text(json.dumps({**base, "settlement": {"decimals": 6}, "record_decimals": 9}))
    with pytest.raises(InputError, match="record_decimals' value 9"):
        record_unit_scale(path)


def test_a_pool_too_large_even_in_nine_record_decimals_is_refused() -> None:
    import pyarrow as pa

    from openmbs.sim import LoanSimulator

    tape = pa.table({"loan_id": ["a", "b"], "current_balance": [3.0e9, 3.0e9], "note_rate": [0.06, 0.06],
                     "remaining_term": [360, 360], "loan_age": [0, 0], "amortization_type": ["fixed", "fixed"],
                     "delinquency_status": [0, 0]})
    from openmbs.errors import InputError

    with pytest.raises(InputError) as info:
        LoanSimulator(tape, decimals=18)
    msg = str(info.value)
    assert "record decimals 9" in msg and "64-bit" in msg and "6,000,000,000.00" in msg, msg
    # the same pool at 6 decimals fits
    assert LoanSimulator(tape, decimals=6).record_decimals == 6


def test_an_eighteen_decimal_replay_reconciles(tmp_path: Path, shared_data: Path) -> None:
    """A real history replayed into an 18-decimal deal: the records in 9-decimal units,
    the reports their sums times 10**9, every unit of the pool accounted for."""
    from openmbs.sim import replay

    text = (EXAMPLE.parent / "senior_sub.toml").read_text()
    assert "decimals = 6" in text
    deal = tmp_path / "ss18.toml"
    deal.write_text(text.replace("decimals = 6", "decimals = 18"))
    out = tmp_path / "out"
    result = replay(out, acquisition=shared_data / "fannie_sflp_2007q3_acquisition.txt",
                    performance=shared_data / "fannie_sflp_2007q3_performance.txt", deal=str(deal), months=48)
    assert result.reconciled, [(c.name, c.detail) for c in result.checks if not c.ok]
    closing = json.loads((out / "closing.json").read_text())
    assert closing["decimals"] == 18 and closing["record_decimals"] == 9
    # the pool in 18-decimal units is the tape's balance (cents) times 10**18
    assert closing["pool_units"] == round(closing["pool_stats"]["current_balance"] * 100) * 10**16
    reps = json.loads((out / "lifecycle.json").read_text())["reports"]
    assert reps[0]["beginning_balance"] == closing["pool_units"]
    gone = sum(r["scheduled_principal"] + r["unscheduled_principal"] + r["losses"] + r["recoveries"] for r in reps)
    assert closing["pool_units"] - gone == reps[-1]["ending_balance"]
    # the summary's figures in the asset's base units: losses summed from the records times 10**9
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decimals"] == 18 and summary["record_decimals"] == 9
    assert summary["pool_losses"] == sum(r["losses"] for r in reps) > 0
