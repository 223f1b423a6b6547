"""Rate-dependent prepayment model: formulas by hand, shapes, and calibration recovery."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.behaviour.models import (
    DEFAULT_SEASONALITY,
    RefiPrepaymentModel,
    calibrate_refi_model,
)
from openmbs.errors import AssumptionError, InputError

FLAT = (1.0,) * 12


def test_turnover_alone_is_a_psa_ramp() -> None:
    # 6% CPR turnover with a 30-month ramp and no seasonality is 100% PSA:
    # CPR = 0.2% x min(age at the end of the period, 30).
    m = RefiPrepaymentModel(turnover_cpr=0.06, refi_max_cpr=0.0, seasonality=FLAT)
    cpr = m.cpr(np.full(40, 0.07), note_rate=0.05, loan_age=0)
    age = np.arange(1, 41)
    np.testing.assert_allclose(cpr, 0.002 * np.minimum(age, 30), rtol=1e-12)
    smm = m.smm(np.full(40, 0.07), note_rate=0.05, loan_age=0)
    np.testing.assert_allclose((1 - smm) ** 12, 1 - cpr, rtol=1e-12)


def test_seasonality_multiplies_turnover_by_calendar_month() -> None:
    assert np.mean(DEFAULT_SEASONALITY) == pytest.approx(1.0, abs=1e-15)
    m = RefiPrepaymentModel(turnover_cpr=0.07, refi_max_cpr=0.0)
    cpr = m.cpr(np.full(24, 0.08), note_rate=0.04, loan_age=60, start_month=11)
    months = (10 + np.arange(24)) % 12  # November first
    np.testing.assert_allclose(cpr, 0.07 * np.asarray(DEFAULT_SEASONALITY)[months])
    # Summer faster than winter, as described for housing turnover.
    assert DEFAULT_SEASONALITY[6] > DEFAULT_SEASONALITY[0]


def test_s_curve_and_burnout_by_hand() -> None:
    m = RefiPrepaymentModel(
        turnover_cpr=0.0, refi_max_cpr=0.5, refi_center=0.01, refi_width=0.002, burnout=0.0
    )
    # At the centre of the S-curve the response is half its maximum.
    mid = m.cpr([0.05], note_rate=0.06, loan_age=100)
    assert float(mid[0]) == pytest.approx(0.25, rel=1e-12)
    inc = np.linspace(-0.03, 0.04, 50)
    resp = m.cpr(0.06 - inc[:, None], note_rate=0.06, loan_age=100)[:, 0]
    assert np.all(np.diff(resp) > 0)
    assert resp[-1] == pytest.approx(0.5 / (1 + np.exp(-(0.04 - 0.01) / 0.002)), rel=1e-12)
    # Burnout: a constant 2% incentive builds exposure 0.02/12 a month; month t's
    # response is the unburnt one times exp(-b * 0.02 * (t-1) / 12).
    b = 30.0
    mb = RefiPrepaymentModel(
        turnover_cpr=0.0, refi_max_cpr=0.5, refi_center=0.01, refi_width=0.002, burnout=b
    )
    cpr = mb.cpr(np.full(36, 0.04), note_rate=0.06, loan_age=100)
    s = 0.5 / (1 + np.exp(-(0.02 - 0.01) / 0.002))
    t = np.arange(1, 37)
    np.testing.assert_allclose(cpr, s * np.exp(-b * 0.02 * (t - 1) / 12), rtol=1e-12)


def test_shapes_and_vectorised_equals_per_loan() -> None:
    rng = np.random.default_rng(0)
    rates = 0.05 + 0.01 * rng.standard_normal((7, 48)).cumsum(axis=1) / 10
    notes = np.array([0.035, 0.05, 0.065])
    ages = np.array([0, 12, 40])
    m = RefiPrepaymentModel()
    out = m.smm(rates, note_rate=notes, loan_age=ages, start_month=3)
    assert out.shape == (7, 3, 48)
    for j in range(3):
        one = m.smm(rates, note_rate=notes[j], loan_age=ages[j], start_month=3)
        assert one.shape == (7, 48)
        np.testing.assert_allclose(out[:, j, :], one, rtol=1e-14)
    assert np.all((out >= 0) & (out < 1))
    # Lower rates on a path mean faster prepayment for the same loan.
    low = m.cpr(np.full(48, 0.03), note_rate=0.05, loan_age=30)
    high = m.cpr(np.full(48, 0.07), note_rate=0.05, loan_age=30)
    assert np.all(low > high)


def test_driven_by_hull_white_paths() -> None:
    from openmbs.risk import HullWhite, mortgage_rate_paths

    hw = HullWhite(([1.0, 10.0, 30.0], [0.04, 0.042, 0.045]), a=0.05, sigma=0.012)
    p = hw.simulate(100, 120, seed=2)
    rates = mortgage_rate_paths(hw, p)
    smm = RefiPrepaymentModel().smm(rates, note_rate=0.065, loan_age=6)
    assert smm.shape == (100, 120)
    # Paths whose 5-year mortgage rate is lower prepay faster over the first 5 years.
    k = 60
    lo, hi = rates[:, k] < np.median(rates[:, k]), rates[:, k] >= np.median(rates[:, k])
    assert smm[lo, :k].mean() > smm[hi, :k].mean()


def _history() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ten years of a mortgage rate that falls, bottoms and rises; five cohorts."""
    months = np.arange(120)
    rate = 0.065 - 0.03 * np.sin(np.pi * np.clip(months / 100, 0, 1)) + 0.002 * np.sin(months / 5)
    notes = np.array([0.035, 0.045, 0.055, 0.065, 0.075])
    ages = np.array([0, 12, 24, 6, 36])
    return rate, notes, ages


TRUE = RefiPrepaymentModel(
    turnover_cpr=0.065, refi_max_cpr=0.45, refi_center=0.006, refi_width=0.002, burnout=25.0
)


def test_calibration_recovers_parameters_without_noise() -> None:
    rate, notes, ages = _history()
    cpr = TRUE.cpr(rate, note_rate=notes, loan_age=ages, start_month=4)
    fit = calibrate_refi_model(cpr, rate, note_rate=notes, loan_age=ages, start_month=4)
    for name, value in TRUE.params().items():
        assert getattr(fit.model, name) == pytest.approx(value, rel=1e-5), name
    assert fit.rmse < 1e-8


def test_calibration_recovers_parameters_from_noisy_history() -> None:
    rate, notes, ages = _history()
    cpr = TRUE.cpr(rate, note_rate=notes, loan_age=ages, start_month=4)
    noise = np.random.default_rng(7).normal(0.0, 0.01, cpr.shape)  # 1 CPR point
    observed = cpr + noise
    observed[2, 50:60] = np.nan  # a gap in one cohort's history
    far = RefiPrepaymentModel(  # start well away from the truth
        turnover_cpr=0.03, refi_max_cpr=0.2, refi_center=0.015, refi_width=0.005, burnout=80.0
    )
    fit = calibrate_refi_model(
        observed, rate, note_rate=notes, loan_age=ages, start_month=4, initial=far
    )
    assert fit.n_obs == cpr.size - 10
    assert fit.rmse == pytest.approx(0.01, rel=0.15)  # residuals are the noise
    for name in fit.fitted:
        true, est, se = getattr(TRUE, name), getattr(fit.model, name), fit.std_errors[name]
        assert abs(est - true) < 4 * se, (name, est, true, se)
        assert se < 0.15 * abs(true), (name, se)  # and the data pin it down


def test_calibration_subset_and_errors() -> None:
    rate, notes, ages = _history()
    cpr = TRUE.cpr(rate, note_rate=notes, loan_age=ages)
    start = RefiPrepaymentModel(refi_center=0.006, refi_width=0.002, burnout=25.0)
    fit = calibrate_refi_model(
        cpr,
        rate,
        note_rate=notes,
        loan_age=ages,
        fit=["turnover_cpr", "refi_max_cpr"],
        initial=start,
    )
    assert fit.fitted == ("turnover_cpr", "refi_max_cpr")
    assert fit.model.turnover_cpr == pytest.approx(0.065, rel=1e-6)
    assert fit.model.refi_center == 0.006
    # One rate history per cohort is the same as a shared one when the rows are equal.
    per_cohort = np.tile(rate, (len(notes), 1))
    fit2 = calibrate_refi_model(
        cpr,
        per_cohort,
        note_rate=notes,
        loan_age=ages,
        fit=["turnover_cpr", "refi_max_cpr"],
        initial=start,
    )
    assert fit2.model == fit.model
    with pytest.raises(InputError, match="expected distinct names"):
        calibrate_refi_model(cpr, rate, note_rate=notes, loan_age=ages, fit=["speed"])
    with pytest.raises(InputError, match="shape"):
        calibrate_refi_model(cpr, rate[:-1], note_rate=notes, loan_age=ages)
    with pytest.raises(AssumptionError, match="refi_width"):
        RefiPrepaymentModel(refi_width=0.0)
    with pytest.raises(AssumptionError, match="seasonality"):
        RefiPrepaymentModel(seasonality=(1.0,) * 11)


@settings(max_examples=40)
@given(
    turnover=st.floats(0.0, 0.15),
    refi_max=st.floats(0.0, 1.0),
    center=st.floats(-0.02, 0.03),
    width=st.floats(1e-4, 0.02),
    burnout=st.floats(0.0, 200.0),
    note=st.floats(0.0, 0.12),
    age=st.integers(0, 400),
    month=st.integers(1, 12),
)
def test_rates_are_probabilities_and_fall_as_mortgage_rates_rise(
    turnover: float,
    refi_max: float,
    center: float,
    width: float,
    burnout: float,
    note: float,
    age: int,
    month: int,
) -> None:
    m = RefiPrepaymentModel(
        turnover_cpr=turnover,
        refi_max_cpr=refi_max,
        refi_center=center,
        refi_width=width,
        burnout=burnout,
    )
    base = np.linspace(0.02, 0.09, 13)
    rates = base[:, None] + np.zeros(36)[None, :]  # flat histories at 13 levels
    cpr = m.cpr(rates, note_rate=note, loan_age=age, start_month=month)
    assert np.all((cpr >= 0.0) & (cpr <= 1.0))
    # Before any burnout has built up, a higher rate never means faster prepayment.
    assert np.all(np.diff(cpr[:, 0]) <= 1e-15)
    # Later on, a low-rate history has burnt out more, so only without burnout does
    # the ordering hold in every period.
    unburnt = replace(m, burnout=0.0).cpr(rates, note_rate=note, loan_age=age, start_month=month)
    assert np.all(np.diff(unburnt, axis=0) <= 1e-15)
    smm = m.smm(rates, note_rate=note, loan_age=age, start_month=month)
    np.testing.assert_allclose(1 - (1 - smm) ** 12, cpr, atol=1e-12)
