"""Compiled kernels of the Monte Carlo OAS: path-wise pool projection and path PVs.

Arrays in, arrays out (numba, ``cache=True``); nothing here knows about curves, deals
or dates. :mod:`openmbs.pricing._oas` wires them.

Pool projection (:func:`pool_paths_kernel`)
-------------------------------------------
Paths run in parallel (``prange``); within a path the month loop is outside and the
rep-line loop inside, and each line's state (scheduled balance ``S``, performing
survival ``q``, foreclosure pipeline ``f``) lives in small per-path arrays, as in
``openmbs.cashflow``'s kernels. The refinancing model is evaluated once per distinct
gross coupon and month (its S-curve and burnout depend only on the incentive, that is on
the coupon and the path's mortgage rate); a line's SMM is that coupon's SMM once the
line is seasoned (ramp at 1) and is computed for the line itself while it ramps.
Hence the transcendental functions run ``n_coupons`` times a month instead of
``n_lines`` times, and the line loop is plain arithmetic.

The cash flows follow the SIFMA Standard Formulas: level-pay schedule (SF-4),
prepayment ``SMM`` on the prior performing balance after scheduled amortisation, and,
with defaults, the default section (new defaults ``MDR x`` the prior performing balance,
liquidation ``lag`` months later, loss ``min(severity x defaulted, liquidated)``, P&I
advanced or not), with the same algebra as ``openmbs.cashflow._kernels``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = [
    "N_ROWS",
    "R_END",
    "R_FCL",
    "R_INT",
    "R_LOSS",
    "R_PREP",
    "R_RECOV",
    "R_SCHED",
    "pool_paths_kernel",
    "pv_kernel",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Rows of the output of pool_paths_kernel.
R_INT = 0  # interest to the investor (net or gross rate) on the paying balance
R_SCHED = 1  # scheduled principal (actual amortisation + amortisation advanced on defaults)
R_PREP = 2  # voluntary prepayments
R_END = 3  # ending pool balance (performing + foreclosure pipeline)
R_RECOV = 4  # principal recovered on liquidation
R_LOSS = 5  # principal loss on liquidation
R_FCL = 6  # foreclosure pipeline at the end of the period
N_ROWS = 7


#: Largest exponent magnitude for which a factored exponential is used (see _coupon_smm).
_EXP_SAFE = 300.0


@njit(cache=True, fastmath=True, error_model="numpy")
def _coupon_smm(
    m: float,
    log_keep_tov: float,
    ucpn: FloatArray,
    ref: float,
    k_u: FloatArray,
    b_u: FloatArray,
    factored: bool,
    burn_u: FloatArray,
    refi_u: FloatArray,
    smm_u: FloatArray,
    rmax: float,
    center: float,
    width: float,
    burn: float,
) -> None:
    """Refinancing speed (ramp 1) and seasoned SMM of every distinct coupon; burnout.

    ``refi = rmax / (1 + exp(-z)) * burn`` with ``z = (c - m - center) / width`` and
    ``burn *= exp(-burnout (c - m) / 12)`` when the incentive ``c - m`` is positive;
    ``SMM = 1 - [(1 - turnover) (1 - refi)]^(1/12)``. Both exponentials are linear in
    the coupon ``c``, so they are factored as a per-coupon constant (``k_u``, ``b_u``,
    relative to the coupon ``ref``) times one per-month value: no exponential per
    coupon. When an exponent would exceed :data:`_EXP_SAFE` in magnitude (or
    ``factored`` is False) the exponentials are taken per coupon.
    """
    zm = (ref - m - center) / width
    bm = burn * (ref - m) / 12.0
    use_f = factored and abs(zm) < _EXP_SAFE and abs(bm) < _EXP_SAFE
    em = math.exp(-zm) if use_f else 0.0
    gm = math.exp(-bm) if use_f else 0.0
    for u in range(ucpn.size):
        incentive = ucpn[u] - m
        e_z = k_u[u] * em if use_f else math.exp(-(incentive - center) / width)
        refi = rmax * burn_u[u] / (1.0 + e_z)
        refi_u[u] = refi
        smm_u[u] = -math.expm1((log_keep_tov + math.log1p(-refi)) / 12.0)
        if incentive > 0.0 and burn > 0.0:
            if use_f:
                burn_u[u] *= b_u[u] * gm
            else:
                burn_u[u] *= math.exp(-burn * incentive / 12.0)


@njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def pool_paths_kernel(
    rates: FloatArray,
    bal: FloatArray,
    gross: FloatArray,
    coupon: FloatArray,
    rem: IntArray,
    age: IntArray,
    cidx: IntArray,
    ucpn: FloatArray,
    ref: float,
    k_u: FloatArray,
    b_u: FloatArray,
    factored: bool,
    params: FloatArray,
    season: FloatArray,
    start_month: int,
    n_periods: int,
    mdr: FloatArray,
    defaults: bool,
    severity: float,
    lag: int,
    advance: int,
) -> FloatArray:
    """Pool cash flows of level-pay rep lines on every mortgage-rate path.

    Parameters
    ----------
    rates : float64[n_paths, >= n_periods]
        Prevailing mortgage rate at the start of each period, decimals.
    bal, gross, coupon : float64[n_lines]
        Balance; gross note rate; rate paid to the investor (net or gross), decimals.
    rem, age : int64[n_lines]
        Remaining term and loan age at the start, months.
    cidx : int64[n_lines]
        Index of the line's gross coupon in ``ucpn`` (the distinct gross coupons).
    ref, k_u, b_u, factored
        Factored exponentials of the model (see :func:`_coupon_smm`):
        ``k_u = exp(-(ucpn - ref) / refi_width)``, ``b_u = exp(-burnout (ucpn - ref) / 12)``
        and whether they are usable (every exponent within :data:`_EXP_SAFE`).
    params : float64[6]
        ``(turnover_cpr, refi_max_cpr, refi_center, refi_width, burnout, ramp_months)``
        of :class:`openmbs.behaviour.models.RefiPrepaymentModel`.
    season : float64[12]
        Turnover seasonality, January first; ``start_month`` is period 1's month.
    n_periods : int
        Horizon in months.
    mdr : float64[n_periods, n_lines]
        Monthly default rate of each line by period (ignored unless ``defaults``); the
        kernel zeroes it for periods after ``rem - lag`` (SIFMA: no new defaults in a
        loan's last ``lag`` months).
    defaults, severity, lag, advance
        Default cash flows on or off; loss severity (decimal); months from default to
        liquidation; what is advanced on defaulted loans, as a code of
        :data:`openmbs.cashflow._advance.ADVANCE_CODES` (0 nothing, 1 scheduled
        principal with the interest lost, 2 principal and interest).

    Returns
    -------
    float64[N_ROWS, n_paths, n_periods]
        Rows ``R_*``.
    """
    n_paths = rates.shape[0]
    n_lines = bal.size
    n_u = ucpn.size
    out = np.zeros((N_ROWS, n_paths, n_periods))
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
    # first period (0-based) in which each line is seasoned (ramp at 1), and the lines
    # in decreasing order of it: the ramping lines of a month are a prefix
    first = np.zeros(n_lines, dtype=np.int64)
    for i in range(n_lines):
        t = 0
        while ramp_m > 0.0 and min(1.0, (age[i] + t + 1.0) / ramp_m) < 1.0:
            t += 1
        first[i] = t
    order = np.argsort(-first)
    ring_len = max(lag, 1)
    for p in prange(n_paths):
        s = bal.copy()  # scheduled balance (no prepayment, no default)
        q = np.ones(n_lines)  # performing survival
        f = np.zeros(n_lines)  # foreclosure: scheduled units (advance) or currency
        smm_l = np.empty(n_lines)
        burn_u = np.ones(n_u)  # exp(-burnout * exposure) per coupon
        refi_u = np.empty(n_u)
        smm_u = np.empty(n_u)
        ring_d = np.zeros(ring_len * n_lines if defaults else 1)
        ring_n = np.zeros(ring_len * n_lines if defaults else 1)
        for t in range(n_periods):
            m = rates[p, t]
            sea = season[(start_month - 1 + t) % 12]
            log_keep_tov = math.log1p(-turn * sea)
            _coupon_smm(
                m, log_keep_tov, ucpn, ref, k_u, b_u, factored, burn_u, refi_u, smm_u,
                rmax, center, width, burn,
            )
            # this month's SMM of every line: a seasoned line has its coupon's, a
            # ramping line its own
            for i in range(n_lines):
                smm_l[i] = smm_u[cidx[i]]
            for j in range(n_lines):
                i = order[j]
                if first[i] <= t:
                    break
                ramp = min(1.0, (age[i] + t + 1.0) / ramp_m)
                tov = turn * ramp * sea
                refi = refi_u[cidx[i]] * ramp
                smm_l[i] = -math.expm1((math.log1p(-tov) + math.log1p(-refi)) / 12.0)
            a_int = 0.0
            a_sch = 0.0
            a_pre = 0.0
            a_end = 0.0
            if not defaults:
                for i in range(n_lines):
                    s0 = s[i]
                    s1 = max(s0 * (1.0 + c[i]) - pay[i], 0.0)
                    s1 = 0.0 if t >= rem[i] - 1 else s1
                    q0 = q[i]
                    smm = smm_l[i]
                    a_int += q0 * s0 * cpn[i]
                    a_sch += q0 * (s0 - s1)
                    a_pre += q0 * s1 * smm
                    q1 = q0 * (1.0 - smm)
                    a_end += q1 * s1
                    q[i] = q1
                    s[i] = s1
                out[R_INT, p, t] = a_int
                out[R_SCHED, p, t] = a_sch
                out[R_PREP, p, t] = a_pre
                out[R_END, p, t] = a_end
                continue
            # SIFMA default section (same algebra as openmbs.cashflow._kernels)
            tt = t + 1
            base = (t % ring_len) * n_lines
            a_fcl = 0.0
            a_liq = 0.0
            a_loss = 0.0
            for i in range(n_lines):
                s0 = s[i]
                q0 = q[i]
                f0 = f[i]
                r = rem[i]
                s1 = max(s0 * (1.0 + c[i]) - pay[i], 0.0)
                s1 = 0.0 if tt >= r else s1
                md = 0.0 if tt > r - lag else mdr[t, i]
                smm = min(smm_l[i], 1.0 - md)
                d = q0 * md
                nd = d * s0
                ds = s0 - s1
                perf0 = q0 * s0
                q1 = q0 - d - q0 * smm
                if advance != 0:
                    d_out = d if lag == 0 else ring_d[base + i]
                    n_out = nd if lag == 0 else ring_n[base + i]
                    ring_d[base + i] = d
                    ring_n[base + i] = nd
                    f1 = f0 - d_out + d
                    liq = d_out * s0
                    if advance == 2:
                        a_int += (perf0 + f0 * s0) * cpn[i]
                    else:  # principal advanced, interest of new defaults and FCL lost
                        a_int += (perf0 - nd) * cpn[i]
                    a_sch += (q0 + f0 - d_out) * ds
                    a_fcl += f1 * s1
                    a_loss += min(severity * n_out, liq)
                else:
                    liq = nd if lag == 0 else ring_n[base + i]
                    ring_n[base + i] = nd
                    f1 = f0 - liq + nd
                    f1 = 0.0 if tt >= r else f1  # empty at maturity, not a residue
                    a_int += (perf0 - nd) * cpn[i]
                    a_sch += (q0 - d) * ds
                    a_fcl += f1
                    a_loss += min(severity * liq, liq)
                a_liq += liq
                a_pre += q0 * s1 * smm
                a_end += q1 * s1
                q[i] = q1
                s[i] = s1
                f[i] = f1
            out[R_INT, p, t] = a_int
            out[R_SCHED, p, t] = a_sch
            out[R_PREP, p, t] = a_pre
            out[R_END, p, t] = a_end + a_fcl
            out[R_RECOV, p, t] = a_liq - a_loss
            out[R_LOSS, p, t] = a_loss
            out[R_FCL, p, t] = a_fcl
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def pv_kernel(
    rates: FloatArray,
    cash: FloatArray,
    spreads: FloatArray,
    whole: int,
    frac: float,
) -> tuple[FloatArray, FloatArray]:
    """PV per security and path, and its derivative in the spread.

    ``cash[j, p, k]`` is paid ``k + 1 + whole + frac`` months from now and discounted at
    the path's monthly-compounded one-month rates ``rates[p, :]`` plus ``spreads[j]``::

        D = prod_{i <= k + whole} (1 + x_i)^-1 * (1 + x_{k + whole + 1})^-frac,
        x_i = (rates[p, i] + s) / 12.

    Returns ``pv[j, p]`` and ``dpv[j, p]`` (d pv / d s, exact).
    """
    n_sec, n_paths, n_per = cash.shape
    pv = np.zeros((n_sec, n_paths))
    dpv = np.zeros((n_sec, n_paths))
    for p in prange(n_paths):
        for j in range(n_sec):
            sp = spreads[j]
            last = n_per  # nothing to discount after the last non-zero cash flow
            while last > 0 and cash[j, p, last - 1] == 0.0:
                last -= 1
            log_d = 0.0
            dlog = 0.0  # d log_d / d s
            for i in range(whole):
                x = (rates[p, i] + sp) / 12.0
                log_d -= math.log1p(x)
                dlog -= 1.0 / (12.0 * (1.0 + x))
            x_next = (rates[p, whole] + sp) / 12.0
            l_next = math.log1p(x_next)
            g_next = 1.0 / (12.0 + 12.0 * x_next)  # d log(1 + x) / d s
            acc = 0.0
            dacc = 0.0
            for k in range(last):
                log_d -= l_next
                dlog -= g_next
                x_next = (rates[p, k + whole + 1] + sp) / 12.0
                l_next = math.log1p(x_next)
                g_next = 1.0 / (12.0 + 12.0 * x_next)
                cf = cash[j, p, k]
                if cf != 0.0:
                    v = cf * math.exp(log_d - frac * l_next)
                    acc += v
                    dacc += v * (dlog - frac * g_next)
            pv[j, p] = acc
            dpv[j, p] = dacc
    return pv, dpv
