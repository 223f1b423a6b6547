"""On-chain deals: Vyper contracts, deployment, typed clients and artefact export
(``write_foundry_artifacts``: Foundry-style ``out/<Name>.json`` for integrators).

The contracts (``contracts/*.vy``, Vyper 0.4.3 on snekmate) are a deal core that
holds the cash and the per-unit indices (``Deal``), one ERC-20 per tranche
(``TrancheToken``), the M-of-N remittance oracle (``RemittanceOracle``), the primary
offering escrow (``Issuance``), a timelock (``Timelock``) and the waterfall
(``ExactWaterfall``, a line-by-line port of the exact Python waterfall
``openmbs.structuring._exact.apply_period``, equal to it to the unit).
They run on titanoboa's embedded EVM by default, or on any JSON-RPC node.

:mod:`openmbs.chain.fastevm` is tooling beside the chain code, not part of it: it makes
an embedded EVM run the same bytecode faster for long simulations.
"""

from openmbs.chain._anvil import anvil_dev_keys
from openmbs.chain._artifacts import DEPLOYABLE_CONTRACTS, foundry_artifact, write_foundry_artifacts
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
    ServicingConfig,
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
    deploy_embedded,
    dev_attestor_keys,
    open_embedded,
)
from openmbs.chain._record import (
    RECORD_FORMAT,
    Deployed,
    DeploymentRecord,
    read_deployment_record,
    write_deployment_record,
)
from openmbs.chain._verify import DEAL_ENV, check_addresses, check_record, read_deal

# The JSON codecs of reports and attestations are the oracle's (``openmbs.oracle``); they
# stay importable from here, where the ``openmbs chain`` commands first found them.
from openmbs.oracle import (
    attestation_from_dict,
    attestation_to_dict,
    report_from_dict,
    report_to_dict,
)

__all__ = [
    "CONTRACTS",
    "CONTRACTS_DIR",
    "DEAL_ENV",
    "DEPLOYABLE_CONTRACTS",
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
    "ServicingConfig",
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
    "foundry_artifact",
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
    "write_foundry_artifacts",
]
