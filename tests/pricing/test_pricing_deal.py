"""A deal on a pool as library calls: `run_deal`, `deal_price_yield_table`, `deal_breakeven`."""

from __future__ import annotations

import numpy as np
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool
from openmbs.collateral import generate_tape, pool_stats
from openmbs.errors import InputError
from openmbs.pricing import (
    GenericPool,
    deal_breakeven,
    deal_price_yield_table,
    run_deal,
    size_deal,
    tranche_analytics,
)
from openmbs.structuring import collections_from_projection, example_deal, run_waterfall

FOUR = example_deal("four_tranche")
POOL = GenericPool(balance=200e6, gross_coupon=0.07, net_coupon=0.065, original_term=360, loan_age=6)


def test_run_deal_sizes_projects_runs_and_measures() -> None:
    run = run_deal(FOUR, POOL, prepayment=Prepayment.psa(200), default=Default.cdr(0.01),
                   severity=0.35, lag=6, index_rate=0.05, price=100.0)
    assert run.deal.pool.balance == 200e6 and run.deal.pool.age == 6
    cf = project_pool(balance=200e6, gross_coupon=0.07, net_coupon=0.065, original_term=360,
                      remaining_term=354, loan_age=6, prepayment=Prepayment.psa(200),
                      default=Default.cdr(0.01), severity=0.35, lag=6)
    sized = FOUR.with_pool(balance=200e6, wac=0.07, net_coupon=0.065, term=360, age=6)
    res = run_waterfall(sized, collections_from_projection(
        cf, servicing_in_net_rate=sized.pool.servicing_in_net_rate,
        cleanup_call=sized.cleanup_call, index_rate=0.05))
    assert list(run.tranches) == tranche_analytics(res, price=100.0,
                                                   delay_days=sized.payment_delay_days)
    # percent-sized classes resize to the pool: faces scale with its balance
    faces = np.array([t.face for t in run.tranches])
    big = run_deal(FOUR, GenericPool(balance=400e6, gross_coupon=0.07, net_coupon=0.065,
                                     original_term=360, loan_age=6), prepayment=Prepayment.psa(200))
    assert np.allclose([t.face for t in big.tranches], 2 * faces)
    d = run.as_dict()
    assert d["deal"] == FOUR.name and "yield" in d["tranches"][0] and "yield_" not in d["tranches"][0]


def test_a_tape_sizes_the_deal_from_its_statistics() -> None:
    tape = generate_tape(60, seed=5)
    st = pool_stats(tape)
    sized = size_deal(FOUR, tape)
    assert sized.pool.balance == pytest.approx(st.current_balance)
    assert sized.pool.wac == pytest.approx(st.wac) and sized.pool.net_coupon == pytest.approx(st.net_wac)
    run = run_deal(FOUR, tape, prepayment=Prepayment.psa(100))
    # no defaults: every unit of principal the pool pays goes to a class or the residual
    paid = sum(t.principal for t in run.tranches)
    assert paid == pytest.approx(sum(t.face for t in run.tranches), rel=1e-9)


def test_price_yield_table_rows_are_prices_and_columns_speeds() -> None:
    grid = deal_price_yield_table(FOUR, POOL, "A", prices=[98.0, 102.0], psa=[100.0, 400.0])
    assert len(grid) == 2 and all(len(row) == 2 for row in grid)
    assert grid[0][0].yield_ > grid[1][0].yield_  # a discount yields more
    assert grid[0][1].wal < grid[0][0].wal  # faster prepayment shortens the class
    with pytest.raises(InputError, match="tranche 'Z' is not in deal"):
        deal_price_yield_table(FOUR, POOL, "Z", prices=[100.0], psa=[100.0])


def test_breakeven_is_the_first_loss() -> None:
    spec = example_deal("senior_sub")
    cdr = deal_breakeven(spec, POOL, "SUB", by="cdr", prepayment=Prepayment.psa(100),
                         severity=0.4, lag=6)
    assert 0.0 < cdr < 0.2

    def sub_loss(c: float) -> float:
        run = run_deal(spec, POOL, prepayment=Prepayment.psa(100), default=Default.cdr(c),
                       severity=0.4, lag=6)
        return next(t.loss for t in run.tranches if t.name == "SUB")

    assert sub_loss(cdr + 1e-4) > 0.0
    assert sub_loss(max(cdr - 1e-4, 0.0)) < 1.0  # below the breakeven: (almost) no loss
    with pytest.raises(InputError, match=r"severity 0\.0: must be a decimal in"):
        deal_breakeven(spec, POOL, "SUB", by="cdr", prepayment=Prepayment.psa(100), severity=0.0)
    with pytest.raises(InputError, match="breakeven by 'x'"):
        deal_breakeven(spec, POOL, "SUB", by="x", prepayment=Prepayment.psa(100), severity=0.4)  # type: ignore[arg-type]
