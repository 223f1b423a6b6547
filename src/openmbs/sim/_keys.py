"""Whose keys sign on a node: the attestors' and the investors' of a lifecycle run.

On the embedded chain the lifecycle derives every key from the seed
(``sha256("openmbs-lifecycle:<role>:<seed>")``): the chain lives in one process and
nothing on it is worth anything. On a node those keys would be public -- anyone could
forge the attestors' signatures for the deal or spend the investors' stablecoins -- so a
node run needs keys the user provides (:func:`node_keys_from_env`) or says, explicitly,
that the node is a throwaway development chain (:func:`dev_chain_keys`: anvil's own
public development accounts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from openmbs.errors import InputError

__all__ = ["INVESTOR_KEYS_ENV", "NodeKeys", "dev_chain_keys", "node_keys_from_env"]

#: Comma-separated private keys (hex) of the investors of a lifecycle run on a node.
INVESTOR_KEYS_ENV = "OPENMBS_INVESTOR_KEYS"

#: First anvil development account used for attestors (0 is the usual operator).
_DEV_FIRST = 1


@dataclass(frozen=True)
class NodeKeys:
    """Private keys (``0x`` hex) of the attestors (as many as the run's attestors) and
    of the investors (at least as many as the run's investors; the first are used) of a
    lifecycle run on a node. ``dev_chain`` marks anvil's PUBLIC development keys.
    Keys never appear in ``repr``."""

    attestors: tuple[str, ...] = field(repr=False)
    investors: tuple[str, ...] = field(repr=False)
    dev_chain: bool = False

    def __post_init__(self) -> None:
        from eth_account import Account

        for role, keys in (("attestor", self.attestors), ("investor", self.investors)):
            for i, k in enumerate(keys):
                try:
                    Account.from_key(k)
                except (ValueError, TypeError):
                    raise InputError(f"{role} key {i}: not a private key") from None
        if len(set(self.attestors) | set(self.investors)) != len(self.attestors) + len(self.investors):
            raise InputError("attestor and investor keys: each account once (a key is repeated)")


def dev_chain_keys(attestors: int, investors: int) -> NodeKeys:
    """anvil's PUBLIC development accounts (its default mnemonic): attestors from
    account 1, investors after them. For a throwaway development chain only."""
    from openmbs.chain import anvil_dev_keys

    keys = anvil_dev_keys(attestors + investors, start=_DEV_FIRST)
    return NodeKeys(tuple(keys[:attestors]), tuple(keys[attestors:]), dev_chain=True)


def node_keys_from_env(attestors: int, investors: int, attestor_keys: list[str]) -> NodeKeys:
    """The user's keys: ``attestor_keys`` (from ``$OPENMBS_ATTESTOR_KEYS`` and/or
    attestor keystores, read by the caller) and ``$OPENMBS_INVESTOR_KEYS``.

    Raises
    ------
    InputError
        Fewer keys than attestors (exactly ``attestors`` needed) or investors.
    """
    inv = [k.strip() for k in os.environ.get(INVESTOR_KEYS_ENV, "").split(",") if k.strip()]
    if len(attestor_keys) != attestors:
        raise InputError(
            f"$OPENMBS_ATTESTOR_KEYS / --attestor-keystore: {len(attestor_keys)} attestor key(s), "
            f"the run has {attestors} attestors"
        )
    if len(inv) < investors:
        raise InputError(
            f"{INVESTOR_KEYS_ENV}: {len(inv)} investor key(s), --investors is {investors}"
        )
    return NodeKeys(tuple(attestor_keys), tuple(inv[:investors]))
