"""Prepayment and default rate conventions of the SIFMA Standard Formulas.

All rates are decimals (``0.06`` is 6% CPR). PSA and SDA speeds are in percent of the
benchmark curve (``100`` is 100% PSA), as the market quotes them. ``month`` is the
SIFMA ``MONTH``: the loan age at the *end* of the period, so the first month of a new
loan is ``month=1``.

Every function takes a scalar or an array and returns a float or an array of the same
shape (numpy broadcasting rules).
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt

from openmbs.errors import AssumptionError

__all__ = [
    "abs_to_smm",
    "balance_factor",
    "cdr_to_mdr",
    "cpr_to_psa",
    "cpr_to_smm",
    "historical_abs",
    "historical_cpr",
    "historical_psa",
    "historical_smm",
    "mdr_to_cdr",
    "psa_to_cpr",
    "psa_to_smm",
    "sda_cdr",
    "sda_mdr",
    "smm_to_abs",
    "smm_to_cpr",
]

FloatArray = npt.NDArray[np.float64]


def _arr(x: npt.ArrayLike, name: str) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise AssumptionError(f"{name} must be finite, got {x!r}")
    return a


def _unit(x: npt.ArrayLike, name: str) -> FloatArray:
    """A rate that must lie in [0, 1] (a decimal fraction of a balance)."""
    a = _arr(x, name)
    bad = (a < 0.0) | (a > 1.0)
    if np.any(bad):
        v = float(np.atleast_1d(a)[np.atleast_1d(bad)][0])
        raise AssumptionError(
            f"{name} must be a decimal between 0 and 1 (0.06 is 6%), got {v!r}"
        )
    return a


def _nonneg(x: npt.ArrayLike, name: str) -> FloatArray:
    a = _arr(x, name)
    if np.any(a < 0.0):
        v = float(np.atleast_1d(a)[np.atleast_1d(a < 0.0)][0])
        raise AssumptionError(f"{name} must be >= 0, got {v!r}")
    return a


def _ret(a: FloatArray) -> float | FloatArray:
    return float(a) if a.ndim == 0 else a


@overload
def cpr_to_smm(cpr: float) -> float: ...
@overload
def cpr_to_smm(cpr: npt.ArrayLike) -> float | FloatArray: ...
def cpr_to_smm(cpr: npt.ArrayLike) -> float | FloatArray:
    """Single monthly mortality from a conditional (annual) prepayment rate.

    Parameters
    ----------
    cpr : float or array_like
        Annual rate, decimal in [0, 1].

    Returns
    -------
    float or ndarray
        ``1 - (1 - cpr) ** (1/12)``.

    Notes
    -----
    SIFMA Standard Formulas SF-6: ``(1 - SMM)^12 = 1 - CPR``.

    Examples
    --------
    >>> round(cpr_to_smm(0.06), 8)
    0.00514301
    """
    a = _unit(cpr, "cpr")
    return _ret(1.0 - (1.0 - a) ** (1.0 / 12.0))


@overload
def smm_to_cpr(smm: float) -> float: ...
@overload
def smm_to_cpr(smm: npt.ArrayLike) -> float | FloatArray: ...
def smm_to_cpr(smm: npt.ArrayLike) -> float | FloatArray:
    """Conditional prepayment rate from single monthly mortality: ``1 - (1-smm)^12``.

    Notes
    -----
    SIFMA Standard Formulas SF-6.

    Examples
    --------
    >>> round(smm_to_cpr(0.01), 8)
    0.11361513
    """
    a = _unit(smm, "smm")
    return _ret(1.0 - (1.0 - a) ** 12)


@overload
def cdr_to_mdr(cdr: float) -> float: ...
@overload
def cdr_to_mdr(cdr: npt.ArrayLike) -> float | FloatArray: ...
def cdr_to_mdr(cdr: npt.ArrayLike) -> float | FloatArray:
    """Monthly default rate from a constant (annual) default rate: ``1-(1-cdr)^(1/12)``.

    Notes
    -----
    SIFMA Standard Formulas SF-17 (same relation as CPR and SMM).

    Examples
    --------
    >>> round(cdr_to_mdr(0.006), 8)
    0.00050138
    """
    a = _unit(cdr, "cdr")
    return _ret(1.0 - (1.0 - a) ** (1.0 / 12.0))


@overload
def mdr_to_cdr(mdr: float) -> float: ...
@overload
def mdr_to_cdr(mdr: npt.ArrayLike) -> float | FloatArray: ...
def mdr_to_cdr(mdr: npt.ArrayLike) -> float | FloatArray:
    """Constant (annual) default rate from a monthly default rate: ``1-(1-mdr)^12``."""
    a = _unit(mdr, "mdr")
    return _ret(1.0 - (1.0 - a) ** 12)


@overload
def psa_to_cpr(psa: float, month: float) -> float: ...
@overload
def psa_to_cpr(psa: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray: ...
def psa_to_cpr(psa: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray:
    """CPR of a PSA speed in a given month of loan age.

    Parameters
    ----------
    psa : float or array_like
        Speed in percent of the PSA benchmark (100 is 100% PSA).
    month : int or array_like
        Loan age at the end of the period (SIFMA ``MONTH``; 1 for a new loan's first
        month).

    Returns
    -------
    float or ndarray
        Decimal CPR: ``min(psa/100 * 0.002 * max(1, min(month, 30)), 1)``.

    Notes
    -----
    SIFMA Standard Formulas SF-7: 100% PSA is 0.2% CPR in the first month, rising by
    0.2% a month to 6% at month 30 and constant after.

    Examples
    --------
    >>> round(psa_to_cpr(100, 15), 10)
    0.03
    >>> round(psa_to_cpr(150, 40), 10)
    0.09
    """
    s = _nonneg(psa, "psa")
    m = _arr(month, "month")
    return _ret(np.minimum(s / 100.0 * 0.002 * np.maximum(1.0, np.minimum(m, 30.0)), 1.0))


@overload
def psa_to_smm(psa: float, month: float) -> float: ...
@overload
def psa_to_smm(psa: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray: ...
def psa_to_smm(psa: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray:
    """SMM of a PSA speed in a given month: ``cpr_to_smm(psa_to_cpr(psa, month))``."""
    return cpr_to_smm(psa_to_cpr(psa, month))


@overload
def cpr_to_psa(cpr: float, month: float) -> float: ...
@overload
def cpr_to_psa(cpr: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray: ...
def cpr_to_psa(cpr: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray:
    """The PSA speed whose CPR in ``month`` equals ``cpr`` (single-month inversion).

    Notes
    -----
    SIFMA Standard Formulas SF-8: ``PSA = 100 * CPR / (0.2% * max(1, min(MONTH, 30)))``.
    Over several months a PSA speed must be found by iteration: see
    :func:`historical_psa`.

    Examples
    --------
    >>> round(cpr_to_psa(0.051, 17), 6)
    150.0
    """
    c = _unit(cpr, "cpr")
    m = _arr(month, "month")
    return _ret(100.0 * c / (0.002 * np.maximum(1.0, np.minimum(m, 30.0))))


@overload
def sda_cdr(sda: float, month: float) -> float: ...
@overload
def sda_cdr(sda: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray: ...
def sda_cdr(sda: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray:
    """CDR of an SDA speed in a given month of loan age.

    Parameters
    ----------
    sda : float or array_like
        Speed in percent of the SDA benchmark (100 is 100% SDA).
    month : int or array_like
        Loan age at the end of the period (SIFMA ``MONTH``).

    Returns
    -------
    float or ndarray
        Decimal CDR, capped at 1.

    Notes
    -----
    SIFMA Standard Formulas SF-20: 100% SDA is a CDR of 0.02% in month 1, rising by
    0.02% a month to 0.60% in month 30, flat at 0.60% to month 60, falling by 0.0095%
    a month to 0.03% in month 120 and 0.03% after. The rule that the default rate is
    zero in the last ``lag`` months of the remaining term is applied by
    :meth:`openmbs.behaviour.Default.mdr_vector` and by the projection, which know the
    remaining term.

    Examples
    --------
    >>> round(sda_cdr(100, 30), 10), round(sda_cdr(100, 60), 10), round(sda_cdr(100, 120), 10)
    (0.006, 0.006, 0.0003)
    """
    s = _nonneg(sda, "sda")
    m = _arr(month, "month")
    base = np.where(
        m <= 30.0,
        0.0002 * np.maximum(m, 0.0),
        np.where(
            m <= 60.0, 0.006, np.where(m <= 120.0, 0.006 - 0.000095 * (m - 60.0), 0.0003)
        ),
    )
    return _ret(np.minimum(s / 100.0 * base, 1.0))


@overload
def sda_mdr(sda: float, month: float) -> float: ...
@overload
def sda_mdr(sda: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray: ...
def sda_mdr(sda: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray:
    """MDR of an SDA speed in a given month: ``cdr_to_mdr(sda_cdr(sda, month))``."""
    return cdr_to_mdr(sda_cdr(sda, month))


@overload
def abs_to_smm(abs_speed: float, month: float) -> float: ...
@overload
def abs_to_smm(abs_speed: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray: ...
def abs_to_smm(abs_speed: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray:
    """SMM of an ABS (absolute prepayment) speed in a given month of loan age.

    Parameters
    ----------
    abs_speed : float or array_like
        ABS speed, decimal (0.015 is 1.5% ABS): the fraction of the *original* number
        of loans that prepays each month.
    month : int or array_like
        Loan age at the end of the period (SIFMA ``MONTH``).

    Returns
    -------
    float or ndarray
        ``abs / (1 - abs * (month - 1))``, capped at 1 (every remaining loan prepays
        once ``abs * month >= 1``).

    Notes
    -----
    SIFMA Standard Formulas SF-13.

    Examples
    --------
    >>> round(abs_to_smm(0.02, 11), 10)
    0.025
    """
    a = _unit(abs_speed, "abs")
    m = _arr(month, "month")
    den = 1.0 - a * (m - 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        smm = np.where(den > a, a / np.where(den > 0.0, den, 1.0), 1.0)
    return _ret(np.asarray(np.where(a == 0.0, 0.0, smm), dtype=np.float64))


@overload
def smm_to_abs(smm: float, month: float) -> float: ...
@overload
def smm_to_abs(smm: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray: ...
def smm_to_abs(smm: npt.ArrayLike, month: npt.ArrayLike) -> float | FloatArray:
    """ABS speed whose SMM in ``month`` is ``smm``: ``smm / (1 + smm * (month - 1))``.

    Notes
    -----
    Inverse of :func:`abs_to_smm` (SIFMA Standard Formulas SF-13).

    Examples
    --------
    >>> round(smm_to_abs(0.025, 11), 10)
    0.02
    """
    s = _unit(smm, "smm")
    m = _arr(month, "month")
    return _ret(s / (1.0 + s * (m - 1.0)))


@overload
def balance_factor(coupon: float, remaining_term: float, original_term: float) -> float: ...
@overload
def balance_factor(
    coupon: npt.ArrayLike, remaining_term: npt.ArrayLike, original_term: npt.ArrayLike
) -> float | FloatArray: ...
def balance_factor(
    coupon: npt.ArrayLike, remaining_term: npt.ArrayLike, original_term: npt.ArrayLike
) -> float | FloatArray:
    """Scheduled (amortized) balance per unit of original balance of a level-pay loan.

    Parameters
    ----------
    coupon : float or array_like
        Gross coupon, decimal per year (0.095 is 9.5%).
    remaining_term : int or array_like
        Months left to maturity ``M``.
    original_term : int or array_like
        Original term ``M0`` in months.

    Returns
    -------
    float or ndarray
        ``BAL = [1 - (1 + C/12)^-M] / [1 - (1 + C/12)^-M0]``; ``M / M0`` when the coupon
        is zero.

    Notes
    -----
    SIFMA Standard Formulas SF-4, written there with ``C`` in percent and ``C/1200``.

    Examples
    --------
    >>> round(balance_factor(0.095, 344, 359), 8)
    0.992133
    """
    c = _arr(coupon, "coupon") / 12.0
    m = _arr(remaining_term, "remaining_term")
    m0 = _arr(original_term, "original_term")
    if np.any(m0 <= 0) or np.any(m < 0) or np.any(m > m0):
        raise AssumptionError(
            f"need 0 <= remaining_term <= original_term and original_term > 0, got "
            f"remaining_term={remaining_term!r}, original_term={original_term!r}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        v = 1.0 + c
        den = 1.0 - v**-m0
        bal = np.where((c == 0.0) | (den <= 0.0), m / m0, (1.0 - v**-m) / den)
    return _ret(np.asarray(bal, dtype=np.float64))


def _scheduled_ratio(
    coupon: float, original_term: int, remaining_term: int, months: int
) -> float:
    """BAL2 / BAL1 over ``months`` months starting at ``remaining_term``."""
    if months < 1 or months > remaining_term:
        raise AssumptionError(
            f"months must be between 1 and remaining_term={remaining_term}, got {months!r}"
        )
    b1 = balance_factor(coupon, remaining_term, original_term)
    b2 = balance_factor(coupon, remaining_term - months, original_term)
    return b2 / b1


def _check_factors(factor_start: float, factor_end: float) -> None:
    if not (np.isfinite(factor_start) and np.isfinite(factor_end)):
        raise AssumptionError(f"factors must be finite, got {factor_start!r}, {factor_end!r}")
    if factor_start <= 0.0 or factor_end < 0.0 or factor_end > factor_start:
        raise AssumptionError(
            f"need factor_start > 0 and 0 <= factor_end <= factor_start, got "
            f"factor_start={factor_start!r}, factor_end={factor_end!r}"
        )


def historical_smm(
    factor_start: float,
    factor_end: float,
    *,
    coupon: float,
    original_term: int,
    remaining_term: int,
    months: int = 1,
) -> float:
    """Average SMM that takes a pool from one factor to another.

    Parameters
    ----------
    factor_start, factor_end : float
        Pool factors ``F1`` and ``F2`` at the start and end of the interval.
    coupon : float
        Gross coupon (WAC), decimal.
    original_term : int
        Original term ``M0`` in months.
    remaining_term : int
        Remaining term ``M`` at the start of the interval.
    months : int, default 1
        Length of the interval in months.

    Returns
    -------
    float
        ``1 - (F2 / Fsched) ** (1 / months)`` with ``Fsched = F1 * BAL2 / BAL1``;
        clipped at 0 when the pool paid less than its schedule.

    Notes
    -----
    SIFMA Standard Formulas SF-5 (one month) and SF-11 (average over several months).

    Examples
    --------
    >>> round(historical_smm(0.85150625, 0.84732282, coupon=0.095, original_term=359,
    ...                      remaining_term=344), 8)
    0.0043527
    """
    _check_factors(factor_start, factor_end)
    sched = factor_start * _scheduled_ratio(coupon, original_term, remaining_term, months)
    if sched <= 0.0:
        return 1.0
    ratio = min(factor_end / sched, 1.0)
    return float(1.0 - ratio ** (1.0 / months))


def historical_cpr(
    factor_start: float,
    factor_end: float,
    *,
    coupon: float,
    original_term: int,
    remaining_term: int,
    months: int = 1,
) -> float:
    """Average CPR between two factors: ``smm_to_cpr(historical_smm(...))`` (SF-6, SF-11)."""
    smm = historical_smm(
        factor_start,
        factor_end,
        coupon=coupon,
        original_term=original_term,
        remaining_term=remaining_term,
        months=months,
    )
    return smm_to_cpr(smm)


def historical_psa(
    factor_start: float,
    factor_end: float,
    *,
    coupon: float,
    original_term: int,
    remaining_term: int,
    loan_age: int,
    months: int = 1,
) -> float:
    """PSA speed that takes a pool from one factor to another.

    Parameters
    ----------
    factor_start, factor_end : float
        Pool factors at the start and end of the interval.
    coupon, original_term, remaining_term, months
        As in :func:`historical_smm`.
    loan_age : int
        Loan age (WALA) at the start of the interval; the first month of the interval
        has ``MONTH = loan_age + 1``.

    Returns
    -------
    float
        PSA speed in percent. For one month the closed form of SF-8; over several
        months the speed whose month-by-month SMMs reproduce the factor ratio, found by
        bisection (SF-11 requires iteration and forbids averaging monthly PSAs).

    Examples
    --------
    >>> round(historical_psa(0.85150625, 0.84732282, coupon=0.095, original_term=359,
    ...                      remaining_term=344, loan_age=16), 2)
    150.0
    """
    _check_factors(factor_start, factor_end)
    if loan_age < 0:
        raise AssumptionError(f"loan_age must be >= 0, got {loan_age!r}")
    smm = historical_smm(
        factor_start,
        factor_end,
        coupon=coupon,
        original_term=original_term,
        remaining_term=remaining_term,
        months=months,
    )
    if months == 1:
        return float(cpr_to_psa(smm_to_cpr(smm), loan_age + 1))
    target = np.log1p(-smm) * months if smm < 1.0 else -np.inf
    ages = np.arange(loan_age + 1, loan_age + months + 1, dtype=np.float64)

    def log_survival(speed: float) -> float:
        s = np.asarray(psa_to_smm(speed, ages))
        if np.any(s >= 1.0):
            return -np.inf
        return float(np.sum(np.log1p(-s)))

    lo, hi = 0.0, 100.0
    while log_survival(hi) > target:
        hi *= 2.0
        if hi > 1e7:
            raise AssumptionError("no PSA speed reproduces these factors")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if log_survival(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)


def historical_abs(
    factor_start: float,
    factor_end: float,
    *,
    coupon: float,
    original_term: int,
    remaining_term: int,
    loan_age: int,
    months: int = 1,
) -> float:
    """ABS speed (decimal) that takes a pool from one factor to another.

    Returns
    -------
    float
        ``[(F2/F1) - (BAL2/BAL1)] / [AGE1*(F2/F1) - AGE2*(BAL2/BAL1)]`` with
        ``AGE1 = loan_age`` and ``AGE2 = loan_age + months``.

    Notes
    -----
    SIFMA Standard Formulas SF-14.

    Examples
    --------
    >>> b = balance_factor(0.08, 25, 36) / balance_factor(0.08, 26, 36)
    >>> round(historical_abs(0.9, 0.9 * b * 0.975, coupon=0.08, original_term=36,
    ...                      remaining_term=26, loan_age=10), 10)
    0.02
    """
    _check_factors(factor_start, factor_end)
    r = factor_end / factor_start
    b = _scheduled_ratio(coupon, original_term, remaining_term, months)
    age1 = float(loan_age)
    age2 = float(loan_age + months)
    den = age1 * r - age2 * b
    if den == 0.0:
        return 0.0
    return float(max((r - b) / den, 0.0))
