"""The session summary line that counts the invariant checks (``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

_INNER = """
import pytest

def test_a(record_property):
    record_property("differential_deal_periods", 1200)
    record_property("unrelated", 5)

@pytest.mark.parametrize("k", [1, 2, 3])
def test_b(record_property, k):
    record_property("differential_deal_periods", k)
    record_property("stateful_steps", 10 * k)

def test_c(record_property):
    record_property("stateful_steps", "not a number")
"""


@pytest.mark.parametrize("workers", [None, "2"])
def test_summary_sums_recorded_counts(pytester: pytest.Pytester, workers: str | None) -> None:
    """1200 + 1 + 2 + 3 deal-periods and 60 steps, in one process and over two xdist
    workers (the properties travel to the controller with the reports)."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_inner=_INNER)
    args = ["-p", "no:cacheprovider"] + (["-n", workers] if workers else [])
    # xdist needs its own process; one process runs in this one (faster)
    result = pytester.runpytest_subprocess(*args) if workers else pytester.runpytest_inprocess(*args)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["invariants: differential 1206 deal-periods, stateful 60 steps"])
