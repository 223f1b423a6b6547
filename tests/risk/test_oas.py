"""Monte Carlo OAS: checked against independently derived cases.

- With no volatility and no rate-dependent prepayment the OAS must equal the Z-spread
  (there is no option), and both must equal ``openmbs.pricing.z_spread`` of the same
  cash flows from the SIFMA cash-flow engine (``project_pool`` at 100% PSA, which the
  refinancing model reproduces exactly with no refinancing and no seasonality) after the
  change of compounding that holds on a flat curve.
- A premium pass-through's option cost is positive; antithetic sampling reduces the
  variance; standard errors shrink like 1/sqrt(paths); same seed, same result.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from openmbs.behaviour import Prepayment
from openmbs.behaviour.models import RefiPrepaymentModel
from openmbs.cashflow import project_pool
from openmbs.pricing import (
    OASResult,
    PoolLines,
    ZeroCurve,
    bootstrap_par_curve,
    oas_deal,
    oas_pass_through,
    path_pool_cashflows,
    z_spread,
)
from openmbs.structuring import collections_from_projection, example_deal, run_waterfall

FLAT = 0.04
FLAT_CURVE = ZeroCurve(np.array([1.0, 30.0]), np.array([FLAT, FLAT]))
NO_REFI = RefiPrepaymentModel(turnover_cpr=0.06, refi_max_cpr=0.0, seasonality=(1.0,) * 12)
CURVE = bootstrap_par_curve([1, 2, 5, 10, 30], [0.045, 0.044, 0.042, 0.043, 0.045])


def _monthly_from_continuous(z_cc_bp: float) -> float:
    """On a flat continuously-compounded curve ``z``, discounting at ``exp(-(z + zs) t)``
    equals discounting at ``(1 + (r + s)/12)^(-12 t)`` with ``r = 12 (e^{z/12} - 1)`` iff
    ``s = 12 (e^{(z + zs)/12} - e^{z/12})``."""
    zs = z_cc_bp / 1e4
    return 1e4 * 12.0 * (math.exp((FLAT + zs) / 12.0) - math.exp(FLAT / 12.0))


def test_deterministic_pass_through_oas_equals_z_spread() -> None:
    pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    price, delay = 101.5, 24
    r = oas_pass_through(
        pool, price=price, curve=FLAT_CURVE, n_paths=4, sigma=0.0, model=NO_REFI,
        delay_days=delay, shift_bp=None,
    )
    cf = project_pool(
        balance=1e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
        remaining_term=360, prepayment=Prepayment.psa(100),
    )
    cash = np.asarray(cf.net_interest) + np.asarray(cf.principal)
    expected = _monthly_from_continuous(z_spread(cash, 1e6, FLAT_CURVE, price, delay_days=delay))
    assert r.oas_bp == pytest.approx(expected, abs=1e-4)
    assert r.z_spread_bp == pytest.approx(expected, abs=1e-4)
    assert abs(r.option_cost_bp) < 1e-4
    assert r.pv_std_error < 1e-9  # every path is the same


def test_deterministic_tranche_oas_equals_z_spread() -> None:
    deal = example_deal("four_tranche")
    pool = PoolLines.generic(balance=500e6, wac=0.065, net_coupon=0.06)
    out = oas_deal(
        deal, pool, prices={"A": 100.5, "C": 99.0}, curve=FLAT_CURVE, tranches=["A", "C"],
        n_paths=4, sigma=0.0, model=NO_REFI, shift_bp=None,
    )
    cf = project_pool(
        balance=500e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
        remaining_term=360, prepayment=Prepayment.psa(100),
    )
    res = run_waterfall(deal, collections_from_projection(cf, cleanup_call=deal.cleanup_call))
    for name, price in (("A", 100.5), ("C", 99.0)):
        i = res.tranche(name)
        cash = res.table("interest_paid")[0, :, i] + res.table("principal_paid")[0, :, i]
        zs = z_spread(cash, float(res.face[i]), FLAT_CURVE, price,
                      delay_days=deal.payment_delay_days)
        assert out[name].oas_bp == pytest.approx(_monthly_from_continuous(zs), abs=1e-4)
        assert abs(out[name].option_cost_bp) < 1e-4


def test_kernel_prepayment_matches_the_refi_model() -> None:
    rng = np.random.default_rng(3)
    rates = 0.06 + 0.01 * np.cumsum(rng.standard_normal((3, 120)) * 0.2, axis=1)
    model = RefiPrepaymentModel()
    pool = PoolLines.generic(balance=1e5, wac=0.065, net_coupon=0.06, term=360, age=5)
    flows = path_pool_cashflows(pool, rates, model=model, start_month=4)
    beg = np.concatenate([np.full((3, 1), 1e5), flows[3][:, :-1]], axis=1)
    smm = flows[2] / (beg - flows[1])
    expected = model.smm(rates, note_rate=0.065, loan_age=5, start_month=4)
    np.testing.assert_allclose(smm, expected, rtol=1e-10, atol=1e-14)
    # balance conservation: beginning - scheduled - prepaid = ending
    np.testing.assert_allclose(beg - flows[1] - flows[2], flows[3], rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(flows[0], beg * 0.06 / 12.0, rtol=1e-12)


def test_premium_pass_through_has_positive_option_cost_and_duration() -> None:
    pool = PoolLines.generic(balance=1e6, wac=0.07, net_coupon=0.065)
    r = oas_pass_through(pool, price=103.0, curve=CURVE, n_paths=256, seed=1)
    assert isinstance(r, OASResult)
    assert r.option_cost_bp > 3.0 * r.oas_std_error_bp > 0
    assert r.effective_duration > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.oas_bp = 0.0  # type: ignore[misc]


def test_antithetic_reduces_variance_and_errors_shrink_with_paths() -> None:
    pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    kw = {"price": 101.0, "curve": CURVE, "shift_bp": None, "seed": 7}
    anti = oas_pass_through(pool, n_paths=512, **kw)  # type: ignore[arg-type]
    plain = oas_pass_through(pool, n_paths=512, antithetic=False, **kw)  # type: ignore[arg-type]
    assert anti.pv_std_error < plain.pv_std_error
    small = oas_pass_through(pool, n_paths=128, **kw)  # type: ignore[arg-type]
    ratio = small.pv_std_error / anti.pv_std_error  # sqrt(512/128) = 2 expected
    assert 1.4 < ratio < 2.9
    assert 1.4 < small.oas_std_error_bp / anti.oas_std_error_bp < 2.9


def test_same_seed_same_result() -> None:
    pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    kw = {"price": 100.0, "curve": CURVE, "n_paths": 64, "shift_bp": 50.0}
    a = oas_pass_through(pool, seed=11, **kw)  # type: ignore[arg-type]
    b = oas_pass_through(pool, seed=11, **kw)  # type: ignore[arg-type]
    c = oas_pass_through(pool, seed=12, **kw)  # type: ignore[arg-type]
    assert a == b
    assert a.oas_bp != c.oas_bp


def test_bad_inputs_are_rejected() -> None:
    from openmbs.errors import InputError

    pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    with pytest.raises(InputError, match="n_paths 3"):
        oas_pass_through(pool, price=100.0, curve=CURVE, n_paths=3)
    with pytest.raises(InputError, match="price -1"):
        oas_pass_through(pool, price=-1.0, curve=CURVE, n_paths=4, shift_bp=None)
    with pytest.raises(InputError, match="net_coupon"):
        PoolLines.generic(balance=1e6, wac=0.05, net_coupon=0.06)
    with pytest.raises(InputError, match="unknown tranche 'Z'"):
        oas_deal(example_deal("four_tranche"), pool, prices=100.0, curve=CURVE,
                 tranches=["Z"], n_paths=4)


def test_fast_mortgage_rates_equal_the_hull_white_module() -> None:
    from openmbs.pricing._oas import _mortgage_rates
    from openmbs.risk import HullWhite, mortgage_rate_paths

    hw = HullWhite(CURVE, a=0.03, sigma=0.012)
    paths = hw.simulate(6, 40, seed=2)
    np.testing.assert_allclose(
        _mortgage_rates(hw, paths, 40, 150.0), mortgage_rate_paths(hw, paths, spread_bp=150.0),
        rtol=0, atol=1e-13,
    )


def test_public_names() -> None:
    import openmbs.pricing as pricing
    import openmbs.risk as risk

    for name in ("OASResult", "PoolLines", "oas_deal", "oas_pass_through", "path_pool_cashflows"):
        assert name in pricing.__all__
    for name in ("SCENARIO_COLUMNS", "ScenarioGrid", "ScenarioResults", "run_scenarios"):
        assert name in risk.__all__


def test_cli_price_oas() -> None:
    import json

    from typer.testing import CliRunner

    from openmbs.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["price", "oas", "--price", "101", "--paths", "16", "--json",
                            "--sigma", "0", "--shift-bp", "25"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    (res,) = out["results"]
    assert res["name"] == "pass-through" and res["n_paths"] == 16
    assert abs(res["option_cost_bp"]) < 1e-6  # zero volatility: no option value
    r = runner.invoke(app, ["price", "oas", "--price", "100", "--paths", "8", "--json",
                            "--deal", "four_tranche", "--tranche", "B"])
    assert r.exit_code == 0, r.output
    assert [x["name"] for x in json.loads(r.output)["results"]] == ["B"]
    r = runner.invoke(app, ["price", "oas", "--price", "100", "--tranche", "B"])
    assert r.exit_code != 0
