"""The public API of ``openmbs.pricing`` changes only on purpose (see tests/api_pin.py),
and every docstring example runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

import openmbs.pricing as pricing
from api_pin import check_public_api

PUBLIC = [
    "BondAnalytics",
    "DealRun",
    "EffectiveAnalytics",
    "GenericPool",
    "OASResult",
    "ParCurve",
    "ParYieldCurve",
    "PassThroughAnalytics",
    "PoolLines",
    "PoolProjector",
    "Projector",
    "RefinancingSCurve",
    "RepLinePool",
    "TrancheAnalytics",
    "ZeroCurve",
    "accrued_interest",
    "analyze",
    "average_life",
    "bey_from_mortgage_yield",
    "bootstrap_par_curve",
    "coupon_schedule",
    "days_30_360",
    "deal_breakeven",
    "deal_price_yield_table",
    "delay_from_stated",
    "effective_measures",
    "mortgage_yield_from_bey",
    "oas_deal",
    "oas_pass_through",
    "pass_through_projector",
    "path_pool_cashflows",
    "payment_times",
    "pool_projector",
    "price_at_yield",
    "price_from_yield",
    "price_from_z_spread",
    "price_pass_through",
    "price_yield_table",
    "run_deal",
    "settle_days_from_date",
    "size_deal",
    "spread_to_curve_at_wal",
    "tranche_analytics",
    "yield_from_price",
    "z_spread",
]

SIGNATURES = {
    "deal_breakeven": '(deal: \'DealSpec\', pool: \'GenericPool | LoanTape | RepLinePool\', tranche: \'str\', *, by: "Literal[\'cdr\', \'sda\']", prepayment: \'Prepayment\', severity: \'float\', lag: \'int\' = 0, advance: \'str\' = \'principal\') -> \'float\'',
    "run_deal": "(deal: 'DealSpec', pool: 'GenericPool | LoanTape | RepLinePool', *, prepayment: 'Prepayment', default: 'Default | None' = None, severity: 'float' = 0.0, lag: 'int' = 0, advance: 'str' = 'principal', index_rate: 'float' = 0.0, price: 'float | None' = None) -> 'DealRun'",
    "analyze": "(cash_flow: 'npt.ArrayLike', principal: 'npt.ArrayLike', balance: 'float', *, price: 'float | None' = None, yield_: 'float | None' = None, delay_days: 'float' = 0, settle_days: 'float' = 0, coupon: 'float | None' = None) -> 'BondAnalytics'",
    "price_pass_through": "(pool: 'GenericPool | LoanTape', *, prepayment: 'Prepayment', default: 'Default | None' = None, severity: 'float' = 0.0, lag: 'int' = 0, advance: 'str' = 'principal', price: 'float | None' = None, yield_: 'float | None' = None, delay_days: 'int' = 0, settle_days: 'int' = 0, curve: 'ParCurve | None' = None, effective: 'bool' = False, mortgage_rate: 'float | None' = None, shift_bp: 'float' = 25.0) -> 'PassThroughAnalytics'",
    "effective_measures": "(project: 'Projector | Callable[[float], Any]', *, price: 'float | None' = None, yield_: 'float | None' = None, curve: 'ZeroCurve | None' = None, shift_bp: 'float' = 25.0, delay_days: 'float' = 0, settle_days: 'float' = 0, coupon: 'float | None' = None) -> 'EffectiveAnalytics'",
    "oas_pass_through": "(pool: 'PoolLines', *, price: 'float', curve: 'ZeroCurve', n_paths: 'int' = 1000, seed: 'int' = 0, sigma: 'float' = 0.01, mean_reversion: 'float' = 0.05, antithetic: 'bool' = True, model: 'RefiPrepaymentModel | None' = None, mortgage_spread_bp: 'float' = 170.0, delay_days: 'float' = 0.0, start_month: 'int' = 1, shift_bp: 'float | None' = 25.0, default: 'Default | None' = None, severity: 'float' = 0.0, lag: 'int' = 0, advance: 'AdvanceMode | bool' = 'principal') -> 'OASResult'",
    "oas_deal": "(deal: 'DealSpec', pool: 'PoolLines', *, prices: 'float | Mapping[str, float]', curve: 'ZeroCurve', tranches: 'list[str] | None' = None, n_paths: 'int' = 1000, seed: 'int' = 0, sigma: 'float' = 0.01, mean_reversion: 'float' = 0.05, antithetic: 'bool' = True, model: 'RefiPrepaymentModel | None' = None, mortgage_spread_bp: 'float' = 170.0, start_month: 'int' = 1, shift_bp: 'float | None' = 25.0, index_rate: 'float' = 0.0, default: 'Default | None' = None, severity: 'float' = 0.0, lag: 'int' = 0, advance: 'AdvanceMode | bool' = 'principal') -> 'dict[str, OASResult]'",
    "tranche_analytics": "(result: 'WaterfallResult', *, price: 'float | None' = None, delay_days: 'float' = 0.0, scenario: 'int' = 0) -> 'list[TrancheAnalytics]'",
}


def test_pricing_public_api() -> None:
    check_public_api(pricing, PUBLIC, SIGNATURES)


def test_results_are_frozen() -> None:
    import dataclasses

    a = pricing.analyze([101.0], [100.0], 100.0, yield_=0.05)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.price = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "module",
    ["_timing", "_measures", "_curve", "_spread", "_effective", "_pass_through"],
)
def test_docstring_examples(module: str) -> None:
    mod = importlib.import_module(f"openmbs.pricing.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
