"""Roll-rate estimation: probabilities are a distribution, counts are the loan-month pairs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.errors import InputError
from openmbs.servicing import LoanState, estimate_transitions


def _pairs_from_raw(perf: Path) -> dict[tuple[int, int], int]:
    """Consecutive-month pairs of one loan, counted straight from the raw file."""
    rows = [ln.split("|") for ln in perf.read_text().splitlines()]
    rows.sort(key=lambda f: (f[0], int(f[1][6:10]) * 12 + int(f[1][0:2])))
    counts: dict[tuple[int, int], int] = {}

    def state(f: list[str]) -> int:
        zb = {"01": 8, "02": 10, "03": 9, "06": 12, "09": 6, "15": 11, "16": 11}
        if f[12]:
            return zb[f[12]]
        return min(int(f[10]), 4)

    for a, b in itertools.pairwise(rows):
        ma = int(a[1][6:10]) * 12 + int(a[1][0:2])
        mb = int(b[1][6:10]) * 12 + int(b[1][0:2])
        if a[0] == b[0] and mb == ma + 1 and not a[12]:
            key = (state(a), state(b))
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_counts_equal_the_loan_month_pairs(fannie: Any, fannie_paths: tuple[Path, Path]) -> None:
    expected = _pairs_from_raw(fannie_paths[1])
    m = estimate_transitions(fannie, by=("age", "ltv", "fico"))
    pooled = m.pooled().counts[0]
    got = {(i, j): int(pooled[i, j]) for i, j in zip(*np.nonzero(pooled), strict=True)}
    assert got == expected
    assert m.n_pairs == sum(expected.values())
    assert m.counts.sum() == m.pooled().counts.sum()


def test_rows_sum_to_one(fannie: Any) -> None:
    for by in [(), ("age",), ("age", "ltv", "fico"), ("fico",)]:
        m = estimate_transitions(fannie, by=by)
        p = m.probabilities
        seen = m.observations > 0
        assert seen.any()
        np.testing.assert_allclose(p.sum(axis=2)[seen], 1.0, rtol=0, atol=1e-12)
        assert np.isnan(p[~seen]).all()
        f = m.filled()
        np.testing.assert_allclose(f.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    # terminal states never appear as a from-state
    m = estimate_transitions(fannie, by=())
    assert m.observations[0, LoanState.PREPAID] == 0


def test_bucket_lookup_and_bad_dimension(fannie: Any) -> None:
    m = estimate_transitions(fannie, by=("age", "fico"))
    i = m.bucket_index(age="0-12", fico="740+")
    assert m.bucket(i) == ("0-12", "740+")
    assert m.observations[i].sum() > 0
    with pytest.raises(InputError, match="dti"):
        estimate_transitions(fannie, by=("dti",))


def test_cli_json(fannie_paths: tuple[Path, Path]) -> None:
    acq, perf = fannie_paths
    res = CliRunner().invoke(
        app,
        ["model", "transitions", "--performance", str(perf), "--acquisition", str(acq),
         "--by", "age", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["agency"] == "fannie" and doc["by"] == ["age"]
    total = sum(r["observations"] for b in doc["buckets"] for r in b["from"].values())
    assert total == doc["pairs"]
    for b in doc["buckets"]:
        for r in b["from"].values():
            assert sum(r["probabilities"].values()) == pytest.approx(1.0)
            assert sum(r["counts"].values()) == r["observations"]


def test_cli_bad_files(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["model", "transitions", "--performance", str(tmp_path / "no.txt")])
    assert isinstance(res.exception, InputError) and "cannot open" in str(res.exception)
    bad = tmp_path / "five.txt"
    bad.write_text("a|b|c|d|e\n")
    res = runner.invoke(app, ["model", "transitions", "--performance", str(bad)])
    assert isinstance(res.exception, InputError)
    assert "row 1: 5 fields" in str(res.exception) and str(bad) in str(res.exception)
