"""`price_pass_through`: the library call behind `openmbs price`."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool, project_tape
from openmbs.cli import app
from openmbs.collateral import generate_tape
from openmbs.errors import InputError
from openmbs.pricing import (
    GenericPool,
    ParCurve,
    analyze,
    bey_from_mortgage_yield,
    price_pass_through,
    z_spread,
)

POOL = GenericPool(balance=2_500_000.0, gross_coupon=0.0675, net_coupon=0.0625, original_term=360, loan_age=12)
PSA150 = Prepayment.psa(150.0)


def test_generic_pool_is_projected_and_priced_at_its_net_coupon() -> None:
    r = price_pass_through(POOL, prepayment=PSA150, default=Default.cdr(0.01), severity=0.3,
                           lag=6, price=101.5, delay_days=24, settle_days=10)
    cf = project_pool(balance=2_500_000.0, gross_coupon=0.0675, net_coupon=0.0625,
                      original_term=360, remaining_term=348, loan_age=12, prepayment=PSA150,
                      default=Default.cdr(0.01), severity=0.3, lag=6)
    expected = analyze(cf.cash_flow, cf.principal, 2_500_000.0, price=101.5, delay_days=24,
                       settle_days=10, coupon=0.0625)
    assert r.measures == expected
    assert r.balance == 2_500_000.0
    # accrued: 10 days of the net coupon, per 100 of face
    assert r.measures.accrued == pytest.approx(100 * 0.0625 * 10 / 360, rel=1e-12)


def test_price_and_yield_invert_each_other() -> None:
    at_price = price_pass_through(POOL, prepayment=PSA150, price=98.25, delay_days=24)
    at_yield = price_pass_through(POOL, prepayment=PSA150, yield_=at_price.measures.yield_,
                                  delay_days=24)
    assert at_yield.measures.price == pytest.approx(98.25, abs=1e-8)


def test_par_at_the_coupon_whatever_the_speed() -> None:
    for speed in (0.0, 100.0, 600.0):
        r = price_pass_through(POOL, prepayment=Prepayment.psa(speed),
                               yield_=bey_from_mortgage_yield(0.0625))
        assert r.measures.price == pytest.approx(100.0, abs=1e-9), speed


def test_tape_is_projected_loan_by_loan() -> None:
    tape = generate_tape(40, seed=11)
    r = price_pass_through(tape, prepayment=PSA150, price=100.0)
    cf = project_tape(tape, prepayment=PSA150)
    assert r.balance == pytest.approx(float(cf.beginning_balance[0]))
    assert r.measures == analyze(cf.cash_flow, cf.principal, r.balance, price=100.0)


def test_curve_adds_spreads_and_as_dict_uses_decimals_and_yield() -> None:
    curve = ParCurve.parse("1:4.5,2:4.4,5:4.2,10:4.3,30:4.5")
    r = price_pass_through(POOL, prepayment=PSA150, price=100.0, curve=curve)
    assert r.z_spread_bp is not None and r.spread_to_curve_bp is not None
    cf = project_pool(**POOL.project_kwargs(), prepayment=PSA150)
    assert r.z_spread_bp == pytest.approx(
        z_spread(cf.cash_flow, POOL.balance, curve.zero_curve(), 100.0), abs=1e-9)
    d = r.as_dict()
    assert "yield" in d and "yield_" not in d
    assert d["yield"] == r.measures.yield_ and 0.0 < d["yield"] < 0.2  # a decimal
    plain = price_pass_through(POOL, prepayment=PSA150, price=100.0).as_dict()
    assert "z_spread_bp" not in plain and "effective_duration" not in plain


def test_effective_measures_need_a_generic_pool_and_one_psa_speed() -> None:
    r = price_pass_through(POOL, prepayment=PSA150, price=102.0, effective=True,
                           mortgage_rate=0.06, shift_bp=20.0)
    assert r.effective is not None and r.effective.shift_bp == 20.0
    assert math.isfinite(r.effective.effective_duration)
    with pytest.raises(InputError, match="loan tape"):
        price_pass_through(generate_tape(5, seed=1), prepayment=PSA150, price=100.0,
                           effective=True)
    with pytest.raises(InputError, match="one PSA speed, got"):
        price_pass_through(POOL, prepayment=Prepayment.cpr(0.06), price=100.0, effective=True)


def test_exactly_one_of_price_and_yield() -> None:
    with pytest.raises(InputError, match="exactly one of price and yield_"):
        price_pass_through(POOL, prepayment=PSA150)
    with pytest.raises(InputError, match="exactly one of price and yield_"):
        price_pass_through(POOL, prepayment=PSA150, price=100.0, yield_=0.05)


def test_the_command_converts_percent_flags_and_prints_the_library_result() -> None:
    res = CliRunner().invoke(app, [
        "price", "--price", "101.5", "--balance", "2500000", "--wac", "6.75",
        "--net-coupon", "6.25", "--age", "12", "--psa", "150", "--cdr", "1",
        "--severity", "30", "--lag", "6", "--stated-delay", "55", "--json",
    ])
    assert res.exit_code == 0, res.output
    lib = price_pass_through(POOL, prepayment=PSA150, default=Default.cdr(0.01), severity=0.3,
                             lag=6, price=101.5, delay_days=24)
    assert json.loads(res.stdout) == pytest.approx(lib.as_dict(), rel=1e-12)
