"""The public API of ``openmbs.agents`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.agents as agents
from api_pin import check_public_api

PUBLIC = [
    "RECORD_FIELDS",
    "SERVICING_FIELDS",
    "AttestorSet",
    "LoanSaleKeeper",
    "LoanTree",
    "SaleOrder",
    "ServicerBridge",
    "ServicerPeriod",
    "TriggerEvent",
    "TriggerKeeper",
    "keccak256",
    "leaf_array",
    "leaves",
    "loan_records",
    "record_columns",
    "record_decimals",
    "record_hash_array",
    "report_from_records",
    "sale_confirmations",
    "scale_report",
]

SIGNATURES = {
    "AttestorSet": "(private_keys: 'Sequence[str | bytes]') -> 'None'",
    "ServicerBridge.build": "(self, period: 'int', records: 'pa.Table') -> 'ServicerPeriod'",
}


def test_agents_public_api() -> None:
    check_public_api(agents, PUBLIC, SIGNATURES, undocumented=("keccak256",))
