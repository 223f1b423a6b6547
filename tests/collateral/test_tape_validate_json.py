"""`openmbs tape validate FILE --json`: problems and counts as one JSON object."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.collateral import generate_tape, write_tape

runner = CliRunner()


def _tape(tmp_path: Path, n: int = 8) -> Path:
    p = tmp_path / "tape.csv"
    write_tape(generate_tape(n, seed=4), p)
    return p


def _break(p: Path, rows: list[int]) -> None:
    """A negative balance on the given (1-based) data rows."""
    with open(p, newline="") as fh:
        records = list(csv.reader(fh))
    col = records[0].index("current_balance")
    for r in rows:
        records[r][col] = "-5"
    with open(p, "w", newline="") as fh:
        csv.writer(fh).writerows(records)


def test_validate_json_clean(tmp_path: Path) -> None:
    p = _tape(tmp_path)
    res = runner.invoke(app, ["tape", "validate", str(p), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is True
    assert doc["file"] == str(p)
    assert doc["format"] == "canonical-csv"
    assert doc["valid_loans"] == 8
    assert doc["rejected_rows"] == 0
    assert doc["problem_count"] == 0 and doc["problems"] == []


def test_validate_json_invalid_rows(tmp_path: Path) -> None:
    p = _tape(tmp_path)
    _break(p, [2, 5])
    res = runner.invoke(app, ["tape", "validate", str(p), "--json"])
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    assert doc["ok"] is False
    assert doc["rejected_rows"] == 2
    assert doc["problem_count"] == len(doc["problems"]) >= 2
    first = doc["problems"][0]
    assert set(first) == {"file", "row", "field", "value", "reason"}
    assert first["row"] == 2 and first["field"] == "current_balance"


def test_validate_json_keep_good(tmp_path: Path) -> None:
    p = _tape(tmp_path)
    _break(p, [3])
    res = runner.invoke(app, ["tape", "validate", str(p), "--keep-good", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is False
    assert doc["valid_loans"] == 7
    assert doc["rejected_rows"] == 1
    assert doc["rejects"] == str(tmp_path / "tape.rejects.csv")
    assert [q["row"] for q in doc["problems"]] == [3]


def test_validate_json_unreadable_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.csv"
    p.write_text("")
    res = runner.invoke(app, ["tape", "validate", str(p), "--json", "--format", "canonical-csv"])
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    assert doc["ok"] is False and doc["problem_count"] == 1
    assert doc["problems"][0]["file"] == str(p)
