"""`openmbs price`: the JSON output matches the library, help and errors behave."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool
from openmbs.cli import app
from openmbs.errors import InputError
from openmbs.pricing import ParCurve, analyze, spread_to_curve_at_wal, z_spread

runner = CliRunner()

KEYS = {
    "price",
    "yield",
    "mortgage_yield",
    "average_life",
    "macaulay_duration",
    "modified_duration",
    "convexity",
}


def _run(*args: str) -> dict[str, float]:
    result = runner.invoke(app, ["price", *args, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, float] = json.loads(result.stdout)
    return out


def test_json_matches_analyze_at_yield() -> None:
    out = _run(
        "--yield",
        "5.5",
        "--psa",
        "150",
        "--balance",
        "2000000",
        "--wac",
        "6.75",
        "--net-coupon",
        "6.25",
        "--term",
        "360",
        "--age",
        "12",
        "--delay",
        "24",
    )
    assert out.keys() >= KEYS
    cf = project_pool(
        balance=2e6,
        gross_coupon=0.0675,
        net_coupon=0.0625,
        original_term=360,
        remaining_term=348,
        loan_age=12,
        prepayment=Prepayment.psa(150),
    )
    a = analyze(cf.cash_flow, cf.principal, 2e6, yield_=0.055, delay_days=24, coupon=0.0625)
    assert out["yield"] == pytest.approx(0.055, abs=1e-15)
    for key, value in [
        ("price", a.price),
        ("mortgage_yield", a.mortgage_yield),
        ("average_life", a.average_life),
        ("macaulay_duration", a.macaulay_duration),
        ("modified_duration", a.modified_duration),
        ("convexity", a.convexity),
    ]:
        assert out[key] == pytest.approx(value, rel=1e-12), key


def test_json_at_price_with_defaults_settlement_and_curve() -> None:
    curve = "1:4.5,2:4.4,5:4.2,10:4.3,30:4.5"
    out = _run(
        "--price",
        "99.5",
        "--cpr",
        "8",
        "--cdr",
        "1",
        "--severity",
        "35",
        "--lag",
        "6",
        "--no-advance",
        "--stated-delay",
        "55",
        "--settle",
        "2026-12-16",
        "--curve",
        curve,
    )
    cf = project_pool(
        balance=1e6,
        gross_coupon=0.065,
        net_coupon=0.06,
        original_term=360,
        remaining_term=360,
        loan_age=0,
        prepayment=Prepayment.cpr(0.08),
        default=Default.cdr(0.01),
        severity=0.35,
        lag=6,
        advance=False,
    )
    a = analyze(
        cf.cash_flow, cf.principal, 1e6, price=99.5, delay_days=24, settle_days=15, coupon=0.06
    )
    assert out["delay_days"] == 24 and out["settle_days"] == 15
    assert out["price"] == 99.5
    # 6% net, 15 days: 100 * 0.06/12 * 15/30 = 0.25
    assert out["accrued"] == pytest.approx(0.25)
    assert out["yield"] == pytest.approx(a.yield_, abs=1e-12)
    assert out["modified_duration"] == pytest.approx(a.modified_duration, rel=1e-10)
    pc = ParCurve.parse(curve)
    assert out["spread_to_curve_bp"] == pytest.approx(
        spread_to_curve_at_wal(a.yield_, a.average_life, pc), abs=1e-8
    )
    zs = z_spread(
        cf.cash_flow, 1e6, pc.zero_curve(), 99.5, delay_days=24, settle_days=15, accrued=0.25
    )
    assert out["z_spread_bp"] == pytest.approx(zs, abs=1e-6)


def test_stated_delay_equals_delay() -> None:
    a = _run("--yield", "6", "--cpr", "6", "--stated-delay", "55")
    b = _run("--yield", "6", "--cpr", "6", "--delay", "24")
    assert a == b


def test_tape(tmp_path: Path) -> None:
    from openmbs.collateral import generate_tape, write_tape

    path = tmp_path / "tape.parquet"
    write_tape(generate_tape(25, seed=3), path)
    out = _run("--tape", str(path), "--price", "100", "--psa", "100")
    assert out.keys() >= KEYS
    assert out["price"] == 100.0
    assert 0.0 < out["average_life"] < 30.0


def test_errors() -> None:
    result = runner.invoke(app, ["price", "--psa", "100"])
    assert isinstance(result.exception, InputError)
    assert "--price" in str(result.exception)
    result = runner.invoke(app, ["price", "--yield", "5", "--psa", "100", "--cpr", "6"])
    assert isinstance(result.exception, InputError)
    assert "--psa" in str(result.exception) and "--cpr" in str(result.exception)
    result = runner.invoke(app, ["price", "--yield", "5", "--settle", "16/12/2026"])
    assert isinstance(result.exception, InputError)
    assert "16/12/2026" in str(result.exception)


def test_help_via_entry_point() -> None:
    # `openmbs price` is a group whose callback carries the options: --help lists them.
    exe = Path(sys.executable).parent / "openmbs"
    help_ = subprocess.run(
        [str(exe), "price", "--help"], capture_output=True, text=True, check=False
    )
    assert help_.returncode == 0
    for flag in (
        "--price",
        "--yield",
        "--delay",
        "--stated-delay",
        "--settle",
        "--curve",
        "--tape",
        "--psa",
        "--sda",
        "--advance",
        "--json",
    ):
        assert flag in help_.stdout, flag


def test_table_output() -> None:
    result = runner.invoke(app, ["price", "--yield", "6", "--psa", "150", "--curve", "2:4,10:4.5"])
    assert result.exit_code == 0, result.output
    for label in ("modified duration", "mortgage yield", "Z-spread", "6.000000%"):
        assert label in result.stdout


def test_par_pass_through_yields_its_coupon() -> None:
    # A pass-through paying net interest c/12 on the balance plus any principal, with no
    # delay, is worth par at a monthly rate of c whatever the prepayment speed:
    # mortgage yield = net coupon, and the BEY is 2[(1 + c/12)^6 - 1].
    out = _run("--price", "100", "--net-coupon", "6", "--wac", "6.5", "--psa", "250")
    assert out["mortgage_yield"] == pytest.approx(0.06, abs=1e-11)
    assert out["yield"] == pytest.approx(2 * (1.005**6 - 1), abs=1e-11)


def test_real_umbs_pool(shared_data: Path) -> None:
    # Freddie Mac UMBS pool U90133: 268 loans, current UPB 37,849,356.11, every loan at a
    # 4.0% net rate (shared/data/README.md and the file's "Current Net Interest Rate").
    path = shared_data / "freddie_umbs_U90133_loans.txt"
    out = _run("--tape", str(path), "--price", "100", "--psa", "150")
    assert out["balance"] == pytest.approx(37_849_356.11, abs=0.01)
    assert out["mortgage_yield"] == pytest.approx(0.04, abs=1e-10)
    late = _run(
        "--tape",
        str(path),
        "--price",
        "100",
        "--psa",
        "150",
        "--stated-delay",
        "55",
        "--settle",
        "2026-12-16",
    )
    # Accrued: 100 * 0.04/12 * 15/30; the 24-day delay lowers the yield at par.
    assert late["accrued"] == pytest.approx(100 * 0.04 / 12 * 15 / 30, abs=1e-9)
    assert late["yield"] < out["yield"]


def test_effective_flag_matches_library() -> None:
    from openmbs.pricing import effective_measures, pass_through_projector

    args = ("--yield", "6", "--wac", "7", "--net-coupon", "6.5", "--psa", "150", "--delay", "24")
    out = _run(*args, "--effective", "--mortgage-rate", "6", "--shift-bp", "20")
    project = pass_through_projector(
        balance=1e6, gross_coupon=0.07, net_coupon=0.065, original_term=360,
        remaining_term=360, loan_age=0, psa=150.0, mortgage_rate=0.06,
    )  # fmt: skip
    e = effective_measures(project, price=out["price"], shift_bp=20, delay_days=24, coupon=0.065)
    assert out["effective_shift_bp"] == 20.0
    assert out["effective_duration"] == pytest.approx(e.effective_duration, rel=1e-9)
    assert out["effective_convexity"] == pytest.approx(e.effective_convexity, rel=1e-7)
    assert out["effective_convexity"] < 0  # a premium with a live refinancing option
    # With --curve the Z-spread is held instead of the yield.
    curved = _run(*args, "--effective", "--mortgage-rate", "6", "--curve", "2:4,10:4.5")
    assert curved["effective_duration"] != out["effective_duration"]
    bad = runner.invoke(app, ["price", "--yield", "6", "--cpr", "6", "--effective"])
    assert isinstance(bad.exception, InputError) and "--psa" in str(bad.exception)
