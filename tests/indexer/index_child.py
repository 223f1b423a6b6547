"""Child process of the kill -9 test: index a recorded log file, printing each batch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from openmbs.indexer import (
    ContractRegistry,
    EventStore,
    Indexer,
    MemoryLogSource,
    parse_rpc_log,
)


def main() -> None:
    logs_file, abi_file, address, db, batch = sys.argv[1:6]
    logs = [parse_rpc_log(x) for x in json.loads(Path(logs_file).read_text())]
    source = MemoryLogSource("recorded", logs)
    source.seal(max(x.block_number for x in logs))
    registry = ContractRegistry()
    registry.add(address, "Fixture", json.loads(Path(abi_file).read_text()))
    store = EventStore(db)
    indexer = Indexer(store, source, registry, batch_blocks=int(batch))
    while True:
        stats = indexer.run(max_batches=1)
        print(stats.last_block, flush=True)
        if stats.batches == 0:
            break
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
