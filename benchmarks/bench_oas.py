"""Monte Carlo OAS speed: the four-tranche example deal on a 100-rep-line pool.

Run: ``.venv/bin/python benchmarks/bench_oas.py [--paths 1000] [--baseline-paths 8]``

Prints two tables:

1. the vectorised pipeline's stages for one valuation of ``--paths`` paths x 360 months
   (Hull-White simulation, mortgage-rate paths, per-path pool cash flows with the
   refinancing model, the float waterfall over all paths, PVs and the OAS solve), the
   whole OAS of every tranche without and with effective duration/convexity (which adds
   the zero-volatility path and two shifted-curve valuations);
2. a plain-Python per-path loop (for each path: the prepayment model on that path, a
   Python month-by-month amortisation of the rep lines, the waterfall on one scenario, a
   Python PV at a fixed spread) timed on ``--baseline-paths`` paths and scaled to
   ``--paths``, against the same work vectorised (pool kernel + waterfall + PV at one
   spread) in the same run, and the ratio.

The first call compiles (numba, cached); each timing below is one run after a warm-up
(the machine is shared: read ratios rather than absolute times).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from openmbs.behaviour.models import RefiPrepaymentModel
from openmbs.pricing import PoolLines, bootstrap_par_curve, oas_deal, path_pool_cashflows
from openmbs.pricing._oas import _deal_collections, _mortgage_rates, _pv_kernel
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


def _t(fn, *a, **k):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=1000)
    ap.add_argument("--baseline-paths", type=int, default=8)
    args = ap.parse_args()
    deal = example_deal("four_tranche")
    pool = pool_100()
    n = args.paths
    # warm-up (compiles / loads the numba caches)
    oas_deal(deal, pool, prices=100.0, curve=CURVE, n_paths=8, shift_bp=None)

    hw = HullWhite(CURVE, a=0.05, sigma=0.01)
    paths, t_sim = _t(hw.simulate, n, 362, seed=0)
    mrates, t_mr = _t(_mortgage_rates, hw, paths, 360, 170.0)
    flows, t_pool = _t(path_pool_cashflows, pool, mrates)
    coll = _deal_collections(deal, pool, flows)
    res, t_wf = _t(run_waterfall, deal, coll, keep="cashflows")
    d = paths.discount
    one_month = np.ascontiguousarray(12.0 * (d[:, :-1] / d[:, 1:] - 1.0))
    cash = np.ascontiguousarray(res.interest_paid[:, :, 0] + res.principal_paid[:, :, 0])
    _, t_pv = _t(_pv_kernel, one_month, cash, 0.005, 0, 24.0 / 30.0)
    _, t_oas = _t(oas_deal, deal, pool, prices=100.0, curve=CURVE, n_paths=n, shift_bp=None)
    out, t_full = _t(oas_deal, deal, pool, prices=100.0, curve=CURVE, n_paths=n)

    print(f"\nOAS of four_tranche (A, B, C, D), {pool.n_lines} rep lines, {n} paths x 360 months")
    print(f"{'stage':<52}{'seconds':>10}")
    for name, t in [
        ("Hull-White paths (362 monthly steps, antithetic)", t_sim),
        ("mortgage-rate paths (10y par + 170 bp)", t_mr),
        ("pool cash flows per path (refi model, numba)", t_pool),
        ("float waterfall over all paths", t_wf),
        ("PV of one tranche at one spread, all paths", t_pv),
        ("OAS + Z-spread of 4 tranches (no effective)", t_oas),
        ("OAS + Z + eff. duration/convexity (3 curves)", t_full),
    ]:
        print(f"{name:<52}{t:>10.3f}")
    print(f"{'target for the OAS of the deal':<52}{'< 2.000':>10}")
    print(f"{'tranche':<8}{'OAS bp':>9}{'+-se':>7}{'Z bp':>9}{'opt cost':>10}{'eff dur':>9}")
    for r in out.values():
        print(f"{r.name:<8}{r.oas_bp:>9.1f}{r.oas_std_error_bp:>7.1f}{r.z_spread_bp:>9.1f}"
              f"{r.option_cost_bp:>10.1f}{r.effective_duration:>9.2f}")

    k = args.baseline_paths
    _, t_py = _t(python_path_loop, pool, mrates[:k], one_month[:k], deal, 0, 0.005, 24.0)
    t_vec = t_pool + t_wf + t_pv
    scaled = t_py * n / k
    print(f"\nPer-path plain-Python loop vs vectorised (pool + waterfall + PV, {n} paths)")
    print(f"{'method':<44}{'seconds':>10}")
    print(f"{f'python loop, {k} paths, scaled x{n / k:g}':<44}{scaled:>10.2f}")
    print(f"{'vectorised':<44}{t_vec:>10.3f}")
    print(f"{'speed-up':<44}{scaled / t_vec:>10.0f}x")


if __name__ == "__main__":
    main()
