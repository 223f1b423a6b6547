"""Table tests for the SIFMA rate conventions; expected values worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmbs.behaviour import (
    abs_to_smm,
    balance_factor,
    cdr_to_mdr,
    cpr_to_psa,
    cpr_to_smm,
    historical_abs,
    historical_cpr,
    historical_psa,
    historical_smm,
    mdr_to_cdr,
    psa_to_cpr,
    psa_to_smm,
    sda_cdr,
    sda_mdr,
    smm_to_abs,
    smm_to_cpr,
)
from openmbs.errors import AssumptionError


@pytest.mark.parametrize(
    ("cpr", "smm"),
    [
        (0.0, 0.0),
        (0.06, 1 - 0.94 ** (1 / 12)),  # 0.005143...
        (0.12, 1 - 0.88 ** (1 / 12)),
        (1.0, 1.0),
    ],
)
def test_cpr_smm_table(cpr: float, smm: float) -> None:
    assert cpr_to_smm(cpr) == pytest.approx(smm, rel=1e-12, abs=1e-15)
    assert smm_to_cpr(smm) == pytest.approx(cpr, rel=1e-12, abs=1e-15)


def test_six_cpr_is_0_5143_percent_smm() -> None:
    # (1 - SMM)^12 = 0.94  ->  SMM = 1 - exp(ln(0.94)/12) = 0.0051430128...
    assert cpr_to_smm(0.06) == pytest.approx(0.00514301, abs=5e-9)
    assert smm_to_cpr(0.01) == pytest.approx(1 - 0.99**12)  # 11.3615%


@pytest.mark.parametrize(
    ("psa", "month", "cpr"),
    [
        (100, 0, 0.002),  # MONTH below 1 counts as 1
        (100, 1, 0.002),
        (100, 15, 0.03),
        (100, 29, 0.058),
        (100, 30, 0.06),
        (100, 200, 0.06),
        (150, 17, 0.051),  # SF-8 example: 150% PSA in month 17 is 5.1% CPR
        (200, 30, 0.12),
        (50, 10, 0.01),
        (2000, 30, 1.0),  # capped at 100%
        (0, 30, 0.0),
    ],
)
def test_psa_table(psa: float, month: int, cpr: float) -> None:
    assert psa_to_cpr(psa, month) == pytest.approx(cpr, abs=1e-15)
    assert psa_to_smm(psa, month) == pytest.approx(1 - (1 - cpr) ** (1 / 12), abs=1e-15)


def test_cpr_to_psa_inverts_single_month() -> None:
    assert cpr_to_psa(0.051, 17) == pytest.approx(150.0)
    assert cpr_to_psa(0.09, 45) == pytest.approx(150.0)  # seasoned: 100 * 9 / 6


def test_psa_vectorised() -> None:
    months = np.arange(1, 41)
    got = psa_to_cpr(100, months)
    want = np.array([min(0.002 * m, 0.06) for m in range(1, 41)])
    np.testing.assert_allclose(got, want, atol=1e-15)


@pytest.mark.parametrize(
    ("sda", "month", "cdr"),
    [
        (100, 1, 0.0002),
        (100, 15, 0.003),
        (100, 30, 0.006),  # peak
        (100, 45, 0.006),
        (100, 60, 0.006),
        (100, 61, 0.006 - 0.000095),
        (100, 90, 0.006 - 0.000095 * 30),  # 0.00315
        (100, 120, 0.0003),  # tail reached
        (100, 121, 0.0003),
        (100, 300, 0.0003),
        (200, 30, 0.012),
        (50, 120, 0.00015),
    ],
)
def test_sda_table(sda: float, month: int, cdr: float) -> None:
    assert sda_cdr(sda, month) == pytest.approx(cdr, abs=1e-15)
    assert sda_mdr(sda, month) == pytest.approx(1 - (1 - cdr) ** (1 / 12), abs=1e-15)


def test_cdr_mdr_table() -> None:
    assert cdr_to_mdr(0.006) == pytest.approx(1 - 0.994 ** (1 / 12), abs=1e-16)
    assert mdr_to_cdr(0.01) == pytest.approx(1 - 0.99**12)
    assert cdr_to_mdr(0.0) == 0.0


@pytest.mark.parametrize(
    ("abs_speed", "month", "smm"),
    [
        (0.02, 11, 0.025),  # SF-14 example: 2% ABS in month 11 = 2 / (100 - 2*10)
        (0.02, 1, 0.02),
        (0.01, 10, 0.01 / 0.91),
        (0.015, 30, 0.015 / (1 - 0.015 * 29)),
        (0.02, 50, 1.0),  # 2 / (100 - 98): every remaining loan prepays
        (0.02, 60, 1.0),
    ],
)
def test_abs_table(abs_speed: float, month: int, smm: float) -> None:
    assert abs_to_smm(abs_speed, month) == pytest.approx(smm, rel=1e-12)
    if smm < 1.0:
        assert smm_to_abs(smm, month) == pytest.approx(abs_speed, rel=1e-12)


def test_balance_factor_sf_example() -> None:
    # SF-7/8: 9.5% gross, M0 = 359, BAL1 (M=344) = 0.99213300, BAL2 (M=343) = 0.99157471
    assert balance_factor(0.095, 344, 359) == pytest.approx(0.99213300, abs=5e-9)
    assert balance_factor(0.095, 343, 359) == pytest.approx(0.99157471, abs=5e-9)
    assert balance_factor(0.06, 360, 360) == 1.0
    assert balance_factor(0.06, 0, 360) == 0.0
    assert balance_factor(0.0, 180, 360) == 0.5


def test_balance_factor_by_hand() -> None:
    # 12% over 3 months: payment 10/(1-1.01^-3); after one month 1000*1.01 - payment
    pay = 0.01 / (1 - 1.01**-3)
    assert balance_factor(0.12, 2, 3) == pytest.approx(1.01 - pay, rel=1e-12)


def test_historical_speeds_sf_example() -> None:
    # SF-7/8: F1 = 0.85150625, F2 = 0.84732282 -> SMM 0.435270%, CPR 5.1000%, 150% PSA
    kw = {"coupon": 0.095, "original_term": 359, "remaining_term": 344}
    smm = historical_smm(0.85150625, 0.84732282, **kw)
    assert smm == pytest.approx(0.00435270, abs=5e-9)
    assert historical_cpr(0.85150625, 0.84732282, **kw) == pytest.approx(0.0510, abs=5e-6)
    psa = historical_psa(0.85150625, 0.84732282, loan_age=16, **kw)
    assert psa == pytest.approx(150.0, abs=0.01)


def test_historical_psa_over_several_months_iterates() -> None:
    # Build factors from a known 175% PSA over 6 months of a new 7% loan, then invert.
    f = 1.0
    for month in range(1, 7):
        ratio = balance_factor(0.07, 360 - month, 360) / balance_factor(0.07, 361 - month, 360)
        f *= ratio * (1 - psa_to_smm(175, month))
    got = historical_psa(1.0, f, coupon=0.07, original_term=360, remaining_term=360,
                         loan_age=0, months=6)
    assert got == pytest.approx(175.0, abs=1e-6)
    # the average SMM reproduces the end factor
    smm = historical_smm(1.0, f, coupon=0.07, original_term=360, remaining_term=360, months=6)
    sched = balance_factor(0.07, 354, 360)
    assert sched * (1 - smm) ** 6 == pytest.approx(f, rel=1e-12)


def test_historical_abs() -> None:
    # 1.5% ABS over months 5..7 of a 36-month 9% loan
    f = 1.0
    for month in range(5, 8):
        ratio = balance_factor(0.09, 36 - month, 36) / balance_factor(0.09, 37 - month, 36)
        f *= ratio * (1 - abs_to_smm(0.015, month))
    got = historical_abs(1.0, f, coupon=0.09, original_term=36, remaining_term=32,
                         loan_age=4, months=3)
    assert got == pytest.approx(0.015, rel=1e-10)


@pytest.mark.parametrize(
    ("func", "args"),
    [
        (cpr_to_smm, (1.2,)),
        (cpr_to_smm, (-0.01,)),
        (smm_to_cpr, (float("nan"),)),
        (psa_to_cpr, (-5, 10)),
        (sda_cdr, (-1, 10)),
        (abs_to_smm, (1.5, 3)),
        (cdr_to_mdr, (2.0,)),
    ],
)
def test_out_of_range_rejected(func, args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AssumptionError, match="must"):
        func(*args)


def test_error_names_value() -> None:
    with pytest.raises(AssumptionError, match=r"1\.2"):
        cpr_to_smm(1.2)
    with pytest.raises(AssumptionError):
        historical_smm(0.5, 0.6, coupon=0.05, original_term=360, remaining_term=300)


@given(st.floats(0.0, 1.0))
def test_cpr_smm_roundtrip(cpr: float) -> None:
    back = smm_to_cpr(cpr_to_smm(cpr))
    assert math.isclose(back, cpr, rel_tol=1e-9, abs_tol=1e-12)


@given(st.floats(0.0, 0.05), st.integers(1, 40))
def test_abs_roundtrip(abs_speed: float, month: int) -> None:
    smm = abs_to_smm(abs_speed, month)
    if smm < 1.0:
        assert math.isclose(smm_to_abs(smm, month), abs_speed, rel_tol=1e-9, abs_tol=1e-15)
