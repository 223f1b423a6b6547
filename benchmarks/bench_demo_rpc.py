"""Benchmark of `openmbs demo` on anvil (JSON-RPC) against the embedded chain (the baseline).

Each run is a fresh ``openmbs demo`` process (imports included) with the same settings:
first on the embedded EVM (the baseline, measured in this run), then with ``--rpc`` on a
fresh anvil node (from the npm registry, started here on 127.0.0.1, automine) with
``--dev-chain``. Printed per run: wall time, the run's chain seconds (summary.json),
periods, the transactions the node mined (its block number and transaction count, read
from the node afterwards) and the lines the run printed (quiet by default: titanoboa's
two lines per transaction are not shown). The target (issue 14): the default demo on
anvil in at most 60 s.

    .venv/bin/python benchmarks/bench_demo_rpc.py [--loans 2000] [--months 360] [--investors 20]
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


def _run(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "openmbs", "demo", *args], env=env, capture_output=True, text=True
    )
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"demo exited with {proc.returncode}")
    return dt, len(proc.stdout.splitlines()) + len(proc.stderr.splitlines()), proc.stdout


def main() -> None:
    from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loans", type=int, default=2000)
    ap.add_argument("--months", type=int, default=360)
    ap.add_argument("--investors", type=int, default=20)
    a = ap.parse_args()
    common = ["--loans", str(a.loans), "--months", str(a.months), "--investors", str(a.investors), "--fresh"]
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1] / "src"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "embedded"
        dt, lines, _ = _run([*common, "--out", str(out)], env)
        summary = json.loads((out / "summary.json").read_text())
        rows.append(("embedded", dt, summary, lines, None))
        node = start_anvil(find_anvil() or install_anvil())
        try:
            env_rpc = dict(env, OPENMBS_PRIVATE_KEY=ANVIL_KEYS[0])
            out = Path(tmp) / "anvil"
            dt, lines, _ = _run([*common, "--out", str(out), "--rpc", node.url, "--dev-chain"], env_rpc)
            summary = json.loads((out / "summary.json").read_text())
            blocks = int(str(node.rpc("eth_blockNumber", [])), 16)
            txs = sum(
                len(b["transactions"])  # type: ignore[index]
                for b in (node.rpc("eth_getBlockByNumber", [hex(i), False]) for i in range(1, blocks + 1))
            )
            rows.append(("anvil", dt, summary, lines, (blocks, txs)))
        finally:
            node.stop()
    print(f"demo --loans {a.loans} --months {a.months} --investors {a.investors}")
    print(f"{'chain':<10} {'wall s':>8} {'chain s':>8} {'periods':>8} {'blocks':>8} {'txs':>8} {'lines':>6} {'x base':>7}")
    base = rows[0][1]
    for name, dt, summary, lines, mined in rows:
        chain_s = summary.get("timing_seconds", {}).get("chain", float("nan"))
        periods = summary.get("periods", "?")
        b, t = mined if mined else ("-", "-")
        print(f"{name:<10} {dt:>8.1f} {float(chain_s):>8.1f} {periods!s:>8} {b!s:>8} {t!s:>8} {lines:>6} {dt / base:>7.2f}")


if __name__ == "__main__":
    main()
