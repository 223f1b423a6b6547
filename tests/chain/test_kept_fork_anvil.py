"""titanoboa's kept fork of a node (``openmbs.chain._env._KeptFork``) and time.

A transaction that stores ``block.timestamp`` is mined in a later second than the one
the local run used (``evm_setNextBlockTimestamp``): the fork must not keep what it
computed locally. Otherwise the next transaction, which checks the stored time against
the node's, succeeds on the node and fails on the stale fork (what a loan sale's start
time and an auction's price did to a lifecycle on a node).
"""

from __future__ import annotations

import shutil
from typing import Any

import boa
import pytest
from eth_account import Account

from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil
from openmbs.chain._env import network_env

SOURCE = """
stamped: public(uint256)

@external
def stamp():
    self.stamped = block.timestamp

@external
def check(t: uint256):
    assert self.stamped == t  # dev: stale time
"""


@pytest.fixture
def anvil() -> Any:
    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    node = start_anvil(find_anvil() or install_anvil())
    yield node
    node.stop()


@pytest.mark.anvil
def test_a_block_of_another_second_refreshes_the_fork(anvil: Any) -> None:
    embedded = boa.env
    network_env(anvil.url)
    try:
        boa.env.add_account(Account.from_key(ANVIL_KEYS[0]), force_eoa=True)
        c = boa.loads(SOURCE)
        later = int(boa.env.evm.patch.timestamp) + 1000
        anvil.rpc("evm_setNextBlockTimestamp", [hex(later)])
        c.stamp()
        node_value = int(anvil.rpc("eth_call", [{"to": str(c.address), "data": "0x" + c.stamped.prepare_calldata().hex()}, "latest"]), 16)
        assert node_value == later
        c.check(later)  # the fork holds the node's time, not the local run's
        assert int(anvil.rpc("eth_getTransactionCount", [Account.from_key(ANVIL_KEYS[0]).address, "latest"]), 16) == 3
    finally:
        boa.set_env(embedded)
