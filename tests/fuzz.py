"""A long, seeded, resumable fuzzing campaign over the stateful machines (``make fuzz``).

Runs the deal machine of ``tests/chain/test_chain_stateful.py`` (and, unless
``--machines`` says otherwise, the on-chain vs Python waterfall differential test of
``tests/chain/test_exact_waterfall_diff.py``) in rounds until the time budget is
spent, then prints a table: machine, rounds, steps (examples for the differential
test), seconds, steps per second, failures.

Seeded and resumable: round ``k`` of a campaign runs with the hypothesis seed
``seed + k`` (the machines are deterministic, so a round replays exactly). The next
round to run and the rounds that failed are kept in ``.fuzz/progress.json``: a rerun
first replays every failed round (dropping those that pass now), then continues
where the last one stopped. A failure is printed (shrunk to a short program, with
hypothesis's reproduction blob) and the campaign moves on to the next round; the
exit status is 1 if any round failed. (Hypothesis writes no example database for a
seeded run, hence the campaign's own record of failed rounds.)

Usage: ``python tests/fuzz.py --minutes 30 [--seed 0] [--machines deal,diff]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHAIN_TESTS = REPO / "tests" / "chain"
#: Examples per round and steps per example (``--examples``, ``--steps``).
SIZES = {"examples": 20, "steps": 50}


def _load(name: str) -> ModuleType:
    """Import a test module by path (the tests folder is not a package)."""
    sys.path.insert(0, str(CHAIN_TESTS))
    spec = importlib.util.spec_from_file_location(name, CHAIN_TESTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _round_deal(mod: ModuleType, seed: int) -> tuple[int, bool]:
    """One round of the deal machine; returns (steps, failed)."""
    from hypothesis import seed as hypothesis_seed
    from hypothesis.stateful import get_state_machine_test

    machine = mod.DealMachine
    mod.machine_world()
    cfg = mod.machine_settings(SIZES["examples"], SIZES["steps"], shrink=True)
    from hypothesis import settings

    test = get_state_machine_test(machine, settings=settings(cfg, database=None, print_blob=True))
    before = machine.steps
    try:
        hypothesis_seed(seed)(test)()
    except Exception:
        traceback.print_exc()
        return machine.steps - before, True
    return machine.steps - before, False


def _round_diff(mod: ModuleType, seed: int) -> tuple[int, bool]:
    """One round of the differential test (every example deal); returns (examples, failed)."""
    import boa
    from hypothesis import given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    count = 0
    failed = False

    def make(deal: Any) -> Any:
        @settings(max_examples=max(1, SIZES["examples"] // 4), deadline=None, database=None, print_blob=True)
        @given(periods=st.lists(mod._period, min_size=3, max_size=24), wind_down=st.booleans())
        def diff(periods: list[tuple[int, ...]], wind_down: bool) -> None:
            nonlocal count
            count += 1
            with boa.env.anchor():
                contract = mod.deploy_exact_waterfall(deal, mod.DEAL_ADDRESS)
                mod._run(contract, deal, mod._remittances(deal, periods, wind_down))

        return diff

    for name in sorted(mod.DEALS):
        diff = make(mod.DEALS[name])
        try:
            hypothesis_seed(seed)(diff)()
        except Exception:
            traceback.print_exc()
            failed = True
    return count, failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="time budget (default 10)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (round k runs seed + k)")
    p.add_argument("--machines", default="deal,diff",
                   help="comma-separated: deal, diff")
    p.add_argument("--dir", type=Path, default=REPO / ".fuzz", help="progress folder (default .fuzz)")
    p.add_argument("--examples", type=int, default=SIZES["examples"], help="examples per round")
    p.add_argument("--steps", type=int, default=SIZES["steps"], help="steps per example")
    args = p.parse_args(argv)
    SIZES.update(examples=args.examples, steps=args.steps)
    machines = [m.strip() for m in args.machines.split(",") if m.strip()]
    unknown = set(machines) - {"deal", "diff"}
    if unknown:
        p.error(f"unknown machine(s) {sorted(unknown)}; choose from deal, diff")
    args.dir.mkdir(parents=True, exist_ok=True)
    progress_file = args.dir / "progress.json"
    progress: dict[str, Any] = {"next": {}, "failed": []}
    if progress_file.exists():
        progress = json.loads(progress_file.read_text())

    def save() -> None:
        progress_file.write_text(json.dumps(progress, indent=1, sort_keys=True))

    stateful = _load("test_chain_stateful") if "deal" in machines else None
    diff = _load("test_exact_waterfall_diff") if "diff" in machines else None
    stats = {m: {"rounds": 0, "steps": 0, "seconds": 0.0, "cpu": 0.0, "failures": 0} for m in machines}

    def run_round(m: str, seed: int) -> tuple[int, bool]:
        t0, c0 = time.perf_counter(), time.process_time()
        if m == "diff":
            n, failed = _round_diff(diff, seed)
        else:
            n, failed = _round_deal(stateful, seed)
        s = stats[m]
        s["seconds"] += time.perf_counter() - t0
        s["cpu"] += time.process_time() - c0
        s["rounds"] += 1
        s["steps"] += n
        s["failures"] += int(failed)
        return n, failed

    # 1. replay the rounds that failed before
    for m, seed in list(progress["failed"]):
        if m not in machines:
            continue
        print(f"fuzz: replaying failed round {m} seed {seed}")
        _, failed = run_round(m, seed)
        if not failed:
            print(f"fuzz: {m} seed {seed} passes now; dropped from the failed rounds")
            progress["failed"].remove([m, seed])
            save()
    # 2. new rounds until the time budget is spent
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline:
        for m in machines:
            if time.monotonic() >= deadline:
                break
            key = f"{m}:{args.seed}"
            k = progress["next"].get(key, 0)
            n, failed = run_round(m, args.seed + k)
            progress["next"][key] = k + 1
            if failed and [m, args.seed + k] not in progress["failed"]:
                progress["failed"].append([m, args.seed + k])
            save()
            if failed and n == 0:
                print(f"fuzz: round {k} of {m} failed before running a step: stopping", file=sys.stderr)
                deadline = 0.0
    print()
    print(f"{'machine':<8} {'rounds':>6} {'steps':>8} {'seconds':>9} {'steps/s':>8} {'cpu s':>8} "
          f"{'steps/cpu s':>11} {'failures':>8}")
    for m, s in stats.items():
        rate = s["steps"] / s["seconds"] if s["seconds"] else 0.0
        cpu_rate = s["steps"] / s["cpu"] if s["cpu"] else 0.0
        print(f"{m:<8} {s['rounds']:>6} {s['steps']:>8} {s['seconds']:>9.1f} {rate:>8.1f} {s['cpu']:>8.1f} "
              f"{cpu_rate:>11.1f} {s['failures']:>8}")
    print("(steps include hypothesis's replays and shrinking; diff: steps are examples of 3-24 "
          "periods; cpu s: this process's CPU time, the rate on a machine shared with other jobs)")
    if stateful is not None and stateful.DealMachine.outcomes:
        print("rules run (and the reverts among them), the deal machine:")
        for name, count in sorted(stateful.DealMachine.outcomes.items()):
            print(f"  {name:<60} {count:>7}")
    print(f"campaign seed {args.seed}; next round per machine: {progress['next']}; "
          f"failed rounds (replayed first next time): {progress['failed']}")
    return 1 if any(s["failures"] for s in stats.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
