"""On-chain deals: Vyper contracts, deployment, typed clients and artefact export.

The contracts (``contracts/*.vy``, Vyper 0.4.3 on snekmate) are a deal core that
holds the cash and the per-unit indices (``Deal``), one ERC-20 per tranche
(``TrancheToken``), the M-of-N remittance oracle (``RemittanceOracle``), the primary
offering escrow (``Issuance``), a timelock (``Timelock``) and the waterfall
(``Waterfall``, whose rules are ported from the exact Python waterfall).
They run on titanoboa's embedded EVM by default, or on any JSON-RPC node.
"""

from openmbs.chain._clients import DealClient, TrancheStatus
from openmbs.chain._contracts import (
    CONTRACTS,
    CONTRACTS_DIR,
    contract_path,
    deployer,
    export_artifacts,
)
from openmbs.chain._deploy import (
    DealConfig,
    TrancheConfig,
    attach_deal,
    config_from_spec,
    deploy_deal,
)

__all__ = [
    "CONTRACTS",
    "CONTRACTS_DIR",
    "DealClient",
    "DealConfig",
    "TrancheConfig",
    "TrancheStatus",
    "attach_deal",
    "config_from_spec",
    "contract_path",
    "deploy_deal",
    "deployer",
    "export_artifacts",
]
