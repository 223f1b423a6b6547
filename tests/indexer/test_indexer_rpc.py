"""RpcLogSource against a fake JSON-RPC server on 127.0.0.1 serving recorded logs."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_utils.crypto import keccak
from indexer_helpers import Scenario, logs_to_json

from openmbs.errors import ChainError
from openmbs.indexer import ContractRegistry, EventStore, Indexer, MemoryLogSource, RpcLogSource


class FakeNode:
    """Serves eth_blockNumber and eth_getLogs from recorded logs; refuses wide ranges."""

    def __init__(self, logs: list[dict[str, Any]], head: int, max_span: int) -> None:
        self.logs = logs
        self.head = head
        self.max_span = max_span
        self.calls: list[tuple[str, Any]] = []

    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        method, params = req["method"], req.get("params", [])
        self.calls.append((method, params))
        if method == "eth_blockNumber":
            return {"result": hex(self.head)}
        if method == "eth_getLogs":
            flt = params[0]
            lo, hi = int(flt["fromBlock"], 16), int(flt["toBlock"], 16)
            if hi - lo + 1 > self.max_span:
                return {"error": {"code": -32005, "message": "query returned more than 10000 results"}}
            wanted = {a.lower() for a in flt.get("address", [])} or None
            out = [
                x
                for x in self.logs
                if lo <= int(x["blockNumber"], 16) <= hi and (wanted is None or x["address"] in wanted)
            ]
            return {"result": out}
        if method == "eth_getBlockByNumber":  # the hashes logs_to_json gives the blocks
            n = int(params[0], 16)
            if n > self.head:
                return {"result": None}
            return {
                "result": {
                    "number": hex(n),
                    "hash": "0x" + keccak(text=f"block{n}").hex(),
                    "parentHash": "0x" + keccak(text=f"block{n - 1}").hex(),
                }
            }
        return {"error": {"code": -32601, "message": "method not found"}}


@pytest.fixture
def node(scenario: Scenario) -> Iterator[tuple[FakeNode, str]]:
    logs = logs_to_json(scenario.logs)
    # a log of another contract and a removed log: neither may be indexed
    other = dict(logs[0], address="0x" + "ab" * 20, logIndex=hex(50))
    removed = dict(logs[0], logIndex=hex(51), removed=True)
    fake = FakeNode([*logs, other, removed], scenario.last_block + 2, max_span=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            req = json.loads(body)
            reply = {"jsonrpc": "2.0", "id": req["id"], **fake.answer(req)}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_rpc_source_indexes_the_same_as_the_memory_source(
    scenario: Scenario, node: tuple[FakeNode, str]
) -> None:
    fake, url = node
    reg = ContractRegistry()
    reg.add(scenario.address, "Fixture", scenario.abi)
    rpc = RpcLogSource(url, addresses=[scenario.address], name="chain", max_range=50)
    assert rpc.latest_block() == scenario.last_block + 2
    via_rpc = EventStore()
    stats = Indexer(via_rpc, rpc, reg, batch_blocks=4, confirmations=2).run()
    assert stats.last_block == scenario.last_block
    assert via_rpc.cursor("chain") == scenario.last_block
    # the node refused ranges wider than 2 blocks: the source split them
    spans = [
        int(p[0]["toBlock"], 16) - int(p[0]["fromBlock"], 16) + 1
        for m, p in fake.calls
        if m == "eth_getLogs"
    ]
    assert max(spans) > 2 and any(s <= 2 for s in spans)
    mem = MemoryLogSource("chain", scenario.logs)
    mem.seal(scenario.last_block)
    via_mem = EventStore()
    Indexer(via_mem, mem, reg).run()
    cols = "block_number, log_index, tx_hash, tx_index, contract_address, contract, event, signature, topics, data, args"
    a = via_rpc.con.execute(f"SELECT {cols} FROM events ORDER BY 1, 2").fetchall()
    b = via_mem.con.execute(f"SELECT {cols} FROM events ORDER BY 1, 2").fetchall()
    assert a == b and len(a) == len(scenario.logs)
    hashes = via_rpc.con.execute("SELECT DISTINCT block_hash FROM events").fetchall()
    assert all(h[0] is not None and h[0].startswith("0x") for h in hashes)
    # every block with a log and each batch's first and last block: hash and parent kept
    stored = dict(via_rpc.block_hashes("chain"))
    assert {int(x.block_number) for x in scenario.logs} <= set(stored)
    assert stored[scenario.last_block] == "0x" + keccak(text=f"block{scenario.last_block}").hex()
    for table in ("ev_transfer", "ev_remittance_accepted", "ev_misc"):
        q = f"SELECT * FROM {table} ORDER BY ALL"
        assert via_rpc.con.execute(q).fetchall() == via_mem.con.execute(q).fetchall()


def test_rpc_source_stays_confirmations_behind_by_default(
    scenario: Scenario, node: tuple[FakeNode, str]
) -> None:
    """A node's chain can reorganise: by default the indexer stays 12 blocks behind."""
    _, url = node
    rpc = RpcLogSource(url, name="chain")
    ix = Indexer(EventStore(), rpc, ContractRegistry())
    assert ix.confirmations == rpc.default_confirmations == 12
    assert Indexer(EventStore(), RpcLogSource(url, confirmations=3), ContractRegistry()).confirmations == 3


def test_rpc_errors_are_chain_errors(node: tuple[FakeNode, str]) -> None:
    fake, url = node
    fake.max_span = 0  # the node now refuses every eth_getLogs, even of one block
    with pytest.raises(ChainError, match=r"eth_getLogs.*-32005"):
        RpcLogSource(url).logs(3, 3)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ChainError, match="eth_blockNumber"):
        RpcLogSource(f"http://127.0.0.1:{port}", timeout=2).latest_block()
