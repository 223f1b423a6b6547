"""The float kernel splits 64+ scenarios over threads: each scenario must come out as if
it were run on its own (serial path, one scenario)."""

from __future__ import annotations

import numpy as np

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool
from openmbs.structuring import collections_from_projection, example_deal, run_waterfall


def test_parallel_scenarios_equal_serial_runs() -> None:
    rng = np.random.default_rng(11)
    projections = [
        project_pool(
            balance=100_000_000.0,
            gross_coupon=0.065,
            net_coupon=0.06,
            original_term=360,
            remaining_term=360,
            prepayment=Prepayment.psa(float(rng.uniform(50, 600))),
            default=Default.sda(float(rng.uniform(0, 800))),
            severity=float(rng.uniform(0.2, 0.6)),
            lag=int(rng.integers(0, 12)),
        )
        for _ in range(80)
    ]
    deal = example_deal("four_tranche")
    together = run_waterfall(deal, collections_from_projection(projections))
    assert together.n_scenarios == 80
    for s in (0, 17, 40, 79):
        alone = run_waterfall(deal, collections_from_projection(projections[s]))
        for name in ("interest_paid", "principal_paid", "writedown", "ending_balance",
                     "reserve_balance", "residual_paid"):
            got = getattr(together, name)[s]
            want = getattr(alone, name)[0]
            np.testing.assert_array_equal(got, want, err_msg=f"{name} scenario {s}")
