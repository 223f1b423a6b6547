"""Per-period distribution statements, as a trustee publishes them.

A statement is built from what anyone can check: the accepted remittance reports, the
class allocations and the distributions in the event store (``openmbs.indexer``), the
deal as it was sized at closing (``closing.json`` of the run folder) and the run's
loan-level files (``loans/period=NNNN.parquet`` or ``loans/period=NNNN/part-0.parquet``).
The exact engine (``openmbs.structuring.apply_period``) is run again on the accepted
reports: it gives what the events do not carry (interest due, fees by name, reserve
draws, each trigger's test) and every figure the events do carry is checked against it
(a difference raises :class:`~openmbs.errors.DataIntegrityError` naming the period,
class and field).

Money is in integer base units of the settlement asset (``decimals`` says how many; the
loan files' money, in record units of ``10**-record_decimals``, is scaled to them);
rates, factors and percentages are decimals (0.05 is 5%). A figure the run does not
model is ``None`` ("not modelled"), never 0: servicer advances; and the loan states,
modifications and forbearance when the loan files carry no ``state`` column (a replay's
do, from the real history; a simulated run's when its simulator writes the column).
See ``docs/report.md``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openmbs.errors import DataIntegrityError, InputError
from openmbs.servicing import LIVE_STATES, LoanState

__all__ = [
    "SECTIONS",
    "DistributionStatement",
    "loan_file",
    "period_statements",
    "statement_csv_rows",
    "statement_from_csv_rows",
    "write_statements",
]

#: The sections of :meth:`DistributionStatement.as_dict`, in order.
SECTIONS = (
    "dates",
    "classes",
    "pool",
    "delinquency",
    "loan_states",
    "credit_enhancement",
    "triggers",
    "performance",
    "evidence",
)

#: Windows of the performance section (months; ``None`` is the deal's life to date).
WINDOWS: tuple[tuple[str, int | None], ...] = (("1m", 1), ("3m", 3), ("12m", 12), ("life", None))

_WAD = 10**18


@dataclass(frozen=True)
class DistributionStatement:
    """One period's distribution statement.

    Attributes
    ----------
    deal : str
        The deal's name.
    period : int
        Distribution period (1 is the first distribution).
    decimals : int
        Decimals of the settlement asset: money fields are integers of
        ``10**-decimals`` currency units.
    dates, pool, credit_enhancement, evidence : mapping
        One section each (field -> value).
    classes, delinquency, loan_states, triggers, performance : tuple of mappings
        One row per class, delinquency bucket, loan state, trigger and window.
    notes : tuple of str
        What the statement does not show and why (figures not modelled, the final
        period's speeds).
    """

    deal: str
    period: int
    decimals: int
    dates: Mapping[str, Any]
    classes: tuple[Mapping[str, Any], ...]
    pool: Mapping[str, Any]
    delinquency: tuple[Mapping[str, Any], ...]
    loan_states: tuple[Mapping[str, Any], ...]
    credit_enhancement: Mapping[str, Any]
    triggers: tuple[Mapping[str, Any], ...]
    performance: tuple[Mapping[str, Any], ...]
    evidence: Mapping[str, Any]
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable nested dict: ``deal``, ``period``, ``decimals``, the
        sections of :data:`SECTIONS` and ``notes``."""
        d = asdict(self)
        out: dict[str, Any] = {"deal": self.deal, "period": self.period, "decimals": self.decimals}
        for s in SECTIONS:
            v = d[s]
            out[s] = [dict(r) for r in v] if isinstance(v, tuple | list) else dict(v)
        out["notes"] = list(self.notes)
        plain: dict[str, Any] = json.loads(json.dumps(out))  # plain lists and dicts only
        return plain

    def to_json(self) -> str:
        """:meth:`as_dict` as JSON text (exact integers)."""
        return json.dumps(self.as_dict(), indent=1)

    def to_html(self, history: Sequence[DistributionStatement] = ()) -> str:
        """The statement as one self-contained HTML page (inline CSS and SVG, no URL).

        ``history``: the statements of earlier periods, for the figures (pool balance,
        pool and class factors up to this period).
        """
        from openmbs.report._statement_html import statement_html

        return statement_html(self, history)


# ------------------------------------------------------------------ inputs


def loan_file(loans_dir: Path, period: int) -> Path | None:
    """The loan-level file of ``period`` in either layout, or ``None``.

    ``loans/period=NNNN.parquet`` (flat) or ``loans/period=NNNN/part-0.parquet`` (Hive).
    """
    flat = loans_dir / f"period={period:04d}.parquet"
    if flat.is_file():
        return flat
    hive = loans_dir / f"period={period:04d}"
    if hive.is_dir():
        parts = sorted(hive.glob("*.parquet"))
        if parts:
            return parts[0] if len(parts) == 1 else hive
    return None


#: Columns of a loan-level file the statement reads.
LOAN_COLUMNS = (
    "loan_id",
    "beginning_balance",
    "ending_balance",
    "delinquency",
    "defaulted",
    "liquidated",
)


#: Optional columns of a loan-level file: the loan's state (``openmbs.servicing.LoanState``
#: code) and loss mitigation; without ``state`` those figures are not modelled (null).
STATE_COLUMNS = ("status", "state", "modified", "modification", "capitalised_arrears", "forbearance")

#: Rows of the ``loan_states`` section: every :class:`~openmbs.servicing.LoanState`, in
#: code order. Live states count the loans in them at the period's end (ending
#: balance); the others the loans that left the pool in the period that way (the
#: balance that left: the beginning balance).
STATE_ROWS: tuple[LoanState, ...] = tuple(LoanState)
_LIVE_CODES = frozenset(int(s) for s in (*LIVE_STATES, LoanState.UNKNOWN))
#: the simulator's status codes of a pay-off (openmbs.sim.STATUS_PREPAID, STATUS_MATURED)
_PAID_OFF = (4, 5)


def _read_loans(path: Path) -> pa.Table:
    parts = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    tables = []
    for part in parts:
        try:
            t = pq.read_table(part)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"file {str(part)!r}: not a readable Parquet file ({exc})") from None
        missing = [c for c in LOAN_COLUMNS if c not in t.column_names]
        if missing:
            raise InputError(
                f"file {str(part)!r}: field {missing[0]!r} missing (a loan-level file has "
                f"{', '.join(LOAN_COLUMNS)})"
            )
        cols = list(LOAN_COLUMNS) + [c for c in STATE_COLUMNS if c in t.column_names]
        tables.append(t.select(cols))
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _closing(run: Path) -> dict[str, Any]:
    path = run / "closing.json"
    if not path.is_file():
        raise InputError(
            f"file {str(path)!r}: no closing.json beside the event store; pass deal= "
            "(the run folder or its closing.json)"
        )
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"file {str(path)!r}: not JSON ({exc})") from None
    for key in ("deal_spec", "decimals"):
        if not isinstance(data, dict) or key not in data:
            raise InputError(f"file {str(path)!r}: field {key!r} missing")
    from pydantic import ValidationError

    from openmbs.structuring import DealSpec

    try:
        data["deal_spec"] = DealSpec.model_validate(data["deal_spec"])
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise InputError(
            f"file {str(path)!r}: field 'deal_spec.{where}': {err['msg']} (value {err.get('input')!r})"
        ) from None
    if not isinstance(data["decimals"], int) or not 0 <= data["decimals"] <= 36:
        raise InputError(f"file {str(path)!r}: field 'decimals': value {data['decimals']!r} is not 0..36")
    from openmbs.agents import record_decimals

    rdec = data.setdefault("record_decimals", record_decimals(data["decimals"]))
    if not isinstance(rdec, int) or isinstance(rdec, bool) or not 0 <= rdec <= data["decimals"]:
        raise InputError(
            f"file {str(path)!r}: field 'record_decimals': value {rdec!r} is not 0..{data['decimals']}"
        )
    return data


def _run_folder(con_or_db_path: Any, deal: str | Path | None) -> Path | None:
    if deal is not None:
        if not isinstance(deal, str | Path):
            raise InputError(
                f"deal={type(deal).__name__}: pass the run folder or its closing.json (the "
                "deal as sized at closing, with the asset's decimals), not a deal object"
            )
        p = Path(deal)
        if not p.exists():
            raise InputError(f"deal={str(p)!r}: no such run folder or closing.json")
        return p.parent if p.is_file() else p
    if isinstance(con_or_db_path, str | Path):
        return Path(con_or_db_path).parent
    return None


def _open(con_or_db_path: Any) -> tuple[duckdb.DuckDBPyConnection, Any]:
    """A connection and what to close (None when the caller owns it)."""
    if isinstance(con_or_db_path, duckdb.DuckDBPyConnection):
        return con_or_db_path, None
    if hasattr(con_or_db_path, "con"):  # an EventStore
        return con_or_db_path.con, None
    from openmbs.indexer import EventStore

    path = Path(con_or_db_path)
    if not path.is_file():
        raise InputError(f"file {str(path)!r}: no such event store")
    store = EventStore(path, read_only=True)
    return store.con, store


# ------------------------------------------------------------------ helpers


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return dt.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _cpr(smm: float) -> float:
    return 1.0 - (1.0 - smm) ** 12


def _avg_rate(rates: Sequence[float]) -> float | None:
    """Geometric mean monthly rate: ``1 - prod(1 - r_i) ** (1 / n)``."""
    if not rates:
        return None
    surv = 1.0
    for r in rates:
        surv *= 1.0 - min(max(r, 0.0), 1.0)
    return 1.0 - float(surv ** (1.0 / len(rates)))


@dataclass(frozen=True)
class _LoanPeriod:
    """What the loan-level file of one period gives the statement."""

    dq_count: tuple[int, int, int]
    dq_balance: tuple[int, int, int]
    defaulted_open_count: int
    defaulted_open_balance: int
    new_default_balance: int
    performing_begin: int
    loans_begin: int
    #: (count, balance) per :data:`STATE_ROWS`; None without a ``state`` column
    states: tuple[tuple[int, int], ...] | None = None
    #: modifications that took effect in the period: count, balance, capitalised arrears
    modifications: tuple[int, int, int] | None = None
    #: loans under a modification at the period's end: count, balance
    modified: tuple[int, int] | None = None
    #: loans in a forbearance plan: count, balance; None where the file has no such field
    forbearance: tuple[int, int] | None = None


def _loan_figures(
    table: pa.Table, prev_defaulted: set[str], unit_scale: int = 1
) -> tuple[_LoanPeriod, set[str]]:
    """The loan file's figures, balances in the asset's base units (the records' sums
    times ``unit_scale``, base units per record unit)."""
    u = unit_scale
    ids = [str(x) for x in table.column("loan_id").to_pylist()]
    beg = table.column("beginning_balance").to_numpy().astype(np.int64)
    end = table.column("ending_balance").to_numpy().astype(np.int64)
    dq = table.column("delinquency").to_numpy().astype(np.int64)
    d = table.column("defaulted").to_numpy(zero_copy_only=False).astype(bool)
    liq = table.column("liquidated").to_numpy(zero_copy_only=False).astype(bool)
    was = np.array([i in prev_defaulted for i in ids], dtype=bool)
    live = end > 0
    masks = (dq == 1, dq == 2, dq >= 3)  # as the report's buckets (months past due)
    counts = tuple(int((m & live).sum()) for m in masks)
    bals = tuple(int(end[m].sum()) * u for m in masks)
    open_def = d & ~liq
    fig = _LoanPeriod(
        dq_count=(counts[0], counts[1], counts[2]),
        dq_balance=(bals[0], bals[1], bals[2]),
        defaulted_open_count=int((open_def & live).sum()),
        defaulted_open_balance=int(end[open_def].sum()) * u,
        new_default_balance=int(beg[d & ~was].sum()) * u,
        performing_begin=int(beg[~was].sum()) * u,
        loans_begin=int((beg > 0).sum()),
    )
    if "state" in table.column_names:
        fig = _state_figures(table, fig, end, beg, u)
    now = {ids[i] for i in np.flatnonzero(d & ~liq).tolist()}
    return fig, now


def period_state_figures(loans_dir: Path, period: int, unit_scale: int = 1) -> _LoanPeriod | None:
    """The state figures of one period's loan file (None when the file is missing or
    has no ``state`` column); balances in base units (``unit_scale`` per record unit)."""
    f = loan_file(loans_dir, period)
    if f is None:
        return None
    lp = _loan_figures(_read_loans(f), set(), unit_scale)[0]
    return lp if lp.states is not None else None


def _state_figures(table: pa.Table, fig: _LoanPeriod, end: Any, beg: Any, u: int) -> _LoanPeriod:
    """The loan file's state figures (:data:`STATE_ROWS`), in base units.

    A loan in a live state with a pay-off status (bought by the deal's clean-up call:
    the file's state is the servicer's, the trust was paid off) counts as prepaid.
    """
    from dataclasses import replace

    state = table.column("state").to_numpy(zero_copy_only=False).astype(np.int64)
    if "status" in table.column_names:
        status = table.column("status").to_numpy(zero_copy_only=False).astype(np.int64)
        bought = np.isin(state, list(_LIVE_CODES)) & np.isin(status, _PAID_OFF)
        state = np.where(bought, int(LoanState.PREPAID), state)
    rows = []
    for st in STATE_ROWS:
        m = state == int(st)
        bal = end if int(st) in _LIVE_CODES else beg
        rows.append((int(m.sum()), int(bal[m].sum()) * u))

    def flag(name: str) -> Any:
        if name not in table.column_names:
            return None
        col = table.column(name)
        if col.null_count == len(col):
            return None
        return col.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)

    live = np.isin(state, list(_LIVE_CODES))
    mod_now, mod, forb = flag("modification"), flag("modified"), flag("forbearance")
    cap = (
        table.column("capitalised_arrears").to_numpy().astype(np.int64)
        if "capitalised_arrears" in table.column_names
        else None
    )
    return replace(
        fig,
        states=tuple(rows),
        modifications=None
        if mod_now is None
        else (
            int(mod_now.sum()),
            int(end[mod_now].sum()) * u,
            int(cap[mod_now].sum()) * u if cap is not None else 0,
        ),
        modified=None if mod is None else (int((mod & live).sum()), int(end[mod & live].sum()) * u),
        forbearance=None if forb is None else (int((forb & live).sum()), int(end[forb & live].sum()) * u),
    )


def _check(period: int, what: str, engine: int, chain: int) -> None:
    if int(engine) != int(chain):
        raise DataIntegrityError(
            f"period {period}: {what}: event store {int(chain)}, exact engine {int(engine)}"
        )


# ------------------------------------------------------------------ the builder

_REPORT_TEXT = ("digest", "loan_tape_root", "signers", "tx_hash")


@dataclass(frozen=True)
class _Deal:
    """The deal as the statements see it: spec, compiled engine parameters, labels."""

    spec: Any
    exact: Any
    decimals: int
    names: tuple[str, ...]
    bears_principal: tuple[bool, ...]
    #: what the run's servicer advanced (``none``, ``principal``, ``all``), if recorded
    advance_policy: str | None = None
    #: decimals of the loan files' money (``min(decimals, 9)``)
    record_decimals: int | None = None

    @property
    def unit_scale(self) -> int:
        """Asset base units per loan-record unit (1 up to 9 decimals)."""
        rdec = self.decimals if self.record_decimals is None else self.record_decimals
        return int(10 ** (self.decimals - rdec))

    @property
    def n(self) -> int:
        return int(self.exact.n_tranches)

    def classes_up_to(self, balances: Sequence[int], rank: int) -> int:
        """Sum of the principal-bearing classes of priority ``rank`` and senior."""
        e = self.exact
        return sum(
            balances[i] for i in range(self.n) if self.bears_principal[i] and e.priority[i] <= rank
        )


@dataclass(frozen=True)
class _Period:
    """What one period gives the sections: the accepted report, the engine's state
    before and after and its result, the distribution event, the loan files' figures."""

    report: Any
    prev: Any
    state: Any
    res: Any
    dist: Mapping[str, Any]
    loans: _LoanPeriod | None
    #: other income distributed with the period (late-report penalties paid by the
    #: servicer's bond: ``Deal.OtherIncomeDistributed``), base units
    other_income: int = 0

    @property
    def period(self) -> int:
        return int(self.report.period)

    @property
    def final(self) -> bool:
        return bool(self.report.ending_balance == 0)


@dataclass
class _History:
    """Running figures across periods (the performance windows, cumulative loss)."""

    smm: list[float | None]
    mdr: list[float | None]
    liquidations: list[tuple[int, int]]  # (losses, proceeds)
    cum_loss: int = 0
    advances_outstanding: int = 0  # advances made less advances reimbursed, to date


def _load_deal(closing: Mapping[str, Any]) -> _Deal:
    from openmbs.structuring import compile_exact

    spec = closing["deal_spec"]  # validated by _closing
    exact = compile_exact(spec)
    return _Deal(
        spec=spec,
        exact=exact,
        decimals=int(closing["decimals"]),
        names=tuple(exact.names),
        bears_principal=tuple(exact.flags[i] & 1 == 0 for i in range(exact.n_tranches)),  # F_IO = 1
        advance_policy=(closing.get("config") or {}).get("advance"),
        record_decimals=closing.get("record_decimals"),
    )


def _read_events(
    con_or_db_path: Any,
) -> tuple[list[Any], dict[int, Any], dict[tuple[int, int], Any], dict[int, int]]:
    """Accepted reports (checked: periods 1, 2, ... in order), distributions by period,
    allocations by (period, class), other income (late-report penalties) by period."""
    from openmbs.indexer import accepted_remittances, distributions, other_income, tranche_payments

    con, owned = _open(con_or_db_path)
    try:
        reps = accepted_remittances(con).to_pylist()
        dists = {int(r["period"]): r for r in distributions(con).to_pylist()}
        allocs = {(int(r["period"]), int(r["tranche"])): r for r in tranche_payments(con).to_pylist()}
        others = other_income(con)
    finally:
        if owned is not None:
            owned.close()
    reports = []
    for k, r in enumerate(reps, start=1):
        if int(r["period"]) != k:
            raise DataIntegrityError(
                f"event store: accepted report {k} is for period {r['period']} (a period is "
                "missing or repeated)"
            )
        reports.append(
            SimpleNamespace(
                **{f: (v if f in _REPORT_TEXT or v is None else int(v)) for f, v in r.items()}
            )
        )
    return reports, dists, allocs, others


def _check_events(d: _Deal, pp: _Period, allocs: Mapping[tuple[int, int], Any]) -> None:
    """Every figure the events carry must be the engine's (raises DataIntegrityError)."""
    p, res, dist = pp.period, pp.res, pp.dist
    for i, name in enumerate(d.names):
        a = allocs.get((p, i))
        if a is None:
            raise DataIntegrityError(f"event store: period {p}: no allocation of class {name}")
        _check(p, f"class {name} interest", res.interest_paid[i], a["interest"])
        _check(p, f"class {name} principal", res.principal_paid[i], a["principal"])
        _check(p, f"class {name} loss", res.writedown[i], a["loss"])
        _check(p, f"class {name} balance", res.ending_balance[i], a["balance"])
        _check(p, f"class {name} interest shortfall", res.interest_shortfall[i], a["interest_shortfall"])
    _check(p, "fees", sum(res.fees_paid), dist["fee"])
    _check(p, "residual", res.residual_paid, dist["residual"])
    # the deal's reserve account holds the reserve and the rounding dust
    _check(p, "reserve account (reserve + rounding dust)", res.reserve_balance + res.dust, dist["reserve_balance"])
    try:
        latch_word: int | None = int(json.loads(dist["state"])[2]) & 0xFF
    except (TypeError, ValueError, IndexError, json.JSONDecodeError):
        latch_word = None
    if latch_word is not None:
        for k in range(d.exact.n_triggers):
            _check(p, f"trigger {k} latch", int(pp.state.latch[k]), (latch_word >> k) & 1)


def _loan_period(
    loans_dir: Path, report: Any, prev_defaulted: set[str], unit_scale: int = 1
) -> tuple[_LoanPeriod | None, set[str]]:
    """The loan file's figures of the period (None when there is no file), in the
    asset's base units (``unit_scale`` per record unit), checked against the report's
    delinquent balances."""
    f = loan_file(loans_dir, int(report.period))
    if f is None:
        return None, prev_defaulted
    lp, now = _loan_figures(_read_loans(f), prev_defaulted, unit_scale)
    for b, field in enumerate(("delinquent_30", "delinquent_60", "delinquent_90_plus")):
        if lp.dq_balance[b] != getattr(report, field):
            raise DataIntegrityError(
                f"file {str(f)!r}: period {report.period}: field {field!r}: loan-level sum "
                f"{lp.dq_balance[b]}, accepted report {getattr(report, field)}"
            )
    return lp, now


def _dates(d: _Deal, period: int) -> dict[str, Any]:
    spec = d.spec
    dist_date = _add_months(spec.first_payment_date, period - 1)
    prev_month_end = dist_date.replace(day=1) - dt.timedelta(days=1)
    return {
        "distribution_date": dist_date.isoformat(),
        "record_date": prev_month_end.isoformat(),
        "collection_period_start": prev_month_end.replace(day=1).isoformat(),
        "collection_period_end": prev_month_end.isoformat(),
        "closing_date": spec.closing_date.isoformat(),
        "first_distribution_date": spec.first_payment_date.isoformat(),
    }


def _classes(d: _Deal, pp: _Period) -> list[dict[str, Any]]:
    res, prev, state = pp.res, pp.prev, pp.state
    by_name = {t.name: t for t in d.spec.tranches}
    rows = []
    for i, name in enumerate(d.names):
        ts = by_name.get(name)
        face = d.exact.face[i]
        beg = res.beginning_balance[i]
        current_due = res.interest_due[i] - prev.shortfall[i]
        rows.append(
            {
                "name": name,
                # an IO strip: its "face" and balances are a notional, not money owed
                "notional": not d.bears_principal[i],
                "original_face": face,
                "coupon_kind": ts.coupon if ts else None,
                "coupon": ts.rate if ts and ts.coupon in ("fixed", "fixed_capped") else None,
                "effective_rate": (current_due * 12 / beg) if beg else None,
                "beginning_balance": beg,
                "interest_due": res.interest_due[i],
                "interest_paid": res.interest_paid[i],
                "interest_shortfall": res.interest_due[i] - res.interest_paid[i] - res.accreted[i],
                "unpaid_interest_carried": res.interest_shortfall[i],
                "accreted": res.accreted[i],
                "principal_paid": res.principal_paid[i],
                "realised_loss": res.writedown[i],
                "writeup": res.writeup[i],
                "ending_balance": res.ending_balance[i],
                "factor": res.ending_balance[i] / face if face else None,
                "interest_per_1000": res.interest_paid[i] * 1000 / face if face else None,
                "principal_per_1000": res.principal_paid[i] * 1000 / face if face else None,
                "cumulative_realised_loss": int(state.writedown[i]),
            }
        )
    return rows


def _pool(d: _Deal, pp: _Period, hist: _History) -> dict[str, Any]:
    r, res, state, lp = pp.report, pp.res, pp.state, pp.loans
    e = d.exact
    orig = e.pool_original
    fee_names = list(e.fee_names) or [f.name for f in d.spec.fees]
    return {
        "beginning_balance": r.beginning_balance,
        "scheduled_principal": r.scheduled_principal,
        "unscheduled_principal": r.unscheduled_principal,
        "liquidation_proceeds": r.recoveries,
        "subsequent_recoveries": r.subsequent_recoveries,
        "realised_loss": r.losses,
        "cumulative_realised_loss": hist.cum_loss,
        "cumulative_net_loss": int(state.cum_loss),
        "cumulative_net_loss_pct": state.cum_loss / orig if orig else None,
        "ending_balance": r.ending_balance,
        "original_balance": orig,
        "pool_factor": r.ending_balance / orig if orig else None,
        "interest_collected": r.interest,
        "cash_remitted": r.cash,
        "late_report_penalty_to_holders": pp.other_income,
        "principal_remittance": r.scheduled_principal
        + r.unscheduled_principal
        + r.recoveries
        - r.liquidation_reimbursements
        + r.subsequent_recoveries,
        "prepayment_penalties": r.prepayment_penalties,
        "principal_distributed": sum(res.principal_paid),
        "interest_distributed": sum(res.interest_paid),
        "fees": [
            {
                "name": fee_names[k] if k < len(fee_names) else f"fee{k}",
                "paid": res.fees_paid[k],
                "unpaid": int(state.fee_shortfall[k]),
            }
            for k in range(e.n_fees)
        ],
        "fees_paid": sum(res.fees_paid),
        "residual_paid": res.residual_paid,
        # units of rounding kept by the deal this period, and held (paid out at the end)
        "rounding_retained": res.dust_change,
        "rounding_held": res.dust,
        "loan_count_beginning": lp.loans_begin if lp is not None else None,
        "loan_count_ending": r.loan_count,
        "final_distribution": pp.final,
        # the report does not tell the call from the last loans paying off: true in
        # the final period of a deal that has a clean-up call
        "cleanup_call": bool(pp.final and d.spec.cleanup_call > 0),
        # servicing cash, from the report (docs/chain.md, "Advances and penalties")
        "servicer_advances": r.advances,
        "advance_reimbursements": r.advance_reimbursements,
        "liquidation_reimbursements": r.liquidation_reimbursements,
        "advances_outstanding": hist.advances_outstanding,
        "late_fees": r.late_fees,
        "servicer_advance_policy": d.advance_policy,
        # loss mitigation, from the loan files' state columns (null without them)
        **_loss_mitigation(lp),
    }


def _loss_mitigation(lp: _LoanPeriod | None) -> dict[str, int | None]:
    """Modifications that took effect in the period (count, ending balance, arrears
    capitalised as the servicer reports them), loans under a modification and loans in
    a forbearance plan at the period's end (count, balance); null where not known."""
    mods = lp.modifications if lp is not None else None
    modified = lp.modified if lp is not None else None
    forb = lp.forbearance if lp is not None else None
    return {
        "modifications_count": mods[0] if mods else None,
        "modifications_balance": mods[1] if mods else None,
        "modifications_capitalised_arrears": mods[2] if mods else None,
        "modified_loans_count": modified[0] if modified else None,
        "modified_loans_balance": modified[1] if modified else None,
        "forbearance_count": forb[0] if forb else None,
        "forbearance_balance": forb[1] if forb else None,
    }


def _loan_states(pp: _Period) -> list[dict[str, Any]]:
    """One row per :data:`STATE_ROWS`: count and balance (null without states)."""
    r, lp = pp.report, pp.loans
    states = lp.states if lp is not None else None
    rows = []
    for k, st in enumerate(STATE_ROWS):
        live = int(st) in _LIVE_CODES
        count, bal = states[k] if states is not None else (None, None)
        base = r.ending_balance if live else r.beginning_balance
        rows.append(
            {
                "name": st.label,
                "code": int(st),
                "when": "end of period" if live else "left in the period",
                "count": count,
                "balance": bal,
                "pct_balance": _ratio(bal, base) if bal is not None else None,
            }
        )
    return rows


def _delinquency(pp: _Period) -> list[dict[str, Any]]:
    r, lp = pp.report, pp.loans
    end = r.ending_balance

    def row(name: str, count: int | None, balance: int | None) -> dict[str, Any]:
        return {
            "name": name,
            "count": count,
            "balance": balance,
            "pct_balance": _ratio(balance, end) if balance is not None else None,
            "pct_count": _ratio(count, r.loan_count) if count is not None else None,
        }

    rows = [
        row(label, lp.dq_count[b] if lp is not None else None, bal)
        for b, (label, bal) in enumerate(
            (
                ("30-59 days", r.delinquent_30),
                ("60-89 days", r.delinquent_60),
                ("90+ days", r.delinquent_90_plus),
            )
        )
    ]
    if lp is not None:
        rows.append(row("defaulted, awaiting liquidation", lp.defaulted_open_count, lp.defaulted_open_balance))
    states = lp.states if lp is not None else None
    for st in (LoanState.FORECLOSURE, LoanState.REO):  # from the loan files' state (null without)
        c, b = states[STATE_ROWS.index(st)] if states is not None else (None, None)
        rows.append(row(st.label, c, b))
    return rows


def _credit_enhancement(d: _Deal, pp: _Period) -> dict[str, Any]:
    e, res, end = d.exact, pp.res, pp.report.ending_balance
    classes_end = d.classes_up_to(res.ending_balance, max(e.priority, default=0))
    oc_amount = end - classes_end
    oc_target = None
    for k, t in enumerate(d.spec.triggers):
        if t.test == "overcollateralization" and k < e.n_triggers:
            den = d.classes_up_to(res.ending_balance, e.priority[e.trig_ref[k]])
            # what the next period's test needs: pool >= threshold x these classes
            need = -(-e.trig_threshold[k] * den // _WAD) - den
            oc_target = need if oc_target is None else max(oc_target, need)
    has_reserve = d.spec.reserve is not None
    target = max(e.reserve_floor, end * e.reserve_pct // _WAD) if end > 0 else 0
    return {
        "reserve_beginning": pp.prev.reserve,
        "reserve_draw": res.reserve_draw,
        "reserve_deposit": res.reserve_deposit,
        "reserve_release": res.reserve_release,
        "reserve_ending": res.reserve_balance,
        "reserve_target": target if has_reserve else None,
        "reserve_vs_target": res.reserve_balance - target if has_reserve else None,
        "oc_amount": oc_amount,
        "oc_pct": _ratio(oc_amount, end),
        "oc_target": oc_target,
        "oc_vs_target": oc_amount - oc_target if oc_target is not None else None,
        "subordination": [
            {"name": d.names[i], "pct": _ratio(end - d.classes_up_to(res.ending_balance, e.priority[i]), end)}
            for i in range(d.n)
            if d.bears_principal[i]
        ],
    }


def _triggers(d: _Deal, pp: _Period) -> list[dict[str, Any]]:
    """Each trigger as the engine tests it (same figures, same date)."""
    e, r, res, state = d.exact, pp.report, pp.res, pp.state
    specs = list(d.spec.triggers)
    rows = []
    for k in range(e.n_triggers):
        t = specs[k] if k < len(specs) else None
        test = t.test if t else "unknown"
        value: float | None = None
        compare = ">"
        if test == "overcollateralization":
            den = d.classes_up_to(res.beginning_balance, e.priority[e.trig_ref[k]])
            value, compare = _ratio(r.beginning_balance, den), "<"
            note = "pool / classes, beginning of the period" if den else "no class outstanding: not tested"
        elif test == "cumulative_loss":
            value = _ratio(state.cum_loss, e.pool_original)
            note = "net cumulative loss / original pool"
        elif test == "delinquency_60":
            value = _ratio(r.delinquent_60 + r.delinquent_90_plus, r.ending_balance)
            note = "60+ days / ending pool" if r.ending_balance else "pool paid off: not tested"
        else:
            compare = "<"
            note = "value not computed (interest coverage: see the engine's state)"
        rows.append(
            {
                "name": t.name if t else f"trigger{k}",
                "test": test,
                "value": value,
                "threshold": e.trig_threshold[k] / _WAD,
                "fails_when": f"value {compare} threshold",
                "failing": bool(res.trigger_failing[k]),
                "state": "tripped" if state.latch[k] else "pass",
                "curable": bool(e.trig_curable[k]),
                "effects": list(t.effects) if t else [],
                "note": note,
            }
        )
    return rows


def _performance(hist: _History, with_loans: bool) -> list[dict[str, Any]]:
    rows = []
    for label, months in WINDOWS:
        sl = slice(-months, None) if months else slice(None)
        smm = _avg_rate([x for x in hist.smm[sl] if x is not None])
        mdr = _avg_rate([x for x in hist.mdr[sl] if x is not None]) if with_loans else None
        liq = hist.liquidations[sl]
        rows.append(
            {
                "name": label,
                "months": len(hist.smm[sl]),
                "smm": smm,
                "cpr": _cpr(smm) if smm is not None else None,
                "mdr": mdr,
                "cdr": _cpr(mdr) if mdr is not None else None,
                "severity": _ratio(sum(a for a, _ in liq), sum(a + b for a, b in liq)),
            }
        )
    return rows


def _evidence(pp: _Period) -> dict[str, Any]:
    r, res = pp.report, pp.res
    return {
        "loan_tape_root": r.loan_tape_root,
        "report_hash": r.digest,
        "report_hash_kind": "EIP-712 digest of the remittance report",
        "attestors": json.loads(r.signers) if r.signers else [],
        "remittance_tx": r.tx_hash,
        "remittance_block": r.block_number,
        "distribution_tx": pp.dist["tx_hash"],
        "engine_matches_chain": True,  # _check_events raised otherwise
        "cash_in": res.cash_in,
        "cash_out": res.cash_out,
        "cash_conserved": res.cash_in
        == res.cash_out + res.reserve_deposit - res.reserve_draw - res.reserve_release + res.dust_change,
    }


def _notes(pp: _Period, cleanup_call: bool) -> tuple[str, ...]:
    lp = pp.loans
    with_states = lp is not None and lp.states is not None
    notes = [
        "servicer advances are not modelled yet (shown as null)"
        if with_states
        else "servicer advances, loan states, modifications, foreclosure and REO are not modelled "
        "in this run (shown as null)",
        "dates follow the deal's schedule (distribution on the first distribution date's day of "
        "each month, record date the last day of the preceding month); business days are not modelled",
    ]
    if pp.loans is None:
        notes.append("loan-level file missing: loan counts and CDR not shown")
    elif with_states and lp is not None and lp.forbearance is None:
        notes.append("forbearance is not reported by this history's file (shown as null)")
    if with_states:
        notes.append(
            "loan states are the servicer's, as the loan files record them; REO, liquidated, "
            "prepaid and the sales count the loans that left the pool in the period"
        )
    if pp.final:
        notes.append(
            "final distribution: the pool's remaining balance was paid off"
            + (" (the deal's clean-up call, or its last loans)" if cleanup_call else "")
            + "; this month is left out of the prepayment speeds"
        )
    return tuple(notes)


def _record(hist: _History, pp: _Period) -> None:
    """Add the period to the running figures. The final period's SMM is 1 by
    construction (the pool paid off): not a prepayment speed, left out."""
    r, lp = pp.report, pp.loans
    base = r.beginning_balance - r.scheduled_principal
    hist.smm.append(None if pp.final or base <= 0 else r.unscheduled_principal / base)
    perf = lp.performing_begin if lp is not None else 0
    hist.mdr.append(lp.new_default_balance / perf if lp is not None and perf > 0 else None)
    hist.liquidations.append((r.losses, r.recoveries))
    hist.cum_loss += r.losses
    hist.advances_outstanding += r.advances - r.advance_reimbursements


def period_statements(
    con_or_db_path: Any,
    *,
    deal: str | Path | None = None,
    loans_dir: str | Path | None = None,
) -> list[DistributionStatement]:
    """Every period's distribution statement, from the event store and the run folder.

    Parameters
    ----------
    con_or_db_path
        The event store: a path to ``events.duckdb`` (opened read-only, checked as an
        untrusted file), an open ``EventStore`` or a DuckDB connection.
    deal
        The run folder or its ``closing.json`` (the deal as sized at closing); ``None``
        reads ``closing.json`` beside the event store file.
    loans_dir
        Folder of the loan-level files (default ``<run folder>/loans``); without it,
        loan counts by delinquency and the CDR are ``None``.

    Returns
    -------
    list of DistributionStatement
        One per accepted period, in order.

    Raises
    ------
    InputError
        No run folder / closing.json, or no event store file.
    DataIntegrityError
        The event store disagrees with the exact engine run on its own reports, a loan
        file with the report, or a period is missing.

    Notes
    -----
    Speeds follow the SIFMA Standard Formulas: ``SMM = unscheduled / (beginning -
    scheduled)``, ``CPR = 1 - (1 - SMM)^12``, MDR on the balance not defaulted at the
    start, ``CDR = 1 - (1 - MDR)^12``; over a window the monthly rate is the geometric
    mean. See ``docs/report.md`` for every field.
    """
    from openmbs.structuring import apply_period, exact_remittance, initial_state

    run = _run_folder(con_or_db_path, deal)
    if run is None:
        raise InputError("deal=: pass the run folder (or its closing.json) with a connection")
    d = _load_deal(_closing(run))
    ldir = Path(loans_dir) if loans_dir is not None else run / "loans"
    reports, dists, allocs, others = _read_events(con_or_db_path)

    state = initial_state(d.exact)
    hist = _History(smm=[], mdr=[], liquidations=[])
    defaulted: set[str] = set()
    loans_ok = True
    out: list[DistributionStatement] = []
    for r in reports:
        dist = dists.get(int(r.period))
        if dist is None:
            raise DataIntegrityError(f"event store: period {r.period} was accepted but not distributed")
        prev = state
        other = others.get(int(r.period), 0)
        state, res = apply_period(d.exact, state, exact_remittance(r, other_income=other))
        lp = None
        if loans_ok:  # from the first missing file on, no loan figures (new defaults need the previous file)
            lp, defaulted = _loan_period(ldir, r, defaulted, d.unit_scale)
            loans_ok = lp is not None
        pp = _Period(report=r, prev=prev, state=state, res=res, dist=dist, loans=lp, other_income=other)
        _check_events(d, pp, allocs)
        _record(hist, pp)
        pool = _pool(d, pp, hist)
        out.append(
            DistributionStatement(
                deal=d.spec.name,
                period=pp.period,
                decimals=d.decimals,
                dates=_dates(d, pp.period),
                classes=tuple(_classes(d, pp)),
                pool=pool,
                delinquency=tuple(_delinquency(pp)),
                loan_states=tuple(_loan_states(pp)),
                credit_enhancement=_credit_enhancement(d, pp),
                triggers=tuple(_triggers(d, pp)),
                performance=tuple(_performance(hist, lp is not None)),
                evidence=_evidence(pp),
                notes=_notes(pp, bool(pool["cleanup_call"])),
            )
        )
    return out


# ------------------------------------------------------------------ CSV


def _csv_value(v: Any) -> tuple[str, str]:
    if v is None:
        return "", "null"
    if isinstance(v, bool):
        return ("true" if v else "false"), "bool"
    if isinstance(v, int):
        return str(v), "int"
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "", "float"
    if isinstance(v, list):
        return json.dumps(v), "json"
    return str(v), "str"


def statement_csv_rows(statements: DistributionStatement | Sequence[DistributionStatement]) -> list[dict[str, str]]:
    """Long-format CSV rows of one or more statements.

    Columns: ``period``, ``section``, ``item`` (the row's name in a list section: class,
    bucket, trigger, window, fee; empty otherwise), ``field``, ``value`` (text; empty for
    null), ``type`` (``int``, ``float``, ``bool``, ``str``, ``json``, ``null``) so that
    :func:`statement_from_csv_rows` gives back :meth:`DistributionStatement.as_dict`.
    """
    items = [statements] if isinstance(statements, DistributionStatement) else list(statements)
    rows: list[dict[str, str]] = []
    for st in items:
        d = st.as_dict()

        def add(section: str, item: str, field: str, value: Any, *, _p: int = st.period) -> None:
            text, kind = _csv_value(value)
            rows.append({"period": str(_p), "section": section, "item": item, "field": field,
                         "value": text, "type": kind})

        add("header", "", "deal", d["deal"])
        add("header", "", "decimals", d["decimals"])
        for s in SECTIONS:
            sec = d[s]
            if isinstance(sec, list):
                for row in sec:
                    for k, v in row.items():
                        if k != "name":
                            add(s, str(row["name"]), k, v)
            else:
                for k, v in sec.items():
                    if isinstance(v, list) and v and isinstance(v[0], dict):
                        for row in v:
                            for kk, vv in row.items():
                                if kk != "name":
                                    add(s, f"{k}:{row['name']}", kk, vv)
                    else:
                        add(s, "", k, v)
        for i, note in enumerate(d["notes"]):
            add("notes", str(i), "text", note)
    return rows


_LIST_SECTIONS = ("classes", "delinquency", "loan_states", "triggers", "performance")


def _parse(value: str, kind: str) -> Any:
    if kind == "null":
        return None
    if kind == "bool":
        return value == "true"
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value) if value else None
    if kind == "json":
        return json.loads(value)
    return value


def statement_from_csv_rows(rows: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """The nested dicts (:meth:`DistributionStatement.as_dict`) of CSV rows written by
    :func:`statement_csv_rows`, one per period, in order of appearance."""
    by: dict[int, dict[str, Any]] = {}
    for n, row in enumerate(rows, start=1):
        try:
            p = int(row["period"])
            section, item, field = row["section"], row["item"], row["field"]
            value = _parse(row["value"], row["type"])
        except (KeyError, ValueError) as exc:
            raise InputError(f"CSV row {n}: {exc!r} in {dict(row)!r}") from None
        d = by.setdefault(p, {"deal": None, "period": p, "decimals": None,
                              **{s: {} for s in SECTIONS}, "notes": []})
        if section == "header":
            d[field] = value
        elif section == "notes":
            d["notes"].append(value)
        elif item == "":
            d[section][field] = value
        elif ":" in item and section not in _LIST_SECTIONS:
            key, name = item.split(":", 1)
            lst = d[section].setdefault(key, [])
            if not lst or lst[-1]["name"] != name:
                lst.append({"name": name})
            lst[-1][field] = value
        else:
            lst = d[section] if isinstance(d[section], list) else []
            if not isinstance(d[section], list):
                d[section] = lst
            if not lst or lst[-1]["name"] != item:
                lst.append({"name": item})
            lst[-1][field] = value
    for d in by.values():
        for s in _LIST_SECTIONS:
            if d[s] == {}:
                d[s] = []
    return list(by.values())


# ------------------------------------------------------------------ files

CSV_COLUMNS = ("period", "section", "item", "field", "value", "type")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _csv_text(rows: Sequence[Mapping[str, str]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_statements(
    statements: Sequence[DistributionStatement],
    out: str | Path,
    *,
    periods: Sequence[int] | None = None,
) -> list[Path]:
    """Write ``period=NNNN.html``, ``.csv`` and ``.json`` for each statement (or only
    ``periods``) and ``index.html`` / ``index.json`` listing them, into ``out``.

    Each file is written to a temporary name and renamed. Returns the paths written.
    """
    from openmbs.report._statement_html import index_html

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in statements if periods is None or s.period in set(periods)]
    written: list[Path] = []
    stems = []
    for st in chosen:
        stem = f"period={st.period:04d}"
        stems.append(stem)
        history = [h for h in statements if h.period <= st.period]
        for ext, text in (
            ("html", st.to_html(history)),
            ("csv", _csv_text(statement_csv_rows(st))),
            ("json", st.to_json()),
        ):
            path = folder / f"{stem}.{ext}"
            _atomic_write(path, text)
            written.append(path)
    _atomic_write(folder / "index.html", index_html(chosen, files=stems))
    index = [
        {
            "period": st.period,
            "distribution_date": st.dates["distribution_date"],
            "files": {ext: f"{stem}.{ext}" for ext in ("html", "csv", "json")},
        }
        for st, stem in zip(chosen, stems, strict=True)
    ]
    _atomic_write(folder / "index.json", json.dumps({"deal": chosen[0].deal if chosen else None,
                                                     "statements": index}, indent=1))
    written += [folder / "index.html", folder / "index.json"]
    return written
