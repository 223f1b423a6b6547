"""The numba kernel's selective outputs (``keep=`` a tuple of table names, the fast path
for many scenarios) against the numpy engine (a separate implementation vectorised over
scenarios) and against the kernel's own full run, on random scenarios of every example
deal."""

from __future__ import annotations

import numpy as np
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool
from openmbs.errors import InputError
from openmbs.structuring import (
    EXAMPLE_DEALS,
    Collections,
    collections_from_projection,
    example_deal,
    run_waterfall,
)
from openmbs.structuring._waterfall import DEAL_TABLES, TRANCHE_TABLES


def _random_collections(seed: int, n: int) -> Collections:
    rng = np.random.default_rng(seed)
    projections = [
        project_pool(
            balance=250_000_000.0,
            gross_coupon=0.065,
            net_coupon=0.06,
            original_term=360,
            remaining_term=360,
            prepayment=Prepayment.psa(float(rng.uniform(25, 800))),
            default=Default.sda(float(rng.uniform(0, 1500))),
            severity=float(rng.uniform(0.1, 0.7)),
            lag=int(rng.integers(0, 12)),
        )
        for _ in range(n)
    ]
    c = collections_from_projection(projections)
    # a random floater index and 60+ delinquencies, so every input of the kernel moves
    index = rng.uniform(0.0, 0.09, c.interest.shape)
    dq = c.ending_balance * rng.uniform(0.0, 0.12, c.interest.shape)
    return Collections.from_arrays(
        original_balance=c.original_balance,
        interest=c.interest,
        scheduled_principal=c.scheduled_principal,
        prepaid_principal=c.prepaid_principal,
        recoveries=c.recoveries,
        losses=c.losses,
        beginning_balance=c.beginning_balance,
        ending_balance=c.ending_balance,
        delinquent_60=dq,
        index_rate=index,
        subsequent_recoveries=c.subsequent_recoveries,
    )


@pytest.mark.parametrize("name", EXAMPLE_DEALS)
def test_selected_tables_match_the_numpy_engine(name: str) -> None:
    # 70 scenarios: over the kernel's parallel threshold (64)
    coll = _random_collections(sum(map(ord, name)), 70)
    deal = example_deal(name)
    fast = run_waterfall(deal, coll, keep=("interest_paid", "principal_paid"))
    ref = run_waterfall(deal, coll, keep="all", engine="numpy")
    for table in ("interest_paid", "principal_paid"):
        got, want = fast.table(table), ref.table(table)
        assert got.shape == want.shape == (70, coll.n_periods, len(ref.names))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, err_msg=f"{name} {table}")
    for table in TRANCHE_TABLES[2:] + DEAL_TABLES:
        assert getattr(fast, table) is None, table
    for field in ("interest", "principal", "writedown", "ending_balance", "residual"):
        np.testing.assert_allclose(
            getattr(fast.summary, field), getattr(ref.summary, field), rtol=1e-9, atol=1e-6,
            err_msg=f"{name} summary {field}",
        )
    # (principal windows are not compared across engines: a 1e-10 residue of float
    # rounding paid late by one engine moves ``last_period``; see the next test)
    # not a vacuous comparison: every scenario pays principal to the classes
    assert np.all(fast.summary.principal.sum(axis=1) > 0)


@pytest.mark.parametrize("name", EXAMPLE_DEALS)
def test_keeping_fewer_tables_does_not_change_the_numbers(name: str) -> None:
    coll = _random_collections(3 + len(name), 12)
    deal = example_deal(name)
    full = run_waterfall(deal, coll, keep="all")
    for keep in (("writedown", "interest_shortfall"), ("reserve_balance",), "cashflows", "summary"):
        part = run_waterfall(deal, coll, keep=keep)
        for table in TRANCHE_TABLES + DEAL_TABLES:
            got = getattr(part, table)
            if got is not None:
                np.testing.assert_array_equal(got, full.table(table), err_msg=f"{keep} {table}")
        kept = {t for t in TRANCHE_TABLES + DEAL_TABLES if getattr(part, t) is not None}
        if isinstance(keep, tuple):
            assert kept == set(keep)
        np.testing.assert_array_equal(part.summary.interest, full.summary.interest)
        np.testing.assert_array_equal(part.summary.wal, full.summary.wal)
        np.testing.assert_array_equal(part.summary.first_period, full.summary.first_period)
        np.testing.assert_array_equal(part.summary.last_period, full.summary.last_period)


def test_numpy_engine_honours_table_names() -> None:
    coll = _random_collections(5, 3)
    res = run_waterfall(example_deal("senior_sub"), coll, keep=("principal_paid",), engine="numpy")
    assert res.principal_paid is not None and res.interest_paid is None


def test_unknown_table_is_named() -> None:
    coll = _random_collections(1, 1)
    with pytest.raises(InputError, match="'coupon_paid'"):
        run_waterfall(example_deal("four_tranche"), coll, keep=("coupon_paid",))
    with pytest.raises(InputError, match="'everything'"):
        run_waterfall(example_deal("four_tranche"), coll, keep="everything")  # type: ignore[arg-type]
