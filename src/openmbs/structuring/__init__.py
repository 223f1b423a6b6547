"""Deal structuring: the deal spec, the waterfall (float and exact) and tranche analytics.

* :func:`load_deal` / :func:`example_deal` read a deal spec (TOML, validated);
  :func:`resolve_deal` takes what a user typed (a file wins over an example's name).
* :func:`compile_exact` turns it into the flat integer parameters of the exact engine;
  :func:`apply_period` runs one period in integer base units. The exact engine
  (``_exact.py``) is the specification of the on-chain waterfall.
* :func:`run_waterfall` runs the same waterfall in float64, vectorised over scenarios.
"""

from __future__ import annotations

from openmbs.structuring._analytics import (
    breakeven_cdr,
    breakeven_sda,
    collections_from_projection,
    period_table,
    pool_balance_rows,
    write_table,
)
from openmbs.structuring._compile import chain_unsupported, check_chain, compile_exact
from openmbs.structuring._decrement import DecrementTable, decrement_table
from openmbs.structuring._driver import exact_remittance, remittances_from_collections, run_exact
from openmbs.structuring._exact import (
    F_IO,
    MAX_FEES,
    MAX_STEPS,
    MAX_TRANCHES,
    MAX_TRIGGERS,
    WAD,
    ExactDeal,
    ExactPeriodResult,
    ExactRemittance,
    ExactState,
    apply_period,
    initial_state,
)
from openmbs.structuring._schedule import collateral_collections
from openmbs.structuring._spec import (
    DEFAULT_ORDER,
    EXAMPLE_DEALS,
    LANGUAGE_EXAMPLES,
    MAX_CLASSES,
    AccrualRulesSpec,
    AssetSpec,
    DealSpec,
    FeeSpec,
    GroupSpec,
    PoolSpec,
    PricingOverrideSpec,
    RepLineSpec,
    ReserveSpec,
    RuleSpec,
    TrancheSpec,
    TriggerSpec,
    example_deal,
    example_deal_path,
    load_deal,
    parse_deal,
    resolve_deal,
)
from openmbs.structuring._wal import prospectus_wal, settlement_years
from openmbs.structuring._waterfall import (
    Collections,
    TrancheSummary,
    WaterfallResult,
    run_waterfall,
)

__all__ = [
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
