"""The event indexer: decoding per log (static fast path vs eth_abi) and end to end.

Usage::

    .venv/bin/python benchmarks/bench_indexer.py [--logs 10000] [--repeat 5] [--seed 0]
        [--old-src DIR]

Synthetic logs of the deal's real event types (ABIs from ``openmbs.chain`` artefacts)
are encoded with ``eth_abi`` (``tests/indexer/indexer_helpers.deal_logs``), in the mix
of an ``openmbs demo`` run (Claimed, Transfer, TrancheAllocated, Approval, ...: 3% are
RemittanceAccepted, with a struct and an ``address[]``) and drawing
addresses from 300 holders.

* ``decode``: ``EventType.decode`` (the static fast path where it applies) against
  ``EventType._decode_eth_abi`` (the eth_abi path, the baseline) on the same logs in
  the same process, cases interleaved ``--repeat`` times; median CPU microseconds per
  log (``time.process_time``) and the ratio.
* ``end to end``: ``Indexer.run`` of the ``--logs`` logs from a ``MemoryLogSource``
  into a fresh DuckDB file, with ``batch_blocks=10_000`` as ``openmbs demo`` does, then
  ``close``; each run in a fresh subprocess (imports excluded from the timing), wall
  and CPU. With ``--old-src DIR`` (the ``src`` folder of an earlier checkout, e.g.
  ``git archive HEAD src | tar -x -C /tmp/old``) the same runs with that code are
  interleaved as the baseline.

A "machine check" line times a fixed pure-Python loop and shows the load average, since
the machine is shared: compare CPU times and ratios measured in the same run.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "indexer"

#: Event counts of a 60-period ``openmbs demo`` store (by event name), as weights.
DEMO_MIX = {
    "Claimed": 712,
    "Transfer": 481,
    "TrancheAllocated": 240,
    "Approval": 220,
    "Settled": 80,
    "Subscribed": 80,
    "RemittanceAccepted": 60,
    "Distributed": 60,
    "AllowlistSet": 23,
}

_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from indexer_helpers import deal_logs
from openmbs.indexer import ContractRegistry, EventStore, Indexer, MemoryLogSource
n, seed, db = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
logs, contracts = deal_logs(n, seed=seed, weights=json.loads(sys.argv[5]), holders=300)
reg = ContractRegistry()
for address, name, abi in contracts:
    reg.add(address, name, abi)
src = MemoryLogSource("bench", logs)
src.seal(logs[-1].block_number)
t0, c0 = time.perf_counter(), time.process_time()
with EventStore(db) as store:
    stats = Indexer(store, src, reg, batch_blocks=10_000).run()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"wall": wall, "cpu": cpu, "logs": stats.logs, "unknown": stats.unknown,
                  "mb": os.path.getsize(db) / 2**20}))
"""


def _load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} {b:.2f} {c:.2f}"


def _machine_check() -> float:
    """CPU ns per step of a fixed pure-Python loop (median of 5)."""
    times = []
    for _ in range(5):
        c = time.process_time()
        s = 0
        for i in range(1_000_000):
            s += i * i & 0xFF
        times.append((time.process_time() - c) * 1e3)
    return statistics.median(times)


def _decode_case(n: int, seed: int, repeat: int) -> dict[str, Any]:
    sys.path.insert(0, str(HELPERS))
    from indexer_helpers import deal_logs

    from openmbs.indexer import ContractRegistry

    logs, contracts = deal_logs(n, seed=seed, weights=DEMO_MIX, holders=300)
    reg = ContractRegistry()
    for address, name, abi in contracts:
        reg.add(address, name, abi)
    by_sel = {(a.lower(), sel): et for a, (_, evs) in reg._contracts.items() for sel, et in evs.items()}
    pairs = [(by_sel[(x.address.lower(), x.topics[0])], x) for x in logs]
    static = sum(1 for et, _ in pairs if et.fast)
    for et, x in pairs:  # same answers (and warm caches) before timing
        assert et.decode(x) == et._decode_eth_abi(x)
    runs: dict[str, list[float]] = {"eth_abi": [], "fast": [], "registry": []}
    for _ in range(repeat):
        c = time.process_time()
        for et, x in pairs:
            et._decode_eth_abi(x)
        runs["eth_abi"].append((time.process_time() - c) / n * 1e6)
        c = time.process_time()
        for et, x in pairs:
            et.decode(x)
        runs["fast"].append((time.process_time() - c) / n * 1e6)
        c = time.process_time()
        for x in logs:
            reg.decode(x)
        runs["registry"].append((time.process_time() - c) / n * 1e6)
    return {"static": static, **{k: statistics.median(v) for k, v in runs.items()}}


def _e2e(src_dir: Path, n: int, seed: int, tmp: Path, k: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src_dir))
    db = tmp / f"e2e-{k}.duckdb"
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(HELPERS), str(n), str(seed), str(db), json.dumps(DEMO_MIX)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    db.unlink(missing_ok=True)
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--old-src", type=Path, default=None, help="src folder of the baseline code")
    args = ap.parse_args()

    load0 = _load()
    ms = _machine_check()
    print(
        f"machine check: fixed pure-Python loop (1e6 steps) {ms:.1f} ms CPU; "
        f"{os.cpu_count()} cpus; load average {load0} (1/5/15 min) at start"
    )
    dec = _decode_case(args.logs, args.seed, args.repeat)
    print(
        f"\ndecode: {args.logs:,} logs of the deal's event types ({dec['static']:,} on the fast path), "
        f"median of {args.repeat}, CPU us per log"
    )
    print(f"{'path':<34}{'us/log':>10}{'vs eth_abi':>12}")
    base = dec["eth_abi"]
    for label, key in (
        ("eth_abi (baseline)", "eth_abi"),
        ("EventType.decode (fast path)", "fast"),
        ("ContractRegistry.decode", "registry"),
    ):
        print(f"{label:<34}{dec[key]:>10.1f}{base / dec[key]:>11.1f}x")

    cases = [("new", ROOT / "src")]
    if args.old_src is not None:
        cases.insert(0, ("old (baseline)", args.old_src.resolve()))
    runs: dict[str, list[dict[str, float]]] = {c: [] for c, _ in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            for label, src_dir in cases:
                runs[label].append(_e2e(src_dir, args.logs, args.seed, Path(tmp), k))
    print(
        f"\nend to end: Indexer.run of {args.logs:,} logs into a fresh DuckDB file "
        f"(batch_blocks=10000, one batch) + close; fresh process per run; median of {args.repeat}"
    )
    print(f"{'code':<18}{'wall s':>9}{'CPU s':>9}{'file MB':>9}{'logs':>8}")
    for label, _ in cases:
        r = runs[label]
        med = {k: statistics.median(x[k] for x in r) for k in ("wall", "cpu", "mb")}
        print(f"{label:<18}{med['wall']:>9.3f}{med['cpu']:>9.3f}{med['mb']:>9.1f}{int(r[0]['logs']):>8}")
    if len(cases) == 2:
        old = statistics.median(x["cpu"] for x in runs[cases[0][0]])
        new = statistics.median(x["cpu"] for x in runs["new"])
        print(f"CPU ratio old/new: {old / new:.1f}x")
    print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
