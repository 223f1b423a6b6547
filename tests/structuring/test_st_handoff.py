"""The hand-off from pool projections to the waterfall (hypothesis).

``collections_from_projection`` (and the OAS engine's per-path collections, which share
its balance rows) must pass the pool on as it is: the next period begins where this one
ends, to the last bit; rounding noise of the projection never reaches the user as an
error or as a balance below zero; and a deal that only splits the pool (an IO strip on
the pool's net WAC and a PO that takes all principal) pays exactly the pool's interest
and principal every period, at any speed, with any default and advancing assumption.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structuring_helpers import build_deal

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import ADVANCE_MODES, project_pool
from openmbs.errors import ConvergenceError, InputError
from openmbs.structuring import (
    breakeven_cdr,
    collections_from_projection,
    example_deal,
    pool_balance_rows,
    run_waterfall,
)

prepayments = st.one_of(
    st.floats(0.0, 0.6).map(Prepayment.cpr),
    st.floats(0.0, 1.0).map(Prepayment.smm),  # up to 100% SMM: the pool pays off at once
    st.floats(0.0, 3000.0).map(Prepayment.psa),
)
defaults = st.one_of(
    st.none(),
    st.floats(0.0, 0.5).map(Default.cdr),
    st.floats(0.0, 0.2).map(Default.mdr),
    st.floats(0.0, 3000.0).map(Default.sda),
)
pools = st.fixed_dictionaries({
    # whole cents: a class face is sized in the asset's base units
    "balance": st.integers(100_000, 100_000_000_000).map(lambda c: c / 100.0),
    "wac": st.integers(0, 96).map(lambda k: k / 800.0),
    "fee": st.sampled_from([0.0, 0.0025, 0.005]),
    "term": st.integers(1, 360),
    "age": st.integers(0, 60),
})


def _project(pool: dict[str, Any], prepay: Prepayment, default: Default | None, severity: float,
             lag: int, advance: str) -> Any:
    wac = pool["wac"]
    return project_pool(balance=pool["balance"], gross_coupon=wac,
                        net_coupon=max(wac - pool["fee"], 0.0),
                        original_term=pool["term"] + pool["age"], remaining_term=pool["term"],
                        prepayment=prepay, default=default, severity=severity, lag=lag,
                        advance=advance)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(pools, prepayments, defaults, st.floats(0.0, 1.0), st.integers(0, 24),
       st.sampled_from(ADVANCE_MODES))
def test_next_period_begins_where_this_one_ends(pool, prepay, default, severity, lag,  # type: ignore[no-untyped-def]
                                               advance) -> None:
    cf = _project(pool, prepay, default, severity, lag, advance)
    c = collections_from_projection(cf)
    beg, end = c.beginning_balance[0], c.ending_balance[0]
    assert beg[0] == cf.original_balance
    np.testing.assert_array_equal(beg[1:], end[:-1])  # exactly, not approximately
    for name in ("beginning_balance", "ending_balance", "delinquent_60", "interest",
                 "scheduled_principal", "prepaid_principal", "recoveries", "losses"):
        assert np.all(getattr(c, name) >= 0.0), name
    # the balance rows are the projection's (performing + foreclosure), clean of noise
    tol = 1e-9 * cf.original_balance
    np.testing.assert_allclose(end, cf.performing_balance + cf.foreclosure_balance,
                               rtol=1e-12, atol=tol)
    # and the pool's principal and losses explain every change of balance
    moved = (c.scheduled_principal + c.prepaid_principal + c.recoveries + c.losses)[0]
    np.testing.assert_allclose(beg - end, moved, rtol=1e-9, atol=tol)


def test_no_advance_pipeline_ends_empty_not_negative() -> None:
    # the shape of the reported failure: no advancing, a lag, defaults to the end; the
    # foreclosure pipeline used to end at about -1e-8 (adding and removing the same
    # cohorts in floating point), which the hand-off refused
    bad = 0
    rng = np.random.default_rng(11)
    for _ in range(60):
        cf = project_pool(balance=float(rng.uniform(1e5, 5e8)),
                          gross_coupon=float(rng.integers(16, 80)) / 800.0,
                          net_coupon=0.0, original_term=360,
                          remaining_term=int(rng.integers(24, 361)),
                          prepayment=Prepayment.psa(float(rng.uniform(0, 600))),
                          default=Default.cdr(float(rng.uniform(0.001, 0.2))),
                          severity=float(rng.uniform(0.1, 0.9)),
                          lag=int(rng.integers(1, 13)), advance="none")
        bad += int(cf.foreclosure_balance[-1] != 0.0)
        collections_from_projection(cf)  # must not raise
    assert bad == 0


def test_real_negative_balances_are_still_refused() -> None:
    orig = 1e6
    z = np.zeros((1, 3))
    sched = np.array([[5e5, 5e5, 0.0]])
    # a real negative ending balance from the projection is an error naming the period
    with pytest.raises(InputError, match="period 2"):
        pool_balance_rows(sched, z, z, z, np.array([[5e5, -1.0, 0.0]]), z, orig)
    with pytest.raises(InputError, match="foreclosure balance"):
        pool_balance_rows(sched, z, z, z, np.array([[5e5, 0.0, 0.0]]),
                          np.array([[0.0, -0.5, 0.0]]), orig)
    # rounding noise (a pipeline emptied to -1e-8) is zero
    beg, end, dq, sch = pool_balance_rows(sched, z, z, z, np.array([[5e5, -1e-8, 0.0]]),
                                          np.array([[0.0, -1e-8, 0.0]]), orig)
    np.testing.assert_array_equal(beg[0], [orig, 5e5, 0.0])
    np.testing.assert_array_equal(end[0], [5e5, 0.0, 0.0])
    np.testing.assert_array_equal(dq[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(sch, sched)


@settings(max_examples=12, deadline=None)
@given(st.sampled_from(ADVANCE_MODES), st.floats(0.0, 400.0), st.floats(0.2, 0.8),
       st.integers(0, 12))
def test_breakeven_cdr_works_with_every_advance_mode(advance, psa, severity, lag) -> None:  # type: ignore[no-untyped-def]
    spec = example_deal("senior_sub")
    p = spec.pool

    def project(d: Default) -> Any:
        return project_pool(balance=p.balance, gross_coupon=p.wac, net_coupon=p.net_coupon,
                            original_term=p.term, remaining_term=p.term,
                            prepayment=Prepayment.psa(psa), default=d, severity=severity,
                            lag=lag, advance=advance)

    try:
        be = breakeven_cdr(spec, project, "SUB", tol=1e-3)
    except ConvergenceError:  # no loss to SUB even at 100% CDR: a legitimate answer
        return
    assert 0.0 <= be <= 1.0


def _io_po_deal(balance: float, wac: float, net: float, term: int) -> Any:
    # the IO's strip rate is above the pool's net coupon, so that what is due always
    # exceeds the pool's interest and the IO takes all of it (none is left for others)
    return build_deal(
        [
            {"name": "IO", "notional": "pool", "rate": min(2.0 * net + 0.01, 0.9),
             "priority": 1, "principal": "none"},
            {"name": "PO", "remainder": True, "coupon": "none", "priority": 1},
        ],
        pool={"balance": balance, "wac": wac, "net_coupon": net, "term": term},
        asset={"symbol": "USD", "decimals": 6},
    )


@settings(max_examples=80, deadline=None)
@given(pools, prepayments, defaults, st.floats(0.0, 1.0), st.integers(0, 24),
       st.sampled_from(ADVANCE_MODES))
def test_io_and_po_split_the_pool_exactly(pool, prepay, default, severity, lag, advance) -> None:  # type: ignore[no-untyped-def]
    cf = _project(pool, prepay, default, severity, lag, advance)
    wac = pool["wac"]
    deal = _io_po_deal(cf.original_balance, wac, max(wac - pool["fee"], 0.0),
                       pool["term"] + pool["age"])
    c = collections_from_projection(cf)
    res = run_waterfall(deal, c, keep="all")
    io, po = res.tranche("IO"), res.tranche("PO")
    ip, pp = res.table("interest_paid")[0], res.table("principal_paid")[0]
    wd = res.table("writedown")[0]
    pool_int = c.interest[0]
    pool_prin = (c.scheduled_principal + c.prepaid_principal + c.recoveries)[0]
    # 1e-12 relative in every period; the absolute floor (a few ulps of the original
    # balance) only matters in a pool's deep tail (flows below ~1e-12 of the original
    # balance), where the float waterfall's own class balance arithmetic keeps rounding
    # from when the balances were large
    floor = 1e-15 * cf.original_balance
    np.testing.assert_allclose(ip[:, io], pool_int, rtol=1e-12, atol=floor)
    np.testing.assert_allclose(pp[:, po], pool_prin, rtol=1e-12, atol=floor)
    # the PO is written down by the pool's losses and nothing else
    np.testing.assert_allclose(wd[:, po], c.losses[0], rtol=1e-12,
                               atol=1e-12 * cf.original_balance)
    assert float(res.table("residual_paid")[0].sum()) <= 1e-9 * cf.original_balance
