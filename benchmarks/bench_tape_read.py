"""Reading a large canonical Parquet tape: ``read_tape`` against ``pyarrow.parquet.read_table``.

Usage::

    .venv/bin/python benchmarks/bench_tape_read.py [--loans 1000000] [--seed 1]

Generates a tape in a temporary folder, then times in fresh subprocesses (so each peak
RSS is its own; imports happen before the clock starts): the bare Parquet read (baseline) and ``read_tape`` (streamed batches,
conversion, full validation, duplicate-id check). Peak RSS is ``ru_maxrss`` of the child.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
path, which = sys.argv[1], sys.argv[2]
import pyarrow.csv as pv
import pyarrow.parquet as pq
from openmbs.collateral import read_tape
t0 = time.perf_counter()
if which == "baseline" and path.endswith(".csv"):
    n = pv.read_csv(path).num_rows
elif which == "baseline":
    n = pq.read_table(path).num_rows
else:
    n = len(read_tape(path))
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": n, "seconds": dt, "peak_rss": rss}))
"""


def _run(path: Path, which: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), which], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", action="store_true", help="also time a canonical CSV tape")
    args = ap.parse_args()

    from openmbs.collateral import generate_tape, write_tape

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tape.parquet"
        t0 = time.perf_counter()
        tape = generate_tape(args.loans, seed=args.seed)
        gen_s = time.perf_counter() - t0
        write_tape(tape, path)
        if args.csv:
            write_tape(tape, Path(tmp) / "tape.csv")
        del tape
        size = path.stat().st_size
        base = _run(path, "baseline")
        ours = _run(path, "read_tape")
        if args.csv:
            csv_path = Path(tmp) / "tape.csv"
            csv_size = csv_path.stat().st_size
            csv_base = _run(csv_path, "baseline")
            csv_ours = _run(csv_path, "read_tape")
    print(
        f"tape: {args.loans:,} loans, Parquet {size / 2**20:.1f} MiB; generate_tape {gen_s:.2f} s"
    )
    print(f"{'reader':<34}{'rows':>12}{'seconds':>10}{'peak RSS MiB':>14}{'x baseline':>12}")
    for name, r in (("pyarrow.parquet.read_table", base), ("openmbs read_tape (validated)", ours)):
        print(
            f"{name:<34}{int(r['rows']):>12,}{r['seconds']:>10.2f}"
            f"{r['peak_rss'] / 2**20:>14.0f}{r['seconds'] / base['seconds']:>12.2f}"
        )
    if args.csv:
        print(f"canonical CSV {csv_size / 2**20:.1f} MiB")
        for name, r in (
            ("pyarrow.csv.read_csv (untyped)", csv_base),
            ("openmbs read_tape CSV", csv_ours),
        ):
            print(
                f"{name:<34}{int(r['rows']):>12,}{r['seconds']:>10.2f}"
                f"{r['peak_rss'] / 2**20:>14.0f}{r['seconds'] / csv_base['seconds']:>12.2f}"
            )


if __name__ == "__main__":
    main()
