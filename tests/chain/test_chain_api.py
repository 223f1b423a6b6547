"""The public API of ``openmbs.chain`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.chain as chain
from api_pin import check_public_api

PUBLIC = [
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

SIGNATURES = {
    "write_deployment_record": "(path: 'str | os.PathLike[str]', record: 'DeploymentRecord | Mapping[str, Any]') -> 'Path'",
    "read_deployment_record": "(path: 'str | os.PathLike[str]') -> 'dict[str, Any]'",
    "deploy_deal": "(config: 'DealConfig', *, attestors: 'Sequence[str]', admin: 'str', servicer: 'str | None' = None, guardian: 'str | None' = None, compliance: 'str | None' = None, seller: 'str | None' = None, settlement: 'str | None' = None, test_waterfall: 'bool' = False, from_artifacts: 'bool' = False, bound: 'int | None' = None) -> 'DealClient'",
    "deploy_embedded": "(path: 'str | os.PathLike[str]', spec: 'Any', *, loans: 'int', quorum: 'int' = 3, attestors: 'Sequence[str] | None' = None, investors: 'int' = 2, test_waterfall: 'bool' = False, overwrite: 'bool' = False, max_net_rate: 'float | None' = None, initial_delinquent: 'tuple[int, int, int]' = (0, 0, 0)) -> 'EmbeddedDeal'",
    "open_embedded": "(path: 'str | os.PathLike[str]') -> 'EmbeddedDeal'",
    "config_from_spec": "(spec: 'Any', *, loan_count: 'int', quorum: 'int' = 3, n_attestors: 'int' = 5, max_net_rate: 'float | None' = None, initial_delinquent: 'tuple[int, int, int]' = (0, 0, 0)) -> 'DealConfig'",
    "report_to_dict": "(report: 'RemittanceReport') -> 'dict[str, Any]'",
}


def test_chain_public_api() -> None:
    check_public_api(chain, PUBLIC, SIGNATURES)
