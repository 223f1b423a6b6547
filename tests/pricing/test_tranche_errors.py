"""Tranche analytics and scenario grids: an unsolvable yield is NaN (the solver's
ConvergenceError, as documented); any other error propagates instead of becoming NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

import openmbs.pricing._tranche as tranche_module
from openmbs.behaviour import Prepayment
from openmbs.cashflow import project_pool
from openmbs.errors import ConvergenceError
from openmbs.pricing import PoolLines, analyze, tranche_analytics
from openmbs.risk import ScenarioGrid, run_scenarios
from openmbs.structuring import collections_from_projection, example_deal, run_waterfall

SPEC = example_deal("senior_sub")
#: A price per 100 below what the first month's interest alone is worth at the yield cap.
UNSOLVABLE = 1e-3


def _result() -> object:
    p = SPEC.pool
    cf = project_pool(balance=p.balance, gross_coupon=p.wac, net_coupon=p.net_coupon,
                      original_term=p.term, remaining_term=p.term - p.age, loan_age=p.age,
                      prepayment=Prepayment.psa(150))
    return run_waterfall(SPEC, collections_from_projection(cf, cleanup_call=SPEC.cleanup_call),
                         keep="cashflows")


def test_unsolvable_yield_is_nan() -> None:
    res = _result()
    ip, pp = res.table("interest_paid")[0], res.table("principal_paid")[0]  # type: ignore[attr-defined]
    with pytest.raises(ConvergenceError):
        analyze(ip[:, 0] + pp[:, 0], pp[:, 0], float(res.face[0]), price=UNSOLVABLE)  # type: ignore[attr-defined]
    for t in tranche_analytics(res, price=UNSOLVABLE):  # type: ignore[arg-type]
        assert math.isnan(t.yield_) and math.isnan(t.modified_duration)
        assert t.wal > 0  # the rest of the row is still there
    assert all(math.isfinite(t.yield_) for t in tranche_analytics(res, price=99.0))  # type: ignore[arg-type]


def test_unexpected_error_in_tranche_analytics_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise TypeError("a bug, not an unsolvable yield")

    monkeypatch.setattr(tranche_module, "analyze", broken)
    with pytest.raises(TypeError, match="a bug"):
        tranche_analytics(_result(), price=99.0)  # type: ignore[arg-type]


POOL = PoolLines.generic(balance=500e6, wac=0.065, net_coupon=0.06)
GRID = ScenarioGrid(psa=(150.0,), shift_bp=(0.0,))


def test_unsolvable_scenario_yield_is_nan() -> None:
    res = run_scenarios(SPEC, POOL, GRID, price=UNSOLVABLE, workers=1)
    for col in ("yield", "modified_duration", "price_at_shift"):
        assert np.all(np.isnan(res.column(col))), col
    assert np.all(res.column("wal") > 0)


def test_unexpected_error_in_scenarios_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    import openmbs.risk._scenarios as scenarios_module

    def broken(*args: object, **kwargs: object) -> object:
        raise TypeError("a bug, not an unsolvable yield")

    monkeypatch.setattr(scenarios_module, "analyze", broken)  # the name _evaluate calls
    with pytest.raises(TypeError, match="a bug"):
        run_scenarios(SPEC, POOL, GRID, price=99.0, workers=1)
