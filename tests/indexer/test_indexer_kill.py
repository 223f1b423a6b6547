"""An indexer killed with SIGKILL at random moments resumes with no gap and no duplicate."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from indexer_helpers import HERE, synthetic_logs, write_logs_file

from openmbs.indexer import (
    ContractRegistry,
    EventStore,
    Indexer,
    MemoryLogSource,
    parse_rpc_log,
)

ADDRESS = "0x00000000000000000000000000000000000000Aa"
FIXTURE_ABI = [
    {
        "type": "event",
        "name": "Transfer",
        "anonymous": False,
        "inputs": [
            {"name": "sender", "type": "address", "indexed": True},
            {"name": "receiver", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "TrancheAllocated",
        "anonymous": False,
        "inputs": [
            {"name": "period", "type": "uint256", "indexed": True},
            {"name": "tranche", "type": "uint256", "indexed": True},
            {"name": "interest", "type": "uint256", "indexed": False},
            {"name": "principal", "type": "uint256", "indexed": False},
            {"name": "loss", "type": "uint256", "indexed": False},
            {"name": "balance", "type": "uint256", "indexed": False},
            {"name": "interest_shortfall", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Claimed",
        "anonymous": False,
        "inputs": [
            {"name": "holder", "type": "address", "indexed": True},
            {"name": "tranche", "type": "uint256", "indexed": True},
            {"name": "amount", "type": "uint256", "indexed": False},
        ],
    },
]


def start(args: list[str]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, str(HERE / "index_child.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_kill_minus_nine_then_resume_equals_rebuild(
    tmp_path: Path, duckdb_tables: Callable[[Path], dict[str, list[tuple[object, ...]]]]
) -> None:
    n_blocks = 150
    logs = synthetic_logs(ADDRESS, n_blocks, seed=3)
    logs_file = tmp_path / "logs.json"
    write_logs_file(logs_file, logs)
    abi_file = tmp_path / "abi.json"
    abi_file.write_text(json.dumps(FIXTURE_ABI))
    db = tmp_path / "killed.duckdb"
    args = [str(logs_file), str(abi_file), ADDRESS, str(db), "5"]
    rng = random.Random(2024)
    interrupted = 0
    progress: list[int] = []
    for _ in range(3):
        proc = start(args)
        assert proc.stdout is not None
        # let it commit a random number of batches, then kill it at a random moment
        # inside the next one (reading, decoding, or in the middle of the transaction)
        for _ in range(rng.randint(1, 4)):
            line = proc.stdout.readline()
            if not line or line.startswith("done"):
                break
            progress.append(int(line))
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert proc.returncode == -signal.SIGKILL, f"child ended by itself: {err}"
        interrupted += 1
    assert interrupted == 3
    assert progress and max(progress) < n_blocks  # killed before the end
    assert progress == sorted(progress)  # each run resumed where the last commit left
    # resume to the end (in this process), and rebuild from block 0 in a fresh file
    # the same recorded file the child read
    recorded = [parse_rpc_log(x) for x in json.loads(logs_file.read_text())]
    source = MemoryLogSource("recorded", recorded)
    source.seal(n_blocks)
    registry = ContractRegistry()
    registry.add(ADDRESS, "Fixture", FIXTURE_ABI)
    with EventStore(db) as store:
        resumed_from = store.cursor("recorded") + 1
        assert 0 < resumed_from <= n_blocks
        stats = Indexer(store, source, registry, batch_blocks=5).run()
        assert stats.first_block == resumed_from
    rebuilt = tmp_path / "rebuilt.duckdb"
    with EventStore(rebuilt) as store:
        Indexer(store, source, registry, batch_blocks=100_000).run()
    got, want = duckdb_tables(db), duckdb_tables(rebuilt)
    assert got == want
    assert len(want["events"]) == len(logs)
    assert want["cursor"] == [("recorded", n_blocks)]
