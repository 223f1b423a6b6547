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

Money is in integer base units of the settlement asset (``decimals`` says how many);
rates, factors and percentages are decimals (0.05 is 5%). A figure the project does not
model yet (servicer advances, modifications, foreclosure and REO states) is ``None``
("not modelled"), never 0. See ``docs/report.md``.
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
    classes, delinquency, triggers, performance : tuple of mappings
        One row per class, delinquency bucket, trigger and window.
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


def _read_loans(path: Path) -> pa.Table:
    if path.is_dir():
        return pa.concat_tables([pq.read_table(p) for p in sorted(path.glob("*.parquet"))])
    return pq.read_table(path)


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
        if key not in data:
            raise InputError(f"file {str(path)!r}: field {key!r} missing")
    return data


def _run_folder(con_or_db_path: Any, deal: Any) -> Path | None:
    if deal is not None and not hasattr(deal, "tranches"):
        p = Path(deal)
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


def _loan_figures(table: pa.Table, prev_defaulted: set[str]) -> tuple[_LoanPeriod, set[str]]:
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
    bals = tuple(int(end[m].sum()) for m in masks)
    open_def = d & ~liq
    fig = _LoanPeriod(
        dq_count=(counts[0], counts[1], counts[2]),
        dq_balance=(bals[0], bals[1], bals[2]),
        defaulted_open_count=int((open_def & live).sum()),
        defaulted_open_balance=int(end[open_def].sum()),
        new_default_balance=int(beg[d & ~was].sum()),
        performing_begin=int(beg[~was].sum()),
        loans_begin=int((beg > 0).sum()),
    )
    now = {ids[i] for i in np.flatnonzero(d & ~liq).tolist()}
    return fig, now


def _check(period: int, what: str, engine: int, chain: int) -> None:
    if int(engine) != int(chain):
        raise DataIntegrityError(
            f"period {period}: {what}: event store {int(chain)}, exact engine {int(engine)}"
        )


# ------------------------------------------------------------------ the builder


def period_statements(
    con_or_db_path: Any,
    *,
    deal: Any = None,
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
        The event store disagrees with the exact engine run on its own reports, or a
        period is missing.
    """
    from openmbs.indexer import accepted_remittances, distributions, tranche_payments
    from openmbs.structuring import (
        DealSpec,
        apply_period,
        compile_exact,
        exact_remittance,
        initial_state,
    )

    run = _run_folder(con_or_db_path, deal)
    if run is None:
        raise InputError("deal=: pass the run folder (or its closing.json) with a connection")
    closing = _closing(run)
    spec = DealSpec.model_validate(closing["deal_spec"])
    exact = compile_exact(spec)
    decimals = int(closing["decimals"])
    ldir = Path(loans_dir) if loans_dir is not None else run / "loans"

    con, owned = _open(con_or_db_path)
    try:
        reps = accepted_remittances(con).to_pylist()
        dists = {int(r["period"]): r for r in distributions(con).to_pylist()}
        allocs: dict[tuple[int, int], dict[str, Any]] = {
            (int(r["period"]), int(r["tranche"])): r for r in tranche_payments(con).to_pylist()
        }
    finally:
        if owned is not None:
            owned.close()
    for k, r in enumerate(reps, start=1):
        if int(r["period"]) != k:
            raise DataIntegrityError(
                f"event store: accepted report {k} is for period {r['period']} (a period is "
                "missing or repeated)"
            )

    names = list(exact.names)
    n = exact.n_tranches
    principal_bearing = [exact.flags[i] & 1 == 0 for i in range(n)]  # F_IO = 1
    spec_by_name = {t.name: t for t in spec.tranches}
    trig_specs = list(spec.triggers)
    fee_names = list(exact.fee_names) or [f.name for f in spec.fees]

    state = initial_state(exact)
    out: list[DistributionStatement] = []
    smm_hist: list[float | None] = []
    mdr_hist: list[float | None] = []
    liq_hist: list[tuple[int, int]] = []  # (losses, recoveries)
    cum_loss_gross = 0
    prev_defaulted: set[str] = set()
    loans_ok = True
    for rep in reps:
        p = int(rep["period"])
        r = SimpleNamespace(**{k: (int(v) if k not in ("digest", "loan_tape_root", "signers", "tx_hash") and v is not None else v) for k, v in rep.items()})
        prev = state
        state, res = apply_period(exact, state, exact_remittance(r))
        dist = dists.get(p)
        if dist is None:
            raise DataIntegrityError(f"event store: period {p} was accepted but not distributed")
        # the events carry these; they must be the engine's
        for i in range(n):
            a = allocs.get((p, i))
            if a is None:
                raise DataIntegrityError(f"event store: period {p}: no allocation of class {names[i]}")
            _check(p, f"class {names[i]} interest", res.interest_paid[i], a["interest"])
            _check(p, f"class {names[i]} principal", res.principal_paid[i], a["principal"])
            _check(p, f"class {names[i]} loss", res.writedown[i], a["loss"])
            _check(p, f"class {names[i]} balance", res.ending_balance[i], a["balance"])
            _check(p, f"class {names[i]} interest shortfall", res.interest_shortfall[i], a["interest_shortfall"])
        _check(p, "fees", sum(res.fees_paid), dist["fee"])
        _check(p, "residual", res.residual_paid, dist["residual"])
        # the deal's reserve account holds the reserve and the rounding dust
        _check(p, "reserve account (reserve + rounding dust)", res.reserve_balance + res.dust, dist["reserve_balance"])

        # loan-level figures
        lp: _LoanPeriod | None = None
        if loans_ok:
            f = loan_file(ldir, p)
            if f is None:
                loans_ok = False
            else:
                lp, prev_defaulted = _loan_figures(_read_loans(f), prev_defaulted)
                for b, field in enumerate(("delinquent_30", "delinquent_60", "delinquent_90_plus")):
                    if lp.dq_balance[b] != r.__dict__[field]:
                        raise DataIntegrityError(
                            f"file {str(f)!r}: period {p}: field {field!r}: loan-level sum "
                            f"{lp.dq_balance[b]}, accepted report {r.__dict__[field]}"
                        )

        final = r.ending_balance == 0
        # speeds: the final period's SMM is 1 by construction (the clean-up call or the
        # last loans paying off): not a prepayment speed, left out
        base = r.beginning_balance - r.scheduled_principal
        smm = None if final or base <= 0 else r.unscheduled_principal / base
        smm_hist.append(smm)
        mdr = None
        if lp is not None and lp.performing_begin > 0:
            mdr = lp.new_default_balance / lp.performing_begin
        mdr_hist.append(mdr if lp is not None else None)
        liq_hist.append((r.losses, r.recoveries))
        cum_loss_gross += r.losses

        pool_orig = exact.pool_original
        dist_date = _add_months(spec.first_payment_date, p - 1)
        prev_month_end = dist_date.replace(day=1) - dt.timedelta(days=1)
        dates = {
            "distribution_date": dist_date.isoformat(),
            "record_date": prev_month_end.isoformat(),
            "collection_period_start": prev_month_end.replace(day=1).isoformat(),
            "collection_period_end": prev_month_end.isoformat(),
            "closing_date": spec.closing_date.isoformat(),
            "first_distribution_date": spec.first_payment_date.isoformat(),
        }

        classes = []
        for i, name in enumerate(names):
            ts = spec_by_name.get(name)
            face = exact.face[i]
            carried = prev.shortfall[i]
            current_due = res.interest_due[i] - carried
            beg = res.beginning_balance[i]
            classes.append(
                {
                    "name": name,
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

        principal_distributed = sum(res.principal_paid)
        fees = [
            {"name": fee_names[k] if k < len(fee_names) else f"fee{k}", "paid": res.fees_paid[k],
             "unpaid": int(state.fee_shortfall[k])}
            for k in range(exact.n_fees)
        ]
        pool = {
            "beginning_balance": r.beginning_balance,
            "scheduled_principal": r.scheduled_principal,
            "unscheduled_principal": r.unscheduled_principal,
            "liquidation_proceeds": r.recoveries,
            "subsequent_recoveries": r.subsequent_recoveries,
            "realised_loss": r.losses,
            "cumulative_realised_loss": cum_loss_gross,
            "cumulative_net_loss": int(state.cum_loss),
            "cumulative_net_loss_pct": state.cum_loss / pool_orig if pool_orig else None,
            "ending_balance": r.ending_balance,
            "original_balance": pool_orig,
            "pool_factor": r.ending_balance / pool_orig if pool_orig else None,
            "interest_collected": r.interest,
            "cash_remitted": r.cash,
            "principal_remittance": r.scheduled_principal + r.unscheduled_principal
            + r.recoveries + r.subsequent_recoveries,
            "principal_distributed": principal_distributed,
            "interest_distributed": sum(res.interest_paid),
            "fees": fees,
            "fees_paid": sum(res.fees_paid),
            "residual_paid": res.residual_paid,
            # units of rounding kept by the deal this period (paid out in the final one)
            "rounding_retained": res.dust_change,
            "rounding_held": res.dust,
            "loan_count_beginning": lp.loans_begin if lp is not None else None,
            "loan_count_ending": r.loan_count,
            "final_distribution": final,
            # the report does not tell the call from the last loans paying off: true in
            # the final period of a deal that has a clean-up call
            "cleanup_call": bool(final and spec.cleanup_call > 0),
            "servicer_advances": None,
            "modifications_count": None,
            "modifications_balance": None,
        }

        end_pool = r.ending_balance
        dq_rows = []
        labels = (("30-59 days", 0), ("60-89 days", 1), ("90+ days", 2))
        for label, b in labels:
            bal = (r.delinquent_30, r.delinquent_60, r.delinquent_90_plus)[b]
            cnt = lp.dq_count[b] if lp is not None else None
            dq_rows.append(
                {
                    "name": label,
                    "count": cnt,
                    "balance": bal,
                    "pct_balance": _ratio(bal, end_pool),
                    "pct_count": _ratio(cnt, r.loan_count) if cnt is not None else None,
                }
            )
        if lp is not None:
            dq_rows.append(
                {
                    "name": "defaulted, awaiting liquidation",
                    "count": lp.defaulted_open_count,
                    "balance": lp.defaulted_open_balance,
                    "pct_balance": _ratio(lp.defaulted_open_balance, end_pool),
                    "pct_count": _ratio(lp.defaulted_open_count, r.loan_count),
                }
            )
        for label in ("foreclosure", "REO"):
            dq_rows.append({"name": label, "count": None, "balance": None, "pct_balance": None, "pct_count": None})

        classes_end = sum(res.ending_balance[i] for i in range(n) if principal_bearing[i])
        oc_amount = end_pool - classes_end
        oc_target = None
        for k, ts_ in enumerate(trig_specs):
            if ts_.test == "overcollateralization" and k < exact.n_triggers:
                rank = exact.priority[exact.trig_ref[k]]
                den = sum(
                    res.ending_balance[i] for i in range(n)
                    if principal_bearing[i] and exact.priority[i] <= rank
                )
                # what the next period's test needs: pool >= threshold x these classes
                need = -(-exact.trig_threshold[k] * den // _WAD) - den
                oc_target = need if oc_target is None else max(oc_target, need)
        reserve_target = 0
        if end_pool > 0:
            reserve_target = max(exact.reserve_floor, end_pool * exact.reserve_pct // _WAD)
        ce = {
            "reserve_beginning": prev.reserve,
            "reserve_draw": res.reserve_draw,
            "reserve_deposit": res.reserve_deposit,
            "reserve_release": res.reserve_release,
            "reserve_ending": res.reserve_balance,
            "reserve_target": reserve_target if (spec.reserve is not None) else None,
            "reserve_vs_target": (res.reserve_balance - reserve_target) if spec.reserve is not None else None,
            "oc_amount": oc_amount,
            "oc_pct": _ratio(oc_amount, end_pool),
            "oc_target": oc_target,
            "oc_vs_target": (oc_amount - oc_target) if oc_target is not None else None,
            "subordination": [
                {
                    "name": names[i],
                    "pct": _ratio(
                        end_pool - sum(
                            res.ending_balance[j] for j in range(n)
                            if principal_bearing[j] and exact.priority[j] <= exact.priority[i]
                        ),
                        end_pool,
                    ),
                }
                for i in range(n) if principal_bearing[i]
            ],
        }

        triggers = []
        latch_word = None
        try:
            latch_word = int(json.loads(dist["state"])[2]) & 0xFF
        except (TypeError, ValueError, IndexError, json.JSONDecodeError):
            latch_word = None
        for k in range(exact.n_triggers):
            t = trig_specs[k] if k < len(trig_specs) else None
            test = t.test if t else "unknown"
            thr = exact.trig_threshold[k] / _WAD
            value: float | None = None
            note = ""
            if test == "overcollateralization":
                rank = exact.priority[exact.trig_ref[k]]
                den = sum(
                    res.beginning_balance[i] for i in range(n)
                    if principal_bearing[i] and exact.priority[i] <= rank
                )
                value = r.beginning_balance / den if den else None
                note = "pool / classes, beginning of the period" if den else "no class outstanding: not tested"
                compare = "<"
            elif test == "cumulative_loss":
                value = state.cum_loss / pool_orig if pool_orig else None
                compare = ">"
                note = "net cumulative loss / original pool"
            elif test == "delinquency_60":
                dq60 = r.delinquent_60 + r.delinquent_90_plus
                value = _ratio(dq60, end_pool)
                compare = ">"
                note = "60+ days / ending pool" if end_pool else "pool paid off: not tested"
            else:
                compare = "<"
                note = "value not computed (interest coverage: see the engine's state)"
            latched = bool(state.latch[k])
            if latch_word is not None:
                _check(p, f"trigger {t.name if t else k} latch", int(latched), (latch_word >> k) & 1)
            triggers.append(
                {
                    "name": t.name if t else f"trigger{k}",
                    "test": test,
                    "value": value,
                    "threshold": thr,
                    "fails_when": f"value {compare} threshold",
                    "failing": bool(res.trigger_failing[k]),
                    "state": "tripped" if latched else "pass",
                    "curable": bool(exact.trig_curable[k]),
                    "effects": list(t.effects) if t else [],
                    "note": note,
                }
            )

        performance = []
        for label, months in WINDOWS:
            sl = slice(-months, None) if months else slice(None)
            smms = [x for x in smm_hist[sl] if x is not None]
            mdrs = [x for x in mdr_hist[sl] if x is not None]
            liq = liq_hist[sl]
            loss_w = sum(a for a, _ in liq)
            liq_w = sum(a + b for a, b in liq)
            a_smm = _avg_rate(smms)
            a_mdr = _avg_rate(mdrs) if lp is not None else None
            performance.append(
                {
                    "name": label,
                    "months": len(smm_hist[sl]),
                    "smm": a_smm,
                    "cpr": _cpr(a_smm) if a_smm is not None else None,
                    "mdr": a_mdr,
                    "cdr": _cpr(a_mdr) if a_mdr is not None else None,
                    "severity": _ratio(loss_w, liq_w),
                }
            )

        cash_out = res.cash_out
        evidence = {
            "loan_tape_root": r.loan_tape_root,
            "report_hash": r.digest,
            "report_hash_kind": "EIP-712 digest of the remittance report",
            "attestors": json.loads(r.signers) if r.signers else [],
            "remittance_tx": r.tx_hash,
            "remittance_block": int(r.block_number) if r.block_number is not None else None,
            "distribution_tx": dist["tx_hash"],
            "engine_matches_chain": True,  # checked above, else DataIntegrityError
            "cash_in": res.cash_in,
            "cash_out": cash_out,
            "cash_conserved": res.cash_in
            == cash_out + res.reserve_deposit - res.reserve_draw - res.reserve_release + res.dust_change,
        }
        notes = [
            "servicer advances, modifications, foreclosure and REO are not modelled yet (shown as null)",
            "dates follow the deal's schedule (distribution on the first distribution date's day of "
            "each month, record date the last day of the preceding month); business days are not modelled",
        ]
        if lp is None:
            notes.append("loan-level file missing: loan counts and CDR not shown")
        if final:
            notes.append(
                "final distribution: the pool's remaining balance was paid off"
                + (" by the clean-up call" if pool["cleanup_call"] else "")
                + "; this month is left out of the prepayment speeds"
            )
        out.append(
            DistributionStatement(
                deal=spec.name,
                period=p,
                decimals=decimals,
                dates=dates,
                classes=tuple(classes),
                pool=pool,
                delinquency=tuple(dq_rows),
                credit_enhancement=ce,
                triggers=tuple(triggers),
                performance=tuple(performance),
                evidence=evidence,
                notes=tuple(notes),
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
        elif ":" in item and section not in ("classes", "delinquency", "triggers", "performance"):
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
        for s in ("classes", "delinquency", "triggers", "performance"):
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
