"""The example deals on projected pools: float and exact agree; projection mapping; PAC."""

from __future__ import annotations

import numpy as np
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool
from openmbs.structuring import (
    EXAMPLE_DEALS,
    collections_from_projection,
    compile_exact,
    example_deal,
    remittances_from_collections,
    run_exact,
    run_waterfall,
)


def _projection(spec, psa=150.0, cdr=0.03, sev=0.45, lag=6):
    # P&I advanced: the example deals' stresses below were set with the interest of
    # defaulted loans paid (the SIFMA default, principal only, loses it and so leaves
    # less excess interest to cover losses)
    p = spec.pool
    return project_pool(
        balance=p.balance,
        gross_coupon=p.wac,
        net_coupon=p.net_coupon,
        original_term=p.term,
        remaining_term=p.term - p.age,
        loan_age=p.age,
        prepayment=Prepayment.psa(psa),
        default=Default.cdr(cdr),
        severity=sev,
        lag=lag,
        advance="all",
    )


def test_collections_from_projection_balances_reconcile():
    spec = example_deal("four_tranche")
    cf = _projection(spec)
    c = collections_from_projection(cf)
    # beginning - ending = scheduled + prepaid + recoveries + losses, every period
    lhs = c.beginning_balance - c.ending_balance
    rhs = c.scheduled_principal + c.prepaid_principal + c.recoveries + c.losses
    assert np.allclose(lhs, rhs, atol=1e-4)
    assert np.allclose(c.interest[0], cf.net_interest)
    assert c.beginning_balance[0, 0] == cf.original_balance
    # clean-up call at 10%: the period the factor first reaches 10% takes the rest
    cc = collections_from_projection(cf, cleanup_call=0.10)
    end = cf.performing_balance + cf.foreclosure_balance
    k = int(np.nonzero(end <= 0.10 * cf.original_balance)[0][0])
    assert cc.ending_balance[0, k] == 0.0 and cc.ending_balance[0, k - 1] > 0.0
    assert np.isclose(cc.prepaid_principal[0, k], cf.voluntary_prepayment[k] + end[k])
    assert np.all(cc.interest[0, k + 1 :] == 0.0)


@pytest.mark.parametrize("name", EXAMPLE_DEALS)
def test_example_float_matches_exact(name):
    spec = example_deal(name)
    c = collections_from_projection(_projection(spec), cleanup_call=spec.cleanup_call)
    fl = run_waterfall(spec, c)
    d = compile_exact(spec)
    state, res = run_exact(d, remittances_from_collections(c, d.decimals))
    scale = 10.0**d.decimals
    for field in ("interest_paid", "principal_paid", "writedown", "ending_balance"):
        ex = np.array([getattr(r, field) for r in res], dtype=np.float64) / scale
        diff = np.abs(ex - fl.table(field)[0])
        # rounding of the exact engine: at most a few units per class per period
        assert diff.max() <= 360 * 8 / scale, (field, float(diff.max()))
    ex_res = np.array([r.residual_paid for r in res], dtype=np.float64) / scale
    assert np.abs(ex_res - fl.table("residual_paid")[0]).max() <= 360 * 8 / scale
    # everything is paid off, nothing stays in the deal
    assert all(b == 0 for b in state.balance) and state.dust == 0 and state.reserve == 0


def test_four_tranche_losses_hit_the_bottom_first():
    spec = example_deal("four_tranche")
    c = collections_from_projection(_projection(spec, cdr=0.08, sev=0.6), cleanup_call=0.1)
    r = run_waterfall(spec, c)
    loss = r.summary.writedown[0]
    # D is written down before C, C before B; A untouched at this stress
    assert loss[3] > 0
    assert loss[0] == 0.0
    if loss[2] > 0:
        assert np.isclose(loss[3], spec.tranches[3].percent * 500e6)


def test_pac_band_schedule_is_min_of_the_two_speeds():
    spec = example_deal("pac_io")
    d = compile_exact(spec)
    i = d.names.index("PAC")
    sched = np.array(d.pac_schedule[i], dtype=np.float64) / 10**d.decimals
    lo = _projection(spec, psa=100, cdr=0.0, sev=0.0, lag=0).principal
    hi = _projection(spec, psa=300, cdr=0.0, sev=0.0, lag=0).principal
    band = np.minimum(lo, hi)
    face = d.face[i] / 10**d.decimals
    assert np.isclose(face, band.sum(), rtol=1e-9)
    assert np.allclose(sched, np.maximum(face - np.cumsum(band), 0.0), atol=1e-5)
    # inside the band the PAC follows its schedule exactly
    for psa in (100.0, 200.0, 300.0):
        c = collections_from_projection(_projection(spec, psa=psa, cdr=0.0, sev=0.0, lag=0))
        r = run_waterfall(spec, c)
        end = r.table("ending_balance")[0, :, i]
        sup_left = r.table("ending_balance")[0, :, d.names.index("SUP")] > 1.0
        assert np.allclose(end[sup_left], sched[: len(end)][sup_left], atol=1e-4)
    # the IO strip is paid 0.5% a year on the pool
    c = collections_from_projection(_projection(spec, psa=150, cdr=0.0, sev=0.0, lag=0))
    r = run_waterfall(spec, c)
    io = d.names.index("IO")
    assert np.allclose(r.table("interest_paid")[0, :, io], c.beginning_balance[0] * 0.005 / 12)


def test_period_table_writes_csv_parquet_json(tmp_path):
    import json

    import pyarrow.parquet as pq

    from openmbs.structuring import period_table, write_table

    spec = example_deal("senior_sub")
    r = run_waterfall(spec, collections_from_projection(_projection(spec)))
    cols = period_table(r)
    n = len(cols["period"])
    assert n == 2 * 360
    for suffix in (".csv", ".parquet", ".json"):
        write_table(cols, str(tmp_path / f"t{suffix}"))
    t = pq.read_table(tmp_path / "t.parquet")
    assert t.num_rows == n
    assert np.allclose(t.column("principal_paid").to_numpy(), cols["principal_paid"])
    rows = json.loads((tmp_path / "t.json").read_text())
    assert len(rows) == n and rows[0]["tranche"] == "SEN" and rows[1]["tranche"] == "SUB"
    # factor = ending balance / original face
    assert np.isclose(rows[0]["factor"], rows[0]["ending_balance"] / 230e6)
