"""Cash-flow engine speed: numba kernels vs a plain-Python reference, rep lines, 1M tape.

Run: ``.venv/bin/python benchmarks/bench_cashflow.py [--loans 100000] [--big 1000000]``

Prints tables:

1. kernel throughput on a heterogeneous pool (rates, balances, ages and terms differ
   loan by loan), prepayment only and prepayment + defaults, in loan-months per second
   (loan-months = the sum of the loans' remaining terms actually simulated): the engine
   (the blocked kernel ``openmbs.cashflow._fast``, on 2 threads and on 1), the previous
   chunked kernel (``_kernels``), ``project_loans`` end to end (sorting and rate tables
   included), and the plain-Python reference implementation of the same formulas
   (``openmbs.cashflow._reference``) timed on a sample in the same run;
2. rep lines vs loan level: accuracy (differences in totals, WAL and the monthly cash
   flow) and speed;
3. a 1,000,000-loan Parquet tape read (``openmbs.collateral.read_tape``) and projected
   end to end, in a fresh process, with its peak RSS; then ``openmbs project --tape``
   on it as a user runs it (whole process: wall time, CPU time, peak RSS).

Kernel timings are the median (and best) of ``--repeat`` runs after a warm-up (numba
compile excluded); the machine-check line gives the load and the effective clock.
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
from typing import Any

import numpy as np

from openmbs.behaviour import Default, Prepayment


def _pool(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    bal = rng.uniform(50_000, 800_000, n)
    gross = rng.integers(20, 64, n) / 800.0  # 2.5% .. 7.875%
    net = gross - rng.choice([0.0025, 0.005, 0.0075], n)
    age = rng.integers(0, 61, n)
    rem = 360 - age
    return bal, gross, net, rem, age


def _times(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _best(fn: Any, repeat: int) -> float:
    return min(_times(fn, repeat))


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))


def calibrate() -> float:
    """Effective clock in GHz: a chain of dependent FMAs (4 cycles each on Zen 4/5 and
    recent Intel cores). On a quiet 2-core machine this reads near the nominal clock;
    when the cores are shared it shows how much of them this process gets."""
    from numba import njit

    @njit(fastmath=True)
    def chain(n: int) -> float:
        s = 1.0
        for _ in range(n):
            s = s * 0.9999999 + 1e-9
        return s

    chain(10)
    n = 50_000_000
    t = time.perf_counter()
    chain(n)
    ns = (time.perf_counter() - t) / n * 1e9
    return 4.0 / ns


def bench_kernels(n: int, repeat: int, sample: int) -> None:
    import numba

    from openmbs.cashflow import _fast as F
    from openmbs.cashflow import _kernels as K
    from openmbs.cashflow import project_loans
    from openmbs.cashflow._advance import ADVANCE_CODES
    from openmbs.cashflow._project import _table as rate_table
    from openmbs.cashflow._reference import reference_loan

    bal, gross, net, rem, age = _pool(n, 1)
    rem = rem.astype(np.int64)
    age = age.astype(np.int64)
    loan_months = float(rem.sum())
    horizon = int(rem.max())
    prepay = Prepayment.psa(150)
    default = Default.sda(100)
    smm_t, srow = rate_table(prepay.smm_matrix, True, age, horizon)
    mdr_t, drow = rate_table(default.mdr_matrix, True, age, horizon)
    threads = numba.get_num_threads()
    # the engine's order and blocks (as in project_loans): rate column, then term
    fast_in = {}
    for d in (False, True):
        o, lo, hi = F.prepare(rem, srow, drow, d)
        fast_in[d] = ([a[o] for a in (bal, gross / 12.0, (gross - net) / 12.0, rem, srow)],
                      drow[o], lo, hi)
    # the previous chunked kernel's order: by remaining term
    o_chk = np.argsort(rem, kind="stable")
    chk_in = [a[o_chk] for a in (bal, gross / 12.0, (gross - net) / 12.0, rem, srow)]
    chk_d = drow[o_chk]

    def fast(defaults: bool, advance: str = "all", workers: int = threads) -> Any:
        (b, r, f, m, s), dr, lo, hi = fast_in[defaults]
        code = ADVANCE_CODES[advance]
        return lambda: F.fast_kernel(b, r, f, m, s, smm_t, dr, mdr_t, lo, hi, defaults, 0.35,
                                     6, code, horizon, workers)

    def chunked(defaults: bool, advance: str = "all") -> Any:
        b, r, f, m, s = chk_in
        code = ADVANCE_CODES[advance]
        return lambda: K.project_kernel(b, r, f, m, s, smm_t, chk_d, mdr_t, defaults, 0.35,
                                        6, code, horizon, threads)

    t0 = time.perf_counter()
    for d, a in ((False, "all"), (True, "all"), (True, "principal"), (True, "none")):
        fast(d, a)()
        fast(d, a, 1)()
        chunked(d, a)()
    compile_s = time.perf_counter() - t0

    # plain-Python reference on a sample of loans
    idx = np.random.default_rng(2).choice(n, size=min(sample, n), replace=False)
    ref_lm = float(rem[idx].sum())

    def ref(defaults: bool, advance: str) -> None:
        for i in idx:
            r = int(rem[i])
            smm = list(prepay.smm_vector(int(age[i]), r))
            mdr = list(default.mdr_vector(int(age[i]), r, r, lag=6)) if defaults else [0.0] * r
            reference_loan(float(bal[i]), float(gross[i]), float(net[i]), r, smm, mdr,
                           severity=0.35, lag=6, advance=advance)

    rows = []
    for label, defaults, advance, target in (
        ("prepay only (150 PSA)", False, "all", 1e9),
        ("prepay + default, P&I advanced", True, "all", 5e8),
        ("prepay + default, principal advanced", True, "principal", 5e8),
        ("prepay + default, no advancing", True, "none", 5e8),
    ):
        ts = _times(fast(defaults, advance), repeat)
        med = float(np.median(ts))
        t_1 = float(np.median(_times(fast(defaults, advance, 1), repeat)))
        t_chk = float(np.median(_times(chunked(defaults, advance), repeat)))
        t_e2e = float(np.median(_times(lambda d=defaults, a=advance: project_loans(
            bal, gross, net, rem, age, prepayment=prepay, default=default if d else None,
            severity=0.35, lag=6, advance=a), repeat)))
        t_ref = _best(lambda d=defaults, a=advance: ref(d, a), 1)
        ref_rate = ref_lm / t_ref
        rate = loan_months / med
        rows.append([
            label,
            f"{rate:,.0f}",
            f"{loan_months / min(ts):,.0f}",
            f"{loan_months / t_1:,.0f}",
            f"{loan_months / t_chk:,.0f}",
            f"{loan_months / t_e2e:,.0f}",
            f"{ref_rate:,.0f}",
            f"{rate / ref_rate:,.0f}x",
            f"{target:.0e} {'met' if rate >= target else 'NOT met'}",
        ])
    _table(
        f"Kernel throughput in loan-months/s (lm/s), {n:,} heterogeneous loans, "
        f"{loan_months:,.0f} loan-months (horizon {horizon}), {threads} threads, median of "
        f"{repeat}; compile/cache load {compile_s:.1f} s; Python reference on {idx.size} loans",
        ["case", "engine median", "engine best", "engine 1 thread", "chunked (previous)",
         "project_loans", "plain Python", "engine/Python", "target"],
        rows,
    )


def bench_repline(n: int, repeat: int) -> None:
    import pyarrow as pa

    from openmbs.cashflow import project_tape
    from openmbs.cashflow._project import repline_arrays

    bal, gross, net, rem, age = _pool(n, 5)
    rng = np.random.default_rng(6)
    gross = np.round(gross + rng.normal(0, 0.002, n), 5)  # more rate dispersion
    net = gross - 0.005
    table = pa.table({"current_balance": bal, "note_rate": gross, "net_rate": net,
                      "remaining_term": pa.array(rem, pa.int32()),
                      "loan_age": pa.array(age, pa.int32())})
    kw: dict[str, Any] = {"prepayment": Prepayment.psa(150), "default": Default.sda(100),
                          "severity": 0.35, "lag": 6}
    project_tape(table, method="repline", **kw)
    loan = project_tape(table, method="loan", **kw)
    rep = project_tape(table, method="repline", **kw)
    n_lines = repline_arrays(bal, gross, net, rem.astype(np.int64), age.astype(np.int64))[0].size
    t_loan = _best(lambda: project_tape(table, method="loan", **kw), repeat)
    t_rep = _best(lambda: project_tape(table, method="repline", **kw), repeat)

    def wal(cf: Any) -> float:
        return float((cf.period * cf.principal).sum() / cf.principal.sum() / 12)

    ob = loan.original_balance
    horizon = max(loan.n_periods, rep.n_periods)

    def padded(x: np.ndarray) -> np.ndarray:
        return np.pad(x, (0, horizon - x.size))

    rows = [
        ["rows projected", f"{n:,}", f"{n_lines:,}", ""],
        ["time (s)", f"{t_loan:.4f}", f"{t_rep:.4f}", f"{t_loan / t_rep:.1f}x faster"],
        ["WAL (years)", f"{wal(loan):.5f}", f"{wal(rep):.5f}", f"{wal(rep) - wal(loan):+.5f}"],
        ["total loss / balance", f"{loan.loss.sum() / ob:.6%}", f"{rep.loss.sum() / ob:.6%}",
         f"{(rep.loss.sum() - loan.loss.sum()) / ob:+.6%}"],
        ["total interest / balance", f"{loan.net_interest.sum() / ob:.6%}",
         f"{rep.net_interest.sum() / ob:.6%}",
         f"{(rep.net_interest.sum() - loan.net_interest.sum()) / ob:+.6%}"],
        ["max |monthly cash flow diff| / balance", "", "",
         f"{np.abs(padded(rep.cash_flow) - padded(loan.cash_flow)).max() / ob:.3e}"],
    ]
    _table(f"Rep lines vs loan level ({n:,} loans; buckets 0.125% rate, 12 months term and "
           "age; 150 PSA, 100 SDA, 35% severity, lag 6)",
           ["figure", "loan level", "rep lines", "difference"], rows)


def _child_e2e(path: str) -> None:
    """Run in a fresh process: read the tape, project it, report times and peak RSS."""
    import resource

    from openmbs.cashflow import project_tape
    from openmbs.collateral import read_tape

    kw: dict[str, Any] = {"prepayment": Prepayment.psa(150), "default": Default.sda(100),
                          "severity": 0.35, "lag": 6}
    # compile (or load from the numba cache) outside the timed section
    import pyarrow as pa

    tiny = pa.table({"current_balance": [1.0], "note_rate": [0.05], "remaining_term": [2],
                     "loan_age": [0]})
    project_tape(tiny, **kw)
    import pyarrow.parquet as pq

    # engine path: only the columns the projection needs, straight from pyarrow
    cols = ["current_balance", "note_rate", "net_rate", "servicing_fee", "remaining_term",
            "loan_age"]
    t0 = time.perf_counter()
    table = pq.read_table(path, columns=cols)
    t1 = time.perf_counter()
    project_tape(table, **kw)
    t2 = time.perf_counter()
    rss_direct = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # full path: the collateral reader (schema checks and validation of every field)
    t3 = time.perf_counter()
    tape = read_tape(path)
    t4 = time.perf_counter()
    cf = project_tape(tape, **kw)
    t5 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"loans": len(tape), "pq_read_s": t1 - t0, "pq_project_s": t2 - t1,
                      "pq_total_s": t2 - t0, "pq_peak_rss": rss_direct,
                      "read_s": t4 - t3, "project_s": t5 - t4, "total_s": t5 - t3,
                      "peak_rss": rss, "periods": cf.n_periods}))


def _child_generate(path: str, n: int) -> None:
    from openmbs.collateral import generate_tape, write_tape

    write_tape(generate_tape(n, seed=11), path)


_CLI_LAUNCHER = r"""
import json, os, subprocess, sys, time
t0 = time.perf_counter()
with open(os.devnull, "wb") as null:
    proc = subprocess.Popen(sys.argv[1:], stdout=null)
    _, status, ru = os.wait4(proc.pid, 0)
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
                  "peak_rss": ru.ru_maxrss * 1024.0,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def _cli_run(path: str) -> dict[str, float]:
    """``openmbs project --tape PATH`` (150 PSA, 100 SDA, 35%, lag 6) as a user runs it:
    wall time of the whole process (interpreter start, imports, numba cache load, read,
    validation, projection, printing) and the child's own peak RSS and CPU time from
    ``os.wait4``. A bare launcher process starts it: Linux carries a parent's RSS over
    to its forked child's ``ru_maxrss``, and this process holds numba and the pools."""
    exe = str(Path(sys.executable).with_name("openmbs"))
    argv = [exe, "project", "--tape", path, "--psa", "150", "--sda", "100",
            "--severity", "35", "--lag", "6"]
    load_before = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", _CLI_LAUNCHER, *argv], check=True,
                         capture_output=True, text=True)
    r: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if r["code"] != 0:
        raise SystemExit(f"openmbs project failed with exit code {r['code']}")
    r.update(load_before=load_before, load_after=os.getloadavg()[0])
    return r


def bench_big(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.parquet")
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child-generate", path, str(n)], check=True)
        gen_s = time.perf_counter() - t
        out = subprocess.run([sys.executable, __file__, "--child-e2e", path], check=True,
                             capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        size = Path(path).stat().st_size
        cli = _cli_run(path)
    rows = [
        ["loans", f"{r['loans']:,}"],
        ["file size (MB)", f"{size / 1e6:,.1f}"],
        ["generate + write (s, not timed below)", f"{gen_s:.2f}"],
        ["pyarrow.parquet.read_table, 6 columns (s)", f"{r['pq_read_s']:.2f}"],
        ["project_tape loan level, 150 PSA / 100 SDA (s)", f"{r['pq_project_s']:.2f}"],
        ["  end to end, direct read (s), target < 10", f"{r['pq_total_s']:.2f}"],
        ["  peak RSS so far (GiB), target < 4", f"{r['pq_peak_rss'] / 2**30:.2f}"],
        ["openmbs.collateral.read_tape, validated (s)", f"{r['read_s']:.2f}"],
        ["project_tape loan level (s)", f"{r['project_s']:.2f}"],
        ["  end to end with read_tape (s)", f"{r['total_s']:.2f}"],
        ["  peak RSS of the process (GiB), target < 4", f"{r['peak_rss'] / 2**30:.2f}"],
        ["openmbs project --tape (CLI, whole process) wall (s), target < 10",
         f"{cli['wall']:.2f}"],
        ["  CPU user + system (s)", f"{cli['cpu']:.2f}"],
        ["  peak RSS of the CLI process (GiB), target < 4", f"{cli['peak_rss'] / 2**30:.2f}"],
        ["  load average (1 min) before / after the CLI run",
         f"{cli['load_before']:.2f} / {cli['load_after']:.2f}"],
    ]
    _table("1,000,000-loan Parquet tape, end to end (fresh process)", ["figure", "value"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loans", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=1_000_000, help="0 to skip the tape run")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sample", type=int, default=300, help="loans for the Python baseline")
    ap.add_argument("--child-e2e")
    ap.add_argument("--child-generate", nargs=2)
    a = ap.parse_args()
    if a.child_e2e:
        _child_e2e(a.child_e2e)
        return
    if a.child_generate:
        _child_generate(a.child_generate[0], int(a.child_generate[1]))
        return
    load1, load5, _ = os.getloadavg()
    print(f"machine check: {os.cpu_count()} cpus, load average {load1:.2f} (1 min) "
          f"{load5:.2f} (5 min), effective clock of one core for this process "
          f"{calibrate():.2f} GHz (dependent-FMA chain)")
    bench_kernels(a.loans, a.repeat, a.sample)
    bench_repline(a.loans, a.repeat)
    if a.big:
        bench_big(a.big)


if __name__ == "__main__":
    main()
