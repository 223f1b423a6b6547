"""The indexer: read logs from a source by block batches, decode, store, advance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from openmbs.errors import DataIntegrityError
from openmbs.indexer._abi import ContractRegistry
from openmbs.indexer._sources import LogSource
from openmbs.indexer._store import EventStore

__all__ = ["DEFAULT_DB_NAME", "IndexStats", "Indexer", "default_db_path"]

#: File name of the event database in an output directory.
DEFAULT_DB_NAME = "events.duckdb"


def default_db_path(out_dir: str | os.PathLike[str]) -> Path:
    """The event database of an output directory: ``<out_dir>/events.duckdb``."""
    return Path(out_dir) / DEFAULT_DB_NAME


@dataclass(frozen=True)
class IndexStats:
    """What one :meth:`Indexer.run` did.

    ``first_block`` and ``last_block`` bound the blocks indexed by this run
    (``last_block < first_block`` when there was nothing new); ``logs`` counts the logs
    stored and ``unknown`` those of unknown contracts or event selectors (stored raw).
    """

    source: str
    first_block: int
    last_block: int
    batches: int
    logs: int
    unknown: int


class Indexer:
    """Index a log source into an event store, resumably.

    Parameters
    ----------
    store : EventStore
        Where events go.
    source : LogSource
        Where logs come from; ``source.name`` keys the cursor.
    registry : ContractRegistry
        The ABIs to decode with.
    batch_blocks : int, default 1000
        Blocks per batch (per transaction).
    confirmations : int, default 0
        Stay this many blocks behind the source's latest block.
    start_block : int, default 0
        First block to index when the store has no cursor for the source.

    Notes
    -----
    Each batch ``[cursor + 1, cursor + batch_blocks]`` is read, decoded and written in
    one DuckDB transaction together with the cursor update, so the store holds exactly
    the logs of blocks ``start_block..cursor``: an indexer killed at any point resumes at
    ``cursor + 1`` with no gap and no duplicate.
    """

    def __init__(
        self,
        store: EventStore,
        source: LogSource,
        registry: ContractRegistry,
        *,
        batch_blocks: int = 1000,
        confirmations: int = 0,
        start_block: int = 0,
    ) -> None:
        if batch_blocks < 1:
            raise ValueError(f"batch_blocks must be >= 1, got {batch_blocks!r}")
        self.store = store
        self.source = source
        self.registry = registry
        self.batch_blocks = int(batch_blocks)
        self.confirmations = int(confirmations)
        self.start_block = int(start_block)

    def run(self, *, to_block: int | None = None, max_batches: int | None = None) -> IndexStats:
        """Index from the cursor up to ``to_block`` (default: the source's safe head)."""
        name = self.source.name
        head = self.source.latest_block() - self.confirmations
        target = head if to_block is None else min(head, int(to_block))
        start = max(self.store.cursor(name) + 1, self.start_block)
        first = start
        batches = n_logs = unknown = 0
        while start <= target and (max_batches is None or batches < max_batches):
            end = min(start + self.batch_blocks - 1, target)
            raw = self.source.logs(start, end)
            seen: set[tuple[int, int]] = set()
            for log in raw:
                key = (log.block_number, log.log_index)
                if not start <= log.block_number <= end:
                    raise DataIntegrityError(
                        f"source {name!r}: asked for blocks {start}..{end}, got a log of block "
                        f"{log.block_number}"
                    )
                if key in seen:
                    raise DataIntegrityError(
                        f"source {name!r}: duplicate log at block {key[0]} index {key[1]}"
                    )
                seen.add(key)
            raw = sorted(raw, key=lambda x: (x.block_number, x.log_index))
            decoded = [self.registry.decode(x) for x in raw]
            self.store.write_batch(name, end, decoded)
            batches += 1
            n_logs += len(decoded)
            unknown += sum(1 for d in decoded if d.event is None)
            start = end + 1
        return IndexStats(
            source=name,
            first_block=first,
            last_block=start - 1,
            batches=batches,
            logs=n_logs,
            unknown=unknown,
        )
