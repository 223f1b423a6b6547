"""Benchmark of `openmbs replay` (a real pool's history on the embedded chain).

Each run is a fresh Python process (imports included, as a user's command). Printed
per job: the months run, the median wall time of the process over ``--repeat`` runs,
the median time inside the call (``replay`` / ``run_lifecycle``), and the median chain
seconds; ``cpu s`` the process's CPU seconds (comparable on a loaded machine). The baseline, measured in the same run: the demo (``run_lifecycle``, simulated
records) on a generated pool of the same number of loans for the same number of
months, with the same deal. A second pair: the Freddie Mac test pool
(``tests/servicing/data/freddie_pool_*.txt``, 36 loans, 57 months) and the demo of its
size. A "machine check" line shows the load average (the machine is shared).

Target (issue 15): the replay of the 2007 Q3 Fannie Mae file (176 loans, 123 months)
under 20 s on the embedded chain.

    OPENMBS_SHARED_DATA=/work/shared/data .venv/bin/python benchmarks/bench_replay.py \
        [--repeat 3] [--deal senior_sub]
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

_CHILD = r"""
import json, sys, time
from pathlib import Path
kind, out, deal, data = sys.argv[1:5]
t0 = time.perf_counter()
if kind == "replay":
    from openmbs.sim import replay
    d = Path(data)
    r = replay(out, acquisition=d / "fannie_sflp_2007q3_acquisition.txt",
               performance=d / "fannie_sflp_2007q3_performance.txt", deal=deal, fresh=True)
elif kind == "freddie":
    from openmbs.sim import replay
    d = Path(data)
    r = replay(out, acquisition=d / "freddie_pool_orig.txt", performance=d / "freddie_pool_svc.txt",
               deal=deal, fresh=True)
else:
    from openmbs.sim import LifecycleConfig, run_lifecycle
    loans, months = (int(x) for x in kind.split(":")[1:])
    r = run_lifecycle(out, LifecycleConfig(loans=loans, months=months, deal=deal), fresh=True)
print(json.dumps({"call": time.perf_counter() - t0, "cpu": time.process_time(), "periods": r.periods, "chain": r.chain_seconds,
                  "reconciled": r.reconciled, "loans": json.loads((Path(out) / "summary.json").read_text())["loans"]}))
"""


def _run(kind: str, deal: str, data: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-c", _CHILD, kind, str(Path(tmp) / "out"), deal, data],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
    d: dict[str, float] = json.loads(p.stdout.strip().splitlines()[-1])
    d["wall"] = wall
    return d


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--deal", default="senior_sub")
    args = ap.parse_args()
    data = os.environ.get("OPENMBS_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (Path(data) / "fannie_sflp_2007q3_performance.txt").is_file():
        sys.exit(f"no 2007 Q3 file under {data!r}: set OPENMBS_SHARED_DATA")
    _run("replay", args.deal, data)  # warm the compile caches once (not timed)
    replay_runs = [_run("replay", args.deal, data) for _ in range(args.repeat)]
    loans, months = int(replay_runs[0]["loans"]), int(replay_runs[0]["periods"])
    demo_runs = [_run(f"demo:{loans}:{months}", args.deal, data) for _ in range(args.repeat)]
    freddie = str(Path(__file__).resolve().parents[1] / "tests" / "servicing" / "data")
    fr_runs = [_run("freddie", args.deal, freddie) for _ in range(args.repeat)]
    fl, fm = int(fr_runs[0]["loans"]), int(fr_runs[0]["periods"])
    fr_demo = [_run(f"demo:{fl}:{fm}", args.deal, data) for _ in range(args.repeat)]
    rows = [
        ("replay 2007 Q3", replay_runs, demo_runs),
        (f"demo {loans} loans", demo_runs, demo_runs),
        ("replay Freddie pool", fr_runs, fr_demo),
        (f"demo {fl} loans", fr_demo, fr_demo),
    ]
    print(f"machine check: load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    print(f"deal {args.deal}; median of {args.repeat} fresh processes each")
    print(
        f"{'job':<20}{'loans':>7}{'months':>8}{'wall s':>9}{'call s':>9}{'cpu s':>9}{'chain s':>9}{'vs demo':>9}"
        "  reconciled"
    )
    for name, runs, base_runs in rows:
        base = _median(base_runs, "wall")
        print(
            f"{name:<20}{int(runs[0]['loans']):>7}{int(_median(runs, 'periods')):>8}{_median(runs, 'wall'):>9.2f}"
            f"{_median(runs, 'call'):>9.2f}{_median(runs, 'cpu'):>9.2f}{_median(runs, 'chain'):>9.2f}{_median(runs, 'wall') / base:>9.2f}"
            f"  {all(r['reconciled'] for r in runs)}"
        )
    print("target: replay of the 2007 Q3 file under 20 s (wall, embedded chain)")


if __name__ == "__main__":
    main()
