"""30/360 day counts, settlement and payment-delay timing of monthly cash flows.

Conventions (SIFMA Uniform Practices, Standard Formulas, section E "Day Counts"):

* Time is measured on a 30/360 calendar: a month is 30 days, a year 360 days.
* Element ``k`` (0-based) of a monthly cash-flow vector belongs to accrual month
  ``k + 1``. Without delay it is paid at the end of that month, ``k + 1`` months after
  the start of the first accrual period (the first day of the settlement month).
* ``delay_days`` is the number of (30/360) days *after the end of the accrual month*
  at which the cash is actually paid. Agencies quote a *stated* delay counted from the
  first day of the accrual month with that day counted as day 1, so a stated delay of
  ``D`` days pays ``D - 1`` days after the first of the accrual month, that is
  ``D - 31`` days after its end: a stated delay of 55 days (Fannie Mae, UMBS) pays on
  the 25th of the next month, 24 days after the end of the accrual month;
  45 days (Ginnie Mae I) pays 14 days after it. :func:`delay_from_stated` converts.
* ``settle_days`` is the number of 30/360 days from the first day of the settlement
  month to the settlement date (0 for settlement on the first). The buyer receives the
  whole first month's cash flow and pays the seller accrued interest for these days.

So, in months from settlement, element ``k`` is paid at ``k + 1 + (delay_days -
settle_days) / 30``, and in years at that divided by 12.
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import numpy.typing as npt

from openmbs.errors import InputError

__all__ = [
    "days_30_360",
    "delay_from_stated",
    "payment_times",
    "settle_days_from_date",
]

FloatArray = npt.NDArray[np.float64]


def _is_last_of_february(d: dt.date) -> bool:
    return d.month == 2 and d.day == calendar.monthrange(d.year, 2)[1]


def days_30_360(start: dt.date, end: dt.date) -> int:
    """Days between two dates on the 30/360 (SIA) basis.

    Parameters
    ----------
    start, end : datetime.date
        The two dates; ``end`` may precede ``start`` (the count is then negative).

    Returns
    -------
    int
        ``360 (Y2 - Y1) + 30 (M2 - M1) + (D2 - D1)`` after the day adjustments below.

    Notes
    -----
    The 30/360 "SIA" rule used for agency mortgage securities (SIFMA Standard Formulas,
    section E): if D1 and D2 are both the last day of February, D2 = 30; if D1 is the
    last day of February, D1 = 30; if D2 is 31 and D1 is 30 or 31, D2 = 30; if D1 is 31,
    D1 = 30.

    Examples
    --------
    >>> import datetime as dt
    >>> days_30_360(dt.date(2026, 1, 1), dt.date(2026, 2, 25))
    54
    """
    d1, d2 = start.day, end.day
    if _is_last_of_february(start) and _is_last_of_february(end):
        d2 = 30
    if _is_last_of_february(start):
        d1 = 30
    if d2 == 31 and d1 >= 30:
        d2 = 30
    if d1 == 31:
        d1 = 30
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


def settle_days_from_date(settle: dt.date) -> int:
    """30/360 days from the first day of the settlement month to ``settle``.

    Examples
    --------
    >>> import datetime as dt
    >>> settle_days_from_date(dt.date(2026, 3, 16))
    15
    """
    return days_30_360(settle.replace(day=1), settle)


def delay_from_stated(stated_delay_days: int) -> int:
    """Convert an agency *stated* delay to days after the end of the accrual month.

    Parameters
    ----------
    stated_delay_days : int
        The delay as quoted (55 for Fannie Mae and UMBS, 45 for Ginnie Mae I and Freddie
        Mac Gold, 50 for Ginnie Mae II, 75 for old Freddie Mac PCs). At least 31.

    Returns
    -------
    int
        ``stated_delay_days - 31``: the stated delay counts the first day of the accrual
        month as day 1, so the cash is paid ``stated - 1`` days after the first of the
        month, i.e. ``stated - 31`` days after the end of the 30-day accrual month.

    Examples
    --------
    >>> delay_from_stated(55)
    24
    """
    if stated_delay_days < 31:
        raise InputError(
            f"stated delay {stated_delay_days!r} days: a stated delay is at least 31 days "
            "(31 = paid on the first day of the next month)"
        )
    return int(stated_delay_days) - 31


def check_timing(delay_days: float, settle_days: float) -> None:
    """Reject a delay or settlement offset out of its range (shared by the pricers)."""
    if not np.isfinite(delay_days) or delay_days < 0:
        raise InputError(f"delay_days {delay_days!r}: must be a finite number of days >= 0")
    if not np.isfinite(settle_days) or not 0 <= settle_days <= 30:
        raise InputError(
            f"settle_days {settle_days!r}: must be between 0 and 30 (30/360 days from the "
            "first day of the settlement month)"
        )


def payment_times(n_periods: int, *, delay_days: float = 0, settle_days: float = 0) -> FloatArray:
    """Times in years, from settlement, at which monthly cash flows are paid.

    Parameters
    ----------
    n_periods : int
        Number of monthly cash flows.
    delay_days : float, default 0
        30/360 days after the end of each accrual month at which the cash is paid.
    settle_days : float, default 0
        30/360 days from the first day of the settlement month to settlement.

    Returns
    -------
    ndarray
        ``t_k = (k + (delay_days - settle_days) / 30) / 12`` for ``k = 1 .. n_periods``.

    Notes
    -----
    SIFMA Standard Formulas: cash flows are discounted on a 30/360 calendar, month ``k``'s
    cash flow being received ``k - 1`` months plus the stated delay (less one day) after
    the first day of the first accrual period; see the module docstring.

    Examples
    --------
    >>> payment_times(2, delay_days=24).round(6).tolist()
    [0.15, 0.233333]
    """
    check_timing(delay_days, settle_days)
    k = np.arange(1, n_periods + 1, dtype=np.float64)
    return (k + (delay_days - settle_days) / 30.0) / 12.0
