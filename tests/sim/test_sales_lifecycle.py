"""Loan sales in the lifecycle (``LifecycleConfig.loan_sales``) on the embedded chain.

A small stressed pool (100 loans, 18 months, 2000% SDA): the keeper starts sales of
seriously delinquent loans after each accepted period, a compliant investor buys them,
the next report confirms them. The sales, the reports and the loan files are read
back independently: from the event store (``LoanSold``, ``SaleConfirmed``,
``SaleStarted``) and the stored loan files.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import tampered_reports

from openmbs.collateral import generate_tape
from openmbs.errors import InputError, RemittanceRejected
from openmbs.indexer import EventStore, default_db_path, event_rows
from openmbs.oracle import loan_id_bytes32
from openmbs.sim import LifecycleConfig, LoanSimulator, read_loans, run_lifecycle

STRESS = LifecycleConfig(loans=100, months=18, sda=2000, investors=5, seed=7, loan_sales=True)


@pytest.fixture(scope="module")
def sales_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sales")
    lines: list[str] = []
    res = run_lifecycle(out, STRESS, fresh=True, log=lines.append)
    with EventStore(default_db_path(out), read_only=True) as store:
        events = {name: event_rows(store, name) or [] for name in ("LoanSold", "SaleConfirmed", "SaleStarted")}
    summary = json.loads((out / "summary.json").read_text())
    return {"out": out, "res": res, "lines": lines, "events": events, "summary": summary}


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
    with pytest.raises(InputError, match="--sales"):
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
