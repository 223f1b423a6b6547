"""`openmbs tape` commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openmbs.cli import app, main
from openmbs.collateral import generate_tape, pool_stats, read_tape
from openmbs.errors import TapeValidationError

runner = CliRunner()
MALFORMED = Path(__file__).parent / "malformed"


def test_generate_stats_json_and_convert(tmp_path: Path) -> None:
    out = tmp_path / "g.parquet"
    r = runner.invoke(app, ["tape", "generate", "--loans", "300", "--seed", "9", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert read_tape(out).table.equals(generate_tape(300, seed=9).table)
    r = runner.invoke(app, ["tape", "stats", str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    for key in ("loan_count", "current_balance", "wac", "wam", "wala"):
        assert key in d
    expected = pool_stats(generate_tape(300, seed=9))
    assert d["loan_count"] == 300
    assert d["wac"] == pytest.approx(expected.wac)
    assert d["current_balance"] == pytest.approx(expected.current_balance)
    r = runner.invoke(app, ["tape", "stats", str(out)])
    assert r.exit_code == 0 and "WAC" in r.output and "by state" in r.output
    csv_out = tmp_path / "g.csv"
    r = runner.invoke(app, ["tape", "convert", str(out), str(csv_out)])
    assert r.exit_code == 0, r.output
    assert read_tape(csv_out).table.equals(read_tape(out).table)


def test_stats_json_on_umbs_pool(shared_data: Path) -> None:
    r = runner.invoke(
        app, ["tape", "stats", str(shared_data / "freddie_umbs_U90133_loans.txt"), "--json"]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["loan_count"] == 268
    assert d["current_balance"] == pytest.approx(37_849_356.11, abs=0.005)


def test_validate_keep_good(tmp_path: Path) -> None:
    rej = tmp_path / "rej.txt"
    src = MALFORMED / "umbs_unknown_purpose.txt"
    r = runner.invoke(app, ["tape", "validate", str(src), "--keep-good", "--rejects", str(rej)])
    assert r.exit_code == 0, r.output
    assert "1 valid loans" in r.output and "1 rejected row(s)" in r.output
    assert rej.read_text().splitlines()[1].startswith(src.read_text().splitlines()[2] + "|")


@pytest.mark.parametrize("columns", ["200", "80", "40"])
def test_validate_error_exits_2_with_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    columns: str,
) -> None:
    """The message is printed exactly as raised: never re-wrapped to the console width,
    so a long path cannot split "row 2" (or anything else) across lines."""
    where = tmp_path / ("d" * 60) / ("e" * 60)
    where.mkdir(parents=True)
    bad = where / "unparsable_number.csv"
    bad.write_bytes((MALFORMED / bad.name).read_bytes())
    with pytest.raises(TapeValidationError) as raised:
        read_tape(bad)
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(sys, "argv", ["openmbs", "tape", "validate", str(bad)])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "current_balance" in err and "12o000" in err
    assert err == f"error: {raised.value}\n"
