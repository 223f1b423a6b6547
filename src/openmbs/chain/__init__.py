"""On-chain deals: Vyper contracts, deployment, typed clients and artefact export
(``write_foundry_artifacts``: Foundry-style ``out/<Name>.json`` for integrators).

The contracts (``contracts/*.vy``, Vyper 0.4.3 on snekmate) are a deal core that
holds the cash and the per-unit indices (``Deal``), one ERC-20 per tranche
(``TrancheToken``), the M-of-N remittance oracle (``RemittanceOracle``), the primary
offering escrow (``Issuance``), a timelock (``Timelock``) and the waterfall
(``ExactWaterfall``, a line-by-line port of the exact Python waterfall
``openmbs.structuring._exact.apply_period``, equal to it to the unit).
They run on titanoboa's embedded EVM by default, or on any JSON-RPC node.
"""

from openmbs.chain._anvil import anvil_dev_keys
from openmbs.chain._artifacts import DEPLOYABLE_CONTRACTS, foundry_artifact, write_foundry_artifacts
from openmbs.chain._clients import DealClient, TrancheStatus, attestation_deadline
from openmbs.chain._contracts import (
    CONTRACTS,
    CONTRACTS_DIR,
    artifact,
    contract_path,
    deployer,
    export_artifacts,
)
from openmbs.chain._deploy import (
    RATE_TOLERANCE,
    DealConfig,
    TrancheConfig,
    attach_deal,
    config_from_exact,
    config_from_spec,
    deploy_deal,
    rate_bound,
)
from openmbs.chain._env import KEY_ENV, load_account, network_env, use_network
from openmbs.chain._journal import (
    EMBEDDED_CHAIN_ID,
    JOURNAL_FORMAT,
    EmbeddedDeal,
    attestation_from_dict,
    attestation_to_dict,
    deploy_embedded,
    dev_attestor_keys,
    open_embedded,
    report_from_dict,
    report_to_dict,
)
from openmbs.chain._verify import DEAL_ENV, check_addresses, check_record, read_deal

__all__ = [
    "CONTRACTS",
    "CONTRACTS_DIR",
    "DEAL_ENV",
    "DEPLOYABLE_CONTRACTS",
    "EMBEDDED_CHAIN_ID",
    "JOURNAL_FORMAT",
    "KEY_ENV",
    "RATE_TOLERANCE",
    "DealClient",
    "DealConfig",
    "EmbeddedDeal",
    "TrancheConfig",
    "TrancheStatus",
    "anvil_dev_keys",
    "artifact",
    "attach_deal",
    "attestation_deadline",
    "attestation_from_dict",
    "attestation_to_dict",
    "check_addresses",
    "check_record",
    "config_from_exact",
    "config_from_spec",
    "contract_path",
    "deploy_deal",
    "deploy_embedded",
    "deployer",
    "dev_attestor_keys",
    "export_artifacts",
    "foundry_artifact",
    "load_account",
    "network_env",
    "open_embedded",
    "rate_bound",
    "read_deal",
    "report_from_dict",
    "report_to_dict",
    "use_network",
    "write_foundry_artifacts",
]
