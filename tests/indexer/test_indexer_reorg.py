"""Reorganisations on a real node (anvil): the store follows the chain, never both forks.

The attack that passed: index, mine a claim, index, the block is reorganised away and
the same claim is mined again in another block; the indexer kept both, and
``holder_claims`` showed two claims totalling 200 where the chain holds one of 100.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak
from indexer_helpers import FIXTURE_VY

from openmbs.indexer import (
    ContractRegistry,
    EventStore,
    Indexer,
    RpcLogSource,
    abi_of,
    holder_claims,
)

pytestmark = pytest.mark.anvil

FROM = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first (unlocked) account


@pytest.fixture
def node() -> Iterator[Any]:
    from openmbs.chain._anvil import find_anvil, install_anvil, start_anvil

    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    n = start_anvil(find_anvil() or install_anvil())
    yield n
    n.stop()


class Chain:
    """The fixture contract on anvil, driven by unlocked-account transactions."""

    def __init__(self, node: Any) -> None:
        import boa

        self.node = node
        dep = boa.load_partial(str(FIXTURE_VY))
        self.abi = abi_of(dep)
        init = dep.compiler_data.bytecode + encode(["uint256"], [10**6])
        receipt = self._send({"data": "0x" + init.hex()})
        self.address = str(receipt["contractAddress"])

    def _send(self, tx: dict[str, Any]) -> dict[str, Any]:
        h = self.node.rpc("eth_sendTransaction", [{"from": FROM, "gas": hex(3_000_000), **tx}])
        receipt = None
        for _ in range(100):  # automine: the receipt is there at once, or nearly
            receipt = self.node.rpc("eth_getTransactionReceipt", [h])
            if receipt is not None:
                break
            time.sleep(0.02)
        assert isinstance(receipt, dict) and receipt["status"] == "0x1", receipt
        return receipt

    def claim(self, tranche: int, amount: int) -> tuple[int, str]:
        data = keccak(text="claim(uint256,uint256)")[:4] + encode(["uint256", "uint256"], [tranche, amount])
        r = self._send({"to": self.address, "data": "0x" + data.hex()})
        return int(r["blockNumber"], 16), str(r["blockHash"])

    def mine(self, n: int = 1) -> None:
        for _ in range(n):
            self.node.rpc("evm_mine", [])

    def snapshot(self) -> str:
        return str(self.node.rpc("evm_snapshot", []))

    def revert(self, snap: str) -> None:
        assert self.node.rpc("evm_revert", [snap]) is True

    def indexer(self, store: EventStore) -> Indexer:
        reg = ContractRegistry()
        reg.add(self.address, "Fixture", self.abi)
        src = RpcLogSource(self.node.url, addresses=[self.address], name="anvil")
        return Indexer(store, src, reg, confirmations=0, batch_blocks=3)


def _claims(store: EventStore) -> list[tuple[str, int, int, int]]:
    return [
        (r["holder"].lower(), r["tranche"], r["claims"], int(r["claimed"]))
        for r in holder_claims(store).to_pylist()
    ]


def test_one_block_reorg_with_the_claim_mined_again(node: Any, tmp_path: Path) -> None:
    chain = Chain(node)
    with EventStore(tmp_path / "events.duckdb") as store:
        ix = chain.indexer(store)
        ix.run()
        snap = chain.snapshot()
        first_block, first_hash = chain.claim(0, 100)
        ix.run()
        assert _claims(store) == [(FROM.lower(), 0, 1, 100)]
        chain.revert(snap)
        chain.mine()  # an empty block takes the claim's height
        block, block_hash = chain.claim(0, 100)
        assert block == first_block + 1 and block_hash != first_hash
        stats = ix.run()
        assert _claims(store) == [(FROM.lower(), 0, 1, 100)]  # not two claims of 200
        rows = store.con.execute(
            "SELECT block_number, block_hash FROM ev_claimed JOIN events USING (block_number, log_index)"
        ).fetchall()
        assert rows == [(block, block_hash)]
        assert stats.reorgs == 1 and stats.rolled_back == 1


def test_same_height_new_hash_is_replaced(node: Any, tmp_path: Path) -> None:
    """The claim mined again at the same height (another timestamp, another hash)."""
    chain = Chain(node)
    with EventStore(tmp_path / "events.duckdb") as store:
        ix = chain.indexer(store)
        ix.run()
        snap = chain.snapshot()
        block, old_hash = chain.claim(0, 100)
        ix.run()
        chain.revert(snap)
        ts = int(node.rpc("eth_getBlockByNumber", [hex(block - 1), False])["timestamp"], 16)
        node.rpc("evm_setNextBlockTimestamp", [ts + 1000])
        again, new_hash = chain.claim(0, 100)
        assert again == block and new_hash != old_hash
        stats = ix.run()
        assert _claims(store) == [(FROM.lower(), 0, 1, 100)]
        hashes = store.con.execute(
            "SELECT block_hash FROM events WHERE block_number = ?", [block]
        ).fetchall()
        assert hashes == [(new_hash,)]
        assert store.block_hash("anvil", block) == new_hash
        assert stats.reorgs == 1


def test_deeper_reorg_equals_a_rebuild(
    node: Any,
    tmp_path: Path,
    duckdb_tables: Callable[[Path], dict[str, list[tuple[object, ...]]]],
) -> None:
    chain = Chain(node)
    db = tmp_path / "events.duckdb"
    with EventStore(db) as store:
        ix = chain.indexer(store)
        chain.claim(1, 5)
        ix.run()
        snap = chain.snapshot()
        for amount in (100, 200, 300):
            chain.claim(0, amount)
            chain.mine()
        ix.run()
        assert _claims(store) == [(FROM.lower(), 0, 3, 600), (FROM.lower(), 1, 1, 5)]
        chain.revert(snap)
        chain.mine(4)
        chain.claim(0, 50)
        chain.mine(2)
        stats = ix.run()
        assert _claims(store) == [(FROM.lower(), 0, 1, 50), (FROM.lower(), 1, 1, 5)]
        assert stats.reorgs == 1 and stats.rolled_back == 3
    rebuilt = tmp_path / "rebuilt.duckdb"
    with EventStore(rebuilt) as store:
        chain.indexer(store).run()
    got, want = duckdb_tables(db), duckdb_tables(rebuilt)
    got.pop("blocks"), want.pop("blocks")  # which blocks are kept depends on the batches
    assert got == want
