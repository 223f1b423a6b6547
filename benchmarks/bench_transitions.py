"""Transition (roll-rate) fit on the shared Fannie Mae file: openmbs vs a naive count.

Prints a table: the read of the two files, the vectorised fit (``estimate_transitions``
by age, LTV and FICO) and, as the baseline measured in the same run, a pure-Python
count over the same history's rows (dicts keyed by bucket and state pair). Both fits
count the same pairs (checked before timing). Median of ``--runs`` runs.

    PYTHONPATH=src python benchmarks/bench_transitions.py [--runs 7]

(from a worktree elsewhere: OPENMBS_SHARED_DATA=/path/to/shared/data)
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openmbs.servicing import BUCKETS, LIVE_STATES, estimate_transitions, read_fannie_performance

# ../shared/data beside the checkout, as in the tests (override with OPENMBS_SHARED_DATA)
DATA = Path(
    os.environ.get(
        "OPENMBS_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)
if not (DATA / "fannie_sflp_2007q3_performance.txt").exists():
    sys.exit(f"shared Fannie Mae files not found in {DATA} (set OPENMBS_SHARED_DATA)")
ACQ = DATA / "fannie_sflp_2007q3_acquisition.txt"
PERF = DATA / "fannie_sflp_2007q3_performance.txt"


def naive_fit(history: Any) -> dict[tuple[Any, ...], int]:
    """Count transitions with Python loops over row dicts (the baseline)."""
    import bisect

    loans = {r["loan_id"]: r for r in history.loans.to_pylist()}
    live = {int(s) for s in LIVE_STATES}
    counts: dict[tuple[Any, ...], int] = {}

    def bucket(dim: str, v: Any) -> str:
        edges, labels, side = BUCKETS[dim]
        if v is None:
            return labels[0] if dim == "age" else "unknown"
        i = (bisect.bisect_left if side == "left" else bisect.bisect_right)(edges, v)
        return labels[i]

    rows = history.months.select(["loan_id", "month", "loan_age", "state"]).to_pylist()
    for a, b in itertools.pairwise(rows):
        if a["loan_id"] != b["loan_id"] or a["state"] not in live or b["state"] == 13:
            continue
        ma, mb = a["month"], b["month"]
        if (mb.year * 12 + mb.month) - (ma.year * 12 + ma.month) != 1:
            continue
        ln = loans[a["loan_id"]]
        key = (
            bucket("age", a["loan_age"]),
            bucket("ltv", ln["ltv"]),
            bucket("fico", ln["credit_score"]),
            a["state"],
            b["state"],
        )
        counts[key] = counts.get(key, 0) + 1
    return counts


def timed(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    history = read_fannie_performance(ACQ, PERF)
    fast = estimate_transitions(history)
    slow = naive_fit(history)
    if fast.n_pairs != sum(slow.values()):
        sys.exit(f"fits disagree: {fast.n_pairs} vs {sum(slow.values())} pairs")
    t_read = timed(lambda: read_fannie_performance(ACQ, PERF), args.runs)
    t_fast = timed(lambda: estimate_transitions(history), args.runs)
    t_slow = timed(lambda: naive_fit(history), args.runs)
    rows = history.months.num_rows
    print(f"Fannie Mae 2007Q3 extract: {rows:,} loan-months, {history.n_loans} loans, "
          f"{fast.n_pairs:,} pairs, {fast.n_buckets} buckets; median of {args.runs} runs")  # fmt: skip
    print(f"{'step':<42}{'seconds':>10}{'rows/s':>14}{'vs baseline':>13}")
    for name, t in (
        ("read acquisition + performance", t_read),
        ("fit by age, ltv, fico (estimate_transitions)", t_fast),
        ("baseline: pure-Python count (same pairs)", t_slow),
    ):
        print(f"{name:<42}{t:>10.4f}{rows / t:>14,.0f}{t_slow / t:>12.1f}x")


if __name__ == "__main__":
    main()
