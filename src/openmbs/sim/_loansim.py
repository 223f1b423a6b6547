"""Loan-level monthly performance simulation in integer base units.

Each month every live loan of a tape pays its scheduled principal and interest, prepays
(in full or by a curtailment), misses its payment (a delinquency that cures later), or
defaults (stops paying for good and is liquidated ``lag`` months later). One month step
is a handful of numpy array operations over all loans; there is no Python loop over
loans. Money is held in integer record units of the settlement asset
(``10**record_decimals`` units per currency unit, ``record_decimals = min(decimals, 9)``:
the asset's base units up to 9 decimals), so every loan record satisfies, exactly in
integers::

    balance_begin - scheduled_principal - prepaid_principal - default_writeoff
        == balance_end

The model, its probabilities and its conventions are described in
``docs/simulation.md``; the short version is in :class:`LoanSimulator`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs.cashflow import AdvanceMode, advance_mode
from openmbs.errors import AssumptionError, DataIntegrityError, InputError, TapeError
from openmbs.servicing import StateMachine, TransitionMatrix
from openmbs.sim import _servicing_cash as _cash
from openmbs.sim._states import (
    AssumptionStates,
    LossMitigation,
    _MatrixDriver,
    _reamortise,
    dq_state,
    matrix_step,
)

__all__ = [
    "LOAN_RECORD_SCHEMA",
    "POOL_PERIOD_COLUMNS",
    "STATUS_CURRENT",
    "STATUS_DEFAULTED",
    "STATUS_DELINQUENT",
    "STATUS_LIQUIDATED",
    "STATUS_MATURED",
    "STATUS_PREPAID",
    "DelinquencyAssumptions",
    "LoanSimulator",
    "PeriodRecords",
    "PoolPeriod",
    "SimulationResult",
    "pool_table",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Status codes of a loan at the end of a period (``status`` column).
STATUS_CURRENT = 0
STATUS_DELINQUENT = 1
STATUS_DEFAULTED = 2
STATUS_LIQUIDATED = 3
STATUS_PREPAID = 4
STATUS_MATURED = 5

# Internal life-cycle states (``_state``): live loans are 0, 1 or 2.
_CUR = 0  # current: paid every installment due so far
_DQ = 1  # delinquent, on the curing track (never defaults)
_DEF = 2  # defaulted: stopped paying for good, awaiting liquidation
_CLOSED = 3  # balance zero: prepaid, matured or liquidated

_STATE_FORMAT = "openmbs-loansim-state/1"

#: The loan-level record table of one period (one row per loan live at its start).
LOAN_RECORD_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("loan_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("period", pa.int32(), nullable=False),
        pa.field("status", pa.int8(), nullable=False),
        pa.field("delinquency", pa.int8(), nullable=False),
        pa.field("balance_begin", pa.int64(), nullable=False),
        pa.field("scheduled_principal", pa.int64(), nullable=False),
        pa.field("prepaid_principal", pa.int64(), nullable=False),
        pa.field("curtailment", pa.int64(), nullable=False),
        pa.field("interest", pa.int64(), nullable=False),
        pa.field("net_interest", pa.int64(), nullable=False),
        pa.field("servicing_fee", pa.int64(), nullable=False),
        pa.field("advanced_principal", pa.int64(), nullable=False),
        pa.field("advanced_interest", pa.int64(), nullable=False),
        pa.field("default_writeoff", pa.int64(), nullable=False),
        pa.field("loss", pa.int64(), nullable=False),
        pa.field("recovery", pa.int64(), nullable=False),
        pa.field("balance_end", pa.int64(), nullable=False),
        pa.field("default_flag", pa.bool_(), nullable=False),
        pa.field("liquidation_flag", pa.bool_(), nullable=False),
        pa.field("advance_reimbursed", pa.int64(), nullable=False),
        pa.field("prepayment_penalty", pa.int64(), nullable=False),
        pa.field("late_fee", pa.int64(), nullable=False),
        # the openmbs.servicing.LoanState code at the end of the month (openmbs.sim._states)
        pa.field("state", pa.int8(), nullable=False),
    ]
)


@runtime_checkable
class _PrepaymentLike(Protocol):
    def smm_vector(self, loan_age_start: int, n_periods: int) -> FloatArray: ...


@runtime_checkable
class _DefaultLike(Protocol):
    def mdr_vector(
        self, loan_age_start: int, n_periods: int, remaining_term: int
    ) -> FloatArray: ...


#: A monthly rate assumption: a constant, an array by loan age (element ``a`` is the rate
#: of the month in which the loan ages from ``a`` to ``a + 1``; the last element holds
#: after the end), a vectorised callable ``f(age_at_start) -> rates``, or an
#: ``openmbs.behaviour.Prepayment`` / ``Default`` object.
RateAssumption = float | npt.ArrayLike | Callable[[IntArray], Any] | _PrepaymentLike | _DefaultLike


@dataclass(frozen=True)
class DelinquencyAssumptions:
    """Curing delinquencies: how often current loans miss a payment, and how they cure.

    Attributes
    ----------
    rate : float
        Monthly probability that a current loan misses its payment *and later cures*
        (the curing track). Loans that will never cure are the defaults, drawn with the
        MDR; the two are disjoint, so a current loan misses a payment with probability
        ``mdr + rate``.
    cure : tuple of three floats
        Monthly probability that a loan on the curing track that is 30, 60 or 90+ days
        past due at the start of the month reinstates (pays every missed installment and
        the current one). A 30-day loan that does not cure rolls to 60, a 60-day loan to
        90+, and a 90+ loan stays 90+ until it cures.
    curtailment_share : float
        Share of the expected unscheduled principal paid as curtailments (partial
        prepayments); the rest is paid by full prepayments, so full prepayments happen
        with probability ``(1 - curtailment_share) * SMM``.
    curtailment_rate : float
        Monthly probability that a current loan that does not prepay in full pays a
        curtailment (raised when needed so that a curtailment never exceeds the balance).
    """

    rate: float = 0.01
    cure: tuple[float, float, float] = (0.50, 0.35, 0.25)
    curtailment_share: float = 0.10
    curtailment_rate: float = 0.05

    def __post_init__(self) -> None:
        checks = {
            "rate": self.rate,
            "cure[30]": self.cure[0],
            "cure[60]": self.cure[1],
            "cure[90+]": self.cure[2],
            "curtailment_share": self.curtailment_share,
            "curtailment_rate": self.curtailment_rate,
        }
        if len(self.cure) != 3:
            raise AssumptionError(f"cure needs 3 probabilities (30, 60, 90+), got {self.cure!r}")
        for name, v in checks.items():
            if not (0.0 <= float(v) <= 1.0):
                raise AssumptionError(f"delinquency {name} must be in [0, 1], got {v!r}")
        if self.rate > 0 and self.cure[2] <= 0:
            raise AssumptionError(
                f"cure[90+] must be > 0 when rate > 0 (else curing loans never cure), got {self.cure[2]!r}"
            )


@dataclass(frozen=True)
class PoolPeriod:
    """Pool aggregates of one simulated period, in integer base units.

    Balances "at end" are after the period's payments. Delinquency buckets count every
    live loan by its months past due at the end of the period (30 = one missed
    installment, 60 = two, 90+ = three or more), defaulted loans included; the
    foreclosure balance is the defaulted balance awaiting liquidation (the SIFMA
    Standard Formulas' foreclosure balance).
    """

    period: int
    loan_count: int
    loan_count_end: int
    balance_begin: int
    scheduled_principal: int
    prepaid_principal: int
    curtailment: int
    prepaid_in_full_count: int
    interest: int
    net_interest: int
    servicing_fee: int
    advanced_principal: int
    advanced_interest: int
    new_default_balance: int
    new_default_count: int
    default_writeoff: int
    loss: int
    recovery: int
    liquidation_count: int
    balance_end: int
    performing_balance_begin: int
    performing_count_begin: int
    prepayment_base: int
    current_balance_end: int
    delinquent_30_balance: int
    delinquent_60_balance: int
    delinquent_90_plus_balance: int
    delinquent_30_count: int
    delinquent_60_count: int
    delinquent_90_plus_count: int
    foreclosure_balance: int
    foreclosure_count: int

    @property
    def smm(self) -> float:
        """Realised SMM: unscheduled principal / balance after scheduled principal of
        the current loans that paid this month (0 when there were none)."""
        if self.prepayment_base <= 0:
            return 0.0
        return self.prepaid_principal / self.prepayment_base

    @property
    def mdr(self) -> float:
        """Realised MDR: new default balance / balance of loans current at the start."""
        if self.performing_balance_begin <= 0:
            return 0.0
        return self.new_default_balance / self.performing_balance_begin

    def to_dict(self) -> dict[str, int]:
        """The aggregates as a dict, in ``POOL_PERIOD_COLUMNS`` order."""
        return asdict(self)


#: Columns of :func:`pool_table` (the fields of :class:`PoolPeriod`, in order).
POOL_PERIOD_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PoolPeriod))


def pool_table(periods: list[PoolPeriod]) -> pa.Table:
    """Stack per-period pool aggregates into a table (int64 columns, one row a period).

    Examples
    --------
    >>> pool_table([]).num_rows
    0
    """
    cols = {
        name: pa.array([getattr(p, name) for p in periods], type=pa.int64())
        for name in POOL_PERIOD_COLUMNS
    }
    return pa.table(cols)


@dataclass(frozen=True, eq=False)
class PeriodRecords:
    """What one :meth:`LoanSimulator.step` produced.

    Attributes
    ----------
    period : int
        The period simulated (1 is the first month after the tape's cut-off).
    pool : PoolPeriod
        The period's pool aggregates.
    loans : pyarrow.Table
        One row per loan live at the start of the period, schema
        ``LOAN_RECORD_SCHEMA`` (built on first access). ``loan_id`` is
        dictionary-encoded: its indices are the loans' rows in the tape.
    """

    period: int
    pool: PoolPeriod
    columns: Mapping[str, Any] = field(repr=False)

    @functools.cached_property
    def loans(self) -> pa.Table:
        """The loan-level records of the period (see ``LOAN_RECORD_SCHEMA``)."""
        return pa.table(dict(self.columns), schema=LOAN_RECORD_SCHEMA)


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """The result of :meth:`LoanSimulator.run`: pool aggregates and optionally loans."""

    pool: pa.Table
    loans: pa.Table | None


# --------------------------------------------------------------------------- rates


class _Rate:
    """A monthly rate for every loan, evaluated per period."""

    def __init__(
        self,
        spec: Any,
        name: str,
        age0: IntArray,
        rem0: IntArray,
        horizon: int,
        lag: int,
    ) -> None:
        self.name = name
        self._const: float | None = None
        self._by_age: FloatArray | None = None
        self._func: Callable[[IntArray], Any] | None = None
        self._matrix: FloatArray | None = None
        self._group: npt.NDArray[np.intp] | None = None
        self._cutoff: IntArray | None = None
        n = len(age0)
        if spec is None:
            self._const = 0.0
        elif hasattr(spec, "smm_vector") and name == "smm":
            self._build_matrix(lambda a: spec.smm_vector(a, horizon), age0, horizon)
        elif hasattr(spec, "mdr_vector") and name == "mdr":
            # One vector per starting age, for a term long enough that the object's own
            # end-of-term rule does not bite; the rule (no default in a loan's last
            # ``lag`` months or after maturity) is then applied per loan.
            long_term = horizon + lag + 1

            def vec(a: int) -> Any:
                try:
                    return spec.mdr_vector(a, horizon, long_term, lag=lag)
                except TypeError:
                    return spec.mdr_vector(a, horizon, long_term)

            self._build_matrix(vec, age0, horizon)
            self._cutoff = rem0 - lag
        elif callable(spec):
            self._func = spec
            _check_rates(np.asarray(spec(age0.copy()), dtype=np.float64), name, n)
        else:
            arr = np.asarray(spec, dtype=np.float64)
            if arr.ndim == 0:
                self._const = float(arr)
                _check_rates(arr.reshape(1), name, 1)
            elif arr.ndim == 1 and arr.size > 0:
                _check_rates(arr, name, arr.size)
                self._by_age = arr.copy()
            else:
                raise AssumptionError(
                    f"{name} must be a number, a 1-D array by loan age, a callable or a "
                    f"behaviour object; got an array of shape {arr.shape}"
                )

    def _build_matrix(self, vec: Callable[[int], Any], age0: IntArray, horizon: int) -> None:
        uniq, inverse = np.unique(age0, return_inverse=True)
        m = np.empty((len(uniq), horizon), dtype=np.float64)
        for g, a in enumerate(uniq):
            row = np.asarray(vec(int(a)), dtype=np.float64).reshape(-1)
            if row.size != horizon:
                raise AssumptionError(
                    f"{self.name} vector for loan age {a} has {row.size} periods, expected {horizon}"
                )
            m[g] = row
        _check_rates(m.reshape(-1), self.name, m.size)
        self._matrix = m
        self._group = inverse.reshape(-1).astype(np.intp)

    def values(self, period: int, age_start: IntArray, ix: npt.NDArray[np.intp]) -> FloatArray:
        """Rates of the month ``period`` (1-based) for loans ``ix`` aged ``age_start``."""
        n = len(age_start)
        if self._const is not None:
            return np.full(n, self._const, dtype=np.float64)
        if self._by_age is not None:
            idx = np.minimum(age_start, len(self._by_age) - 1)
            by_age: FloatArray = self._by_age[idx]
            return by_age
        if self._func is not None:
            out = np.asarray(self._func(age_start.copy()), dtype=np.float64)
            out = np.broadcast_to(out, (n,)).astype(np.float64)
            _check_rates(out, self.name, n)
            return out
        assert self._matrix is not None and self._group is not None
        col = min(period, self._matrix.shape[1]) - 1
        rates: FloatArray = self._matrix[self._group[ix], col]
        if self._cutoff is not None:
            rates[period > self._cutoff[ix]] = 0.0
        return rates


def _check_rates(x: FloatArray, name: str, n: int) -> None:
    if x.size != n and x.size != 1:
        raise AssumptionError(f"{name} gave {x.size} rates for {n} loans")
    bad = ~((x >= 0.0) & (x <= 1.0))
    if np.any(bad):
        v = float(x[np.flatnonzero(bad)[0]])
        raise AssumptionError(f"{name} must be a decimal in [0, 1], got {v!r}")


# --------------------------------------------------------------------------- tape


def _tape_table(tape: Any) -> pa.Table:
    table = getattr(tape, "table", tape)
    if not isinstance(table, pa.Table):
        raise InputError(
            f"tape must be a LoanTape or a pyarrow.Table, got {type(tape).__name__}"
        )
    return table


def _column(table: pa.Table, name: str, source: str | None) -> npt.NDArray[Any]:
    if name not in table.column_names:
        raise TapeError("required column is missing", file=source, field=name)
    col = table.column(name)
    if col.null_count:
        row = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0]) + 1
        raise TapeError("required value is null", file=source, row=row, field=name)
    return np.asarray(col.to_numpy(zero_copy_only=False))


def _optional(table: pa.Table, name: str) -> FloatArray | None:
    if name not in table.column_names:
        return None
    col = table.column(name)
    arr = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    if col.null_count:
        mask = col.is_null().to_numpy(zero_copy_only=False)
        arr = arr.copy()
        arr[mask] = np.nan
    return arr


def _bad_row(mask: BoolArray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


# --------------------------------------------------------------------------- simulator


class LoanSimulator:
    """Month-by-month loan-level performance of a tape, in integer base units.

    Parameters
    ----------
    tape : LoanTape or pyarrow.Table
        Loans in the canonical schema (``openmbs.collateral``); uses ``loan_id``,
        ``current_balance``, ``note_rate``, ``net_rate``/``servicing_fee`` (optional),
        ``remaining_term``, ``loan_age``, ``amortization_type`` and
        ``delinquency_status``.
    prepayment : float, array by loan age, callable or ``Prepayment``, optional
        Monthly SMM (decimal). An array ``x`` applies ``x[a]`` in the month a loan ages
        from ``a`` to ``a + 1`` (last element held); a callable gets the loan ages at the
        start of the month and returns one SMM per loan; an object with
        ``smm_vector(loan_age_start, n_periods)`` gives SMM by simulated period.
    default : float, array by loan age, callable or ``Default``, optional
        Monthly default rate MDR (decimal), same forms (``mdr_vector(loan_age_start,
        n_periods, remaining_term, lag=lag)`` for objects).
    severity : float or array, default 0.0
        Loss severity (decimal of the defaulted balance), one value or one per loan.
    lag : int, default 0
        Months from default to liquidation.
    seed : int or numpy.random.Generator, default 0
        Source of randomness; the same seed gives the same path.
    decimals : int, default 6
        Decimals of the settlement asset. Records count money in units of
        ``10**-record_decimals`` with ``record_decimals = min(decimals, 9)`` (64-bit
        integers: at 18 decimals a pool of more than about 9 currency units would not
        fit); a record unit is ``unit_scale = 10**(decimals - record_decimals)`` base
        units of the asset (1 up to 9 decimals).
    advance : {"none", "principal", "all"}, default "none"
        What the servicer advances on delinquent and defaulted loans (until
        liquidation): nothing, their scheduled principal only (the SIFMA Standard
        Formulas' convention: they amortize on schedule and their interest is not
        paid), or principal and interest. ``False`` and ``True`` (earlier versions)
        mean ``"none"`` and ``"all"``.
    delinquency : DelinquencyAssumptions, optional
        Curing delinquencies and curtailments (defaults documented on the class).
    servicing : ServicingTerms, optional
        Advance stops, late fees and prepayment penalties (docs/simulation.md,
        "Servicing cash"); the defaults change nothing. Outstanding advances are
        reimbursed out of a loan's catch-up payment or liquidation proceeds.

    Notes
    -----
    Each month, with one set of uniform draws per loan (``3 * n_loans`` draws from the
    generator every step, whatever the number of live loans, so that a path depends
    only on the seed):

    * a **current** loan defaults with probability ``MDR`` (it stops paying for good;
      the default month is the month of its first missed payment, as in the SIFMA
      Standard Formulas where new defaults come off the prior performing balance), else
      misses a payment that it will later cure with probability ``rate``, else pays its
      installment; a paying loan then prepays in full with probability
      ``(1 - curtailment_share) * SMM`` or pays a curtailment, sized so that the
      expected unscheduled principal is ``SMM`` times its balance after scheduled
      principal. A loan that pays its last installment matures.
    * a **delinquent** loan (curing track) reinstates with the bucket's cure
      probability, paying every missed installment and the current one; else it misses
      one more. It never defaults, so the realised default rate of the performing
      balance is exactly MDR in expectation.
    * a **defaulted** loan shows 30, 60, 90+ days past due as its installments go unpaid
      (it is in the foreclosure balance from its default month) and is liquidated
      exactly ``lag`` months after its default month: ``loss = min(round(severity x
      defaulted balance), balance)``, ``recovery = balance - loss``.

    The scheduled payment is computed once, in float, from the balance, note rate and
    remaining term of the tape and rounded to a unit; each month's interest is
    ``round(balance * rate / 12)`` and scheduled principal ``payment - interest``
    (all of the balance in the last month). Without advancing, delinquent and defaulted
    loans pay nothing; with ``advance="all"`` the servicer advances their installments
    (reported in ``advanced_*``), their balance amortises on schedule, and a
    reinstatement repays the servicer (nothing more reaches the pool). With
    ``advance="principal"`` only the scheduled principal is advanced (in
    ``advanced_principal``; the balance amortises on schedule) and the interest is
    not paid: a reinstatement repays the servicer's principal and pays the pool the
    interest of every missed installment; a liquidation loses it.

    Examples
    --------
    >>> import pyarrow as pa
    >>> tape = pa.table({"loan_id": ["a"], "current_balance": [1000.0],
    ...     "note_rate": [0.06], "remaining_term": [12], "loan_age": [0],
    ...     "amortization_type": ["fixed"], "delinquency_status": [0]})
    >>> sim = LoanSimulator(tape, seed=1, delinquency=DelinquencyAssumptions(rate=0.0))
    >>> rec = sim.step()
    >>> rec.pool.scheduled_principal, rec.pool.interest
    (81066430, 5000000)
    """

    def __init__(
        self,
        tape: Any,
        *,
        prepayment: RateAssumption | None = 0.0,
        default: RateAssumption | None = 0.0,
        severity: float | npt.ArrayLike = 0.0,
        lag: int = 0,
        seed: int | np.random.Generator = 0,
        decimals: int = 6,
        advance: AdvanceMode | bool = "none",
        delinquency: DelinquencyAssumptions | None = None,
        mitigation: LossMitigation | None = None,
        transitions: Any = None,
        servicing: _cash.ServicingTerms | None = None,
    ) -> None:
        table = _tape_table(tape)
        source = getattr(tape, "source", None)
        source = None if source is None else str(source)
        if not isinstance(decimals, int) or not 0 <= decimals <= 18:
            raise InputError(f"decimals must be an integer in [0, 18], got {decimals!r}")
        from openmbs.agents import record_decimals

        if not isinstance(lag, int) or lag < 0:
            raise AssumptionError(f"lag must be an integer number of months >= 0, got {lag!r}")
        self.decimals = decimals
        #: decimals of the record unit (money in the records is in 10**-record_decimals)
        self.record_decimals = record_decimals(decimals)
        #: asset base units per record unit
        self.unit_scale = 10 ** (decimals - self.record_decimals)
        self.lag = lag
        self.advance: AdvanceMode = advance_mode(advance)
        self.delinquency = delinquency if delinquency is not None else DelinquencyAssumptions()
        self.servicing = servicing if servicing is not None else _cash.ServicingTerms()
        n = table.num_rows
        self.n_loans = n

        ids = table.column("loan_id") if "loan_id" in table.column_names else None
        if ids is None:
            raise TapeError("required column is missing", file=source, field="loan_id")
        self._ids = ids.combine_chunks().cast(pa.string())

        bal = np.asarray(_column(table, "current_balance", source), dtype=np.float64)
        note = np.asarray(_column(table, "note_rate", source), dtype=np.float64)
        rem = np.asarray(_column(table, "remaining_term", source), dtype=np.int64)
        age = np.asarray(_column(table, "loan_age", source), dtype=np.int64)
        amort = _column(table, "amortization_type", source).astype(str)
        dq = np.asarray(_column(table, "delinquency_status", source), dtype=np.int64)
        for name, arr, ok in (
            ("current_balance", bal, np.isfinite(bal) & (bal >= 0)),
            ("note_rate", note, np.isfinite(note) & (note >= 0) & (note < 1)),
            ("remaining_term", rem, (rem >= 1) | (bal == 0)),
            ("loan_age", age, age >= 0),
            ("delinquency_status", dq, dq >= 0),
        ):
            if not np.all(ok):
                r = _bad_row(~ok)
                raise TapeError(
                    "value out of range for simulation",
                    file=source,
                    row=r,
                    field=name,
                    value=arr[r - 1].item(),
                )
        net = _optional(table, "net_rate")
        fee = _optional(table, "servicing_fee")
        net_rate = note.copy()
        if fee is not None:
            has = ~np.isnan(fee)
            net_rate[has] = note[has] - fee[has]
        if net is not None:
            has = ~np.isnan(net)
            net_rate[has] = net[has]
        bad = ~((net_rate >= 0) & (net_rate <= note))
        if np.any(bad):
            r = _bad_row(bad)
            raise TapeError(
                "net rate must be in [0, note_rate]",
                file=source,
                row=r,
                field="net_rate",
                value=float(net_rate[r - 1]),
            )

        sev = np.broadcast_to(np.asarray(severity, dtype=np.float64), (n,)).copy()
        if np.any(~((sev >= 0) & (sev <= 1))):
            raise AssumptionError(f"severity must be in [0, 1], got {severity!r}")
        self._severity = sev
        self._rg = note / 12.0
        self._rn = net_rate / 12.0
        self._io = amort == "interest_only"

        scale = 10.0**self.record_decimals
        # int64 record units: the pool (and its interest) must fit, or the casts wrap
        total = float(np.sum(bal)) * scale
        if not total < 2.0**62:
            raise InputError(
                f"decimals value {decimals} (record decimals {self.record_decimals}): the pool's balance "
                f"{float(np.sum(bal)):,.2f} is {total:.3e} record units, beyond the simulator's 64-bit "
                f"integers (at most {2.0**62 / scale:.3e} currency units: split the pool)"
            )
        self._balance: IntArray = np.rint(bal * scale).astype(np.int64)
        self._rem: IntArray = rem.copy()
        self._age: IntArray = age.copy()
        self._payment: IntArray = _level_payment(self._balance, self._rg, rem)
        self._state = np.where(dq > 0, _DQ, _CUR).astype(np.int8)
        self._state[self._balance == 0] = _CLOSED
        self._dpd: IntArray = np.where(self._state == _DQ, dq, 0).astype(np.int64)
        self._default_period: IntArray = np.full(n, -1, dtype=np.int64)
        self._default_balance: IntArray = np.zeros(n, dtype=np.int64)
        # interest of missed installments not advanced (advance="principal"), owed to
        # the pool until the loan reinstates (paid) or is liquidated (lost)
        self._owed_interest: IntArray = np.zeros(n, dtype=np.int64)
        self._owed_net: IntArray = np.zeros(n, dtype=np.int64)
        # servicing cash: net advances outstanding, installments missed unadvanced
        self._penalty = _cash.penalty_terms(table, self.servicing, source)
        self._adv_out: IntArray = np.zeros(n, dtype=np.int64)
        self._unadv: IntArray = np.zeros(n, dtype=np.int64)
        self.period = 0

        horizon = max(1, int(rem.max()) if n else 1)
        self._prepay = _Rate(prepayment, "smm", age, rem, horizon, lag)
        self._default = _Rate(default, "mdr", age, rem, horizon, lag)
        # loan states, loss mitigation and the matrix driver (openmbs.sim._states)
        self.mitigation = mitigation if mitigation is not None else LossMitigation()
        self._states = AssumptionStates(n, self.mitigation)
        self._ls = dq_state(self._dpd)
        self._reo_left: IntArray = np.zeros(n, dtype=np.int64)
        self._modified = np.zeros(n, dtype=np.bool_)
        self._mod_now = np.zeros(n, dtype=np.bool_)  # modified in the last step (not saved)
        self._rep = np.minimum(self._dpd, 3).astype(np.int8)  # reported bucket (matrix driver)
        self._sold: IntArray = np.full(n, -1, dtype=np.int64)  # net sale proceeds (-1: not sold)
        self.transitions = _state_machine(transitions)
        self._driver = None
        if self.transitions is not None:
            if not (default is None or (isinstance(default, int | float) and default == 0)):
                raise AssumptionError(
                    "default: the transition matrix gives the defaults; pass default=None (or 0) with transitions"
                )
            ltv, fico = _optional(table, "ltv"), _optional(table, "credit_score")
            self._driver = _MatrixDriver.build(self.transitions, ltv, fico)
        self._rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._fingerprint = self._make_fingerprint()

    # ----------------------------------------------------------------- public state

    def sell(self, loans: npt.ArrayLike, proceeds: npt.ArrayLike) -> None:
        """Book the sale of tape rows ``loans`` for net ``proceeds`` (record units):
        next period each is liquidated with ``recovery == proceeds`` (the rest of its
        balance a loss), whatever it would otherwise have done (``LoanSale.vy``'s
        confirmation, docs/chain.md "Loan sales").

        Raises
        ------
        InputError
            A loan not live, sold twice, or proceeds negative or above its balance.

        Notes
        -----
        Driven by a transition matrix, a sold loan leaves next month as a note sale
        (``LoanState.NOTE_SALE``) instead of drawing its next state.
        """
        rows = np.asarray(loans, dtype=np.int64).reshape(-1)
        amounts = np.asarray(proceeds, dtype=np.int64).reshape(-1)
        if rows.size != amounts.size:
            raise InputError(f"sell: {rows.size} loan(s) for {amounts.size} proceeds")
        for r, a in zip(rows.tolist(), amounts.tolist(), strict=True):
            if not 0 <= r < self.n_loans or self._state[r] == _CLOSED:
                raise InputError(f"sell: tape row {r}: loan not live")
            if self._sold[r] >= 0:
                raise InputError(f"sell: tape row {r}: already sold")
            if not 0 <= a <= self._balance[r]:
                raise InputError(f"sell: tape row {r} field 'proceeds' value {a}: outside [0, {self._balance[r]}]")
            self._sold[r] = a

    @property
    def done(self) -> bool:
        """Whether every loan is closed (paid off, prepaid or liquidated)."""
        return bool(np.all(self._state == _CLOSED))

    @property
    def balances(self) -> IntArray:
        """Current balance of every loan, record units (a read-only copy; times
        ``unit_scale`` in the asset's base units)."""
        out = self._balance.copy()
        out.setflags(write=False)
        return out

    def _make_fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(str(self._ids.to_pylist()).encode())
        for arr in (self._balance, self._rem, self._age, self._payment, self._severity):
            h.update(np.ascontiguousarray(arr).tobytes())
        # the boolean spelling of earlier versions, so that their fingerprints still hold
        adv = {"none": "False", "all": "True"}.get(self.advance, self.advance)
        h.update(f"{self.decimals}|{self.lag}|{adv}|{self.delinquency}".encode())
        if self.mitigation != LossMitigation():  # runs without it keep their fingerprint
            h.update(repr(self.mitigation).encode())
        if self.transitions is not None:
            h.update(repr(self.transitions.matrix.by).encode())
            h.update(np.ascontiguousarray(self.transitions.matrix.counts).tobytes())
        if not self.servicing.is_default or self._penalty.any:
            h.update(f"|{self.servicing}".encode())
            pen: tuple[npt.NDArray[Any], ...] = (self._penalty.hard, self._penalty.term, self._penalty.pct)
            for arr in pen:
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def mitigation_columns(self, rows: npt.NDArray[np.intp]) -> dict[str, pa.Array]:
        """The loss-mitigation columns of the last step's records of tape ``rows``, named
        as a real history's (``openmbs.servicing.HISTORY_RECORD_COLUMNS``): ``modified``
        (under a modification), ``modification`` (modified this month),
        ``capitalised_arrears`` (always 0: the simulator does not add arrears to the
        trust's balance) and ``forbearance`` (in a forbearance plan at the month's end)."""
        return {
            "modified": pa.array(self._modified[rows]),
            "modification": pa.array(self._mod_now[rows]),
            "capitalised_arrears": pa.array(np.zeros(rows.size, dtype=np.int64)),
            "forbearance": pa.array(self._states.in_plan[rows]),
        }

    # ----------------------------------------------------------------- the month

    def step(self) -> PeriodRecords:
        """Simulate the next month and return its loan records and pool aggregates."""
        self._mod_now[:] = False
        if self._driver is not None:
            return matrix_step(self)
        k = self.period + 1
        dl = self.delinquency
        # Draw for every loan (live or not) so that a path depends only on the seed.
        u_all = self._rng.random((3, self.n_loans))
        u_x = self._states.draw(self._rng, self.n_loans)  # loss mitigation only
        lx = np.flatnonzero(self._state != _CLOSED)  # loans live at the start
        u1, u2, u3 = u_all[0, lx], u_all[1, lx], u_all[2, lx]
        state0 = self._state[lx]
        b0 = self._balance[lx]
        age0 = self._age[lx]
        rem = self._rem[lx]
        rem0 = rem.copy()
        dpd = self._dpd[lx]
        default_period = self._default_period[lx]
        default_balance = self._default_balance[lx]
        m = lx.size

        smm = self._prepay.values(k, age0, lx)
        mdr = self._default.values(k, age0, lx)
        if m and float((mdr + dl.rate).max()) > 1.0:
            raise AssumptionError(
                f"period {k}: mdr + delinquency rate exceeds 1 "
                f"(max mdr {float(mdr.max())!r}, rate {dl.rate!r})"
            )

        cur = state0 == _CUR
        dq = state0 == _DQ
        dfl = state0 == _DEF
        new_def = cur & (u1 < mdr)
        new_dq = cur & ~new_def & (u1 < mdr + dl.rate)
        pays = cur & ~new_def & ~new_dq
        cure_p = np.asarray(dl.cure, dtype=np.float64)[np.clip(dpd, 1, 3) - 1]
        cures = dq & (u3 < cure_p)
        stays_dq = dq & ~cures
        pays, new_dq, cures, stays_dq, deferred = self._states.forbearance(
            lx, u_x, pays, new_dq, cures, stays_dq
        )
        sold = self._sold[lx] >= 0  # sold last period (sell): liquidated now, nothing else
        if sold.any():
            pays, new_dq, cures, stays_dq, deferred = (
                pays & ~sold, new_dq & ~sold, cures & ~sold, stays_dq & ~sold, deferred & ~sold
            )
            new_def = new_def & ~sold
            dfl = dfl | sold
        self._states.on_default(lx, new_def, u_x)

        # Defaults of this month: record the defaulted balance and month.
        default_period[new_def] = k
        default_balance[new_def] = b0[new_def]
        defaulted = dfl | new_def
        liquidate = (defaulted & (default_period + self.lag == k)) | sold

        sched = np.zeros(m, dtype=np.int64)
        interest = np.zeros(m, dtype=np.int64)
        net_int = np.zeros(m, dtype=np.int64)
        adv_p = np.zeros(m, dtype=np.int64)
        adv_i = np.zeros(m, dtype=np.int64)
        bal = b0.copy()

        # One installment for loans that pay this month, and for missed installments
        # advanced by the servicer.
        one = pays
        advanced = np.zeros(m, dtype=np.bool_)
        if self.advance != "none":
            advanced = (new_dq | stays_dq | (defaulted & ~liquidate)) & (rem >= 1)
            if self.servicing.stops_advancing:
                advanced &= _cash.may_advance(
                    self.servicing, days_past_due=dpd * _cash.DAYS_PER_INSTALLMENT,
                    defaulted=defaulted, outstanding=self._adv_out[lx],
                    installment=self._payment[lx], balance=b0, severity=self._severity[lx],
                )  # fmt: skip
            one = pays | advanced | cures
        ix = np.flatnonzero(one)
        ip, ig, inet = self._installment(bal, rem, lx, ix)
        sched[ix] = ip
        interest[ix] = ig
        net_int[ix] = inet
        bal[ix] -= ip
        rem[ix] -= 1
        if self.advance == "all":
            adv_p[advanced] = sched[advanced]
            adv_i[advanced] = interest[advanced]
        elif self.advance == "principal":
            # principal advanced; the interest is owed by the borrower, not paid
            adv_p[advanced] = sched[advanced]
            owed = self._owed_interest[lx]
            owed_net = self._owed_net[lx]
            owed[advanced] += interest[advanced]
            owed_net[advanced] += net_int[advanced]
            interest[advanced] = 0
            net_int[advanced] = 0
            # a reinstatement pays the pool the interest of every missed installment
            interest[cures] += owed[cures]
            net_int[cures] += owed_net[cures]
            owed[cures] = 0
            owed_net[cures] = 0
            self._owed_interest[lx] = owed
            self._owed_net[lx] = owed_net
        else:
            # Reinstatement: a curing loan pays every missed installment and this
            # month's. (With advancing they were advanced: the borrower repays the
            # servicer and nothing more reaches the pool.)
            ix = np.flatnonzero(cures)
            todo = dpd[ix] + 1
            while ix.size:
                keep = (todo > 0) & (rem[ix] >= 1) & (bal[ix] > 0)
                ix, todo = ix[keep], todo[keep]
                if not ix.size:
                    break
                ip, ig, inet = self._installment(bal, rem, lx, ix)
                sched[ix] += ip
                interest[ix] += ig
                net_int[ix] += inet
                bal[ix] -= ip
                rem[ix] -= 1
                todo -= 1

        reimbursed = np.zeros(m, dtype=np.int64)
        if self.advance != "none":
            adv_out, unadv = self._adv_out[lx], self._unadv[lx]
            # a reinstatement repays the advanced installments to the servicer and
            # pays the pool the installments missed without an advance
            reimbursed[cures], adv_out[cures] = _cash.reimburse(adv_out[cures], adv_out[cures])
            self._pay_missed(bal, rem, lx, sched, interest, net_int, np.flatnonzero(cures), unadv[cures])
            unadv[cures] = 0
            adv_out += adv_p + np.where(adv_i > 0, net_int, 0)
            unadv[(new_dq | stays_dq) & ~advanced & (rem >= 1)] += 1
            self._adv_out[lx], self._unadv[lx] = adv_out, unadv

        # Unscheduled principal of the loans that paid their installment: full
        # prepayment with probability (1 - s) * SMM, else a curtailment with probability
        # p_curt of the fraction that makes the expected total SMM * balance.
        after = bal.copy()
        base_mask = pays & (after > 0)
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
        penalty = _cash.prepayment_penalties(self._penalty, lx, age0, prepaid, full)

        # Liquidations.
        loss = np.zeros(m, dtype=np.int64)
        recovery = np.zeros(m, dtype=np.int64)
        writeoff = np.zeros(m, dtype=np.int64)
        final = None
        if liquidate.any():
            li = np.flatnonzero(liquidate)
            final, sev = self._states.liquidation(lx, li, self.lag, self._severity)
            sev_amount = np.rint(sev * default_balance[li]).astype(np.int64)
            loss[li] = np.minimum(sev_amount, bal[li])
            writeoff[li] = bal[li]
            recovery[li] = writeoff[li] - loss[li]
            si = np.flatnonzero(sold)
            recovery[si] = np.minimum(self._sold[lx[si]], bal[si])  # the sale's net proceeds
            loss[si] = bal[si] - recovery[si]
            self._sold[lx[si]] = -1
            bal[li] = 0
            self._owed_interest[lx[li]] = 0  # unpaid interest is lost at liquidation
            self._owed_net[lx[li]] = 0
            # the proceeds repay the servicer's advances first; the rest is its loss
            reimbursed[li], _ = _cash.reimburse(self._adv_out[lx[li]], recovery[li])
            self._adv_out[lx[li]] = 0
            self._unadv[lx[li]] = 0

        # New states and months past due.
        state = state0.copy()
        state[new_def] = _DEF
        state[new_dq] = _DQ
        state[cures] = _CUR
        dpd[new_def | new_dq] = 1
        dpd[stays_dq | (dfl & ~liquidate)] += 1
        dpd[cures] = 0
        modified = self._states.mitigate(
            self, lx, u_x, state, dpd, default_period, deferred, (_CUR, _DQ, _DEF)
        )
        status = np.full(m, STATUS_CURRENT, dtype=np.int8)
        status[state == _DQ] = STATUS_DELINQUENT
        status[state == _DEF] = STATUS_DEFAULTED
        closed = bal == 0
        status[closed] = STATUS_MATURED
        status[closed & full] = STATUS_PREPAID
        status[liquidate] = STATUS_LIQUIDATED
        state[closed] = _CLOSED
        dpd[closed] = 0
        labels = self._states.label(
            lx, k, self.lag, state, dpd, default_period, (_CUR, _DQ, _DEF), closed, liquidate,
            None if final is None else np.asarray(final),
        )

        self._state[lx] = state
        self._balance[lx] = bal
        self._rem[lx] = rem
        self._dpd[lx] = dpd
        self._age[lx] = age0 + 1
        self._default_period[lx] = default_period
        self._default_balance[lx] = default_balance
        self._ls[lx] = labels
        _reamortise(self, lx[modified], self.mitigation)
        self.period = k

        fee = interest - net_int
        missed = (new_dq | stays_dq | new_def | (dfl & ~liquidate)) & (rem0 >= 1)
        late = _cash.late_fees(self.servicing, missed, self._payment[lx], dpd * _cash.DAYS_PER_INSTALLMENT)
        curtailment = np.where(full, 0, curt)
        delinquency = np.minimum(dpd, 3).astype(np.int8)
        columns = (
            {
                "loan_id": pa.DictionaryArray.from_arrays(pa.array(lx.astype(np.int32)), self._ids),
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
                "advance_reimbursed": reimbursed,
                "prepayment_penalty": penalty,
                "late_fee": late,
                "state": labels,
            }
        )

        # Aggregates with a few stacked reductions (exact int64 arithmetic).
        is_def = state == _DEF
        (
            s_b0, s_sched, s_prepaid, s_curt, s_int, s_net, s_fee,
            s_advp, s_advi, s_wo, s_loss, s_rec, s_bal,
        ) = np.stack(
            [b0, sched, prepaid, curtailment, interest, net_int, fee, adv_p, adv_i,
             writeoff, loss, recovery, bal]
        ).sum(axis=1).tolist()  # fmt: skip
        end_masks = np.stack(
            [state == _CUR, delinquency == 1, delinquency == 2, delinquency == 3, is_def]
        )
        e_cur, e_30, e_60, e_90, e_fc = (end_masks @ bal).tolist()
        n_30, n_60, n_90, n_fc = np.count_nonzero(end_masks[1:], axis=1).tolist()
        b_def, b_cur = (np.stack([new_def, cur]) @ b0).tolist()
        n_open, n_full, n_def, n_liq, n_cur = np.count_nonzero(
            np.stack([~closed, full, new_def, liquidate, cur]), axis=1
        ).tolist()
        pool = PoolPeriod(
            period=k,
            loan_count=m,
            loan_count_end=n_open,
            balance_begin=s_b0,
            scheduled_principal=s_sched,
            prepaid_principal=s_prepaid,
            curtailment=s_curt,
            prepaid_in_full_count=n_full,
            interest=s_int,
            net_interest=s_net,
            servicing_fee=s_fee,
            advanced_principal=s_advp,
            advanced_interest=s_advi,
            new_default_balance=b_def,
            new_default_count=n_def,
            default_writeoff=s_wo,
            loss=s_loss,
            recovery=s_rec,
            liquidation_count=n_liq,
            balance_end=s_bal,
            performing_balance_begin=b_cur,
            performing_count_begin=n_cur,
            prepayment_base=int(np.dot(after, base_mask)),
            current_balance_end=e_cur,
            delinquent_30_balance=e_30,
            delinquent_60_balance=e_60,
            delinquent_90_plus_balance=e_90,
            delinquent_30_count=n_30,
            delinquent_60_count=n_60,
            delinquent_90_plus_count=n_90,
            foreclosure_balance=e_fc,
            foreclosure_count=n_fc,
        )
        return PeriodRecords(period=k, pool=pool, columns=columns)

    def _state_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The loan-state arrays saved with the simulator (states, REO months, the
        modified terms, forbearance plans, default outcomes)."""
        return {
            "ls": self._ls, "reo_left": self._reo_left, "modified": self._modified, "rep": self._rep,
            "rg": self._rg, "rn": self._rn, "payment": self._payment, "io": self._io, "sold": self._sold,
            **{f"st_{k}": v for k, v in self._states.arrays().items()},
        }  # fmt: skip

    def _restore_state_arrays(self, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
        # states saved before the loan states exist have none (they are rebuilt)
        self._ls = arrays["ls"].astype(np.int8) if "ls" in arrays else dq_state(self._dpd)
        for name in ("reo_left", "modified", "rep", "rg", "rn", "payment", "io", "sold"):
            if name in arrays:
                cur = getattr(self, f"_{name}")
                setattr(self, f"_{name}", arrays[name].astype(cur.dtype))
        self._states.restore({k[3:]: v for k, v in arrays.items() if k.startswith("st_")})
    def _pay_missed(
        self,
        bal: IntArray,
        rem: IntArray,
        lx: npt.NDArray[np.intp],
        sched: IntArray,
        interest: IntArray,
        net_int: IntArray,
        ix: npt.NDArray[np.intp],
        todo: IntArray,
    ) -> None:
        """Pay ``todo`` more installments of the live loans ``ix`` (in place)."""
        while ix.size:
            keep = (todo > 0) & (rem[ix] >= 1) & (bal[ix] > 0)
            ix, todo = ix[keep], todo[keep]
            if not ix.size:
                break
            ip, ig, inet = self._installment(bal, rem, lx, ix)
            sched[ix] += ip
            interest[ix] += ig
            net_int[ix] += inet
            bal[ix] -= ip
            rem[ix] -= 1
            todo -= 1

    def _installment(
        self,
        bal: IntArray,
        rem: IntArray,
        lx: npt.NDArray[np.intp],
        ix: npt.NDArray[np.intp],
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Scheduled principal, gross and net interest of one installment.

        ``bal`` and ``rem`` are live-loan arrays, ``lx`` maps them to loans and ``ix``
        selects the loans that pay (or are advanced) an installment.
        """
        b = bal[ix]
        loans = lx[ix]
        interest = np.rint(b * self._rg[loans]).astype(np.int64)
        net = np.rint(b * self._rn[loans]).astype(np.int64)
        principal = np.clip(self._payment[loans] - interest, 0, b)
        principal[self._io[loans]] = 0
        last = rem[ix] <= 1
        principal[last] = b[last]
        return principal, interest, net

    def run(self, n_periods: int | None = None, *, keep_loans: bool = False) -> SimulationResult:
        """Step ``n_periods`` months (or until every loan is closed).

        Returns the pool aggregates of every period, and the concatenated loan records
        when ``keep_loans`` (20,000 loans x 360 months is about 7 million rows).
        """
        pools: list[PoolPeriod] = []
        tables: list[pa.Table] = []
        count = 0
        while (n_periods is None and not self.done) or (
            n_periods is not None and count < n_periods
        ):
            rec = self.step()
            pools.append(rec.pool)
            if keep_loans:
                tables.append(rec.loans)
            count += 1
        loans = pa.concat_tables(tables) if keep_loans and tables else None
        return SimulationResult(pool=pool_table(pools), loans=loans)

    # ----------------------------------------------------------------- persistence

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write the simulator's state after the last step to ``path`` (``.npz``).

        The file holds every per-loan state array, the period and the random
        generator's state; it is written to a temporary file and renamed, so a crash
        never leaves a half-written state.
        """
        path = Path(path)
        meta = {
            "format": _STATE_FORMAT,
            "period": self.period,
            "fingerprint": self._fingerprint,
            "rng": self._rng.bit_generator.state,
        }
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                meta=np.array(json.dumps(meta)),
                balance=self._balance,
                rem=self._rem,
                age=self._age,
                state=self._state,
                dpd=self._dpd,
                default_period=self._default_period,
                default_balance=self._default_balance,
                owed_interest=self._owed_interest,
                owed_net=self._owed_net,
                **self._state_arrays(),  # type: ignore[arg-type]
                adv_out=self._adv_out,
                unadv=self._unadv,
            )
        os.replace(tmp, path)
        return path

    def load_state(self, path: str | os.PathLike[str]) -> None:
        """Restore a state written by :meth:`save_state` for the same tape and settings.

        Raises
        ------
        DataIntegrityError
            If the file is not a simulator state, or was saved for another tape or other
            settings (loans, balances, terms, severity, lag, decimals, advancing).
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {name: z[name] for name in z.files if name != "meta"}
        except (OSError, ValueError, KeyError) as exc:
            raise DataIntegrityError(f"file {str(path)!r}: not a simulator state ({exc})") from exc
        if meta.get("format") != _STATE_FORMAT:
            raise DataIntegrityError(
                f"file {str(path)!r}: field 'format' value {meta.get('format')!r}: "
                f"expected {_STATE_FORMAT!r}"
            )
        if meta.get("fingerprint") != self._fingerprint:
            raise DataIntegrityError(
                f"file {str(path)!r}: state was saved for another tape or other settings"
            )
        self._balance = arrays["balance"].astype(np.int64)
        self._rem = arrays["rem"].astype(np.int64)
        self._age = arrays["age"].astype(np.int64)
        self._state = arrays["state"].astype(np.int8)
        self._dpd = arrays["dpd"].astype(np.int64)
        self._default_period = arrays["default_period"].astype(np.int64)
        self._default_balance = arrays["default_balance"].astype(np.int64)
        # states saved before principal-only advancing have nothing owed
        zeros = np.zeros_like(self._balance)
        self._owed_interest = arrays.get("owed_interest", zeros).astype(np.int64)
        self._owed_net = arrays.get("owed_net", zeros).astype(np.int64)
        self._restore_state_arrays(arrays)
        self._adv_out = arrays.get("adv_out", zeros).astype(np.int64)
        self._unadv = arrays.get("unadv", zeros).astype(np.int64)
        self.period = int(meta["period"])
        try:
            bitgen = getattr(np.random, str(meta["rng"]["bit_generator"]))()
            bitgen.state = meta["rng"]
            self._rng = np.random.Generator(bitgen)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise DataIntegrityError(
                f"file {str(path)!r}: field 'rng' cannot be restored ({exc})"
            ) from exc


def _state_machine(transitions: Any) -> StateMachine | None:
    """A :class:`StateMachine` from a machine, a matrix or a matrix file (or ``None``)."""
    if transitions is None or isinstance(transitions, StateMachine):
        return transitions
    if isinstance(transitions, TransitionMatrix):
        return StateMachine(transitions)
    if isinstance(transitions, str | os.PathLike):
        return StateMachine.read(transitions)
    raise InputError(
        f"transitions must be a StateMachine, a TransitionMatrix or a matrix file, got {type(transitions).__name__}"
    )


def _level_payment(balance: IntArray, monthly_rate: FloatArray, term: IntArray) -> IntArray:
    """Level monthly payment ``B r / (1 - (1 + r)^-n)`` (``B / n`` at r = 0), rounded once."""
    b = balance.astype(np.float64)
    n = np.maximum(term, 1).astype(np.float64)
    r = monthly_rate
    with np.errstate(divide="ignore", invalid="ignore"):
        annuity = np.where(r > 0, b * r / (1.0 - (1.0 + r) ** (-n)), b / n)
    return np.rint(annuity).astype(np.int64)
