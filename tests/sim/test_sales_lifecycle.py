"""Loan sales in the lifecycle (``LifecycleConfig.loan_sales``) on the embedded chain.

A small stressed pool (100 loans, 18 months, 2000% SDA): the keeper starts sales of
seriously delinquent loans after each accepted period, a compliant investor buys them,
the next report confirms them. The sales, the reports and the loan files are read
back independently: from the event store (``LoanSold``, ``SaleConfirmed``,
``SaleStarted``) and the stored loan files. The keeper acts on the run's event store
(indexed after each period; at the end it equals a store indexed once) and the loan
files: a tampered loan file is refused, a store without the period refused, a loan
the store shows sold skipped. Sales on a stressed transition matrix; a replay with
sales refused.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import tampered_reports

from openmbs.collateral import generate_tape
from openmbs.errors import InputError, RemittanceRejected
from openmbs.indexer import EventStore, default_db_path, event_rows
from openmbs.oracle import loan_id_bytes32
from openmbs.sim import LifecycleConfig, LoanSimulator, read_loans, run_lifecycle
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

STRESS = LifecycleConfig(loans=100, months=18, sda=2000, investors=5, seed=7, loan_sales=True)


@pytest.fixture(scope="module")
def sales_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The stages of ``run_lifecycle``, one by one, so that the run's chain (its log
    source) stays at hand after the run."""
    import boa

    out = tmp_path_factory.mktemp("sales")
    lines: list[str] = []
    saved = boa.env
    try:
        run = prepare(out, STRESS, fresh=True, log=lines.append)
        try:
            deploy(run)
            replay_accepted(run)
            run_periods(run)
            verify(run)
            index(run)
        finally:
            run.close()
        reconcile(run)
        res = report(run)
        with EventStore(default_db_path(out), read_only=True) as store:
            events = {name: event_rows(store, name) or [] for name in ("LoanSold", "SaleConfirmed", "SaleStarted")}
        summary = json.loads((out / "summary.json").read_text())
        yield {
            "out": out, "res": res, "lines": lines, "events": events, "summary": summary,
            "world": run.world, "cf": run.cf,
        }  # fmt: skip
    finally:
        boa.set_env(saved)


def _hex(v: Any) -> str:
    return str(v).lower().removeprefix("0x")


def test_sales_happen_and_the_run_reconciles(sales_run: dict[str, Any]) -> None:
    res, summary, ev = sales_run["res"], sales_run["summary"], sales_run["events"]
    assert res.reconciled, [c for c in res.checks if not c.ok]
    assert res.audit is not None and res.audit.ok
    sold = ev["LoanSold"]
    assert len(sold) >= 3  # a stressed pool: several sales
    assert summary["loans_sold"] == len(sold)
    assert summary["sale_proceeds"] == sum(int(e["net_proceeds"]) for e in sold)
    assert any("loan sales:" in line for line in sales_run["lines"])
    # every sale started was bought and every bought sale confirmed
    assert len(ev["SaleStarted"]) == len(sold) == len(ev["SaleConfirmed"])


def _row(out: Path, period: int, lid: str) -> dict[str, Any]:
    """The loan ``lid`` (hex of its 32-byte id) in the stored loan file of ``period``."""
    (r,) = [r for r in read_loans(out, period).to_pylist() if loan_id_bytes32(r["loan_id"]).hex() == lid]
    return r


def test_sale_proceeds_equal_the_recoveries_reported(sales_run: dict[str, Any]) -> None:
    """Each sold loan: seriously delinquent (and 60+) on the tape of the period it was
    sold in, liquidated on the next period's tape with recovery == the net proceeds
    paid to the deal, and confirmed by that period's report."""
    out: Path = sales_run["out"]
    unit = 10 ** (int(json.loads((out / "closing.json").read_text())["decimals"]) - 6)
    confirmed = {(_hex(e["loan_id"]), int(e["period"])): int(e["net_proceeds"]) for e in sales_run["events"]["SaleConfirmed"]}
    for e in sales_run["events"]["LoanSold"]:
        lid, k, net = _hex(e["loan_id"]), int(e["period"]), int(e["net_proceeds"])
        assert int(e["price"]) == int(e["keeper_reward"]) + net  # nothing created or lost
        before, after = _row(out, k, lid), _row(out, k + 1, lid)
        assert before["delinquency"] >= 2 and (before["delinquency"] >= 3 or before["defaulted"])
        assert not before["liquidated"] and before["ending_balance"] > 0
        assert after["liquidated"] and after["ending_balance"] == 0
        assert after["recovery"] * unit == net
        assert after["loss"] + after["recovery"] == before["ending_balance"]
        assert confirmed[(lid, k + 1)] == net


def test_a_resumed_run_with_sales_equals_an_uninterrupted_one(
    sales_run: dict[str, Any], tmp_path: Path
) -> None:
    """The report of the period after sales (one with sales to confirm) is rejected;
    the rerun replays the accepted periods (and their sales) and ends as the run that
    was never interrupted."""
    before = {e["period"] for e in sales_run["events"]["LoanSold"]}
    bad = min(int(k) for k in before if int(k) >= 4) + 1  # confirms sales, after a few periods

    def short(rep: Any) -> Any:
        return dataclasses.replace(rep, cash=rep.cash - 1) if rep.period == bad else rep

    with pytest.raises(RemittanceRejected) as info, tampered_reports(short):
        run_lifecycle(tmp_path, STRESS)
    assert info.value.period == bad
    res = run_lifecycle(tmp_path, STRESS)
    assert res.resumed_from == bad - 1 and res.reconciled
    a = json.loads((tmp_path / "lifecycle.json").read_text())
    b = json.loads((sales_run["out"] / "lifecycle.json").read_text())
    for key in ("reports", "results", "sales", "loans_sold", "sale_proceeds"):
        assert a[key] == b[key], key


def test_a_keeper_reading_the_event_store(sales_run: dict[str, Any], tmp_path: Path) -> None:
    """``store_sale_orders`` on the finished folder: the last accepted period's seriously
    delinquent loans (60+), not liquidated, not sold; a loan file that does not hash to
    the accepted root is refused."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from openmbs.sim import loans_path
    from openmbs.sim._sales import store_sale_orders

    out: Path = sales_run["out"]
    period, orders = store_sale_orders(out)
    assert period == STRESS.months
    sold = {_hex(e["loan_id"]) for e in sales_run["events"]["LoanSold"]}
    want = [
        loan_id_bytes32(r["loan_id"]).hex()
        for r in read_loans(out, period).to_pylist()
        if r["delinquency"] >= 2 and (r["delinquency"] >= 3 or r["defaulted"])
        and not r["liquidated"] and r["ending_balance"] > 0
    ]
    assert want  # the stressed pool's last tape has loans to sell
    assert [o.record.loan_id.hex() for o in orders] == [x for x in want if x not in sold]

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    path = loans_path(copy, period)
    t = pq.read_table(path)
    dq = t.column("delinquency").to_pylist()
    i = dq.index(3)
    dq[i] = 2  # a valid record, but not the one whose leaf the oracle accepted
    pq.write_table(t.set_column(t.schema.get_field_index("delinquency"), "delinquency", pa.array(dq, pa.int8())), path)
    with pytest.raises(InputError, match="loan_tape_root"):
        store_sale_orders(copy)


def test_sales_config() -> None:
    """Sales need the chain; a run with sales is not resumed as one without."""
    with pytest.raises(InputError, match="--sales with the chain disabled"):
        LifecycleConfig(loans=10, months=3, chain=False, loan_sales=True)
    assert STRESS.fingerprint() != LifecycleConfig(loans=100, months=18, sda=2000, investors=5, seed=7).fingerprint()


def test_simulator_sell_books_a_liquidation_next_period() -> None:
    tape = generate_tape(30, seed=4)
    sim = LoanSimulator(tape, prepayment=0.0, default=0.0, severity=0.4, lag=2, seed=1)
    sim.step()
    bal = int(sim.balances[5])
    sim.sell([5], [bal // 3])
    with pytest.raises(InputError, match="already sold"):
        sim.sell([5], [1])
    with pytest.raises(InputError, match="proceeds"):
        sim.sell([6], [int(sim.balances[6]) + 1])
    rec = sim.step()
    t = rec.loans.to_pylist()
    r = next(x for x in t if x["loan_id"] == tape.table.column("loan_id")[5].as_py())
    assert r["liquidation_flag"] and r["balance_end"] == 0
    assert r["recovery"] == bal // 3 and r["loss"] == bal - bal // 3
    others = [x for x in t if x is not r]
    assert not any(x["liquidation_flag"] for x in others)
    assert int(sim.balances[5]) == 0


# -- the keeper acts on the event store and the loan files ------------------------------
def _tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a DuckDB file, rows sorted."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in names}
    finally:
        con.close()


def test_the_store_indexed_period_by_period_equals_one_indexed_at_the_end(
    sales_run: dict[str, Any], tmp_path: Path
) -> None:
    """The run indexed its store after each period (for the keeper) and the final stage
    continued it: every table equals a store written anew from the same chain at the end."""
    from openmbs.indexer import Indexer, store_projection

    w = sales_run["world"]
    fresh = tmp_path / "fresh.duckdb"
    with EventStore(fresh) as store:
        Indexer(store, w.source, w.registry, batch_blocks=10_000, confirmations=0).run()
        store_projection(store, sales_run["cf"])
    run_tables, end_tables = _tables(default_db_path(sales_run["out"])), _tables(fresh)
    assert sorted(run_tables) == sorted(end_tables)
    assert any(t.startswith("ev_loan_sold") for t in run_tables)  # the sales are in both
    for name, rows in end_tables.items():
        assert run_tables[name] == rows, name
    assert len(run_tables["events"]) > 100


def _sale_periods(sales_run: dict[str, Any]) -> dict[int, set[str]]:
    """Period -> loan ids (hex) sold after it, from the run's ``LoanSold`` events."""
    by: dict[int, set[str]] = {}
    for e in sales_run["events"]["LoanSold"]:
        by.setdefault(int(e["period"]), set()).add(_hex(e["loan_id"]))
    return by


def test_the_keeper_skips_loans_whose_sale_is_in_the_store(sales_run: dict[str, Any], tmp_path: Path) -> None:
    """On the tape of a period it sold loans from, the keeper (store + loan file) finds
    them again only once their ``LoanSold`` and ``SaleStarted`` rows are gone from the
    store: the store, not the chain or the run's memory, tells it what is sold."""
    import shutil

    from openmbs.sim._sales import period_sale_orders

    k, sold = max(_sale_periods(sales_run).items(), key=lambda kv: len(kv[1]))
    copy = tmp_path / "copy"
    shutil.copytree(sales_run["out"], copy)

    def ordered() -> set[str]:
        with EventStore(default_db_path(copy)) as store:
            found = period_sale_orders(store, copy, k)
        assert found is not None
        return {o.record.loan_id.hex() for o in found[0]}

    assert not ordered() & sold
    with EventStore(default_db_path(copy)) as store:
        for t in store.tables_for_event("SaleStarted"):
            store.con.execute(f'DELETE FROM "{t}" WHERE period = ?', [k])
    assert not ordered() & sold  # still skipped: the store says they were sold
    with EventStore(default_db_path(copy)) as store:
        for t in store.tables_for_event("LoanSold"):
            store.con.execute(f'DELETE FROM "{t}"')
    assert ordered() >= sold


def test_the_run_keeper_refuses_a_tampered_loan_file(
    sales_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loan file of a period with sales is altered on disk after it is written (one
    current loan reported 30 days late): the keeper, which reads that file, refuses it
    before any sale, naming the file and the root."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import openmbs.sim._stages as stages
    from openmbs.sim import loans_path

    k = min(_sale_periods(sales_run))
    real = stages.write_loans

    def write_then_tamper(out: Any, period: int, *args: Any, **kwargs: Any) -> Path:
        path = real(out, period, *args, **kwargs)
        if period == k:
            t = pq.read_table(path)
            dq = t.column("delinquency").to_pylist()
            dq[dq.index(0)] = 1
            i = t.schema.get_field_index("delinquency")
            pq.write_table(t.set_column(i, "delinquency", pa.array(dq, pa.int8())), path)
        return path

    monkeypatch.setattr(stages, "write_loans", write_then_tamper)
    out = tmp_path / "t"
    with pytest.raises(InputError, match="loan_tape_root") as info:
        run_lifecycle(out, STRESS)
    assert str(loans_path(out, k)) in str(info.value)
    with EventStore(default_db_path(out), read_only=True) as store:
        assert not event_rows(store, "SaleStarted")  # nothing was started from the file


def test_the_run_keeper_needs_the_period_in_the_event_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An indexer that stores nothing: the keeper finds no accepted root for period 1
    in the store and refuses to act (it never reads the root from the chain)."""
    from openmbs.indexer import Indexer, IndexStats

    def idle(self: Indexer, **kwargs: Any) -> IndexStats:
        return IndexStats(source=self.source.name, first_block=0, last_block=-1, batches=0, logs=0, unknown=0)

    monkeypatch.setattr(Indexer, "run", idle)
    with pytest.raises(InputError, match=r"0 RemittanceAccepted event\(s\) of period 1"):
        run_lifecycle(tmp_path, STRESS)


# -- sales with --transitions, and a replay -----------------------------------------------
def test_sales_on_a_stress_transition_matrix(tmp_path: Path) -> None:
    """A stressed transition matrix (no --sda): loans roll to 90+ and foreclosure, the
    keeper sells some, each leaves the next month as a note sale with the sale's net
    proceeds as recovery; the run reconciles and the audit passes."""
    import numpy as np

    from openmbs.servicing import LoanState as S
    from openmbs.servicing import TransitionMatrix

    c = np.zeros((1, len(S), len(S)), np.int64)
    c[0, S.CURRENT, [S.CURRENT, S.D30, S.PREPAID]] = [900, 90, 10]
    c[0, S.D30, [S.CURRENT, S.D30, S.D60]] = [20, 20, 60]
    c[0, S.D60, [S.CURRENT, S.D60, S.D90]] = [10, 20, 70]
    c[0, S.D90, [S.CURRENT, S.D90, S.D120P]] = [5, 15, 80]
    c[0, S.D120P, [S.CURRENT, S.D120P, S.FORECLOSURE]] = [3, 57, 40]
    c[0, S.FORECLOSURE, [S.FORECLOSURE, S.REO]] = [80, 20]
    f = tmp_path / "stress.json"
    f.write_text(json.dumps(TransitionMatrix(by=(), labels=(), counts=c).to_dict()))
    cfg = LifecycleConfig(loans=100, months=12, investors=4, seed=5, transitions=str(f), loan_sales=True)
    out = tmp_path / "m"
    res = run_lifecycle(out, cfg)
    assert res.reconciled, [x for x in res.checks if not x.ok]
    assert res.audit is not None and res.audit.ok
    with EventStore(default_db_path(out), read_only=True) as store:
        sold = event_rows(store, "LoanSold") or []
        confirmed = event_rows(store, "SaleConfirmed") or []
    assert len(sold) >= 3 and len(confirmed) == len(sold)
    unit = 10 ** (int(json.loads((out / "closing.json").read_text())["decimals"]) - 6)
    for e in sold:
        lid, k = _hex(e["loan_id"]), int(e["period"])
        after = _row(out, k + 1, lid)
        assert after["state"] == int(S.NOTE_SALE) and after["liquidated"] and after["ending_balance"] == 0
        assert after["recovery"] * unit == int(e["net_proceeds"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["loans_sold"] == len(sold)


def test_a_replay_with_sales_is_refused_saying_why() -> None:
    with pytest.raises(InputError, match="real history") as info:
        LifecycleConfig(acquisition="a.txt", performance="p.txt", loan_sales=True)
    assert "--sales" in str(info.value)


def test_orders_from_a_table_equal_orders_from_records(sales_run: dict[str, Any]) -> None:
    """The keeper's compiled path (leaves hashed from the table, ``LoanTree``) gives the
    orders, records and proofs, of the per-record path (``MerkleTree`` of ``r.leaf()``)."""
    from openmbs.agents import LoanSaleKeeper, loan_records

    out: Path = sales_run["out"]
    with EventStore(default_db_path(out), read_only=True) as store:
        roots = {int(e["period"]): bytes.fromhex(_hex(e["loan_tape_root"])) for e in event_rows(store, "RemittanceAccepted") or []}
    checked = 0
    for k in sorted(_sale_periods(sales_run)):
        t = read_loans(out, k)
        fast = LoanSaleKeeper().orders_from_table(k, roots[k], t)
        slow = LoanSaleKeeper().orders(k, roots[k], loan_records(t))
        assert fast == slow and fast
        checked += 1
        with pytest.raises(InputError, match="loan_tape_root"):
            LoanSaleKeeper().orders_from_table(k, roots[k - 1] if k > 1 else bytes(32), t)
    assert checked >= 3
