"""Child process of the crash-in-rollback test: die (os._exit) in the middle of
``EventStore.rollback``, after the typed rows are deleted and before the events are."""

from __future__ import annotations

import os
import sys
from typing import Any

from openmbs.indexer import EventStore


def main() -> None:
    db, source, to_block = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = EventStore(db)
    orig = store._exec

    def exec_then_die(sql: str, params: list[Any] | None = None) -> None:
        if sql.startswith("DELETE FROM events"):
            os._exit(9)  # a crash: no rollback, no commit, no close
        orig(sql, params)

    store._exec = exec_then_die  # type: ignore[method-assign]
    store.rollback(source, to_block)


if __name__ == "__main__":
    main()
