"""Reorganisations without a node: a log source whose block hashes change above a fork
point; the rollback is one transaction, so a crash inside it changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from eth_utils.crypto import keccak
from indexer_helpers import HERE, synthetic_logs
from test_indexer_kill import ADDRESS, FIXTURE_ABI

from openmbs.indexer import ContractRegistry, EventStore, Indexer, MemoryLogSource, RawLog

Tables = Callable[[Path], dict[str, list[tuple[object, ...]]]]


class ForkSource(MemoryLogSource):
    """Sealed logs with block hashes; blocks above ``fork_at`` hash with ``salt``."""

    def __init__(self, logs: Sequence[RawLog], head: int, fork_at: int | None = None, salt: str = "") -> None:
        super().__init__("fork", logs)
        self.seal(head)
        self.fork_at, self.salt = fork_at, salt

    def _hash(self, n: int) -> str:
        tag = self.salt if self.fork_at is not None and n > self.fork_at else ""
        return "0x" + keccak(text=f"block{tag}:{n}").hex()

    def block_hashes(self, numbers: Sequence[int]) -> dict[int, tuple[str, str | None]]:
        return {
            n: (self._hash(n), self._hash(n - 1) if n > 0 else None)
            for n in numbers
            if 0 <= n <= self.latest_block()
        }


def _registry() -> ContractRegistry:
    reg = ContractRegistry()
    reg.add(ADDRESS, "Fixture", FIXTURE_ABI)
    return reg


def _fork(head: int, fork_at: int) -> ForkSource:
    """The chain after a reorganisation above ``fork_at``: other logs, other hashes."""
    old = [x for x in synthetic_logs(ADDRESS, head, seed=3) if x.block_number <= fork_at]
    new = [x for x in synthetic_logs(ADDRESS, head + 3, seed=4) if x.block_number > fork_at]
    return ForkSource(old + new, head + 3, fork_at=fork_at, salt="b")


def _without_blocks(tables: dict[str, list[tuple[object, ...]]]) -> dict[str, list[tuple[object, ...]]]:
    return {k: v for k, v in tables.items() if k != "blocks"}


def test_reorg_rolls_back_to_the_ancestor_and_equals_a_rebuild(tmp_path: Path, duckdb_tables: Tables) -> None:
    db = tmp_path / "events.duckdb"
    with EventStore(db) as store:
        Indexer(store, ForkSource(synthetic_logs(ADDRESS, 40, seed=3), 40), _registry(), batch_blocks=7).run()
        forked = _fork(40, 25)
        stats = Indexer(store, forked, _registry(), batch_blocks=7).run()
        assert stats.reorgs == 1 and stats.rolled_back > 0
        assert stats.first_block <= 26
    rebuilt = tmp_path / "rebuilt.duckdb"
    with EventStore(rebuilt) as store:
        Indexer(store, forked, _registry(), batch_blocks=1000).run()
    assert _without_blocks(duckdb_tables(db)) == _without_blocks(duckdb_tables(rebuilt))


def test_source_without_hashes_is_not_checked() -> None:
    """A sealed in-memory source is final: no block hash is asked for or stored."""
    src = MemoryLogSource("m", synthetic_logs(ADDRESS, 10, seed=3))
    src.seal(10)
    store = EventStore()
    ix = Indexer(store, src, _registry())
    assert ix.confirmations == 0
    assert ix.run().reorgs == 0
    assert store.block_hashes("m") == []


def test_crash_inside_rollback_changes_nothing(tmp_path: Path, duckdb_tables: Tables) -> None:
    db = tmp_path / "events.duckdb"
    with EventStore(db) as store:
        Indexer(store, ForkSource(synthetic_logs(ADDRESS, 40, seed=3), 40), _registry(), batch_blocks=7).run()
    before = duckdb_tables(db)
    assert before["cursor"] == [("fork", 40)]
    proc = subprocess.run(
        [sys.executable, str(HERE / "rollback_child.py"), str(db), "fork", "25"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 9, proc.stderr
    assert duckdb_tables(db) == before  # the typed rows deleted before the crash are back
    # the next run finds the reorganisation and finishes the job
    forked = _fork(40, 25)
    with EventStore(db) as store:
        assert Indexer(store, forked, _registry(), batch_blocks=7).run().reorgs == 1
    rebuilt = tmp_path / "rebuilt.duckdb"
    with EventStore(rebuilt) as store:
        Indexer(store, forked, _registry()).run()
    assert _without_blocks(duckdb_tables(db)) == _without_blocks(duckdb_tables(rebuilt))
