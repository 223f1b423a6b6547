"""Prepayment and Default assumptions: vectors by period and by age, validation."""

from __future__ import annotations

import numpy as np
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.errors import AssumptionError


def test_constant_cpr_vector() -> None:
    v = Prepayment.cpr(0.06).smm_vector(12, 5)
    np.testing.assert_allclose(v, np.full(5, 1 - 0.94 ** (1 / 12)), rtol=1e-9, atol=1e-15)


def test_smm_vector_by_period_extends_last_value() -> None:
    v = Prepayment.smm([0.01, 0.02, 0.03]).smm_vector(100, 5)
    np.testing.assert_array_equal(v, [0.01, 0.02, 0.03, 0.03, 0.03])


def test_psa_uses_age_at_end_of_period() -> None:
    # a loan aged 13 at the start: period 1 is MONTH 14, period 2 MONTH 15 (3% CPR at 100)
    v = Prepayment.psa(100).smm_vector(13, 3)
    want = [1 - (1 - 0.002 * m) ** (1 / 12) for m in (14, 15, 16)]
    np.testing.assert_allclose(v, want, rtol=1e-9, atol=1e-15)


def test_psa_vector_of_speeds() -> None:
    v = Prepayment.psa([100, 200]).smm_vector(29, 3)  # MONTHs 30, 31, 32
    want = [1 - (1 - c) ** (1 / 12) for c in (0.06, 0.12, 0.12)]
    np.testing.assert_allclose(v, want, rtol=1e-9, atol=1e-15)


def test_abs_vector() -> None:
    v = Prepayment.abs(0.02).smm_vector(9, 2)  # MONTHs 10 and 11
    np.testing.assert_allclose(v, [0.02 / (1 - 0.02 * 9), 0.025], rtol=1e-9, atol=1e-15)


def test_smm_matrix_columns_match_vectors() -> None:
    p = Prepayment.psa(150)
    m = p.smm_matrix([0, 7, 40], 50)
    for k, age in enumerate((0, 7, 40)):
        np.testing.assert_array_equal(m[:, k], p.smm_vector(age, 50))


def test_sda_vector_zero_in_last_lag_months() -> None:
    d = Default.sda(100)
    v = d.mdr_vector(0, 10, 10, lag=3)
    want = [1 - (1 - 0.0002 * m) ** (1 / 12) for m in range(1, 8)] + [0.0, 0.0, 0.0]
    np.testing.assert_allclose(v, want, rtol=1e-9, atol=1e-15)


def test_sda_vector_shape_over_life() -> None:
    d = Default.sda(100)
    v = d.mdr_vector(0, 360, 360, lag=12)
    cdr = 1 - (1 - v) ** 12
    assert cdr[29] == pytest.approx(0.006)  # month 30
    assert cdr[59] == pytest.approx(0.006)  # month 60
    assert cdr[119] == pytest.approx(0.0003)  # month 120
    assert cdr[347] == pytest.approx(0.0003)  # month 348 = 360 - 12
    assert np.all(cdr[348:] == 0.0)


def test_cdr_vector() -> None:
    v = Default.cdr([0.01, 0.02]).mdr_vector(0, 3, 360)
    np.testing.assert_allclose(v, [1 - 0.99 ** (1 / 12), 1 - 0.98 ** (1 / 12),
                                   1 - 0.98 ** (1 / 12)], rtol=1e-9, atol=1e-15)


def test_mdr_constant() -> None:
    assert np.all(Default.mdr(0.001).mdr_vector(5, 4, 100) == 0.001)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Prepayment.cpr(1.5),
        lambda: Prepayment.cpr([0.05, -0.01]),
        lambda: Prepayment.psa(-100),
        lambda: Prepayment.smm(float("nan")),
        lambda: Prepayment.cpr([]),
        lambda: Default.cdr(2.0),
        lambda: Default.sda(-1),
    ],
)
def test_bad_assumptions_rejected(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AssumptionError):
        make()


def test_error_names_element() -> None:
    with pytest.raises(AssumptionError, match=r"element 1, period 2.*-0.01"):
        Prepayment.cpr([0.05, -0.01])


def test_describe() -> None:
    assert Prepayment.psa(150).describe() == "150 PSA"
    assert Prepayment.cpr(0.06).describe() == "6% CPR"
    assert Default.sda(100).describe() == "100 SDA"
    assert Default.cdr(0.02).describe() == "2% CDR"


def test_values_frozen() -> None:
    p = Prepayment.cpr(0.06)
    with pytest.raises(ValueError):
        p.values[0] = 0.1
