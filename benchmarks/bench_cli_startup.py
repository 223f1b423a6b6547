"""CLI start-up: `openmbs --help` against the imports it avoids.

Run: ``.venv/bin/python benchmarks/bench_cli_startup.py [--repeat 7]``

Each row is a fresh Python process, timed from start to exit (wall seconds, median of
``--repeat`` runs, the rows taking turns so machine load falls on all alike):

* ``python -c pass``: the interpreter alone (the floor);
* ``openmbs --help``: the CLI as shipped, the analytics imported inside the commands;
* ``openmbs --help + analytics``: the same with openmbs.pricing, structuring,
  collateral, cashflow and risk imported first, which is what ``openmbs --help`` would
  cost if the commands imported them at module top (the baseline this layout is
  measured against);
* ``import openmbs.pricing``: the heaviest package alone.

The last column is each row's time over ``openmbs --help``'s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROWS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "openmbs --help": ["-m", "openmbs", "--help"],
    "openmbs --help + analytics": [
        "-c",
        "import openmbs.pricing, openmbs.structuring, openmbs.collateral, openmbs.cashflow, "
        "openmbs.risk, sys; sys.argv = ['openmbs', '--help']; from openmbs.cli import main; main()",
    ],
    "import openmbs.pricing": ["-c", "import openmbs.pricing"],
}


def _run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f}; python {sys.version.split()[0]}")
    times: dict[str, list[float]] = {name: [] for name in ROWS}
    for _ in range(args.repeat):
        for name, argv in ROWS.items():
            times[name].append(_run(argv))
    base = statistics.median(times["openmbs --help"])
    print(f"{'command':<30} {'median s':>9} {'min s':>7} {'x --help':>9}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<30} {med:>9.3f} {min(ts):>7.3f} {med / base:>9.2f}")


if __name__ == "__main__":
    main()
