"""A real pool's history on chain: ``openmbs replay``.

The pool forms at a cut-off month from the loans outstanding then; the deal is sized to
it; each later month of the agency's performance file becomes that month's loan records
(:func:`openmbs.servicing.records_for_period`), which run through the demo's stages
unchanged (:mod:`openmbs.sim._stages`): attested Merkle-committed remittances, the
waterfall, claims, the indexer, the audit and the report.

Three facts of real histories do not fit the oracle's bounds as the file states them;
:class:`HistoryRecords` reports them as follows (docs/replay.md, "Findings"):

1. **The trust's balance of a loan never rises.** A modification that capitalises
   arrears (and the few cents by which a rebuilt masked UPB differs from the first
   reported one) raises the reported UPB above last month's; the oracle requires each
   report's beginning balance to be the last ending balance. The trust's balance of a
   loan continues from its last ending balance; the reported UPB's excess over it
   (capitalised arrears) is not trust principal: principal is recognised when the UPB
   falls below the trust's balance, a payoff pays the trust's balance, a credit event
   writes off the trust's balance (loss ``min(realised loss, trust balance)``).
   Interest is scaled to the trust's balance.
2. **The 60-89 bucket fills only from last month's 30-59.** A file may show a loan
   current and 60 days late the next month (a reversed payment): the report carries it
   one bucket behind the file (``min(file, last reported + 1)``) until it catches up
   (``delinquency_lagged`` loan-months). A loan 60+ days late that pays one installment
   stays 60-89 days late, or a 90+ loan catches up to 60-89: the report keeps it in
   the 90+ bucket (``delinquency_deepened`` loan-months); the 60+ balance the
   delinquency triggers test is the file's.
3. **A month missing from a loan's history** (loan 100227259034 of the 2007 Q3 file has
   none from 01/2014 to 04/2014) is filled from the last reported month: nothing paid,
   the balance unchanged, one more month past due each month.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs.errors import DataIntegrityError, InputError
from openmbs.sim._config import LifecycleConfig, LifecycleResult, Progress
from openmbs.sim._lifecycle import _restores_boa_env

__all__ = [
    "HistoryRecords",
    "history_tape",
    "load_history",
    "replay",
    "replay_figures",
    "replay_months",
]

IntArray = npt.NDArray[np.int64]

#: the simulator's status codes (openmbs.sim.STATUS_*)
_PREPAID, _MATURED = 4, 5

#: Columns of a real history's records that a replay's loan files keep beside the
#: oracle's (``loans/period=NNNN/part-0.parquet``): the month's ``LoanState`` code and
#: its loss mitigation (``openmbs.servicing.HISTORY_RECORD_COLUMNS``); a column the
#: agency's file does not report (Fannie Mae's forbearance) is left out.
STATE_COLUMNS = ("state", "modified", "modification", "capitalised_arrears", "forbearance")


def _month(text: str, what: str) -> int:
    """``YYYY-MM`` as a month index (year * 12 + month - 1)."""
    parts = text.strip().split("-")
    if len(parts) == 2 and all(p.isdigit() for p in parts) and len(parts[0]) == 4 and 1 <= int(parts[1]) <= 12:
        return int(parts[0]) * 12 + int(parts[1]) - 1
    raise InputError(f"{what} value {text!r}: not a month (need YYYY-MM)")


def _ym(m: int) -> str:
    return f"{m // 12:04d}-{m % 12 + 1:02d}"


def load_history(acquisition: str | os.PathLike[str], performance: str | os.PathLike[str]) -> Any:
    """The loan history of an agency's acquisition/origination and performance files,
    with gaps in a live loan's months filled (module docstring, 3). Raises
    :class:`InputError` for a missing file."""
    from openmbs.servicing import read_fannie_performance, read_freddie_servicing

    for flag, p in (("--acquisition", acquisition), ("--performance", performance)):
        if not Path(p).is_file():
            raise InputError(f"{flag} file {str(p)!r}: not found")
    with open(performance, encoding="utf-8", errors="replace") as f:
        first = f.readline()
    fields = first.rstrip("\r\n").split("|")
    if len(fields) == 32:
        h = read_freddie_servicing(acquisition, performance)
    else:
        h = read_fannie_performance(acquisition, performance)
    return _fill_gaps(h)


def _month_index(months: pa.Table) -> IntArray:
    mo = months.column("month").to_numpy().astype("datetime64[M]").astype(np.int64)
    return np.asarray(mo + 1970 * 12, dtype=np.int64)


def _fill_gaps(h: Any) -> Any:
    """Each missing month of a loan between two of its rows becomes a copy of the row
    before the gap, with its month and one more month past due per month (nothing
    paid; the state the bucket of that delinquency, up to 120+); no arrears
    capitalised, no modification taking effect."""
    from dataclasses import replace

    months: pa.Table = h.months
    mo = _month_index(months)
    loan = np.asarray(months.column("loan_id").to_numpy(zero_copy_only=False))
    same = loan[1:] == loan[:-1]
    gap = np.flatnonzero(same & (mo[1:] - mo[:-1] > 1))
    if not gap.size:
        return h
    take: list[int] = []
    new_month: list[int] = []
    dq_before = np.asarray(months.column("delinquency").to_numpy(zero_copy_only=False), dtype=np.float64)
    deeper: list[float] = []
    for i in gap.tolist():
        for m in range(int(mo[i]) + 1, int(mo[i + 1])):
            take.append(i)
            new_month.append(m)
            deeper.append(dq_before[i] + (m - mo[i]) if dq_before[i] >= 0 else dq_before[i])
    extra = months.take(pa.array(take, pa.int64()))
    dq_field = months.schema.field("delinquency")
    extra = extra.set_column(
        extra.schema.get_field_index("delinquency"),
        "delinquency",
        pa.array(np.asarray(deeper)).cast(dq_field.type),
    )
    # a filled month's state follows its deeper delinquency (the buckets 30 .. 120+);
    # foreclosure and unknown stay as reported before the gap
    st = extra.column("state").to_numpy().astype(np.int64)
    bucket = (st >= 0) & (st <= 4) & (np.asarray(deeper) >= 0)
    st = np.where(bucket, np.minimum(np.asarray(deeper, np.float64), 4), st)
    extra = extra.set_column(
        extra.schema.get_field_index("state"), "state", pa.array(st.astype(np.int8), pa.int8())
    )
    days = np.array(
        [(dt.date(m // 12, m % 12 + 1, 1) - dt.date(1970, 1, 1)).days for m in new_month], np.int32
    )
    extra = extra.set_column(
        extra.schema.get_field_index("month"),
        "month",
        pa.array(days, months.schema.field("month").type),
    )
    for name in ("capitalised_arrears", "modification"):
        if name in extra.column_names:
            zero = pa.array(np.zeros(extra.num_rows), pa.float64()).cast(extra.schema.field(name).type)
            extra = extra.set_column(extra.schema.get_field_index(name), name, zero)
    allm = pa.concat_tables([months, extra.cast(months.schema)])
    order = np.lexsort(
        (_month_index(allm), np.asarray(allm.column("loan_id").to_numpy(zero_copy_only=False)))
    )
    return replace(h, months=allm.take(pa.array(order)))


def replay_months(h: Any, cutoff: str | None) -> tuple[int, int]:
    """The cut-off month and the number of months after it in the file (month indices).

    Default cut-off: the first month in which every loan of the file has appeared (the
    pool fully formed). Raises :class:`InputError` for a cut-off outside the data.
    """
    mo = _month_index(h.months)
    first, last = int(mo.min()), int(mo.max())
    if cutoff is None:
        loan = np.asarray(h.months.column("loan_id").to_numpy(zero_copy_only=False))
        start = np.r_[True, loan[1:] != loan[:-1]]
        c = int(mo[start].max())
    else:
        c = _month(cutoff, "--cutoff")
    if not first <= c < last:
        raise InputError(
            f"--cutoff value {cutoff!r}: outside the data (file {h.source!r} covers "
            f"{_ym(first)} to {_ym(last)}; the cut-off needs at least one month after it)"
        )
    return c, last - c


def _pool_rows(h: Any, cutoff: int) -> npt.NDArray[np.int64]:
    """Rows of ``h.months`` of the loans live at the cut-off month (the pool), leaving
    out loans whose history stops while live before the file's end (a truncated
    extract)."""
    from openmbs.servicing import LIVE_STATES, LoanState

    live_states = [int(x) for x in LIVE_STATES] + [int(LoanState.UNKNOWN)]
    mo = _month_index(h.months)
    loan = np.asarray(h.months.column("loan_id").to_numpy(zero_copy_only=False))
    state = h.months.column("state").to_numpy().astype(np.int64)
    last = np.r_[loan[1:] != loan[:-1], True]
    cut = last & np.isin(state, live_states) & (mo < mo.max())
    upb = np.asarray(h.months.column("upb").to_numpy(zero_copy_only=False), dtype=np.float64)
    at = (mo == cutoff) & np.isin(state, live_states) & ~np.isin(loan, loan[cut]) & (upb > 0)
    return np.flatnonzero(at)


def history_tape(h: Any, cutoff: int, *, servicing_fee: float) -> Any:
    """The pool at the cut-off month as a loan tape (one row per loan outstanding then,
    in loan id order): the UPB, note rate, terms, age and delinquency of that month and
    the acquisition file's loan attributes."""
    from openmbs.collateral import CANONICAL_SCHEMA, LoanTape

    rows = _pool_rows(h, cutoff)
    if not rows.size:
        raise InputError(
            f"--cutoff value {_ym(cutoff)!r}: no loan of file {h.source!r} is outstanding then"
        )
    m = h.months.take(pa.array(rows))
    ids = m.column("loan_id").to_pylist()
    loans = h.loans
    pos = {k: i for i, k in enumerate(loans.column("loan_id").to_pylist())}
    li = pa.array([pos[k] for k in ids], pa.int64())
    lt = loans.take(li)

    def f(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(m.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

    n = len(ids)
    rem = np.nan_to_num(f("remaining_term")).astype(np.int32)
    age = np.nan_to_num(f("loan_age")).astype(np.int32)
    dq = np.maximum(np.nan_to_num(f("delinquency")), 0).astype(np.int32)
    note = f("note_rate")
    cols: dict[str, Any] = {
        "loan_id": pa.array(ids, pa.string()),
        "current_balance": pa.array(f("upb")),
        "original_balance": lt.column("original_balance").cast(pa.float64()),
        "note_rate": pa.array(note),
        "net_rate": pa.array(note - servicing_fee),
        "servicing_fee": pa.array(np.full(n, servicing_fee)),
        "original_term": lt.column("original_term").cast(pa.int32()),
        "remaining_term": pa.array(np.maximum(rem, 1), pa.int32()),
        "loan_age": pa.array(np.maximum(age, 0), pa.int32()),
        "first_payment_date": lt.column("first_payment").cast(pa.date32()),
        "amortization_type": pa.array(["fixed"] * n),
        "credit_score": lt.column("credit_score").cast(pa.int32()),
        "ltv": lt.column("ltv").cast(pa.float64()),
        "state": lt.column("property_state").cast(pa.string()),
        "delinquency_status": pa.array(dq, pa.int32()),
    }
    table = pa.table(
        {fld.name: cols.get(fld.name, pa.nulls(n, fld.type)) for fld in CANONICAL_SCHEMA},
        schema=CANONICAL_SCHEMA,
    )
    return LoanTape(table, source=h.source, format="history-cutoff")


@dataclass
class HistoryRecords:
    """Records from a real loan history (``openmbs replay``), as a :class:`RecordSource`.

    ``records(period)`` is month ``cutoff + period`` of ``history`` for the loans of
    ``tape`` (the pool at the cut-off), with the trust's balance carried loan by loan and
    the delinquency roll bounded (module docstring). ``cutoff`` is a month index
    (``year * 12 + month - 1``). Counted over the periods served: ``lagged`` and
    ``deepened`` loan-months (reported one bucket behind the file, or 90+ where the file
    says 60-89) and ``capitalised`` (base units by which the reported UPB rose above the
    trust's balance). Nothing to save: a resumed run recomputes the accepted periods
    (``resume``), checked against their stored loan files.
    """

    history: Any
    cutoff: int
    tape: Any
    servicing_fee: float = 0.0
    decimals: int = 6
    lagged: int = 0
    deepened: int = 0
    capitalised: int = 0
    _trust: IntArray = field(init=False)
    _dq: IntArray = field(init=False)
    _excess: IntArray = field(init=False)
    _row_of: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        bal = self.tape.table.column("current_balance").to_numpy(zero_copy_only=False)
        self._trust = np.rint(np.asarray(bal, np.float64) * 10.0**self.decimals).astype(np.int64)
        dq = self.tape.table.column("delinquency_status").to_numpy(zero_copy_only=False)
        self._dq = np.minimum(np.asarray(dq, np.int64), 3)
        self._excess = np.zeros(len(self._trust), dtype=np.int64)
        self._row_of = {k: i for i, k in enumerate(self.tape.table.column("loan_id").to_pylist())}

    def records(self, period: int) -> pa.Table:
        from openmbs.agents import record_columns
        from openmbs.servicing import records_for_period

        raw = records_for_period(
            self.history, period, start=_ym(self.cutoff), decimals=self.decimals,
            servicing_fee=self.servicing_fee, skip_truncated=True,
        )  # fmt: skip
        ids = np.asarray(raw.column("loan_id").cast(pa.string()).to_numpy(zero_copy_only=False))
        rows_all = np.array([self._row_of.get(k, -1) for k in ids.tolist()], dtype=np.int64)
        keep = np.flatnonzero(rows_all >= 0)
        raw = raw.take(pa.array(keep))
        rows = rows_all[keep]
        if len(rows) != int((self._trust > 0).sum()):
            raise DataIntegrityError(
                f"file {self.history.source!r} month {_ym(self.cutoff + period)}: {len(rows)} pool loans "
                f"reported, {int((self._trust > 0).sum())} outstanding"
            )
        t = self._trust_view(raw, rows)
        dictionary = self.tape.table.column("loan_id").combine_chunks()
        t = t.set_column(
            0,
            "loan_id",
            pa.DictionaryArray.from_arrays(pa.array(rows.astype(np.int32)), dictionary),
        )
        out = record_columns(t)
        # the loan's state and loss mitigation ride along in the loan file (the report
        # reads them); they are not part of the oracle's leaf. A column the file does
        # not report (null: Fannie Mae's forbearance) is left out, not stored as nulls.
        for name in STATE_COLUMNS:
            if name not in out.column_names and not t.column(name).null_count:
                out = out.append_column(name, t.column(name))
        return out

    def _trust_view(self, raw: pa.Table, rows: IntArray) -> pa.Table:
        """The records with the trust's balance (never rising) and the bounded roll."""

        def c(name: str) -> IntArray:
            return np.asarray(raw.column(name).to_numpy(), dtype=np.int64)

        t0 = self._trust[rows]
        b0, b1, sched = c("balance_begin"), c("balance_end"), c("scheduled_principal")
        status = c("status")
        credit = raw.column("liquidation_flag").to_numpy(zero_copy_only=False).astype(bool)
        paid = (status == _PREPAID) | (status == _MATURED)
        live = ~credit & ~paid
        # the rise of the reported UPB over the trust's balance not seen last month
        self.capitalised += int(np.maximum(b0 - t0 - self._excess[rows], 0).sum())
        end = np.where(live, np.minimum(t0, b1), 0)
        writeoff = np.where(credit, t0, 0)
        removed = t0 - end - writeoff
        sched_t = np.minimum(sched, removed)
        prepaid = removed - sched_t
        loss = np.where(credit, np.minimum(c("loss"), t0), 0)
        # with hindsight of an unknown loss (null realised loss) the record carries 0
        recovery = writeoff - loss
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(b0 > 0, t0 / np.maximum(b0, 1), 0.0)
        interest = np.rint(c("interest") * scale).astype(np.int64)
        net = np.minimum(np.rint(c("net_interest") * scale).astype(np.int64), interest)
        dq_file = c("delinquency")
        was = self._dq[rows]
        dq = np.where(dq_file <= 1, dq_file, np.where(was >= 2, 3, np.minimum(dq_file, was + 1)))
        dq = np.where(live, dq, 0)
        self.lagged += int((dq < dq_file).sum())
        self.deepened += int((dq > dq_file).sum())
        self._trust[rows] = end
        self._excess[rows] = np.where(live, np.maximum(b1 - end, 0), 0)
        self._dq[rows] = dq
        out = raw
        for name, arr in (
            ("delinquency", pa.array(dq, pa.int8())),
            ("balance_begin", t0), ("scheduled_principal", sched_t), ("prepaid_principal", prepaid),
            ("curtailment", np.where(live, prepaid, 0)), ("interest", interest), ("net_interest", net),
            ("servicing_fee", interest - net), ("default_writeoff", writeoff), ("loss", loss),
            ("recovery", recovery), ("balance_end", end),
        ):  # fmt: skip
            out = out.set_column(out.schema.get_field_index(name), name, pa.array(arr))
        return out

    def resume(self, out: Path, period: int) -> None:
        """Rebuild the carried state by recomputing the accepted periods, each checked
        against its stored loan file (ending balances and delinquency)."""
        from openmbs.sim._config import read_loans

        for k in range(1, period + 1):
            mine = self.records(k)
            kept = read_loans(out, k)
            for name in ("tape_row", "ending_balance", "delinquency"):
                if not mine.column(name).equals(kept.column(name)):
                    raise DataIntegrityError(
                        f"folder {str(out)!r} period {k}: stored loan records differ from file "
                        f"{self.history.source!r} (column {name!r})"
                    )

    def checkpoint(self, out: Path) -> None:
        return None


def replay(
    out: str | os.PathLike[str],
    *,
    acquisition: str | os.PathLike[str],
    performance: str | os.PathLike[str],
    deal: str,
    cutoff: str | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    **settings: Any,
) -> LifecycleResult:
    """Replay a real pool's history on the embedded chain into ``out``, reconciled.

    Parameters
    ----------
    out
        Output folder (created; a run there with the same settings is resumed).
    acquisition, performance
        The agency's acquisition (Fannie Mae) or origination (Freddie Mac) file and the
        monthly performance file of the same loans.
    deal
        Example deal name or deal TOML file; its percent-sized classes are sized to the
        pool at the cut-off.
    cutoff
        The cut-off month ``YYYY-MM`` (the pool is the loans outstanding then);
        default the first month in which every loan of the file has appeared.
    settings
        Further :class:`~openmbs.sim.LifecycleConfig` fields: ``psa``, ``sda``,
        ``severity``, ``lag`` are the model the report compares the history with;
        ``months`` (default: every month of the file after the cut-off), ``investors``,
        ``seed``...

    Returns
    -------
    LifecycleResult
        As :func:`~openmbs.sim.run_lifecycle`; ``summary.json`` and ``report.html``
        add the figures of :func:`replay_figures`.

    Raises
    ------
    InputError
        A missing file, an unknown deal, a cut-off outside the data.
    RemittanceRejected
        The oracle refused a month (nothing of it is stored; a rerun resumes).

    Notes
    -----
    The stages are the demo's (:mod:`openmbs.sim._stages`); ``openmbs audit`` re-executes
    a replay from ``closing.json``'s configuration like a demo.
    """
    if "months" not in settings:
        settings["months"] = replay_months(load_history(acquisition, performance), cutoff)[1]
    cfg = LifecycleConfig(  # absolute paths: the audit re-executes from any folder
        acquisition=str(Path(acquisition).resolve()),
        performance=str(Path(performance).resolve()),
        cutoff=cutoff,
        deal=deal,
        **settings,
    )
    return _run(Path(out), cfg, fresh=fresh, progress=progress, log=log)


@_restores_boa_env
def _run(
    out: Path,
    cfg: LifecycleConfig,
    *,
    fresh: bool,
    progress: Progress | None,
    log: Callable[[str], None] | None,
) -> LifecycleResult:
    from openmbs.sim._stages import (
        deploy,
        index,
        prepare,
        reconcile,
        replay_accepted,
        report,
        run_periods,
        verify,
    )

    run = prepare(out, cfg, fresh=fresh, progress=progress, log=log)
    deploy(run)
    replay_accepted(run)
    run_periods(run)
    verify(run)
    index(run)
    reconcile(run)
    src = run.source
    if not isinstance(src, HistoryRecords):  # prepare builds it for a replay configuration
        raise DataIntegrityError(
            f"replay of {cfg.performance!r}: the record source is {type(src).__name__}"
        )
    extra = replay_figures(out, src.cutoff, len(run.results), severity=cfg.severity)
    extra.update(
        delinquency_lagged=src.lagged,
        delinquency_deepened=src.deepened,
        capitalised_arrears=src.capitalised,
        decimals=int(run.exact.decimals),  # the asset's (the records count min(decimals, 9))
    )
    return report(run, extra=extra)


def _annual(monthly: float) -> float:
    return float(1.0 - (1.0 - monthly) ** 12)


def replay_figures(out: Path, cutoff: int, periods: int, *, severity: float) -> dict[str, Any]:
    """The replay's figures from its stored loan files and ``closing.json``.

    ``first_period``/``last_period`` the first and last replayed months (``YYYY-MM``);
    ``prepaid_loans`` (prepaid, matured or repurchased) and ``liquidated_loans`` (credit
    events) counted from the records; ``pool_losses`` and ``pool_recoveries`` in base
    units. ``realised``: pooled over the replayed months, SMM = unscheduled principal /
    (beginning balance - scheduled principal), MDR = liquidated balance / beginning
    balance, severity = losses / liquidated balance, annualised as CPR and CDR
    ``1 - (1 - m)**12``; ``model`` the same from the projection at the run's
    assumptions (``closing.json``) over the same months, and its severity.
    """
    from openmbs.sim._config import read_loans

    prepaid = liquidated = losses = recoveries = 0
    beg = sched = unsched = 0
    for k in range(1, periods + 1):
        t = read_loans(out, k)
        st = t.column("status").to_numpy()
        liq = t.column("liquidated").to_numpy(zero_copy_only=False).astype(bool)
        prepaid += int(np.isin(st, (_PREPAID, _MATURED)).sum())
        liquidated += int(liq.sum())
        losses += int(t.column("loss").to_numpy().sum())
        recoveries += int(t.column("recovery").to_numpy().sum())
        beg += int(t.column("beginning_balance").to_numpy().sum())
        sched += int(t.column("scheduled_principal").to_numpy().sum())
        unsched += int(t.column("prepaid_principal").to_numpy().sum())
    gone = losses + recoveries
    closing = json.loads((out / "closing.json").read_text())
    unit_scale = 10 ** (int(closing["decimals"]) - int(closing.get("record_decimals", closing["decimals"])))
    proj = closing["projection"]
    bal = np.asarray(proj["balance"], np.float64)
    n = min(periods, len(bal))
    start = np.r_[closing["pool_units"] / 10.0 ** closing["decimals"], bal[:-1]][:n]
    smm = np.asarray(proj["smm"], np.float64)[:n]
    mdr = np.asarray(proj["mdr"], np.float64)[:n]
    w = np.maximum(start, 0.0)
    wsum = float(w.sum()) or 1.0
    return {
        "first_period": _ym(cutoff + 1),
        "last_period": _ym(cutoff + periods),
        "prepaid_loans": prepaid,
        "liquidated_loans": liquidated,
        # record units (10**-record_decimals) -> the asset's base units
        "pool_losses": losses * unit_scale,
        "pool_recoveries": recoveries * unit_scale,
        "realised": {
            "cpr": _annual(unsched / max(beg - sched, 1)),
            "cdr": _annual(gone / max(beg, 1)),
            "severity": losses / gone if gone else 0.0,
        },
        "model": {
            "cpr": _annual(float((smm * w).sum()) / wsum),
            "cdr": _annual(float((mdr * w).sum()) / wsum),
            "severity": float(severity),
        },
    }


#: servicing and guarantee strip of a replayed pool (decimal a year)
SERVICING_FEE = 0.0025


def history_source(cfg: Any) -> tuple[Any, HistoryRecords]:
    """The cut-off tape and the record source of a replay configuration (``prepare``).
    Raises :class:`InputError` for missing files, a cut-off outside the data, or more
    ``months`` than the file holds after the cut-off."""
    h = load_history(cfg.acquisition, cfg.performance)
    c, n = replay_months(h, cfg.cutoff)
    if cfg.months > n:
        raise InputError(
            f"--months value {cfg.months}: file {h.source!r} holds {n} months after the cut-off {_ym(c)}"
        )
    tape = history_tape(h, c, servicing_fee=SERVICING_FEE)
    return tape, HistoryRecords(h, c, tape, servicing_fee=SERVICING_FEE)
