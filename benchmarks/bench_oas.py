"""Monte Carlo OAS speed: the four-tranche example deal on a 100-rep-line pool.

Run: ``.venv/bin/python benchmarks/bench_oas.py [--paths 1000] [--baseline-paths 5]
[--repeat 3]``

Prints a machine check (load average, numba threads, a fixed compiled loop timed now),
then two tables, each time the median of ``--repeat`` runs after a warm-up (numba
kernels compiled or loaded from the on-disk cache first); "cpu s" is the CPU time of
the process over all threads (median), which a loaded machine inflates less than the
wall time:

1. the stages of one valuation of ``--paths`` paths x 360 months (Hull-White paths,
   mortgage-rate paths, per-path pool cash flows with the refinancing model, waterfall
   collections, the float waterfall over all paths in one call, PVs of the four
   tranches at one spread), then the whole OAS + Z-spread of the four tranches (the
   target: under 2 seconds) and the same with effective duration and convexity (two
   more curves simulated, priced through the waterfall);
2. a plain-Python per-path loop (for each path: the prepayment model on that path, a
   Python month-by-month amortisation of the rep lines, the waterfall on one scenario, a
   Python PV at a fixed spread) timed on ``--baseline-paths`` paths and scaled linearly
   to ``--paths`` (said so in the table), against the same work vectorised (pool kernel +
   collections + waterfall + PV at one spread) in the same run, and the ratio.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import numpy as np

from openmbs.behaviour.models import RefiPrepaymentModel
from openmbs.pricing import PoolLines, bootstrap_par_curve, oas_deal, path_pool_cashflows
from openmbs.pricing._oas import _deal_collections, _mortgage_rates
from openmbs.pricing._oas_kernel import pv_kernel
from openmbs.risk import HullWhite
from openmbs.structuring import example_deal, run_waterfall

CURVE = bootstrap_par_curve([1, 2, 3, 5, 7, 10, 20, 30],
                            [0.045, 0.044, 0.043, 0.042, 0.0425, 0.043, 0.046, 0.045])


def pool_100(seed: int = 0) -> PoolLines:
    rng = np.random.default_rng(seed)
    n = 100
    gross = rng.integers(44, 60, n) / 800.0  # 5.5% .. 7.375%
    age = rng.integers(0, 36, n)
    bal = rng.uniform(2e6, 8e6, n)
    bal *= 500e6 / bal.sum()
    return PoolLines(bal, gross, gross - 0.005, 360 - age, age)


_CPU: dict[int, float] = {}


def _t(fn, *a, repeat: int = 1, **k):  # type: ignore[no-untyped-def]
    """Result of the last call and the median wall time of ``repeat`` calls (the median
    CPU time of the process, all threads, is kept in ``_CPU`` under the result's id)."""
    times, cpus = [], []
    out = None
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = fn(*a, **k)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    _CPU[id(out)] = statistics.median(cpus)
    return out, statistics.median(times)


def python_path_loop(pool: PoolLines, mrates: np.ndarray, one_month: np.ndarray, deal, idx: int,
                     spread: float, delay: float) -> float:  # type: ignore[no-untyped-def]
    """Per-path reference: everything one path at a time, months in Python."""
    model = RefiPrepaymentModel()

    pvs = []
    for p in range(mrates.shape[0]):
        smm = model.smm(mrates[p], note_rate=pool.gross_coupon, loan_age=pool.loan_age)
        n = mrates.shape[1]
        interest = [0.0] * n
        sched = [0.0] * n
        prep = [0.0] * n
        end = [0.0] * n
        for i in range(pool.n_lines):
            b = float(pool.balance[i])
            c = float(pool.gross_coupon[i]) / 12.0
            net = float(pool.net_coupon[i]) / 12.0
            left = int(pool.remaining_term[i])
            for t in range(min(left, n)):
                pay = b * c / (1.0 - (1.0 + c) ** -(left - t)) if c > 0 else b / (left - t)
                sp = min(pay - b * c, b)
                pp = (b - sp) * float(smm[i, t])
                interest[t] += b * net
                sched[t] += sp
                prep[t] += pp
                b = b - sp - pp
                end[t] += b
        flows = np.array([interest, sched, prep, end])[:, None, :]
        coll = _deal_collections(deal, pool, flows)
        res = run_waterfall(deal, coll, keep="cashflows")
        cash = res.interest_paid[0, :, idx] + res.principal_paid[0, :, idx]
        pv, log_d = 0.0, 0.0
        frac = delay / 30.0
        for k in range(n):
            log_d -= math.log1p((one_month[p, k] + spread) / 12.0)
            pv += cash[k] * math.exp(log_d - frac * math.log1p((one_month[p, k + 1] + spread) / 12.0))
        pvs.append(pv)
    return float(np.mean(pvs))


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
            f"{os.cpu_count()} cpus, numba threads {numba.get_num_threads()}, "
            f"20M-step compiled loop {dt * 1e3:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--baseline-paths", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    deal = example_deal("four_tranche")
    pool = pool_100()
    n, rep = args.paths, args.repeat
    print(machine_check())
    # warm-up (compiles or loads the numba caches)
    oas_deal(deal, pool, prices=100.0, curve=CURVE, n_paths=8)

    hw = HullWhite(CURVE, a=0.05, sigma=0.01)
    paths, t_sim = _t(hw.simulate, n, 362, seed=0, repeat=rep)
    mrates, t_mr = _t(_mortgage_rates, hw, paths, 360, 170.0, repeat=rep)
    flows, t_pool = _t(path_pool_cashflows, pool, mrates, repeat=rep)
    coll, t_coll = _t(_deal_collections, deal, pool, flows, repeat=rep)
    res, t_wf = _t(run_waterfall, deal, coll, keep="cashflows", repeat=rep)
    d = paths.discount
    one_month = np.ascontiguousarray(12.0 * (d[:, :-1] / d[:, 1:] - 1.0))
    cash = np.ascontiguousarray(
        np.stack([res.interest_paid[:, :, i] + res.principal_paid[:, :, i] for i in range(4)])
    )
    pvs, t_pv = _t(pv_kernel, one_month, cash, np.full(4, 0.005), 0, 24.0 / 30.0, repeat=rep)
    oas_only, t_oas = _t(oas_deal, deal, pool, prices=100.0, curve=CURVE, n_paths=n,
                         shift_bp=None, repeat=rep)
    out, t_full = _t(oas_deal, deal, pool, prices=100.0, curve=CURVE, n_paths=n, repeat=rep)
    cpu = [_CPU[id(x)] for x in (paths, mrates, flows, coll, res, pvs, oas_only, out)]

    print(f"\nOAS of four_tranche (A, B, C, D), {pool.n_lines} rep lines ("
          f"{np.unique(pool.gross_coupon).size} distinct note rates), {n} paths x 360 months;"
          f" median of {rep}")
    print(f"{'stage':<56}{'seconds':>10}{'cpu s':>8}")
    for (name, t), c in zip([
        ("Hull-White paths (362 monthly steps, antithetic)", t_sim),
        ("mortgage-rate paths (10y par + 170 bp)", t_mr),
        ("pool cash flows per path (refi model, numba kernel)", t_pool),
        ("waterfall collections (clean-up call)", t_coll),
        ("float waterfall, all paths in one call", t_wf),
        ("PVs of 4 tranches at one spread, all paths", t_pv),
        ("OAS + Z-spread of 4 tranches (no effective)", t_oas),
        ("OAS + Z + eff. duration/convexity (3 curves)", t_full),
    ], cpu, strict=True):
        print(f"{name:<56}{t:>10.3f}{c:>8.3f}")
    print(f"{'target: OAS of the deal (OAS + Z-spread, 4 tranches)':<56}{'< 2.000':>10}")
    print(f"{'tranche':<8}{'OAS bp':>9}{'+-se':>7}{'Z bp':>9}{'opt cost':>10}{'eff dur':>9}")
    for r in out.values():
        print(f"{r.name:<8}{r.oas_bp:>9.1f}{r.oas_std_error_bp:>7.1f}{r.z_spread_bp:>9.1f}"
              f"{r.option_cost_bp:>10.1f}{r.effective_duration:>9.2f}")

    k = args.baseline_paths
    _, t_py = _t(python_path_loop, pool, mrates[:k], one_month[:k], deal, 0, 0.005, 24.0)
    t_vec = t_pool + t_coll + t_wf + t_pv
    scaled = t_py * n / k
    print(f"\nPer-path plain-Python loop vs vectorised (pool + waterfall + PV, {n} paths)")
    print(f"{'method':<48}{'seconds':>10}")
    print(f"{f'python loop: {k} paths timed once, scaled x{n / k:g}':<48}{scaled:>10.2f}")
    print(f"{'vectorised (median of ' + str(rep) + ')':<48}{t_vec:>10.3f}")
    print(f"{'speed-up':<48}{scaled / t_vec:>10.0f}x")
    print(machine_check())


if __name__ == "__main__":
    main()
