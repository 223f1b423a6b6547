"""Off-chain agents: the servicer bridge (loan records -> report, Merkle tree,
attestations), a keeper that watches the deal's triggers and one that starts
sales of seriously delinquent loans.

See ``docs/demo.md``.
"""

from __future__ import annotations

from openmbs.agents._attestor import AttestorSet
from openmbs.agents._keeper import TriggerEvent, TriggerKeeper
from openmbs.agents._loan_sale import LoanSaleKeeper, SaleOrder, sale_confirmations
from openmbs.agents._servicer import (
    RECORD_FIELDS,
    SERVICING_FIELDS,
    LoanTree,
    ServicerBridge,
    ServicerPeriod,
    keccak256,
    leaf_array,
    leaves,
    loan_records,
    record_columns,
    record_decimals,
    record_hash_array,
    report_from_records,
    scale_report,
)

__all__ = [
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
