"""Pricing: 30/360 timing with payment delay, price/yield, average life, duration,
convexity, zero curves, spreads and effective (rate-shift) measures.

Conventions follow the SIFMA Uniform Practices, Standard Formulas (see
``docs/pricing.md``): monthly cash flows, element ``k`` paid at the end of month
``k + 1`` plus ``delay_days``; bond-equivalent (semi-annual) yields as decimals; prices
per 100 of current face; times in years; spreads in basis points.
"""

from __future__ import annotations

from openmbs.pricing._curve import ParCurve, ZeroCurve, bootstrap_par_curve, coupon_schedule
from openmbs.pricing._deal import (
    DealRun,
    PoolProjector,
    RepLinePool,
    deal_breakeven,
    deal_price_yield_table,
    pool_projector,
    run_deal,
    size_deal,
)
from openmbs.pricing._effective import (
    EffectiveAnalytics,
    Projector,
    RefinancingSCurve,
    effective_measures,
    pass_through_projector,
)
from openmbs.pricing._measures import (
    BondAnalytics,
    accrued_interest,
    analyze,
    average_life,
    bey_from_mortgage_yield,
    mortgage_yield_from_bey,
    price_from_yield,
    yield_from_price,
)
from openmbs.pricing._oas import (
    OASResult,
    PoolLines,
    oas_deal,
    oas_pass_through,
    path_pool_cashflows,
)
from openmbs.pricing._offering import price_at_yield
from openmbs.pricing._pass_through import GenericPool, PassThroughAnalytics, price_pass_through
from openmbs.pricing._spread import (
    ParYieldCurve,
    price_from_z_spread,
    spread_to_curve_at_wal,
    z_spread,
)
from openmbs.pricing._timing import (
    days_30_360,
    delay_from_stated,
    payment_times,
    settle_days_from_date,
)
from openmbs.pricing._tranche import TrancheAnalytics, price_yield_table, tranche_analytics

__all__ = [
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
