"""Monte Carlo option-adjusted spread (OAS) of pass-throughs and deal tranches.

Pipeline, every stage vectorised over paths::

    Hull-White paths (antithetic, seeded)                 openmbs.risk.HullWhite
      -> mortgage-rate paths (10y par rate + spread)     openmbs.risk.mortgage_rate_paths
      -> path-dependent prepayment (refi S-curve with burnout, RefiPrepaymentModel)
         and pool cash flows per path and rep line       (_path_pool_kernel, numba)
      -> for a deal: the float waterfall on every path   openmbs.structuring.run_waterfall
      -> discount at path short rates + OAS, monthly compounding, payment delay included
      -> solve OAS so that the mean PV equals the full price per 100 of face.

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

from openmbs.errors import ConvergenceError, InputError

if TYPE_CHECKING:
    from openmbs.behaviour.models import RefiPrepaymentModel
    from openmbs.pricing._curve import ZeroCurve
    from openmbs.structuring import DealSpec

__all__ = ["OASResult", "PoolLines", "oas_deal", "oas_pass_through", "path_pool_cashflows"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Rows of the per-path pool cash-flow array returned by :func:`path_pool_cashflows`.
POOL_ROWS = ("interest", "scheduled_principal", "prepaid_principal", "ending_balance")


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
        from openmbs.cashflow._project import _tape_arrays, repline_arrays

        bal, gross, net, rem, age = _tape_arrays(tape)
        if bal.size == 0:
            raise InputError("tape has no loan with a positive balance and remaining term")
        if replines:
            bal, gross, net, rem, age = repline_arrays(bal, gross, net, rem, age)
        return cls(bal, gross, net, rem, age)


# ---------------------------------------------------------------------------- kernels


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _path_pool_kernel(
    rates: FloatArray,
    bal: FloatArray,
    gross: FloatArray,
    coupon: FloatArray,
    rem: IntArray,
    age: IntArray,
    params: FloatArray,
    season: FloatArray,
    start_month: int,
    n_periods: int,
) -> FloatArray:
    """Pool cash flows on every mortgage-rate path (prepayment only, level pay).

    ``params`` = (turnover_cpr, refi_max_cpr, refi_center, refi_width, burnout,
    ramp_months). Returns ``out[row, path, period]`` with the rows of ``POOL_ROWS``;
    ``coupon`` is the rate paid to the investor (net or gross). Paths run in parallel;
    within a path the month loop is outside and the line loop inside, so one path's
    state stays in cache and its monthly totals are summed in a fixed order.
    """
    n_paths = rates.shape[0]
    n_lines = bal.size
    out = np.zeros((4, n_paths, n_periods))
    turn, rmax, center, width, burn, ramp_m = (
        params[0], params[1], params[2], params[3], params[4], params[5],
    )
    c = gross / 12.0
    cpn = coupon / 12.0
    pay = np.empty(n_lines)
    for i in range(n_lines):
        if c[i] > 0.0:
            pay[i] = bal[i] * c[i] / (-math.expm1(-rem[i] * math.log1p(c[i])))
        else:
            pay[i] = bal[i] / rem[i]
    for p in prange(n_paths):
        s = bal.copy()  # scheduled balance (no prepayment)
        q = np.ones(n_lines)  # surviving fraction
        burn_factor = np.ones(n_lines)  # exp(-burnout * exposure)
        for t in range(n_periods):
            m = rates[p, t]
            sea = season[(start_month - 1 + t) % 12]
            a_int = 0.0
            a_sch = 0.0
            a_pre = 0.0
            a_end = 0.0
            for i in range(n_lines):
                if t >= rem[i]:
                    continue
                # the refinancing model (RefiPrepaymentModel's formulas)
                incentive = gross[i] - m
                ramp = min(1.0, (age[i] + t + 1.0) / ramp_m) if ramp_m > 0.0 else 1.0
                tov = turn * ramp * sea
                z = (incentive - center) / width
                refi = rmax * 0.5 * (1.0 + math.tanh(0.5 * z)) * burn_factor[i] * ramp
                smm = -math.expm1(math.log1p(-(1.0 - (1.0 - tov) * (1.0 - refi))) / 12.0)
                if incentive > 0.0 and burn > 0.0:
                    burn_factor[i] *= math.exp(-burn * incentive / 12.0)
                # SIFMA SF-4 level-pay schedule, prepayment after amortisation
                s0 = s[i]
                s1 = s0 * (1.0 + c[i]) - pay[i]
                if t == rem[i] - 1 or s1 < 0.0:
                    s1 = 0.0
                qq = q[i]
                a_int += qq * s0 * cpn[i]
                a_sch += qq * (s0 - s1)
                a_pre += qq * s1 * smm
                qq = qq * (1.0 - smm)
                a_end += qq * s1
                q[i] = qq
                s[i] = s1
            out[0, p, t] = a_int
            out[1, p, t] = a_sch
            out[2, p, t] = a_pre
            out[3, p, t] = a_end
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def _pv_kernel(
    rates: FloatArray, cash: FloatArray, spread: float, whole: int, frac: float
) -> FloatArray:
    """PV per path of ``cash[p, k]`` paid ``k + 1 + whole + frac`` months from now.

    ``rates[p, j]`` are monthly-compounded one-month rates (decimals a year).
    """
    n_paths, n_per = cash.shape
    pv = np.zeros(n_paths)
    for p in prange(n_paths):
        log_d = 0.0
        for j in range(whole):
            log_d -= math.log1p((rates[p, j] + spread) / 12.0)
        acc = 0.0
        for k in range(n_per):
            log_d -= math.log1p((rates[p, k + whole] + spread) / 12.0)
            if cash[p, k] != 0.0:
                extra = -frac * math.log1p((rates[p, k + whole + 1] + spread) / 12.0)
                acc += cash[p, k] * math.exp(log_d + extra)
        pv[p] = acc
    return pv


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
    """:func:`openmbs.risk.mortgage_rate_paths` for the first ``n_periods`` columns.

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


def path_pool_cashflows(
    pool: PoolLines,
    mortgage_rates: npt.ArrayLike,
    *,
    model: RefiPrepaymentModel | None = None,
    start_month: int = 1,
    interest: str = "net",
    n_periods: int | None = None,
) -> FloatArray:
    """Pool cash flows on every mortgage-rate path under the refinancing model.

    Parameters
    ----------
    pool : PoolLines
        Rep lines (or loans).
    mortgage_rates : array_like, shape (n_paths, n_periods)
        Prevailing mortgage rate at the start of each period, decimals
        (:func:`openmbs.risk.mortgage_rate_paths`).
    model : RefiPrepaymentModel, optional
        The prepayment model (default parameters when None); each line's incentive is its
        gross note rate minus the path's mortgage rate.
    start_month : int
        Calendar month of period 1 (seasonality).
    interest : {"net", "gross"}
        Interest at the net pass-through rate or the gross note rate.
    n_periods : int, optional
        Horizon (default: the rate paths' length).

    Returns
    -------
    ndarray, shape (4, n_paths, n_periods)
        Rows ``interest``, ``scheduled_principal``, ``prepaid_principal``,
        ``ending_balance`` (:data:`POOL_ROWS`).

    Notes
    -----
    Level-pay amortisation as in the SIFMA Standard Formulas (SF-4), voluntary prepayment
    ``SMM x`` the balance after scheduled amortisation; SMM from
    :class:`openmbs.behaviour.models.RefiPrepaymentModel` (same formulas, compiled).
    No defaults.
    """
    from openmbs.behaviour.models import RefiPrepaymentModel

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
    params = np.array(
        [m.turnover_cpr, m.refi_max_cpr, m.refi_center, m.refi_width, m.burnout, m.ramp_months]
    )
    coupon = pool.net_coupon if interest == "net" else pool.gross_coupon
    result: FloatArray = _path_pool_kernel(
        r,
        pool.balance,
        pool.gross_coupon,
        coupon,
        pool.remaining_term,
        pool.loan_age,
        params,
        np.asarray(m.seasonality, dtype=np.float64),
        int(start_month),
        horizon,
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
    cash: list[FloatArray]  # per security, (n_paths, n_periods)
    principal: list[FloatArray]


def _simulate(
    s: _Setup, curve: ZeroCurve, sigma: float, n_paths: int, antithetic: bool, cash_fn: Any
) -> _Scenario:
    from openmbs.risk._hull_white import HullWhite

    hw = HullWhite(curve, a=s.a, sigma=sigma)
    n_steps = s.n_periods + s.whole + 2
    paths = hw.simulate(n_paths, n_steps, seed=s.seed, antithetic=antithetic)
    d = paths.discount
    one_month = 12.0 * (d[:, :-1] / d[:, 1:] - 1.0)
    mrates = _mortgage_rates(hw, paths, s.n_periods, s.mortgage_spread_bp)
    cash, principal = cash_fn(mrates)
    return _Scenario(np.ascontiguousarray(one_month), cash, principal)


def _mean_price(s: _Setup, sc: _Scenario, i: int, spread: float, face: float) -> float:
    pv = _pv_kernel(sc.rates, sc.cash[i], spread, s.whole, s.frac)
    return float(pv.mean()) * 100.0 / face


def _solve(s: _Setup, sc: _Scenario, i: int, face: float, price: float, what: str) -> float:
    from scipy.optimize import brentq

    def f(x: float) -> float:
        return _mean_price(s, sc, i, x, face) - price

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
    base = _simulate(s, s.curve, s.sigma, s.n_paths, s.antithetic, cash_fn)
    zero_vol = _simulate(s, s.curve, 0.0, 1, False, cash_fn)
    up = down = None
    if shift_bp is not None:
        up = _simulate(s, s.curve.shift(shift_bp), s.sigma, s.n_paths, s.antithetic, cash_fn)
        down = _simulate(s, s.curve.shift(-shift_bp), s.sigma, s.n_paths, s.antithetic, cash_fn)
    dy = (shift_bp or math.nan) / 10_000.0
    out = []
    for i, (name, face, price) in enumerate(zip(names, faces, prices, strict=True)):
        if not (math.isfinite(price) and price > 0):
            raise InputError(f"price {price!r} for {name!r}: must be a full price per 100 > 0")
        oas = _solve(s, base, i, face, price, f"OAS of {name!r}")
        z = _solve(s, zero_vol, i, face, price, f"Z-spread of {name!r}")
        pv = _pv_kernel(base.rates, base.cash[i], oas, s.whole, s.frac) * 100.0 / face
        se = _std_error(pv, s.antithetic)
        h = 1e-4
        slope = (_mean_price(s, base, i, oas + h, face) - _mean_price(s, base, i, oas - h, face))
        slope /= 2.0 * h
        p0 = float(pv.mean())
        p_up = p_dn = math.nan
        if up is not None and down is not None:
            p_up = _mean_price(s, up, i, oas, face)
            p_dn = _mean_price(s, down, i, oas, face)
        out.append(
            OASResult(
                name=name,
                price=float(price),
                oas_bp=oas * 1e4,
                z_spread_bp=z * 1e4,
                option_cost_bp=(z - oas) * 1e4,
                effective_duration=(p_dn - p_up) / (2.0 * p0 * dy),
                effective_convexity=(p_up + p_dn - 2.0 * p0) / (p0 * dy * dy),
                pv_std_error=se,
                oas_std_error_bp=se / abs(slope) * 1e4 if slope != 0 else math.nan,
                zero_vol_wal=_wal(zero_vol.principal[i][0], s.delay_days),
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

    Returns
    -------
    OASResult

    Notes
    -----
    Monthly compounding over path short rates (module docstring). Z-spread: same
    convention, initial curve, cash flows of the ``sigma = 0`` path (rates follow the
    forwards). Settlement is at the start of period 1 (no accrued interest).

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

    def cash_fn(mrates: FloatArray) -> tuple[list[FloatArray], list[FloatArray]]:
        flows = path_pool_cashflows(pool, mrates, model=model, start_month=start_month)
        prin = flows[1] + flows[2]
        return [flows[0] + prin], [prin]

    return _run(s, ["pass-through"], [pool.total_balance], [float(price)], cash_fn, shift_bp)[0]


def _deal_collections(
    deal: DealSpec, pool: PoolLines, flows: FloatArray, *, index_rate: float = 0.0
) -> Any:
    """Waterfall collections ``(n_paths, n_periods)`` from per-path pool cash flows.

    Applies the deal's clean-up call (the remaining balance prepaid at par in the first
    period the pool factor is at or below ``deal.cleanup_call``; nothing after).
    """
    from openmbs.structuring import Collections

    orig = pool.total_balance
    interest, sched, prep, end = (np.array(flows[k]) for k in range(4))
    end[end < 1e-7 * orig] = 0.0
    if deal.cleanup_call > 0:
        hit = end <= deal.cleanup_call * orig
        any_hit = hit.any(axis=1)
        first = np.where(any_hit, hit.argmax(axis=1), end.shape[1])
        cols = np.arange(end.shape[1])[None, :]
        at = cols == first[:, None]
        after = cols > first[:, None]
        prep = np.where(at, prep + end, prep)
        for a in (interest, sched, prep, end):
            a[after] = 0.0
        end[at] = 0.0
    beg = np.concatenate([np.full((end.shape[0], 1), orig), end[:, :-1]], axis=1)
    return Collections.from_arrays(
        original_balance=orig,
        interest=interest,
        scheduled_principal=sched,
        prepaid_principal=prep,
        beginning_balance=beg,
        ending_balance=end,
        index_rate=index_rate,
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
) -> dict[str, OASResult]:
    """Monte Carlo OAS of every (or the named) tranche of a deal.

    The pool's cash flows on every path go through the deal's float waterfall
    (:func:`openmbs.structuring.run_waterfall`, vectorised over paths); each tranche's
    interest + principal is discounted as in :func:`oas_pass_through`, with the deal's
    ``payment_delay_days``. Prices are full prices per 100 of the tranche's face (one
    for all tranches, or a mapping by name). Interest-only tranches (no face) are not
    supported. ``index_rate`` is the floater index (constant, decimal).

    Returns
    -------
    dict
        Tranche name -> :class:`OASResult`.
    """
    from openmbs.structuring import run_waterfall

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

    def cash_fn(mrates: FloatArray) -> tuple[list[FloatArray], list[FloatArray]]:
        flows = path_pool_cashflows(
            pool, mrates, model=model, start_month=start_month,
            interest="net" if servicing_net else "gross",
        )
        res = run_waterfall(deal, _deal_collections(deal, pool, flows, index_rate=index_rate),
                            keep="cashflows")
        ip = res.table("interest_paid")
        pp = res.table("principal_paid")
        cash = [np.ascontiguousarray(ip[:, :, i] + pp[:, :, i]) for i in idx]
        prin = [np.ascontiguousarray(pp[:, :, i]) for i in idx]
        return cash, prin

    results = _run(s, chosen, faces, plist, cash_fn, shift_bp)
    return {r.name: r for r in results}
