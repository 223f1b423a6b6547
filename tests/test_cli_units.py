"""One unit convention across the commands' outputs (docs/architecture.md, "Units").

Machine outputs (--json, CSV, Parquet) carry rates as decimals under plain names
(``yield``, ``wac``, ``cdr``, ``severity``), spreads and shifts in ``*_bp``, speeds
(``psa``, ``sda``) in percent of the benchmark; human tables show rates in percent. Tables
stay whole when stdout is not a terminal: no cut values (``…``), no row wrapped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.collateral import generate_tape, write_tape

runner = CliRunner()

#: Keys that hold a rate: a decimal in every JSON output (a percent would be >= 1 here).
RATE_KEYS = {"yield", "mortgage_yield", "wac", "net_wac", "cdr", "severity", "wa_dti",
             "balance_share", "positive_rate", "sigma", "par_yield"}


def _walk(doc: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield path, k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _walk(v, f"{path}[{i}]")


def _values(v: Any) -> list[float]:
    if isinstance(v, bool) or v is None:
        return []
    if isinstance(v, int | float):
        return [float(v)]
    if isinstance(v, list):
        return [x for item in v for x in _values(item)]
    if isinstance(v, dict):  # a summary {"min", "median", "max"}
        return [x for item in v.values() for x in _values(item)]
    return []


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("units") / "tape.parquet"
    write_tape(generate_tape(30, seed=7), path)
    return path


def _json_outputs(tape: Path) -> dict[str, list[str]]:
    return {
        "price": ["price", "--yield", "6", "--psa", "150", "--cdr", "1", "--severity", "35"],
        "deal run": ["deal", "run", "four_tranche", "--psa", "150", "--price", "100"],
        "deal table": ["deal", "table", "four_tranche", "--tranche", "A", "--price", "99,101",
                       "--psa", "100,300"],
        "deal breakeven": ["deal", "breakeven", "senior_sub", "--tranche", "SUB",
                           "--severity", "40"],
        "tape stats": ["tape", "stats", str(tape)],
        "price oas": ["price", "oas", "--price", "101", "--paths", "20"],
        "risk scenarios": ["risk", "scenarios", "--deal", "four_tranche", "--psa", "100,300",
                           "--cdr", "0,2", "--severity", "40", "--shift-bp", "0,100",
                           "--price", "100", "--workers", "1"],
    }


def test_every_json_output_gives_rates_as_decimals_named_without_underscore(tape: Path) -> None:
    seen: set[str] = set()
    for name, args in _json_outputs(tape).items():
        r = runner.invoke(app, [*args, "--json"])
        assert r.exit_code == 0, (name, r.output)
        doc = json.loads(r.stdout)
        for where, key, value in _walk(doc):
            assert not key.endswith("_"), f"{name}: key {where}.{key} (a Python name, not JSON)"
            if key in RATE_KEYS:
                seen.add(key)
                for x in _values(value):
                    assert -1.0 < x < 1.0, f"{name}: {where}.{key} = {x}: not a decimal"
    # the check saw the rates it is about, in more than one command
    assert {"yield", "wac", "cdr", "severity", "sigma", "par_yield"} <= seen


def test_breakeven_json_is_the_table_value_as_a_decimal() -> None:
    args = ["deal", "breakeven", "senior_sub", "--tranche", "SUB", "--severity", "40"]
    as_json = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    text = runner.invoke(app, args).stdout
    shown = float(text.split("CDR % = ")[1].split()[0])
    assert shown == pytest.approx(100 * as_json["cdr"], abs=1e-4)


def _table_rows(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("│")]


def test_tables_are_whole_when_piped(tape: Path) -> None:
    # a pass-through: one line per measure, the long title on one line
    r = runner.invoke(app, ["price", "--yield", "6", "--psa", "150", "--balance", "123456789",
                            "--wac", "6.125", "--net-coupon", "5.625", "--age", "17",
                            "--curve", "1:4.5,2:4.4,5:4.2,10:4.3,30:4.5", "--effective"])
    assert r.exit_code == 0, r.output
    assert "…" not in r.stdout
    assert any("Pass-through analytics: generic pool 123,456,789.00 WAC 6.125% net 5.625% "
               "term 360 age 17" in ln for ln in r.stdout.splitlines())
    assert len(_table_rows(r.stdout)) == 11 + 2 + 2  # measures, curve spreads, effective
    assert "yield (bond-equivalent)" in r.stdout and "%" in r.stdout  # percent for humans
    # a deal: one line per class, eight columns
    r = runner.invoke(app, ["deal", "run", "four_tranche", "--psa", "150", "--price", "100"])
    assert r.exit_code == 0, r.output
    assert "…" not in r.stdout
    rows = _table_rows(r.stdout)
    assert [ln.split("│")[1].strip() for ln in rows] == ["A", "B", "C", "D"]
    assert all(ln.count("│") == 9 for ln in rows)
    # a tape's statistics: percent in the table, decimals in --json
    r = runner.invoke(app, ["tape", "stats", str(tape)])
    assert r.exit_code == 0, r.output
    assert "…" not in r.stdout
    wac = json.loads(runner.invoke(app, ["tape", "stats", str(tape), "--json"]).stdout)["wac"]
    wac_line = next(ln for ln in _table_rows(r.stdout) if ln.split("│")[1].strip() == "WAC")
    assert wac_line.split("│")[2].strip() == f"{wac * 100:.3f}%"
