"""Scenario-grid speed: 1 vs 2 local worker processes vs a local Dask cluster.

Run: ``.venv/bin/python benchmarks/bench_scenarios.py [--scenarios 1000]``

A grid of PSA x CDR x severity x shift (10 x 5 x 4 x 5 = 1,000 scenarios by default) on
the four-tranche example deal and a generic 500m pool: each scenario projects the pool
(SIFMA Standard Formulas), runs the float waterfall and solves four tranche yields. The
same grid runs in this process (1 worker), on a 2-process local pool, and on a
``distributed.LocalCluster`` of 2 single-threaded worker processes; the table gives
wall times, scenarios a second, the speed-up over 1 worker and whether the result
tables are identical. Times include starting the workers (each imports openmbs and
loads the numba caches), which is the fixed cost a grid must amortise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from openmbs.pricing import PoolLines
from openmbs.risk import ScenarioGrid, run_scenarios
from openmbs.structuring import example_deal


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=1000, choices=[40, 200, 1000])
    args = ap.parse_args()
    n_psa = {40: 2, 200: 5, 1000: 10}[args.scenarios]
    grid = ScenarioGrid(
        psa=tuple(np.linspace(50, 500, n_psa)),
        cdr=(0.0, 0.5, 1.0, 2.0, 4.0),
        severity=(20.0, 35.0, 50.0, 65.0),
        shift_bp=(-200.0, -100.0, 0.0, 100.0, 200.0) if args.scenarios > 40 else (0.0,),
    )
    deal = example_deal("four_tranche")
    pool = PoolLines.generic(balance=500e6, wac=0.065, net_coupon=0.06)
    run_scenarios(deal, pool, ScenarioGrid(), price=100.0, workers=1)  # warm-up
    rows = []
    t0 = time.perf_counter()
    base = run_scenarios(deal, pool, grid, price=100.0, workers=1)
    rows.append(("local, 1 worker (in process)", time.perf_counter() - t0, base))
    t0 = time.perf_counter()
    two = run_scenarios(deal, pool, grid, price=100.0, workers=2)
    rows.append(("local, 2 worker processes", time.perf_counter() - t0, two))
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        t0 = time.perf_counter()
        dk = run_scenarios(deal, pool, grid, price=100.0, dask_address=cluster.scheduler_address)
        rows.append(("Dask LocalCluster, 2 workers", time.perf_counter() - t0, dk))
    n = len(grid)
    print(f"\nScenario grid: {n} scenarios x 4 tranches, four_tranche deal")
    print(f"{'backend':<32}{'seconds':>9}{'scen/s':>9}{'speed-up':>10}{'identical':>11}")
    for name, t, res in rows:
        same = res.identical_to(base)
        print(f"{name:<32}{t:>9.2f}{n / t:>9.1f}{rows[0][1] / t:>10.2f}{same!s:>11}")


if __name__ == "__main__":
    main()
