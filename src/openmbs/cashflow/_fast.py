"""Lane-blocked pool-total kernel: many loans interleaved, no per-loan series stored.

This is the kernel behind :func:`openmbs.cashflow.project_loans` (and so
``project_pool`` and ``project_tape``). It computes the same pool totals as the chunked
kernel of :mod:`openmbs.cashflow._kernels` (kept as the reference path and checked
against it in ``tests/cashflow/test_cf_fast.py``) with the same division-free
formulation (scheduled balance ``S``, performing survival ``q``, foreclosure pipeline in
scheduled units with advancing), but it does less work per loan-month:

* **Lane blocks.** Loans are dealt in blocks of ``LANES_PREPAY`` (prepayment only) or
  ``LANES_DEFAULT`` (with defaults) lanes. A block's state is a few small arrays that
  stay in L1 cache; the month loop is outside and the lane loop inside, contiguous and
  branch-free, so LLVM vectorizes it (AVX-512 here). Pool totals are summed per month
  and per worker thread; workers take blocks round-robin under ``prange`` and their
  partial sums are added at the end.
* **Blocks that share rates.** Loans are sorted by rate-table column (their starting
  age when the assumption depends on age) and then by remaining term, and cut so that
  a block does not mix columns (:func:`plan_blocks`; the small remainders of groups
  are packed into mixed blocks at the end). This month's SMM and MDR are then two
  scalars for the whole block instead of a gather per lane.
* **Shared survival.** While no loan of a block matures, is in its last ``lag``
  months (where SF-19 j sets the MDR to zero) or, with advancing, can have its loss
  capped by the liquidated balance (SF-19 i; the first such month is solved in closed
  form per loan), every lane has the same performing survival ``q`` and, with
  advancing, the same foreclosure pipeline and lag ring (in scheduled units). Only the
  scheduled balance is per lane: a lane-month is ``S <- S (1 + c) - P`` plus the sums
  of ``S`` and ``S fee``, and each SIFMA total of the month is a block scalar times one
  of those sums. The interest sum needs no per-lane product: ``sum S(t-1) c =
  sum S(t) - sum S(t-1) + sum P`` while no lane matures. Without advancing the
  pipeline is in currency and stays per lane (with its lag ring), ``q`` is shared.
  The empty lanes of a padded block (zero balance and payment) do not end the shared
  months. The block's last months (and mixed blocks) run a general per-lane loop,
  which the shared state is handed over to; the per-lane balances at default that it
  needs are kept only in the last ``lag`` shared months.
* **Fewer sums.** Totals that follow from others are derived once per month after the
  reduction instead of per lane: ``beginning balance(t) = performing balance(t-1)``,
  ``expected amortization = actual + from defaults`` with advancing,
  ``recovery = liquidated - loss``, ``loss = severity * liquidated`` without advancing
  (where the defaulted balance is not amortized, so the SF-19 i cap never binds), and
  with prepayment only ``scheduled amortization = beginning - performing end -
  voluntary prepayment``.
* **No pow, log or division per month.** The level payment is computed once per loan;
  the schedule follows ``S(t) = S(t-1) (1 + c) - P``; the liquidation lag is a ring of
  ``max(lag, 1)`` slots (per block in the shared loop, per lane in the general loop:
  defaults in scheduled units and in currency), read before it is overwritten. Only
  the no-advancing pipeline amortization needs one division per lane-month.
* **Aligned state, cheap set-up.** The per-worker block state and lag rings start on a
  64-byte boundary (:func:`_zeros64`), so no AVX-512 load or store straddles two cache
  lines (numba's own allocations of these sizes start mid-line, which cost a quarter
  of the no-advancing time). The level payment uses ``exp`` and takes the slower
  ``expm1`` only where ``(1 + c)^-n`` is close to 1; loading a block was a sixth of
  the run.

``fastmath`` lets LLVM reassociate the sums over lanes; the results agree with the
chunked kernel to 1e-9 relative or better on every column (tested; typically 1e-13).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from openmbs.cashflow import _kernels as K
from openmbs.cashflow._advance import ADVANCE_NONE, ADVANCE_PRINCIPAL

__all__ = [
    "LANES_DEFAULT",
    "LANES_PREPAY",
    "fast_kernel",
    "plan_blocks",
    "prepare",
    "sort_order",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Lanes per block, prepayment only (state: 6 float arrays + 1 int array of this size).
LANES_PREPAY = 256
#: Lanes per block with defaults (the lag ring adds 2 x max(lag, 1) arrays of this size).
LANES_DEFAULT = 128

# rows of the per-lane float state
_S = 0  # scheduled balance
_Q = 1  # performing survival
_G = 2  # 1 + monthly gross rate
_P = 3  # level payment
_C = 4  # monthly gross rate
_F = 5  # monthly servicing fee rate
_FC = 6  # foreclosure pipeline: scheduled units (advancing) or currency (not)
_M = 7  # this month's SMM (general loop)
_D = 8  # this month's MDR (general loop)
_NF = 9


@njit(cache=True, error_model="numpy")
def _zeros64(n: int) -> FloatArray:
    """``np.zeros(n)`` whose first element is on a 64-byte boundary.

    The block state is read and written a whole AVX-512 vector (64 bytes) at a time;
    numba's own allocations of these sizes start 32 bytes into a cache line, so every
    vector access would straddle two lines.
    """
    buf = np.zeros(n + 8)
    off = ((64 - buf.ctypes.data % 64) % 64) // 8
    return buf[off : off + n]


@njit(cache=True, fastmath=True, error_model="numpy")
def _level_payment(balance: float, rate: float, term: int) -> float:
    """Level monthly payment of ``balance`` at monthly ``rate`` over ``term`` months."""
    if term <= 0:
        return balance
    x = -term * math.log1p(rate)
    # 1 - (1 + rate)^-term: expm1 (slow here for large |x|) only where exp would lose
    # digits to cancellation
    den = -math.expm1(x) if x > -0.5 else 1.0 - math.exp(x)
    if rate <= 0.0 or den <= 0.0:
        return balance / term
    return balance * rate / den


@njit(cache=True, error_model="numpy")
def sort_order(rem: IntArray, srow: IntArray, drow: IntArray) -> IntArray:
    """Order loans by (SMM column, MDR column, remaining term): a stable counting sort.

    Falls back to a stable merge sort when the number of distinct keys is large.
    """
    n = rem.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    ns = srow.max() + 1
    nd = drow.max() + 1
    nr = rem.max() + 1
    n_keys = ns * nd * nr
    key = (srow * nd + drow) * nr + rem
    if n_keys > 4 * n + 1_000_000:
        return np.argsort(key, kind="mergesort").astype(np.int64)
    count = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(n):
        count[key[i] + 1] += 1
    for k in range(n_keys):
        count[k + 1] += count[k]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        k = key[i]
        order[count[k]] = i
        count[k] += 1
    return order


@njit(cache=True, error_model="numpy")
def prepare(
    rem: IntArray, srow: IntArray, drow: IntArray, defaults: bool
) -> tuple[IntArray, IntArray, IntArray]:
    """Order of the loans and their blocks for :func:`fast_kernel`.

    Returns ``order`` (apply it to every per-loan array) and the blocks' first and
    one-past-last positions in that order. One compiled function (with
    :func:`sort_order` and :func:`plan_blocks` inside), so one load from the cache.
    """
    lanes = LANES_DEFAULT if defaults else LANES_PREPAY
    return plan_blocks(sort_order(rem, srow, drow), srow, drow, lanes)


@njit(cache=True, error_model="numpy")
def plan_blocks(
    order: IntArray, srow: IntArray, drow: IntArray, lanes: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Cut loans sorted by :func:`sort_order` into blocks of at most ``lanes`` loans.

    A block never mixes rate columns unless it holds the small remainders of several
    groups: each group (one SMM and one MDR column) gives full blocks and, if its
    remainder is at least ``lanes / 4`` loans, one padded block; smaller remainders are
    moved to the end and packed into mixed blocks. Returns the new order and the first
    and one-past-last position of each block.
    """
    n = order.size
    head = np.empty(n, dtype=np.int64)
    tail = np.empty(n, dtype=np.int64)
    n_head = 0
    n_tail = 0
    lo_b = np.empty(n // lanes + n + 1, dtype=np.int64)
    hi_b = np.empty(n // lanes + n + 1, dtype=np.int64)
    nb = 0
    g0 = 0
    while g0 < n:
        s0 = srow[order[g0]]
        d0 = drow[order[g0]]
        g1 = g0 + 1
        while g1 < n and srow[order[g1]] == s0 and drow[order[g1]] == d0:
            g1 += 1
        size = g1 - g0
        full = size - size % lanes
        if size % lanes >= lanes // 4:
            full = size
        for k in range(g0, g0 + full):
            head[n_head] = order[k]
            n_head += 1
        for k in range(g0 + full, g1):
            tail[n_tail] = order[k]
            n_tail += 1
        start = n_head - full
        for b in range(start, n_head, lanes):
            lo_b[nb] = b
            hi_b[nb] = min(b + lanes, n_head)
            nb += 1
        g0 = g1
    for k in range(n_tail):
        head[n_head + k] = tail[k]
    for b in range(n_head, n, lanes):
        lo_b[nb] = b
        hi_b[nb] = min(b + lanes, n)
        nb += 1
    return head, lo_b[:nb].copy(), hi_b[:nb].copy()


@njit(cache=True, fastmath=True, error_model="numpy")
def _load(
    lo: int,
    hi: int,
    lanes: int,
    balance: FloatArray,
    rate: FloatArray,
    fee: FloatArray,
    rem: IntArray,
    srow: IntArray,
    drow: IntArray,
    st: FloatArray,
    rr: IntArray,
    sc: IntArray,
    dc: IntArray,
) -> tuple[int, int, bool]:
    """Load loans ``lo .. hi`` (at most ``lanes``) into the block state (zero-padded).

    Returns the block's horizon (largest remaining term, at least 1), its smallest
    remaining term (0 if padded) and whether every lane shares one SMM and one MDR
    column.
    """
    n = hi
    horizon = 1
    rmin = 1 << 40
    s0 = srow[lo]
    d0 = drow[lo]
    uniform = True
    for j in range(lanes):
        i = lo + j
        if i < n:
            r = rem[i]
            st[_S * lanes + j] = balance[i]
            st[_Q * lanes + j] = 1.0
            st[_G * lanes + j] = 1.0 + rate[i]
            st[_P * lanes + j] = _level_payment(balance[i], rate[i], r)
            st[_C * lanes + j] = rate[i]
            st[_F * lanes + j] = fee[i]
            rr[j] = r
            sc[j] = srow[i]
            dc[j] = drow[i]
            horizon = max(horizon, r)
            rmin = min(rmin, r)
            if srow[i] != s0 or drow[i] != d0:
                uniform = False
        else:
            st[_S * lanes + j] = 0.0
            st[_Q * lanes + j] = 0.0
            st[_G * lanes + j] = 1.0
            st[_P * lanes + j] = 0.0
            st[_C * lanes + j] = 0.0
            st[_F * lanes + j] = 0.0
            rr[j] = 0
            sc[j] = s0
            dc[j] = d0
        st[_FC * lanes + j] = 0.0
        st[_M * lanes + j] = 0.0
        st[_D * lanes + j] = 0.0
    return horizon, rmin, uniform


@njit(cache=True, fastmath=True, error_model="numpy")
def _uncapped_months(st: FloatArray, rr: IntArray, severity: float, lag: int) -> int:
    """Last month before which no lane's loss can be capped by its liquidated balance.

    With advancing, a default of month ``t - lag`` is liquidated in month ``t`` at
    ``S(t-1)`` per scheduled unit against ``S(t-1-lag)`` at default; the SF-19 i cap
    ``min(severity x defaulted, liquidated)`` binds once ``S(t-1)/S(t-1-lag) <
    severity``. For a level-pay loan with ``n`` months left at the start,
    ``S(k) ~ 1 - v^(k-n)`` (``v = 1 + c``) and the ratio falls with ``k``; it drops
    below ``severity`` for ``k > n + ln A / ln v``, ``A = (1 - sev) / (1 - sev v^-lag)``
    (``k > n - sev lag / (1 - sev)`` at a zero rate). Two months of margin absorb
    rounding.
    """
    lanes = LANES_DEFAULT
    out = 1 << 40
    for j in range(lanes):
        n = rr[j]
        if n <= 0:
            continue
        c = st[_G * lanes + j] - 1.0
        if c > 1e-12:
            lv = math.log1p(c)
            a = (1.0 - severity) / (1.0 - severity * math.exp(-lag * lv))
            k0 = n + math.log(a) / lv
        else:
            k0 = n - severity * lag / (1.0 - severity)
        out = min(out, math.floor(k0) - 1)
    return out


# Rows of the per-worker accumulators are those of ``_kernels`` (K_*); each kernel
# fills only the rows it needs and ``_finish`` derives the others.


@njit(cache=True, fastmath=True, error_model="numpy")
def _prepay_block(
    st: FloatArray,
    rr: IntArray,
    sc: IntArray,
    smm_t: FloatArray,
    horizon: int,
    rmin: int,
    uniform: bool,
    acc: FloatArray,
) -> None:
    """Run one block through ``horizon`` months (prepayment only)."""
    lanes = LANES_PREPAY
    col = sc[0]
    # months 1 .. safe: no lane matures and every lane has the same SMM, so every lane
    # has the same performing survival q: only the scheduled balance is per lane
    safe = max(min(rmin - 1, horizon), 0) if uniform else 0
    q = 1.0
    y = 0.0  # sum of S(t-1)
    pay = 0.0  # sum of the level payments
    if safe > 0:
        for j in range(lanes):
            y += st[_S * lanes + j]
            pay += st[_P * lanes + j]
    for t in range(1, safe + 1):
        m = smm_t[t, col]
        om = 1.0 - m
        x = 0.0  # sum of S(t)
        a_fee = 0.0  # sum of S(t-1) fee
        for j in range(lanes):
            s0 = st[_S * lanes + j]
            s1 = s0 * st[_G * lanes + j] - st[_P * lanes + j]
            x += s1
            a_fee += s0 * st[_F * lanes + j]
            st[_S * lanes + j] = s1
        tt = t - 1
        qx = q * x
        # sum of S(t-1) c = sum of S(t) - S(t-1) + P: no lane matures before `safe`
        acc[K.K_EXP_INT, tt] += q * (x - y + pay)
        y = x
        acc[K.K_FEE, tt] += q * a_fee
        acc[K.K_VOL, tt] += qx * m
        acc[K.K_PERF_END, tt] += qx * om
        q = q * om
    if safe > 0:
        for j in range(lanes):
            st[_Q * lanes + j] = q
    row = smm_t[0]
    for t in range(safe + 1, horizon + 1):
        row = smm_t[t]
        for j in range(lanes):
            st[_M * lanes + j] = row[sc[j]]
        a_int = 0.0
        a_fee = 0.0
        a_vol = 0.0
        a_end = 0.0
        for j in range(lanes):
            s0 = st[_S * lanes + j]
            q0 = st[_Q * lanes + j]
            m = st[_M * lanes + j]
            s1 = max(s0 * st[_G * lanes + j] - st[_P * lanes + j], 0.0)
            s1 = 0.0 if t >= rr[j] else s1
            p0 = q0 * s0
            a_int += p0 * st[_C * lanes + j]
            a_fee += p0 * st[_F * lanes + j]
            qs = q0 * s1
            v = qs * m
            a_vol += v
            a_end += qs - v
            st[_Q * lanes + j] = q0 - q0 * m
            st[_S * lanes + j] = s1
        tt = t - 1
        acc[K.K_EXP_INT, tt] += a_int
        acc[K.K_FEE, tt] += a_fee
        acc[K.K_VOL, tt] += a_vol
        acc[K.K_PERF_END, tt] += a_end


@njit(cache=True, fastmath=True, error_model="numpy")
def _advance_block(
    st: FloatArray,
    rr: IntArray,
    sc: IntArray,
    dc: IntArray,
    ring_d: FloatArray,
    ring_n: FloatArray,
    ring_s: FloatArray,
    ring_q: FloatArray,
    ring_y: FloatArray,
    smm_t: FloatArray,
    mdr_t: FloatArray,
    severity: float,
    lag: int,
    horizon: int,
    rmin: int,
    uniform: bool,
    lose_interest: bool,
    acc: FloatArray,
) -> None:
    """Run one block through ``horizon`` months with defaults and principal advancing.

    ``ring_d``/``ring_n``: per lane, defaults awaiting liquidation in scheduled units
    and in currency; ``ring_s``: per lane, the scheduled balance in the month of
    default; ``ring_q``/``ring_y``: per block, defaults in scheduled units and the sum
    of the scheduled balances in the month of default. ``lose_interest``: the interest
    of new defaults and of the foreclosure pipeline is lost (``advance="principal"``,
    SF-18 ``INT LOST``) instead of advanced (``advance="all"``); the servicing fee is
    then on the interest received only.
    """
    lanes = LANES_DEFAULT
    # 1.0 when interest is lost: lost = li (NEW DEF + FCL(i-1)) c, fee on paying - lost
    li = 1.0 if lose_interest else 0.0
    ring_len = max(lag, 1)
    scol = sc[0]
    dcol = dc[0]
    # months 1 .. safe: no lane matures or is in its last `lag` months, every lane has
    # the same SMM and MDR and (before `cap`) no loss is capped by the liquidated
    # balance. Every lane then has the same performing survival q, foreclosure pipeline
    # f (scheduled units) and defaults in the lag ring: only S is per lane, and each
    # total is a block scalar times a sum of S.
    safe = max(min(rmin - max(lag, 1), horizon), 0) if uniform else 0
    if safe > 0 and lag > 0 and 0.0 < severity < 1.0:
        safe = max(min(safe, _uncapped_months(st, rr, severity, lag)), 0)
    q = 1.0
    f = 0.0
    y = 0.0  # sum of S(t-1)
    pay = 0.0  # sum of the level payments
    for j in range(lanes):
        y += st[_S * lanes + j]
        pay += st[_P * lanes + j]
    for k in range(ring_len):
        ring_q[k] = 0.0
        ring_y[k] = 0.0
    slot = 0
    # the per-lane scheduled balances in the month of default are needed only for
    # the defaults still pending when the per-lane loop takes over
    keep_from = safe - ring_len + 1
    for t in range(1, safe + 1):
        smm = smm_t[t, scol]
        mdr = mdr_t[t, dcol]
        smm = min(smm, 1.0 - mdr)
        keep = 1.0 - mdr - smm
        base = slot * lanes
        x = 0.0  # sum of S(t)
        a_fee = 0.0  # sum of S(t-1) fee
        if t >= keep_from:
            for j in range(lanes):
                s0 = st[_S * lanes + j]
                s1 = s0 * st[_G * lanes + j] - st[_P * lanes + j]
                x += s1
                a_fee += s0 * st[_F * lanes + j]
                ring_s[base + j] = s0
                st[_S * lanes + j] = s1
        else:
            for j in range(lanes):
                s0 = st[_S * lanes + j]
                s1 = s0 * st[_G * lanes + j] - st[_P * lanes + j]
                x += s1
                a_fee += s0 * st[_F * lanes + j]
                st[_S * lanes + j] = s1
        # sum of S(t-1) c = sum of S(t) - S(t-1) + P: no lane matures before `safe`
        a_int = x - y + pay
        d = q * mdr
        if lag == 0:
            d_out = d
            y_out = y
        else:
            d_out = ring_q[slot]
            y_out = ring_y[slot]
            ring_q[slot] = d
            ring_y[slot] = y
        ds = y - x
        q1 = q * keep
        f1 = f - d_out + d
        liq = d_out * y
        paying = q + f
        lost = li * (d + f)
        tt = t - 1
        acc[K.K_NEW_DEF, tt] += d * y
        acc[K.K_VOL, tt] += q * x * smm
        acc[K.K_ACT_AM, tt] += (q - d) * ds
        acc[K.K_AM_DEF, tt] += f1 * ds
        acc[K.K_FCL_END, tt] += f1 * x
        acc[K.K_LIQ, tt] += liq
        # before `cap`, severity * (balance at default) <= liquidated balance (SF-19 i)
        acc[K.K_LOSS, tt] += liq if severity >= 1.0 else severity * d_out * y_out
        acc[K.K_EXP_INT, tt] += paying * a_int
        acc[K.K_LOST_INT, tt] += lost * a_int
        acc[K.K_FEE, tt] += (paying - lost) * a_fee
        acc[K.K_PERF_END, tt] += q1 * x
        q = q1
        f = f1
        y = x
        slot = slot + 1 if slot + 1 < ring_len else 0
    if safe > 0:
        # hand the shared state to the per-lane loop
        for j in range(lanes):
            st[_Q * lanes + j] = q
            st[_FC * lanes + j] = f
        if lag > 0:
            for k in range(ring_len):
                for j in range(lanes):
                    ring_d[k * lanes + j] = ring_q[k]
                    ring_n[k * lanes + j] = ring_q[k] * ring_s[k * lanes + j]
    for t in range(safe + 1, horizon + 1):
        srow_t = smm_t[t]
        drow_t = mdr_t[t]
        for j in range(lanes):
            st[_M * lanes + j] = srow_t[sc[j]]
            st[_D * lanes + j] = drow_t[dc[j]]
        base = ((t - 1) % ring_len) * lanes
        a_def = 0.0
        a_vol = 0.0
        a_act = 0.0
        a_amd = 0.0
        a_fcl = 0.0
        a_liq = 0.0
        a_loss = 0.0
        a_int = 0.0
        a_lost = 0.0
        a_fee = 0.0
        a_end = 0.0
        for j in range(lanes):
            s0 = st[_S * lanes + j]
            q0 = st[_Q * lanes + j]
            f0 = st[_FC * lanes + j]
            r = rr[j]
            s1 = max(s0 * st[_G * lanes + j] - st[_P * lanes + j], 0.0)
            s1 = 0.0 if t >= r else s1
            mdr = 0.0 if t > r - lag else st[_D * lanes + j]
            smm = min(st[_M * lanes + j], 1.0 - mdr)
            d = q0 * mdr
            nd = d * s0
            d_out = d if lag == 0 else ring_d[base + j]
            n_out = nd if lag == 0 else ring_n[base + j]
            ring_d[base + j] = d
            ring_n[base + j] = nd
            ds = s0 - s1
            q1 = q0 - d - q0 * smm
            f1 = f0 - d_out + d
            liq = d_out * s0
            paying = (q0 + f0) * s0
            lost = li * (d + f0) * s0
            a_def += nd
            a_vol += q0 * s1 * smm
            a_act += (q0 - d) * ds
            a_amd += (d + f0 - d_out) * ds
            a_fcl += f1 * s1
            a_liq += liq
            a_loss += min(severity * n_out, liq)
            a_int += paying * st[_C * lanes + j]
            a_lost += lost * st[_C * lanes + j]
            a_fee += (paying - lost) * st[_F * lanes + j]
            a_end += q1 * s1
            st[_Q * lanes + j] = q1
            st[_S * lanes + j] = s1
            st[_FC * lanes + j] = f1
        tt = t - 1
        acc[K.K_NEW_DEF, tt] += a_def
        acc[K.K_VOL, tt] += a_vol
        acc[K.K_ACT_AM, tt] += a_act
        acc[K.K_AM_DEF, tt] += a_amd
        acc[K.K_FCL_END, tt] += a_fcl
        acc[K.K_LIQ, tt] += a_liq
        acc[K.K_LOSS, tt] += a_loss
        acc[K.K_EXP_INT, tt] += a_int
        acc[K.K_LOST_INT, tt] += a_lost
        acc[K.K_FEE, tt] += a_fee
        acc[K.K_PERF_END, tt] += a_end


@njit(cache=True, fastmath=True, error_model="numpy")
def _no_advance_block(
    st: FloatArray,
    rr: IntArray,
    sc: IntArray,
    dc: IntArray,
    ring_n: FloatArray,
    smm_t: FloatArray,
    mdr_t: FloatArray,
    lag: int,
    horizon: int,
    rmin: int,
    uniform: bool,
    acc: FloatArray,
) -> None:
    """Run one block through ``horizon`` months with defaults, no advancing.

    The foreclosure pipeline is in currency; its scheduled amortization (part of the
    expected amortization, not paid) is summed in the ``K_EXP_AM`` row and the actual
    amortization added in ``_finish``; the loss is ``severity * liquidated`` there.
    """
    lanes = LANES_DEFAULT
    ring_len = max(lag, 1)
    scol = sc[0]
    dcol = dc[0]
    safe = max(min(rmin - max(lag, 1), horizon), 0) if uniform else 0
    # months 1 .. safe: every lane has the same SMM, MDR and so the same performing
    # survival q; the foreclosure pipeline (currency) and the lag ring stay per lane
    q = 1.0
    for t in range(1, safe + 1):
        smm = smm_t[t, scol]
        mdr = mdr_t[t, dcol]
        smm = min(smm, 1.0 - mdr)
        d = q * mdr
        base = ((t - 1) % ring_len) * lanes
        x = 0.0  # sum of S(t)
        y = 0.0  # sum of S(t-1)
        a_sc = 0.0  # sum of S(t-1) c
        a_fc = 0.0  # sum of pipeline x c
        a_sf = 0.0  # sum of S(t-1) fee
        a_pipe = 0.0
        a_fcl = 0.0
        a_liq = 0.0
        for j in range(lanes):
            s0 = st[_S * lanes + j]
            f0 = st[_FC * lanes + j]
            c = st[_C * lanes + j]
            s1 = s0 * st[_G * lanes + j] - st[_P * lanes + j]
            nd = d * s0
            liq = nd if lag == 0 else ring_n[base + j]
            ring_n[base + j] = nd
            f1 = f0 - liq + nd
            x += s1
            y += s0
            a_sc += s0 * c
            a_fc += f0 * c
            a_sf += s0 * st[_F * lanes + j]
            a_pipe += (nd + f0 - liq) * (s0 - s1) / s0 if s0 > 0.0 else 0.0
            a_fcl += f1
            a_liq += liq
            st[_S * lanes + j] = s1
            st[_FC * lanes + j] = f1
        q1 = q - d - q * smm
        tt = t - 1
        acc[K.K_NEW_DEF, tt] += d * y
        acc[K.K_VOL, tt] += q * x * smm
        acc[K.K_ACT_AM, tt] += (q - d) * (y - x)
        acc[K.K_EXP_AM, tt] += a_pipe
        acc[K.K_FCL_END, tt] += a_fcl
        acc[K.K_LIQ, tt] += a_liq
        acc[K.K_EXP_INT, tt] += q * a_sc + a_fc
        acc[K.K_LOST_INT, tt] += d * a_sc + a_fc
        acc[K.K_FEE, tt] += (q - d) * a_sf
        acc[K.K_PERF_END, tt] += q1 * x
        q = q1
    if safe > 0:
        for j in range(lanes):
            st[_Q * lanes + j] = q
    for t in range(safe + 1, horizon + 1):
        srow_t = smm_t[t]
        drow_t = mdr_t[t]
        for j in range(lanes):
            st[_M * lanes + j] = srow_t[sc[j]]
            r = rr[j]
            st[_D * lanes + j] = 0.0 if t > r - lag else drow_t[dc[j]]
        base = ((t - 1) % ring_len) * lanes
        a_def = 0.0
        a_vol = 0.0
        a_act = 0.0
        a_pipe = 0.0
        a_fcl = 0.0
        a_liq = 0.0
        a_int = 0.0
        a_lost = 0.0
        a_fee = 0.0
        a_end = 0.0
        for j in range(lanes):
            s0 = st[_S * lanes + j]
            q0 = st[_Q * lanes + j]
            f0 = st[_FC * lanes + j]
            c = st[_C * lanes + j]
            s1 = max(s0 * st[_G * lanes + j] - st[_P * lanes + j], 0.0)
            s1 = 0.0 if t >= rr[j] else s1
            mdr = st[_D * lanes + j]
            smm = min(st[_M * lanes + j], 1.0 - mdr)
            d = q0 * mdr
            nd = d * s0
            liq = nd if lag == 0 else ring_n[base + j]
            ring_n[base + j] = nd
            ds = s0 - s1
            perf0 = q0 * s0
            q1 = q0 - d - q0 * smm
            f1 = f0 - liq + nd
            # every default is liquidated by maturity (SF-19 j): the pipeline is empty,
            # not the rounding residue of adding and removing the same cohorts
            f1 = 0.0 if t >= rr[j] else f1
            a_def += nd
            a_vol += q0 * s1 * smm
            a_act += (q0 - d) * ds
            a_pipe += (nd + f0 - liq) * ds / s0 if s0 > 0.0 else 0.0
            a_fcl += f1
            a_liq += liq
            a_int += (perf0 + f0) * c
            a_lost += (nd + f0) * c
            a_fee += (perf0 - nd) * st[_F * lanes + j]
            a_end += q1 * s1
            st[_Q * lanes + j] = q1
            st[_S * lanes + j] = s1
            st[_FC * lanes + j] = f1
        tt = t - 1
        acc[K.K_NEW_DEF, tt] += a_def
        acc[K.K_VOL, tt] += a_vol
        acc[K.K_ACT_AM, tt] += a_act
        acc[K.K_EXP_AM, tt] += a_pipe
        acc[K.K_FCL_END, tt] += a_fcl
        acc[K.K_LIQ, tt] += a_liq
        acc[K.K_EXP_INT, tt] += a_int
        acc[K.K_LOST_INT, tt] += a_lost
        acc[K.K_FEE, tt] += a_fee
        acc[K.K_PERF_END, tt] += a_end


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
    block_lo: IntArray,
    block_hi: IntArray,
    defaults: bool,
    severity: float,
    lag: int,
    advance: int,
    n_periods: int,
    acc: FloatArray,
) -> None:
    """Blocks ``w, w + n_workers, ...`` of the loans, summed into this worker's ``acc``."""
    lanes = LANES_DEFAULT if defaults else LANES_PREPAY
    n_blocks = block_lo.size
    ring_len = max(lag, 1)
    st = _zeros64(_NF * lanes)
    rr = np.zeros(lanes, dtype=np.int64)
    sc = np.zeros(lanes, dtype=np.int64)
    dc = np.zeros(lanes, dtype=np.int64)
    ring_d = _zeros64(ring_len * lanes)  # defaults awaiting liquidation, scheduled units
    ring_n = _zeros64(ring_len * lanes)  # the same, in currency at default
    ring_s = _zeros64(ring_len * lanes)  # scheduled balance in the month of default
    ring_q = np.zeros(ring_len)  # block-shared defaults, scheduled units
    ring_y = np.zeros(ring_len)  # block sum of scheduled balances at default
    for k in range(w, n_blocks, n_workers):
        horizon, rmin, uniform = _load(
            block_lo[k], block_hi[k], lanes, balance, rate, fee, rem, srow, drow, st, rr, sc, dc
        )
        horizon = min(horizon, n_periods)
        if not defaults:
            _prepay_block(st, rr, sc, smm_t, horizon, rmin, uniform, acc)
            continue
        ring_d[:] = 0.0
        ring_n[:] = 0.0
        if advance != ADVANCE_NONE:
            _advance_block(
                st, rr, sc, dc, ring_d, ring_n, ring_s, ring_q, ring_y, smm_t, mdr_t,
                severity, lag, horizon, rmin, uniform, advance == ADVANCE_PRINCIPAL, acc,
            )
        else:
            _no_advance_block(
                st, rr, sc, dc, ring_n, smm_t, mdr_t, lag, horizon, rmin, uniform, acc
            )


@njit(cache=True, error_model="numpy")
def _finish(
    out: FloatArray, balance_total: float, defaults: bool, severity: float, advance: int
) -> None:
    """Derive the rows that the block kernels do not sum (see the module docstring)."""
    n = out.shape[1]
    if n == 0:
        return
    out[K.K_BEG, 0] = balance_total
    for t in range(1, n):
        out[K.K_BEG, t] = out[K.K_PERF_END, t - 1]
    for t in range(n):
        if not defaults:
            am = out[K.K_BEG, t] - out[K.K_PERF_END, t] - out[K.K_VOL, t]
            out[K.K_ACT_AM, t] = am
            out[K.K_EXP_AM, t] = am
        elif advance != ADVANCE_NONE:
            out[K.K_EXP_AM, t] = out[K.K_ACT_AM, t] + out[K.K_AM_DEF, t]
        else:
            out[K.K_EXP_AM, t] += out[K.K_ACT_AM, t]
            out[K.K_LOSS, t] = severity * out[K.K_LIQ, t]
        out[K.K_RECOV, t] = out[K.K_LIQ, t] - out[K.K_LOSS, t]


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def fast_kernel(
    balance: FloatArray,
    rate: FloatArray,
    fee: FloatArray,
    rem: IntArray,
    srow: IntArray,
    smm_t: FloatArray,
    drow: IntArray,
    mdr_t: FloatArray,
    block_lo: IntArray,
    block_hi: IntArray,
    defaults: bool,
    severity: float,
    lag: int,
    advance: int,
    n_periods: int,
    n_workers: int,
) -> FloatArray:
    """Pool totals by period of level-pay loans (SIFMA SF-4, SF-18/19), blocked.

    The arguments and result are those of
    :func:`openmbs.cashflow._kernels.project_kernel` (rows ``K_*``), plus the blocks:
    loans ``block_lo[k] .. block_hi[k]`` form block ``k`` (at most ``LANES_DEFAULT``
    loans with defaults, ``LANES_PREPAY`` without). Use :func:`prepare` to order the
    loans and cut the blocks; any order and cut give the same totals, this one the
    fastest. A loan with a remaining term of 0 pays its whole balance as amortization
    in period 1.
    """
    acc = np.zeros((n_workers, K.N_ACC, n_periods))
    for w in prange(n_workers):
        _worker(
            w, n_workers, balance, rate, fee, rem, srow, smm_t, drow, mdr_t, block_lo,
            block_hi, defaults, severity, lag, advance, n_periods, acc[w],
        )
    out = np.zeros((K.N_ACC, n_periods))
    for w in range(n_workers):
        out += acc[w]
    total = 0.0
    for i in range(balance.size):
        total += balance[i]
    _finish(out, total, defaults, severity, advance)
    return out
