"""Monte Carlo option-adjusted spread (OAS) of pass-throughs and deal tranches.

Pipeline, every stage vectorised over paths::

    Hull-White paths (antithetic, seeded)                 openmbs.rates.HullWhite
      -> mortgage-rate paths (10y par rate + spread)     openmbs.rates.mortgage_rate_paths
      -> path-dependent prepayment (refi S-curve with burnout, RefiPrepaymentModel),
         optional SIFMA default cash flows, pool totals per path   (_oas_kernel, numba)
      -> for a deal: the float waterfall on all paths at once    openmbs.structuring.run_waterfall
      -> discount at path short rates + OAS, monthly compounding, payment delay included
      -> solve OAS so that the mean PV equals the full price per 100 of face: the path
         cash flows do not depend on the spread, so only the discounting is repeated
         (Newton steps on every security at once, with the exact derivative; Brent's
         method as a fallback).

Discounting convention: the path's one-month rate for month ``j`` is the
monthly-compounded rate of its exact Hull-White discount factors,
``r_j = 12 (D(t_j) / D(t_{j+1}) - 1)``; with the spread ``s`` the discount factor of a
cash flow paid ``m = k + delay_days / 30`` months after settlement is
``prod_{j < floor(m)} (1 + (r_j + s)/12)^-1 * (1 + (r_floor(m) + s)/12)^-(m - floor(m))``.
At ``s = 0`` this is the path's exact discount factor at whole months.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from numba import njit, prange
from scipy.optimize import brentq

from openmbs.behaviour import Default
from openmbs.behaviour.models import RefiPrepaymentModel
from openmbs.cashflow import AdvanceMode, advance_code, repline_arrays, tape_arrays
from openmbs.errors import AssumptionError, ConvergenceError, InputError
from openmbs.pricing import _oas_kernel as K
from openmbs.rates import HullWhite
from openmbs.structuring import Collections, pool_balance_rows, run_waterfall

if TYPE_CHECKING:
    from openmbs.pricing._curve import ZeroCurve
    from openmbs.structuring import DealSpec

__all__ = ["OASResult", "PoolLines", "oas_deal", "oas_pass_through", "path_pool_cashflows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rows of the per-path pool cash-flow array returned by :func:`path_pool_cashflows`.
POOL_ROWS = (
    "interest",
    "scheduled_principal",
    "prepaid_principal",
    "ending_balance",
    "recoveries",
    "losses",
    "foreclosure_balance",
)


# ---------------------------------------------------------------------------- pool lines


@dataclass(frozen=True, eq=False)
class PoolLines:
    """Level-pay rep lines (or loans) of a pool: one element per line.

    Attributes
    ----------
    balance : ndarray
        Current balance of each line (currency units).
    gross_coupon, net_coupon : ndarray
        Gross note rate and net pass-through rate, annual decimals.
    remaining_term, loan_age : ndarray of int
        Months.
    """

    balance: FloatArray
    gross_coupon: FloatArray
    net_coupon: FloatArray
    remaining_term: IntArray
    loan_age: IntArray

    def __post_init__(self) -> None:
        bal = np.ascontiguousarray(self.balance, dtype=np.float64).ravel()
        n = bal.size
        arrays = {
            "gross_coupon": np.ascontiguousarray(self.gross_coupon, dtype=np.float64).ravel(),
            "net_coupon": np.ascontiguousarray(self.net_coupon, dtype=np.float64).ravel(),
            "remaining_term": np.ascontiguousarray(self.remaining_term, dtype=np.int64).ravel(),
            "loan_age": np.ascontiguousarray(self.loan_age, dtype=np.int64).ravel(),
        }
        if n == 0:
            raise InputError("pool lines: need at least one line")
        for name, a in arrays.items():
            if a.size != n:
                raise InputError(f"pool lines: {name} has {a.size} elements, balance has {n}")
        for i in range(n):
            if not (math.isfinite(bal[i]) and bal[i] > 0):
                raise InputError(f"pool line {i}: balance {bal[i]!r} must be > 0")
            g, c = arrays["gross_coupon"][i], arrays["net_coupon"][i]
            if not (0.0 <= c <= g < 1.0):
                raise InputError(
                    f"pool line {i}: need 0 <= net_coupon ({c!r}) <= gross_coupon ({g!r}) < 1"
                )
            if arrays["remaining_term"][i] < 1 or arrays["loan_age"][i] < 0:
                raise InputError(
                    f"pool line {i}: remaining_term {arrays['remaining_term'][i]!r} must be >= 1 "
                    f"and loan_age {arrays['loan_age'][i]!r} >= 0"
                )
        object.__setattr__(self, "balance", bal)
        for name, a in arrays.items():
            object.__setattr__(self, name, a)

    @property
    def n_lines(self) -> int:
        """Number of lines."""
        return int(self.balance.size)

    @property
    def total_balance(self) -> float:
        """Sum of the line balances."""
        return float(self.balance.sum())

    @classmethod
    def generic(
        cls, *, balance: float, wac: float, net_coupon: float, term: int = 360, age: int = 0
    ) -> PoolLines:
        """One line: a generic pool with WAC, net coupon (decimals), original term, age."""
        if not 0 <= age < term:
            raise InputError(f"age {age!r}: must be between 0 and term - 1 ({term - 1})")
        return cls(
            np.array([balance]),
            np.array([wac]),
            np.array([net_coupon]),
            np.array([term - age]),
            np.array([age]),
        )

    @classmethod
    def from_tape(cls, tape: Any, *, replines: bool = True) -> PoolLines:
        """Lines of a loan tape: rep lines (note rate, term and age buckets) or loans.

        Uses the cash-flow engine's rep-line grouping (``openmbs.cashflow``: 0.125% note
        rate buckets, remaining-term and 12-month age buckets, balance-weighted).
        """
        bal, gross, net, rem, age = tape_arrays(tape)
        if bal.size == 0:
            raise InputError("tape has no loan with a positive balance and remaining term")
        if replines:
            bal, gross, net, rem, age = repline_arrays(bal, gross, net, rem, age)
        return cls(bal, gross, net, rem, age)


# ---------------------------------------------------------------------------- kernels


@njit(cache=True, parallel=True, error_model="numpy")
def _par_rate_kernel(x: FloatArray, log_a: FloatArray, b: FloatArray, freq: float) -> FloatArray:
    """Par coupon ``f (1 - P_n) / sum_i P_i`` with ``P_i = exp(log_a[t, i] - b[i] x[p, t])``."""
    n_paths = x.shape[0]
    n_steps, n_cpn = log_a.shape
    out = np.empty((n_paths, n_steps))
    for p in prange(n_paths):
        for t in range(n_steps):
            annuity = 0.0
            last = 0.0
            for i in range(n_cpn):
                last = math.exp(log_a[t, i] - b[i] * x[p, t])
                annuity += last
            out[p, t] = freq * (1.0 - last) / annuity
    return out


def _mortgage_rates(
    hw: Any, paths: Any, n_periods: int, spread_bp: float, tenor_years: float = 10.0,
    frequency: int = 2,
) -> FloatArray:
    """:func:`openmbs.rates.mortgage_rate_paths` for the first ``n_periods`` columns.

    Same quantity, computed from the model's own bond prices ``P(t, T) = A(t, T)
    exp(-B(T - t) x)``: ``A`` (the price at ``x = 0``) and ``B`` are taken once per grid
    time from :meth:`HullWhite.bond_price` and :meth:`HullWhite.B`, then combined with
    every path's factor in a compiled loop.
    """
    n_cpn = round(tenor_years * frequency)
    offsets = np.arange(1, n_cpn + 1, dtype=np.float64) / frequency
    t = np.asarray(paths.times[:n_periods], dtype=np.float64)
    log_a = np.log(hw.bond_price(t[:, None], t[:, None] + offsets[None, :], 0.0))
    b = np.asarray(hw.B(offsets), dtype=np.float64)
    x = np.ascontiguousarray(paths.x[:, :n_periods])
    rates: FloatArray = _par_rate_kernel(x, np.ascontiguousarray(log_a), b, float(frequency))
    return rates + spread_bp / 10_000.0


# ---------------------------------------------------------------------------- result


@dataclass(frozen=True)
class OASResult:
    """Monte Carlo OAS of one security.

    Attributes
    ----------
    name : str
        Tranche name, or ``"pass-through"``.
    price : float
        Full price per 100 of current face that the OAS reprices.
    oas_bp : float
        Option-adjusted spread, basis points, monthly compounding over the path
        short rates (see the module docstring).
    z_spread_bp : float
        Zero-volatility spread, same compounding, of the cash flows projected along the
        initial curve's forwards (the ``sigma = 0`` path) and discounted on the initial
        curve.
    option_cost_bp : float
        ``z_spread_bp - oas_bp``.
    effective_duration, effective_convexity : float
        From the PVs at the OAS with the zero curve shifted by ``+-shift_bp`` (Hull-White
        refitted, same random numbers): ``(P- - P+) / (2 P0 dy)`` and
        ``(P+ + P- - 2 P0) / (P0 dy^2)``, ``dy = shift_bp / 10^4``; years and years^2.
    pv_std_error : float
        Monte Carlo standard error of the mean PV at the OAS, per 100 of face
        (antithetic pairs averaged first).
    oas_std_error_bp : float
        ``pv_std_error / |d mean PV / d OAS|`` (delta method), basis points.
    zero_vol_wal : float
        Average life (years) of the principal on the ``sigma = 0`` path.
    n_paths, seed : int
    sigma, mean_reversion, shift_bp : float
    """

    name: str
    price: float
    oas_bp: float
    z_spread_bp: float
    option_cost_bp: float
    effective_duration: float
    effective_convexity: float
    pv_std_error: float
    oas_std_error_bp: float
    zero_vol_wal: float
    n_paths: int
    seed: int
    sigma: float
    mean_reversion: float
    shift_bp: float

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON)."""
        return dict(self.__dict__)


# ---------------------------------------------------------------------------- engine


def _check_defaults(default: Default | None, severity: float, lag: int) -> None:
    if default is not None and not isinstance(default, Default):
        raise AssumptionError(
            f"default must be a Default (e.g. Default.sda(100)) or None, got {default!r}"
        )
    if not (isinstance(severity, int | float) and 0.0 <= float(severity) <= 1.0):
        raise AssumptionError(
            f"severity must be a decimal between 0 and 1 (0.35 is 35%), got {severity!r}"
        )
    if isinstance(lag, bool) or not isinstance(lag, int | np.integer) or lag < 0:
        raise AssumptionError(f"lag must be a whole number of months >= 0, got {lag!r}")


def path_pool_cashflows(
    pool: PoolLines,
    mortgage_rates: npt.ArrayLike,
    *,
    model: RefiPrepaymentModel | None = None,
    start_month: int = 1,
    interest: str = "net",
    n_periods: int | None = None,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
) -> FloatArray:
    """Pool cash flows on every mortgage-rate path under the refinancing model.

    Parameters
    ----------
    pool : PoolLines
        Rep lines (or loans).
    mortgage_rates : array_like, shape (n_paths, n_periods)
        Prevailing mortgage rate at the start of each period, decimals
        (:func:`openmbs.rates.mortgage_rate_paths`).
    model : RefiPrepaymentModel, optional
        The prepayment model (default parameters when None); each line's incentive is its
        gross note rate minus the path's mortgage rate.
    start_month : int
        Calendar month of period 1 (seasonality).
    interest : {"net", "gross"}
        Interest at the net pass-through rate or the gross note rate.
    n_periods : int, optional
        Horizon (default: the rate paths' length).
    default : Default, optional
        Default assumption (:class:`openmbs.behaviour.Default`: MDR, CDR or SDA, by the
        loan age of each line); None for no defaults.
    severity : float
        Loss severity, decimal of the defaulted balance.
    lag : int
        Months from default to liquidation.
    advance : {"principal", "all", "none"}
        What the servicer advances on defaulted loans, as in
        :func:`openmbs.cashflow.project_pool` (``True``/``False``: ``"all"``/``"none"``).

    Returns
    -------
    ndarray, shape (7, n_paths, n_periods)
        Rows ``interest``, ``scheduled_principal``, ``prepaid_principal``,
        ``ending_balance``, ``recoveries``, ``losses``, ``foreclosure_balance``
        (:data:`POOL_ROWS`); the last three are zero without defaults.

    Notes
    -----
    Level-pay amortisation as in the SIFMA Standard Formulas (SF-4), voluntary prepayment
    ``SMM x`` the performing balance after scheduled amortisation; SMM from
    :class:`openmbs.behaviour.models.RefiPrepaymentModel` (same formulas, compiled in
    ``_oas_kernel``). Defaults follow the Standard Formulas' default section exactly as
    ``openmbs project`` (:func:`openmbs.cashflow.project_loans`) does: new defaults
    ``MDR x`` the prior performing balance (none in a line's last ``lag`` months),
    liquidated ``lag`` months later with loss ``min(severity x defaulted,
    liquidated)``; the rest is recovered. ``scheduled_principal`` includes the
    amortisation advanced on defaulted loans; ``ending_balance`` is the performing
    balance plus the foreclosure pipeline; interest is on the balance that pays or is
    advanced (performing + foreclosure with ``advance="all"``, the performing balance
    less the month's new defaults otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    >>> flows = path_pool_cashflows(pool, np.full((2, 360), 0.06))
    >>> flows.shape, bool(abs(flows[3, 0, -1]) < 1e-6)
    ((7, 2, 360), True)
    """
    m = model if model is not None else RefiPrepaymentModel()
    r = np.ascontiguousarray(mortgage_rates, dtype=np.float64)
    if r.ndim != 2:
        raise InputError(f"mortgage_rates shape {r.shape}: expected (n_paths, n_periods)")
    horizon = r.shape[1] if n_periods is None else int(n_periods)
    if not 1 <= horizon <= r.shape[1]:
        raise InputError(f"n_periods {n_periods!r}: must be 1..{r.shape[1]} (rate path length)")
    if interest not in ("net", "gross"):
        raise InputError(f"interest {interest!r}: expected 'net' or 'gross'")
    if not 1 <= int(start_month) <= 12:
        raise InputError(f"start_month {start_month!r}: expected 1..12")
    _check_defaults(default, severity, lag)
    params = np.array(
        [m.turnover_cpr, m.refi_max_cpr, m.refi_center, m.refi_width, m.burnout, m.ramp_months]
    )
    coupon = pool.net_coupon if interest == "net" else pool.gross_coupon
    ucpn, inv = np.unique(pool.gross_coupon, return_inverse=True)
    ref = float(ucpn[ucpn.size // 2])
    ez = -(ucpn - ref) / m.refi_width
    eb = -m.burnout * (ucpn - ref) / 12.0
    factored = bool(np.all(np.abs(ez) < K._EXP_SAFE) and np.all(np.abs(eb) < K._EXP_SAFE))
    k_u = np.exp(np.clip(ez, -K._EXP_SAFE, K._EXP_SAFE))
    b_u = np.exp(np.clip(eb, -K._EXP_SAFE, K._EXP_SAFE))
    with_defaults = default is not None and not default.is_zero
    if default is not None and with_defaults:
        mdr = np.ascontiguousarray(default.mdr_matrix(pool.loan_age, horizon), dtype=np.float64)
    else:
        mdr = np.zeros((1, 1))
    result: FloatArray = K.pool_paths_kernel(
        r,
        pool.balance,
        pool.gross_coupon,
        np.ascontiguousarray(coupon),
        pool.remaining_term,
        pool.loan_age,
        np.ascontiguousarray(inv.ravel(), dtype=np.int64),
        np.ascontiguousarray(ucpn),
        ref,
        k_u,
        b_u,
        factored,
        params,
        np.asarray(m.seasonality, dtype=np.float64),
        int(start_month),
        horizon,
        mdr,
        with_defaults,
        float(severity),
        int(lag),
        advance_code(advance),
    )
    return result


@dataclass(frozen=True)
class _Setup:
    curve: ZeroCurve
    n_paths: int
    seed: int
    sigma: float
    a: float
    antithetic: bool
    model: RefiPrepaymentModel | None
    mortgage_spread_bp: float
    delay_days: float
    start_month: int
    n_periods: int

    @property
    def whole(self) -> int:
        return int(self.delay_days // 30)

    @property
    def frac(self) -> float:
        return float(self.delay_days / 30.0 - self.whole)


@dataclass(frozen=True, eq=False)
class _Scenario:
    """One set of simulated paths: one-month rates and per-path security cash flows."""

    rates: FloatArray  # (n_paths, n_periods + whole + 2) monthly-compounded 1m rates
    cash: FloatArray  # (n_securities, n_paths, n_periods)
    principal: FloatArray  # (n_securities, n_paths, n_periods)


def _simulate(
    s: _Setup, curve: ZeroCurve, sigma: float, n_paths: int, antithetic: bool, cash_fn: Any
) -> _Scenario:
    hw = HullWhite(curve, a=s.a, sigma=sigma)
    n_steps = s.n_periods + s.whole + 2
    paths = hw.simulate(n_paths, n_steps, seed=s.seed, antithetic=antithetic)
    d = paths.discount
    one_month = 12.0 * (d[:, :-1] / d[:, 1:] - 1.0)
    mrates = _mortgage_rates(hw, paths, s.n_periods, s.mortgage_spread_bp)
    cash, principal = cash_fn(mrates)
    return _Scenario(
        np.ascontiguousarray(one_month),
        np.ascontiguousarray(cash, dtype=np.float64),
        np.ascontiguousarray(principal, dtype=np.float64),
    )


def _path_pvs(s: _Setup, sc: _Scenario, spreads: FloatArray) -> tuple[FloatArray, FloatArray]:
    """PV of every security on every path at its spread, and d PV / d spread."""
    pv, dpv = K.pv_kernel(
        sc.rates, sc.cash, np.ascontiguousarray(spreads, dtype=np.float64), s.whole, s.frac
    )
    return pv, dpv


def _brent(s: _Setup, sc: _Scenario, i: int, scale: float, price: float, what: str) -> float:
    """Brent's method on one security's spread (the fallback of :func:`_solve`)."""
    def f(x: float) -> float:
        spreads = np.zeros(sc.cash.shape[0])
        spreads[i] = x
        pv, _ = K.pv_kernel(sc.rates, sc.cash[i : i + 1], spreads[i : i + 1], s.whole, s.frac)
        return float(pv.mean()) * scale - price

    lo, hi = -0.02, 0.05
    f_lo, f_hi = f(lo), f(hi)
    while f_lo < 0 and lo > -0.5:
        lo -= 0.05
        f_lo = f(lo)
    while f_hi > 0 and hi < 2.0:
        hi += 0.1
        f_hi = f(hi)
    if f_lo * f_hi > 0:
        raise ConvergenceError(
            f"{what} at price {price!r}: no spread between {lo * 1e4:.0f} and {hi * 1e4:.0f} bp "
            "reprices the mean path PV"
        )
    return float(brentq(f, lo, hi, xtol=1e-12, maxiter=200))


def _solve(
    s: _Setup,
    sc: _Scenario,
    scale: FloatArray,
    price: FloatArray,
    what: list[str],
    start: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Spread of every security that reprices its mean path PV to its price.

    Newton's method on all securities at once (the mean PV is decreasing and convex in
    the spread, so the iteration converges from any start), with the exact derivative
    from :func:`_path_pvs`, until every step is below 1e-12 (1e-8 bp); a security that
    has not converged after 40 steps is solved by Brent's method. Returns the spreads,
    the per-path PVs per 100 of face and the slopes ``d mean PV / d spread`` (per 100
    of face), both taken at the last Newton point (within 1e-12 of the root).
    """
    n = price.size
    x = np.zeros(n) if start is None else np.array(start, dtype=np.float64)
    done = np.zeros(n, dtype=bool)
    pv = dpv = np.zeros((n, 0))
    for _ in range(40):
        pv, dpv = _path_pvs(s, sc, x)
        f = pv.mean(axis=1) * scale - price
        df = dpv.mean(axis=1) * scale
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(done, 0.0, f / df)
        bad = ~np.isfinite(step)
        step = np.clip(np.where(bad, 0.0, step), -0.5, 0.5)
        x = x - step
        done |= (np.abs(step) <= 1e-12) & ~bad
        if bad.any() or done.all():
            break
    if not done.all():
        for i in np.flatnonzero(~done):
            x[i] = _brent(s, sc, int(i), float(scale[i]), float(price[i]), what[i])
        pv, dpv = _path_pvs(s, sc, x)
    return x, pv * scale[:, None], dpv.mean(axis=1) * scale


def _std_error(pv: FloatArray, antithetic: bool) -> float:
    n = pv.size
    if antithetic:
        half = n // 2
        y = 0.5 * (pv[:half] + pv[half:])
    else:
        y = pv
    if y.size < 2:
        return math.nan
    return float(np.std(y, ddof=1) / math.sqrt(y.size))


def _wal(principal: FloatArray, delay_days: float) -> float:
    tot = float(principal.sum())
    if tot <= 0:
        return math.nan
    k = np.arange(1, principal.size + 1, dtype=np.float64) + delay_days / 30.0
    return float((k * principal).sum() / (12.0 * tot))


def _run(
    s: _Setup,
    names: list[str],
    faces: list[float],
    prices: list[float],
    cash_fn: Any,
    shift_bp: float | None,
) -> list[OASResult]:
    if s.n_paths < 2 or (s.antithetic and s.n_paths % 2):
        raise InputError(f"n_paths {s.n_paths!r}: need at least 2 (an even number with antithetic)")
    if not (s.delay_days >= 0 and math.isfinite(s.delay_days)):
        raise InputError(f"delay_days {s.delay_days!r}: must be >= 0")
    if shift_bp is not None and not shift_bp > 0:
        raise InputError(f"shift_bp {shift_bp!r}: must be > 0 (or None for no effective measures)")
    for name, price in zip(names, prices, strict=True):
        if not (math.isfinite(price) and price > 0):
            raise InputError(f"price {price!r} for {name!r}: must be a full price per 100 > 0")
    scale = 100.0 / np.asarray(faces, dtype=np.float64)
    target = np.asarray(prices, dtype=np.float64)
    base = _simulate(s, s.curve, s.sigma, s.n_paths, s.antithetic, cash_fn)
    zero_vol = _simulate(s, s.curve, 0.0, 1, False, cash_fn)
    z, _, _ = _solve(s, zero_vol, scale, target, [f"Z-spread of {n!r}" for n in names])
    oas, pv, slope = _solve(
        s, base, scale, target, [f"OAS of {n!r}" for n in names], start=np.where(
            np.isfinite(z), z, 0.0)
    )
    p_up = p_dn = np.full(len(names), math.nan)
    if shift_bp is not None:
        for sign in (1.0, -1.0):
            sc = _simulate(
                s, s.curve.shift(sign * shift_bp), s.sigma, s.n_paths, s.antithetic, cash_fn
            )
            p = _path_pvs(s, sc, oas)[0].mean(axis=1) * scale
            if sign > 0:
                p_up = p
            else:
                p_dn = p
    dy = (shift_bp or math.nan) / 10_000.0
    out = []
    for i, (name, price) in enumerate(zip(names, prices, strict=True)):
        se = _std_error(pv[i], s.antithetic)
        p0 = float(pv[i].mean())
        out.append(
            OASResult(
                name=name,
                price=float(price),
                oas_bp=float(oas[i]) * 1e4,
                z_spread_bp=float(z[i]) * 1e4,
                option_cost_bp=float(z[i] - oas[i]) * 1e4,
                effective_duration=float(p_dn[i] - p_up[i]) / (2.0 * p0 * dy),
                effective_convexity=float(p_up[i] + p_dn[i] - 2.0 * p0) / (p0 * dy * dy),
                pv_std_error=se,
                oas_std_error_bp=se / abs(float(slope[i])) * 1e4 if slope[i] != 0 else math.nan,
                zero_vol_wal=_wal(zero_vol.principal[i, 0], s.delay_days),
                n_paths=s.n_paths,
                seed=s.seed,
                sigma=s.sigma,
                mean_reversion=s.a,
                shift_bp=math.nan if shift_bp is None else float(shift_bp),
            )
        )
    return out


def _setup(
    curve: ZeroCurve,
    n_paths: int,
    seed: int,
    sigma: float,
    mean_reversion: float,
    antithetic: bool,
    model: RefiPrepaymentModel | None,
    mortgage_spread_bp: float,
    delay_days: float,
    start_month: int,
    n_periods: int,
) -> _Setup:
    if not hasattr(curve, "shift") or not hasattr(curve, "zero_rates"):
        raise InputError(f"curve {curve!r}: expected an openmbs.pricing.ZeroCurve")
    return _Setup(
        curve, int(n_paths), int(seed), float(sigma), float(mean_reversion), bool(antithetic),
        model, float(mortgage_spread_bp), float(delay_days), int(start_month), int(n_periods),
    )


def oas_pass_through(
    pool: PoolLines,
    *,
    price: float,
    curve: ZeroCurve,
    n_paths: int = 1000,
    seed: int = 0,
    sigma: float = 0.01,
    mean_reversion: float = 0.05,
    antithetic: bool = True,
    model: RefiPrepaymentModel | None = None,
    mortgage_spread_bp: float = 170.0,
    delay_days: float = 0.0,
    start_month: int = 1,
    shift_bp: float | None = 25.0,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
) -> OASResult:
    """Monte Carlo OAS of a pass-through (net coupon to the investor).

    Parameters
    ----------
    pool : PoolLines
        The pool's rep lines (:meth:`PoolLines.generic`, :meth:`PoolLines.from_tape`).
    price : float
        Full price (clean + accrued) per 100 of current face.
    curve : ZeroCurve
        Initial zero curve (:func:`openmbs.pricing.bootstrap_par_curve`).
    n_paths, seed, antithetic : int, int, bool
        Hull-White paths: same seed, same paths (NumPy PCG64).
    sigma, mean_reversion : float
        Hull-White normal volatility (0.01 = 100 bp a year) and mean reversion a year.
    model : RefiPrepaymentModel, optional
        Prepayment model (default parameters when None).
    mortgage_spread_bp : float
        Mortgage rate = 10-year par rate of the simulated curve + this spread.
    delay_days : float
        30/360 days after each accrual month's end at which cash is paid.
    start_month : int
        Calendar month of period 1 (prepayment seasonality).
    shift_bp : float or None
        Parallel shift of the zero curve for effective duration and convexity (None:
        skip them, they are NaN).
    default, severity, lag, advance
        Default assumption (:class:`openmbs.behaviour.Default`, None for none), loss
        severity (decimal), months to liquidation and P&I advancing, as in
        ``openmbs project`` (:func:`path_pool_cashflows`).

    Returns
    -------
    OASResult

    Notes
    -----
    Monthly compounding over path short rates (module docstring). Z-spread: same
    convention, initial curve, cash flows of the ``sigma = 0`` path (rates follow the
    forwards). Settlement is at the start of period 1 (no accrued interest). The
    investor receives net interest, scheduled and prepaid principal and recoveries;
    losses are the investor's (no guarantee is modelled).

    Examples
    --------
    >>> from openmbs.pricing import bootstrap_par_curve
    >>> curve = bootstrap_par_curve([1, 10, 30], [0.04, 0.04, 0.04])
    >>> pool = PoolLines.generic(balance=1e6, wac=0.065, net_coupon=0.06)
    >>> r = oas_pass_through(pool, price=101.0, curve=curve, n_paths=64)
    >>> r.option_cost_bp > 0
    True
    """
    n_per = int(pool.remaining_term.max())
    s = _setup(
        curve, n_paths, seed, sigma, mean_reversion, antithetic, model, mortgage_spread_bp,
        delay_days, start_month, n_per,
    )

    _check_defaults(default, severity, lag)

    def cash_fn(mrates: FloatArray) -> tuple[FloatArray, FloatArray]:
        flows = path_pool_cashflows(
            pool, mrates, model=model, start_month=start_month, default=default,
            severity=severity, lag=lag, advance=advance,
        )
        prin = flows[1] + flows[2] + flows[4]
        return (flows[0] + prin)[None], prin[None]

    return _run(s, ["pass-through"], [pool.total_balance], [float(price)], cash_fn, shift_bp)[0]


def _deal_collections(
    deal: DealSpec, pool: PoolLines, flows: FloatArray, *, index_rate: float = 0.0
) -> Any:
    """Waterfall collections ``(n_paths, n_periods)`` from per-path pool cash flows.

    ``flows`` has the rows of :data:`POOL_ROWS` (the first four suffice when there are
    no defaults). The mapping is :func:`openmbs.structuring.collections_from_projection`'s:
    pool balance = performing + foreclosure pipeline, rebuilt from the flows by the same
    :func:`openmbs.structuring.pool_balance_rows` (``beginning(t + 1) =
    ending(t)`` exactly), the 60+ delinquent balance is the
    pipeline, and the deal's clean-up call is applied (the remaining balance prepaid at
    par in the first period the pool factor is at or below ``deal.cleanup_call``;
    nothing after).
    """
    orig = pool.total_balance
    n_rows = len(POOL_ROWS)
    f = np.zeros((n_rows, *flows.shape[1:]))
    f[: min(n_rows, flows.shape[0])] = flows[:n_rows]  # one copy; rows are views below
    if not np.isfinite(f).all():
        raise InputError("pool cash flows hold a non-finite value (check the rate paths)")
    interest, sched, prep, end, rec, loss, dq = f
    # balances rebuilt from the flows, as in collections_from_projection
    beg, end, dq, sched = pool_balance_rows(sched, prep, rec, loss, end, dq, orig)
    f[1] = sched
    f[3] = end
    f[6] = dq
    interest, sched, prep, end, rec, loss, dq = f
    if deal.cleanup_call > 0:
        hit = end <= deal.cleanup_call * orig
        any_hit = hit.any(axis=1)
        first = np.where(any_hit, hit.argmax(axis=1), end.shape[1])
        cols = np.arange(end.shape[1])[None, :]
        at = cols == first[:, None]
        prep[at] += end[at]
        f[:, cols > first[:, None]] = 0.0
        end[at] = 0.0
        dq[at] = 0.0
        beg[:, 1:] = end[:, :-1]
    return Collections(
        original_balance=float(orig),
        interest=interest,
        scheduled_principal=sched,
        prepaid_principal=prep,
        recoveries=rec,
        losses=loss,
        beginning_balance=beg,
        ending_balance=end,
        delinquent_60=dq,
        index_rate=np.full(end.shape, float(index_rate)),
        subsequent_recoveries=np.zeros(end.shape),
    )


def oas_deal(
    deal: DealSpec,
    pool: PoolLines,
    *,
    prices: float | Mapping[str, float],
    curve: ZeroCurve,
    tranches: list[str] | None = None,
    n_paths: int = 1000,
    seed: int = 0,
    sigma: float = 0.01,
    mean_reversion: float = 0.05,
    antithetic: bool = True,
    model: RefiPrepaymentModel | None = None,
    mortgage_spread_bp: float = 170.0,
    start_month: int = 1,
    shift_bp: float | None = 25.0,
    index_rate: float = 0.0,
    default: Default | None = None,
    severity: float = 0.0,
    lag: int = 0,
    advance: AdvanceMode | bool = "principal",
) -> dict[str, OASResult]:
    """Monte Carlo OAS of every (or the named) tranche of a deal.

    The pool's cash flows on every path go through the deal's float waterfall
    (:func:`openmbs.structuring.run_waterfall`, vectorised over paths); each tranche's
    interest + principal is discounted as in :func:`oas_pass_through`, with the deal's
    ``payment_delay_days``. Prices are full prices per 100 of the tranche's face (one
    for all tranches, or a mapping by name). Interest-only tranches (no face) are not
    supported. ``index_rate`` is the floater index (constant, decimal). ``default``,
    ``severity``, ``lag`` and ``advance`` are the pool's default assumptions, as in
    ``openmbs project`` (:func:`path_pool_cashflows`): recoveries, losses and the
    foreclosure pipeline (the 60+ delinquent balance) go to the waterfall as in
    :func:`openmbs.structuring.collections_from_projection`.

    The waterfall runs once per curve for all paths together (one call of the
    compiled float engine); the path cash flows do not depend on the spread, so the
    OAS solve repeats only the discounting.

    Returns
    -------
    dict
        Tranche name -> :class:`OASResult`.
    """
    servicing_net = deal.pool.servicing_in_net_rate
    n_per = int(pool.remaining_term.max())
    s = _setup(
        curve, n_paths, seed, sigma, mean_reversion, antithetic, model, mortgage_spread_bp,
        float(deal.payment_delay_days), start_month, n_per,
    )
    probe = run_waterfall(
        deal,
        _deal_collections(
            deal, pool, np.zeros((4, 1, 1)) + np.array([0, 0, 0, 1.0])[:, None, None]
            * pool.total_balance, index_rate=index_rate,
        ),
        keep="summary",
    )
    all_names = list(probe.names)
    chosen = all_names if tranches is None else list(tranches)
    for t in chosen:
        if t not in all_names:
            raise InputError(f"unknown tranche {t!r}; the deal has {', '.join(all_names)}")
    idx = [all_names.index(t) for t in chosen]
    for t, i in zip(chosen, idx, strict=True):
        if probe.io[i] or probe.face[i] <= 0:
            raise InputError(f"tranche {t!r} has no face (interest-only): OAS per 100 of face "
                             "is not defined")
    faces = [float(probe.face[i]) for i in idx]
    if isinstance(prices, Mapping):
        missing = [t for t in chosen if t not in prices]
        if missing:
            raise InputError(f"no price given for tranche(s) {', '.join(missing)}")
        plist = [float(prices[t]) for t in chosen]
    else:
        plist = [float(prices)] * len(chosen)

    _check_defaults(default, severity, lag)

    def cash_fn(mrates: FloatArray) -> tuple[FloatArray, FloatArray]:
        flows = path_pool_cashflows(
            pool, mrates, model=model, start_month=start_month,
            interest="net" if servicing_net else "gross", default=default,
            severity=severity, lag=lag, advance=advance,
        )
        res = run_waterfall(deal, _deal_collections(deal, pool, flows, index_rate=index_rate),
                            keep=("interest_paid", "principal_paid"))
        ip = res.table("interest_paid")
        pp = res.table("principal_paid")
        prin = np.stack([pp[:, :, i] for i in idx])
        cash = np.stack([ip[:, :, i] for i in idx]) + prin
        return cash, prin

    results = _run(s, chosen, faces, plist, cash_fn, shift_bp)
    return {r.name: r for r in results}
