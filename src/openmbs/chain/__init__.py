"""On-chain deals: Vyper contracts, deployment, typed clients and artefact export.

The contracts (``contracts/*.vy``, Vyper 0.4.3 on snekmate) are a deal core that
holds the cash and the per-unit indices (``Deal``), one ERC-20 per tranche
(``TrancheToken``), the M-of-N remittance oracle (``RemittanceOracle``), the primary
offering escrow (``Issuance``), a timelock (``Timelock``) and the waterfall
(``ExactWaterfall``, a line-by-line port of the exact Python waterfall
``openmbs.structuring._exact.apply_period``, equal to it to the unit).
They run on titanoboa's embedded EVM by default, or on any JSON-RPC node.
"""

from openmbs.chain._anvil import anvil_dev_keys
from openmbs.chain._backend import DealSession, SentTx, TxLog, open_deal, set_tx_verbosity
from openmbs.chain._clients import (
    DealClient,
    TrancheStatus,
    WaterfallState,
    attestation_deadline,
    revert_reason,
)
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
from openmbs.chain._env import (
    ETH_KEY_ENV,
    ETH_RPC_ENV,
    KEY_ENV,
    check_chain_id,
    load_account,
    network_env,
    node_chain_id,
    rpc_url,
    use_network,
)
from openmbs.chain._explain import BoundFailure, explain_rejection, first_failed_bound
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
from openmbs.chain._record import (
    RECORD_FORMAT,
    Deployed,
    DeploymentRecord,
    read_deployment_record,
    write_deployment_record,
)
from openmbs.chain._verify import DEAL_ENV, check_addresses, check_record, read_deal

__all__ = [
    "CONTRACTS",
    "CONTRACTS_DIR",
    "DEAL_ENV",
    "EMBEDDED_CHAIN_ID",
    "ETH_KEY_ENV",
    "ETH_RPC_ENV",
    "JOURNAL_FORMAT",
    "KEY_ENV",
    "RATE_TOLERANCE",
    "RECORD_FORMAT",
    "BoundFailure",
    "DealClient",
    "DealConfig",
    "DealSession",
    "Deployed",
    "DeploymentRecord",
    "EmbeddedDeal",
    "SentTx",
    "TrancheConfig",
    "TrancheStatus",
    "TxLog",
    "WaterfallState",
    "anvil_dev_keys",
    "artifact",
    "attach_deal",
    "attestation_deadline",
    "attestation_from_dict",
    "attestation_to_dict",
    "check_addresses",
    "check_chain_id",
    "check_record",
    "config_from_exact",
    "config_from_spec",
    "contract_path",
    "deploy_deal",
    "deploy_embedded",
    "deployer",
    "dev_attestor_keys",
    "explain_rejection",
    "export_artifacts",
    "first_failed_bound",
    "load_account",
    "network_env",
    "node_chain_id",
    "open_deal",
    "open_embedded",
    "rate_bound",
    "read_deal",
    "read_deployment_record",
    "report_from_dict",
    "report_to_dict",
    "revert_reason",
    "rpc_url",
    "set_tx_verbosity",
    "use_network",
    "write_deployment_record",
]
