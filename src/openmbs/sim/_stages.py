"""A lifecycle run as a run object and named stages.

:func:`openmbs.sim.run_lifecycle` composes them; each can be called on its own (the
tests do), and :func:`openmbs.sim.replay` (``openmbs replay``) drives the same run object
with the loan records of a real history instead of simulated ones (:class:`RecordSource`;
a configuration with ``performance`` set makes :func:`prepare` build the history's pool
and its :class:`~openmbs.sim.HistoryRecords`).

Stages, in order:

1. :func:`prepare` opens the output folder (a new run, or a resume checked against the
   manifest), reads or generates the tape, sizes and compiles the deal, writes
   ``closing.json`` and returns the :class:`LifecycleRun`;
2. :func:`deploy` deploys the deal (embedded EVM or a node), or reattaches to the one a
   previous run deployed on the node;
3. :func:`replay_accepted` replays the periods a previous run had accepted, from their
   stored loan files;
4. :func:`step_period` runs one new period: records -> report -> chain -> exact engine
   -> stored files and manifest (:func:`run_periods` loops it over the record source);
   with ``cfg.loan_sales`` the run indexes the chain into ``events.duckdb`` after the
   period, writes its loan file, and the keeper, reading those two, starts its loan
   sales in the next block; the next report confirms them (``openmbs.sim._sales``);
5. :func:`verify` checks every loan's final record against the roots on chain;
6. :func:`index` indexes the chain's events into ``events.duckdb`` (continuing the
   store a run with sales indexed as it went, on the embedded chain);
7. :func:`reconcile` audits the folder and reconciles the in-process figures;
8. :func:`report` writes ``lifecycle.json`` (and ``summary.json``, ``report.html``) and
   returns the :class:`~openmbs.sim.LifecycleResult`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from openmbs.audit import ANCHOR_RUN, AuditCheck
from openmbs.errors import DataIntegrityError, InputError, RemittanceRejected
from openmbs.sim._config import (
    _FORMAT,
    DEPLOYMENT,
    MANIFEST,
    SIM_STATE,
    LifecycleConfig,
    LifecycleResult,
    Progress,
    _atomic_json,
    _config_record,
    read_loans,
    write_loans,
)
from openmbs.sim._keys import NodeKeys
from openmbs.sim._world import _attach, _capture, _chain_month, _cutoff, _deploy, _run_keys, _World

__all__ = [
    "FileRecords",
    "LifecycleRun",
    "RecordSource",
    "SimulatedRecords",
    "deploy",
    "index",
    "prepare",
    "reconcile",
    "replay_accepted",
    "report",
    "run_periods",
    "step_period",
    "verify",
]


# -- loan-record sources ---------------------------------------------------------------
class RecordSource(Protocol):
    """Where each new period's loan-level records come from.

    ``records(period)`` returns the period's records with the columns of
    :func:`openmbs.agents.record_columns` (one row per loan live at the start of the
    month, with its ``tape_row``); periods are asked for in order, from the one after
    the last accepted. ``resume(out, period)`` restores the source after ``period``
    (a resumed run); ``checkpoint(out)`` saves it after an accepted period.
    """

    def records(self, period: int) -> pa.Table: ...

    def resume(self, out: Path, period: int) -> None: ...

    def checkpoint(self, out: Path) -> None: ...


@dataclass
class SimulatedRecords:
    """Records from the loan simulator (``openmbs demo``); its state is saved in
    ``state/sim.npz`` after each accepted period."""

    sim: Any  # LoanSimulator

    def records(self, period: int) -> pa.Table:
        from openmbs.agents import record_columns

        rec = self.sim.step()
        if rec.period != period:
            raise DataIntegrityError(f"simulator at period {rec.period}, the run asked for period {period}")
        t = record_columns(rec.loans)
        t = t.append_column("state", rec.loans.column("state"))  # the LoanState, for the report
        if self.sim.mitigation.draws:  # modifications and plans, named as a history's
            rows = rec.loans.column("loan_id").combine_chunks().indices.to_numpy()
            for name, col in self.sim.mitigation_columns(rows).items():
                t = t.append_column(name, col)
        return t

    def resume(self, out: Path, period: int) -> None:
        self.sim.load_state(out / SIM_STATE)
        if self.sim.period != period:
            raise DataIntegrityError(
                f"file {str(out / SIM_STATE)!r}: state of period {self.sim.period}, manifest says {period}"
            )

    def checkpoint(self, out: Path) -> None:
        self.sim.save_state(out / SIM_STATE)


@dataclass
class FileRecords:
    """Records read from a folder of per-period loan files (the layout the lifecycle
    writes: ``<folder>/loans/period=NNNN/part-0.parquet``); a real pool's history
    converted to record columns is driven the same way. Nothing to save or restore."""

    folder: Path

    def records(self, period: int) -> pa.Table:
        t = read_loans(self.folder, period)
        return t.drop_columns(["leaf"]) if "leaf" in t.column_names else t

    def resume(self, out: Path, period: int) -> None:
        return None

    def checkpoint(self, out: Path) -> None:
        return None


# -- the run object --------------------------------------------------------------------
@dataclass
class LifecycleRun:
    """Everything a lifecycle run shares between its stages.

    Set by :func:`prepare`: the inputs, the folder's resume point (``resumed_from``,
    the accepted ``roots``, ``finished``), the tape, the sized deal (``spec``, ``exact``),
    the pool projection ``cf`` and the record ``source``. Then filled as stages run:
    ``world`` (the chain side; None off chain), the servicer ``bridge``, the trigger
    ``keeper``, the exact engine's ``state``, per-period ``results`` and ``reports``,
    each loan's final ``(period, record hash, proof)`` in ``final_leaf``, the pool
    figures of ``lifecycle.json``, timings, ``checks`` and the ``audit_report``; with
    ``cfg.loan_sales``, ``sales`` (the :class:`~openmbs.sim._sales.SaleDesk`) and
    ``store``, the run's event store (``events.duckdb``), indexed after each accepted
    period for the keeper (:meth:`close` closes it).
    """

    cfg: LifecycleConfig
    out: Path
    keys: NodeKeys | None
    say: Callable[[str], None]
    tick: Progress
    resumed_from: int
    roots: list[str]
    finished: bool
    tape: Any
    spec: Any
    exact: Any
    cf: Any
    cutoff: dict[str, Any]
    source: RecordSource
    bridge: Any = None
    keeper: Any = None
    state: Any = None
    world: _World | None = None
    results: list[Any] = field(default_factory=list)
    reports: list[Any] = field(default_factory=list)
    final_leaf: dict[int, tuple[int, bytes, list[bytes]]] = field(default_factory=dict)
    prev_dq: Any = None
    prev_def: Any = None
    pool_extra: list[dict[str, int]] = field(default_factory=list)
    sim_seconds: float = 0.0
    bridge_seconds: float = 0.0
    checks: list[AuditCheck] = field(default_factory=list)
    audit_report: Any = None
    sales: Any = None  # the SaleDesk (openmbs.sim._sales) when cfg.loan_sales
    store: Any = None  # the EventStore indexed as the run goes, when cfg.loan_sales

    @property
    def record_decimals(self) -> int:
        """Decimals of the loan records' money unit (``min(asset decimals, 9)``)."""
        from openmbs.agents import record_decimals

        return record_decimals(int(self.exact.decimals))

    @property
    def unit_scale(self) -> int:
        """Asset base units per record unit: reports are the records' sums times it."""
        return int(10 ** (int(self.exact.decimals) - self.record_decimals))

    @property
    def last_period(self) -> int:
        """The last accepted period (the manifest's)."""
        return len(self.roots)

    def close(self) -> None:
        """Close the run's event store if it is open (a run with sales)."""
        if self.store is not None:
            self.store.close()
            self.store = None

    def __post_init__(self) -> None:
        from openmbs.agents import ServicerBridge, TriggerKeeper
        from openmbs.structuring import initial_state

        self.bridge = ServicerBridge(self.tape.table.column("loan_id").to_pylist(), unit_scale=self.unit_scale)
        self.keeper = TriggerKeeper(self.exact)
        self.state = initial_state(self.exact)
        dq = self.tape.table.column("delinquency_status").to_numpy(zero_copy_only=False)
        self.prev_dq = np.nan_to_num(np.asarray(dq, dtype=np.float64)).astype(np.int64)
        self.prev_def = np.zeros(len(self.tape), dtype=bool)


# -- 1. prepare --------------------------------------------------------------------------
def _open_folder(out: Path, cfg: LifecycleConfig, fresh: bool) -> dict[str, Any] | None:
    """The manifest of the run to resume (None: a new run; the folder is cleared)."""
    manifest_path = out / MANIFEST
    manifest: dict[str, Any] | None = None
    if manifest_path.exists() and not fresh:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != _FORMAT or manifest.get("fingerprint") != cfg.fingerprint():
            raise InputError(
                f"folder {str(out)!r} holds a run with other settings (file {str(manifest_path)!r}); "
                "use another --out or --fresh"
            )
    if manifest is None:
        for sub in ("loans", "state"):
            shutil.rmtree(out / sub, ignore_errors=True)
        for name in ("events.duckdb", "events.duckdb.wal", "summary.json", "report.html", "lifecycle.json"):
            (out / name).unlink(missing_ok=True)
    for folder in (out, out / "loans", out / "state"):
        folder.mkdir(parents=True, exist_ok=True)
    return manifest


def _load_spec(deal: str) -> Any:
    """The deal a ``--deal`` value names (``structuring.resolve_deal``, the one rule)."""
    from openmbs.structuring import resolve_deal

    return resolve_deal(deal)


def _size_deal(cfg: LifecycleConfig, tape: Any, sim: Any) -> tuple[Any, Any, Any]:
    """The deal spec sized to the simulated pool, compiled; and the pool statistics."""
    from openmbs.collateral import pool_stats
    from openmbs.structuring import compile_exact

    pool_units = int(sim.balances.sum()) * sim.unit_scale  # record units -> the asset's base units
    st = pool_stats(tape)
    spec = _load_spec(cfg.deal).with_pool(
        balance=pool_units / 10**sim.decimals,
        wac=float(st.wac),
        net_coupon=float(st.net_wac),
        term=round(float(st.wa_original_term)),
        age=round(float(st.wala)),
    )
    exact = compile_exact(spec)
    if exact.pool_original != pool_units:
        raise DataIntegrityError(
            f"deal {spec.name!r}: pool balance {exact.pool_original} units after sizing, "
            f"simulated pool {pool_units} units"
        )
    return spec, exact, st


_POOL_STATS = (
    "loan_count", "current_balance", "original_balance", "average_balance", "wac", "net_wac", "wam",
    "wala", "wa_original_term", "wa_credit_score", "wa_ltv", "wa_cltv", "wa_dti",
)  # fmt: skip


def _write_closing(out: Path, cfg: LifecycleConfig, spec: Any, exact: Any, st: Any, sim: Any, cf: Any) -> None:
    """``projection.csv`` and ``closing.json``: the settings, the sized deal, the pool
    statistics and the closing analytics (float waterfall at the assumptions)."""
    from openmbs.cashflow import write_projection
    from openmbs.pricing import tranche_analytics
    from openmbs.structuring import collections_from_projection, run_waterfall

    coll = collections_from_projection(
        cf, servicing_in_net_rate=spec.pool.servicing_in_net_rate, cleanup_call=spec.cleanup_call
    )
    write_projection(cf, out / "projection.csv")
    closing = tranche_analytics(run_waterfall(spec, coll), price=100.0, delay_days=spec.payment_delay_days)
    live = np.maximum(cf.beginning_balance - cf.expected_amortization, 1e-9)
    _atomic_json(
        out / "closing.json",
        {
            "config": _config_record(cfg),
            "deal": spec.name,
            "deal_spec": spec.as_data(),
            "pool_units": exact.pool_original,
            "decimals": sim.decimals,
            "record_decimals": sim.record_decimals,
            "tranche_names": list(exact.names),
            "tranche_face": list(exact.face),
            "pool_stats": {k: getattr(st, k) for k in _POOL_STATS},
            "analytics": [a.as_dict() for a in closing],
            "projection": {
                "period": cf.period.tolist(),
                "balance": (cf.factor * cf.original_balance).tolist(),
                "smm": (cf.voluntary_prepayment / live).tolist(),
                "mdr": (cf.new_default / np.maximum(cf.beginning_balance, 1e-9)).tolist(),
                "loss": cf.loss.tolist(),
            },
        },
    )


def prepare(
    out: str | os.PathLike[str],
    cfg: LifecycleConfig,
    *,
    fresh: bool = False,
    keys: NodeKeys | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    source: RecordSource | None = None,
) -> LifecycleRun:
    """Stage 1: open the folder (new run or resume), the tape, the sized deal, closing.

    ``source`` gives each new period's loan records (default: the loan simulator at
    ``cfg``'s assumptions, :class:`SimulatedRecords`). Raises :class:`InputError` for a
    folder holding a run with other settings, or a node run without ``keys``.
    """
    from openmbs.behaviour import Default, Prepayment
    from openmbs.cashflow import project_tape
    from openmbs.collateral import generate_tape, read_tape, write_tape
    from openmbs.sim._loansim import LoanSimulator

    _run_keys(cfg, keys)  # refuses a node run without keys before anything is written
    machine = None
    if cfg.transitions is not None:  # a bad matrix file is refused before anything is written
        from openmbs.servicing import StateMachine

        machine = StateMachine.read(cfg.transitions)
    mitigation = None
    if cfg.mitigation is not None:  # so is a bad loss-mitigation file
        from openmbs.sim._states import LossMitigation

        mitigation = LossMitigation.read(cfg.mitigation)
    out = Path(out)
    tick = progress or (lambda stage, done, total: None)
    manifest = _open_folder(out, cfg, fresh)
    tick("tape", 0, 1)
    if cfg.performance is not None:  # a replay: the pool of a real history at cut-off
        from openmbs.sim._replay import history_source

        tape, history_records = history_source(cfg)
        source = source if source is not None else history_records
    else:
        tape = read_tape(cfg.tape) if cfg.tape else generate_tape(cfg.loans, seed=cfg.seed)
    prep, dflt = Prepayment.psa(cfg.psa), Default.sda(cfg.sda)
    sim = LoanSimulator(  # the loans' money in record units of the deal's asset (min(decimals, 9))
        tape, prepayment=prep, default=None if cfg.transitions else dflt, severity=cfg.severity,
        lag=cfg.lag, seed=cfg.seed, advance=cfg.advance,  # type: ignore[arg-type]
        decimals=_load_spec(cfg.deal).asset.decimals, transitions=machine, servicing=cfg.servicing,
        mitigation=mitigation,
    )
    if cfg.performance is not None and source is history_records and history_records.decimals != sim.record_decimals:
        import dataclasses

        source = dataclasses.replace(history_records, decimals=sim.record_decimals)  # records in record units
    spec, exact, st = _size_deal(cfg, tape, sim)
    cf = project_tape(  # the closing analytics advance as the simulated servicer does
        tape, prepayment=prep, default=dflt, severity=cfg.severity, lag=cfg.lag, method="repline",
        advance=cfg.advance,  # type: ignore[arg-type]
    )
    if manifest is None:
        write_tape(tape, out / "tape.parquet")
        _write_closing(out, cfg, spec, exact, st, sim, cf)
    tick("tape", 1, 1)
    return LifecycleRun(
        cfg=cfg, out=out, keys=keys, say=log or (lambda s: None), tick=tick,
        resumed_from=int(manifest["last_period"]) if manifest else 0,
        roots=list(manifest["roots"]) if manifest else [],
        finished=bool(manifest.get("finished")) if manifest else False,
        tape=tape, spec=spec, exact=exact, cf=cf, cutoff=_cutoff(tape, sim),
        source=source if source is not None else SimulatedRecords(sim),
    )  # fmt: skip


# -- 2. deploy ---------------------------------------------------------------------------
def deploy(run: LifecycleRun) -> None:
    """Stage 2: deploy the deal (embedded EVM, or a node: the deployment is recorded in
    ``state/deployment.json``), or reattach to the deal of a resumed node run. Nothing
    when the chain is disabled."""
    cfg = run.cfg
    if not cfg.chain:
        return
    if cfg.loan_sales:
        _check_sales(run)
    run.tick("deploy", 0, 1)
    t0 = time.perf_counter()
    if cfg.rpc is not None and run.last_period:
        w = _attach(cfg, run.spec, len(run.tape), run.out, run.last_period, run.keys)
    else:
        w = _deploy(cfg, run.spec, run.exact, len(run.tape), run.cutoff, run.keys)
        from openmbs.chain import DeploymentRecord, write_deployment_record

        write_deployment_record(run.out / DEPLOYMENT, DeploymentRecord.from_client(
            w.client, network="rpc" if cfg.rpc else "embedded",
            attestors=list(w.attestors.addresses), rpc=cfg.rpc,
            extra={"record_decimals": run.record_decimals},  # the loan files' money unit
        ))
    w.chain_seconds += time.perf_counter() - t0
    run.world = w
    if cfg.loan_sales:
        from openmbs.indexer import EventStore, default_db_path
        from openmbs.sim._sales import desk_for

        run.sales = desk_for(w)
        db = default_db_path(run.out)  # the chain is new: so is its event store
        for path in (db, db.with_name(db.name + ".wal")):
            path.unlink(missing_ok=True)
        run.store = EventStore(db)
    run.tick("deploy", 1, 1)


def _check_sales(run: LifecycleRun) -> None:
    """Refuse loan sales where the keeper cannot act on a history this run indexes."""
    if not isinstance(run.source, SimulatedRecords):
        raise InputError(
            "loan_sales: sales run with simulated loan records only: in a replay the records are a "
            "real history, which already says what became of every loan (it cannot show a sale "
            "made on our chain)"
        )
    if run.cfg.rpc is not None and run.last_period:
        raise InputError(
            f"loan_sales: folder {str(run.out)!r} holds a node run with sales stopped after period "
            f"{run.last_period}; a node run with sales is not resumed (the sales of the accepted "
            "periods are on the node already and the run's keeper, bidder and booked sales would "
            "have to be rebuilt from them): rerun with --fresh (a new deployment)"
        )


# -- 3-4. periods ------------------------------------------------------------------------
def _pool_figures(run: LifecycleRun, sp: Any) -> None:
    """The period's performing balance at the start, new defaults and foreclosures."""
    rc = sp.records
    rows = rc.column("tape_row").to_numpy()
    beg = rc.column("beginning_balance").to_numpy().astype(np.int64)
    end = rc.column("ending_balance").to_numpy().astype(np.int64)
    d = rc.column("defaulted").to_numpy(zero_copy_only=False).astype(bool)
    liq = rc.column("liquidated").to_numpy(zero_copy_only=False).astype(bool)
    perf = (run.prev_dq[rows] == 0) & ~run.prev_def[rows]
    new = d & ~run.prev_def[rows]
    u = run.unit_scale  # record units -> the asset's base units (as the reports)
    run.pool_extra.append(
        {
            "performing_begin": int(beg[perf].sum()) * u,
            "new_default": int(beg[new].sum()) * u,
            "foreclosure": int(end[d & ~liq].sum()) * u,
        }
    )
    run.prev_dq[rows] = rc.column("delinquency").to_numpy()
    run.prev_def[rows] = d


def _remember(run: LifecycleRun, sp: Any, final: bool) -> None:
    """Keep the proof of each loan's last record (the loans that closed this period; all
    in the final period): what :func:`verify` checks."""
    from openmbs.agents import record_hash_array

    rows = sp.records.column("tape_row").to_numpy()
    end = sp.records.column("ending_balance").to_numpy()
    idx = np.arange(len(rows)) if final else np.flatnonzero(end == 0)
    if not idx.size:
        return
    hashes = record_hash_array(sp.records.take(idx), run.bridge.id_words(rows[idx])).tobytes()
    for i, j in enumerate(idx.tolist()):
        run.final_leaf[int(rows[j])] = (sp.period, hashes[32 * i : 32 * i + 32], sp.tree.proof(j))


def _accept(run: LifecycleRun, sp: Any, final: bool, *, replay: bool) -> None:
    """The period on chain (unless a reattached node already holds it) or to the keeper
    alone, then the exact engine on the same report."""
    from openmbs.structuring import apply_period, exact_remittance

    rep, w = sp.report, run.world
    if w is not None and not (replay and w.attached):
        desk = run.sales
        sold = desk.confirmations(sp) if desk is not None else []

        def after_remit() -> None:  # in the period's block, after its report was accepted
            desk.confirmed()

        _chain_month(w, run.cfg, rep, run.keeper, final, sold=sold, then=after_remit if desk is not None else None)
    else:
        run.keeper.observe(
            rep.period, pool_beg=rep.beginning_balance, pool_end=rep.ending_balance, losses=rep.losses,
            subsequent_recoveries=rep.subsequent_recoveries,
            delinquent_60_plus=rep.delinquent_60 + rep.delinquent_90_plus,
            tranche_balances=list(run.state.balance),
        )  # fmt: skip
    run.state, res = apply_period(run.exact, run.state, exact_remittance(rep))
    run.results.append(res)
    run.reports.append(rep)
    _remember(run, sp, final)
    _pool_figures(run, sp)


def _sell(run: LifecycleRun, sp: Any, *, replay: bool) -> None:
    """The keeper's sales after period ``sp`` was accepted, sealed and its loan file
    stored (``openmbs.sim._sales``): the run's event store is brought up to the chain's
    head, then the keeper takes its orders from the store and the loan file; its
    transactions go into the next block (before the next period's report). The
    simulator books the sales for the next period (already booked in its saved state
    when the period is replayed)."""
    from openmbs.indexer import Indexer

    w = run.world
    assert w is not None and run.sales is not None and run.store is not None
    Indexer(run.store, w.source, w.registry, batch_blocks=10_000, confirmations=0).run()
    t0 = time.perf_counter()
    with _capture(w.collector):
        bought = run.sales.sell(w, run.store, run.out, sp.period)
    w.chain_seconds += time.perf_counter() - t0
    if not bought or replay:
        return
    assert isinstance(run.source, SimulatedRecords)
    rows, net = zip(*bought, strict=True)
    run.source.sim.sell(list(rows), list(net))
    total = sum(p for k, _, _, p in run.sales.sold if k == sp.period)
    run.say(
        f"period {sp.period}: loan sales: {len(bought)} seriously delinquent loan(s) sold, "
        f"net proceeds {total / 10 ** int(run.exact.decimals):,.2f} to the deal (confirmed next period)"
    )


def replay_accepted(run: LifecycleRun) -> None:
    """Stage 3: replay the periods a previous run accepted from their stored loan files
    (each rebuilt root must be the manifest's), then restore the record source."""
    last = run.last_period
    for k in range(1, last + 1):
        run.tick("replay", k, last)
        sp = run.bridge.build(k, read_loans(run.out, k))
        if "0x" + sp.report.loan_tape_root.hex() != run.roots[k - 1]:
            raise DataIntegrityError(
                f"folder {str(run.out / 'loans')!r} period {k}: Merkle root {sp.report.loan_tape_root.hex()} "
                f"differs from the accepted root {run.roots[k - 1]}"
            )
        final = run.finished and k == last
        _accept(run, sp, final, replay=True)
        if run.sales is not None and not final:
            _sell(run, sp, replay=True)
    if last:
        run.source.resume(run.out, last)


def _store_loans(run: LifecycleRun, records: pa.Table, sp: Any) -> None:
    """After acceptance: the period's loan file (what the keeper reads)."""
    write_loans(
        run.out, sp.period, records.append_column("leaf", pa.array(sp.leaves, pa.binary(32))), run.cfg,
        record_decimals=run.record_decimals,
    )


def _store_period(run: LifecycleRun, sp: Any, final: bool) -> None:
    """After the period's loan file (and the keeper's sales): the source's state, then
    the manifest (last, atomically: it is what a resume trusts)."""
    run.source.checkpoint(run.out)
    run.roots.append("0x" + sp.report.loan_tape_root.hex())
    run.finished = final
    _atomic_json(
        run.out / MANIFEST,
        {
            "format": _FORMAT,
            "fingerprint": run.cfg.fingerprint(),
            "last_period": sp.period,
            "roots": run.roots,
            "finished": final,
            "record_decimals": run.record_decimals,
        },
    )


def step_period(run: LifecycleRun, records: pa.Table) -> bool:
    """Stage 4: one new period from its loan records (the next after the last accepted).

    The clean-up call is exercised when the pool factor reaches the deal's threshold;
    the servicer bridge builds the report; the period is accepted (on chain, keeper,
    exact engine) and stored. Returns whether it was the deal's final period.

    Raises
    ------
    RemittanceRejected
        The oracle refused the report: nothing of the period is stored.
    """
    k = run.last_period + 1
    t0 = time.perf_counter()
    records, called = _cleanup(records, run.exact, run.unit_scale)
    sp = run.bridge.build(k, records)
    run.bridge_seconds += time.perf_counter() - t0
    final = called or sp.report.ending_balance == 0 or k == run.cfg.months
    n_keeper = len(run.keeper.events)
    try:
        _accept(run, sp, final, replay=False)
    except RemittanceRejected as exc:
        raise RemittanceRejected(
            f"{exc.reason}; nothing of period {k} was stored; rerun to resume after period {k - 1}", period=k
        ) from None
    for ev in run.keeper.events[n_keeper:]:
        run.say(ev.message())
    if called:
        run.say(
            f"period {k}: clean-up call exercised at pool factor "
            f"{sp.report.beginning_balance / run.exact.pool_original:.4f}; remaining loans bought at par"
        )
    _store_loans(run, records, sp)
    if run.sales is not None and not final:
        _sell(run, sp, replay=False)
    _store_period(run, sp, final)
    return final


def run_periods(run: LifecycleRun) -> None:
    """Step new periods from the record source until the deal ends or ``cfg.months``."""
    while not run.finished and run.last_period < run.cfg.months:
        k = run.last_period + 1
        run.tick("months", k, run.cfg.months)
        t0 = time.perf_counter()
        records = run.source.records(k)
        run.sim_seconds += time.perf_counter() - t0
        step_period(run, records)


def _cleanup(records: pa.Table, exact: Any, unit_scale: int = 1) -> tuple[pa.Table, bool]:
    """Exercise the clean-up call when the pool factor reaches the deal's threshold.

    In that period the remaining balance of every open loan is bought at par: it is
    added to the loan's prepaid principal and its ending balance becomes 0 (the same
    rule as ``collections_from_projection``). The records are in record units
    (``unit_scale`` asset base units each). Returns the records and whether the call
    was exercised.
    """
    from openmbs.structuring import WAD

    end = records.column("ending_balance").to_numpy().astype(np.int64)
    pool_end = int(end.sum()) * unit_scale
    if exact.cleanup_wad <= 0 or pool_end == 0 or pool_end * WAD > exact.cleanup_wad * exact.pool_original:
        return records, False
    pre = records.column("prepaid_principal").to_numpy().astype(np.int64) + end
    open_ = end > 0
    status = records.column("status").to_numpy().copy()
    status[open_] = 4  # prepaid in full (bought out)
    dq = records.column("delinquency").to_numpy().copy()
    dq[open_] = 0
    t = records
    if "state" in t.column_names:  # the loan state (openmbs.servicing.LoanState): prepaid
        st = t.column("state").to_numpy().copy()
        st[open_] = 8
        t = t.set_column(t.schema.get_field_index("state"), "state", pa.array(st, pa.int8()))
    for name, arr in (
        ("prepaid_principal", pa.array(pre, pa.int64())),
        ("ending_balance", pa.array(np.zeros_like(end), pa.int64())),
        ("status", pa.array(status, records.schema.field("status").type)),
        ("delinquency", pa.array(dq, pa.int8())),
    ):
        t = t.set_column(t.schema.get_field_index(name), name, arr)
    return t, True


# -- 5. verify ---------------------------------------------------------------------------
def _failing(ids: list[Any], rows: list[int]) -> str:
    return f"; failing: {', '.join(str(ids[r]) for r in rows[:10])}" if rows else ""


def verify(run: LifecycleRun) -> None:
    """Stage 5: every loan's final record against the roots on chain (proofs checked in
    Python against ``RemittanceOracle.loan_tape_root``), and ``cfg.verify_limit`` of
    them (a seeded sample) by the contract's ``verify_loan``. Off chain: nothing."""
    from openmbs.oracle import verify_record

    w, cfg, leaves = run.world, run.cfg, run.final_leaf
    if w is None:
        return
    run.tick("verify", 0, 1)
    t0 = time.perf_counter()
    ids = run.tape.table.column("loan_id").to_pylist()
    chain_roots = {p: bytes(w.client.oracle.loan_tape_root(p)) for p in {v[0] for v in leaves.values()}}
    bad_py = [r for r, (p, h, proof) in sorted(leaves.items()) if not verify_record(proof, chain_roots[p], h)]
    rows = sorted(leaves)
    if len(rows) > cfg.verify_limit:
        pick = np.random.default_rng([cfg.seed, 3]).choice(len(rows), size=cfg.verify_limit, replace=False)
        rows = [rows[i] for i in sorted(pick.tolist())]
    bad = [r for r in rows if not bool(w.client.oracle.verify_loan(*leaves[r]))]
    w.chain_seconds += time.perf_counter() - t0
    complete = len(leaves) == len(run.tape)
    missing = [] if complete else [f"{len(run.tape) - len(leaves)} loan(s) without a final record"]
    run.checks.append(
        AuditCheck(
            "final loan records verify on chain (verify_loan)",
            not bad and complete,
            f"{len(rows) - len(bad)} of {len(run.tape)} loans verified by the contract" + _failing(ids, bad),
            tuple(f"loan {ids[r]!r}: verify_loan false" for r in bad) + tuple(missing),
            anchor=ANCHOR_RUN,
        )
    )
    run.checks.append(
        AuditCheck(
            "final loan records verify against the on-chain roots",
            not bad_py and complete,
            f"{len(leaves) - len(bad_py)} of {len(run.tape)} loans (proofs checked in Python against "
            "RemittanceOracle.loan_tape_root)" + _failing(ids, bad_py),
            tuple(f"loan {ids[r]!r}: proof does not verify" for r in bad_py) + tuple(missing),
            anchor=ANCHOR_RUN,
        )
    )
    run.tick("verify", 1, 1)


# -- 6. index ----------------------------------------------------------------------------
def index(run: LifecycleRun) -> None:
    """Stage 6: the chain's events into ``events.duckdb``, with the pool projection at
    the assumptions (``openmbs query pool-performance``). Off chain: nothing.

    The store is written anew, except the one a run with sales on the embedded chain
    indexed after each period for its keeper: that one is continued from its cursor
    (the same events, event types and cursor as a store written anew: a log source
    without block hashes leaves nothing else behind). On a node it is written anew: an
    indexer storing block hashes keeps the first and last block of each of its batches,
    so the run's per-period batches would leave more ``blocks`` rows than one indexing
    at the end."""
    from openmbs.indexer import EventStore, Indexer, default_db_path, store_projection

    w = run.world
    if w is None:
        return
    run.tick("index", 0, 1)
    db = default_db_path(run.out)
    if run.store is not None and run.cfg.rpc is None:
        with run.store as store:
            Indexer(store, w.source, w.registry, batch_blocks=10_000, confirmations=0).run()
            store_projection(store, run.cf)
        run.store = None
        run.tick("index", 1, 1)
        return
    run.close()
    db.unlink(missing_ok=True)
    with EventStore(db) as store:
        # confirmations=0: the run's last transactions are mined and their receipts
        # checked; on a node a later reorganisation is found and rolled back by the
        # next indexing run (block hashes are stored)
        Indexer(store, w.source, w.registry, batch_blocks=10_000, confirmations=0).run()
        store_projection(store, run.cf)
    run.tick("index", 1, 1)


# -- 7. reconcile ------------------------------------------------------------------------
def reconcile(run: LifecycleRun) -> None:
    """Stage 7: the files-only audit of the folder (this process wrote the event store
    from the chain it just ran) and the in-process reconciliation."""
    from openmbs.audit import audit
    from openmbs.audit import reconcile as audit_reconcile

    run.tick("audit", 0, 1)
    run.audit_report = audit(run.out, files_only=True)
    run.checks.extend(
        audit_reconcile(
            run.out,
            exact=run.exact,
            results=run.results,
            reports=run.reports,
            client=run.world.client if run.world else None,
            audit_report=run.audit_report,
        )
    )
    run.tick("audit", 1, 1)


# -- 8. report ---------------------------------------------------------------------------
def _result(run: LifecycleRun) -> LifecycleResult:
    exact, results, w = run.exact, run.results, run.world
    totals = {
        exact.names[i]: {
            "interest": sum(r.interest_paid[i] for r in results),
            "principal": sum(r.principal_paid[i] for r in results),
            "losses": sum(r.writedown[i] for r in results),
        }
        for i in range(exact.n_tranches)
    }
    return LifecycleResult(
        out=run.out,
        periods=len(results),
        resumed_from=run.resumed_from,
        onchain=w is not None,
        checks=tuple(run.checks),
        tranche_totals=totals,
        chain_seconds=w.chain_seconds if w else 0.0,
        sim_seconds=run.sim_seconds,
        bridge_seconds=run.bridge_seconds,
        keeper_events=tuple(e.message() for e in run.keeper.events),
        note="" if w is not None else "chain disabled: on-chain steps not run",
        audit=run.audit_report,
        month_chain_seconds=float(np.median(w.month_seconds)) if w and w.month_seconds else 0.0,
    )


def _sales_figures(run: LifecycleRun) -> dict[str, Any]:
    """The run's loan sales (base units): count, net proceeds to the deal, keeper
    rewards, and each sale (period sold, loan id, net proceeds)."""
    desk = run.sales
    ids = run.tape.table.column("loan_id").to_pylist()
    return {
        "loans_sold": desk.loans_sold,
        "sale_proceeds": desk.proceeds,
        "sale_keeper_rewards": desk.rewards,
        "sales": [{"period": k, "loan_id": str(ids[row]), "net_proceeds": p} for k, row, _, p in desk.sold],
    }


def report(
    run: LifecycleRun, *, write_outputs: bool = True, extra: dict[str, Any] | None = None
) -> LifecycleResult:
    """Stage 8: ``lifecycle.json`` (per-period reports, exact engine results, pool
    figures, keeper events) and, with ``write_outputs``, ``summary.json`` and
    ``report.html`` (``extra``: figures both add, a replay's); returns the run's
    :class:`LifecycleResult`."""
    w = run.world
    _atomic_json(
        run.out / "lifecycle.json",
        {
            "periods": len(run.results),
            "tranche_names": list(run.exact.names),
            "results": [asdict(r) for r in run.results],
            "reports": [asdict(r) for r in run.reports],
            "pool": run.pool_extra,
            "keeper_events": [asdict(e) for e in run.keeper.events],
            "keeper_unwatched": run.keeper.unwatched,
            "chain_month_seconds": w.month_seconds if w else [],
            **(_sales_figures(run) if run.sales is not None else {}),
        },
    )
    result = _result(run)
    if run.sales is not None:
        extra = {**(extra or {}), **_sales_figures(run)}
    if write_outputs:
        from openmbs.report import write_report, write_summary

        run.tick("report", 0, 1)
        write_summary(run.out, result, run.audit_report.checks, extra)
        write_report(run.out, result, run.audit_report.checks, extra)
        run.tick("report", 1, 1)
    return result
