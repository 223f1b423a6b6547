"""The prospectus weighted average life, the one WAL that `deal run`, `deal table` and
`deal decrement` print.

Convention (as agency REMIC prospectus supplements state it): each distribution date's
NET REDUCTION of the class balance, if any, times the years from the settlement
(closing) date to that distribution date, summed and divided by the sum of the net
reductions. Accretion is not principal paid: a period in which a Z class accretes
reduces nothing (its balance grows), and the accretion paid down later counts when it
is paid. Years are counted 30/360 (US bond basis); distribution date ``k`` is the
deal's ``first_payment_date`` plus ``k - 1`` months.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from openmbs.structuring._spec import DealSpec

__all__ = ["distribution_dates", "prospectus_wal", "settlement_years", "years_30_360"]

FloatArray = npt.NDArray[np.float64]


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def distribution_dates(spec: DealSpec, n_periods: int) -> list[dt.date]:
    """The distribution date of each period ``1..n_periods``."""
    return [_add_months(spec.first_payment_date, k) for k in range(n_periods)]


def years_30_360(start: dt.date, end: dt.date) -> float:
    """Years from ``start`` to ``end``, 30/360 US bond basis (a day 31 counts as 30;
    an end day 31 counts as 30 when the start day is 30 or 31)."""
    d1 = min(start.day, 30)
    d2 = end.day
    if d2 == 31 and d1 == 30:
        d2 = 30
    days = 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return days / 360.0


def settlement_years(spec: DealSpec, n_periods: int) -> FloatArray:
    """Years (30/360) from the deal's settlement (closing) date to the distribution
    date of each period ``1..n_periods``."""
    return np.array(
        [years_30_360(spec.closing_date, d) for d in distribution_dates(spec, n_periods)],
        dtype=np.float64,
    )


def prospectus_wal(face: FloatArray, ending_balance: FloatArray, years: FloatArray) -> FloatArray:
    """Weighted average life (years) of each class, prospectus convention.

    Parameters
    ----------
    face : array ``(n_tranches,)``
        Original class balances (the balance before period 1).
    ending_balance : array ``(..., n_periods, n_tranches)``
        Class balance after each distribution date (a Z class's includes its accretion;
        an IO strip's is its notional).
    years : array ``(n_periods,)``
        Years from the settlement date to each distribution date
        (:func:`settlement_years`).

    Returns
    -------
    array ``(..., n_tranches)``
        ``sum(reduction x years) / sum(reduction)``, with each period's reduction
        ``max(balance before - balance after, 0)``; ``nan`` for a class never reduced.

    Notes
    -----
    The convention is in the module docstring. The balance before period ``k`` is the
    balance after period ``k - 1`` (the face for period 1).

    Examples
    --------
    >>> import numpy as np
    >>> end = np.array([[100.0], [50.0], [0.0]])  # a Z accretes, then is paid in two
    >>> float(prospectus_wal(np.array([90.0]), end, np.array([0.5, 1.0, 1.5]))[0])
    1.25
    """
    end = np.asarray(ending_balance, dtype=np.float64)
    f = np.broadcast_to(np.asarray(face, dtype=np.float64), end[..., :1, :].shape)
    before = np.concatenate([f, end[..., :-1, :]], axis=-2)
    red = np.maximum(before - end, 0.0)  # net reductions, if any
    w = np.asarray(years, dtype=np.float64)[:, None]
    total = red.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        wal = (red * w).sum(axis=-2) / total
    return np.where(total > 0, wal, np.nan)
