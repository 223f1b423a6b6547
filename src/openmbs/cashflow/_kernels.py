"""Numeric kernels of the pool projection: arrays in, arrays out, compiled with numba.

Nothing here knows about dates, files or objects. Each kernel projects many level-pay
loans at once and returns pool totals by period.

Formulation
-----------
For each loan the kernels carry its *scheduled* balance ``S`` (the balance with no
prepayment and no default, in currency) and the surviving fractions of it:
``q`` performing and, with advancing, ``f`` in foreclosure. Every SIFMA quantity is
then a product, with no power and no division per month:

* ``S_t = S_{t-1} (1 + c) - P`` with the level payment ``P`` fixed at the start,
* performing balance ``q S``, new defaults ``d S_{t-1}`` with ``d = MDR q``,
* scheduled amortization of a unit of survival ``S_{t-1} - S_t``,
* voluntary prepayment ``q S_t SMM`` (SMM on the prior performing balance after its
  scheduled amortization), ``q_t = q (1 - MDR - SMM)``,
* a defaulted cohort is held in "scheduled units" ``d`` so that, with advancing, its
  balance ``lag`` months later is ``d S_{t-1}``: the SIFMA amortized default balance
  ``NEW DEF(t-lag) * SCH(t-1) / SCH(t-1-lag)``.

Loans are processed in chunks of ``CHUNK`` loans; within a chunk the month loop is
outside and the loan loop inside (contiguous, branch-free, SIMD-vectorized by LLVM), so
the state of a chunk stays in L1 cache. This month's SMM and MDR of each loan are first
gathered from the rate tables into the chunk state by a separate small loop, because an
indexed load inside the main loop stops it from vectorizing. Pool totals are accumulated per worker (one worker per
thread, chunks dealt round-robin) and summed at the end. Loans should be sorted by
remaining term so that a chunk's horizon is close to each of its loans' terms.

Accumulator rows (``K_*``) are documented where they are defined.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from openmbs.cashflow._advance import ADVANCE_NONE, ADVANCE_PRINCIPAL

__all__ = [
    "CHUNK",
    "K_ACT_AM",
    "K_AM_DEF",
    "K_BEG",
    "K_EXP_AM",
    "K_EXP_INT",
    "K_FCL_END",
    "K_FEE",
    "K_LIQ",
    "K_LOSS",
    "K_LOST_INT",
    "K_NEW_DEF",
    "K_PERF_END",
    "K_RECOV",
    "K_VOL",
    "N_ACC",
    "project_kernel",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Accumulator rows: pool totals by period.
K_BEG = 0  # performing balance at the start of the period
K_NEW_DEF = 1  # new defaults
K_VOL = 2  # voluntary prepayments
K_EXP_AM = 3  # expected (scheduled) amortization, performing + foreclosure pipeline
K_ACT_AM = 4  # actual amortization paid by performing borrowers
K_AM_DEF = 5  # amortization from defaults (advanced principal; 0 without advancing)
K_FCL_END = 6  # foreclosure balance at the end of the period
K_LIQ = 7  # liquidated (amortized default) balance
K_RECOV = 8  # principal recovery
K_LOSS = 9  # principal loss
K_EXP_INT = 10  # expected gross interest
K_LOST_INT = 11  # gross interest not received (0 with P&I advancing)
K_FEE = 12  # servicing fee on interest received or advanced
K_PERF_END = 13  # performing balance at the end of the period
N_ACC = 14


#: Loans per chunk (a compile-time constant so that the inner loops vectorize).
CHUNK = 256

# Offsets of the chunk state arrays (structure of arrays in one flat buffer, so that
# the compiler sees a single object and constant distances between fields).
_S = 0  # scheduled balance
_Q = 1  # performing survival
_P = 2  # level payment
_C = 3  # monthly gross rate
_F = 4  # monthly servicing fee rate
_SMM = 5  # this month's SMM
_MDR = 6  # this month's MDR
_FC = 7  # foreclosure: scheduled units (advancing) or currency (not advancing)
_NF = 8

_REM = 0
_SROW = 1
_DROW = 2
_NI = 3


@njit(cache=True, fastmath=True, error_model="numpy")
def _level_payment(balance: float, rate: float, term: int) -> float:
    """Level monthly payment of ``balance`` at monthly ``rate`` over ``term`` months."""
    if term <= 0:
        return 0.0
    den = -math.expm1(-term * math.log1p(rate))  # 1 - (1 + rate)^-term, accurately
    if rate <= 0.0 or den <= 0.0:
        return balance / term
    return balance * rate / den


@njit(cache=True, fastmath=True, error_model="numpy")
def _load_chunk(
    lo: int,
    balance: FloatArray,
    rate: FloatArray,
    fee: FloatArray,
    rem: IntArray,
    srow: IntArray,
    drow: IntArray,
    st: FloatArray,
    ix: IntArray,
) -> int:
    """Copy loans ``lo .. lo + CHUNK`` into the chunk state (zero-padded); return horizon."""
    n = balance.size
    horizon = 0
    for j in range(CHUNK):
        i = lo + j
        if i < n:
            st[_S * CHUNK + j] = balance[i]
            st[_Q * CHUNK + j] = 1.0
            st[_P * CHUNK + j] = _level_payment(balance[i], rate[i], rem[i])
            st[_C * CHUNK + j] = rate[i]
            st[_F * CHUNK + j] = fee[i]
            ix[_REM * CHUNK + j] = rem[i]
            ix[_SROW * CHUNK + j] = srow[i]
            ix[_DROW * CHUNK + j] = drow[i]
            horizon = max(horizon, rem[i])
        else:
            for f in range(_NF):
                st[f * CHUNK + j] = 0.0
            ix[_REM * CHUNK + j] = 0
            ix[_SROW * CHUNK + j] = 0
            ix[_DROW * CHUNK + j] = 0
        st[_SMM * CHUNK + j] = 0.0
        st[_MDR * CHUNK + j] = 0.0
        st[_FC * CHUNK + j] = 0.0
    return horizon


@njit(cache=True, fastmath=True, error_model="numpy")
def _prepay_chunk(st: FloatArray, ix: IntArray, smm_t: FloatArray, horizon: int, acc: FloatArray) -> None:
    """Run one loaded chunk through ``horizon`` months, adding pool totals to ``acc``."""
    for t in range(1, horizon + 1):
        row = smm_t[t]
        for j in range(CHUNK):
            st[_SMM * CHUNK + j] = row[ix[_SROW * CHUNK + j]]
        a_beg = 0.0
        a_am = 0.0
        a_vol = 0.0
        a_int = 0.0
        a_fee = 0.0
        a_end = 0.0
        for j in range(CHUNK):
            s0 = st[_S * CHUNK + j]
            q0 = st[_Q * CHUNK + j]
            c = st[_C * CHUNK + j]
            smm = st[_SMM * CHUNK + j]
            s1 = max(s0 * (1.0 + c) - st[_P * CHUNK + j], 0.0)
            s1 = 0.0 if t >= ix[_REM * CHUNK + j] else s1
            perf0 = q0 * s0
            q1 = q0 - q0 * smm
            a_beg += perf0
            a_int += perf0 * c
            a_fee += perf0 * st[_F * CHUNK + j]
            a_am += q0 * (s0 - s1)
            a_vol += q0 * s1 * smm
            a_end += q1 * s1
            st[_Q * CHUNK + j] = q1
            st[_S * CHUNK + j] = s1
        tt = t - 1
        acc[K_BEG, tt] += a_beg
        acc[K_EXP_AM, tt] += a_am
        acc[K_ACT_AM, tt] += a_am
        acc[K_VOL, tt] += a_vol
        acc[K_EXP_INT, tt] += a_int
        acc[K_FEE, tt] += a_fee
        acc[K_PERF_END, tt] += a_end


@njit(cache=True, fastmath=True, error_model="numpy")
def _default_chunk(
    st: FloatArray,
    ix: IntArray,
    ring_d: FloatArray,
    ring_n: FloatArray,
    smm_t: FloatArray,
    mdr_t: FloatArray,
    severity: float,
    lag: int,
    advance: int,
    horizon: int,
    acc: FloatArray,
) -> None:
    """Run one loaded chunk through ``horizon`` months, adding pool totals to ``acc``.

    ``advance`` is an :data:`openmbs.cashflow._advance.ADVANCE_CODES` code; with
    principal advancing only, the interest of new defaults and of the foreclosure
    pipeline is lost (SF-18 ``INT LOST``) and the fee is on the interest received.
    """
    ring_len = max(lag, 1)
    li = 1.0 if advance == ADVANCE_PRINCIPAL else 0.0
    for t in range(1, horizon + 1):
        base = ((t - 1) % ring_len) * CHUNK
        srow_t = smm_t[t]
        drow_t = mdr_t[t]
        for j in range(CHUNK):
            st[_SMM * CHUNK + j] = srow_t[ix[_SROW * CHUNK + j]]
            st[_MDR * CHUNK + j] = drow_t[ix[_DROW * CHUNK + j]]
        a_beg = 0.0
        a_def = 0.0
        a_vol = 0.0
        a_exp_am = 0.0
        a_act_am = 0.0
        a_am_def = 0.0
        a_fcl = 0.0
        a_liq = 0.0
        a_loss = 0.0
        a_exp_int = 0.0
        a_lost_int = 0.0
        a_fee = 0.0
        a_end = 0.0
        if advance != ADVANCE_NONE:
            for j in range(CHUNK):
                s0 = st[_S * CHUNK + j]
                q0 = st[_Q * CHUNK + j]
                f0 = st[_FC * CHUNK + j]
                c = st[_C * CHUNK + j]
                r = ix[_REM * CHUNK + j]
                s1 = max(s0 * (1.0 + c) - st[_P * CHUNK + j], 0.0)
                s1 = 0.0 if t >= r else s1
                mdr = 0.0 if t > r - lag else st[_MDR * CHUNK + j]
                smm = min(st[_SMM * CHUNK + j], 1.0 - mdr)
                d = q0 * mdr
                nd = d * s0
                d_out = d if lag == 0 else ring_d[base + j]
                n_out = nd if lag == 0 else ring_n[base + j]
                ring_d[base + j] = d
                ring_n[base + j] = nd
                ds = s0 - s1
                perf0 = q0 * s0
                q1 = q0 - d - q0 * smm
                f1 = f0 - d_out + d
                liq = d_out * s0
                loss = min(severity * n_out, liq)
                paying = perf0 + f0 * s0
                lost = li * (nd + f0 * s0)
                a_beg += perf0
                a_def += nd
                a_vol += q0 * s1 * smm
                a_exp_am += (q0 + f0 - d_out) * ds
                a_act_am += (q0 - d) * ds
                a_am_def += (d + f0 - d_out) * ds
                a_fcl += f1 * s1
                a_liq += liq
                a_loss += loss
                a_exp_int += paying * c
                a_lost_int += lost * c
                a_fee += (paying - lost) * st[_F * CHUNK + j]
                a_end += q1 * s1
                st[_Q * CHUNK + j] = q1
                st[_S * CHUNK + j] = s1
                st[_FC * CHUNK + j] = f1
        else:
            for j in range(CHUNK):
                s0 = st[_S * CHUNK + j]
                q0 = st[_Q * CHUNK + j]
                f0 = st[_FC * CHUNK + j]
                c = st[_C * CHUNK + j]
                r = ix[_REM * CHUNK + j]
                s1 = max(s0 * (1.0 + c) - st[_P * CHUNK + j], 0.0)
                s1 = 0.0 if t >= r else s1
                mdr = 0.0 if t > r - lag else st[_MDR * CHUNK + j]
                smm = min(st[_SMM * CHUNK + j], 1.0 - mdr)
                d = q0 * mdr
                nd = d * s0
                liq = nd if lag == 0 else ring_n[base + j]
                ring_n[base + j] = nd
                ds = s0 - s1
                perf0 = q0 * s0
                q1 = q0 - d - q0 * smm
                f1 = f0 - liq + nd
                f1 = 0.0 if t >= r else f1  # empty at maturity (SF-19 j), not a residue
                act_am = (q0 - d) * ds
                pipe_am = (nd + f0 - liq) * ds / s0 if s0 > 0.0 else 0.0
                loss = min(severity * liq, liq)
                a_beg += perf0
                a_def += nd
                a_vol += q0 * s1 * smm
                a_exp_am += act_am + pipe_am
                a_act_am += act_am
                a_fcl += f1
                a_liq += liq
                a_loss += loss
                a_exp_int += (perf0 + f0) * c
                a_lost_int += (nd + f0) * c
                a_fee += (perf0 - nd) * st[_F * CHUNK + j]
                a_end += q1 * s1
                st[_Q * CHUNK + j] = q1
                st[_S * CHUNK + j] = s1
                st[_FC * CHUNK + j] = f1
        tt = t - 1
        acc[K_BEG, tt] += a_beg
        acc[K_NEW_DEF, tt] += a_def
        acc[K_VOL, tt] += a_vol
        acc[K_EXP_AM, tt] += a_exp_am
        acc[K_ACT_AM, tt] += a_act_am
        acc[K_AM_DEF, tt] += a_am_def
        acc[K_FCL_END, tt] += a_fcl
        acc[K_LIQ, tt] += a_liq
        acc[K_RECOV, tt] += a_liq - a_loss
        acc[K_LOSS, tt] += a_loss
        acc[K_EXP_INT, tt] += a_exp_int
        acc[K_LOST_INT, tt] += a_lost_int
        acc[K_FEE, tt] += a_fee
        acc[K_PERF_END, tt] += a_end


@njit(cache=True, fastmath=True, error_model="numpy")
def _worker(
    w: int,
    n_workers: int,
    balance: FloatArray,
    rate: FloatArray,
    fee: FloatArray,
    rem: IntArray,
    srow: IntArray,
    smm_t: FloatArray,
    drow: IntArray,
    mdr_t: FloatArray,
    defaults: bool,
    severity: float,
    lag: int,
    advance: int,
    n_periods: int,
    acc: FloatArray,
) -> None:
    """Chunks ``w, w + n_workers, ...`` of the loans, summed into this worker's ``acc``."""
    n_chunks = (balance.size + CHUNK - 1) // CHUNK
    ring_len = max(lag, 1)
    st = np.zeros(_NF * CHUNK)
    ix = np.zeros(_NI * CHUNK, dtype=np.int64)
    ring_d = np.zeros(ring_len * CHUNK)  # defaults in scheduled units
    ring_n = np.zeros(ring_len * CHUNK)  # defaults in currency
    for k in range(w, n_chunks, n_workers):
        horizon = _load_chunk(k * CHUNK, balance, rate, fee, rem, srow, drow, st, ix)
        horizon = min(horizon, n_periods)
        if defaults:
            ring_d[:] = 0.0
            ring_n[:] = 0.0
            _default_chunk(
                st, ix, ring_d, ring_n, smm_t, mdr_t, severity, lag, advance, horizon, acc
            )
        else:
            _prepay_chunk(st, ix, smm_t, horizon, acc)


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def project_kernel(
    balance: FloatArray,
    rate: FloatArray,
    fee: FloatArray,
    rem: IntArray,
    srow: IntArray,
    smm_t: FloatArray,
    drow: IntArray,
    mdr_t: FloatArray,
    defaults: bool,
    severity: float,
    lag: int,
    advance: int,
    n_periods: int,
    n_workers: int,
) -> FloatArray:
    """Project level-pay loans under prepayment and default (SIFMA SF-4, SF-18/19).

    Parameters
    ----------
    balance : float64[n]
        Current balance of each loan.
    rate : float64[n]
        Gross note rate per month (annual decimal / 12).
    fee : float64[n]
        Servicing fee rate per month (gross minus net, annual decimal / 12).
    rem : int64[n]
        Remaining term in months (sort loans by it for speed).
    srow : int64[n]
        Column of ``smm_t`` that holds the loan's SMM vector.
    smm_t : float64[n_periods + 1, rows]
        ``smm_t[t, r]``: SMM of period ``t`` (1-based; row 0 unused) for column ``r``.
    drow : int64[n]
        Column of ``mdr_t`` that holds the loan's MDR vector.
    mdr_t : float64[n_periods + 1, rows]
        ``mdr_t[t, r]``: MDR of period ``t``. The kernel sets it to zero for a loan's
        periods ``t > rem - lag`` (SF-19 j).
    defaults : bool
        False runs the lean prepayment-only loop (``drow``, ``mdr_t``, ``severity``,
        ``lag`` and ``advance`` are then ignored).
    severity : float
        Loss severity, decimal of the defaulted balance.
    lag : int
        Months from default to liquidation (0: liquidated in the month of default).
    advance : int
        What the servicer advances on defaulted loans: ``0`` nothing, ``1`` scheduled
        principal (interest lost), ``2`` principal and interest
        (:data:`openmbs.cashflow._advance.ADVANCE_CODES`).
    n_periods : int
        Projection horizon (at least the largest remaining term).
    n_workers : int
        Number of partial accumulators, run in parallel (use the number of threads).

    Returns
    -------
    float64[N_ACC, n_periods]
        Pool totals by period (rows ``K_*``).
    """
    acc = np.zeros((n_workers, N_ACC, n_periods))
    for w in prange(n_workers):
        _worker(
            w, n_workers, balance, rate, fee, rem, srow, smm_t, drow, mdr_t, defaults,
            severity, lag, advance, n_periods, acc[w],
        )
    out = np.zeros((N_ACC, n_periods))
    for w in range(n_workers):
        out += acc[w]
    return out
