"""A deal's contracts discovered from its ``Deal`` address on a node, as a registry."""

from __future__ import annotations

from dataclasses import dataclass

from openmbs.errors import ChainError, InputError
from openmbs.indexer._abi import ContractRegistry
from openmbs.indexer._sources import RpcLogSource

__all__ = ["DealContracts", "deal_contracts", "registry_for_deal"]


@dataclass(frozen=True)
class DealContracts:
    """A deal's contract addresses (checksummed) and the registry that decodes their events."""

    deal: str
    oracle: str
    issuance: str
    tokens: tuple[str, ...]
    registry: ContractRegistry
    #: The deal's LoanSale and ServicerBond (from the oracle's ``ServicingWired``;
    #: ``None`` for an oracle never wired to them).
    loan_sale: str | None = None
    servicer_bond: str | None = None


def deal_contracts(url: str, deal: str) -> DealContracts:
    """Read a deal's contracts from the node at ``url``, starting from the ``Deal`` address.

    The oracle, the issuance contract and the tranche tokens are those of the deal's
    ``DealConfigured`` event (the deal says which contracts are its own; nothing else is
    trusted); the LoanSale and the ServicerBond are those of that oracle's
    ``ServicingWired`` event. Raises :class:`InputError` when ``deal`` is not an address or holds no
    contract, :class:`ChainError` when the node does not answer or the contract never
    emitted ``DealConfigured`` (it is not a configured Deal).
    """
    from eth_utils.address import is_address, to_checksum_address

    from openmbs.chain import artifact

    if not is_address(deal):
        raise InputError(f"--deal value {deal!r}: not an address")
    deal = to_checksum_address(deal)
    source = RpcLogSource(url, addresses=[deal], name="deal-discovery")
    code = source._call("eth_getCode", [deal, "latest"])
    if code in (None, "0x", ""):
        raise InputError(f"--deal value {deal!r}: no contract at that address on {url}")
    # the ABIs read here are the same in both builds (8 and 16 classes; pinned by
    # tests/chain/test_chain_bound.py): only the waterfall's and the program's differ
    deal_abi = artifact("Deal").abi
    first = ContractRegistry()
    first.add(deal, "Deal", deal_abi)
    configured = None
    for log in source.logs(0, source.latest_block()):
        d = first.decode(log)
        if d.event is not None and d.event.name == "DealConfigured" and d.args is not None:
            configured = d.args
    if configured is None:
        raise ChainError(f"deal {deal} on {url}: no DealConfigured event (not a configured Deal)")
    tokens = tuple(to_checksum_address(str(t)) for t in configured["tokens"])
    oracle = to_checksum_address(str(configured["oracle"]))
    issuance = to_checksum_address(str(configured["issuance"]))
    reg = ContractRegistry()
    reg.add(deal, "Deal", deal_abi)
    reg.add(oracle, "RemittanceOracle", artifact("RemittanceOracle").abi)
    reg.add(issuance, "Issuance", artifact("Issuance").abi)
    for tok in tokens:
        reg.add(tok, "TrancheToken", artifact("TrancheToken").abi)
    oracle_reg = ContractRegistry()
    oracle_reg.add(oracle, "RemittanceOracle", artifact("RemittanceOracle").abi)
    oracle_source = RpcLogSource(url, addresses=[oracle], name="deal-discovery")
    wired = None
    for log in oracle_source.logs(0, oracle_source.latest_block()):
        d = oracle_reg.decode(log)
        if d.event is not None and d.event.name == "ServicingWired" and d.args is not None:
            wired = d.args
    sale = bond = None
    if wired is not None:
        sale = to_checksum_address(str(wired["loan_sale"]))
        bond = to_checksum_address(str(wired["servicer_bond"]))
        reg.add(sale, "LoanSale", artifact("LoanSale").abi)
        reg.add(bond, "ServicerBond", artifact("ServicerBond").abi)
    return DealContracts(
        deal=deal, oracle=oracle, issuance=issuance, tokens=tokens, registry=reg, loan_sale=sale, servicer_bond=bond
    )


def registry_for_deal(url: str, deal: str) -> ContractRegistry:
    """The registry of a deal's contracts (see :func:`deal_contracts`), for an
    :class:`~openmbs.indexer.Indexer` over ``RpcLogSource(url, addresses=registry.addresses)``."""
    return deal_contracts(url, deal).registry
