"""Compiled float waterfall (numba): the exact engine's steps on float64 scalars.

Loops: scenarios (outer), periods, tranches; the whole period loop of a scenario runs
inside the kernel, on scalars and small scratch arrays allocated once per chunk of
scenarios. Scenarios are independent, so from :data:`PARALLEL_MIN_SCENARIOS` scenarios
on they are split in chunks over the numba threads (``prange`` in
:func:`_run_parallel`, which calls the serial driver :func:`_run_range` on each chunk);
the results do not depend on the split. Each step is the float twin of the step
function in ``_exact.py``; parameters come packed in small arrays (see :func:`pack`).
This is the default float engine; ``_waterfall.py`` also has a numpy version vectorised
over scenarios (``engine="numpy"``), and tests check both against the exact engine.

Outputs are written only for what the caller keeps: per-scenario totals always, the
per-tranche tables named in ``tables`` (one ``(n_scenarios, n_tranches, n_periods)``
block each, so a tranche's cash flows on one scenario are contiguous), and the
deal-level tables with ``detail``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import get_num_threads, njit, prange

from openmbs.structuring._exact import NOTIONAL_GROUP, WAD, ExactDeal
from openmbs.structuring._waterfall import _COLL_FIELDS, TRANCHE_TABLES

__all__ = ["pack", "run_kernel"]

# rows of the packed per-tranche integer table
I_KIND, I_PRIO, I_RSTART, I_REND, I_RULE, I_GSTART, I_GEND, I_LOCK, I_FLAGS, I_IOREF, I_ACC = range(11)
# rows of the packed per-tranche float table
F_FACE, F_RATE, F_MARGIN, F_CAP, F_FLOOR = range(5)
#: number of per-tranche tables the kernel can write (``TRANCHE_TABLES`` of
#: ``_waterfall.py``, in the order of the kernel's ``rows`` and ``slot`` arrays)
N_TABLES = len(TRANCHE_TABLES)

#: one twelfth (monthly rates are multiplied by it rather than divided by 12)
MONTH = 1.0 / 12.0

# deal-level output columns
D_DRAW, D_DEP, D_REL, D_RES, D_RESID, D_EFFECTS = range(6)


def pack(deal: ExactDeal) -> dict[str, Any]:
    """The compiled deal as the kernel's arrays (floats in currency units)."""
    n = deal.n_tranches
    scale = float(10**deal.decimals)
    ti = np.array(
        [
            deal.coupon_kind,
            deal.priority,
            deal.rank_start,
            deal.rank_end,
            deal.rule,
            deal.group_start,
            deal.group_end,
            deal.lockout,
            deal.flags,
            deal.io_ref,
            [1 if m else 0 for m in deal.accretion_mask],
        ],
        dtype=np.int64,
    ).reshape(11, n)
    # accretion targets as a matrix (a bit mask does not fit int64 beyond 63 classes)
    accm = np.zeros((n, n), dtype=np.int64)
    for i, m in enumerate(deal.accretion_mask):
        for j in range(n):
            if m >> j & 1:
                accm[i, j] = 1
    mult = np.array(
        [x / WAD for x in deal.multiplier] if deal.multiplier else [1.0] * n, dtype=np.float64
    ).reshape(n)
    tf = np.array(
        [
            [x / scale for x in deal.face],
            [x / WAD for x in deal.rate],
            [x / WAD for x in deal.margin],
            [x / WAD for x in deal.cap],
            [x / WAD for x in deal.floor],
        ],
        dtype=np.float64,
    ).reshape(5, n)
    plen = np.array([len(s) for s in deal.pac_schedule], dtype=np.int64)
    pac = np.zeros((n, max(1, int(plen.max()) if n else 1)))
    for i, s in enumerate(deal.pac_schedule):
        pac[i, : len(s)] = np.asarray(s, dtype=np.float64) / scale
    fees = np.array(
        [
            [x / WAD for x in deal.fee_rate],
            [x / scale for x in deal.fee_fixed],
            [x / scale for x in deal.fee_cap],
        ],
        dtype=np.float64,
    ).reshape(3, deal.n_fees)
    trig_i = np.array(
        [deal.trig_test, deal.trig_ref, deal.trig_effect, deal.trig_curable], dtype=np.int64
    ).reshape(4, deal.n_triggers)
    trig_f = np.array([x / WAD for x in deal.trig_threshold], dtype=np.float64)
    reserve = np.array(
        [deal.reserve_initial / scale, deal.reserve_floor / scale, deal.reserve_pct / WAD]
    )
    misc = np.array(
        [deal.reserve_flags, deal.interest_on_shortfall, n, deal.n_fees, deal.n_triggers,
         deal.excess_to, 1],
        dtype=np.int64,
    )
    prog_i, prog_f = _pack_program(deal)
    # instruction ranges: row i a Z class's accrual rules, row n the principal rules
    ranges = np.zeros((n + 1, 2), dtype=np.int64)
    ranges[n] = deal.principal_prog
    for i, (a, b) in enumerate(deal.accrual_prog):
        ranges[i] = (a, b)
    return {
        "ranges": ranges,
        "accm": accm,
        "mult": mult,
        "prog_i": prog_i,
        "prog_f": prog_f,
        "ti": ti,
        "tf": tf,
        "pac": pac,
        "plen": plen,
        "fees": fees,
        "trig_i": trig_i,
        "trig_f": trig_f,
        "reserve": reserve,
        "misc": misc,
        "steps": np.asarray(deal.steps, dtype=np.int64),
        "pool_original": deal.pool_original / scale,
    }


# Speed: the period loop calls no function taking an array, except the rule program
# (``_run_prog``, three arrays, once a period and once per accreting Z class). Each such
# call increments and decrements the arrays' reference counts (atomic operations),
# which used to take about half of the kernel's time; the other helpers take scalars
# only.


@njit(cache=True, error_model="numpy", inline="always")
def _coupon_rate(
    kind: int,
    rate: float,
    margin: float,
    cap: float,
    floor: float,
    index: float,
    netwac: float,
    mult: float,
) -> Any:
    if kind == 1:
        return rate
    if kind == 2 or kind == 5:
        r = index * mult + margin if kind == 2 else margin - index * mult
        if r < floor:
            r = floor
        if cap > 0.0 and r > cap:
            r = cap
        return max(r, 0.0)
    if kind == 3:
        return max(netwac + margin, 0.0)
    if kind == 4:
        return min(rate, netwac)
    return 0.0


# the rule program, packed in two arrays (each array a function takes costs two atomic
# reference-count operations per call: with its seventeen arrays a first version of
# ``_run_prog`` cost 1.2 us a call, five times the fixed order on 60 classes).
# ``prog_i`` (int64): a header of offsets, then the instructions (4 ints each), the
# operand lists, the groups (start, end, mode), their members, their schedules'
# lengths, ``bears`` per class and the triggers' latches (copied in each period),
# and the kernel's own notes on retired classes (see the note above ``_run_range``):
# ``alive`` per class, a cursor per instruction (the first item of its list that is
# not a retired class) and per group (its first member not retired).
# ``prog_f`` (float64): the split weights, the schedules (one row of ``L`` a group),
# the registers.
(H_INS, H_LIST, H_GIDX, H_GMEM, H_GLEN, H_BEARS, H_LATCH, H_DEFER, H_GPROG,
 H_WAD, H_SCHED, H_SLEN, H_REGS, H_ALIVE, H_CUR, H_GCUR) = range(16)
N_HEADER = 16


def _pack_program(deal: ExactDeal) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    n = deal.n_tranches
    ng = deal.n_groups
    scale = float(10**deal.decimals)
    bears = [1 if deal.rule[i] != 0 and deal.flags[i] & 1 == 0 else 0 for i in range(n)]
    gidx: list[int] = []
    for g in range(ng):
        gidx += [deal.grp_start[g], deal.grp_end[g], deal.grp_mode[g]]
    parts = [
        list(deal.program),
        list(deal.prog_list),
        gidx,
        list(deal.grp_members),
        [len(x) for x in deal.grp_schedule],
        bears,
        [0] * deal.n_triggers,
        list(deal.grp_defer) if deal.grp_defer else [0] * ng,
        [x for gp in deal.grp_prog for x in gp] if deal.grp_prog else [0] * (4 * ng),
        [1] * n,
        [deal.program[4 * k + 2] for k in range(len(deal.program) // 4)],
        [deal.grp_start[g] for g in range(ng)],
    ]
    at = N_HEADER
    offsets = []
    for part in parts:
        offsets.append(at)
        at += len(part)
    slen = max([1] + [len(x) for x in deal.grp_schedule])
    n_wad = len(deal.prog_wad)
    # H_INS .. H_GPROG, then H_WAD .. H_REGS, then H_ALIVE .. H_GCUR
    header = [*offsets[:9], N_HEADER, N_HEADER + n_wad, slen, N_HEADER + n_wad + ng * slen,
              *offsets[9:]]
    prog_i = np.array(header + [x for part in parts for x in part], dtype=np.int64)
    prog_f = np.zeros(N_HEADER + n_wad + ng * slen + max(deal.n_regs, 1))
    prog_f[N_HEADER : N_HEADER + n_wad] = np.asarray(deal.prog_wad, dtype=np.float64) / WAD
    for g, sch in enumerate(deal.grp_schedule):
        o = N_HEADER + n_wad + g * slen
        prog_f[o : o + len(sch)] = np.asarray(sch, dtype=np.float64) / scale
    return prog_i, prog_f


@njit(cache=True, error_model="numpy")
def _run_sub(p0: int, p1: int, r_in: int, r_end: int, amount: float, n: int, pi: Any, pf: Any, rows: Any) -> Any:
    """A group's own rules (instructions ``[p0, p1)`` on registers ``[r_in, r_end)``,
    apart from the caller's): :func:`_run_prog` for rules naming classes only (no
    group, no planned balance), so no call nests further. Returns the unused part."""
    ins = pi[H_INS]
    lst = pi[H_LIST]
    wad = pi[H_WAD]
    regs = pi[H_REGS]
    bears = pi[H_BEARS]
    for q in range(regs + r_in, regs + r_end):
        pf[q] = 0.0
    pf[regs + r_in] = amount
    pc = p0
    while pc < p1:
        o = ins + 4 * pc
        op = pi[o]
        a = regs + pi[o + 1]
        b = pi[o + 2]
        c = pi[o + 3]
        pc += 1
        if op == 6:
            if pi[pi[H_LATCH] + pi[o + 1]] != c:
                pc += b
            continue
        if op == 5:
            pf[regs + b] += pf[a]
            pf[a] = 0.0
            continue
        if op == 4:
            x = pf[a]
            used = 0.0
            for q in range(b, c - 1):
                y = x * pf[wad + q]
                pf[regs + pi[lst + q]] += y
                used += y
            pf[regs + pi[lst + c - 1]] += x - used
            pf[a] = 0.0
            continue
        x = pf[a]
        if x <= 0.0:
            continue
        total = 0.0
        if op == 2:
            for q in range(b, c):
                item = pi[lst + q]
                if pi[bears + item] == 1:
                    total += rows[3, item]
            if total <= 0.0:
                continue
        frac = min(x / total, 1.0) if op == 2 else 0.0
        for q in range(b, c):
            if x <= 0.0:
                break
            item = pi[lst + q]
            ib = rows[3, item] if pi[bears + item] == 1 else 0.0
            pay = min(x, ib * frac) if op == 2 else min(x, ib)
            if pay <= 0.0:
                continue
            x -= pay
            rows[3, item] -= pay
            rows[1, item] += pay
        pf[a] = max(x, 0.0)
    return pf[regs + r_in]


@njit(cache=True, error_model="numpy")
def _run_prog(p0: int, p1: int, amount: float, period: int, n: int, pi: Any, pf: Any, rows: Any) -> Any:
    """Float twin of ``_exact._run_program``: instructions ``[p0, p1)`` on ``amount``;
    returns the unused part (the latches are in ``pi``, copied in by the caller).

    ``rows[3]`` is the balance row, ``rows[1]`` the principal paid row. An item's
    balance and payment are written out where they are used: a helper taking the
    arrays, even inlined, costs reference-count operations on every call (measured:
    100 ns per retired class passed over).
    """
    ins = pi[H_INS]
    lst = pi[H_LIST]
    wad = pi[H_WAD]
    regs = pi[H_REGS]
    bears = pi[H_BEARS]
    gidx = pi[H_GIDX]
    gm = pi[H_GMEM]
    alive = pi[H_ALIVE]
    gcur = pi[H_GCUR]
    for q in range(regs, pf.shape[0]):
        pf[q] = 0.0
    pf[regs] = amount
    pc = p0
    while pc < p1:
        o = ins + 4 * pc
        op = pi[o]
        a = regs + pi[o + 1]
        b = pi[o + 2]
        c = pi[o + 3]
        pc += 1
        if op == 6:
            if pi[pi[H_LATCH] + pi[o + 1]] != c:
                pc += b
            continue
        if op == 5:
            pf[regs + b] += pf[a]
            pf[a] = 0.0
            continue
        if op == 4:
            x = pf[a]
            used = 0.0
            for q in range(b, c - 1):
                y = x * pf[wad + q]
                pf[regs + pi[lst + q]] += y
                used += y
            pf[regs + pi[lst + c - 1]] += x - used
            pf[a] = 0.0
            continue
        x = pf[a]
        if x <= 0.0:
            continue
        # the items: [q0, q1) of the operand list, or the one group of a planned rule
        q0 = b
        q1 = c
        if op == 3:
            if period <= pi[pi[H_DEFER] + b]:
                continue  # the schedule is deferred: caught up later
            q0 = 0
            q1 = 1
        else:
            # pass over the retired classes at the head of the list, once for all
            cur = pi[H_CUR] + pc - 1
            q0 = pi[cur]
            while q0 < q1:
                item = pi[lst + q0]
                if item >= n or pi[alive + item] != 0:
                    break
                q0 += 1
            pi[cur] = q0
        total = 0.0
        if op == 2:
            for q in range(q0, q1):
                item = pi[lst + q]
                if item < n:
                    if pi[bears + item] == 1:
                        total += rows[3, item]
                else:
                    g3 = gidx + 3 * (item - n)
                    # the group's members from its first one not retired
                    gc = gcur + item - n
                    m0 = pi[gc]
                    while m0 < pi[g3 + 1] and pi[alive + pi[gm + m0]] == 0:
                        m0 += 1
                    pi[gc] = m0
                    for m in range(m0, pi[g3 + 1]):
                        total += rows[3, pi[gm + m]]
            if total <= 0.0:
                continue
        frac = min(x / total, 1.0) if op == 2 else 0.0
        for q in range(q0, q1):
            if x <= 0.0:
                break
            item = n + b if op == 3 else pi[lst + q]
            # the item's balance
            ib = 0.0
            if item < n:
                if pi[bears + item] == 1:
                    ib = rows[3, item]
            else:
                g3 = gidx + 3 * (item - n)
                gc = gcur + item - n
                m0 = pi[gc]
                while m0 < pi[g3 + 1] and pi[alive + pi[gm + m0]] == 0:
                    m0 += 1
                pi[gc] = m0
                for m in range(m0, pi[g3 + 1]):
                    ib += rows[3, pi[gm + m]]
            if op == 3:
                gl = pi[pi[H_GLEN] + b]
                target = pf[pi[H_SCHED] + b * pi[H_SLEN] + period - 1] if period <= gl else 0.0
                pay = min(x, ib - target)
            elif op == 2:
                pay = min(x, ib * frac)
            else:
                pay = min(x, ib)
            if pay <= 0.0:
                continue
            x -= pay
            # pay the item: a class, or a group's classes in order or by balance
            if item < n:
                rows[3, item] -= pay
                rows[1, item] += pay
                continue
            g3 = gidx + 3 * (item - n)
            if pi[g3 + 2] == 2:
                # the group's own rules (see ``_run_sub``)
                gp = pi[H_GPROG] + 4 * (item - n)
                _run_sub(pi[gp], pi[gp + 1], pi[gp + 2], pi[gp + 3], pay, n, pi, pf, rows)
            elif pi[g3 + 2] == 0:
                for m in range(pi[gcur + item - n], pi[g3 + 1]):
                    if pay <= 0.0:
                        break
                    j = pi[gm + m]
                    y = min(pay, rows[3, j])
                    rows[3, j] -= y
                    rows[1, j] += y
                    pay -= y
            else:
                gf = min(pay / ib, 1.0)
                for m in range(pi[gcur + item - n], pi[g3 + 1]):
                    j = pi[gm + m]
                    y = rows[3, j] * gf
                    rows[3, j] -= y
                    rows[1, j] += y
        pf[a] = max(x, 0.0)
    return pf[regs]


@njit(cache=True, error_model="numpy")
def _reset_cursors(pi: Any) -> None:
    """Each instruction's cursor back to the head of its list, each group's to its
    first member (at the start of a scenario, and when a retired class is revived)."""
    ins = pi[H_INS]
    for k in range((pi[H_LIST] - ins) // 4):
        pi[pi[H_CUR] + k] = pi[ins + 4 * k + 2]
    gidx = pi[H_GIDX]
    for g in range((pi[H_GMEM] - gidx) // 3):
        pi[pi[H_GCUR] + g] = pi[gidx + 3 * g]


@njit(cache=True, error_model="numpy", inline="always")
def _reserve_target(reserve_floor: float, reserve_pct: float, pool_end: float) -> Any:
    if pool_end <= 0.0:
        return 0.0
    return max(pool_end * reserve_pct, reserve_floor)


# Retired classes. A class whose balance and interest shortfall are both 0 after a
# period's distribution is retired: from then on every per-class loop would compute
# exact zeros for it (no interest due, nothing paid, nothing written down) and add
# them to sums (``x + 0.0 == x``). So the loops over classes run over each rank's
# window of classes not retired (``wlo``/``whi``, ``dlo``/``dhi``). A class is found
# retired at the start of the next period, by the loop that adds every class's
# figures of the period before to the totals and writes the new period's rows: it
# writes the retired class's rows (all 0) one last time. The rule program starts
# each list, and each group's members, at the first class not retired (the cursors
# in ``prog_i``): a rule passes over a retired class paying it 0 and a group's
# balance adds its 0, so skipping it changes nothing. Only a write-up from
# subsequent recoveries (``OP_WRITEUP``) gives a retired class a balance again: it
# revives it (the windows grow back, the cursors restart). IO strips and the class
# taking the excess interest never retire. The figures are the same, bit for bit, as
# with every class visited every period (``tests/structuring/test_st_kernel_speed.py``).


@njit(cache=True, error_model="numpy")
def _run_range(lo: int, hi: int, deal: Any, inputs: Any, store: int, out: Any) -> None:
    """Scenarios ``lo <= s < hi`` (the serial driver); scratch is allocated once."""
    (ti, tf, pac, plen, fees, trig_i, trig_f, reserve_p, misc, steps, pool_original,
     accm, mult, prog_i0, prog_f0, ranges) = deal
    # this chunk's own copies: the registers and the latches are written
    prog_i = prog_i0.copy()
    prog_f = prog_f0.copy()
    # in the order of ``_COLL_FIELDS`` (``_waterfall.py``)
    c_int, c_sched, c_prep, c_rec, c_loss, c_beg, c_end, c_dq, c_idx, c_sub = inputs
    o_tr, slot, o_fee, o_deal, o_trig, s_tot, s_first, s_last, s_end, s_resid = out
    detail = store >= 2
    reserve_flags = misc[0]
    ios = misc[1]
    n = misc[2]
    has_prog = ranges[n, 1] > ranges[n, 0]
    any_prog = prog_i[H_LIST] > prog_i[H_INS]
    nf = misc[3]
    nk = misc[4]
    n_steps = steps.shape[0]
    T = c_int.shape[1]
    reserve_floor = reserve_p[1]
    reserve_pct = reserve_p[2]
    # per-tranche constants
    bears = np.empty(n, dtype=np.bool_)
    kind = np.empty(n, dtype=np.int64)
    prio = np.empty(n, dtype=np.int64)
    zmask = np.empty(n, dtype=np.int64)
    ioref = np.empty(n, dtype=np.int64)
    rate_c = np.empty(n)
    margin_c = np.empty(n)
    cap_c = np.empty(n)
    floor_c = np.empty(n)
    mult_c = np.empty(n)
    face = np.empty(n)
    n_ranks = 0
    rstart = np.empty(n, dtype=np.int64)
    rend = np.empty(n, dtype=np.int64)
    has_z = False
    has_pac = False
    has_io = False
    for i in range(n):
        if ti[I_RSTART, i] == i:
            rstart[n_ranks] = i
            rend[n_ranks] = ti[I_REND, i]
            n_ranks += 1
        if (ti[I_FLAGS, i] & 4) != 0 and ti[I_ACC, i] != 0:
            has_z = True
        if ti[I_RULE, i] == 3:
            has_pac = True
        if (ti[I_FLAGS, i] & 1) != 0:
            has_io = True
    for i in range(n):
        bears[i] = ti[I_RULE, i] != 0 and (ti[I_FLAGS, i] & 1) == 0
        kind[i] = ti[I_KIND, i]
        prio[i] = ti[I_PRIO, i]
        # accretion mask of a Z class (0 = not a Z class or nothing to accrete for);
        # IO reference (-1 = not an IO strip)
        zmask[i] = ti[I_ACC, i] if (ti[I_FLAGS, i] & 4) != 0 else 0
        mult_c[i] = mult[i]
        ioref[i] = ti[I_IOREF, i] if (ti[I_FLAGS, i] & 1) != 0 else -1
        rate_c[i] = tf[F_RATE, i]
        margin_c[i] = tf[F_MARGIN, i]
        cap_c[i] = tf[F_CAP, i]
        floor_c[i] = tf[F_FLOOR, i]
        face[i] = tf[F_FACE, i]
    # the monthly coupon of a fixed-rate (or no-coupon) class, computed once
    mfix = np.empty(n)
    for i in range(n):
        mfix[i] = (
            _coupon_rate(kind[i], rate_c[i], margin_c[i], cap_c[i], floor_c[i], 0.0, 0.0, mult_c[i])
            * MONTH
            if kind[i] < 2
            else 0.0
        )
    # per-scenario state and per-period scratch
    # the per-tranche quantities a table can keep are rows of one array, in the order
    # of TRANCHE_TABLES
    rows = np.empty((N_TABLES, n))
    ipaid = rows[0]
    ppaid = rows[1]
    loss = rows[2]
    bal = rows[3]
    beg = rows[4]
    due = rows[5]
    short = rows[6]
    acc = rows[7]
    wup = rows[8]
    wdown = np.empty(n)
    cur = np.empty(n)
    tot = np.empty((n, 4))
    first = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    fshort = np.empty(max(nf, 1))
    fpaid = np.empty(max(nf, 1))
    fcur = np.empty(max(nf, 1))
    latch = np.empty(max(nk, 1), dtype=np.int64)
    failing = np.empty(max(nk, 1), dtype=np.int64)
    # each Z class's accretion targets, in class order (row ``i``: ``acc_n[i]`` of them)
    acc_lst = np.empty((n, n), dtype=np.int64)
    acc_n = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if accm[i, j] == 1:
                acc_lst[i, acc_n[i]] = j
                acc_n[i] += 1
    # the ranks from the most junior up (the write-down order)
    rank_lo = np.empty(n, dtype=np.int64)
    rank_hi = np.empty(n, dtype=np.int64)
    n_wr = 0
    for kk in range(n):
        r = n - 1 - kk
        if ti[I_REND, r] - 1 == r:
            rank_lo[n_wr] = ti[I_RSTART, r]
            rank_hi[n_wr] = r + 1
            n_wr += 1
    io_list = np.empty(n, dtype=np.int64)
    n_io = 0
    for i in range(n):
        if ioref[i] >= 0:
            io_list[n_io] = i
            n_io += 1
    # Retired classes (see the note above ``_run_range``): ``alive[i]``; each rank's
    # window of classes still alive, ``wlo[rr]:whi[rr]`` for the interest ranks and
    # ``dlo[kk]:dhi[kk]`` for the write-down ranks. IO strips and the class taking
    # the excess interest never retire.
    pinned = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if ioref[i] >= 0 or i == misc[5] or misc[6] == 0:
            pinned[i] = True
    alive = np.empty(n, dtype=np.bool_)
    wlo = np.empty(max(n_ranks, 1), dtype=np.int64)
    whi = np.empty(max(n_ranks, 1), dtype=np.int64)
    dlo = np.empty(max(n_wr, 1), dtype=np.int64)
    dhi = np.empty(max(n_wr, 1), dtype=np.int64)
    for s in range(lo, hi):
        for rr in range(n_ranks):
            wlo[rr] = rstart[rr]
            whi[rr] = rend[rr]
        for kk in range(n_wr):
            dlo[kk] = rank_lo[kk]
            dhi[kk] = rank_hi[kk]
        if any_prog:
            _reset_cursors(prog_i)
        for i in range(n):
            alive[i] = True
            prog_i[prog_i[H_ALIVE] + i] = 1
            bal[i] = face[i]
            short[i] = 0.0
            wdown[i] = 0.0
            first[i] = 0
            last[i] = 0
            for q in range(4):
                tot[i, q] = 0.0
            # a period's per-class figures are added to the totals at the start of the
            # next period (and after the last): none before the first
            ipaid[i] = 0.0
            ppaid[i] = 0.0
            loss[i] = 0.0
        for k in range(nf):
            fshort[k] = 0.0
        for k in range(nk):
            latch[k] = 0
        reserve = reserve_p[0]
        cum_loss = 0.0
        resid_tot = 0.0
        for t in range(T):
            period = t + 1
            interest = c_int[s, t]
            pool_beg = c_beg[s, t]
            pool_end = c_end[s, t]
            index = c_idx[s, t]
            ifunds = interest
            pfunds = c_sched[s, t] + c_prep[s, t] + c_rec[s, t] + c_sub[s, t]
            # net of subsequent recoveries, never below 0 (as the exact engine)
            cum_loss = max(cum_loss + c_loss[s, t] - c_sub[s, t], 0.0)
            draw = 0.0
            dep = 0.0
            rel = 0.0
            residual = 0.0
            fees_now = 0.0
            for k in range(nf):
                fee = pool_beg * (fees[0, k] * MONTH) + fees[1, k]
                if fees[2, k] > 0.0 and fee > fees[2, k]:
                    fee = fees[2, k]
                fcur[k] = fee
                fpaid[k] = 0.0
                fees_now += fee
            netwac = 0.0
            if pool_beg > 0.0:
                netwac = max(interest - fees_now, 0.0) * 12.0 / pool_beg
            # each class: the previous period's figures to the totals, then this
            # period's interest due; a class that ended the previous period retired
            # leaves the windows (its rows are all 0 from here on)
            retiring = False
            for rr in range(n_ranks):
                for i in range(wlo[rr], whi[rr]):
                    pp = ppaid[i]
                    tot[i, 0] += ipaid[i]
                    tot[i, 1] += pp
                    tot[i, 2] += loss[i]
                    tot[i, 3] += pp * t
                    if pp > 0.0:
                        if first[i] == 0:
                            first[i] = t
                        last[i] = t
                    b = bal[i]
                    if b == 0.0 and short[i] == 0.0 and alive[i] and not pinned[i]:
                        alive[i] = False
                        prog_i[prog_i[H_ALIVE] + i] = 0
                        retiring = True
                    beg[i] = b
                    ipaid[i] = 0.0
                    acc[i] = 0.0
                    ppaid[i] = 0.0
                    loss[i] = 0.0
                    wup[i] = 0.0
                    if kind[i] >= 2:
                        mrate = (
                            _coupon_rate(
                                kind[i], rate_c[i], margin_c[i], cap_c[i], floor_c[i], index, netwac,
                                mult_c[i],
                            )
                            * MONTH
                        )
                    else:
                        mrate = mfix[i]
                    c = b * mrate
                    cur[i] = c
                    sh = short[i]
                    d = c + sh
                    if ios == 1:
                        d += sh * mrate
                    due[i] = d
            if retiring:
                for rr in range(n_ranks):
                    while wlo[rr] < whi[rr] and not alive[wlo[rr]]:
                        wlo[rr] += 1
                    while whi[rr] > wlo[rr] and not alive[whi[rr] - 1]:
                        whi[rr] -= 1
                for kk in range(n_wr):
                    while dlo[kk] < dhi[kk] and not alive[dlo[kk]]:
                        dlo[kk] += 1
                    while dhi[kk] > dlo[kk] and not alive[dhi[kk] - 1]:
                        dhi[kk] -= 1
            # triggers; ``held``: any latched (the reserve does not step down)
            effects = 0
            held = False
            for k in range(nk):
                test = trig_i[0, k]
                thr = trig_f[k]
                fail = False
                if test == 1 or test == 2:
                    ref_rank = prio[trig_i[1, k]]
                    den = 0.0
                    for rr in range(n_ranks):
                        for i in range(wlo[rr], whi[rr]):
                            if prio[i] > ref_rank:
                                continue
                            if test == 1 and bears[i]:
                                den += beg[i]
                            if test == 2:
                                den += cur[i]
                    if test == 1:
                        fail = den > 0.0 and pool_beg < thr * den
                    else:
                        fail = den > 0.0 and max(interest - fees_now, 0.0) < thr * den
                elif test == 3:
                    fail = cum_loss > thr * pool_original
                elif test == 4:
                    fail = c_dq[s, t] > thr * pool_end
                failing[k] = 1 if fail else 0
                if fail or (latch[k] == 1 and trig_i[3, k] == 0):
                    latch[k] = 1
                else:
                    latch[k] = 0
                if latch[k] == 1:
                    effects |= trig_i[2, k]
                    held = True
                if any_prog:
                    prog_i[prog_i[H_LATCH] + k] = latch[k]
            seq = (effects & 1) != 0
            # the classes' total balance, kept while no step changes a balance
            class_total = 0.0
            class_total_ok = False
            for si in range(n_steps):
                op = steps[si]
                defic = 0.0
                if op == 5 or op == 7 or (op == 6 and (reserve_flags & 2) != 0):
                    # principal deficiency: class balances above the ending pool balance
                    if not class_total_ok:
                        class_total = 0.0
                        for rr in range(n_ranks):
                            for i in range(wlo[rr], whi[rr]):
                                if bears[i]:
                                    class_total += bal[i]
                        class_total_ok = True
                    defic = max(class_total - pool_end, 0.0)
                if op == 2 or op == 3 or op == 7:
                    # accretion and the accrual rules, write-ups, write-downs
                    class_total_ok = False
                # steps paying principal (4, 5, 6, 8) set ``amount`` and share the
                # distribution code below (written once, so no helper takes arrays)
                amount = 0.0
                dseq = seq
                if op == 1:
                    for k in range(nf):
                        d = fcur[k] + fshort[k]
                        pay = min(d, ifunds)
                        ifunds -= pay
                        fpaid[k] = pay
                        fshort[k] = d - pay
                elif op == 2:
                    for rr in range(n_ranks):
                        r = wlo[rr]
                        end = whi[rr]
                        total = 0.0
                        for i in range(r, end):
                            total += due[i]
                        if total > ifunds and (reserve_flags & 1) != 0:
                            x = min(reserve, total - ifunds)
                            reserve -= x
                            draw += x
                            ifunds += x
                        full = total <= ifunds
                        frac = 1.0
                        if full:
                            ifunds -= total
                        else:
                            frac = ifunds / total
                            ifunds = 0.0
                        for i in range(r, end):
                            d = due[i]
                            ip = d if full else d * frac
                            ipaid[i] = ip
                            short[i] = d - ip
                            if has_z and zmask[i] != 0:
                                accreting = False
                                for jj in range(acc_n[i]):
                                    if bal[acc_lst[i, jj]] > 0.0:
                                        accreting = True
                                        break
                                if accreting:
                                    a = ipaid[i]
                                    ipaid[i] = 0.0
                                    bal[i] += a
                                    acc[i] += a
                                    if ranges[i, 1] > ranges[i, 0]:
                                        a = _run_prog(
                                            ranges[i, 0], ranges[i, 1], a, period, n,
                                            prog_i, prog_f, rows,
                                        )
                                    else:
                                        for jj in range(acc_n[i]):
                                            j = acc_lst[i, jj]
                                            pay = min(a, bal[j])
                                            bal[j] -= pay
                                            ppaid[j] += pay
                                            a -= pay
                                    pfunds += a
                elif op == 3 and c_sub[s, t] > 0.0:
                    a = c_sub[s, t]
                    revived = False
                    for i in range(n):
                        up = min(a, wdown[i])
                        bal[i] += up
                        wdown[i] -= up
                        wup[i] += up
                        a -= up
                        if up > 0.0 and not alive[i]:
                            alive[i] = True
                            prog_i[prog_i[H_ALIVE] + i] = 1
                            revived = True
                    if revived:
                        if any_prog:
                            _reset_cursors(prog_i)
                        # a retired class written up is live again: the windows grow
                        for rr in range(n_ranks):
                            wlo[rr] = rstart[rr]
                            whi[rr] = rend[rr]
                            while wlo[rr] < whi[rr] and not alive[wlo[rr]]:
                                wlo[rr] += 1
                            while whi[rr] > wlo[rr] and not alive[whi[rr] - 1]:
                                whi[rr] -= 1
                        for kk in range(n_wr):
                            dlo[kk] = rank_lo[kk]
                            dhi[kk] = rank_hi[kk]
                            while dlo[kk] < dhi[kk] and not alive[dlo[kk]]:
                                dlo[kk] += 1
                            while dhi[kk] > dlo[kk] and not alive[dhi[kk] - 1]:
                                dhi[kk] -= 1
                elif op == 4:
                    amount = pfunds
                elif op == 5:
                    amount = min(ifunds, defic)
                elif op == 6:
                    if (reserve_flags & 2) != 0:
                        amount = min(reserve, defic)
                elif op == 7 and defic > 0.0:
                    left_d = defic
                    for kk in range(n_wr):
                        # once the deficiency is allocated the more senior ranks
                        # would each be written down by 0 (the same figures)
                        if left_d <= 0.0:
                            break
                        start = dlo[kk]
                        r = dhi[kk] - 1
                        total = 0.0
                        for j in range(start, r + 1):
                            if bears[j]:
                                total += bal[j]
                        take = min(left_d, total)
                        left_d -= take
                        if total > 0.0:
                            frac = take / total
                            for j in range(start, r + 1):
                                if bears[j]:
                                    x = bal[j] * frac
                                    bal[j] -= x
                                    loss[j] += x
                                    wdown[j] += x
                elif op == 8:
                    if (effects & 4) != 0:
                        amount = ifunds
                        dseq = True
                elif op == 9:
                    target = _reserve_target(reserve_floor, reserve_pct, pool_end)
                    if reserve < target:
                        x = min(ifunds, target - reserve)
                        reserve += x
                        dep += x
                        ifunds -= x
                elif op == 10:
                    if misc[5] >= 0:
                        # excess interest to the named class
                        ipaid[misc[5]] += ifunds
                        ifunds = 0.0
                    release = 0.0
                    if pool_end <= 0.0:
                        release = reserve
                    elif not held:
                        target = _reserve_target(reserve_floor, reserve_pct, pool_end)
                        if reserve > target:
                            release = reserve - target
                    rel += release
                    reserve -= release
                    residual = ifunds + pfunds + release
                    ifunds = 0.0
                    pfunds = 0.0
                if op == 4 or op == 5 or op == 6 or op == 8:
                    # principal distribution: what is left of ``amount`` (0 if none)
                    pay_in = amount
                    if amount > 0.0:
                        class_total_ok = False
                    left = 0.0
                    if amount > 0.0 and has_prog:
                        # the deal's rules; anything they leave goes on to the sweep
                        amount = _run_prog(
                            ranges[n, 0], ranges[n, 1], amount, period, n, prog_i, prog_f, rows
                        )
                    if amount > 0.0:
                        # PAC classes down to their schedule
                        for i in range(n if (has_pac and not has_prog) else 0):
                            if amount <= 0.0:
                                break
                            if ti[I_RULE, i] == 3 and period > ti[I_LOCK, i]:
                                target = pac[i, period - 1] if period <= plen[i] else 0.0
                                excess = bal[i] - target
                                if excess > 0.0:
                                    pay = min(amount, excess)
                                    bal[i] -= pay
                                    ppaid[i] += pay
                                    amount -= pay
                        # sequential / pro-rata / support classes not locked out
                        for i in range(0 if has_prog else n):
                            if amount <= 0.0:
                                break
                            rule = ti[I_RULE, i]
                            if (rule != 1 and rule != 2 and rule != 4) or (
                                ti[I_FLAGS, i] & 1
                            ) != 0:
                                continue
                            if period <= ti[I_LOCK, i]:
                                continue
                            if rule == 2 and not dseq:
                                if ti[I_GSTART, i] == i:
                                    end = ti[I_GEND, i]
                                    total = 0.0
                                    for j in range(i, end):
                                        if period > ti[I_LOCK, j]:
                                            total += bal[j]
                                    if total > 0.0:
                                        frac = min(amount / total, 1.0)
                                        used = 0.0
                                        for j in range(i, end):
                                            if period > ti[I_LOCK, j]:
                                                x = bal[j] * frac
                                                bal[j] -= x
                                                ppaid[j] += x
                                                used += x
                                        amount -= used
                                continue
                            pay = min(amount, bal[i])
                            bal[i] -= pay
                            ppaid[i] += pay
                            amount -= pay
                        # anything left to any class bearing principal
                        for i in range(n):
                            if amount <= 0.0:
                                break
                            if bears[i]:
                                pay = min(amount, bal[i])
                                bal[i] -= pay
                                ppaid[i] += pay
                                amount -= pay
                        left = max(amount, 0.0)
                    if op == 4:
                        pfunds = left
                    elif op == 5:
                        ifunds -= pay_in - left
                    elif op == 6:
                        if (reserve_flags & 2) != 0:
                            reserve -= pay_in - left
                            draw += pay_in - left
                    else:
                        if (effects & 4) != 0:
                            ifunds = left
                        if (effects & 2) != 0:
                            reserve += ifunds
                            dep += ifunds
                            ifunds = 0.0
            for ii in range(n_io if has_io else 0):
                i = io_list[ii]
                ref = ioref[i]
                if ref >= 0:
                    if ref >= NOTIONAL_GROUP:
                        g3 = prog_i[H_GIDX] + 3 * (ref - NOTIONAL_GROUP)
                        gsum = 0.0
                        # from the group's first member not retired (its cursor)
                        gc = prog_i[H_GCUR] + ref - NOTIONAL_GROUP
                        m0 = prog_i[gc]
                        while (m0 < prog_i[g3 + 1]
                               and prog_i[prog_i[H_ALIVE] + prog_i[prog_i[H_GMEM] + m0]] == 0):
                            m0 += 1
                        prog_i[gc] = m0
                        for m in range(m0, prog_i[g3 + 1]):
                            gsum += bal[prog_i[prog_i[H_GMEM] + m]]
                        bal[i] = gsum
                    else:
                        bal[i] = pool_end if ref == 255 else bal[ref]
            # outputs
            resid_tot += residual
            if store >= 1:
                # per-tranche tables kept by the caller: ``slot[f]`` is the row of
                # ``o_tr`` (fields in ``TRANCHE_TABLES`` order) or -1
                for f in range(N_TABLES):
                    j = slot[f]
                    if j >= 0:
                        for i in range(n):
                            o_tr[j, s, i, t] = rows[f, i]
            if detail:
                for k in range(nf):
                    o_fee[s, t, k] = fpaid[k]
                for k in range(nk):
                    o_trig[s, t, k] = failing[k]
                o_deal[s, t, D_DRAW] = draw
                o_deal[s, t, D_DEP] = dep
                o_deal[s, t, D_REL] = rel
                o_deal[s, t, D_RES] = reserve
                o_deal[s, t, D_RESID] = residual
                o_deal[s, t, D_EFFECTS] = effects
        # the last period's figures to the totals
        for rr in range(n_ranks):
            for i in range(wlo[rr], whi[rr]):
                pp = ppaid[i]
                tot[i, 0] += ipaid[i]
                tot[i, 1] += pp
                tot[i, 2] += loss[i]
                tot[i, 3] += pp * T
                if pp > 0.0:
                    if first[i] == 0:
                        first[i] = T
                    last[i] = T
        for i in range(n):
            for q in range(4):
                s_tot[s, i, q] = tot[i, q]
            s_first[s, i] = first[i]
            s_last[s, i] = last[i]
            s_end[s, i] = bal[i]
        s_resid[s] = resid_tot


@njit(cache=True, error_model="numpy", parallel=True)
def _run_parallel(n_chunks: int, deal: Any, inputs: Any, store: int, out: Any) -> None:
    """The parallel driver: chunks of scenarios on the numba threads (each chunk runs
    :func:`_run_range`, so a scenario's numbers do not depend on the split)."""
    n_scen = inputs[0].shape[0]
    for c in prange(n_chunks):
        _run_range(c * n_scen // n_chunks, (c + 1) * n_scen // n_chunks, deal, inputs, store, out)


#: below this many scenarios the kernel runs on the calling thread only
PARALLEL_MIN_SCENARIOS = 64
#: chunks per numba thread (several, so a thread slowed by other load is caught up)
CHUNKS_PER_THREAD = 4


def _no_retire(misc: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    out = misc.copy()
    out[6] = 0
    return out


def run_kernel(
    packed: dict[str, Any],
    arrays: dict[str, npt.NDArray[np.float64]],
    *,
    tables: tuple[str, ...] = (),
    detail: bool = False,
    parallel: bool | None = None,
    retire: bool = True,
) -> dict[str, Any]:
    """Run the compiled waterfall and return the raw output arrays.

    ``arrays`` holds the collections' ``(n_scenarios, n_periods)`` fields (see
    ``_COLL_FIELDS``; principal funds are summed in the kernel). ``tables`` names the
    per-tranche tables to write (from :data:`TRANCHE_TABLES`); each comes back under
    ``out["tr"][name]`` as an ``(n_scenarios, n_periods, n_tranches)`` view of an
    ``(n_scenarios, n_tranches, n_periods)`` block. ``detail`` also writes fees, reserve,
    residual, effects and trigger tables. Totals (``tot``, ``first``, ``last``, ``end``,
    ``resid``) are always written. ``parallel`` (default: at least
    :data:`PARALLEL_MIN_SCENARIOS` scenarios and more than one numba thread) splits the
    scenarios over the numba threads; the results do not depend on it. ``retire=False``
    visits every class every period (the loops skip retired classes otherwise, see the
    note above ``_run_range``); the results do not depend on it either.
    """
    S, T = arrays["interest"].shape
    n = int(packed["misc"][2])
    nf = int(packed["misc"][3])
    nk = int(packed["misc"][4])
    slot = np.full(N_TABLES, -1, dtype=np.int64)
    for j, name in enumerate(tables):
        slot[TRANCHE_TABLES.index(name)] = j
    # every kept element is written by the kernel, so no zero-filling is needed
    o_tr = np.empty((len(tables), S, n, T)) if tables else np.empty((1, 1, 1, 1))
    o_fee = np.empty((S, T, nf)) if detail else np.empty((1, 1, 1))
    o_deal = np.empty((S, T, 6)) if detail else np.empty((1, 1, 6))
    o_trig = np.empty((S, T, nk)) if detail else np.empty((1, 1, 1))
    s_tot = np.empty((S, n, 4))
    s_first = np.empty((S, n), dtype=np.int64)
    s_last = np.empty((S, n), dtype=np.int64)
    s_end = np.empty((S, n))
    s_resid = np.empty(S)
    deal = (
        packed["ti"],
        packed["tf"],
        packed["pac"],
        packed["plen"],
        packed["fees"],
        packed["trig_i"],
        packed["trig_f"],
        packed["reserve"],
        packed["misc"] if retire else _no_retire(packed["misc"]),
        packed["steps"],
        float(packed["pool_original"]),
        packed["accm"],
        packed["mult"],
        packed["prog_i"],
        packed["prog_f"],
        packed["ranges"],
    )
    inputs = tuple(np.ascontiguousarray(arrays[k], dtype=np.float64) for k in _COLL_FIELDS)
    out = (o_tr, slot, o_fee, o_deal, o_trig, s_tot, s_first, s_last, s_end, s_resid)
    store = 2 if detail else (1 if tables else 0)
    threads = int(get_num_threads())
    if parallel is None:
        parallel = S >= PARALLEL_MIN_SCENARIOS and threads > 1
    if parallel and S > 0:
        _run_parallel(min(S, threads * CHUNKS_PER_THREAD), deal, inputs, store, out)
    else:
        _run_range(0, S, deal, inputs, store, out)
    return {
        "tr": {name: o_tr[j].transpose(0, 2, 1) for j, name in enumerate(tables)},
        "fee": o_fee,
        "deal": o_deal,
        "trig": o_trig,
        "tot": s_tot,
        "first": s_first,
        "last": s_last,
        "end": s_end,
        "resid": s_resid,
    }
