"""The audit's anchors: the chain read over JSON-RPC, or an embedded run re-executed,
and the checks of the folder's own copies (event store, closing.json, manifest) against
them.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from openmbs.errors import ChainError, InputError

__all__ = ["closing_check", "events_check", "reexecute", "rpc_evidence"]

_MAX_LISTED = 50


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            reply = json.loads(resp.read().decode())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ChainError(f"JSON-RPC {method} to {url}: {exc}") from exc
    if "error" in reply:
        raise ChainError(f"JSON-RPC {method} to {url}: error {reply['error']!r}")
    return reply.get("result")


def _call(url: str, to: str, signature: str, args: tuple[Any, ...], out: str) -> Any:
    """``eth_call`` of a view function at the latest block, decoded as ``out``."""
    from eth_abi.abi import decode, encode
    from eth_utils.crypto import keccak

    name, _, rest = signature.partition("(")
    types = [t for t in rest.rstrip(")").split(",") if t]
    data = keccak(text=signature)[:4] + encode(types, list(args))
    result = _rpc(url, "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    if not isinstance(result, str) or len(result) < 66:
        raise ChainError(f"eth_call {name} on {to} via {url}: result {result!r} (is it a Deal?)")
    return decode([out], bytes.fromhex(result[2:]))[0]


def rpc_evidence(url: str, deal: str) -> tuple[Any, dict[str, Any], set[str]]:
    """Index the deal's events from the node into an in-memory store and read its state.

    Returns the store, the state (``tranche_face``, ``total_supply`` per token,
    ``roots`` by period) and the addresses indexed (lower case).
    """
    from openmbs.indexer import EventStore, Indexer, RpcLogSource, deal_contracts

    found = deal_contracts(url, deal)
    deal, oracle, tokens, reg = found.deal, found.oracle, list(found.tokens), found.registry
    store = EventStore()
    try:
        # up to the node's head (the state read below is the head's too)
        Indexer(
            store, RpcLogSource(url, addresses=reg.addresses, name="audit"), reg, confirmations=0
        ).run()
        last = int(_call(url, oracle, "last_period()", (), "uint256"))
        state = {
            "tranche_face": [
                int(_call(url, deal, "original_face(uint256)", (i,), "uint256"))
                for i in range(len(tokens))
            ],
            "total_supply": [int(_call(url, t, "totalSupply()", (), "uint256")) for t in tokens],
            "roots": {
                k: "0x" + bytes(_call(url, oracle, "loan_tape_root(uint256)", (k,), "bytes32")).hex()
                for k in range(1, last + 1)
            },
        }
    except BaseException:
        store.close()
        raise
    return store, state, {a.lower() for a in reg.addresses}


def _api_units(config: dict[str, Any]) -> dict[str, Any]:
    """A recorded configuration's fields in the API's units: ``closing.json`` keeps
    ``severity`` in percent (35.0, as every version has written it), the API a decimal."""
    d = dict(config)
    if "severity" in d:
        sev = d["severity"]
        if isinstance(sev, bool) or not (isinstance(sev, int | float) and 0 <= sev <= 100):
            raise InputError(f"closing.json field 'config' severity value {sev!r}: need a percent in [0, 100]")
        d["severity"] = float(Decimal(repr(float(sev))).scaleb(-2))  # 35.5 -> 0.355 exactly
    return d


def reexecute(config: dict[str, Any], out: Path) -> Path:
    """Run the lifecycle again from a folder's recorded configuration, into ``out``.

    The embedded chain is deterministic: same configuration and inputs, same blocks,
    same events. Raises :class:`InputError` for a configuration this version cannot run.
    """
    from openmbs.sim import LifecycleConfig, run_lifecycle

    known = {f.name for f in dataclasses.fields(LifecycleConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise InputError(f"closing.json field 'config': unknown setting(s) {unknown}")
    cfg = LifecycleConfig(**_api_units(config))
    if cfg.rpc is not None or not cfg.chain:
        raise InputError(f"closing.json field 'config': a run with rpc={cfg.rpc!r}, chain={cfg.chain} cannot be re-executed")
    run_lifecycle(out, cfg, write_outputs=False)
    return out


def _rows(con: Any, table: str, addresses: set[str] | None) -> dict[tuple[int, int], tuple[Any, ...]]:
    """A table's rows by position, each as ``(column, text)`` pairs, for the contracts
    in ``addresses`` (all when None); the indexer's labels are left out."""
    from openmbs.indexer import table_rows

    out: dict[tuple[int, int], tuple[Any, ...]] = {}
    for row in table_rows(con, table):
        if addresses is not None and str(row.get("contract_address")).lower() not in addresses:
            continue
        keep = tuple(
            (c, v if c not in ("block_number", "log_index") else str(v))
            for c, v in row.items()
            if c not in ("source", "contract")
        )
        out[int(row["block_number"]), int(row["log_index"])] = keep
    return out


def events_check(
    own: Any, chain: Any, folder: Path, anchor: str, addresses: set[str] | None
) -> Any:
    """The folder's ``events.duckdb`` holds exactly the anchor's events (raw and typed),
    for the contracts the anchor covers; each differing row is named."""
    from openmbs.audit._audit import AuditCheck, _check
    from openmbs.indexer import store_tables

    name = "event store equals the chain's events"
    db = str(folder / "events.duckdb")
    if own is None:
        return AuditCheck(name, False, f"file {db!r} missing", (f"file {db!r}: missing",), anchor=anchor)
    bad: list[str] = []
    own_tables = set(store_tables(own))
    chain_tables = store_tables(chain)
    for table in chain_tables:
        want = _rows(chain, table, addresses)
        if not want:
            continue
        if table not in own_tables:
            bad.append(f"file {db!r}: no table {table!r} ({len(want)} row(s) on chain)")
            continue
        got = _rows(own, table, addresses)
        for key in sorted(set(want) | set(got)):
            w, g = want.get(key), got.get(key)
            where = f"file {db!r} table {table!r} row (block {key[0]}, log {key[1]})"
            if g is None:
                bad.append(f"{where}: missing")
            elif w is None:
                bad.append(f"{where}: not on chain")
            elif w != g:
                diff = [f"{c} {gv!r} (chain {wv!r})" for (c, wv), (_, gv) in zip(w, g, strict=False) if wv != gv]
                bad.append(f"{where}: " + ("; ".join(diff) or "columns differ"))
    for table in sorted(t for t in own_tables if t.startswith("ev_") and t not in chain_tables):
        extra = _rows(own, table, addresses)
        if extra:
            key = min(extra)
            bad.append(
                f"file {db!r} table {table!r}: {len(extra)} row(s) the chain does not have "
                f"(first: block {key[0]}, log {key[1]})"
            )
    return _check(name, bad, f"{len(chain_tables)} table(s) compared", anchor)


def closing_check(
    closing: dict[str, Any],
    rerun: dict[str, Any] | None,
    state: dict[str, Any],
    manifest: dict[str, Any] | None,
    roots: dict[int, str],
    anchor: str,
) -> Any:
    """``closing.json`` and the manifest's roots equal the anchor's: the re-executed
    run's closing file, or the deal's state read by ``eth_call``; ``roots`` are the
    anchor's accepted roots by period (``RemittanceAccepted``)."""
    from openmbs.audit._audit import _check

    bad: list[str] = []
    if rerun is not None:
        for key in ("config", "deal_spec", "pool_units", "decimals", "tranche_names", "tranche_face"):
            if closing.get(key) != rerun.get(key):
                bad.append(f"file 'closing.json' field {key!r}: {closing.get(key)!r}, re-executed {rerun.get(key)!r}")
    if state:
        faces = [int(x) for x in closing.get("tranche_face", [])]
        if faces != state["tranche_face"]:
            bad.append(f"file 'closing.json' field 'tranche_face': {faces}, on chain {state['tranche_face']}")
        for i, (sup, face) in enumerate(zip(state["total_supply"], state["tranche_face"], strict=True)):
            if sup != face:
                bad.append(f"tranche {i}: token totalSupply {sup} on chain != original face {face}")
    if state:
        for k, r in sorted(state["roots"].items()):
            if roots.get(k) != r:
                bad.append(f"period {k}: oracle.loan_tape_root {r} != accepted event root {roots.get(k)}")
    if manifest is not None:
        mine = {i + 1: str(r) for i, r in enumerate(manifest.get("roots", []))}
        for k in sorted(set(roots) | set(mine)):
            if mine.get(k) != roots.get(k):
                bad.append(f"file 'state/manifest.json' period {k}: root {mine.get(k)}, on chain {roots.get(k)}")
    what = "closing.json against the re-executed run" if rerun is not None else (
        "closing.json, token supplies and the manifest's roots against eth_call"
    )
    return _check("closing.json and the manifest equal the chain's deal", bad, what, anchor)
