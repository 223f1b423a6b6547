"""Where contracts run: titanoboa's embedded EVM (default) or a JSON-RPC node."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from openmbs.errors import ChainError, InputError

__all__ = ["KEYSTORE_PASSWORD_ENV", "KEY_ENV", "load_account", "network_env", "use_network"]

#: Environment variable holding the deployer/operator private key (hex).
KEY_ENV = "OPENMBS_PRIVATE_KEY"
#: Environment variable holding the password of ``--keystore FILE``.
KEYSTORE_PASSWORD_ENV = "OPENMBS_KEYSTORE_PASSWORD"


def load_account(keystore: Path | None = None) -> Any:
    """The operator account: an encrypted keystore file (password from
    ``$OPENMBS_KEYSTORE_PASSWORD``) or a private key from ``$OPENMBS_PRIVATE_KEY``.
    Keys and passwords are never taken from command-line arguments."""
    from eth_account import Account

    if keystore is not None:
        password = os.environ.get(KEYSTORE_PASSWORD_ENV)
        if password is None:
            raise InputError(f"keystore {str(keystore)!r}: set {KEYSTORE_PASSWORD_ENV} to its password")
        try:
            data = json.loads(Path(keystore).read_text())
            return Account.from_key(Account.decrypt(data, password))
        except (OSError, ValueError) as exc:
            raise InputError(f"keystore {str(keystore)!r}: {exc}") from None
    key = os.environ.get(KEY_ENV)
    if not key:
        raise InputError(f"no operator key: set {KEY_ENV} or pass --keystore FILE")
    try:
        return Account.from_key(key)
    except ValueError as exc:
        raise InputError(f"{KEY_ENV}: not a private key ({exc})") from None


def network_env(url: str) -> Any:
    """Point titanoboa at the node ``url`` (``boa.set_network_env``) WITHOUT its
    on-disk RPC cache, and return the environment.

    Notes
    -----
    titanoboa's local fork caches RPC answers on disk keyed by chain id, method and
    block number. A fresh development node (anvil) reuses chain id 31337, block
    numbers and contract addresses, so the cache serves a previous node's code and
    storage and the local simulation disagrees with the node. The fork is kept in
    memory only.
    """
    import boa

    boa.set_network_env(url)
    env = boa.env

    def _reset_fork(block_identifier: str = "latest") -> None:
        env.fork_rpc(env._rpc, reset_traces=False, block_identifier=block_identifier, cache_dir=None)

    env._reset_fork = _reset_fork
    _reset_fork()
    return env


def use_network(url: str, account: Any) -> None:
    """Point titanoboa at the node ``url`` and send from ``account``."""
    import boa

    try:
        network_env(url)
        boa.env.add_account(account, force_eoa=True)
    except Exception as exc:
        raise ChainError(f"cannot use node {url!r}: {exc}") from None
