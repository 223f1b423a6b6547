"""Loan states in the simulator: delinquency, foreclosure, REO, loss mitigation.

Every simulated loan-month ends in one :class:`openmbs.servicing.LoanState` (the
``state`` column of the loan records): ``CURRENT``, ``D30``, ``D60``, ``D90``,
``D120P``, ``FORECLOSURE``, ``REO`` while live; ``LIQUIDATED`` (after REO),
``SHORT_SALE``, ``THIRD_PARTY_SALE`` (at the foreclosure sale), ``NOTE_SALE`` or
``PREPAID`` (prepaid in full or matured) in the month the loan leaves the pool. Two
drivers move the loans (docs/simulation.md, "Loan states"):

* **the assumption model** (the default; the simulator's own step in ``_loansim.py``):
  MDR, the curing track and the liquidation lag decide *when* cash moves, exactly as
  before; this module *labels* the months of that path with states
  (:meth:`AssumptionStates.label`), draws each default's outcome (REO, short sale,
  third-party sale) and its severity, and applies modifications and forbearance plans
  (:class:`LossMitigation`, all off by default);
* **an estimated transition matrix** (:func:`matrix_step`): each month every live loan
  draws its next state from its bucket's row of a
  :class:`~openmbs.servicing.TransitionMatrix` (``openmbs model transitions``), with the
  prepayment columns folded out (prepayment comes from the prepayment model) and the
  transitions the records cannot show redirected (:func:`simulator_matrix`).

Money stays in integer record units; every record satisfies exactly::

    balance_begin - scheduled_principal - prepaid_principal - default_writeoff
        == balance_end

A modification re-amortises the loan's trust balance (which already holds the missed
installments' principal: nothing was paid) at the cut rate over the extended term; the
unpaid interest of the missed installments is not added to the trust's balance (the
trust's balance of a loan never rises, as the oracle requires: docs/replay.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs.errors import AssumptionError, InputError
from openmbs.servicing import LoanState, StateMachine

if TYPE_CHECKING:
    from openmbs.sim._loansim import LoanSimulator, PeriodRecords

__all__ = [
    "AssumptionStates",
    "LossMitigation",
    "matrix_step",
    "simulator_matrix",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

S = LoanState
#: months past due at which a defaulted loan of the assumption model enters foreclosure
#: (the referral after 120 days: 1 D30, 2 D60, 3 D90, 4 D120P, 5 foreclosure)
FORECLOSURE_DPD = 5
#: credit events that end a loan in the month they are drawn (matrix driver)
_SALES = (int(S.SHORT_SALE), int(S.THIRD_PARTY_SALE), int(S.NOTE_SALE))
_CREDIT = (int(S.REO), *_SALES)
#: matrix columns folded out: prepayment comes from the prepayment model
_FOLDED = (int(S.PREPAID), int(S.REPURCHASED), int(S.UNKNOWN), int(S.LIQUIDATED))
_DQ_STATES = (int(S.D30), int(S.D60), int(S.D90), int(S.D120P))


@dataclass(frozen=True)
class LossMitigation:
    """Loss mitigation and liquidation outcomes (every probability monthly, decimal).

    Attributes
    ----------
    modification : float
        Probability that a loan 90+ days past due (not yet in REO) is modified this
        month: it becomes current, its note rate is cut by ``rate_cut`` (not below
        ``rate_floor``), its remaining term becomes ``max(remaining, term)`` and its
        balance re-amortises (level payment on the new terms). Default 0.
    rate_cut, rate_floor : float
        Decimals a year (0.02 is 2%).
    term : int
        Remaining term after a modification, months (at least the current one).
    forbearance : float
        Probability that a current loan that would pay enters a forbearance plan: its
        payments are suspended for ``forbearance_months`` months (it is reported 30, 60,
        90+ days past due as usual but neither defaults, cures nor rolls to
        foreclosure); at the end the borrower repays every missed installment with
        probability ``forbearance_repay`` (a reinstatement), else the missed
        installments are deferred: the loan is current again and its remaining term
        keeps the months it missed (the schedule moves out by the plan's length; the
        interest of the missed months is not collected). Default 0.
    short_sale, third_party_sale : float
        Assumption model: share of the defaults that end in a short sale, and of the
        rest that are sold to a third party at the foreclosure sale (the others are
        taken into REO and liquidated). The liquidation month is the default month
        plus ``lag`` whatever the outcome. Default 0 (every default through REO).
    short_sale_severity, third_party_severity : float or None
        Severities (decimal of the defaulted balance) of those outcomes; ``None``: the
        simulator's ``severity`` (the REO liquidation's).
    reo_months : int
        Months a property stays in REO before its liquidation: the last months of the
        ``lag`` in the assumption model (when the loan was in foreclosure before), the
        months after a transition to REO with a matrix. Default 1.
    """

    modification: float = 0.0
    rate_cut: float = 0.02
    rate_floor: float = 0.02
    term: int = 480
    forbearance: float = 0.0
    forbearance_months: int = 6
    forbearance_repay: float = 0.5
    short_sale: float = 0.0
    third_party_sale: float = 0.0
    short_sale_severity: float | None = None
    third_party_severity: float | None = None
    reo_months: int = 1

    def __post_init__(self) -> None:
        for name in (
            "modification", "rate_cut", "rate_floor", "forbearance", "forbearance_repay",
            "short_sale", "third_party_sale", "short_sale_severity", "third_party_severity",
        ):  # fmt: skip
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and 0.0 <= float(v) <= 1.0):
                raise AssumptionError(
                    f"loss mitigation {name} must be a decimal in [0, 1], got {v!r}"
                )
        for name, lo in (("term", 1), ("forbearance_months", 1), ("reo_months", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise AssumptionError(
                    f"loss mitigation {name} must be an integer >= {lo}, got {v!r}"
                )
        if self.modification + self.forbearance > 1.0:
            raise AssumptionError(
                f"loss mitigation modification + forbearance must be <= 1, got "
                f"{self.modification!r} + {self.forbearance!r}"
            )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> LossMitigation:
        """Read loss mitigation from a JSON file: ``openmbs model mitigation --out``'s
        document (its ``loss_mitigation`` object) or one object of these fields.

        Raises
        ------
        InputError
            The file cannot be read or is not JSON, a key is not a field, or a value is
            out of range; the message names the file, the field and the value.
        """
        name = str(path)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except OSError as exc:
            raise InputError(f"file {name!r}: cannot read ({exc.strerror})") from None
        except ValueError as exc:
            raise InputError(f"file {name!r}: not JSON ({exc})") from None
        if isinstance(doc, dict) and "loss_mitigation" in doc:
            doc = doc["loss_mitigation"]
        if not isinstance(doc, dict):
            raise InputError(f"file {name!r}: need a JSON object of loss-mitigation fields, got {doc!r}")
        known = {f.name for f in fields(cls)}
        for key, value in doc.items():
            if key not in known:
                raise InputError(
                    f"file {name!r}, field {key!r} (value {value!r}): not a loss-mitigation field; "
                    f"known: {', '.join(sorted(known))}"
                )
        try:
            return cls(**doc)
        except AssumptionError as exc:
            raise AssumptionError(f"file {name!r}: {exc}") from None

    @property
    def draws(self) -> bool:
        """Whether the assumption model needs the extra draws (any probability > 0)."""
        return (self.modification + self.forbearance + self.short_sale + self.third_party_sale) > 0

    def severities(self, severity: FloatArray) -> dict[int, FloatArray]:
        """Severity by terminal state, per loan (``severity`` is the REO liquidation's)."""
        ss = (
            severity
            if self.short_sale_severity is None
            else np.full_like(severity, self.short_sale_severity)
        )
        tp = (
            severity
            if self.third_party_severity is None
            else np.full_like(severity, self.third_party_severity)
        )
        return {
            int(S.LIQUIDATED): severity,
            int(S.SHORT_SALE): ss,
            int(S.THIRD_PARTY_SALE): tp,
            int(S.NOTE_SALE): tp,
        }


def dq_state(dpd: IntArray) -> npt.NDArray[np.int8]:
    """The delinquency state of months past due: 0 current, 1 D30, ..., 4+ D120P."""
    out: npt.NDArray[np.int8] = np.minimum(np.maximum(dpd, 0), 4).astype(np.int8)
    return out


def _severity_of(final: npt.NDArray[np.int8], sev: dict[int, FloatArray], ix: Any) -> FloatArray:
    out = np.array(sev[int(S.LIQUIDATED)][ix], dtype=np.float64)
    for code, arr in sev.items():
        hit = final == code
        out[hit] = arr[ix][hit]
    return out


def _reamortise(sim: LoanSimulator, loans: npt.NDArray[np.intp], mit: LossMitigation) -> None:
    """Modify ``loans`` (tape rows): cut the rate, extend the term, new level payment on
    the trust balance."""
    from openmbs.sim._loansim import _level_payment

    if not loans.size:
        return
    cut = mit.rate_cut / 12.0
    floor = mit.rate_floor / 12.0
    rg = sim._rg[loans]
    new_rg = np.where(rg > floor, np.maximum(rg - cut, floor), rg)
    strip = sim._rg[loans] - sim._rn[loans]  # the servicing strip stays
    sim._rg[loans] = new_rg
    sim._rn[loans] = np.maximum(new_rg - strip, 0.0)
    sim._rem[loans] = np.maximum(sim._rem[loans], mit.term)
    sim._payment[loans] = _level_payment(sim._balance[loans], new_rg, sim._rem[loans])
    sim._io[loans] = False
    sim._modified[loans] = True
    sim._mod_now[loans] = True


# --------------------------------------------------------------------------- assumption model


class AssumptionStates:
    """The states of the assumption model's path, and its loss mitigation.

    The simulator's own step decides payments, defaults and liquidations; this object
    labels them and draws what :class:`LossMitigation` adds. A defaulted loan (the
    SIFMA default: it stopped paying for good and is liquidated ``lag`` months after
    its first missed payment) shows 30, 60, 90, 120+ days past due, then foreclosure
    from 5 months past due; when its outcome is REO, its last ``reo_months`` months
    before the liquidation (after at least one month in foreclosure) are REO. In the
    liquidation month it ends ``LIQUIDATED`` (from REO or foreclosure),
    ``THIRD_PARTY_SALE`` (from foreclosure) or ``SHORT_SALE`` (its outcome, or a loan
    liquidated before it reached foreclosure: ``lag < 5``).
    """

    def __init__(self, n: int, mitigation: LossMitigation) -> None:
        self.mit = mitigation
        self.outcome = np.full(n, int(S.LIQUIDATED), dtype=np.int8)
        self.fb_left = np.zeros(n, dtype=np.int64)  # forbearance months still to miss
        self.in_plan = np.zeros(n, dtype=np.bool_)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"outcome": self.outcome, "fb_left": self.fb_left, "in_plan": self.in_plan}

    def restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        for name, arr in self.arrays().items():
            if name in arrays:
                arr[...] = arrays[name]

    def draw(self, rng: np.random.Generator, n: int) -> FloatArray | None:
        """Two more uniforms per loan when loss mitigation is on (else none: the path of
        a run without it is the path of earlier versions)."""
        return rng.random((2, n)) if self.mit.draws else None

    def forbearance(
        self,
        lx: npt.NDArray[np.intp],
        u: FloatArray | None,
        pays: BoolArray,
        new_dq: BoolArray,
        cures: BoolArray,
        stays_dq: BoolArray,
    ) -> tuple[BoolArray, BoolArray, BoolArray, BoolArray, BoolArray]:
        """Forbearance plans: loans entering one miss their payment instead of paying;
        loans in one neither cure nor pay until its end; at the end they reinstate
        (``cures``) or defer (the returned ``deferred`` mask)."""
        deferred = np.zeros(lx.size, dtype=np.bool_)
        if u is None:
            return pays, new_dq, cures, stays_dq, deferred
        plan = self.in_plan[lx]
        left = self.fb_left[lx]
        ends = plan & (left == 0)
        repay = ends & (u[0, lx] < self.mit.forbearance_repay)
        deferred = ends & ~repay
        going = plan & (left > 0)
        cures = (cures & ~plan) | repay
        stays_dq = (stays_dq & ~plan) | going
        enter = pays & (u[1, lx] >= 1.0 - self.mit.forbearance)
        pays = pays & ~enter
        new_dq = new_dq | enter
        left = np.where(enter, self.mit.forbearance_months - 1, np.where(going, left - 1, left))
        self.fb_left[lx] = left
        self.in_plan[lx] = (plan & ~ends) | enter
        return pays, new_dq, cures, stays_dq, deferred

    def on_default(
        self, lx: npt.NDArray[np.intp], new_def: BoolArray, u: FloatArray | None
    ) -> None:
        """Draw the outcome of this month's new defaults."""
        if u is None or not new_def.any():
            return
        ix = lx[new_def]
        v = u[0, ix]
        ss, tp = self.mit.short_sale, self.mit.third_party_sale
        out = np.full(ix.size, int(S.LIQUIDATED), dtype=np.int8)
        out[v < ss] = int(S.SHORT_SALE)
        out[(v >= ss) & (v < ss + (1.0 - ss) * tp)] = int(S.THIRD_PARTY_SALE)
        self.outcome[ix] = out

    def _path(
        self, since: IntArray, lag: int, outcome: npt.NDArray[np.int8]
    ) -> npt.NDArray[np.int8]:
        """The live state of a defaulted loan ``since`` months after its default month."""
        dpd = since + 1
        st = dq_state(dpd)
        fc = dpd >= FORECLOSURE_DPD
        st[fc] = int(S.FORECLOSURE)
        reo = (
            (outcome == int(S.LIQUIDATED))
            & fc
            & (dpd > FORECLOSURE_DPD)
            & (since >= lag - self.mit.reo_months)
        )
        st[reo] = int(S.REO)
        return st

    def liquidation(
        self, lx: npt.NDArray[np.intp], li: npt.NDArray[np.intp], lag: int, severity: FloatArray
    ) -> tuple[npt.NDArray[np.int8], FloatArray]:
        """Terminal state and severity of the loans ``lx[li]`` liquidated this month."""
        loans = lx[li]
        outcome = self.outcome[loans]
        if lag >= 1:
            prev = self._path(np.full(li.size, lag - 1, dtype=np.int64), lag, outcome)
        else:
            prev = np.zeros(li.size, dtype=np.int8)
        final = np.full(li.size, int(S.SHORT_SALE), dtype=np.int8)
        fc = (prev == int(S.FORECLOSURE)) | (prev == int(S.REO))
        final[fc & (outcome == int(S.LIQUIDATED))] = int(S.LIQUIDATED)
        final[(prev == int(S.FORECLOSURE)) & (outcome == int(S.THIRD_PARTY_SALE))] = int(
            S.THIRD_PARTY_SALE
        )
        sev = _severity_of(final, self.mit.severities(severity), loans)
        return final, sev

    def mitigate(
        self,
        sim: LoanSimulator,
        lx: npt.NDArray[np.intp],
        u: FloatArray | None,
        state: npt.NDArray[np.int8],
        dpd: IntArray,
        default_period: IntArray,
        deferred: BoolArray,
        live_codes: tuple[int, int, int],
    ) -> BoolArray:
        """End-of-month modifications (loans 90+ days past due, not in REO or a plan) and
        deferrals: they are current from next month. Returns the modified mask."""
        cur, dq, dfl = live_codes
        if u is None:
            return np.zeros(lx.size, dtype=np.bool_)
        since = sim.period + 1 - default_period
        in_reo = (state == dfl) & (self._path(since, sim.lag, self.outcome[lx]) == int(S.REO))
        eligible = ((state == dq) | (state == dfl)) & (dpd >= 3) & ~in_reo & ~self.in_plan[lx]
        modified: BoolArray = eligible & (u[1, lx] < self.mit.modification)
        reset = modified | deferred
        state[reset] = cur
        dpd[reset] = 0
        default_period[modified] = -1
        sim._owed_interest[lx[reset]] = 0  # not capitalised into the trust balance
        sim._owed_net[lx[reset]] = 0
        return modified

    def label(
        self,
        lx: npt.NDArray[np.intp],
        k: int,
        lag: int,
        state: npt.NDArray[np.int8],
        dpd: IntArray,
        default_period: IntArray,
        live_codes: tuple[int, int, int],
        closed: BoolArray,
        liquidated: BoolArray,
        final: npt.NDArray[np.int8] | None,
    ) -> npt.NDArray[np.int8]:
        """The :class:`LoanState` of every live-at-start loan at the end of month ``k``."""
        dfl = live_codes[2]
        out = dq_state(dpd)
        d = state == dfl
        if d.any():
            out[d] = self._path(k - default_period[d], lag, self.outcome[lx[d]])
        out[closed] = int(S.PREPAID)
        if final is not None:
            out[liquidated] = final
        return out


# --------------------------------------------------------------------------- matrix driver


def simulator_matrix(machine: StateMachine) -> FloatArray:
    """The monthly transition probabilities the matrix driver draws from,
    ``(n_buckets, n_states, n_states)``.

    From :meth:`TransitionMatrix.filled` (rows without observations take the pooled row;
    terminal states absorb), for every live state:

    1. the columns PREPAID and REPURCHASED (and LIQUIDATED, UNKNOWN, never observed
       from a live state) are folded out and the row renormalised: the row is the
       distribution *given no prepayment*, which the prepayment model draws;
    2. a transition the loan records cannot show is redirected to the next delinquency
       bucket: delinquency rolls at most one bucket a month (D30 -> D120P becomes
       D30 -> D60, D60 -> D120P becomes D60 -> D90), and a credit event (REO, short sale, third-party or note sale)
       needs a loan 60+ days past due (the oracle accepts a loss only on a loan
       reported 60+ days delinquent the month before); CURRENT and D30 rows move such
       mass to D30 and D60. FORECLOSURE from a loan less than 60 days past due also
       rolls one bucket.

    Rows that are all folded out (a state whose only observed exit is prepayment) stay
    put. The statistical test of the driver (tests/sim/test_states_matrix.py) compares
    simulated roll rates with this matrix; cells untouched by step 2 are the estimated
    probabilities divided by one minus the row's prepayment share.
    """
    p = machine.matrix.filled().copy()
    live = [int(s) for s in (S.CURRENT, S.D30, S.D60, S.D90, S.D120P, S.FORECLOSURE)]
    for s in live:
        row = p[:, s, :]
        row[:, list(_FOLDED)] = 0.0
        if s in (int(S.CURRENT), int(S.D30)):
            # credit events, foreclosure and jumps of more than one bucket roll one bucket
            nxt = s + 1
            moved = row[:, nxt + 1 :].sum(axis=1)
            row[:, nxt + 1 :] = 0.0
            row[:, nxt] += moved
        elif s == int(S.D60):  # 60 -> 120+ rolls to 90 (months past due rise by one)
            row[:, int(S.D90)] += row[:, int(S.D120P)]
            row[:, int(S.D120P)] = 0.0
        total = row.sum(axis=1, keepdims=True)
        stay = total[:, 0] <= 0
        row[:] = np.divide(row, total, out=np.zeros_like(row), where=total > 0)
        row[stay, s] = 1.0
    return p


def _draw(cum: FloatArray, bucket: IntArray, s0: IntArray, u: FloatArray) -> IntArray:
    rows = cum[bucket, s0]
    out: IntArray = (u[:, None] >= rows).sum(axis=1).astype(np.int64)
    return out


@dataclass(frozen=True, eq=False)
class _MatrixDriver:
    machine: StateMachine
    cumulative: FloatArray
    ltv: FloatArray | None
    fico: FloatArray | None

    @classmethod
    def build(
        cls, machine: StateMachine, ltv: FloatArray | None, fico: FloatArray | None
    ) -> _MatrixDriver:
        c = np.cumsum(simulator_matrix(machine), axis=2)
        c[:, :, -1] = 1.0
        return cls(machine=machine, cumulative=c, ltv=ltv, fico=fico)


def matrix_step(sim: LoanSimulator) -> PeriodRecords:
    """One month of the simulator driven by its transition matrix (``sim.transitions``).

    Three uniform draws per loan of the tape (transition, prepayment, loss mitigation),
    live or not. Each live loan in CURRENT .. FORECLOSURE draws its next state from its
    bucket's row of :func:`simulator_matrix`, unless a forbearance plan holds it or it
    is modified; then:

    * CURRENT: pays its installment, then prepays in full or by a curtailment as in the
      assumption model (the prepayment model's SMM);
    * D30 .. D120P, FORECLOSURE: ``months past due = min(target, previous + 1)`` for a
      delinquency target (120+ and foreclosure: previous + 1); the loan pays
      ``previous + 1 - months past due`` installments (0: it missed this month's;
      CURRENT: a reinstatement);
    * REO: the trust takes the property; nothing is paid; ``reo_months`` later it is
      liquidated (LIQUIDATED, the simulator's severity on the balance at REO);
    * SHORT_SALE, THIRD_PARTY_SALE, NOTE_SALE: the balance is written off this month,
      ``loss = min(round(severity x balance), balance)`` at the outcome's severity;
    * a loan sold on chain last month (:meth:`LoanSimulator.sell`) draws as the others
      (the path depends only on the seed) but leaves as a NOTE_SALE whatever its state
      or plan, with ``recovery = min(net proceeds, balance)`` and the rest a loss.

    Loans in foreclosure or REO are ``defaulted`` (status 2); ``default_flag`` marks the
    month a loan first is.
    """
    from openmbs.sim._loansim import (
        _CLOSED,
        _CUR,
        _DEF,
        _DQ,
        STATUS_CURRENT,
        STATUS_DEFAULTED,
        STATUS_DELINQUENT,
        STATUS_LIQUIDATED,
        STATUS_MATURED,
        STATUS_PREPAID,
        PeriodRecords,
    )

    drv = sim._driver
    assert drv is not None
    mit = sim.mitigation
    k = sim.period + 1
    u_all = sim._rng.random((3, sim.n_loans))
    lx = np.flatnonzero(sim._state != _CLOSED)
    m = lx.size
    u1, u2, u3 = u_all[0, lx], u_all[1, lx], u_all[2, lx]
    s0 = sim._ls[lx].astype(np.int64)
    d0 = sim._dpd[lx].copy()
    b0 = sim._balance[lx]
    age0 = sim._age[lx]
    rem = sim._rem[lx].copy()
    bal = b0.copy()

    smm = sim._prepay.values(k, age0, lx)
    bucket = drv.machine.buckets(
        m,
        age=age0,
        ltv=None if drv.ltv is None else drv.ltv[lx],
        fico=None if drv.fico is None else drv.fico[lx],
    ) if drv.machine.matrix.by else np.zeros(m, dtype=np.int64)  # fmt: skip

    sold = sim._sold[lx] >= 0  # sold on chain last month: a note sale now, nothing else
    in_reo = (s0 == int(S.REO)) & ~sold
    plan = sim._states.in_plan[lx] & ~sold
    left = sim._states.fb_left[lx]
    plan_ends = plan & (left == 0)
    plan_going = plan & (left > 0)
    free = ~in_reo & ~plan
    s1 = np.where(free, _draw(drv.cumulative, bucket, np.where(free, s0, 0), u1), s0)
    s1[sold] = int(S.NOTE_SALE)
    live_from = np.isin(s0, [int(x) for x in (S.D90, S.D120P, S.FORECLOSURE)])
    modify = free & live_from & (u3 < mit.modification) & ~np.isin(s1, _CREDIT)
    enter = free & (s0 == int(S.CURRENT)) & (s1 == int(S.CURRENT)) & (u3 >= 1.0 - mit.forbearance)
    repay = plan_ends & (u3 < mit.forbearance_repay)
    defer = plan_ends & ~repay

    sale = free & ~modify & np.isin(s1, _SALES)
    to_reo = free & ~modify & (s1 == int(S.REO))
    reo_left = sim._reo_left[lx] - in_reo.astype(np.int64)
    liq_reo = in_reo & (reo_left <= 0)

    # months past due at the end of the month, and installments paid
    dpd1 = d0 + 1
    to_dq = free & ~modify & np.isin(s1, [int(S.D30), int(S.D60), int(S.D90)])
    dpd1[to_dq] = np.minimum(s1[to_dq], d0[to_dq] + 1)
    dpd1[free & ~modify & (s1 == int(S.CURRENT)) & ~enter] = 0
    dpd1[repay] = 0
    paid_n = np.where(free & ~modify & ~sale & ~to_reo & ~enter, d0 + 1 - dpd1, 0)
    paid_n[repay] = d0[repay] + 1
    pays = (s0 == int(S.CURRENT)) & (paid_n == 1) & (dpd1 == 0)  # a current loan that pays
    cure = (paid_n > 0) & (dpd1 == 0) & (d0 > 0)
    liquidate = sale | liq_reo
    stays = ~liquidate & ~to_reo & ~in_reo  # live loans that owe an installment

    sched = np.zeros(m, dtype=np.int64)
    interest = np.zeros(m, dtype=np.int64)
    net_int = np.zeros(m, dtype=np.int64)
    adv_p = np.zeros(m, dtype=np.int64)
    adv_i = np.zeros(m, dtype=np.int64)
    if sim.advance == "none":
        todo = paid_n.copy()
        ix = np.flatnonzero(todo > 0)
        while ix.size:
            keep = (todo[ix] > 0) & (rem[ix] >= 1) & (bal[ix] > 0)
            ix = ix[keep]
            if not ix.size:
                break
            ip, ig, inet = sim._installment(bal, rem, lx, ix)
            sched[ix] += ip
            interest[ix] += ig
            net_int[ix] += inet
            bal[ix] -= ip
            rem[ix] -= 1
            todo[ix] -= 1
    else:
        # one installment a month for every live loan, paid or advanced; payments of
        # arrears repay the servicer
        one = stays & ~modify & ~defer & (rem >= 1)
        advanced = one & (dpd1 > 0)
        ix = np.flatnonzero(one)
        ip, ig, inet = sim._installment(bal, rem, lx, ix)
        sched[ix], interest[ix], net_int[ix] = ip, ig, inet
        bal[ix] -= ip
        rem[ix] -= 1
        adv_p[advanced] = sched[advanced]
        if sim.advance == "all":
            adv_i[advanced] = interest[advanced]
        else:
            owed, owed_net = sim._owed_interest[lx], sim._owed_net[lx]
            owed[advanced] += interest[advanced]
            owed_net[advanced] += net_int[advanced]
            interest[advanced] = 0
            net_int[advanced] = 0
            interest[cure] += owed[cure]
            net_int[cure] += owed_net[cure]
            owed[cure | liquidate | modify | defer] = 0
            owed_net[cure | liquidate | modify | defer] = 0
            sim._owed_interest[lx], sim._owed_net[lx] = owed, owed_net

    # unscheduled principal of the current loans that paid (the assumption model's rule)
    after = bal.copy()
    base_mask = pays & (after > 0)
    dl = sim.delinquency
    s = dl.curtailment_share
    p_full = (1.0 - s) * smm
    not_full = 1.0 - p_full
    q = np.divide(s * smm, not_full, out=np.zeros(m), where=not_full > 0)
    p_curt = np.maximum(dl.curtailment_rate, q)
    frac = np.divide(q, p_curt, out=np.zeros(m), where=p_curt > 0)
    full = base_mask & (u2 < p_full)
    curt_draw = base_mask & ~full & (u2 < p_full + not_full * p_curt)
    curt = np.where(curt_draw, np.floor(frac * after).astype(np.int64), 0)
    np.minimum(curt, after, out=curt)
    prepaid = np.where(full, after, curt)
    bal -= prepaid

    # REO entries and liquidations
    default_balance = sim._default_balance[lx]
    default_balance[to_reo] = bal[to_reo]
    reo_left = np.where(to_reo, mit.reo_months, reo_left)
    liq_now = to_reo & (reo_left <= 0)  # reo_months = 0: sold in the month taken
    liquidate |= liq_now
    final = np.where(sale, s1, int(S.LIQUIDATED)).astype(np.int8)
    loss = np.zeros(m, dtype=np.int64)
    recovery = np.zeros(m, dtype=np.int64)
    writeoff = np.zeros(m, dtype=np.int64)
    li = np.flatnonzero(liquidate)
    if li.size:
        sev = _severity_of(final[li], mit.severities(sim._severity), lx[li])
        base = np.where(sale[li], bal[li], np.minimum(default_balance[li], bal[li]))
        loss[li] = np.minimum(np.rint(sev * base).astype(np.int64), bal[li])
        writeoff[li] = bal[li]
        recovery[li] = writeoff[li] - loss[li]
        si = np.flatnonzero(sold)
        recovery[si] = np.minimum(sim._sold[lx[si]], bal[si])  # the sale's net proceeds
        loss[si] = bal[si] - recovery[si]
        bal[li] = 0
    sim._sold[lx[sold]] = -1

    # states at the end of the month
    closed = bal == 0
    ls = dq_state(dpd1)
    ls[free & ~modify & (s1 == int(S.FORECLOSURE)) & (dpd1 >= 2)] = int(S.FORECLOSURE)
    ls[to_reo | (in_reo & ~liq_reo)] = int(S.REO)
    ls[modify | defer] = int(S.CURRENT)
    dpd1[modify | defer] = 0
    ls[closed] = int(S.PREPAID)
    ls[liquidate] = final[liquidate]
    dpd1[closed] = 0

    status = np.full(m, STATUS_CURRENT, dtype=np.int8)
    status[dpd1 > 0] = STATUS_DELINQUENT
    dflt = (ls == int(S.FORECLOSURE)) | (ls == int(S.REO))
    status[dflt] = STATUS_DEFAULTED
    status[closed] = STATUS_MATURED
    status[closed & full] = STATUS_PREPAID
    status[liquidate] = STATUS_LIQUIDATED
    was_dflt = (s0 == int(S.FORECLOSURE)) | (s0 == int(S.REO))
    new_def = (dflt | liquidate) & ~was_dflt

    state = np.full(m, _CUR, dtype=np.int8)
    state[dpd1 > 0] = _DQ
    state[dflt] = _DEF
    state[closed] = _CLOSED
    sim._states.in_plan[lx] = (plan & ~plan_ends) | enter
    sim._states.fb_left[lx] = np.where(
        enter, mit.forbearance_months - 1, np.where(plan_going, left - 1, left)
    )
    sim._state[lx] = state
    sim._ls[lx] = ls
    sim._balance[lx] = bal
    sim._rem[lx] = rem
    sim._dpd[lx] = dpd1
    sim._age[lx] = age0 + 1
    sim._default_balance[lx] = default_balance
    sim._reo_left[lx] = np.where(closed, 0, reo_left)
    sim._default_period[lx] = np.where(new_def, k, sim._default_period[lx])
    _reamortise(sim, lx[modify], mit)
    sim.period = k

    fee = interest - net_int
    curtailment = np.where(full, 0, curt)
    delinquency = reported_delinquency(sim._rep[lx], dpd1)
    sim._rep[lx] = delinquency
    columns: dict[str, Any] = {
        "loan_id": pa.DictionaryArray.from_arrays(pa.array(lx.astype(np.int32)), sim._ids),
        "period": np.full(m, k, dtype=np.int32),
        "status": status,
        "delinquency": delinquency,
        "balance_begin": b0,
        "scheduled_principal": sched,
        "prepaid_principal": prepaid,
        "curtailment": curtailment,
        "interest": interest,
        "net_interest": net_int,
        "servicing_fee": fee,
        "advanced_principal": adv_p,
        "advanced_interest": adv_i,
        "default_writeoff": writeoff,
        "loss": loss,
        "recovery": recovery,
        "balance_end": bal,
        "default_flag": new_def,
        "liquidation_flag": liquidate,
        "state": ls,
    }
    pool = pool_period(
        k, columns, current_begin=d0 == 0, paying_base=int(np.dot(after, base_mask)),
        full=full, defaulted_end=dflt & ~closed,
    )  # fmt: skip
    return PeriodRecords(period=k, pool=pool, columns=fill_columns(columns, m))


def reported_delinquency(last: npt.ArrayLike, dpd: IntArray) -> npt.NDArray[np.int8]:
    """The delinquency bucket a loan is reported in (0, 1, 2, 3 = 90+) under the oracle's
    roll rule, from its bucket reported last month and its months past due now.

    The oracle accepts a month's 60-89 balance only out of last month's 30-59, and its
    90+ balance and liquidations only out of last month's 60+. A loan that pays one
    installment a month and stays 60 days past due, or a 90+ loan that catches up to 60
    days, is reported 90+ (*deepened*); a loan 90 days past due that was reported 30-59
    last month (after a deepened or caught-up month) is reported 60-89 (*lagged*), as
    the replay reports real histories (docs/replay.md). Months past due 0 and 1 are
    reported as they are. The assumption model never needs either.

    >>> reported_delinquency(np.array([1, 2, 3, 1]), np.array([2, 2, 2, 3])).tolist()
    [2, 3, 3, 2]
    """
    rep0 = np.asarray(last, dtype=np.int64)
    rep: npt.NDArray[np.int8] = np.minimum(dpd, 3).astype(np.int8)
    rep[(dpd == 2) & (rep0 >= 2)] = 3
    rep[(dpd >= 3) & (rep0 <= 1)] = 2
    return rep


def fill_columns(columns: dict[str, Any], m: int) -> dict[str, Any]:
    """``columns`` with every other column of ``LOAN_RECORD_SCHEMA`` as zeros (columns
    that the matrix driver does not model yet)."""
    from openmbs.sim._loansim import LOAN_RECORD_SCHEMA

    out = dict(columns)
    for f in LOAN_RECORD_SCHEMA:
        if f.name not in out:
            out[f.name] = np.zeros(m, dtype=f.type.to_pandas_dtype())
    return out


def pool_period(
    k: int,
    c: dict[str, Any],
    *,
    current_begin: BoolArray,
    paying_base: int,
    full: BoolArray,
    defaulted_end: BoolArray,
) -> Any:
    """The :class:`PoolPeriod` of one month's columns (exact int64 sums)."""
    from openmbs.sim._loansim import PoolPeriod

    b0, bal = c["balance_begin"], c["balance_end"]
    dq = c["delinquency"]
    live = bal > 0
    sums = {
        name: int(np.sum(c[name], dtype=np.int64))
        for name in (
            "balance_begin", "scheduled_principal", "prepaid_principal", "curtailment", "interest",
            "net_interest", "servicing_fee", "advanced_principal", "advanced_interest",
            "default_writeoff", "loss", "recovery", "balance_end",
        )
    }  # fmt: skip
    new_def = c["default_flag"]
    return PoolPeriod(
        period=k,
        loan_count=int(b0.size),
        loan_count_end=int(np.count_nonzero(live)),
        prepaid_in_full_count=int(np.count_nonzero(full)),
        new_default_balance=int(np.dot(b0, new_def)),
        new_default_count=int(np.count_nonzero(new_def)),
        liquidation_count=int(np.count_nonzero(c["liquidation_flag"])),
        performing_balance_begin=int(np.dot(b0, current_begin)),
        performing_count_begin=int(np.count_nonzero(current_begin)),
        prepayment_base=paying_base,
        current_balance_end=int(np.dot(bal, live & (dq == 0))),
        delinquent_30_balance=int(np.dot(bal, dq == 1)),
        delinquent_60_balance=int(np.dot(bal, dq == 2)),
        delinquent_90_plus_balance=int(np.dot(bal, dq == 3)),
        delinquent_30_count=int(np.count_nonzero(live & (dq == 1))),
        delinquent_60_count=int(np.count_nonzero(live & (dq == 2))),
        delinquent_90_plus_count=int(np.count_nonzero(live & (dq == 3))),
        foreclosure_balance=int(np.dot(bal, defaulted_end)),
        foreclosure_count=int(np.count_nonzero(defaulted_end)),
        **sums,
    )
