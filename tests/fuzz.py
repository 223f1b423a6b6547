"""A long, seeded, resumable fuzzing campaign over the stateful machines (``make fuzz``).

Runs the deal machine of ``tests/chain/test_chain_stateful.py`` (and, unless
``--machines`` says otherwise, the on-chain vs Python waterfall differential test of
``tests/chain/test_exact_waterfall_diff.py``) in rounds until the time budget is
spent, then prints a table: machine, rounds, steps (examples for the differential
test), seconds, steps per second, failures.

Seeded and resumable: round ``k`` of a campaign runs with the hypothesis seed
``seed + k``; the next round to run is kept in ``.fuzz/progress.json`` and
hypothesis's example database in ``.fuzz/<machine>/``, so a rerun continues where
the last one stopped and replays every failure it saved first. A failure is printed
(shrunk to a short program) and the campaign moves on to the next round; the exit
status is 1 if any round failed.

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
STEPS_PER_EXAMPLE = 50
EXAMPLES_PER_ROUND = 20


def _load(name: str) -> ModuleType:
    """Import a test module by path (the tests folder is not a package)."""
    sys.path.insert(0, str(CHAIN_TESTS))
    spec = importlib.util.spec_from_file_location(name, CHAIN_TESTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _database(root: Path, machine: str) -> Any:
    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(str(root / machine))


def _round_deal(mod: ModuleType, seed: int, db: Any, late: bool) -> tuple[int, bool]:
    """One round of the deal machine; returns (steps, failed)."""
    from hypothesis import seed as hypothesis_seed
    from hypothesis.stateful import get_state_machine_test

    machine = mod.LateSettlementMachine if late else mod.DealMachine
    mod.machine_world()
    cfg = mod.machine_settings(EXAMPLES_PER_ROUND, STEPS_PER_EXAMPLE, shrink=True)
    from hypothesis import settings

    test = get_state_machine_test(machine, settings=settings(cfg, database=db))
    before = machine.steps
    try:
        hypothesis_seed(seed)(test)()
    except Exception:
        traceback.print_exc()
        return machine.steps - before, True
    return machine.steps - before, False


def _round_diff(mod: ModuleType, seed: int, db: Any) -> tuple[int, bool]:
    """One round of the differential test (every example deal); returns (examples, failed)."""
    import boa
    from hypothesis import given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    count = 0
    failed = False
    for name in sorted(mod.DEALS):
        deal = mod.DEALS[name]

        @settings(max_examples=EXAMPLES_PER_ROUND // 4, deadline=None, database=db)
        @given(periods=st.lists(mod._period, min_size=3, max_size=24), wind_down=st.booleans())
        def diff(periods: list[tuple[int, ...]], wind_down: bool, deal: Any = deal) -> None:
            nonlocal count
            count += 1
            with boa.env.anchor():
                contract = mod.deploy_exact_waterfall(deal, mod.DEAL_ADDRESS)
                mod._run(contract, deal, mod._remittances(deal, periods, wind_down))

        diff.__name__ = f"diff_{name}"  # one database key per deal
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
                   help="comma-separated: deal, late (late settlements allowed), diff")
    p.add_argument("--dir", type=Path, default=REPO / ".fuzz", help="database and progress folder")
    args = p.parse_args(argv)
    machines = [m.strip() for m in args.machines.split(",") if m.strip()]
    unknown = set(machines) - {"deal", "late", "diff"}
    if unknown:
        p.error(f"unknown machine(s) {sorted(unknown)}; choose from deal, late, diff")
    args.dir.mkdir(parents=True, exist_ok=True)
    progress_file = args.dir / "progress.json"
    progress: dict[str, int] = json.loads(progress_file.read_text()) if progress_file.exists() else {}

    stateful = _load("test_chain_stateful") if {"deal", "late"} & set(machines) else None
    diff = _load("test_exact_waterfall_diff") if "diff" in machines else None
    stats = {m: {"rounds": 0, "steps": 0, "seconds": 0.0, "cpu": 0.0, "failures": 0} for m in machines}
    deadline = time.monotonic() + args.minutes * 60
    while time.monotonic() < deadline:
        for m in machines:
            if time.monotonic() >= deadline:
                break
            key = f"{m}:{args.seed}"
            k = progress.get(key, 0)
            db = _database(args.dir, m)
            t0, c0 = time.perf_counter(), time.process_time()
            if m == "diff":
                n, failed = _round_diff(diff, args.seed + k, db)
            else:
                n, failed = _round_deal(stateful, args.seed + k, db, late=(m == "late"))
            s = stats[m]
            s["seconds"] += time.perf_counter() - t0
            s["cpu"] += time.process_time() - c0
            s["rounds"] += 1
            s["steps"] += n
            s["failures"] += int(failed)
            progress[key] = k + 1
            progress_file.write_text(json.dumps(progress, indent=1, sort_keys=True))
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
    print(f"seed {args.seed}; next rounds: {json.dumps({k: v for k, v in progress.items() if k.endswith(f':{args.seed}')})}")
    return 1 if any(s["failures"] for s in stats.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
