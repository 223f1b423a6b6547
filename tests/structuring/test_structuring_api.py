"""The public API of ``openmbs.structuring`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.structuring as structuring
from api_pin import check_public_api

PUBLIC = [
    "DEFAULT_ORDER",
    "EXAMPLE_DEALS",
    "F_IO",
    "LANGUAGE_EXAMPLES",
    "MAX_CLASSES",
    "MAX_FEES",
    "MAX_STEPS",
    "MAX_TRANCHES",
    "MAX_TRIGGERS",
    "WAD",
    "AccrualRulesSpec",
    "AssetSpec",
    "Collections",
    "DealSpec",
    "DecrementTable",
    "ExactDeal",
    "ExactPeriodResult",
    "ExactRemittance",
    "ExactState",
    "FeeSpec",
    "GroupSpec",
    "PoolSpec",
    "PricingOverrideSpec",
    "RepLineSpec",
    "ReserveSpec",
    "RuleSpec",
    "TrancheSpec",
    "TrancheSummary",
    "TriggerSpec",
    "WaterfallResult",
    "apply_period",
    "breakeven_cdr",
    "breakeven_sda",
    "chain_unsupported",
    "check_chain",
    "collateral_collections",
    "collections_from_projection",
    "compile_exact",
    "decrement_table",
    "exact_remittance",
    "example_deal",
    "example_deal_path",
    "initial_state",
    "load_deal",
    "parse_deal",
    "period_table",
    "pool_balance_rows",
    "prospectus_wal",
    "remittances_from_collections",
    "resolve_deal",
    "run_exact",
    "run_waterfall",
    "settlement_years",
    "write_table",
]

SIGNATURES = {
    "run_waterfall": '(deal: \'DealSpec | ExactDeal\', collections: \'Collections\', *, keep: \'Keep\' = \'all\', engine: "Literal[\'numba\', \'numpy\']" = \'numba\') -> \'WaterfallResult\'',
    "resolve_deal": "(deal: 'str | Path') -> 'DealSpec'",
    "collections_from_projection": "(cf: 'PoolCashflows | Sequence[PoolCashflows]', *, servicing_in_net_rate: 'bool' = True, cleanup_call: 'float' = 0.0, index_rate: 'float | npt.ArrayLike' = 0.0) -> 'Collections'",
    "run_exact": "(deal: 'ExactDeal', remittances: 'Sequence[ExactRemittance]', state: 'ExactState | None' = None) -> 'tuple[ExactState, list[ExactPeriodResult]]'",
    "apply_period": "(deal: 'ExactDeal', state: 'ExactState', remittance: 'ExactRemittance') -> 'tuple[ExactState, ExactPeriodResult]'",
}


def test_structuring_public_api() -> None:
    check_public_api(structuring, PUBLIC, SIGNATURES)
