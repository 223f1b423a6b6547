"""Effective duration and convexity: sanity against analytic measures, and the sign of
convexity of a prepaying pass-through at a premium."""

from __future__ import annotations

import math

import numpy as np
import pytest

from openmbs.errors import InputError
from openmbs.pricing import (
    RefinancingSCurve,
    ZeroCurve,
    analyze,
    effective_measures,
    pass_through_projector,
    payment_times,
    price_from_yield,
)


def _toy_pass_through(
    balance: float, wac: float, net: float, term: int, psa_of_shift: object
) -> object:
    """An independent level-pay pass-through projector, written here for the tests.

    SIFMA PSA: CPR = min(psa/100 * 0.2% * min(age, 30), 1) with age at period end;
    SMM = 1 - (1 - CPR)^(1/12); prepayment = SMM * (balance - scheduled principal).
    """

    def project(shift: float) -> tuple[np.ndarray, np.ndarray, float]:
        psa = psa_of_shift(shift)  # type: ignore[operator]
        bal, g = balance, wac / 12
        cf, prin = np.zeros(term), np.zeros(term)
        for k in range(term):
            rem = term - k
            pay = bal * g / (1 - (1 + g) ** -rem)
            sched = pay - bal * g
            cpr = min(psa / 100 * 0.002 * min(k + 1, 30), 1.0)
            smm = 1 - (1 - cpr) ** (1 / 12)
            pre = smm * (bal - sched)
            prin[k] = sched + pre
            cf[k] = bal * net / 12 + prin[k]
            bal -= prin[k]
        return cf, prin, balance

    return project


def test_fixed_cash_flows_effective_equals_modified() -> None:
    # Without prepayment the cash flows do not move: the central differences of the
    # price in the yield approach the modified duration and the convexity.
    rng = np.random.default_rng(7)
    cf = rng.uniform(0.0, 3.0, 120)
    cf[-1] += 100.0
    prin = np.zeros(120)
    prin[-1] = 100.0
    a = analyze(cf, prin, 100.0, yield_=0.06, delay_days=24)
    e = effective_measures(lambda s: (cf, prin, 100.0), yield_=0.06, delay_days=24, shift_bp=1)
    assert e.effective_duration == pytest.approx(a.modified_duration, rel=1e-6)
    assert e.effective_convexity == pytest.approx(a.convexity, rel=1e-4)
    assert e.effective_convexity > 0
    assert e.price == pytest.approx(a.price)
    assert e.price_down > e.price > e.price_up


def test_curve_based_fixed_flows_by_hand() -> None:
    # Curve-based, fixed flows on a flat continuous curve: dP/dr = -sum t CF e^{-(r+s)t},
    # so the effective duration tends to sum t PV / P (continuous Macaulay).
    cf = np.full(60, 2.0)
    cf[-1] += 100.0
    curve = ZeroCurve([1.0], [0.04])
    price = price_from_yield(cf, 100.0, 0.05)
    e = effective_measures(
        lambda s: (cf, cf * 0 + 1.0, 100.0), price=price, curve=curve, shift_bp=0.5
    )
    assert e.z_spread_bp is not None and e.yield_ is None
    rate = 0.04 + e.z_spread_bp / 1e4
    t = payment_times(60)
    pv = cf * np.exp(-rate * t)
    assert e.effective_duration == pytest.approx(float(np.dot(t, pv) / pv.sum()), rel=1e-7)
    assert e.effective_convexity == pytest.approx(float(np.dot(t * t, pv) / pv.sum()), rel=1e-4)


def test_refinancing_s_curve() -> None:
    rule = RefinancingSCurve(floor=0.5, cap=4.0, midpoint=0.005, slope=300.0)
    # At the midpoint arctan(0) = 0: floor + (cap - floor)/2 = 2.25.
    assert rule(0.005) == pytest.approx(2.25)
    # Deep in / out of the money: towards cap / floor; monotone.
    assert rule(1.0) == pytest.approx(4.0, abs=0.01)
    assert rule(-1.0) == pytest.approx(0.5, abs=0.01)
    xs = np.linspace(-0.03, 0.03, 61)
    assert np.all(np.diff([rule(x) for x in xs]) > 0)
    # 1/2 + arctan(1)/pi = 3/4 at midpoint + 1/slope.
    assert rule(0.005 + 1 / 300) == pytest.approx(0.5 + 3.5 * 0.75)
    with pytest.raises(InputError):
        RefinancingSCurve(floor=2.0, cap=1.0)


def _rule_speed(rule: RefinancingSCurve, wac: float, rate: float, base_psa: float):  # type: ignore[no-untyped-def]
    base = rule(wac - rate)
    return lambda shift: base_psa * rule(wac - (rate + shift)) / base


def test_premium_pass_through_has_negative_convexity() -> None:
    # 7% WAC / 6.5% net pool with the market rate at 6%: a 100 bp refinancing
    # incentive, priced at a 6% yield (a premium). Falling rates speed prepayments
    # up and cap the price gain: negative effective convexity, shorter duration than the
    # static (fixed cash flow) modified duration.
    rule = RefinancingSCurve()
    project = _toy_pass_through(1e6, 0.07, 0.065, 360, _rule_speed(rule, 0.07, 0.06, 150.0))
    e = effective_measures(project, yield_=0.06, delay_days=24, shift_bp=25)
    cf, prin, bal = project(0.0)
    static = analyze(cf, prin, bal, yield_=0.06, delay_days=24)
    assert static.price > 100.0
    assert e.effective_convexity < 0.0
    assert e.effective_duration < static.modified_duration
    # The same pool with rate-independent speeds has positive convexity.
    fixed = effective_measures(lambda s: (cf, prin, bal), yield_=0.06, delay_days=24, shift_bp=25)
    assert fixed.effective_convexity > 0.0


def test_pass_through_projector_with_project_pool() -> None:
    # The library projector (openmbs.cashflow.project_pool + PSA from the rule):
    # at the base shift it runs exactly the given PSA; at a premium it shows negative
    # convexity.
    from openmbs.behaviour import Prepayment
    from openmbs.cashflow import project_pool

    kw = dict(
        balance=1e6, gross_coupon=0.07, net_coupon=0.065, original_term=360, remaining_term=360
    )
    project = pass_through_projector(**kw, psa=150.0, mortgage_rate=0.06)  # type: ignore[arg-type]
    base = project(0.0)
    ref = project_pool(**kw, prepayment=Prepayment.psa(150.0))  # type: ignore[arg-type]
    np.testing.assert_allclose(base.cash_flow, ref.cash_flow, rtol=1e-13)
    # Rates down 25 bp -> faster prepayment -> more principal early.
    assert project(-0.0025).principal[:12].sum() > base.principal[:12].sum()
    e = effective_measures(project, yield_=0.06, delay_days=24)
    assert e.effective_convexity < 0.0

    # The hook: a constant speed makes the measures those of fixed cash flows.
    hooked = pass_through_projector(**kw, prepayment_for_shift=lambda s: Prepayment.psa(150.0))  # type: ignore[arg-type]
    h = effective_measures(hooked, yield_=0.06, delay_days=24, shift_bp=1)
    a = analyze(base.cash_flow, base.principal, 1e6, yield_=0.06, delay_days=24)
    assert h.effective_duration == pytest.approx(a.modified_duration, rel=1e-6)


def test_effective_input_errors() -> None:
    cf = np.array([1.0, 101.0])
    with pytest.raises(InputError, match="shift_bp"):
        effective_measures(lambda s: (cf, cf, 100.0), yield_=0.05, shift_bp=0)
    with pytest.raises(InputError, match="exactly one"):
        effective_measures(lambda s: (cf, cf, 100.0))
    with pytest.raises(InputError, match="balance moved"):
        effective_measures(lambda s: (cf, cf, 100.0 + s), yield_=0.05)
    with pytest.raises(InputError, match="projector returned"):
        effective_measures(lambda s: 3.0, yield_=0.05)
    assert math.isfinite(
        effective_measures(lambda s: (cf, cf, 100.0), price=99.0).effective_duration
    )
