"""The float waterfall: the exact engine's algorithm in float64, vectorised over scenarios.

Every step of ``_exact.py`` has its twin here, operating on arrays of shape
``(n_scenarios,)``: the loop runs over periods and over (at most eight) tranches, never
over scenarios. Amounts are in currency units. There is no rounding, hence no dust.
The two engines agree within rounding (tests compare them on every example deal and
on random deals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from openmbs.errors import InputError
from openmbs.structuring._compile import compile_exact
from openmbs.structuring._exact import (
    CPN_FIXED,
    CPN_FIXED_CAPPED,
    CPN_FLOAT,
    CPN_INVERSE,
    CPN_NETWAC,
    E_SEQUENTIAL,
    E_TRAP,
    E_TURBO,
    F_IO,
    F_Z,
    NOTIONAL_GROUP,
    NOTIONAL_POOL,
    OP_FEES,
    OP_INTEREST,
    OP_PRINCIPAL,
    OP_RESERVE_LOSS,
    OP_RESERVE_TOPUP,
    OP_RESIDUAL,
    OP_TRIGGER_XS,
    OP_WRITEDOWN,
    OP_WRITEUP,
    OP_XS_LOSS,
    PR_NONE,
    PR_PAC,
    PR_PRORATA,
    PR_SEQ,
    PR_SUPPORT,
    R_COVERS_INTEREST,
    R_COVERS_LOSSES,
    T_CUMLOSS,
    T_DELINQ,
    T_IC,
    T_OC,
    WAD,
    ExactDeal,
)
from openmbs.structuring._spec import DealSpec
from openmbs.structuring._wal import prospectus_wal, settlement_years

__all__ = [
    "DEAL_TABLES",
    "TRANCHE_TABLES",
    "Collections",
    "TrancheSummary",
    "WaterfallResult",
    "float_deal",
    "run_waterfall",
]

FloatArray = npt.NDArray[np.float64]

_COLL_FIELDS = (
    "interest",
    "scheduled_principal",
    "prepaid_principal",
    "recoveries",
    "losses",
    "beginning_balance",
    "ending_balance",
    "delinquent_60",
    "index_rate",
    "subsequent_recoveries",
)


@dataclass(frozen=True, eq=False)
class Collections:
    """Pool collections feeding a waterfall, shaped ``(n_scenarios, n_periods)``.

    Money in currency units; ``index_rate`` a decimal (the floater index). Period
    ``k + 1`` is column ``k``. Build with :meth:`from_arrays` (accepts 1-D arrays for
    one scenario) or :func:`collections_from_projection`.
    """

    original_balance: float
    interest: FloatArray
    scheduled_principal: FloatArray
    prepaid_principal: FloatArray
    recoveries: FloatArray
    losses: FloatArray
    beginning_balance: FloatArray
    ending_balance: FloatArray
    delinquent_60: FloatArray
    index_rate: FloatArray
    subsequent_recoveries: FloatArray

    @property
    def n_scenarios(self) -> int:
        return int(self.interest.shape[0])

    @property
    def n_periods(self) -> int:
        return int(self.interest.shape[1])

    @classmethod
    def from_arrays(
        cls,
        *,
        original_balance: float,
        interest: npt.ArrayLike,
        scheduled_principal: npt.ArrayLike,
        prepaid_principal: npt.ArrayLike,
        recoveries: npt.ArrayLike | None = None,
        losses: npt.ArrayLike | None = None,
        beginning_balance: npt.ArrayLike | None = None,
        ending_balance: npt.ArrayLike | None = None,
        delinquent_60: npt.ArrayLike | None = None,
        index_rate: npt.ArrayLike | float = 0.0,
        subsequent_recoveries: npt.ArrayLike | None = None,
    ) -> Collections:
        """Build collections from arrays (1-D for one scenario, or 2-D).

        Missing ``beginning_balance``/``ending_balance`` are rebuilt from the original
        balance less scheduled, prepaid, recovered and lost principal.
        """
        base = np.atleast_2d(np.asarray(interest, dtype=np.float64))
        shape = base.shape

        def arr(x: npt.ArrayLike | float | None, name: str) -> FloatArray:
            if x is None:
                return np.zeros(shape)
            a = np.asarray(x, dtype=np.float64)
            if a.ndim == 0:
                return np.full(shape, float(a))
            a = np.atleast_2d(a)
            if a.shape != shape:
                raise InputError(f"collections field {name!r} has shape {a.shape}, expected {shape}")
            return a.copy()

        sched = arr(scheduled_principal, "scheduled_principal")
        prep = arr(prepaid_principal, "prepaid_principal")
        rec = arr(recoveries, "recoveries")
        loss = arr(losses, "losses")
        if ending_balance is None:
            paid = np.cumsum(sched + prep + rec + loss, axis=1)
            end = np.maximum(original_balance - paid, 0.0)
        else:
            end = arr(ending_balance, "ending_balance")
        if beginning_balance is None:
            beg = np.concatenate([np.full((shape[0], 1), float(original_balance)), end[:, :-1]], axis=1)
        else:
            beg = arr(beginning_balance, "beginning_balance")
        out = cls(
            original_balance=float(original_balance),
            interest=base.copy(),
            scheduled_principal=sched,
            prepaid_principal=prep,
            recoveries=rec,
            losses=loss,
            beginning_balance=beg,
            ending_balance=end,
            delinquent_60=arr(delinquent_60, "delinquent_60"),
            index_rate=arr(index_rate, "index_rate"),
            subsequent_recoveries=arr(subsequent_recoveries, "subsequent_recoveries"),
        )
        for name in _COLL_FIELDS:
            a = getattr(out, name)
            if not np.all(np.isfinite(a)):
                raise InputError(f"collections field {name!r} holds a non-finite value")
            if name != "index_rate" and np.any(a < 0):
                raise InputError(f"collections field {name!r} holds a negative value {a.min()!r}")
        return out


@dataclass(frozen=True)
class FloatDeal:
    """The compiled deal's parameters as floats (currency units, decimal rates)."""

    exact: ExactDeal
    scale: float
    face: FloatArray
    rate: FloatArray
    margin: FloatArray
    cap: FloatArray
    floor: FloatArray
    pac_schedule: tuple[FloatArray, ...]
    fee_rate: FloatArray
    fee_fixed: FloatArray
    fee_cap: FloatArray
    reserve_initial: float
    reserve_floor: float
    reserve_pct: float
    trig_threshold: FloatArray
    cleanup: float
    pool_original: float


def float_deal(exact: ExactDeal) -> FloatDeal:
    """Float parameters from the integer ones (so both engines run the same deal)."""
    scale = float(10**exact.decimals)

    def money(x: tuple[int, ...]) -> FloatArray:
        return np.asarray(x, dtype=np.float64) / scale

    def rates(x: tuple[int, ...]) -> FloatArray:
        return np.asarray(x, dtype=np.float64) / WAD

    return FloatDeal(
        exact=exact,
        scale=scale,
        face=money(exact.face),
        rate=rates(exact.rate),
        margin=rates(exact.margin),
        cap=rates(exact.cap),
        floor=rates(exact.floor),
        pac_schedule=tuple(money(s) for s in exact.pac_schedule),
        fee_rate=rates(exact.fee_rate),
        fee_fixed=money(exact.fee_fixed),
        fee_cap=money(exact.fee_cap),
        reserve_initial=exact.reserve_initial / scale,
        reserve_floor=exact.reserve_floor / scale,
        reserve_pct=exact.reserve_pct / WAD,
        trig_threshold=rates(exact.trig_threshold),
        cleanup=exact.cleanup_wad / WAD,
        pool_original=exact.pool_original / scale,
    )


@dataclass(frozen=True, eq=False)
class TrancheSummary:
    """Per-scenario, per-tranche totals ``(n_scenarios, n_tranches)`` of a run.

    ``wal`` is ``sum(t * principal) / (12 * sum(principal))`` with ``t`` the period
    number (``nan`` without principal), a quick measure for large scenario sets; it is
    not the prospectus WAL (which counts net reductions of balance from the settlement
    date: :meth:`WaterfallResult.average_life`, the WAL the CLI prints);
    ``first_period``/``last_period`` the principal window (0 when no principal).
    """

    interest: FloatArray
    principal: FloatArray
    writedown: FloatArray
    wal: FloatArray
    first_period: npt.NDArray[np.int64]
    last_period: npt.NDArray[np.int64]
    ending_balance: FloatArray
    residual: FloatArray


@dataclass(frozen=True, eq=False)
class WaterfallResult:
    """Per-period, per-tranche results of a float waterfall run.

    Per-tranche arrays are shaped ``(n_scenarios, n_periods, n_tranches)``; deal-level
    arrays ``(n_scenarios, n_periods)``; ``fees_paid`` ``(.., n_fees)``,
    ``trigger_failing`` ``(.., n_triggers)`` (1.0 while the test fails). Money in
    currency units. ``keep="cashflows"`` keeps only ``interest_paid``,
    ``principal_paid``, ``writedown`` and ``ending_balance`` per tranche;
    ``keep="summary"`` keeps no table, only :attr:`summary` (the others are ``None``).
    :attr:`summary` is always filled. ``settlement_years`` ``(n_periods,)``: years
    (30/360) from the settlement date to each distribution date, for a run of a
    :class:`DealSpec` (``None`` for an :class:`ExactDeal`, which carries no dates).
    """

    names: tuple[str, ...]
    fee_names: tuple[str, ...]
    trigger_names: tuple[str, ...]
    face: FloatArray
    io: tuple[bool, ...]
    summary: TrancheSummary
    interest_paid: FloatArray | None = None
    principal_paid: FloatArray | None = None
    writedown: FloatArray | None = None
    ending_balance: FloatArray | None = None
    beginning_balance: FloatArray | None = None
    interest_due: FloatArray | None = None
    interest_shortfall: FloatArray | None = None
    accreted: FloatArray | None = None
    writeup: FloatArray | None = None
    fees_paid: FloatArray | None = None
    reserve_draw: FloatArray | None = None
    reserve_deposit: FloatArray | None = None
    reserve_release: FloatArray | None = None
    reserve_balance: FloatArray | None = None
    residual_paid: FloatArray | None = None
    trigger_failing: FloatArray | None = None
    effects: npt.NDArray[np.int64] | None = None
    cash_in: FloatArray | None = None
    settlement_years: FloatArray | None = None

    @property
    def n_scenarios(self) -> int:
        return int(self.summary.interest.shape[0])

    def tranche(self, name: str) -> int:
        """Index of tranche ``name`` (raises :class:`InputError` naming the choices)."""
        if name not in self.names:
            raise InputError(f"unknown tranche {name!r}; the deal has {', '.join(self.names)}")
        return self.names.index(name)

    def table(self, name: str) -> FloatArray:
        """A kept table by field name (raises :class:`InputError` if it was not kept)."""
        value = getattr(self, name, None)
        if value is None:
            raise InputError(f"the run did not keep {name!r}; use keep='all' or 'cashflows'")
        return np.asarray(value)

    def average_life(self) -> FloatArray:
        """Each class's weighted average life (years) in each scenario,
        ``(n_scenarios, n_tranches)``, prospectus convention
        (:func:`openmbs.structuring.prospectus_wal`: from the settlement date to each
        distribution date, on net reductions of class balance; ``nan`` if never
        reduced). Needs the ``ending_balance`` table. A run of an :class:`ExactDeal`
        (which carries no dates) counts distribution date ``k`` as ``k`` months after
        settlement.
        """
        end = self.table("ending_balance")
        years = self.settlement_years
        if years is None:
            years = np.arange(1, end.shape[1] + 1, dtype=np.float64) / 12.0
        return prospectus_wal(self.face, end, years)

    @property
    def factor(self) -> FloatArray:
        """Ending balance / original face (``nan`` for a zero face)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.table("ending_balance") / np.where(self.face > 0, self.face, np.nan)


class _TimeMajor:
    """Collections read period by period through reused ``(block, n_scenarios)`` buffers.

    Inputs are ``(n_scenarios, n_periods)``; reading a column is strided, so blocks of
    periods are transposed into buffers allocated once (no fresh pages per period).
    """

    BLOCK = 24

    def __init__(self, c: Collections) -> None:
        self.c = c
        s = c.n_scenarios
        self.names = (
            "interest",
            "beginning_balance",
            "ending_balance",
            "delinquent_60",
            "index_rate",
            "losses",
            "subsequent_recoveries",
            "principal_funds",
        )
        self.buf = {k: np.empty((self.BLOCK, s)) for k in self.names}
        self.t0 = -1

    def load(self, t: int) -> None:
        t0 = t - t % self.BLOCK
        if t0 == self.t0:
            return
        t1 = min(t0 + self.BLOCK, self.c.n_periods)
        c = self.c
        for k in self.names:
            if k == "principal_funds":
                continue
            self.buf[k][: t1 - t0] = getattr(c, k)[:, t0:t1].T
        pf = self.buf["principal_funds"][: t1 - t0]
        pf[:] = c.scheduled_principal[:, t0:t1].T
        pf += c.prepaid_principal[:, t0:t1].T
        pf += c.recoveries[:, t0:t1].T
        pf += c.subsequent_recoveries[:, t0:t1].T
        self.t0 = t0

    def get(self, name: str, t: int) -> Any:
        return self.buf[name][t - self.t0]


class _Work:
    """Per-period scratch of the float engine: rows are tranches, columns scenarios."""

    def __init__(self, fd: FloatDeal, s: int) -> None:
        d = fd.exact
        n = d.n_tranches
        self.bal = np.tile(fd.face[:, None], (1, s))
        self.shortfall = np.zeros((n, s))
        self.writedown = np.zeros((n, s))
        self.fee_short = np.zeros((d.n_fees, s))
        self.reserve = np.full(s, fd.reserve_initial)
        self.latch = np.zeros((d.n_triggers, s), dtype=bool)
        self.cum_loss = np.zeros(s)
        self.s = s

    def start(self, fd: FloatDeal, t: int, c: _TimeMajor) -> None:
        c.load(t)
        self.period = t + 1
        self.interest = c.get("interest", t).copy()
        self.pool_beg = c.get("beginning_balance", t).copy()
        self.pool_end = c.get("ending_balance", t).copy()
        self.delinquent = c.get("delinquent_60", t)
        self.index_rate = c.get("index_rate", t)
        self.ifunds = self.interest.copy()
        self.subsequent = c.get("subsequent_recoveries", t).copy()
        self.pfunds = c.get("principal_funds", t).copy()
        # net of subsequent recoveries, never below 0 (as the exact engine)
        self.cum_loss = np.maximum(
            self.cum_loss + c.get("losses", t) - c.get("subsequent_recoveries", t), 0.0
        )
        d = fd.exact
        n = d.n_tranches
        s = self.s
        self.beg = self.bal.copy()
        self.int_due = np.zeros((n, s))
        self.int_paid = np.zeros((n, s))
        self.accreted = np.zeros((n, s))
        self.prin_paid = np.zeros((n, s))
        self.loss = np.zeros((n, s))
        self.writeup = np.zeros((n, s))
        self.fee_paid = np.zeros((d.n_fees, s))
        self.failing = np.zeros((d.n_triggers, s), dtype=bool)
        self.reserve_draw = np.zeros(s)
        self.reserve_release = np.zeros(s)
        self.reserve_deposit = np.zeros(s)
        self.residual = np.zeros(s)
        self.effects = np.zeros(s, dtype=np.int64)
        self.netwac = np.zeros(s)


def _bears(d: ExactDeal, i: int) -> bool:
    return d.rule[i] != PR_NONE and d.flags[i] & F_IO == 0


def _fee_current(fd: FloatDeal, k: int, pool_beg: FloatArray) -> Any:
    fee = pool_beg * fd.fee_rate[k] / 12.0 + fd.fee_fixed[k]
    if fd.exact.fee_cap[k] > 0:
        fee = np.minimum(fee, fd.fee_cap[k])
    return fee


def _coupon_rate(fd: FloatDeal, w: _Work, i: int) -> Any:
    kind = fd.exact.coupon_kind[i]
    if kind == CPN_FIXED:
        return float(fd.rate[i])
    if kind == CPN_FLOAT:
        r = np.maximum(w.index_rate + fd.margin[i], fd.floor[i])
        if fd.exact.cap[i] > 0:
            r = np.minimum(r, fd.cap[i])
        return np.maximum(r, 0.0)
    if kind == CPN_NETWAC:
        return np.maximum(w.netwac + fd.margin[i], 0.0)
    if kind == CPN_FIXED_CAPPED:
        return np.minimum(fd.rate[i], w.netwac)
    return 0.0


def _pac_target(fd: FloatDeal, i: int, period: int) -> float:
    sched = fd.pac_schedule[i]
    return float(sched[period - 1]) if period <= len(sched) else 0.0


def _reserve_target(fd: FloatDeal, pool_end: FloatArray) -> FloatArray:
    target = np.maximum(pool_end * fd.reserve_pct, fd.reserve_floor)
    return np.where(pool_end > 0, target, 0.0)


def _deficiency(d: ExactDeal, w: _Work) -> Any:
    total = np.zeros(w.s)
    for i in range(d.n_tranches):
        if _bears(d, i):
            total += w.bal[i]
    return np.maximum(total - w.pool_end, 0.0)


def _pay(w: _Work, i: int, x: FloatArray) -> None:
    w.bal[i] -= x
    w.prin_paid[i] += x


def _distribute(
    fd: FloatDeal, w: _Work, amount: FloatArray, sequential: npt.NDArray[np.bool_] | bool
) -> FloatArray:
    """Float twin of ``_exact._distribute`` (``sequential`` per scenario)."""
    d = fd.exact
    n = d.n_tranches
    amount = amount.copy()
    locked = [w.period <= d.lockout[i] for i in range(n)]
    for i in range(n):
        if d.rule[i] == PR_PAC and not locked[i]:
            excess = np.maximum(w.bal[i] - _pac_target(fd, i, w.period), 0.0)
            pay = np.minimum(amount, excess)
            _pay(w, i, pay)
            amount -= pay
    seq = np.broadcast_to(np.asarray(sequential, dtype=np.bool_), amount.shape)
    all_seq = bool(seq.all())
    for i in range(n):
        rule = d.rule[i]
        if rule not in (PR_SEQ, PR_PRORATA, PR_SUPPORT) or d.flags[i] & F_IO != 0 or locked[i]:
            continue
        if rule == PR_PRORATA:
            # scenarios paying pro rata: the group's members not locked out share at the
            # group's first class (a group whose first class is locked out is passed
            # over, as in the exact engine); sequential scenarios: each member on its own
            if d.group_start[i] == i and not all_seq:
                members = [j for j in range(i, d.group_end[i]) if not locked[j]]
                total = np.zeros(w.s)
                for j in members:
                    total += w.bal[j]
                safe = np.where(total > 0, total, 1.0)
                frac = np.where(seq, 0.0, np.minimum(amount / safe, 1.0))
                paid = np.zeros(w.s)
                for j in members:
                    x = w.bal[j] * frac
                    _pay(w, j, x)
                    paid += x
                amount -= paid
            sq = np.where(seq, np.minimum(amount, w.bal[i]), 0.0)
            _pay(w, i, sq)
            amount -= sq
            continue
        pay = np.minimum(amount, w.bal[i])
        _pay(w, i, pay)
        amount -= pay
    for i in range(n):
        if _bears(d, i):
            pay = np.minimum(amount, w.bal[i])
            _pay(w, i, pay)
            amount -= pay
    return np.maximum(amount, 0.0)


def _test_triggers(fd: FloatDeal, w: _Work) -> None:
    d = fd.exact
    fees_now = np.zeros(w.s)
    for k in range(d.n_fees):
        fees_now += _fee_current(fd, k, w.pool_beg)
    for k in range(d.n_triggers):
        test = d.trig_test[k]
        thr = fd.trig_threshold[k]
        if test in (T_OC, T_IC):
            ref_rank = d.priority[d.trig_ref[k]]
            den = np.zeros(w.s)
            for i in range(d.n_tranches):
                if d.priority[i] > ref_rank:
                    continue
                if test == T_OC and _bears(d, i):
                    den += w.beg[i]
                if test == T_IC:
                    den += w.beg[i] * _coupon_rate(fd, w, i) / 12.0
            if test == T_OC:
                fail = (den > 0) & (w.pool_beg < thr * den)
            else:
                fail = (den > 0) & (np.maximum(w.interest - fees_now, 0.0) < thr * den)
        elif test == T_CUMLOSS:
            fail = w.cum_loss > thr * fd.pool_original
        else:
            assert test == T_DELINQ
            fail = w.delinquent > thr * w.pool_end
        w.failing[k] = fail
        if d.trig_curable[k] == 1:
            w.latch[k] = fail
        else:
            w.latch[k] = fail | w.latch[k]
        w.effects |= np.where(w.latch[k], d.trig_effect[k], 0)


def _step_fees(fd: FloatDeal, w: _Work) -> None:
    for k in range(fd.exact.n_fees):
        due = _fee_current(fd, k, w.pool_beg) + w.fee_short[k]
        pay = np.minimum(due, w.ifunds)
        w.ifunds = w.ifunds - pay
        w.fee_paid[k] = pay
        w.fee_short[k] = due - pay


def _step_interest(fd: FloatDeal, w: _Work) -> None:
    d = fd.exact
    n = d.n_tranches
    for r in range(n):
        if d.rank_start[r] != r:
            continue
        end = d.rank_end[r]
        total = np.zeros(w.s)
        for i in range(r, end):
            rate = _coupon_rate(fd, w, i)
            due = w.beg[i] * rate / 12.0 + w.shortfall[i]
            if d.interest_on_shortfall == 1:
                due = due + w.shortfall[i] * rate / 12.0
            w.int_due[i] = due
            total += due
        if d.reserve_flags & R_COVERS_INTEREST:
            draw = np.minimum(w.reserve, np.maximum(total - w.ifunds, 0.0))
            w.reserve = w.reserve - draw
            w.reserve_draw += draw
            w.ifunds = w.ifunds + draw
        frac = np.where(total > w.ifunds, w.ifunds / np.where(total > 0, total, 1.0), 1.0)
        for i in range(r, end):
            w.int_paid[i] = w.int_due[i] * frac
        w.ifunds = np.maximum(w.ifunds - total, 0.0)
        for i in range(r, end):
            w.shortfall[i] = w.int_due[i] - w.int_paid[i]
            if d.flags[i] & F_Z:
                accreting = np.zeros(w.s, dtype=bool)
                for j in range(n):
                    if d.accretion_mask[i] >> j & 1:
                        accreting |= w.bal[j] > 0
                if np.any(accreting):
                    accrual = np.where(accreting, w.int_paid[i], 0.0)
                    w.int_paid[i] = w.int_paid[i] - accrual
                    w.bal[i] += accrual
                    w.accreted[i] += accrual
                    for j in range(n):
                        if d.accretion_mask[i] >> j & 1:
                            pay = np.minimum(accrual, w.bal[j])
                            _pay(w, j, pay)
                            accrual = accrual - pay
                    w.pfunds = w.pfunds + accrual


def _step_writeup(fd: FloatDeal, w: _Work) -> None:
    amount = w.subsequent.copy()
    for i in range(fd.exact.n_tranches):
        up = np.minimum(amount, w.writedown[i])
        w.bal[i] += up
        w.writedown[i] -= up
        w.writeup[i] += up
        amount -= up


def _step_writedown(fd: FloatDeal, w: _Work) -> None:
    d = fd.exact
    left = _deficiency(d, w)
    n = d.n_tranches
    for k in range(n):
        r = n - 1 - k
        if d.rank_end[r] - 1 != r:
            continue
        members = [j for j in range(d.rank_start[r], r + 1) if _bears(d, j)]
        if not members:
            continue
        total = np.zeros(w.s)
        for j in members:
            total += w.bal[j]
        take = np.minimum(left, total)
        left = left - take
        frac = take / np.where(total > 0, total, 1.0)
        for j in members:
            x = w.bal[j] * frac
            w.bal[j] -= x
            w.loss[j] += x
            w.writedown[j] += x


def _step_residual(fd: FloatDeal, w: _Work) -> None:
    final = w.pool_end <= 0
    target = _reserve_target(fd, w.pool_end)
    # no step-down while any trigger is latched (failing, or tripped and non-curable)
    held = w.latch.any(axis=0) if fd.exact.n_triggers else np.zeros(w.s, dtype=bool)
    release = np.where(final, w.reserve, np.where(held, 0.0, np.maximum(w.reserve - target, 0.0)))
    w.reserve_release += release
    w.reserve = w.reserve - release
    w.residual = w.ifunds + w.pfunds + release
    w.ifunds = np.zeros(w.s)
    w.pfunds = np.zeros(w.s)


def _run_period(fd: FloatDeal, w: _Work) -> None:
    d = fd.exact
    fees_now = np.zeros(w.s)
    for k in range(d.n_fees):
        fees_now += _fee_current(fd, k, w.pool_beg)
    w.netwac = np.where(
        w.pool_beg > 0,
        np.maximum(w.interest - fees_now, 0.0) * 12.0 / np.where(w.pool_beg > 0, w.pool_beg, 1.0),
        0.0,
    )
    _test_triggers(fd, w)
    seq = (w.effects & E_SEQUENTIAL) != 0
    for op in d.steps:
        if op == OP_FEES:
            _step_fees(fd, w)
        elif op == OP_INTEREST:
            _step_interest(fd, w)
        elif op == OP_WRITEUP:
            _step_writeup(fd, w)
        elif op == OP_PRINCIPAL:
            w.pfunds = _distribute(fd, w, w.pfunds, seq)
        elif op == OP_XS_LOSS:
            pay = np.minimum(w.ifunds, _deficiency(d, w))
            left = _distribute(fd, w, pay, seq)
            w.ifunds = w.ifunds - (pay - left)
        elif op == OP_RESERVE_LOSS:
            if d.reserve_flags & R_COVERS_LOSSES:
                draw = np.minimum(w.reserve, _deficiency(d, w))
                left = _distribute(fd, w, draw, seq)
                w.reserve = w.reserve - (draw - left)
                w.reserve_draw += draw - left
        elif op == OP_WRITEDOWN:
            _step_writedown(fd, w)
        elif op == OP_TRIGGER_XS:
            turbo = (w.effects & E_TURBO) != 0
            if np.any(turbo):
                left = _distribute(fd, w, np.where(turbo, w.ifunds, 0.0), True)
                w.ifunds = np.where(turbo, left, w.ifunds)
            trap = (w.effects & E_TRAP) != 0
            if np.any(trap):
                dep = np.where(trap, w.ifunds, 0.0)
                w.reserve = w.reserve + dep
                w.reserve_deposit += dep
                w.ifunds = w.ifunds - dep
        elif op == OP_RESERVE_TOPUP:
            dep = np.minimum(w.ifunds, np.maximum(_reserve_target(fd, w.pool_end) - w.reserve, 0.0))
            w.reserve = w.reserve + dep
            w.reserve_deposit += dep
            w.ifunds = w.ifunds - dep
        elif op == OP_RESIDUAL:
            _step_residual(fd, w)
    for i in range(d.n_tranches):
        if d.flags[i] & F_IO:
            ref = d.io_ref[i]
            w.bal[i] = w.pool_end.copy() if ref == NOTIONAL_POOL else w.bal[ref].copy()


def _resolve(deal: DealSpec | ExactDeal, original_balance: float) -> ExactDeal:
    if isinstance(deal, ExactDeal):
        return deal
    resize = any(t.percent is not None or t.remainder for t in deal.tranches) or any(
        t.pac_band is not None for t in deal.tranches
    )
    pool_bal = deal.pool.balance
    if resize and (pool_bal is None or abs(pool_bal - original_balance) > 1e-9 * original_balance):
        deal = deal.with_pool(balance=original_balance)
    return compile_exact(deal)


Keep = Literal["all", "cashflows", "summary"] | Sequence[str]

#: per-tranche tables (``(n_scenarios, n_periods, n_tranches)``) a run can keep
TRANCHE_TABLES = (
    "interest_paid",
    "principal_paid",
    "writedown",
    "ending_balance",
    "beginning_balance",
    "interest_due",
    "interest_shortfall",
    "accreted",
    "writeup",
)
#: deal-level tables a run can keep
DEAL_TABLES = (
    "fees_paid",
    "reserve_draw",
    "reserve_deposit",
    "reserve_release",
    "reserve_balance",
    "residual_paid",
    "trigger_failing",
    "effects",
    "cash_in",
)
_CASHFLOW_TABLES = TRANCHE_TABLES[:4]


def _kept(keep: Keep) -> tuple[str, ...]:
    """The table names ``keep`` asks for, in the order of the result's fields."""
    if isinstance(keep, str):
        if keep == "all":
            return TRANCHE_TABLES + DEAL_TABLES
        if keep == "cashflows":
            return _CASHFLOW_TABLES
        if keep == "summary":
            return ()
        raise InputError(
            f"keep must be 'all', 'cashflows', 'summary' or a sequence of table names, got {keep!r}"
        )
    names = tuple(keep)
    for name in names:
        if name not in TRANCHE_TABLES and name not in DEAL_TABLES:
            raise InputError(
                f"keep names an unknown table {name!r}; tables are "
                f"{', '.join(TRANCHE_TABLES + DEAL_TABLES)}"
            )
    return tuple(k for k in TRANCHE_TABLES + DEAL_TABLES if k in names)


def run_waterfall(
    deal: DealSpec | ExactDeal,
    collections: Collections,
    *,
    keep: Keep = "all",
    engine: Literal["numba", "numpy"] = "numba",
) -> WaterfallResult:
    """Run the waterfall in float64 over every scenario of ``collections``.

    Parameters
    ----------
    deal : DealSpec or ExactDeal
        The deal. A spec with percent, remainder or PAC-band sizing is resized to
        ``collections.original_balance`` first (:meth:`DealSpec.with_pool`).
    collections : Collections
        Pool collections ``(n_scenarios, n_periods)``, currency units.
    keep : {"all", "cashflows", "summary"} or sequence of str, default "all"
        Which tables to keep: every table; only interest, principal, write-downs and
        ending balances per tranche; only the per-scenario totals
        (:class:`TrancheSummary`, for large scenario sets); or the named tables (from
        ``TRANCHE_TABLES`` and ``DEAL_TABLES``, e.g. ``("interest_paid",
        "principal_paid")`` for pricing many paths: the numba engine then writes only
        those). Tables not kept are ``None``.
    engine : {"numba", "numpy"}, default "numba"
        The compiled scalar kernel (``_kernel.py``, loops over scenarios, split over
        the numba threads for 64 scenarios or more) or the numpy version vectorised
        over scenarios (``_waterfall.py``). Same algorithm.

    Returns
    -------
    WaterfallResult

    Notes
    -----
    Same algorithm as the exact engine (``_exact.py``, whose module docstring gives the
    order of steps), in float64 without rounding. Interest is 30/360: one twelfth of
    the annual rate a period.

    Examples
    --------
    >>> import numpy as np
    >>> from openmbs.structuring import Collections, example_deal, run_waterfall
    >>> c = Collections.from_arrays(original_balance=500e6, interest=np.full(3, 2.5e6),
    ...     scheduled_principal=np.full(3, 1e6), prepaid_principal=np.zeros(3))
    >>> r = run_waterfall(example_deal("four_tranche"), c)
    >>> float(r.principal_paid[0, :, 0].sum())
    3000000.0
    """
    kept = _kept(keep)
    if engine not in ("numba", "numpy"):
        raise InputError(f"engine must be 'numba' or 'numpy', got {engine!r}")
    ed = _resolve(deal, collections.original_balance)
    if engine == "numpy" and (
        ed.program or ed.multiplier or CPN_INVERSE in ed.coupon_kind or ed.excess_to >= 0
        or any(r >= NOTIONAL_GROUP for r in ed.io_ref)
    ):
        raise InputError(
            "engine='numpy' runs the fixed order only; this deal uses the deal language "
            "(rules, groups, inverse floaters or multipliers): use engine='numba'"
        )
    if engine == "numba":
        res = _run_numba(ed, collections, kept)
    else:
        res = _run_numpy(ed, collections, "all" if any(k not in _CASHFLOW_TABLES for k in kept)
                         else ("cashflows" if kept else "summary"))
        drop: dict[str, Any] = {k: None for k in TRANCHE_TABLES + DEAL_TABLES if k not in kept}
        res = replace(res, **drop) if drop else res
    if isinstance(deal, DealSpec):
        res = replace(res, settlement_years=settlement_years(deal, collections.n_periods))
    return res


def _cash_in(c: Collections) -> FloatArray:
    """Cash collected each period: interest, principal, recoveries, later recoveries."""
    return (
        c.interest + c.scheduled_principal + c.prepaid_principal + c.recoveries
        + c.subsequent_recoveries
    )


def _run_numba(ed: ExactDeal, c: Collections, kept: tuple[str, ...]) -> WaterfallResult:
    # not at the top: _kernel imports this module's field lists (an import cycle)
    from openmbs.structuring._kernel import pack, run_kernel

    # scenario-major (n_scenarios, n_periods) inputs, read as they are (no copies);
    # principal funds are summed in the kernel
    arrays = {name: getattr(c, name) for name in _COLL_FIELDS}
    detail = any(k in DEAL_TABLES for k in kept)
    out = run_kernel(
        pack(ed), arrays, tables=tuple(k for k in kept if k in TRANCHE_TABLES), detail=detail
    )
    tot = out["tot"]
    with np.errstate(invalid="ignore", divide="ignore"):
        wal = np.where(tot[:, :, 1] > 0, tot[:, :, 3] / (12.0 * tot[:, :, 1]), np.nan)
    summary = TrancheSummary(
        interest=tot[:, :, 0],
        principal=tot[:, :, 1],
        writedown=tot[:, :, 2],
        wal=wal,
        first_period=out["first"],
        last_period=out["last"],
        ending_balance=out["end"],
        residual=out["resid"],
    )
    kw: dict[str, Any] = dict(out["tr"])
    if detail:
        dl = out["deal"]
        tables: dict[str, Any] = {
            "fees_paid": out["fee"],
            "reserve_draw": dl[:, :, 0],
            "reserve_deposit": dl[:, :, 1],
            "reserve_release": dl[:, :, 2],
            "reserve_balance": dl[:, :, 3],
            "residual_paid": dl[:, :, 4],
            "trigger_failing": out["trig"],
        }
        if "effects" in kept:
            tables["effects"] = dl[:, :, 5].astype(np.int64)
        if "cash_in" in kept:
            tables["cash_in"] = _cash_in(c)
        kw.update({k: v for k, v in tables.items() if k in kept})
    return WaterfallResult(
        names=ed.names,
        fee_names=ed.fee_names,
        trigger_names=ed.trigger_names,
        face=float_deal(ed).face.copy(),
        io=tuple(bool(f & F_IO) for f in ed.flags),
        summary=summary,
        **kw,
    )


def _run_numpy(
    ed: ExactDeal, collections: Collections, keep: Literal["all", "cashflows", "summary"]
) -> WaterfallResult:
    fd = float_deal(ed)
    s, T = collections.n_scenarios, collections.n_periods
    n, nf, nk = ed.n_tranches, ed.n_fees, ed.n_triggers
    tables = keep != "summary"
    detail = keep == "all"
    # time-major storage: each period writes contiguous (n, s) blocks
    shape3 = (T, n, s)
    main = {k: np.zeros(shape3) for k in ("int", "prin", "loss", "end")} if tables else {}
    extra = {k: np.zeros(shape3) for k in ("beg", "due", "short", "acc", "up")} if detail else {}
    fees = np.zeros((T, nf, s)) if detail else None
    trig = np.zeros((T, nk, s)) if detail else None
    deal_keys = ("draw", "dep", "rel", "res_bal", "resid")
    deal_cols = {k: np.zeros((T, s)) for k in deal_keys} if detail else {}
    effects = np.zeros((T, s), dtype=np.int64) if detail else None
    tot_int = np.zeros((n, s))
    tot_prin = np.zeros((n, s))
    tot_loss = np.zeros((n, s))
    wal_num = np.zeros((n, s))
    first = np.zeros((n, s), dtype=np.int64)
    last = np.zeros((n, s), dtype=np.int64)
    resid = np.zeros(s)
    tm = _TimeMajor(collections)
    w = _Work(fd, s)
    for t in range(T):
        w.start(fd, t, tm)
        _run_period(fd, w)
        tot_int += w.int_paid
        tot_prin += w.prin_paid
        tot_loss += w.loss
        wal_num += w.prin_paid * (t + 1)
        has = w.prin_paid > 0
        first = np.where(has & (first == 0), t + 1, first)
        last = np.where(has, t + 1, last)
        resid += w.residual
        if tables:
            main["int"][t] = w.int_paid
            main["prin"][t] = w.prin_paid
            main["loss"][t] = w.loss
            main["end"][t] = w.bal
        if detail:
            assert fees is not None and trig is not None and effects is not None
            extra["beg"][t] = w.beg
            extra["due"][t] = w.int_due
            extra["short"][t] = w.shortfall
            extra["acc"][t] = w.accreted
            extra["up"][t] = w.writeup
            fees[t] = w.fee_paid
            trig[t] = w.failing
            deal_cols["draw"][t] = w.reserve_draw
            deal_cols["dep"][t] = w.reserve_deposit
            deal_cols["rel"][t] = w.reserve_release
            deal_cols["res_bal"][t] = w.reserve
            deal_cols["resid"][t] = w.residual
            effects[t] = w.effects

    def per_tranche(a: FloatArray | None) -> FloatArray | None:
        return None if a is None else a.transpose(2, 0, 1)

    with np.errstate(invalid="ignore", divide="ignore"):
        wal = np.where(tot_prin > 0, wal_num / (12.0 * tot_prin), np.nan)
    summary = TrancheSummary(
        interest=tot_int.T,
        principal=tot_prin.T,
        writedown=tot_loss.T,
        wal=wal.T,
        first_period=first.T,
        last_period=last.T,
        ending_balance=w.bal.T.copy(),
        residual=resid,
    )
    c = collections
    return WaterfallResult(
        names=ed.names,
        fee_names=ed.fee_names,
        trigger_names=ed.trigger_names,
        face=fd.face.copy(),
        io=tuple(bool(f & F_IO) for f in ed.flags),
        summary=summary,
        interest_paid=per_tranche(main.get("int")),
        principal_paid=per_tranche(main.get("prin")),
        writedown=per_tranche(main.get("loss")),
        ending_balance=per_tranche(main.get("end")),
        beginning_balance=per_tranche(extra.get("beg")),
        interest_due=per_tranche(extra.get("due")),
        interest_shortfall=per_tranche(extra.get("short")),
        accreted=per_tranche(extra.get("acc")),
        writeup=per_tranche(extra.get("up")),
        fees_paid=per_tranche(fees),
        reserve_draw=deal_cols["draw"].T if detail else None,
        reserve_deposit=deal_cols["dep"].T if detail else None,
        reserve_release=deal_cols["rel"].T if detail else None,
        reserve_balance=deal_cols["res_bal"].T if detail else None,
        residual_paid=deal_cols["resid"].T if detail else None,
        trigger_failing=per_tranche(trig),
        effects=effects.T if effects is not None else None,
        cash_in=_cash_in(c) if detail else None,
    )
