"""`openmbs project` and the interim `openmbs demo`: flags, outputs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool, project_tape
from openmbs.cli import app
from openmbs.errors import InputError

runner = CliRunner()
POOL = ["project", "--balance", "1000000", "--wac", "6.5", "--net-coupon", "6", "--term", "360",
        "--age", "12"]


def test_generic_pool_csv_matches_api(tmp_path: Path) -> None:
    out = tmp_path / "cf.csv"
    res = runner.invoke(app, [*POOL, "--cpr", "6", "--cdr", "1", "--severity", "35", "--lag",
                              "6", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "weighted average life" in res.output
    table = pacsv.read_csv(out)
    want = project_pool(balance=1e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
                        remaining_term=348, loan_age=12, prepayment=Prepayment.cpr(0.06),
                        default=Default.cdr(0.01), severity=0.35, lag=6)
    assert table.num_rows == 348
    np.testing.assert_allclose(table.column("cash_flow").to_numpy(), want.cash_flow, rtol=1e-12)
    np.testing.assert_allclose(table.column("loss").to_numpy(), want.loss, rtol=1e-12)


def test_psa_sda_parquet_and_json(tmp_path: Path) -> None:
    pq_out = tmp_path / "cf.parquet"
    js_out = tmp_path / "cf.json"
    args = [*POOL, "--psa", "150", "--sda", "100", "--severity", "35", "--no-advance"]
    assert runner.invoke(app, [*args, "--out", str(pq_out)]).exit_code == 0
    res = runner.invoke(app, [*args, "--out", str(js_out)])
    assert res.exit_code == 0, res.output
    want = project_pool(balance=1e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
                        remaining_term=348, prepayment=Prepayment.psa(150),
                        default=Default.sda(100), severity=0.35, advance=False)
    np.testing.assert_allclose(pq.read_table(pq_out).column("principal").to_numpy(),
                               want.principal, rtol=1e-12)
    doc = json.loads(js_out.read_text())
    assert doc["original_balance"] == 1e6
    np.testing.assert_allclose(doc["columns"]["lost_interest"], want.lost_interest, rtol=1e-12)
    assert want.lost_interest.sum() > 0


def test_smm_and_abs_and_mdr_units() -> None:
    res = runner.invoke(app, [*POOL, "--smm", "0.5", "--mdr", "0.1"])
    assert res.exit_code == 0, res.output
    assert "0.5% SMM" in res.output and "0.1% MDR" in res.output
    res = runner.invoke(app, [*POOL, "--abs", "1.5"])
    assert res.exit_code == 0, res.output
    assert "1.5% ABS" in res.output


def test_tape_loan_and_repline(tmp_path: Path) -> None:
    from openmbs.collateral import generate_tape, write_tape

    tape = generate_tape(300, seed=3)
    path = tmp_path / "tape.parquet"
    write_tape(tape, path)
    for method in ("loan", "repline"):
        out = tmp_path / f"{method}.csv"
        res = runner.invoke(app, ["project", "--tape", str(path), "--psa", "200", "--method",
                                  method, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "300 loans" in res.output
        want = project_tape(tape, prepayment=Prepayment.psa(200), method=method)  # type: ignore[arg-type]
        got = pacsv.read_csv(out).column("cash_flow").to_numpy()
        np.testing.assert_allclose(got, want.cash_flow, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cpr", "6", "--psa", "100"], "only one of --cpr, --psa"),
        (["--cdr", "1", "--sda", "100"], "only one of --cdr, --sda"),
        (["--smm", "1", "--abs", "1", "--cpr", "3"], "only one of"),
        (["--out", "x.xlsx"], "unknown suffix"),
        (["--method", "both"], "--method"),
        (["--format", "parquet"], "--format only applies with --tape"),
        (["--severity", "135"], "--severity 135"),
        (["--sda", "-5"], "--sda -5: must be >= 0"),
    ],
)
def test_conflicting_flags(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    res = runner.invoke(app, [*POOL, *args, *([] if "--out" in args else ["--out", str(out)])])
    # errors are InputError, which `openmbs` (cli.main) prints cleanly with exit code 2
    assert isinstance(res.exception, InputError), res.output
    assert message in str(res.exception)
    assert not out.exists()  # nothing written


def test_tape_with_pool_flags_refused(tmp_path: Path) -> None:
    res = runner.invoke(app, ["project", "--tape", str(tmp_path / "t.csv"), "--wac", "6"])
    assert isinstance(res.exception, InputError)
    assert "--tape cannot be combined with --wac" in str(res.exception)


def test_nothing_to_project() -> None:
    res = runner.invoke(app, ["project", "--cpr", "6"])
    assert isinstance(res.exception, InputError)
    assert "--balance and --wac" in str(res.exception)


def test_errors_reach_the_shell_cleanly() -> None:
    """Through the real `openmbs` entry point: exit code 2, one clear line, no traceback."""
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "openmbs"
    proc = subprocess.run([str(exe), *POOL, "--cpr", "6", "--psa", "100"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 2
    assert "give only one of --cpr, --psa" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_out_of_range_values_name_the_flag() -> None:
    res = runner.invoke(app, [*POOL, "--cpr", "150"])
    assert isinstance(res.exception, InputError)
    assert "--cpr 150: must be a percent between 0 and 100" in str(res.exception)
    # an error from the engine (remaining term < 1) names the field and value
    res = runner.invoke(app, ["project", "--balance", "100", "--wac", "5", "--term", "360",
                              "--age", "360"])
    assert isinstance(res.exception, InputError)
    assert "remaining_term must be between 1 and original_term=360, got 0" in str(res.exception)


def test_help_says_units() -> None:
    res = runner.invoke(app, ["project", "--help"])
    assert res.exit_code == 0
    assert "6 = 6% CPR" in res.output and "150 = 150% PSA" in res.output
    assert "35 = 35%" in res.output


def test_demo_writes_projection(tmp_path: Path) -> None:
    res = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--loans", "50",
                              "--seed", "1"])
    assert res.exit_code == 0, res.output
    table = pacsv.read_csv(tmp_path / "d" / "projection.csv")
    assert table.num_rows > 0
    assert table.column("loss").to_numpy().sum() > 0


def test_unreadable_tape_exits_cleanly(tmp_path: Path) -> None:
    """A tape that cannot be read gives exit code 2 and one clear line naming the file,
    with or without defaults, through the real entry point."""
    import subprocess
    import sys

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file PAR1")
    exe = Path(sys.executable).parent / "openmbs"
    for extra in ([], ["--cdr", "1", "--severity", "30", "--lag", "3", "--no-advance"]):
        proc = subprocess.run([str(exe), "project", "--tape", str(bad), "--format", "parquet",
                               "--cpr", "6", *extra], capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 2, proc.stderr
        assert "bad.parquet" in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("mode", ["all", "principal", "none"])
def test_advance_takes_three_modes(tmp_path: Path, mode: str) -> None:
    out = tmp_path / "cf.csv"
    res = runner.invoke(app, [*POOL, "--smm", "1", "--mdr", "1", "--severity", "20", "--lag",
                              "12", "--advance", mode, "--out", str(out)])
    assert res.exit_code == 0, res.output
    want = project_pool(balance=1e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
                        remaining_term=348, loan_age=12, prepayment=Prepayment.smm(0.01),
                        default=Default.mdr(0.01), severity=0.2, lag=12, advance=mode)  # type: ignore[arg-type]
    table = pacsv.read_csv(out)
    np.testing.assert_allclose(table.column("cash_flow").to_numpy(), want.cash_flow, rtol=1e-12)
    # month 1: 1% of 1,000,000 defaults; its interest 10,000 x 6.5% / 12 = 54.17 is lost
    # unless P&I are advanced
    lost = table.column("lost_interest").to_numpy()[0]
    assert lost == pytest.approx(0.0 if mode == "all" else 54.1667, abs=1e-3)


def test_advance_default_is_principal_and_no_advance_is_none() -> None:
    base = [*POOL, "--smm", "1", "--mdr", "1", "--severity", "20", "--lag", "12"]
    default = runner.invoke(app, base)
    assert default.exit_code == 0, default.output
    assert "principal advanced" in " ".join(default.output.split())
    old = runner.invoke(app, [*base, "--no-advance"])
    assert old.exit_code == 0, old.output
    assert "no advancing" in " ".join(old.output.split())
    # errors are InputError, which `openmbs` (cli.main) prints with exit code 2
    bad = runner.invoke(app, [*base, "--advance", "sometimes"])
    assert isinstance(bad.exception, InputError)
    assert "--advance 'sometimes'" in str(bad.exception)
    clash = runner.invoke(app, [*base, "--advance", "all", "--no-advance"])
    assert isinstance(clash.exception, InputError)
    assert "--no-advance" in str(clash.exception)
