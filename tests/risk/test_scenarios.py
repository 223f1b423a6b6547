"""Scenario grids: properties of the tables, and identical results on every backend."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.errors import InputError
from openmbs.pricing import PoolLines, price_from_yield
from openmbs.risk import SCENARIO_COLUMNS, ScenarioGrid, run_scenarios
from openmbs.structuring import example_deal

DEAL = example_deal("four_tranche")
POOL = PoolLines.generic(balance=500e6, wac=0.065, net_coupon=0.06)
#: The example deal's own [pool] section, as `risk scenarios` sizes it without pool flags.
POOL_OF_FOUR = PoolLines.generic(
    balance=DEAL.pool.balance, wac=DEAL.pool.wac, net_coupon=DEAL.pool.net_coupon,
    term=DEAL.pool.term, age=DEAL.pool.age,
)
GRID = ScenarioGrid.parse(psa="100,300", cdr="0,3", severity="20,60", shift_bp="-100,100")


@pytest.fixture(scope="module")
def serial() -> object:
    return run_scenarios(DEAL, POOL, GRID, price=99.0, workers=1, chunk_size=3)


def test_grid_order_and_parse() -> None:
    g = ScenarioGrid.parse(psa="100, 200", cdr="1", severity="30,40", shift_bp="0")
    assert len(g) == 4
    # percent on the command line, decimals in the grid (PSA stays a speed, shifts bp)
    assert g.scenarios().tolist() == [
        [100, 0.01, 0.3, 0], [100, 0.01, 0.4, 0], [200, 0.01, 0.3, 0], [200, 0.01, 0.4, 0]
    ]
    with pytest.raises(InputError, match="--cdr: 'x'"):
        ScenarioGrid.parse(psa="100", cdr="1,x")
    with pytest.raises(InputError, match="--severity 120: must be a percent"):
        ScenarioGrid.parse(psa="100", severity="120")
    # a percent given where the grid takes a decimal is refused, with the unit
    with pytest.raises(InputError, match=r"severity value 35.0 is outside \[0, 1\] \(a decimal"):
        ScenarioGrid(severity=(35.0,))


def test_table_properties(serial: object) -> None:
    res = serial
    assert tuple(res.table.column_names) == SCENARIO_COLUMNS  # type: ignore[attr-defined]
    assert res.n_scenarios == 16 and res.tranches == ("A", "B", "C", "D")  # type: ignore[attr-defined]
    rows = GRID.scenarios()
    loss = res.column("loss")  # type: ignore[attr-defined]
    wal = res.column("wal")  # type: ignore[attr-defined]
    y = res.column("yield")  # type: ignore[attr-defined]
    pas = res.column("price_at_shift")  # type: ignore[attr-defined]
    # no defaults, no losses
    assert np.all(loss[rows[:, 1] == 0] == 0)
    # faster prepayment shortens the senior tranche
    slow = (rows[:, 0] == 100) & (rows[:, 1] == 0) & (rows[:, 3] == 100)
    fast = (rows[:, 0] == 300) & (rows[:, 1] == 0) & (rows[:, 3] == 100)
    assert wal[fast, 0][0] < wal[slow, 0][0]
    # higher severity never lowers the junior tranche's loss
    lo = (rows[:, 2] == 0.2) & (rows[:, 1] == 0.03)
    hi = (rows[:, 2] == 0.6) & (rows[:, 1] == 0.03)
    assert lo.sum() == hi.sum() == 4
    assert np.all(loss[hi, 3] >= loss[lo, 3])
    # the price at the shifted yield: repricing at yield + shift, independent formula
    up = rows[:, 3] > 0
    assert np.all(pas[up] < 99.0) and np.all(pas[~up] > 99.0)
    assert np.all(np.isfinite(y[:, 0]))


def test_price_at_zero_shift_is_the_price() -> None:
    g = ScenarioGrid(psa=(150.0,), shift_bp=(0.0,))
    res = run_scenarios(DEAL, POOL, g, price=101.25, workers=1)
    assert np.allclose(res.column("price_at_shift"), 101.25, atol=1e-8)
    # the yield reprices the tranche's cash flows (price_from_yield as the check)
    assert math.isfinite(float(res.column("yield")[0, 0]))
    assert price_from_yield([100.0], 100.0, 0.0) > 0


def test_backends_agree_element_by_element(serial: object, tmp_path: Path) -> None:
    from distributed import LocalCluster

    local2 = run_scenarios(DEAL, POOL, GRID, price=99.0, workers=2, chunk_size=5)
    assert local2.backend == "processes"
    # equal to rounding (1e-9 relative): chunking may move the last bit, see matches()
    assert local2.matches(serial)  # type: ignore[arg-type]
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        on_dask = run_scenarios(
            DEAL, POOL, GRID, price=99.0, dask_address=cluster.scheduler_address, chunk_size=4
        )
    assert on_dask.backend == "dask"
    assert on_dask.matches(serial)  # type: ignore[arg-type]
    out = tmp_path / "grid.parquet"
    on_dask.write(str(out))
    assert pq.read_table(out).equals(on_dask.table)


def test_cli_scenarios(tmp_path: Path) -> None:
    from openmbs.cli import app

    out = tmp_path / "s.parquet"
    r = CliRunner().invoke(
        app,
        ["risk", "scenarios", "--deal", "four_tranche", "--psa", "100,200", "--cdr", "0,2",
         "--severity", "40", "--shift-bp", "0", "--price", "100", "--workers", "1",
         "--out", str(out), "--json"],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["n_scenarios"] == 4
    table = pq.read_table(out)
    assert table.num_rows == 16
    # one unit per kind in --json and --out: rates are decimals, like the yields
    assert doc["grid"]["cdr"] == [0.0, 0.02] and doc["grid"]["severity"] == [0.4]
    assert sorted(set(table.column("cdr").to_pylist())) == [0.0, 0.02]
    assert set(table.column("severity").to_pylist()) == {0.4}
    y = np.array(table.column("yield").to_pylist())
    assert np.all((y > -0.5) & (y < 0.5))
    # the summary reduces the table's own columns, shifted prices included
    for name, measures in doc["tranches"].items():
        rows = [r for r in table.to_pylist() if r["tranche"] == name]
        for m in ("yield", "wal", "loss", "price_at_shift"):
            vals = sorted(v[m] for v in rows if math.isfinite(v[m]))
            assert measures[m]["min"] == vals[0] and measures[m]["max"] == vals[-1]
            assert measures[m]["median"] == pytest.approx((vals[1] + vals[2]) / 2)


def test_cli_scenarios_table_shows_shifted_prices_whole_when_piped() -> None:
    from openmbs.cli import app

    r = CliRunner().invoke(
        app,
        ["risk", "scenarios", "--deal", "four_tranche", "--psa", "100,300", "--cdr", "2",
         "--severity", "40", "--shift-bp", "-100,100", "--price", "100", "--workers", "1"],
    )
    assert r.exit_code == 0, r.output
    res = run_scenarios(DEAL, POOL_OF_FOUR, ScenarioGrid.parse(
        psa="100,300", cdr="2", severity="40", shift_bp="-100,100"), price=100.0, workers=1)
    lines = r.stdout.splitlines()
    assert "…" not in r.stdout
    assert any("px@shift" in ln for ln in lines)
    rows = [ln for ln in lines if ln.strip().startswith("│") and "/" in ln]
    assert len(rows) == 4  # one line per scenario: nothing wrapped
    px = res.column("price_at_shift")
    for k, ln in enumerate(rows):
        cells = [c.strip() for c in ln.strip().strip("│").split("│")]
        assert cells[1:3] == ["2", "40"]  # CDR and severity in percent in the table
        for i in range(len(res.tranches)):
            assert cells[4 + i].split(" / ")[3] == f"{px[k, i]:.4f}"
