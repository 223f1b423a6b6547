"""Scenario-grid speed: 1 vs 2 local worker processes vs a local Dask cluster.

Run: ``.venv/bin/python benchmarks/bench_scenarios.py [--scenarios 1000] [--repeat 3]``

A grid of PSA x CDR x severity x shift (10 x 5 x 4 x 5 = 1,000 scenarios by default) on
the four-tranche example deal and a generic 500m pool: each scenario projects the pool
(SIFMA Standard Formulas), runs the float waterfall and solves four tranche yields.

The same grid runs in this process (1 worker, one numba thread), on a kept pool of 2
local worker processes, and on a ``distributed.LocalCluster`` of 2 single-threaded
worker processes. Start-up is measured apart from the grid: for the process pool, the
first call of ``run_scenarios`` on a two-scenario grid (spawning both workers, which
import openmbs and load the numba kernels from the on-disk cache in their
initializer); for Dask, creating the cluster and running the same warm-up on every
worker (``Client.run``). The grid time is the median
of ``--repeat`` runs on warm workers, the backends taking turns; "total" is start-up +
one grid. Speed-ups are
against the warm in-process run. "same" says whether every table equals the in-process
one to 1e-9 relative (``ScenarioResults.matches``) and "bitwise" whether it is
identical.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np

from openmbs.pricing import PoolLines
from openmbs.risk import ScenarioGrid, ScenarioResults, run_scenarios
from openmbs.structuring import example_deal

WARM = ScenarioGrid(psa=(100.0,), cdr=(0.0, 0.01), severity=(0.30,))


def machine_check() -> str:
    import numba

    @numba.njit(cache=True)
    def spin(n: int) -> float:
        acc = 0.0
        for i in range(n):
            acc += math.sqrt(i + 1.0)
        return acc

    spin(10)
    t0 = time.perf_counter()
    spin(20_000_000)
    dt = time.perf_counter() - t0
    load = os.getloadavg()
    return (f"machine check: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"{os.cpu_count()} cpus, 20M-step compiled loop {dt * 1e3:.0f} ms")


def timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=1000, choices=[40, 200, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n_psa = {40: 2, 200: 2, 1000: 10}[args.scenarios]
    grid = ScenarioGrid(
        psa=tuple(np.linspace(50, 500, n_psa)),
        cdr=(0.0, 0.005, 0.01, 0.02, 0.04),  # decimals: 0.02 is 2% CDR
        severity=(0.20, 0.35, 0.50, 0.65),
        shift_bp=(-200.0, -100.0, 0.0, 100.0, 200.0) if args.scenarios > 40 else (0.0,),
    )
    deal = example_deal("four_tranche")
    pool = PoolLines.generic(balance=500e6, wac=0.065, net_coupon=0.06)
    rep = args.repeat
    print(machine_check())

    def grid_run(**kw: object) -> ScenarioResults:
        return run_scenarios(deal, pool, grid, price=100.0, **kw)  # type: ignore[arg-type]

    from distributed import Client, LocalCluster

    from openmbs.risk._scenarios import _Job, _warm_worker

    t0 = time.perf_counter()
    run_scenarios(deal, pool, WARM, price=100.0, workers=1)  # loads the kernels here
    start_1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_scenarios(deal, pool, WARM, price=100.0, workers=2, chunk_size=1)
    start_2 = time.perf_counter() - t0
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    addr = cluster.scheduler_address
    with Client(addr) as client:  # every worker imports and loads the kernels once
        client.run(_warm_worker, _Job(deal, pool, 100.0, 0, 0.0))
    start_d = time.perf_counter() - t0

    # the backends take turns, so that a change of load on the shared machine hits all
    backends = [
        ("local, 1 worker (in process)", start_1, {"workers": 1}),
        ("local, 2 worker processes", start_2, {"workers": 2}),
        ("Dask LocalCluster, 2 workers", start_d, {"dask_address": addr}),
    ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in backends}
    results: dict[str, ScenarioResults] = {}
    for _ in range(rep):
        for name, _, kw in backends:
            results[name], t = timed(lambda kw=kw: grid_run(**kw), 1)  # type: ignore[misc]
            times[name].append(t)
    cluster.close()
    base = results[backends[0][0]]
    t1 = statistics.median(times[backends[0][0]])
    rows = [(name, st, statistics.median(times[name]), results[name]) for name, st, _ in backends]
    n = len(grid)
    print(f"\nScenario grid: {n} scenarios x 4 tranches, four_tranche deal; grid time = "
          f"median of {rep} warm runs")
    print(f"{'backend':<31}{'start-up':>9}{'grid s':>8}{'total s':>9}{'scen/s':>8}"
          f"{'speed-up':>9}{'(total)':>8}{'same':>6}{'bitwise':>8}")
    for name, st, t, res in rows:
        print(f"{name:<31}{st:>9.2f}{t:>8.2f}{st + t:>9.2f}{n / t:>8.1f}{t1 / t:>9.2f}"
              f"{(start_1 + t1) / (st + t):>8.2f}{res.matches(base)!s:>6}"
              f"{res.identical_to(base)!s:>8}")
    print(machine_check())


if __name__ == "__main__":
    main()
