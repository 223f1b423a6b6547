"""The indexer: read logs from a source by block batches, decode, store, advance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from openmbs.errors import ChainError, DataIntegrityError
from openmbs.indexer._abi import ContractRegistry
from openmbs.indexer._sources import LogSource, RawLog
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
    ``reorgs`` counts the reorganisations found and rolled back, ``rolled_back`` the
    events they removed.
    """

    source: str
    first_block: int
    last_block: int
    batches: int
    logs: int
    unknown: int
    reorgs: int = 0
    rolled_back: int = 0


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
    confirmations : int, optional
        Stay this many blocks behind the source's latest block (default: the source's
        ``default_confirmations``: 0 for sealed in-memory logs, 12 for a JSON-RPC node).
    start_block : int, default 0
        First block to index when the store has no cursor for the source.

    Notes
    -----
    Each batch ``[cursor + 1, cursor + batch_blocks]`` is read, decoded and written in
    one DuckDB transaction together with the cursor update, so the store holds exactly
    the logs of blocks ``start_block..cursor``: an indexer killed at any point resumes at
    ``cursor + 1`` with no gap and no duplicate.

    Reorganisations, for a source that knows block hashes (``source.block_hashes``):
    each batch stores the hash and parent hash of its first and last blocks and of every
    block with a log, after checking that every log's block hash is the block's and that
    the first block's parent is the stored last block of the previous batch. Before each
    batch the stored hash of the cursor block is compared with the chain's; on a
    difference the indexer walks down the stored blocks to the newest one the chain still
    holds (the common ancestor: a block whose hash is unchanged has an unchanged
    history), removes everything above it in one transaction
    (:meth:`EventStore.rollback`) and indexes again from there.
    """

    #: Batches re-read in a row because the chain moved while one was read.
    MAX_RETRIES = 5

    def __init__(
        self,
        store: EventStore,
        source: LogSource,
        registry: ContractRegistry,
        *,
        batch_blocks: int = 1000,
        confirmations: int | None = None,
        start_block: int = 0,
    ) -> None:
        if batch_blocks < 1:
            raise ValueError(f"batch_blocks must be >= 1, got {batch_blocks!r}")
        if confirmations is None:
            confirmations = int(getattr(source, "default_confirmations", 0))
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations!r}")
        self.store = store
        self.source = source
        self.registry = registry
        self.batch_blocks = int(batch_blocks)
        self.confirmations = int(confirmations)
        self.start_block = int(start_block)

    @property
    def _hashed(self) -> bool:
        """Whether the source knows block hashes (overrides ``LogSource.block_hashes``)."""
        return type(self.source).block_hashes is not LogSource.block_hashes

    def check_reorg(self) -> tuple[int, int] | None:
        """Compare the stored blocks with the chain; on a reorganisation roll the store
        back to the common ancestor. Returns ``(ancestor, events removed)``, or None
        when the stored blocks are still on the chain (or the source knows no hashes)."""
        name = self.source.name
        if not self._hashed:
            return None
        stored = self.store.block_hashes(name)
        if not stored:
            return None
        top, top_hash = stored[0]
        if self.source.block_hashes([top]).get(top, ("",))[0] == top_hash:
            return None
        ancestor = self.start_block - 1
        for n, h in stored[1:]:
            if self.source.block_hashes([n]).get(n, ("",))[0] == h:
                ancestor = n
                break
        removed = self.store.rollback(name, ancestor)
        return ancestor, removed

    def run(self, *, to_block: int | None = None, max_batches: int | None = None) -> IndexStats:
        """Index from the cursor up to ``to_block`` (default: the source's safe head)."""
        name = self.source.name
        reorgs = removed = 0
        found = self.check_reorg()
        if found is not None:
            reorgs, removed = 1, found[1]
        head = self.source.latest_block() - self.confirmations
        target = head if to_block is None else min(head, int(to_block))
        start = max(self.store.cursor(name) + 1, self.start_block)
        first = start
        batches = n_logs = unknown = retries = 0
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
            blocks: list[tuple[int, str, str | None]] = []
            if self._hashed:
                moved = self._batch_blocks(start, end, raw, blocks)
                if moved:
                    retries += 1
                    if retries > self.MAX_RETRIES:
                        raise ChainError(
                            f"source {name!r}: the chain kept moving while blocks {start}..{end} "
                            f"were read ({moved}); gave up after {self.MAX_RETRIES} retries"
                        )
                    found = self.check_reorg()
                    if found is not None:
                        reorgs += 1
                        removed += found[1]
                        start = max(self.store.cursor(name) + 1, self.start_block)
                        first = min(first, start)
                    continue
                retries = 0
            decoded = [self.registry.decode(x) for x in raw]
            self.store.write_batch(name, end, decoded, blocks=blocks)
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
            reorgs=reorgs,
            rolled_back=removed,
        )

    def _batch_blocks(
        self, start: int, end: int, raw: list[RawLog], out: list[tuple[int, str, str | None]]
    ) -> str:
        """Fill ``out`` with the batch's blocks to store; returns why the batch must be
        read again ("" when it is consistent)."""
        name = self.source.name
        wanted = {start, end} | {x.block_number for x in raw}
        hashes = self.source.block_hashes(sorted(wanted))
        missing = sorted(wanted - set(hashes))
        if missing:
            return f"block {missing[0]} is not on the chain"
        prev = self.store.block_hash(name, start - 1)
        parent = hashes[start][1]
        if prev is not None and parent is not None and parent != prev:
            return f"block {start}'s parent {parent} is not the stored block {start - 1} ({prev})"
        for x in raw:
            if x.block_hash is not None and x.block_hash.lower() != hashes[x.block_number][0]:
                return (
                    f"log {x.log_index} of block {x.block_number} has block hash {x.block_hash}, "
                    f"the chain's block has {hashes[x.block_number][0]}"
                )
        out.extend((n, h, p) for n, (h, p) in sorted(hashes.items()))
        return ""
