"""The public API of openmbs.structuring only changes on purpose."""

from __future__ import annotations

import openmbs.structuring as S


def test_public_names_pinned() -> None:
    assert len(S.__all__) == len(set(S.__all__))
    assert set(S.__all__) == {
        "DEFAULT_ORDER", "EXAMPLE_DEALS", "WAD", "AssetSpec", "Collections", "DealSpec",
        "ExactDeal", "ExactPeriodResult", "ExactRemittance", "ExactState", "FeeSpec",
        "PoolSpec", "ReserveSpec", "TrancheSpec", "TrancheSummary",
        "TriggerSpec", "WaterfallResult", "apply_period", "breakeven_cdr", "breakeven_sda",
        "collections_from_projection", "compile_exact", "exact_remittance", "example_deal", "example_deal_path",
        "initial_state", "load_deal", "parse_deal", "period_table", "pool_balance_rows",
        "remittances_from_collections", "resolve_deal", "run_exact", "run_waterfall",
        "write_table",
        # the deal language (issue 16)
        "LANGUAGE_EXAMPLES", "MAX_CLASSES", "AccrualRulesSpec", "GroupSpec", "PricingOverrideSpec",
        "RepLineSpec", "RuleSpec", "DecrementTable", "decrement_table", "collateral_collections",
        "chain_unsupported", "check_chain",
    }
    for name in S.__all__:
        assert getattr(S, name) is not None
