"""Where contracts run: titanoboa's embedded EVM (default) or a JSON-RPC node."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from openmbs.errors import ChainError, InputError

__all__ = [
    "ETH_KEY_ENV",
    "ETH_RPC_ENV",
    "KEYSTORE_PASSWORD_ENV",
    "KEY_ENV",
    "check_chain_id",
    "load_account",
    "network_env",
    "node_chain_id",
    "rpc_url",
    "use_network",
]

#: Environment variable holding the deployer/operator private key (hex).
KEY_ENV = "OPENMBS_PRIVATE_KEY"
#: foundry's name for the same key (read when ``$OPENMBS_PRIVATE_KEY`` is unset).
ETH_KEY_ENV = "ETH_PRIVATE_KEY"
#: Environment variable holding the password of ``--keystore FILE``.
KEYSTORE_PASSWORD_ENV = "OPENMBS_KEYSTORE_PASSWORD"
#: foundry's environment variable for the node's URL (the default of ``--rpc``).
ETH_RPC_ENV = "ETH_RPC_URL"


def rpc_url(rpc: str | None) -> str | None:
    """The node's URL: ``--rpc`` if given, else ``$ETH_RPC_URL`` (as foundry's tools
    read it), else ``None`` (the embedded chain)."""
    return rpc or os.environ.get(ETH_RPC_ENV) or None


def node_chain_id(url: str) -> int:
    """``eth_chainId`` of the node at ``url``, asked directly (one JSON-RPC call).

    Raises
    ------
    ChainError
        The node does not answer, or answers something that is not a chain id.
    """
    import urllib.error
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer = json.loads(resp.read())
        return int(answer["result"], 16)
    except (OSError, ValueError, KeyError, TypeError, urllib.error.URLError) as exc:
        raise ChainError(f"node {url!r}: no chain id ({exc})") from None


def check_chain_id(expected: int, url: str, *, where: str) -> None:
    """Refuse to act when the node at ``url`` is on another chain than ``expected``
    (the deployment record's ``chain_id``), in one line naming both."""
    got = node_chain_id(url)
    if got != expected:
        raise ChainError(
            f"{where} field 'chain_id' value {expected}: the node {url} is on chain {got}; "
            "point --rpc (or $ETH_RPC_URL) at the deal's chain"
        )


def load_account(keystore: Path | None = None, *, prompt: bool = False) -> Any:
    """The operator account: an encrypted keystore file (password from
    ``$OPENMBS_KEYSTORE_PASSWORD``, or asked on the terminal when ``prompt`` and it is
    unset) or a private key from ``$OPENMBS_PRIVATE_KEY`` (or foundry's
    ``$ETH_PRIVATE_KEY``). Keys and passwords are never taken from command-line
    arguments."""
    from eth_account import Account

    if keystore is not None:
        password = os.environ.get(KEYSTORE_PASSWORD_ENV)
        if password is None and prompt:
            import getpass

            password = getpass.getpass(f"password of keystore {keystore}: ")
        if password is None:
            raise InputError(f"keystore {str(keystore)!r}: set {KEYSTORE_PASSWORD_ENV} to its password")
        try:
            data = json.loads(Path(keystore).read_text())
            return Account.from_key(Account.decrypt(data, password))
        except (OSError, ValueError) as exc:
            raise InputError(f"keystore {str(keystore)!r}: {exc}") from None
    name = KEY_ENV if os.environ.get(KEY_ENV) else ETH_KEY_ENV
    key = os.environ.get(name)
    if not key:
        raise InputError(f"no operator key: set {KEY_ENV} (or {ETH_KEY_ENV}) or pass --keystore FILE")
    try:
        return Account.from_key(key)
    except ValueError as exc:
        raise InputError(f"{name}: not a private key ({exc})") from None


def network_env(url: str) -> Any:
    """Point titanoboa at the node ``url`` (``boa.set_network_env``) WITHOUT its
    on-disk RPC cache, and return the environment.

    Notes
    -----
    Every transaction sent is logged quietly (``env.openmbs_tx_log``, a
    :class:`~openmbs.chain.TxLog`; :func:`~openmbs.chain.set_tx_verbosity` makes it
    echo them).

    titanoboa's local fork caches RPC answers on disk keyed by chain id, method and
    block number. A fresh development node (anvil) reuses chain id 31337, block
    numbers and contract addresses, so the cache serves a previous node's code and
    storage and the local simulation disagrees with the node. The fork is kept in
    memory only.

    titanoboa re-forks the node (a new local state, every account and storage slot
    fetched again) before and after every transaction. The local state already holds
    what the transaction did (titanoboa ran it locally first), so the fork is kept
    while nobody else moves the chain (:class:`_KeptFork`).
    """
    import boa

    boa.set_network_env(url)
    env = boa.env
    _KeptFork(env).install()
    from openmbs.chain._backend import TxLog, tx_verbosity

    verbose, echo = tx_verbosity()
    env.openmbs_tx_log = TxLog(verbose, echo).install(env)
    return env


#: Seconds between two asks for a transaction's receipt.
_POLL_SECONDS = 0.02


class _KeptFork:
    """titanoboa's fork of a node, kept between transactions while it is exact.

    titanoboa runs each transaction locally on its fork, sends it, and re-forks at the
    block that mined it (then at the latest block before the next one), fetching every
    account and slot it touches again: about ten JSON-RPC calls per transaction. After
    our transaction is mined the fork already holds its effects, so the re-fork is
    skipped when the block that mined it is the next block, holds that one
    transaction and has the timestamp the local run used (one call,
    ``eth_getBlockByNumber``, checks it; the local block number and the sender's nonce
    are then moved to the node's). A block of a later second re-forks: a transaction
    that reads ``block.timestamp`` (a sale's start, an auction's price) left on the fork
    what it computed at the earlier time, not what the node stored. Before a
    transaction the fork is kept when the node's block number is the one the fork
    knows (``eth_blockNumber``). Anything else -- another sender's transaction, a
    block with several transactions, a reorganisation -- re-forks as titanoboa does.
    The node stays the authority: a transaction the fork accepts and the node reverts
    raises, and titanoboa compares each transaction's output with the node's trace.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.block: int | None = None  # the node's block the fork is exact at

    def install(self) -> None:
        env = self.env
        send = env._send_txn
        env._reset_fork = self.reset

        def _send_txn(*args: Any, **kwargs: Any) -> Any:
            txdata, receipt, trace = send(*args, **kwargs)
            if self.block is not None:  # kept: the sender's nonce is the node's
                from boa.util.abi import Address

                nonce = txdata["nonce"]
                nonce = int(nonce, 16) if isinstance(nonce, str) else int(nonce)
                env.evm.vm.state.set_nonce(Address(txdata["from"]).canonical_address, nonce + 1)
            return txdata, receipt, trace

        env._send_txn = _send_txn
        # titanoboa polls for a receipt every 0.25 s; a development node mines at once,
        # so a receipt not there on the first ask is there a few milliseconds later
        rpc = env._rpc
        wait = rpc.wait_for_tx_receipt

        def wait_for_tx_receipt(tx_hash: Any, timeout: float, poll_latency: float = _POLL_SECONDS) -> Any:
            return wait(tx_hash, timeout, poll_latency=min(poll_latency, _POLL_SECONDS))

        rpc.wait_for_tx_receipt = wait_for_tx_receipt
        self._fork("latest")
        # the local run's gas price: read once (no contract reads GASPRICE; the
        # transactions sent are priced by titanoboa's fee estimate, per transaction)
        env._gas_price = int(env._rpc.fetch_uncached("eth_gasPrice", []), 16)

    def _fork(self, block_identifier: Any) -> None:
        env = self.env
        env.fork_rpc(env._rpc, reset_traces=False, block_identifier=block_identifier, cache_dir=None)
        self.block = int(env.evm.patch.block_number)
        from openmbs.chain.fastevm import make_lean

        make_lean(env)  # the local run of each call: the same computation, less Python
        # a fresh fork fetches a call's state in one debug_traceCall; a kept one holds
        # most of it already and fetches the few missing slots one by one
        env.evm._fork_try_prefetch_state = True

    def _keep(self) -> None:
        self.env.evm._fork_try_prefetch_state = False

    def reset(self, block_identifier: Any = "latest") -> None:
        rpc = self.env._rpc
        if self.block is not None:
            if block_identifier == "latest":
                if int(rpc.fetch_uncached("eth_blockNumber", []), 16) == self.block:
                    self._keep()
                    return
            else:
                number = int(block_identifier, 16) if isinstance(block_identifier, str) else int(block_identifier)
                if number == self.block + 1:
                    info = rpc.fetch_uncached("eth_getBlockByNumber", [hex(number), False])
                    patch = self.env.evm.patch
                    if (
                        info is not None
                        and len(info.get("transactions", ())) == 1
                        and int(info["timestamp"], 16) == int(patch.timestamp)
                    ):
                        patch.block_number = number
                        self.block = number
                        self._keep()
                        return
        self._fork(block_identifier)


def use_network(url: str, account: Any) -> Any:
    """Point titanoboa at the node ``url`` and send from ``account``; returns the
    environment."""
    try:
        env = network_env(url)
        env.add_account(account, force_eoa=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ChainError(f"cannot use node {url!r}: {exc}") from None
    return env
