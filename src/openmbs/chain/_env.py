"""Where contracts run: titanoboa's embedded EVM (default) or a JSON-RPC node."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from openmbs.errors import ChainError, InputError

__all__ = ["KEYSTORE_PASSWORD_ENV", "KEY_ENV", "load_account", "use_network"]

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


def use_network(url: str, account: Any) -> None:
    """Point titanoboa at the node ``url`` and send from ``account``."""
    import boa

    try:
        boa.set_network_env(url)
        boa.env.add_account(account, force_eoa=True)
    except Exception as exc:
        raise ChainError(f"cannot use node {url!r}: {exc}") from None
