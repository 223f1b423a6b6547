"""CMO speed: rule programs (the deal language) in the numba kernel, against the fixed
order measured in the same run, and the prospectus decrement table.

Run: ``.venv/bin/python benchmarks/bench_cmo.py [--scenarios N] [--repeats R]``

Rows (N scenarios x 360 periods, ``run_waterfall(keep="summary")``, the inputs of
``bench_waterfall.py``: random level-pay pools with prepayments and defaults):

* ``four_tranche`` (fixed order, 4 classes): the baseline of ``bench_waterfall.py``.
* ``seq60 fixed order``: 60 sequential classes in the fixed order (no rules).
* ``seq60 rules``: the same 60 classes paid by one ``sequential`` rule (the fixed order
  written as a program): the cost of interpreting rules.
* ``cmo60``: 60 classes shaped like an agency REMIC: two PAC groups structured from
  bands (8 and 6 classes), a Z whose accrual goes to the second group's planned balance
  and then to itself, an IO strip on the first group, 44 support classes split 75/25
  between a sequential list and a pro-rata list, "to zero" clean-up rules.
* ``agency_remic``: the shipped example (13 classes).
* ``cmo60, every class every period``: ``cmo60`` with the kernel's shortcut for retired
  classes off (``run_kernel(retire=False)``, the same figures bit for bit): what the
  shortcut saves, measured in the same run.
* the decrement table of ``agency_remic`` at 8 speeds (rep lines projected, waterfall,
  table), and its compile (which structures the two band schedules).

``--compare OLD_KERNEL.py`` (another version of ``structuring/_kernel.py``, e.g.
``git show main:src/openmbs/structuring/_kernel.py > /tmp/kernel_main.py``) adds a
single-thread table: each deal on ``--compare-scenarios`` scenarios through both
kernels (``parallel=False``), interleaved in this process, minimum of ``--repeats``
CPU times, so a change is measured against its baseline in the same run.

Compile time of the numba kernels is excluded (one untimed run of each call first).
Each row is the median of ``--repeats`` runs; wall and CPU time (all threads) are
printed with the load average: the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_waterfall import _collections
from openmbs.structuring import (
    Collections,
    DealSpec,
    compile_exact,
    decrement_table,
    example_deal,
    parse_deal,
    run_waterfall,
)
from openmbs.structuring._kernel import pack, run_kernel
from openmbs.structuring._waterfall import _COLL_FIELDS

POOL = {"balance": 500e6, "wac": 0.065, "net_coupon": 0.06, "term": 360, "age": 0}
TOP = {
    "name": "bench",
    "closing_date": dt.date(2026, 1, 29),
    "first_payment_date": dt.date(2026, 2, 25),
    "pool": POOL,
}


def seq60(*, rules: bool) -> DealSpec:
    tranches: list[dict[str, Any]] = [
        {"name": f"C{i}", "balance": 500e6 / 60, "rate": 0.055, "priority": 1 + i // 10} for i in range(59)
    ]
    tranches.append({"name": "C59", "remainder": True, "rate": 0.055, "priority": 6})
    data: dict[str, Any] = {**TOP, "tranches": tranches}
    if rules:
        data["principal_rules"] = [{"pay": "sequential", "classes": [t["name"] for t in tranches]}]
    return parse_deal(data)


def cmo60() -> DealSpec:
    t: list[dict[str, Any]] = []
    t += [{"name": f"P1{i}", "balance": 20e6, "rate": 0.05, "priority": 1} for i in range(8)]
    t += [{"name": f"P2{i}", "balance": 8e6, "rate": 0.055, "priority": 1} for i in range(6)]
    t.append({"name": "Z", "balance": 25e6, "rate": 0.06, "priority": 2, "accrual": True})
    t.append({"name": "IO", "notional": "G1", "rate": 0.005, "priority": 1, "principal": "none"})
    t += [{"name": f"S{i}", "balance": 6.5e6, "rate": 0.06, "priority": 2} for i in range(30)]
    t += [{"name": f"SP{i}", "balance": 5e6, "rate": 0.0, "coupon": "none", "priority": 2} for i in range(13)]
    t.append({"name": "SP13", "remainder": True, "coupon": "none", "priority": 2})
    data: dict[str, Any] = {
        **TOP,
        "tranches": t,
        "groups": [
            {"name": "G1", "classes": [f"P1{i}" for i in range(8)], "band": [100.0, 250.0]},
            {"name": "G2", "classes": [f"P2{i}" for i in range(6)], "band": [150.0, 250.0]},
        ],
        "accrual_rules": [{"z": "Z", "rules": [{"pay": "planned", "target": "G2"},
                                               {"pay": "sequential", "classes": ["Z"]}]}],
        "principal_rules": [
            {"pay": "planned", "target": "G1"},
            {"pay": "planned", "target": "G2"},
            {"pay": "concurrent", "split": [
                {"percent": 0.75, "pay": "sequential", "classes": [f"S{i}" for i in range(30)] + ["Z"]},
                {"percent": 0.25, "pay": "pro_rata", "classes": [f"SP{i}" for i in range(14)]},
            ]},
            {"pay": "sequential", "classes": ["G2", "G1"]},
        ],
    }
    return parse_deal(data)


def _every_class(deal: Any, coll: Collections) -> None:
    """The kernel with its shortcut for retired classes off (summary outputs only)."""
    run_kernel(pack(deal), {k: getattr(coll, k) for k in _COLL_FIELDS}, retire=False)


def _timed(fn: Any, repeats: int) -> tuple[float, float]:
    fn()  # untimed: compile or cache load, first touch of the pages
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compare", default=None, help="another _kernel.py to compare with, single-threaded")
    ap.add_argument("--compare-scenarios", type=int, default=2000)
    args = ap.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    n = args.scenarios
    load0 = os.getloadavg()[0]
    coll = _collections(n)
    t0 = time.perf_counter()
    deals = {
        "four_tranche (fixed order)": compile_exact(example_deal("four_tranche")),
        "seq60 fixed order": compile_exact(seq60(rules=False)),
        "seq60 rules": compile_exact(seq60(rules=True)),
    }
    t1 = time.perf_counter()
    deals["cmo60 (2 PAC groups, Z, split)"] = compile_exact(cmo60())
    t2 = time.perf_counter()
    remic = example_deal("agency_remic")
    deals["agency_remic (13 classes)"] = compile_exact(remic)
    t3 = time.perf_counter()
    print(f"{n:,} scenarios x 360 periods; median of {args.repeats}; {numba.get_num_threads()} numba threads "
          f"on {os.cpu_count()} CPUs; load average {load0:.1f}")
    print(f"{'deal':34} {'classes':>7} {'wall s':>8} {'cpu s':>8} {'ns/scen-period':>15} "
          f"{'ns/scen-period-class':>21} {'vs baseline':>11}")
    base = None
    for name, d in deals.items():
        wall, cpu = _timed(lambda d=d: run_waterfall(d, coll, keep="summary"), args.repeats)
        per = cpu / (n * 360) * 1e9
        if base is None:
            base = wall
        print(f"{name:34} {d.n_tranches:>7} {wall:>8.3f} {cpu:>8.3f} {per:>15.0f} "
              f"{per / d.n_tranches:>21.1f} {wall / base:>10.1f}x")
    cmo = deals["cmo60 (2 PAC groups, Z, split)"]
    wall, cpu = _timed(lambda: _every_class(cmo, coll), args.repeats)
    per = cpu / (n * 360) * 1e9
    print(f"{'cmo60, every class every period':34} {cmo.n_tranches:>7} {wall:>8.3f} {cpu:>8.3f} "
          f"{per:>15.0f} {per / cmo.n_tranches:>21.1f} {wall / (base or wall):>10.1f}x")
    speeds = [0, 100, 150, 200, 250, 300, 400, 500]
    wall, cpu = _timed(lambda: decrement_table(remic, speeds), args.repeats)
    print(f"decrement table, agency_remic, 8 speeds: wall {wall:.3f} s, cpu {cpu:.3f} s")
    print(f"compile (untimed above): three fixed/sequential deals {t1 - t0:.2f} s; cmo60 with two band "
          f"schedules {t2 - t1:.2f} s; agency_remic {t3 - t2:.2f} s (first calls include numba cache loads)")
    if args.compare:
        _compare(args.compare, deals, args.compare_scenarios, args.repeats)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def _compare(path: str, deals: dict[str, Any], n: int, repeats: int) -> None:
    """Single-thread CPU time of each deal through another kernel file and this one."""
    with tempfile.TemporaryDirectory() as tmp:
        # a fresh importable copy: numba's cache (cache=True) finds a kernel's module by
        # name, and a cache left by another copy of that name would not load
        shutil.copy(path, Path(tmp) / "_kernel_compared.py")
        sys.path.insert(0, tmp)
        try:
            old = importlib.import_module("_kernel_compared")
            _compare_with(old, path, deals, n, repeats)
        finally:
            sys.path.remove(tmp)
            sys.modules.pop("_kernel_compared", None)


def _compare_with(old: Any, path: str, deals: dict[str, Any], n: int, repeats: int) -> None:
    coll = _collections(n)
    arrays = {k: getattr(coll, k) for k in _COLL_FIELDS}
    print(f"single thread, {n:,} scenarios x 360 periods, minimum of {repeats} (interleaved): "
          f"ns per scenario-period")
    print(f"{'deal':34} {path[-24:]:>24} {'this kernel':>12} {'change':>8}")
    for name, d in deals.items():
        runs: dict[str, list[float]] = {"old": [], "new": []}
        kernels = {"old": (old.run_kernel, old.pack(d)), "new": (run_kernel, pack(d))}
        for run, packed in kernels.values():
            run(packed, arrays, parallel=False)  # untimed: compile or cache load
        for _ in range(repeats):
            for key, (run, packed) in kernels.items():
                c0 = time.process_time()
                run(packed, arrays, parallel=False)
                runs[key].append(time.process_time() - c0)
        a, b = (min(runs[k]) / (n * 360) * 1e9 for k in ("old", "new"))
        print(f"{name:34} {a:>24.0f} {b:>12.0f} {100 * (b / a - 1):>7.0f}%")


if __name__ == "__main__":
    main()
