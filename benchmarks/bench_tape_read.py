"""A 1,000,000-loan Parquet tape read, validated and projected end to end.

Usage::

    .venv/bin/python benchmarks/bench_tape_read.py [--loans 1000000] [--seed 1]
        [--repeat 3] [--csv] [--no-cli]

Generates a tape in a temporary folder (in a child process), then runs each case
``--repeat`` times in a fresh subprocess (cases interleaved, so they share the machine's
load alike) and prints medians. Each child times its own stages with
``time.perf_counter`` after its imports (imports are timed apart); its peak RSS and CPU
time (user + system) are its own ``rusage``, taken by this parent with ``os.wait4``
(``ru_maxrss`` of the child). The parent imports nothing heavy: Linux carries the
parent's RSS over to a forked child's ``ru_maxrss``.

Cases:

* ``baseline``: ``pyarrow.parquet.read_table(path)`` with pyarrow's defaults: the bare
  read, no conversion, no checks. The same read with the jemalloc pool is shown too,
  to separate the allocator's share (see docs/collateral.md, "Speed").
* ``read_tape``: ``openmbs.collateral.read_tape(path)``: streamed batches, conversion,
  every validation rule and the duplicate-id check.
* ``end to end``: ``project_tape(read_tape(path), prepayment=Prepayment.psa(1.5))``,
  loan by loan (and by rep lines), stages read+validate / projection / total.
* ``CLI``: ``openmbs project --tape path --psa 150`` as a user runs it: wall time of
  the whole process (interpreter start, imports, read, project, print) and its peak RSS
  from ``os.wait4``.

The numba kernels are compiled (``cache=True``) by a warm-up run that is not counted,
as they are on any machine after the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t_start = time.perf_counter()
path, which = sys.argv[1], sys.argv[2]
out = {}
if which == "calibrate":
    from numba import njit

    @njit(fastmath=True)
    def chain(n):
        s = 1.0
        for _ in range(n):
            s = s * 0.9999999 + 1e-9
        return s

    chain(10)
    n = 50_000_000
    t = time.perf_counter()
    chain(n)
    print(json.dumps({"ghz": 4.0 / ((time.perf_counter() - t) / n * 1e9)}))
    sys.exit(0)
import pyarrow as pa
import pyarrow.parquet as pq
if which.startswith("generate"):
    from openmbs.collateral import generate_tape, write_tape
    loans, seed = (int(x) for x in sys.argv[3:5])
    t0, c0 = time.perf_counter(), time.process_time()
    tape = generate_tape(loans, seed=seed)
    out["gen"], out["gen_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    write_tape(tape, path)
    if which == "generate-csv":
        write_tape(tape, path[: -len(".parquet")] + ".csv")
    print(json.dumps(out))
    sys.exit(0)
if which.startswith("baseline"):
    if which == "baseline-jemalloc":
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    out["import"] = time.perf_counter() - t_start
    t0 = time.perf_counter()
    if path.endswith(".csv"):
        import pyarrow.csv as pv
        n = pv.read_csv(path).num_rows
    else:
        n = pq.read_table(path).num_rows
    out["read"] = time.perf_counter() - t0
    out["total"] = out["read"]
else:
    from openmbs.collateral import read_tape
    if which != "read_tape":
        from openmbs.behaviour import Prepayment
        from openmbs.cashflow import project_tape
    out["import"] = time.perf_counter() - t_start
    t0 = time.perf_counter()
    tape = read_tape(path)
    n = len(tape)
    t1 = time.perf_counter()
    out["read"] = t1 - t0
    if which != "read_tape":
        method = "repline" if which == "e2e-repline" else "loan"
        cf = project_tape(tape, prepayment=Prepayment.psa(150), method=method)
        assert cf.principal.size > 0
        out["project"] = time.perf_counter() - t1
    out["total"] = time.perf_counter() - t0
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out["cpu_at_total"] = ru.ru_utime + ru.ru_stime
    if which != "read_tape":
        # again in the same process: the kernels are loaded, this is the projection alone
        t2 = time.perf_counter()
        project_tape(tape, prepayment=Prepayment.psa(150), method=method)
        out["project2"] = time.perf_counter() - t2
out["rows"] = n
print(json.dumps(out))
"""

CASES = {
    "baseline": "pyarrow read_table (default pool)",
    "baseline-jemalloc": "pyarrow read_table (jemalloc pool)",
    "read_tape": "read_tape (validated)",
    "e2e-loan": "read_tape + project_tape loan",
    "e2e-repline": "read_tape + project_tape repline",
}


def _spawn(argv: list[str]) -> tuple[str, float, float]:
    """Run ``argv``; its stdout, peak RSS in bytes and CPU seconds (user + system).

    The figures are the child's own ``rusage`` from ``os.wait4``. Linux carries
    ``ru_maxrss`` over from the parent at fork, so this parent imports nothing heavy
    and keeps no tape: its own peak (~20 MiB) stays below every child's.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:3])} ... failed:\n{err.read().decode()}")
        return out.read().decode(), ru.ru_maxrss * 1024.0, ru.ru_utime + ru.ru_stime


def _child(path: Path, which: str, *extra: str) -> dict[str, float]:
    stdout, rss, cpu = _spawn([sys.executable, "-c", CHILD, str(path), which, *extra])
    result: dict[str, float] = json.loads(stdout.strip().splitlines()[-1])
    result.update(peak_rss=rss, cpu=result.pop("cpu_at_total", cpu))
    return result


def _cli(path: Path) -> dict[str, float]:
    """``openmbs project --tape PATH --psa 150``, the whole process timed from outside."""
    exe = Path(sys.executable).with_name("openmbs")
    t0 = time.perf_counter()
    _, rss, cpu = _spawn([str(exe), "project", "--tape", str(path), "--psa", "150"])
    return {"total": time.perf_counter() - t0, "peak_rss": rss, "cpu": cpu}


def _load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} {b:.2f} {c:.2f}"


def _med(runs: list[dict[str, float]], key: str) -> float:
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--csv", action="store_true", help="also time a canonical CSV tape")
    ap.add_argument("--no-cli", action="store_true", help="skip the `openmbs project` runs")
    args = ap.parse_args()

    ghz = _child(Path("-"), "calibrate")["ghz"]
    print(
        f"machine check: {os.cpu_count()} cpus, load average {_load()} (1/5/15 min) at "
        f"start, effective clock of one core {ghz:.2f} GHz (dependent FMA chain)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tape.parquet"
        csv_path = Path(tmp) / "tape.csv"
        gen = _child(
            path, "generate-csv" if args.csv else "generate", str(args.loans), str(args.seed)
        )
        gen_s, gen_cpu = gen["gen"], gen["gen_cpu"]
        size = path.stat().st_size
        _child(path, "e2e-loan")  # warm-up: numba cache, file in the page cache
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in CASES}
        runs["cli"] = []
        csv_runs: dict[str, list[dict[str, float]]] = {"baseline": [], "read_tape": []}
        for _ in range(args.repeat):
            for key in CASES:
                runs[key].append(_child(path, key))
            if not args.no_cli:
                runs["cli"].append(_cli(path))
            if args.csv:
                for key in csv_runs:
                    csv_runs[key].append(_child(csv_path, key))
        csv_size = csv_path.stat().st_size if args.csv else 0

    print(
        f"tape: {args.loans:,} loans, Parquet {size / 2**20:.1f} MiB; generate_tape "
        f"{gen_s:.2f} s wall, {gen_cpu:.2f} s CPU; medians of {args.repeat} fresh processes"
    )
    base = _med(runs["baseline"], "total")
    head = (
        f"{'case':<36}{'import s':>9}{'read+val s':>11}{'project s':>10}{'total s':>9}"
        f"{'CPU s':>7}{'peak RSS MiB':>13}{'x baseline':>11}{'2nd project s':>14}"
    )
    print(head)
    print("-" * len(head))
    labels = dict(CASES, cli="openmbs project --tape --psa 150 (CLI)")
    for key, label in labels.items():
        rs = runs[key]
        if not rs:
            continue
        total = _med(rs, "total")

        def f(x: float, w: int) -> str:
            return f"{x:>{w}.2f}" if x == x else f"{'-':>{w}}"

        print(
            f"{label:<36}{f(_med(rs, 'import'), 9)}{f(_med(rs, 'read'), 11)}"
            f"{f(_med(rs, 'project'), 10)}{f(total, 9)}{f(_med(rs, 'cpu'), 7)}"
            f"{_med(rs, 'peak_rss') / 2**20:>13.0f}{total / base:>11.2f}"
            f"{f(_med(rs, 'project2'), 14)}"
        )
    print(
        "  total = read+validate + projection after imports (CLI: whole process, "
        "interpreter start and imports included); CPU = the child's user + system time\n"
        "  project s includes loading the numba kernels from their cache; 2nd project s "
        "is a second projection in the same process\n  (kernels loaded), run after total "
        "and CPU were taken"
    )
    if args.csv:
        cbase = _med(csv_runs["baseline"], "total")
        print(f"canonical CSV {csv_size / 2**20:.1f} MiB")
        for key, label in (
            ("baseline", "pyarrow.csv.read_csv (untyped)"),
            ("read_tape", "read_tape CSV (validated)"),
        ):
            t = _med(csv_runs[key], "total")
            print(
                f"{label:<36}{t:>9.2f} s{_med(csv_runs[key], 'peak_rss') / 2**20:>8.0f} MiB"
                f"{t / cbase:>8.2f} x"
            )
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
