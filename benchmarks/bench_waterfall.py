"""Waterfall speed: float engines over many scenarios, exact engine over one, each
against a plain-Python loop measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_waterfall.py [--scenarios N] [--baseline M]``

* float (numba): the compiled kernel, ``run_waterfall(keep="summary")``,
  N scenarios x 360 periods of ``four_tranche`` (default N = 10,000).
* float (numba), cash flows: ``keep=("interest_paid", "principal_paid")`` (what a
  pricer of many paths needs), on ``--cashflow-scenarios`` scenarios, scaled to N.
* float (numpy): the numpy engine vectorised over scenarios, same inputs.
* plain Python: the exact engine's period function (pure Python ints) applied
  scenario by scenario on M scenarios (default 20), scaled to N.
* exact, one scenario: ``apply_period`` x 360, against the numba kernel on one
  scenario (the plain-Python loop of this row is the exact engine itself).

Compile time of the numba kernel is excluded (a warm-up run first) and printed apart:
the first call in the process (loading the kernels from numba's on-disk cache, or
compiling them when the cache is cold). Each row is the
median of ``--repeats`` runs (default 3) after one untimed run of the same call; wall-clock and CPU (``time.process_time``,
all threads of the process) are printed with the load average, since the machine may
be shared. The numba rows run on ``numba.get_num_threads()`` threads (``--threads``).
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

from openmbs.structuring import (
    Collections,
    compile_exact,
    example_deal,
    remittances_from_collections,
    run_exact,
    run_waterfall,
)


def _collections(n: int, periods: int = 360, seed: int = 7) -> Collections:
    """Random level-pay pools: per-scenario SMM and MDR, 40% severity, paid off at the end."""
    rng = np.random.default_rng(seed)
    bal0 = 500e6
    smm = rng.uniform(0.002, 0.03, n)
    mdr = rng.uniform(0.0, 0.004, n)
    rate = 0.06 / 12
    bal = np.full(n, bal0)
    cols = {k: np.zeros((n, periods)) for k in ("interest", "sched", "prep", "rec", "loss", "beg", "end")}
    for t in range(periods):
        remaining = periods - t
        pay = bal * rate / (1 - (1 + rate) ** -remaining)
        sched = np.minimum(pay - bal * rate, bal)
        dflt = (bal - sched) * mdr
        loss = 0.4 * dflt
        prep = (bal - sched - dflt) * smm
        if t == periods - 1:
            prep = bal - sched - dflt
        cols["interest"][:, t] = bal * rate
        cols["sched"][:, t] = sched
        cols["prep"][:, t] = prep
        cols["rec"][:, t] = dflt - loss
        cols["loss"][:, t] = loss
        cols["beg"][:, t] = bal
        bal = np.maximum(bal - sched - prep - dflt, 0.0)
        cols["end"][:, t] = bal
    return Collections.from_arrays(
        original_balance=bal0,
        interest=cols["interest"],
        scheduled_principal=cols["sched"],
        prepaid_principal=cols["prep"],
        recoveries=cols["rec"],
        losses=cols["loss"],
        beginning_balance=cols["beg"],
        ending_balance=cols["end"],
    )


@numba.njit(cache=True)
def _chain(n: int) -> float:
    s = 0.0
    for _ in range(n):
        s = s * 0.999999 + 1.0
    return s


def _calibrate() -> float:
    """CPU ns per step of a dependent multiply-add chain (about 6 cycles of latency a
    step on current x86 cores): how fast this machine runs right now."""
    _chain(10)
    c0 = time.process_time()
    _chain(20_000_000)
    return (time.process_time() - c0) / 20_000_000 * 1e9


def _time(repeats: int, fn: object, *args: object, **kw: object) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``repeats`` calls, after one untimed call at
    the same size: on this VM a batch run straight after other work was measured slower
    (median 1.17 s against 0.81 s for the same batch repeated at once; cause not
    established), so every row starts warm."""
    fn(*args, **kw)  # type: ignore[operator]
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn(*args, **kw)  # type: ignore[operator]
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenarios", type=int, default=10_000)
    ap.add_argument("--baseline", type=int, default=20)
    ap.add_argument("--numpy-scenarios", type=int, default=2_000)
    ap.add_argument("--cashflow-scenarios", type=int, default=2_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="numba threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    n = args.scenarios
    reps = args.repeats
    spec = example_deal("four_tranche")
    deal = compile_exact(spec)
    coll = _collections(n)
    small = _collections(args.baseline)
    one = _collections(1)
    # compile / load the numba cache (serial and parallel kernels), timed apart
    w0 = time.perf_counter()
    run_waterfall(deal, one, keep="summary")
    first_serial = time.perf_counter() - w0
    w0 = time.perf_counter()
    run_waterfall(deal, _collections(256, periods=12), keep="summary")
    first_parallel = time.perf_counter() - w0
    load0 = os.getloadavg()[0]
    calib = _calibrate()

    rows = []
    w, c = _time(reps, run_waterfall, deal, coll, keep="summary")
    rows.append(("float numba", n, w, c, w))
    m = min(args.cashflow_scenarios, n)
    cfc = _collections(m)
    flows = ("interest_paid", "principal_paid")
    w1, c1 = _time(reps, run_waterfall, deal, cfc, keep=flows)
    rows.append(("float numba, ip+pp tables", m, w1, c1, w1 * n / m))
    m = min(args.numpy_scenarios, n)
    npc = _collections(m)
    w2, c2 = _time(reps, run_waterfall, deal, npc, keep="summary", engine="numpy")
    rows.append(("float numpy", m, w2, c2, w2 * n / m))

    def plain(cs: Collections) -> None:
        for k in range(cs.n_scenarios):
            run_exact(deal, remittances_from_collections(cs, deal.decimals, scenario=k))

    w3, c3 = _time(reps, plain, small)
    rows.append(("plain Python (exact ints)", args.baseline, w3, c3, w3 * n / args.baseline))

    rems = remittances_from_collections(one, deal.decimals)
    w4, c4 = _time(reps, run_exact, deal, rems)
    w5, c5 = _time(reps, run_waterfall, deal, one, keep="all")
    load1 = os.getloadavg()[0]

    print(
        f"four_tranche, 360 periods; {n:,} scenarios; median of {reps}; "
        f"{numba.get_num_threads()} numba threads on {os.cpu_count()} CPUs; "
        f"load average {load0:.1f} -> {load1:.1f}"
    )
    print(
        f"machine check: {calib:.2f} CPU ns per dependent multiply-add step "
        f"(~6 cycles: {6 / calib:.2f} GHz effective)"
    )
    print(
        f"{'engine':<28}{'scenarios':>10}{'wall s':>10}{'cpu s':>10}"
        f"{f'wall s @ {n:,}':>16}{f'cpu s @ {n:,}':>15}{'vs plain':>10}{'(cpu)':>8}"
    )
    base = rows[-1][4]
    base_cpu = rows[-1][3] * n / args.baseline
    for name, k, wall, cpu, scaled in rows:
        cpu_scaled = cpu * n / k
        print(
            f"{name:<28}{k:>10,}{wall:>10.3f}{cpu:>10.3f}{scaled:>16.2f}{cpu_scaled:>15.2f}"
            f"{base / scaled:>9.1f}x{base_cpu / cpu_scaled:>7.1f}x"
        )
    print(
        f"first call (numba cache load or compile), not in the rows: serial "
        f"{first_serial:.2f} s, parallel {first_parallel:.2f} s wall"
    )
    print()
    print(f"{'one scenario':<28}{'wall s':>10}{'cpu s':>10}")
    print(f"{'exact (pure Python ints)':<28}{w4:>10.4f}{c4:>10.4f}")
    print(f"{'float numba, all tables':<28}{w5:>10.4f}{c5:>10.4f}   exact/float = {w4 / w5:.1f}x")


if __name__ == "__main__":
    main()
