"""anvil's public development keys, as anvil itself lists them at start-up."""

from __future__ import annotations

from eth_account import Account

from openmbs.chain._anvil import ANVIL_KEYS, anvil_dev_keys

#: The first three accounts anvil prints for its default mnemonic.
ANVIL_ADDRESSES = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
)


def test_anvil_keys_are_the_funded_default_accounts():
    assert tuple(Account.from_key(k).address for k in ANVIL_KEYS) == ANVIL_ADDRESSES


def test_dev_keys_follow_the_mnemonic():
    keys = anvil_dev_keys(4, start=1)
    assert [Account.from_key(k).address for k in keys[:2]] == list(ANVIL_ADDRESSES[1:])
    assert len(set(keys)) == 4 and all(len(bytes.fromhex(k[2:])) == 32 for k in keys)
