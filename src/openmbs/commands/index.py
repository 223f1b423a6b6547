"""`openmbs index`: a deal's events from a node into the event store, once or following
the chain (``openmbs.indexer``).

The store is opened for each pass and closed before the pause, so `openmbs serve` (which
opens it read-only for each request) can run beside a follower; see docs/web.md.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from openmbs.errors import ChainError, InputError

#: Seconds a pass waits for a reader (``openmbs serve``) to release the file.
_LOCK_WAIT = 10.0


def _deal_and_chain(state: Path | None, deal: str | None) -> tuple[str, int | None]:
    """The deal's address (``--deal``, or the record's) and the record's chain id."""
    if state is None:
        if deal is None:
            raise InputError("index: pass --deal ADDRESS or --state FILE (a deployment record)")
        return deal, None
    where = f"file {str(state)!r}"
    try:
        record = json.loads(state.read_text())
    except FileNotFoundError:
        raise InputError(f"{where}: no such deployment record") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{where}: not a deployment record ({exc})") from None
    contracts = record.get("contracts") if isinstance(record, dict) else None
    addr = contracts.get("deal") if isinstance(contracts, dict) else None
    if not isinstance(addr, str):
        raise InputError(f"{where} field 'contracts.deal' value {addr!r}: need the deal's address")
    chain_id = record.get("chain_id")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int):
        raise InputError(f"{where} field 'chain_id' value {chain_id!r}: need an integer")
    if deal is not None and deal.lower() != addr.lower():
        raise InputError(f"--deal value {deal!r}: {where} records deal {addr}")
    return addr, chain_id


def _is_lock(exc: BaseException) -> bool:
    import duckdb

    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def _open_store(db: Path, stop: threading.Event) -> Any:
    """The store opened for writing, waiting up to :data:`_LOCK_WAIT` seconds while a
    reader holds the file; None when stopped while waiting."""
    from openmbs.indexer import EventStore

    deadline = time.monotonic() + _LOCK_WAIT
    while True:
        try:
            return EventStore(db)
        except Exception as exc:
            if not _is_lock(exc) or time.monotonic() >= deadline:
                if _is_lock(exc):
                    raise ChainError(f"file {str(db)!r}: held by another process for {_LOCK_WAIT:g} s ({exc})") from None
                raise
        if stop.wait(0.05):
            return None


def _pass(db: Path, make_indexer: Any, stop: threading.Event) -> dict[str, Any] | None:
    """One pass: open the store, index batch by batch up to the safe head (stopping
    between batches when asked), close the store. Returns what it indexed."""
    store = _open_store(db, stop)
    if store is None:
        return None
    try:
        indexer = make_indexer(store)
        first: int | None = None
        last = store.cursor(indexer.source.name)
        logs = unknown = reorgs = rolled_back = batches = 0
        while not stop.is_set():
            st = indexer.run(max_batches=1)
            reorgs += st.reorgs
            rolled_back += st.rolled_back
            if st.batches == 0:
                break
            first = st.first_block if first is None else min(first, st.first_block)
            last = st.last_block
            logs += st.logs
            unknown += st.unknown
            batches += st.batches
        cursor = store.cursor(indexer.source.name)
    finally:
        store.close()
    return {
        "source": indexer.source.name,
        "first_block": first,
        "last_block": last if batches else None,
        "cursor": cursor,
        "batches": batches,
        "logs": logs,
        "unknown": unknown,
        "reorgs": reorgs,
        "rolled_back": rolled_back,
    }


def _line(s: dict[str, Any]) -> str:
    if s["batches"]:
        what = f"blocks {s['first_block']}..{s['last_block']}: {s['logs']} event(s)"
        if s["unknown"]:
            what += f" ({s['unknown']} unknown, stored raw)"
    else:
        what = f"nothing new (indexed to block {s['cursor']})"
    if s["reorgs"]:
        what += f"; reorganisation: {s['rolled_back']} event(s) rolled back"
    return what


def index_cmd(
    db: Annotated[Path, typer.Option("--db", help="Event store to write (created when absent).")],
    rpc: Annotated[
        str | None,
        typer.Option("--rpc", envvar="ETH_RPC_URL", show_envvar=True, help="JSON-RPC URL of the node."),
    ] = None,
    deal: Annotated[
        str | None,
        typer.Option(
            "--deal",
            help="The deal's address; its oracle, issuance and tokens are read from its "
            "DealConfigured event.",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="Deployment record (`chain deploy --rpc`): the deal's address, and its "
            "chain id checked against the node's.",
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep indexing new blocks until Ctrl-C or SIGTERM.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between passes with --follow.")
    ] = 12.0,
    confirmations: Annotated[
        int,
        typer.Option("--confirmations", min=0, help="Stay this many blocks behind the node's head."),
    ] = 12,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print each pass as one JSON object (one line per pass)."),
    ] = False,
) -> None:
    """Index a deal's events from a node into the event store, once or following the chain.

    Each pass opens the store, indexes up to the node's head less --confirmations (one transaction per batch; reorganisations are found and rolled back) and closes the store; with --follow it then sleeps --interval seconds and passes again, so `openmbs serve --events DB` can run beside it (docs/indexer.md).
    """
    from openmbs.chain import check_chain_id
    from openmbs.indexer import Indexer, RpcLogSource, deal_contracts

    if not rpc:
        raise InputError("index: pass --rpc URL (or set $ETH_RPC_URL)")
    addr, chain_id = _deal_and_chain(state, deal)
    if chain_id is not None:
        check_chain_id(chain_id, rpc, where=f"file {str(state)!r}")
    found = deal_contracts(rpc, addr)
    reg = found.registry
    # the cursor is the deal's (another deal in the same store keeps its own)
    name = f"rpc:{found.deal}"

    def make_indexer(store: Any) -> Indexer:
        source = RpcLogSource(rpc, addresses=reg.addresses, name=name, confirmations=confirmations)
        return Indexer(store, source, reg)

    stop = threading.Event()

    def report(s: dict[str, Any]) -> None:
        if as_json:
            typer.echo(json.dumps({"deal": found.deal, "db": str(db), **s}))
        else:
            typer.echo(f"{found.deal}: {_line(s)}")

    if not follow:
        s = _pass(db, make_indexer, stop)
        assert s is not None  # nothing sets stop without --follow
        report(s)
        return

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    if not as_json:
        typer.echo(f"following {found.deal} on {rpc} into {db} every {interval:g} s (Ctrl-C to stop)")
    try:
        while not stop.is_set():
            try:
                s = _pass(db, make_indexer, stop)
            except ChainError as exc:
                # a node that stops answering, or a reader holding the file: try again later
                typer.echo(f"{found.deal}: {exc}; retrying in {interval:g} s", err=True)
                s = None
            if s is not None and (s["batches"] or s["reorgs"] or as_json):
                report(s)
            stop.wait(interval)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if not as_json:
        typer.echo("stopped")


def register(app: typer.Typer) -> None:
    """Add ``openmbs index`` to ``app``."""
    app.command("index")(index_cmd)
