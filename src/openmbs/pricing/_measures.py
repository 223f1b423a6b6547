"""Price, yield, average life, duration and convexity of monthly cash flows.

All measures follow the SIFMA Uniform Practices, Standard Formulas, section G ("Yield
and Yield-Related Measures"), with the 30/360 timing and payment delay of
:mod:`openmbs.pricing._timing`:

* the yield ``y`` is bond-equivalent (compounded semi-annually), a decimal; a cash
  flow paid ``t`` years after settlement is discounted by ``(1 + y/2) ** (-2 t)``;
* the mortgage yield ``m`` is the same rate compounded monthly,
  ``m = 12 [(1 + y/2) ** (1/6) - 1]`` (the Standard Formulas' ``1200[(1+Y/200)^(1/6)-1]``
  in percent);
* prices are per 100 of current face (the balance at the start of period 1);
  the full price is ``100 / balance * sum CF_k (1 + y/2) ** (-2 t_k)`` and the quoted
  (clean) price is the full price less accrued interest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openmbs.errors import ConvergenceError, InputError
from openmbs.pricing._timing import payment_times

__all__ = [
    "BondAnalytics",
    "accrued_interest",
    "analyze",
    "average_life",
    "bey_from_mortgage_yield",
    "mortgage_yield_from_bey",
    "price_from_yield",
    "yield_from_price",
]

FloatArray = npt.NDArray[np.float64]

_YIELD_FLOOR = -1.99  # 1 + y/2 must stay positive
_YIELD_CAP = 100.0


@dataclass(frozen=True)
class BondAnalytics:
    """Yield-based measures of a monthly-pay security at one price.

    Attributes
    ----------
    price : float
        Quoted (clean) price per 100 of current face.
    yield_ : float
        Bond-equivalent yield (semi-annual compounding), decimal.
    mortgage_yield : float
        The same yield compounded monthly, decimal.
    average_life : float
        Weighted average time to principal, years from settlement; NaN when the cash
        flows carry no principal (an interest-only strip).
    macaulay_duration : float
        Present-value weighted average time of the cash flows, years.
    modified_duration : float
        ``-(1/P) dP/dy``: Macaulay duration / (1 + y/2), years.
    convexity : float
        ``(1/P) d2P/dy2`` of the fixed cash flows, years squared.
    accrued : float
        Accrued interest per 100 of current face (0 when settling on the first).
    full_price : float
        ``price + accrued``.
    """

    price: float
    yield_: float
    mortgage_yield: float
    average_life: float
    macaulay_duration: float
    modified_duration: float
    convexity: float
    accrued: float = 0.0
    full_price: float = math.nan


def mortgage_yield_from_bey(yield_: float) -> float:
    """Monthly-compounded mortgage yield equivalent to a bond-equivalent yield.

    Notes
    -----
    SIFMA Standard Formulas: ``MY = 1200 [(1 + Y/200) ** (1/6) - 1]`` in percent; here
    both rates are decimals, ``m = 12 [(1 + y/2) ** (1/6) - 1]``.

    Examples
    --------
    >>> round(mortgage_yield_from_bey(0.06), 8)
    0.05926346
    """
    return 12.0 * math.expm1(math.log1p(yield_ / 2.0) / 6.0)


def bey_from_mortgage_yield(mortgage_yield: float) -> float:
    """Bond-equivalent yield equivalent to a monthly-compounded mortgage yield.

    Notes
    -----
    Inverse of :func:`mortgage_yield_from_bey`: ``y = 2 [(1 + m/12) ** 6 - 1]``.

    Examples
    --------
    >>> round(bey_from_mortgage_yield(0.06), 8)
    0.06075502
    """
    return 2.0 * math.expm1(6.0 * math.log1p(mortgage_yield / 12.0))


def _as_vector(x: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-d array of monthly amounts, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{name}: no cash flows (empty array)")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{name}[{i}] = {arr[i]!r}: amounts must be finite")
    return arr


def _check_balance(balance: float) -> float:
    if not math.isfinite(balance) or balance <= 0:
        raise InputError(f"balance {balance!r}: current face must be a finite amount > 0")
    return float(balance)


def _check_yield(yield_: float) -> float:
    if not math.isfinite(yield_) or yield_ <= -2.0:
        raise InputError(f"yield_ {yield_!r}: a bond-equivalent yield must be finite and > -2")
    return float(yield_)


def _discount(times: FloatArray, yield_: float) -> FloatArray:
    result: FloatArray = np.exp(-2.0 * times * math.log1p(yield_ / 2.0))
    return result


def _pv(cash_flow: FloatArray, times: FloatArray, yield_: float) -> float:
    return float(np.dot(cash_flow, _discount(times, yield_)))


def _first_interest(cf: FloatArray, prin: FloatArray, bal: float, coupon: float | None) -> float:
    """Interest of the first accrual month: from ``coupon`` or from the cash flows."""
    if coupon is None:
        return float(cf[0] - prin[0])
    if not math.isfinite(coupon):
        raise InputError(f"coupon {coupon!r}: must be a finite decimal rate")
    return bal * coupon / 12.0


def accrued_interest(interest: float, balance: float, *, settle_days: float) -> float:
    """Accrued interest per 100 of current face.

    Parameters
    ----------
    interest : float
        Interest paid for the first accrual month (currency units).
    balance : float
        Current face at the start of the first accrual month.
    settle_days : float
        30/360 days from the first of the month to settlement.

    Returns
    -------
    float
        ``100 * interest / balance * settle_days / 30``.

    Notes
    -----
    SIFMA Standard Formulas, section F: interest accrues on a 30/360 basis from the
    first day of the settlement month to the settlement date; for a pass-through with
    net coupon ``c`` this is ``100 * c / 12 * settle_days / 30``.

    Examples
    --------
    >>> accrued_interest(500.0, 100_000.0, settle_days=15)
    0.25
    """
    return 100.0 * interest / _check_balance(balance) * settle_days / 30.0


def price_from_yield(
    cash_flow: npt.ArrayLike,
    balance: float,
    yield_: float,
    *,
    delay_days: float = 0,
    settle_days: float = 0,
    accrued: float = 0.0,
) -> float:
    """Price per 100 of current face at a bond-equivalent yield.

    Parameters
    ----------
    cash_flow : array_like
        Monthly cash flows; element ``k`` is paid at the end of month ``k + 1`` plus
        ``delay_days`` (see :func:`openmbs.pricing.payment_times`).
    balance : float
        Current face at settlement (start of the first accrual month).
    yield_ : float
        Bond-equivalent yield, decimal (0.06 is 6%).
    delay_days : float, default 0
        Days after the end of each accrual month at which the cash is paid
        (``stated delay - 31``; 24 for a 55-day stated delay).
    settle_days : float, default 0
        30/360 days from the first of the settlement month to settlement.
    accrued : float, default 0
        Accrued interest per 100 to subtract from the full price (clean price). Pass
        :func:`accrued_interest` when ``settle_days > 0``.

    Returns
    -------
    float
        ``100 / balance * sum CF_k (1 + y/2) ** (-2 t_k) - accrued``.

    Notes
    -----
    SIFMA Standard Formulas, section G: the present value at the monthly-compounded
    mortgage yield ``m`` with exponent ``k - 1 + (delay + 30 - settle)/30`` months equals
    the present value at the bond-equivalent yield ``y = 2[(1 + m/12)^6 - 1]`` with
    exponent ``2 t_k``.

    Examples
    --------
    A level annuity priced at its own rate is at par:

    >>> import numpy as np
    >>> r, n, bal = 0.06, 12, 1000.0
    >>> pay = bal * (r / 12) / (1 - (1 + r / 12) ** -n)
    >>> y = bey_from_mortgage_yield(r)
    >>> round(price_from_yield(np.full(n, pay), bal, y), 10)
    100.0
    """
    cf = _as_vector(cash_flow, "cash_flow")
    bal = _check_balance(balance)
    y = _check_yield(yield_)
    times = payment_times(cf.size, delay_days=delay_days, settle_days=settle_days)
    return 100.0 * _pv(cf, times, y) / bal - accrued


def yield_from_price(
    cash_flow: npt.ArrayLike,
    balance: float,
    price: float,
    *,
    delay_days: float = 0,
    settle_days: float = 0,
    accrued: float = 0.0,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> float:
    """Bond-equivalent yield at which the cash flows are worth ``price + accrued``.

    Parameters
    ----------
    cash_flow, balance, delay_days, settle_days, accrued
        As in :func:`price_from_yield`.
    price : float
        Quoted (clean) price per 100 of current face, > 0.
    tol : float, default 1e-12
        Absolute tolerance on the yield.
    max_iter : int, default 100
        Iteration limit of the safeguarded Newton solver.

    Returns
    -------
    float
        Bond-equivalent yield, decimal.

    Raises
    ------
    openmbs.errors.ConvergenceError
        When no yield in (-199%, 10000%) reproduces the price (for example a price
        above the undiscounted sum of positive cash flows at a negative floor yield), or
        the solver does not converge.

    Notes
    -----
    Newton's method on ``f(y) = PV(y) - target`` with ``f'(y) = -sum t CF (1+y/2)^(-2t-1)``,
    kept inside a bracket that shrinks at each step (bisection when a Newton step leaves
    it). The bracket starts at [0%, 20%] and widens outwards (down to -199%, up to
    10000%) only as far as the price requires. SIFMA Standard Formulas, section G: the yield is the rate that equates the
    present value of the cash flows to the full price.

    Examples
    --------
    >>> import numpy as np
    >>> round(yield_from_price(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 106.0]), 100.0, 100.0), 12)
    0.12
    """
    cf = _as_vector(cash_flow, "cash_flow")
    bal = _check_balance(balance)
    if not math.isfinite(price) or price <= 0:
        raise InputError(f"price {price!r}: must be a finite price per 100 > 0")
    times = payment_times(cf.size, delay_days=delay_days, settle_days=settle_days)
    target = (price + accrued) * bal / 100.0
    return _solve_yield(cf, times, target, tol=tol, max_iter=max_iter, what=f"price {price!r}")


def _solve_yield(
    cf: FloatArray, times: FloatArray, target: float, *, tol: float, max_iter: int, what: str
) -> float:
    def f(y: float) -> float:
        return _pv(cf, times, y) - target

    # Bracket the root from a market-like interval outwards, so that extreme yields (where
    # discount factors overflow and rounding noise in the flows dominates) are only
    # visited when the price calls for them.
    lo, hi = 0.0, 0.2
    f_lo, f_hi = f(lo), f(hi)
    step = 0.25
    while f_lo < 0 and f_hi < 0 and lo > _YIELD_FLOOR:
        hi, f_hi = lo, f_lo
        lo = max(lo - step, _YIELD_FLOOR)
        f_lo, step = f(lo), step * 2
    step = 0.5
    while f_lo > 0 and f_hi > 0 and hi < _YIELD_CAP:
        lo, f_lo = hi, f_hi
        hi = min(hi + step, _YIELD_CAP)
        f_hi, step = f(hi), step * 2
    if not (math.isfinite(f_lo) and math.isfinite(f_hi)) or f_lo * f_hi > 0:
        raise ConvergenceError(
            f"yield from {what}: no yield between {lo:.0%} and {hi:.0%} gives a present "
            f"value of {target!r} (present values {f_lo + target!r} .. {f_hi + target!r})"
        )
    if f_lo == 0.0:
        return lo
    if f_hi == 0.0:
        return hi
    y = lo - f_lo * (hi - lo) / (f_hi - f_lo)  # secant start inside the bracket
    for _ in range(max_iter):
        disc = _discount(times, y)
        fy = float(np.dot(cf, disc)) - target
        if fy == 0.0:
            return y
        if (fy > 0) == (f_lo > 0):
            lo, f_lo = y, fy
        else:
            hi = y
        dfy = -float(np.dot(cf * times, disc)) / (1.0 + y / 2.0)
        step_ok = dfy != 0.0 and math.isfinite(dfy)
        y_new = y - fy / dfy if step_ok else math.nan
        if not (lo < y_new < hi):
            y_new = 0.5 * (lo + hi)
        if abs(y_new - y) <= tol or hi - lo <= tol:
            return y_new
        y = y_new
    raise ConvergenceError(
        f"yield from {what}: solver did not converge in {max_iter} iterations "
        f"(last yield {y!r}, bracket {lo!r} .. {hi!r})"
    )


def average_life(
    principal: npt.ArrayLike, *, delay_days: float = 0, settle_days: float = 0
) -> float:
    """Weighted average life of the principal, in years from settlement.

    Parameters
    ----------
    principal : array_like
        Monthly principal payments (element ``k`` for month ``k + 1``).
    delay_days, settle_days : float, default 0
        As in :func:`price_from_yield`; the payment delay lengthens the life.

    Returns
    -------
    float
        ``sum t_k P_k / sum P_k`` with ``t_k = (k + (delay - settle)/30) / 12``; with no
        delay and settlement on the first this is ``(1/12) sum k P_k / sum P_k``.

    Notes
    -----
    SIFMA Standard Formulas, section G: average life is the principal-weighted average
    time to the receipt of principal.

    Examples
    --------
    >>> round(average_life([50.0, 50.0]), 12)
    0.125
    """
    p = _as_vector(principal, "principal")
    total = float(p.sum())
    if total <= 0.0:
        raise InputError(f"principal sums to {total!r}: average life needs principal > 0")
    times = payment_times(p.size, delay_days=delay_days, settle_days=settle_days)
    return float(np.dot(p, times)) / total


def analyze(
    cash_flow: npt.ArrayLike,
    principal: npt.ArrayLike,
    balance: float,
    *,
    price: float | None = None,
    yield_: float | None = None,
    delay_days: float = 0,
    settle_days: float = 0,
    coupon: float | None = None,
) -> BondAnalytics:
    """Price or yield, average life, durations and convexity of monthly cash flows.

    Parameters
    ----------
    cash_flow : array_like
        Monthly total cash flows (interest + principal), element ``k`` for month
        ``k + 1``.
    principal : array_like
        Monthly principal (same length), for the average life.
    balance : float
        Current face at settlement (start of the first accrual month).
    price : float, optional
        Quoted (clean) price per 100 of current face. Exactly one of ``price`` and
        ``yield_`` is required.
    yield_ : float, optional
        Bond-equivalent yield, decimal.
    delay_days : float, default 0
        Days after the end of each accrual month at which cash is paid
        (``stated delay - 31``).
    settle_days : float, default 0
        30/360 days from the first of the settlement month to settlement; accrued
        interest is charged for them.
    coupon : float, optional
        Annual coupon (decimal) on which interest accrues, for the accrued interest. When
        omitted, accrued interest is taken from the first month's interest,
        ``cash_flow[0] - principal[0]``.

    Returns
    -------
    BondAnalytics

    Notes
    -----
    SIFMA Standard Formulas, section G, with ``t_k`` the 30/360 time in years from
    settlement to the payment of month ``k`` (delay included), ``v = 1 + y/2`` and
    ``PV_k = CF_k v ** (-2 t_k)``, ``P = sum PV_k``:

    * Macaulay duration ``D = sum t_k PV_k / P`` (years);
    * modified duration ``D / v = -(1/P) dP/dy``;
    * convexity ``(1/P) d2P/dy2 = sum t_k (t_k + 1/2) PV_k / (P v**2)``;
    * average life ``sum t_k Prin_k / sum Prin_k``.

    Examples
    --------
    >>> import numpy as np
    >>> a = analyze(np.array([0.0, 0.0, 0.0, 0.0, 0.0, 106.0]), np.array([0, 0, 0, 0, 0, 100.0]),
    ...             100.0, price=100.0)
    >>> round(a.yield_, 10), round(a.macaulay_duration, 10), round(a.average_life, 10)
    (0.12, 0.5, 0.5)
    """
    cf = _as_vector(cash_flow, "cash_flow")
    prin = _as_vector(principal, "principal")
    if prin.size != cf.size:
        raise InputError(
            f"principal has {prin.size} periods but cash_flow has {cf.size}: they must match"
        )
    bal = _check_balance(balance)
    if (price is None) == (yield_ is None):
        raise InputError(
            f"give exactly one of price and yield_ (got price={price!r}, yield_={yield_!r})"
        )
    times = payment_times(cf.size, delay_days=delay_days, settle_days=settle_days)
    accrued = accrued_interest(_first_interest(cf, prin, bal, coupon), bal, settle_days=settle_days)
    if price is not None:
        y = yield_from_price(
            cf, bal, price, delay_days=delay_days, settle_days=settle_days, accrued=accrued
        )
    else:
        assert yield_ is not None
        y = _check_yield(yield_)
    disc = _discount(times, y)
    pv = cf * disc
    total = float(pv.sum())
    if total <= 0.0:
        raise InputError(f"cash flows are worth {total!r} at yield {y!r}: nothing to analyze")
    full = 100.0 * total / bal
    clean = full - accrued if price is None else float(price)
    v = 1.0 + y / 2.0
    mac = float(np.dot(times, pv)) / total
    conv = float(np.dot(times * (times + 0.5), pv)) / (total * v * v)
    return BondAnalytics(
        price=clean,
        yield_=y,
        mortgage_yield=mortgage_yield_from_bey(y),
        average_life=(
            average_life(prin, delay_days=delay_days, settle_days=settle_days)
            if float(prin.sum()) > 0.0
            else math.nan
        ),
        macaulay_duration=mac,
        modified_duration=mac / v,
        convexity=conv,
        accrued=accrued,
        full_price=clean + accrued,
    )
