"""The public API of openmbs.pricing is pinned, and every docstring example runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

import openmbs.pricing

PUBLIC = [
    "BondAnalytics",
    "EffectiveAnalytics",
    "OASResult",
    "ParCurve",
    "ParYieldCurve",
    "PoolLines",
    "Projector",
    "RefinancingSCurve",
    "TrancheAnalytics",
    "ZeroCurve",
    "accrued_interest",
    "analyze",
    "average_life",
    "bey_from_mortgage_yield",
    "bootstrap_par_curve",
    "coupon_schedule",
    "days_30_360",
    "delay_from_stated",
    "effective_measures",
    "mortgage_yield_from_bey",
    "oas_deal",
    "oas_pass_through",
    "pass_through_projector",
    "path_pool_cashflows",
    "payment_times",
    "price_at_yield",
    "price_from_yield",
    "price_from_z_spread",
    "price_yield_table",
    "settle_days_from_date",
    "spread_to_curve_at_wal",
    "tranche_analytics",
    "yield_from_price",
    "z_spread",
]


def test_public_api_is_pinned() -> None:
    assert openmbs.pricing.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(openmbs.pricing, name) is not None


def test_results_are_frozen() -> None:
    import dataclasses

    a = openmbs.pricing.analyze([101.0], [100.0], 100.0, yield_=0.05)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.price = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "module",
    ["_timing", "_measures", "_curve", "_spread", "_effective"],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"openmbs.pricing.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
