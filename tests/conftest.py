"""Shared fixtures: where the real public loan data lives, and hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# rich wraps console output to the terminal width (80 columns when output is captured).
# Tests look for phrases next to paths under pytest's temporary folder, whose length
# depends on the machine; one fixed, wide width keeps such phrases on one line everywhere.
os.environ["COLUMNS"] = "200"

#: ``../shared/data`` beside the checkout (override with OPENMBS_SHARED_DATA).
SHARED_DATA = Path(os.environ.get("OPENMBS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public loan-level files; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real loan data folder not found at {SHARED_DATA} (see shared/data/README.md)")
    return SHARED_DATA


def _duckdb_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in sorted(names)}
    finally:
        con.close()


@pytest.fixture(scope="session")
def duckdb_tables() -> Callable[[Path], dict[str, list[tuple[object, ...]]]]:
    """A function giving every table of a DuckDB file with its rows sorted (to compare
    two event stores)."""
    return _duckdb_tables


#: ``record_property`` keys the summary adds up (numeric values only).
INVARIANT_COUNTS = ("differential_deal_periods", "stateful_steps")


def invariant_totals(reports: list[object]) -> dict[str, int]:
    """Sum the numeric ``user_properties`` under :data:`INVARIANT_COUNTS` over test
    reports (each test's call phase once; under pytest-xdist the properties travel
    with the reports to the controller, so this sees every worker's)."""
    totals = dict.fromkeys(INVARIANT_COUNTS, 0)
    for rep in reports:
        if getattr(rep, "when", None) != "call":
            continue
        for key, value in getattr(rep, "user_properties", ()):
            if key in totals and isinstance(value, int | float) and not isinstance(value, bool):
                totals[key] += int(value)
    return totals


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line with the size of the invariant checks that ran (differential deal-periods
    of the chain against the exact engine, steps of the stateful tests)."""
    reports = [rep for key in ("passed", "failed", "xfailed", "xpassed") for rep in terminalreporter.stats.get(key, [])]
    totals = invariant_totals(reports)
    terminalreporter.write_line(
        f"invariants: differential {totals['differential_deal_periods']} deal-periods, "
        f"stateful {totals['stateful_steps']} steps"
    )
