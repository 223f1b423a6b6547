"""Monte Carlo OAS: checked against independently derived cases.

- The compiled path-wise pool kernel equals a plain-Python SIFMA amortisation of every
  rep line driven by ``RefiPrepaymentModel.smm`` (the model's own vectorised formulas),
  and with defaults it equals the SIFMA cash-flow engine (``project_loans``) line for
  line.

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

from openmbs.behaviour import Default, Prepayment
from openmbs.behaviour.models import RefiPrepaymentModel
from openmbs.cashflow import project_loans, project_pool
from openmbs.pricing import (
    OASResult,
    ParCurve,
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


def test_cli_price_oas_passes_default_assumptions() -> None:
    """--cdr/--severity/--lag/--no-advance reach the engine: the CLI's OAS equals the
    API's with the same SIFMA default assumptions and differs from the no-default run."""
    import json

    from typer.testing import CliRunner

    from openmbs.cli import app
    from openmbs.commands.oas import DEFAULT_CURVE

    runner = CliRunner()
    base = ["price", "oas", "--price", "99", "--paths", "8", "--json", "--shift-bp", "25"]
    flags = ["--cdr", "3", "--severity", "40", "--lag", "6", "--no-advance"]
    r = runner.invoke(app, [*base, *flags])
    assert r.exit_code == 0, r.output
    (got,) = json.loads(r.output)["results"]
    api = oas_pass_through(
        PoolLines.generic(balance=1_000_000.0, wac=0.065, net_coupon=0.06),
        price=99.0, curve=ParCurve.parse(DEFAULT_CURVE).zero_curve(), n_paths=8,
        sigma=0.01, mean_reversion=0.05, seed=0, mortgage_spread_bp=170.0, shift_bp=25.0,
        default=Default.cdr(0.03), severity=0.40, lag=6, advance=False,
    )
    assert got["oas_bp"] == pytest.approx(api.oas_bp, abs=1e-9)
    r0 = runner.invoke(app, base)
    assert r0.exit_code == 0, r0.output
    assert abs(json.loads(r0.output)["results"][0]["oas_bp"] - got["oas_bp"]) > 0.5
    bad = runner.invoke(app, [*base, "--cdr", "3", "--sda", "100"])
    assert bad.exit_code != 0 and "give only one of --cdr, --sda" in str(bad.exception)


# ------------------------------------------------------------ the path-wise pool kernel


def _reference_flows(
    pool: PoolLines, rates: np.ndarray, model: RefiPrepaymentModel, start_month: int
) -> np.ndarray:
    """Plain Python: for each path and line, the SIFMA level-pay schedule on the actual
    balance (payment recomputed each month from the remaining term), prepayment
    ``SMM x (balance - scheduled principal)`` with the model's SMM."""
    n_paths, n = rates.shape
    out = np.zeros((4, n_paths, n))
    for p in range(n_paths):
        smm = model.smm(rates[p], note_rate=pool.gross_coupon, loan_age=pool.loan_age,
                        start_month=start_month)
        for i in range(pool.n_lines):
            b = float(pool.balance[i])
            c = float(pool.gross_coupon[i]) / 12.0
            net = float(pool.net_coupon[i]) / 12.0
            left = int(pool.remaining_term[i])
            for t in range(min(left, n)):
                pay = b * c / (1.0 - (1.0 + c) ** -(left - t))
                sched = min(pay - b * c, b)
                prep = (b - sched) * float(smm[i, t])
                out[0, p, t] += b * net
                out[1, p, t] += sched
                out[2, p, t] += prep
                b -= sched + prep
                out[3, p, t] += b
    return out


def _random_rates(seed: int, n_paths: int, n: int, level: float = 0.06) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level + np.cumsum(rng.standard_normal((n_paths, n)) * 0.002, axis=1)


def test_pool_kernel_equals_plain_python_reference() -> None:
    # three distinct note rates shared by six lines; seasoned and ramping lines; one
    # line maturing inside the horizon
    pool = PoolLines(
        np.array([1e6, 2e6, 5e5, 3e6, 1.5e6, 7e5]),
        np.array([0.065, 0.0575, 0.065, 0.07, 0.0575, 0.07]),
        np.array([0.06, 0.0525, 0.0595, 0.065, 0.0525, 0.0645]),
        np.array([360, 300, 355, 40, 340, 359]),
        np.array([0, 60, 5, 320, 20, 1]),
    )
    rates = _random_rates(1, 3, 72)
    model = RefiPrepaymentModel()
    got = path_pool_cashflows(pool, rates, model=model, start_month=3)
    want = _reference_flows(pool, rates, model, 3)
    scale = pool.total_balance
    np.testing.assert_allclose(got[:4], want, rtol=1e-10, atol=1e-9 * scale)
    assert np.all(got[4:] == 0.0)  # no defaults: no recoveries, losses, pipeline
    # the month the short line matures its balance is gone on every path
    assert np.all(got[1, :, 39] >= 0)


def test_pool_kernel_unfactored_exponentials() -> None:
    # a very steep S-curve over far-apart note rates: the factored exponentials would
    # overflow, so the kernel takes them per coupon; the result is the same model
    model = RefiPrepaymentModel(refi_width=1e-4, burnout=5.0)
    pool = PoolLines(np.array([1e6, 1e6]), np.array([0.03, 0.11]), np.array([0.025, 0.105]),
                     np.array([360, 360]), np.array([40, 40]))
    rates = _random_rates(2, 2, 48, level=0.07)
    got = path_pool_cashflows(pool, rates, model=model)
    want = _reference_flows(pool, rates, model, 1)
    np.testing.assert_allclose(got[:4], want, rtol=1e-10, atol=1e-3)


@pytest.mark.parametrize("advance", ["all", "principal", "none"])
@pytest.mark.parametrize(("default", "lag"), [(Default.cdr(0.03), 6), (Default.sda(200), 0)])
def test_pool_kernel_defaults_equal_the_sifma_engine(
    default: Default, lag: int, advance: str
) -> None:
    # with no refinancing and no seasonality the model is 100% PSA exactly, so the
    # SIFMA engine (openmbs.cashflow.project_loans) gives the expected cash flows
    pool = PoolLines(
        np.array([1e6, 2e6, 5e5]), np.array([0.065, 0.0575, 0.07]),
        np.array([0.06, 0.0525, 0.065]), np.array([360, 300, 120]), np.array([0, 60, 12]),
    )
    flows = path_pool_cashflows(
        pool, np.full((2, 360), 0.05), model=NO_REFI, default=default, severity=0.4,
        lag=lag, advance=advance,
    )
    cf = project_loans(
        pool.balance, pool.gross_coupon, pool.net_coupon, pool.remaining_term, pool.loan_age,
        prepayment=Prepayment.psa(100), default=default, severity=0.4, lag=lag,
        advance=advance, n_periods=360,
    )
    expect = {
        0: np.asarray(cf.net_interest),
        1: np.asarray(cf.principal) - np.asarray(cf.voluntary_prepayment)
        - np.asarray(cf.recovery),
        2: np.asarray(cf.voluntary_prepayment),
        3: np.asarray(cf.performing_balance) + np.asarray(cf.foreclosure_balance),
        4: np.asarray(cf.recovery),
        5: np.asarray(cf.loss),
        6: np.asarray(cf.foreclosure_balance),
    }
    assert float(np.sum(cf.loss)) > 0
    for row, want in expect.items():
        for p in range(2):
            np.testing.assert_allclose(flows[row, p], want, rtol=1e-9, atol=1e-6, err_msg=str(row))


def test_deterministic_oas_with_defaults_equals_z_spread_of_the_sifma_flows() -> None:
    pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    price, dflt = 99.5, Default.cdr(0.02)
    r = oas_pass_through(
        pool, price=price, curve=FLAT_CURVE, n_paths=2, sigma=0.0, model=NO_REFI,
        shift_bp=None, default=dflt, severity=0.35, lag=3,
    )
    cf = project_pool(
        balance=1e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
        remaining_term=360, prepayment=Prepayment.psa(100), default=dflt, severity=0.35,
        lag=3,
    )
    cash = np.asarray(cf.net_interest) + np.asarray(cf.principal)
    expected = _monthly_from_continuous(z_spread(cash, 1e6, FLAT_CURVE, price))
    assert r.oas_bp == pytest.approx(expected, abs=1e-4)
    # a deal: the waterfall on the same collections as collections_from_projection
    deal = example_deal("four_tranche")
    big = PoolLines.generic(balance=500e6, wac=0.065, net_coupon=0.06)
    out = oas_deal(deal, big, prices=98.0, curve=FLAT_CURVE, tranches=["D"], n_paths=2,
                   sigma=0.0, model=NO_REFI, shift_bp=None, default=Default.cdr(0.04),
                   severity=0.5, lag=3)
    cf = project_pool(
        balance=500e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
        remaining_term=360, prepayment=Prepayment.psa(100), default=Default.cdr(0.04),
        severity=0.5, lag=3,
    )
    res = run_waterfall(deal, collections_from_projection(cf, cleanup_call=deal.cleanup_call))
    i = res.tranche("D")
    assert float(res.table("writedown")[0, :, i].sum()) > 0  # the junior takes losses
    cash = res.table("interest_paid")[0, :, i] + res.table("principal_paid")[0, :, i]
    zs = z_spread(cash, float(res.face[i]), FLAT_CURVE, 98.0, delay_days=deal.payment_delay_days)
    assert out["D"].oas_bp == pytest.approx(_monthly_from_continuous(zs), abs=1e-4)


def test_bad_default_assumptions_are_rejected() -> None:
    from openmbs.errors import AssumptionError

    pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    rates = np.full((2, 12), 0.05)
    with pytest.raises(AssumptionError, match="severity"):
        path_pool_cashflows(pool, rates, default=Default.cdr(0.01), severity=1.5)
    with pytest.raises(AssumptionError, match="lag"):
        path_pool_cashflows(pool, rates, default=Default.cdr(0.01), lag=-1)
    with pytest.raises(AssumptionError, match="default must be a Default"):
        oas_pass_through(pool, price=100.0, curve=CURVE, n_paths=4, default=0.02)  # type: ignore[arg-type]


def test_pv_kernel_derivative_and_newton_equal_brent() -> None:
    from openmbs.pricing._oas import _brent, _Scenario, _Setup, _solve
    from openmbs.pricing._oas_kernel import pv_kernel

    rng = np.random.default_rng(5)
    rates = np.ascontiguousarray(0.04 + 0.01 * rng.standard_normal((6, 40)))
    cash = np.ascontiguousarray(rng.uniform(0.0, 5.0, (2, 6, 37)))
    cash[1, :, :10] = 0.0
    s0 = np.array([0.01, -0.003])
    pv, dpv = pv_kernel(rates, cash, s0, 1, 0.8)
    # the same PV from its definition, in numpy
    x = (rates[None, :, :] + s0[:, None, None]) / 12.0
    log_d = -np.cumsum(np.log1p(x), axis=2)
    k = np.arange(37)
    disc = np.exp(log_d[:, :, k + 1] - 0.8 * np.log1p(x[:, :, k + 2]))
    np.testing.assert_allclose(pv, (cash * disc).sum(axis=2), rtol=1e-13)
    h = 1e-6
    up, _ = pv_kernel(rates, cash, s0 + h, 1, 0.8)
    dn, _ = pv_kernel(rates, cash, s0 - h, 1, 0.8)
    np.testing.assert_allclose(dpv, (up - dn) / (2 * h), rtol=1e-6)
    setup = _Setup(FLAT_CURVE, 6, 0, 0.0, 0.0, False, None, 0.0, 54.0, 1, 37)  # delay 1.8 months
    sc = _Scenario(rates, cash, cash)
    scale = np.array([100.0 / 150.0, 100.0 / 120.0])
    price = np.array([101.0, 95.0])
    x_newton, _, _ = _solve(setup, sc, scale, price, ["a", "b"])
    for i in range(2):
        assert x_newton[i] == pytest.approx(
            _brent(setup, sc, i, float(scale[i]), float(price[i]), "x"), abs=1e-11
        )
