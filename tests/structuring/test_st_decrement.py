"""Prospectus decrement tables: the conventions worked by hand, and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.structuring import (
    collateral_collections,
    decrement_table,
    example_deal,
    run_waterfall,
)
from openmbs.structuring._decrement import distribution_dates, years_30_360

runner = CliRunner()


def test_years_30_360() -> None:
    # closing 29 Jan, first distribution 25 Feb: 26 days of 30/360
    assert years_30_360(dt.date(2026, 1, 29), dt.date(2026, 2, 25)) == 26 / 360
    assert years_30_360(dt.date(2026, 1, 31), dt.date(2027, 1, 31)) == 1.0
    assert years_30_360(dt.date(2026, 2, 28), dt.date(2026, 3, 31)) == 33 / 360


def test_wal_is_from_settlement_on_net_reductions() -> None:
    """Recomputed from the waterfall's balances: sum(reduction x years from closing) /
    sum(reductions), with a Z class's accreting periods counting no reduction."""
    spec = example_deal("agency_remic")
    speeds = [0.0, 150.0]
    tab = decrement_table(spec, speeds)
    res = run_waterfall(spec, collateral_collections(spec.pool, speeds), keep="all")
    dates = distribution_dates(spec, res.table("ending_balance").shape[1])
    years = np.array([years_30_360(spec.closing_date, d) for d in dates])
    z = res.tranche("Z")
    for s in range(len(speeds)):
        beg = res.table("beginning_balance")[s, :, z]
        end = res.table("ending_balance")[s, :, z]
        red = np.maximum(beg - end, 0.0)
        assert float(res.table("accreted")[s, :, z].sum()) > 0  # Z accretes first
        want = float((red * years).sum() / red.sum())
        assert abs(float(tab.wal[s, z]) - want) < 1e-12
        # the principal paid is the face plus the accretion; the WAL weighs the net
        # reductions instead (a period that accretes and pays the accrual back to the
        # Z class reduces nothing), which less the net increases are the face
        paid = res.table("principal_paid")[s, :, z]
        assert abs(paid.sum() - (30_000_000.0 + res.table("accreted")[s, :, z].sum())) < 1e-3
        assert abs(red.sum() - np.maximum(end - beg, 0.0).sum() - 30_000_000.0) < 1e-3
        assert paid.sum() >= red.sum() - 1e-3
    # the first anniversary row is the January 2027 distribution date (period 12)
    assert tab.dates[0] == dt.date(2027, 1, 25)
    k = tab.names.index("Z")
    pct = 100.0 * res.table("ending_balance")[0, 11, z] / 30_000_000.0
    assert abs(float(tab.percent[0, 0, k]) - pct) < 1e-9 and pct > 100.0  # accreted


def test_cells_round_half_up_and_star() -> None:
    tab = decrement_table(example_deal("four_tranche"), [100.0])
    pct = tab.percent.copy()
    pct[0, 0, 0] = 0.3
    pct[0, 1, 0] = 12.5
    t2 = type(tab)(tab.deal, tab.names, tab.psa, tab.dates, pct, tab.wal)
    assert t2.cell(0, 0, 0) == "*" and t2.cell(0, 1, 0) == "13"


def test_cli_decrement_json_matches_the_library() -> None:
    r = runner.invoke(app, ["deal", "decrement", "agency_remic", "--psa", "0,150,500", "--tranche", "PA,Z", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert set(data["classes"]) == {"PA", "Z"}
    tab = decrement_table(example_deal("agency_remic"), [0.0, 150.0, 500.0])
    i = tab.names.index("PA")
    assert data["classes"]["PA"]["wal"] == [float(x) for x in tab.wal[:, i]]
    assert data["classes"]["PA"]["percent"][0] == [tab.cell(s, 0, i) for s in range(3)]
    r = runner.invoke(app, ["deal", "decrement", "agency_remic", "--tranche", "NOPE"])
    assert r.exit_code != 0 and "NOPE" in str(r.exception)


def test_cli_decrement_table_prints() -> None:
    r = runner.invoke(app, ["deal", "decrement", "pac_io", "--psa", "100,300"])
    assert r.exit_code == 0, r.output
    assert "class PAC" in r.output and "WAL (years)" in r.output and "January 2027" in r.output


def test_deal_run_projects_each_rep_line() -> None:
    """`deal run` on a deal whose pool is rep lines: the lines' flows summed, the same
    collateral as the decrement table (PA's principal window and WAL agree with a run
    on `collateral_collections`)."""
    r = runner.invoke(app, ["deal", "run", "agency_remic", "--psa", "150", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert "2 rep lines" in data["pool"]
    spec = example_deal("agency_remic")
    res = run_waterfall(spec, collateral_collections(spec.pool, [150.0]), keep="cashflows")
    pa = next(t for t in data["tranches"] if t["name"] == "PA")
    i = res.tranche("PA")
    # the WAL is the prospectus one (settlement date, net reductions): the decrement
    # table's on the same collateral (this test compared the period/12 WAL before)
    assert abs(pa["wal"] - float(decrement_table(spec, [150.0]).wal[0, i])) < 1e-9
    assert pa["first"] == int(res.summary.first_period[0, i]) and pa["last"] == int(res.summary.last_period[0, i])


def test_deal_run_table_and_decrement_print_the_same_wal_on_a_z_deal() -> None:
    """`deal run`, `deal table` and `deal decrement` give each class the prospectus WAL
    (from the settlement date, on net reductions of class balance), on a deal with a Z
    class, whose accreting periods the old WAL (period / 12 on principal paid) counted
    differently."""
    speeds = [150.0, 500.0]
    r = runner.invoke(app, ["deal", "decrement", "agency_remic", "--psa", "150,500", "--json"])
    assert r.exit_code == 0, r.output
    dec = json.loads(r.output)["classes"]
    r = runner.invoke(app, ["deal", "table", "agency_remic", "--tranche", "Z", "--psa", "150,500",
                            "--price", "100", "--json"])
    assert r.exit_code == 0, r.output
    table_z = [c["wal"] for c in json.loads(r.output)["rows"][0]["cells"]]
    spec = example_deal("agency_remic")
    old = run_waterfall(spec, collateral_collections(spec.pool, speeds), keep="summary").summary.wal
    iz = [t.name for t in spec.tranches].index("Z")
    for s, psa in enumerate(speeds):
        r = runner.invoke(app, ["deal", "run", "agency_remic", "--psa", f"{psa:g}", "--json"])
        assert r.exit_code == 0, r.output
        run = {t["name"]: t["wal"] for t in json.loads(r.output)["tranches"]}
        for name, wal in run.items():
            want = dec[name]["wal"][s]
            if want is None:
                assert wal is None, name
            else:
                assert abs(wal - want) < 1e-9, (name, psa, wal, want)
        assert abs(table_z[s] - dec["Z"]["wal"][s]) < 1e-9, (psa, table_z[s])
        # the conventions differ on this deal (dates from settlement, and periods in
        # which Z accretes and is paid its own accrual): the test tells them apart
        assert abs(float(old[s, iz]) - dec["Z"]["wal"][s]) > 1e-3, (psa, float(old[s, iz]))
