"""Benchmark of the whole lifecycle (`openmbs demo`, on the embedded chain) by pool size.

Each run is a fresh Python process (imports included, as a user's ``openmbs demo``).
``--cold`` gives the runs an empty titanoboa compile cache and an empty openmbs
artefact cache (``$OPENMBS_CACHE_DIR``: the first run on a fresh machine compiles every
contract); by default the caches are the user's (warm after one run). Printed per size: periods run (the four-tranche deal's 10% clean-up call usually
ends it before month 360), wall time, the stages (tape + closing analytics, deploy
(compile + deploy + offering), months (simulation + servicer bridge + chain),
verify (loan proofs), index (DuckDB), audit, report), the median chain time of one
month, its ratio to the first size's (the baseline: loan-level data stays off chain,
one root per month, so the ratio should stay near 1), and loan simulation and servicer
bridge seconds; a second line gives the CPU seconds of the run by stage (comparable
on a loaded machine). A "machine check" line times a fixed pure-Python loop and shows the
load average, since the machine is shared.

Last, unless ``--evm-months 0``, the first size runs ``--evm-months`` months twice more,
on titanoboa's stock py-evm environment (the baseline) and on the lean one
(``openmbs.chain.fastevm``), and the median chain seconds per month of both and their
ratio are printed.

With ``--sales-runs N`` (N > 0) the first size also runs N times without and N times
with loan sales (``--sales``: the run indexes its event store after each period and
the keeper reads it), alternating, at ``--sales-sda`` (percent SDA), and prints the
median process seconds, months and index stages of each, the sales made, and the
ratio with sales / without (the baseline, measured in the same invocation).

Targets (issue 5): 2,000 loans x 360 months < 60 s; 20,000 loans < 3 min; per-month
chain time flat in the number of loans.

    .venv/bin/python benchmarks/bench_demo.py [--sizes 2000,20000] [--months 360] [--cold]
        [--evm-months 36] [--sales-runs 3 --sales-sda 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, sys, time
from pathlib import Path
t_start = time.perf_counter()
cache = sys.argv[4]
if len(sys.argv) > 5 and sys.argv[5] == "stock":  # titanoboa's stock py-evm environment
    import openmbs.chain.fastevm
    openmbs.chain.fastevm.make_lean = lambda env: False
if cache:
    import os
    os.environ["OPENMBS_CACHE_DIR"] = cache + "-openmbs"
    import boa.interpret
    boa.interpret.set_cache_dir(cache)
from openmbs.sim import LifecycleConfig, run_lifecycle
stages = {}
cpu = {}
cur = [None, time.perf_counter(), time.process_time()]
def progress(stage, done, total):
    now, c = time.perf_counter(), time.process_time()
    if cur[0] is not None:
        stages[cur[0]] = stages.get(cur[0], 0.0) + now - cur[1]
        cpu[cur[0]] = cpu.get(cur[0], 0.0) + c - cur[2]
    cur[0], cur[1], cur[2] = stage, now, c
extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}  # more LifecycleConfig fields
r = run_lifecycle(Path(sys.argv[1]), LifecycleConfig(loans=int(sys.argv[2]), months=int(sys.argv[3]), **extra),
                  progress=progress)
life = json.loads((Path(sys.argv[1]) / "lifecycle.json").read_text())
progress("end", 0, 0)
print(json.dumps({"wall": time.perf_counter() - t_start, "periods": r.periods, "stages": stages,
                  "cpu_stages": cpu, "cpu": time.process_time(),
                  "chain": r.chain_seconds, "month": r.month_chain_seconds, "sim": r.sim_seconds,
                  "bridge": r.bridge_seconds, "reconciled": r.reconciled,
                  "loans_sold": life.get("loans_sold", 0)}))
"""

STAGES = ("tape", "deploy", "months", "verify", "index", "audit", "report")


def machine_check() -> str:
    t0 = time.perf_counter()
    acc = 0
    for i in range(3_000_000):
        acc += i * i % 7
    dt = time.perf_counter() - t0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"machine check: 3e6-iteration Python loop {dt:.2f} s; load average {load:.2f}; {os.cpu_count()} cpu"


def run(n: int, months: int, cold: bool, evm: str = "lean", extra: dict[str, object] | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "boa-cache") if cold else ""
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(Path(tmp) / "demo"), str(n), str(months), cache, evm,
             json.dumps(extra or {})],
            capture_output=True,
            text=True,
            check=False,
        )
        total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{n} loans: run failed:\n{proc.stderr[-3000:]}")
    out: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process"] = total
    return out


def _row(n: int, r: dict[str, object], base: float) -> str:
    st: dict[str, float] = r["stages"]  # type: ignore[assignment]
    month = float(r["month"])  # type: ignore[arg-type]
    return (
        f"{n:>7,} {r['periods']:>7} {float(r['process']):>9.1f} "  # type: ignore[arg-type]
        + " ".join(f"{st.get(s, 0.0):>7.1f}" for s in STAGES)
        + f" {month:>10.4f} {month / base:>7.2f} {float(r['sim']):>6.1f} "  # type: ignore[arg-type]
        f"{float(r['bridge']):>8.1f} {r['reconciled']}"  # type: ignore[arg-type]
    )


def sales_comparison(n: int, months: int, runs: int, sda: float) -> None:
    """``runs`` runs without and with loan sales, alternating; medians and ratios."""
    import statistics

    got: dict[bool, list[dict[str, object]]] = {False: [], True: []}
    for _ in range(runs):
        for sales in (False, True):
            got[sales].append(run(n, months, False, extra={"sda": sda, "loan_sales": sales}))
    print(f"loan sales, {n:,} loans, {months} months asked, {sda:g}% SDA, median of {runs} runs each (seconds)")
    print(f"{'':>14} {'periods':>7} {'process':>8} {'months':>7} {'index':>6} {'sold':>5} reconciled")
    med: dict[bool, dict[str, float]] = {}
    for sales in (False, True):
        rs = got[sales]
        med[sales] = {
            "process": statistics.median(float(r["process"]) for r in rs),  # type: ignore[arg-type]
            "months": statistics.median(float(r["stages"].get("months", 0.0)) for r in rs),  # type: ignore[attr-defined]
            "index": statistics.median(float(r["stages"].get("index", 0.0)) for r in rs),  # type: ignore[attr-defined]
        }
        print(
            f"{'with sales' if sales else 'without (base)':>14} {rs[0]['periods']!s:>7} {med[sales]['process']:>8.1f} "
            f"{med[sales]['months']:>7.1f} {med[sales]['index']:>6.2f} {rs[0]['loans_sold']!s:>5} "
            f"{all(bool(r['reconciled']) for r in rs)}",
            flush=True,
        )
    print(
        f"ratio with / without: process {med[True]['process'] / med[False]['process']:.2f}x, "
        f"months stage {med[True]['months'] / med[False]['months']:.2f}x",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,20000")
    ap.add_argument("--months", type=int, default=360)
    ap.add_argument("--cold", action="store_true", help="empty titanoboa and openmbs compile caches")
    ap.add_argument(
        "--evm-months",
        type=int,
        default=36,
        help="months of the lean-vs-stock EVM comparison at the first size (0: skip)",
    )
    ap.add_argument("--sales-runs", type=int, default=0, help="runs each without and with --sales (0: skip)")
    ap.add_argument("--sales-sda", type=float, default=100.0, help="SDA speed (percent) of the sales comparison")
    args = ap.parse_args()
    print(machine_check(), flush=True)
    if args.sales_runs > 0:
        sales_comparison(int(args.sizes.split(",")[0]), args.months, args.sales_runs, args.sales_sda)
        print(machine_check(), flush=True)
        return
    print(
        f"compile cache: {'cold (empty)' if args.cold else 'warm (user cache)'}; "
        f"months asked {args.months}",
        flush=True,
    )
    print(
        f"{'loans':>7} {'periods':>7} {'process s':>9} "
        + " ".join(f"{s:>7}" for s in STAGES)
        + f" {'chain s/mo':>10} {'vs base':>7} {'sim s':>6} {'bridge s':>8} reconciled",
        flush=True,
    )
    base = 0.0
    for n in (int(x) for x in args.sizes.split(",")):
        r = run(n, args.months, args.cold)
        base = base or float(r["month"])  # type: ignore[arg-type]
        print(_row(n, r, base), flush=True)
        cpu: dict[str, float] = r["cpu_stages"]  # type: ignore[assignment]
        print(
            f"{'cpu s':>7} {'':>7} {float(r['cpu']):>9.1f} "  # type: ignore[arg-type]
            + " ".join(f"{cpu.get(s, 0.0):>7.1f}" for s in STAGES)
            + "  (CPU seconds of the run's process, by stage)",
            flush=True,
        )
    if args.evm_months > 0:
        n = int(args.sizes.split(",")[0])
        per = {evm: float(run(n, args.evm_months, False, evm)["month"]) for evm in ("stock", "lean")}  # type: ignore[arg-type]
        print(
            f"chain s/month (median), {n:,} loans, {args.evm_months} months: titanoboa's stock "
            f"py-evm environment (baseline) {per['stock']:.4f}, lean environment {per['lean']:.4f}, "
            f"ratio {per['stock'] / per['lean']:.2f}x",
            flush=True,
        )
    print(machine_check(), flush=True)


if __name__ == "__main__":
    main()
