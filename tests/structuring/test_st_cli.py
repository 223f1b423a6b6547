"""`openmbs deal` commands, through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
from typer.testing import CliRunner

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool
from openmbs.cli import app
from openmbs.structuring import (
    breakeven_cdr,
    collections_from_projection,
    example_deal,
    run_waterfall,
)

runner = CliRunner()


def test_deal_run_json_and_out(tmp_path: Path) -> None:
    out = tmp_path / "periods.csv"
    r = runner.invoke(
        app,
        ["deal", "run", "four_tranche", "--psa", "150", "--cdr", "1", "--severity", "35",
         "--lag", "6", "--price", "100", "--json", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    names = [t["name"] for t in data["tranches"]]
    assert names == ["A", "B", "C", "D"]
    a = data["tranches"][0]
    # A pays 4.5%: at par its yield is near 4.5% (bond-equivalent of a monthly 4.5%)
    assert 0.044 < a["yield"] < 0.046 and "yield_" not in a
    assert a["first"] == 1 and a["wal"] > 0
    table = pacsv.read_csv(out)
    assert table.num_rows == 4 * 360
    assert set(table.column_names) >= {"period", "tranche", "interest_paid", "principal_paid", "factor"}
    # principal in the file sums to the faces (every class repaid, no loss at 1 CDR)
    prin = table.column("principal_paid").to_pylist()
    assert abs(sum(prin) - 485e6) < 1.0


def test_deal_table_prices_and_speeds() -> None:
    r = runner.invoke(
        app,
        ["deal", "table", "four_tranche", "--tranche", "A", "--price", "99,101", "--psa", "100,300", "--json"],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    cheap, rich = data["rows"]
    # a discount yields more than a premium; faster prepayment shortens the WAL
    assert cheap["cells"][0]["yield"] > rich["cells"][0]["yield"]
    assert cheap["cells"][1]["wal"] < cheap["cells"][0]["wal"]


def test_deal_errors_are_clean() -> None:
    r = runner.invoke(app, ["deal", "table", "four_tranche", "--tranche", "Q", "--price", "100"])
    assert r.exit_code != 0
    assert "Q" in str(r.exception)
    r = runner.invoke(app, ["deal", "run", "four_tranche", "--psa", "100", "--cpr", "5"])
    assert r.exit_code != 0


def test_breakeven_cdr_brackets_first_loss() -> None:
    spec = example_deal("senior_sub")
    p = spec.pool

    def project(d: Default):
        return project_pool(
            balance=p.balance, gross_coupon=p.wac, net_coupon=p.net_coupon,
            original_term=p.term, remaining_term=p.term, prepayment=Prepayment.psa(100),
            default=d, severity=0.4, lag=6,
        )

    be = breakeven_cdr(spec, project, "SUB", tol=1e-5)
    assert 0.0 < be < 0.05

    def loss(cdr: float) -> float:
        res = run_waterfall(spec, collections_from_projection(project(Default.cdr(cdr))), keep="summary")
        return float(res.summary.writedown[0, res.tranche("SUB")])

    assert loss(be) > 0.0
    assert loss(max(be - 2e-5, 0.0)) < 1e-6
    r = runner.invoke(
        app, ["deal", "breakeven", "senior_sub", "--tranche", "SUB", "--psa", "100", "--severity", "40", "--lag", "6", "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["by"] == "cdr" and "breakeven" not in doc
    assert abs(doc["cdr"] - be) < 2e-5  # a decimal, like every rate in JSON


def test_deal_run_on_a_tape_resizes_the_deal(tmp_path: Path) -> None:
    from openmbs.collateral import generate_tape, pool_stats, write_tape

    tape = generate_tape(40, seed=3)
    path = tmp_path / "tape.parquet"
    write_tape(tape, path)
    r = runner.invoke(app, ["deal", "run", "four_tranche", "--tape", str(path), "--cpr", "8", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    balance = pool_stats(tape).current_balance
    faces = [t["face"] for t in data["tranches"]]
    # percent sizing against the tape's balance: A 80%, B 8%, C 5%, D 4% (floored to 1e-6)
    for face, pct in zip(faces, (0.80, 0.08, 0.05, 0.04), strict=True):
        assert abs(face - pct * balance) < 1e-5
