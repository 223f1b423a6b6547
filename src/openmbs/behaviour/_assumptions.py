"""Prepayment and default assumptions: constants or vectors by period.

A :class:`Prepayment` or :class:`Default` is a frozen description of an assumption
(``Prepayment.psa(150)``, ``Default.cdr([0.01, 0.02, 0.03])``). It turns into monthly
rates for a loan of a given age with :meth:`Prepayment.smm_vector` and
:meth:`Default.mdr_vector`; the cash-flow engine asks for these tables.

Vector semantics: element ``k`` of a vector applies to projection period ``k + 1``;
after the last element the last value continues. PSA, SDA and ABS are curves in loan
age: for a loan of age ``a`` at the start, period ``t`` has ``MONTH = a + t``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from openmbs.behaviour._rates import (
    FloatArray,
    abs_to_smm,
    cdr_to_mdr,
    cpr_to_smm,
    psa_to_smm,
    sda_mdr,
)
from openmbs.errors import AssumptionError

__all__ = ["Default", "Prepayment"]

PrepaymentKind = Literal["smm", "cpr", "psa", "abs"]
DefaultKind = Literal["mdr", "cdr", "sda"]


def _values(x: npt.ArrayLike, name: str, *, upper: float | None) -> FloatArray:
    a = np.array(x, dtype=np.float64, ndmin=1)
    if a.ndim != 1 or a.size == 0:
        raise AssumptionError(f"{name} must be a number or a non-empty 1-D vector, got {x!r}")
    for i, v in enumerate(a):
        where = "" if a.size == 1 else f" (element {i}, period {i + 1})"
        if not np.isfinite(v) or v < 0.0 or (upper is not None and v > upper):
            rng = f"between 0 and {upper:g}" if upper is not None else ">= 0"
            raise AssumptionError(f"{name}{where} must be {rng}, got {float(v)!r}")
    a.setflags(write=False)
    return a


def _by_period(values: FloatArray, n_periods: int) -> FloatArray:
    """Values for periods 1..n: the vector, its last value continuing."""
    idx = np.minimum(np.arange(n_periods), values.size - 1)
    return values[idx]


def _check_n(loan_age_start: int, n_periods: int) -> None:
    if int(loan_age_start) < 0:
        raise AssumptionError(f"loan_age_start must be >= 0, got {loan_age_start!r}")
    if int(n_periods) < 0:
        raise AssumptionError(f"n_periods must be >= 0, got {n_periods!r}")


@dataclass(frozen=True, eq=False)
class Prepayment:
    """A voluntary prepayment assumption.

    Build one with :meth:`smm`, :meth:`cpr`, :meth:`psa` or :meth:`abs`; each takes a
    constant or a vector by period.

    Attributes
    ----------
    kind : {"smm", "cpr", "psa", "abs"}
        The convention of ``values``.
    values : ndarray
        The constant (one element) or the vector by period. SMM, CPR and ABS are
        decimals; PSA is a speed in percent of the benchmark (100 = 100% PSA).

    Notes
    -----
    Conventions of the SIFMA Standard Formulas SF-5 to SF-15; see
    :mod:`openmbs.behaviour._rates`.

    Examples
    --------
    >>> p = Prepayment.psa(100)
    >>> [round(float(x), 6) for x in p.smm_vector(0, 2)]
    [0.000167, 0.000334]
    """

    kind: PrepaymentKind
    values: FloatArray

    @classmethod
    def smm(cls, smm: npt.ArrayLike) -> Prepayment:
        """Single monthly mortality, decimal (0.005 is 0.5% a month)."""
        return cls("smm", _values(smm, "smm", upper=1.0))

    @classmethod
    def cpr(cls, cpr: npt.ArrayLike) -> Prepayment:
        """Conditional prepayment rate, annual decimal (0.06 is 6% CPR)."""
        return cls("cpr", _values(cpr, "cpr", upper=1.0))

    @classmethod
    def psa(cls, speed: npt.ArrayLike) -> Prepayment:
        """PSA speed in percent of the benchmark (100 is 100% PSA, 150 is 150% PSA)."""
        return cls("psa", _values(speed, "psa", upper=None))

    @classmethod
    def abs(cls, abs_speed: npt.ArrayLike) -> Prepayment:
        """ABS speed, decimal (0.015 is 1.5% ABS): fraction of original loans a month."""
        return cls("abs", _values(abs_speed, "abs", upper=1.0))

    @property
    def by_age(self) -> bool:
        """Whether the monthly rate depends on loan age (PSA and ABS) or only on period."""
        return self.kind in ("psa", "abs")

    @property
    def is_zero(self) -> bool:
        """Whether the assumption is zero in every period."""
        return bool(np.all(self.values == 0.0))

    def smm_vector(self, loan_age_start: int, n_periods: int) -> FloatArray:
        """SMM for periods 1..n of a loan whose age is ``loan_age_start`` at the start.

        Parameters
        ----------
        loan_age_start : int
            Loan age in months at the start of period 1.
        n_periods : int
            Number of periods.

        Returns
        -------
        ndarray
            Decimal SMM, one per period; period ``t`` uses ``MONTH = loan_age_start + t``
            for PSA and ABS.
        """
        _check_n(loan_age_start, n_periods)
        return self.smm_matrix([int(loan_age_start)], int(n_periods))[:, 0].copy()

    def smm_matrix(self, loan_ages_start: npt.ArrayLike, n_periods: int) -> FloatArray:
        """SMM for periods 1..n (rows) of loans of several starting ages (columns).

        Column ``k`` equals ``smm_vector(loan_ages_start[k], n_periods)``.
        """
        ages = np.asarray(loan_ages_start, dtype=np.int64).ravel()
        if ages.size and int(ages.min()) < 0:
            raise AssumptionError(f"loan ages must be >= 0, got {int(ages.min())}")
        _check_n(0, n_periods)
        v = _by_period(self.values, int(n_periods))[:, None]
        month = (ages[None, :] + np.arange(1, int(n_periods) + 1)[:, None]).astype(np.float64)
        if self.kind == "smm":
            out = np.broadcast_to(v, month.shape)
        elif self.kind == "cpr":
            out = np.broadcast_to(np.asarray(cpr_to_smm(v)), month.shape)
        elif self.kind == "psa":
            out = np.asarray(psa_to_smm(v, month))
        else:
            out = np.asarray(abs_to_smm(v, month))
        return np.array(out, dtype=np.float64).reshape(month.shape)

    def describe(self) -> str:
        """Short text for reports: ``'150 PSA'``, ``'6% CPR'``, ``'vector CPR'``."""
        if self.values.size > 1:
            return f"vector {self.kind.upper()} ({self.values.size} periods)"
        v = float(self.values[0])
        if self.kind == "psa":
            return f"{v:g} PSA"
        return f"{v * 100:g}% {self.kind.upper()}"


@dataclass(frozen=True, eq=False)
class Default:
    """A default assumption.

    Build one with :meth:`mdr`, :meth:`cdr` or :meth:`sda`; each takes a constant or a
    vector by period.

    Attributes
    ----------
    kind : {"mdr", "cdr", "sda"}
        The convention of ``values``.
    values : ndarray
        MDR and CDR are decimals; SDA is a speed in percent of the benchmark.

    Notes
    -----
    SIFMA Standard Formulas SF-17 to SF-21: the default rate of a month applies to the
    performing balance at the end of the prior month, and is zero in the last ``lag``
    months of the remaining term (``lag`` = months to liquidation).

    Examples
    --------
    >>> d = Default.sda(100)
    >>> round(float(d.mdr_vector(29, 1, 331)[0]), 8)  # MONTH 30: 0.60% CDR
    0.00050138
    """

    kind: DefaultKind
    values: FloatArray

    @classmethod
    def mdr(cls, mdr: npt.ArrayLike) -> Default:
        """Monthly default rate, decimal."""
        return cls("mdr", _values(mdr, "mdr", upper=1.0))

    @classmethod
    def cdr(cls, cdr: npt.ArrayLike) -> Default:
        """Constant (annual) default rate, decimal (0.02 is 2% CDR)."""
        return cls("cdr", _values(cdr, "cdr", upper=1.0))

    @classmethod
    def sda(cls, speed: npt.ArrayLike) -> Default:
        """SDA speed in percent of the benchmark (100 is 100% SDA)."""
        return cls("sda", _values(speed, "sda", upper=None))

    @property
    def by_age(self) -> bool:
        """Whether the monthly rate depends on loan age (SDA) or only on period."""
        return self.kind == "sda"

    @property
    def is_zero(self) -> bool:
        """Whether the assumption is zero in every period."""
        return bool(np.all(self.values == 0.0))

    def mdr_vector(
        self, loan_age_start: int, n_periods: int, remaining_term: int, *, lag: int = 0
    ) -> FloatArray:
        """MDR for periods 1..n of a loan of a given age and remaining term.

        Parameters
        ----------
        loan_age_start : int
            Loan age in months at the start of period 1.
        n_periods : int
            Number of periods.
        remaining_term : int
            Remaining term in months at the start; no loan defaults after maturity.
        lag : int, default 0
            Months to liquidation: the rate is zero in the last ``lag`` months of the
            remaining term (periods ``t > remaining_term - lag``).

        Returns
        -------
        ndarray
            Decimal MDR, one per period.
        """
        _check_n(loan_age_start, n_periods)
        if int(lag) < 0:
            raise AssumptionError(f"lag must be >= 0 months, got {lag!r}")
        out = self.mdr_matrix([int(loan_age_start)], int(n_periods))[:, 0].copy()
        t = np.arange(1, int(n_periods) + 1)
        out[t > int(remaining_term) - int(lag)] = 0.0
        return out

    def mdr_matrix(self, loan_ages_start: npt.ArrayLike, n_periods: int) -> FloatArray:
        """MDR for periods 1..n (rows) of loans of several starting ages (columns).

        The zero rate of the last ``lag`` months is *not* applied here (it depends on
        each loan's remaining term): see :meth:`mdr_vector`.
        """
        ages = np.asarray(loan_ages_start, dtype=np.int64).ravel()
        if ages.size and int(ages.min()) < 0:
            raise AssumptionError(f"loan ages must be >= 0, got {int(ages.min())}")
        _check_n(0, n_periods)
        v = _by_period(self.values, int(n_periods))[:, None]
        month = (ages[None, :] + np.arange(1, int(n_periods) + 1)[:, None]).astype(np.float64)
        if self.kind == "mdr":
            out = np.broadcast_to(v, month.shape)
        elif self.kind == "cdr":
            out = np.broadcast_to(np.asarray(cdr_to_mdr(v)), month.shape)
        else:
            out = np.asarray(sda_mdr(v, month))
        return np.array(out, dtype=np.float64).reshape(month.shape)

    def describe(self) -> str:
        """Short text for reports: ``'100 SDA'``, ``'2% CDR'``."""
        if self.values.size > 1:
            return f"vector {self.kind.upper()} ({self.values.size} periods)"
        v = float(self.values[0])
        if self.kind == "sda":
            return f"{v:g} SDA"
        return f"{v * 100:g}% {self.kind.upper()}"
