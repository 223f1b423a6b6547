"""Distribution statements: their figures are the event store's and the exact engine's,
cash is conserved, the final (clean-up) month is neither a 100% CPR nor an OC trip,
the HTML needs no network, CSV and JSON give the statement back, and what the project
does not model is null."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.errors import DataIntegrityError, InputError
from openmbs.indexer import (
    EventStore,
    accepted_remittances,
    distributions,
    pool_performance,
    tranche_payments,
)
from openmbs.report import (
    SECTIONS,
    DistributionStatement,
    loan_file,
    period_statements,
    statement_csv_rows,
    statement_from_csv_rows,
)
from openmbs.servicing import LoanState
from openmbs.sim import loans_path


@pytest.fixture(scope="module")
def statements(cleanup_run: Path) -> list[DistributionStatement]:
    return period_statements(cleanup_run / "events.duckdb")


def _drop_states(src: Path, dst: Path) -> Path:
    """A copy of the run folder whose loan files carry no ``state`` column (a run made
    before the simulator wrote loan states)."""
    shutil.copytree(src, dst)
    for f in sorted((dst / "loans").glob("period=*/part-0.parquet")):
        t = pq.read_table(f)
        assert "state" in t.column_names  # the simulator writes it
        pq.write_table(t.drop_columns(["state"]), f)
    return dst


@pytest.fixture(scope="module")
def stateless(cleanup_run: Path, tmp_path_factory: pytest.TempPathFactory) -> list[DistributionStatement]:
    run = _drop_states(cleanup_run, tmp_path_factory.mktemp("stateless") / "run")
    return period_statements(run / "events.duckdb")


@pytest.fixture(scope="module")
def events(cleanup_run: Path) -> dict[str, Any]:
    with EventStore(cleanup_run / "events.duckdb", read_only=True) as store:
        return {
            "reports": accepted_remittances(store).to_pylist(),
            "dists": distributions(store).to_pylist(),
            "alloc": tranche_payments(store).to_pylist(),
            "perf": pool_performance(store).to_pylist(),
        }


def test_one_statement_per_accepted_period(statements: list[DistributionStatement], events: dict[str, Any]) -> None:
    assert [s.period for s in statements] == [int(r["period"]) for r in events["reports"]]
    assert len(statements) > 12  # the windows of 12 months are exercised


def test_class_figures_are_the_event_store_s(statements: list[DistributionStatement], events: dict[str, Any]) -> None:
    by = {(int(a["period"]), int(a["tranche"])): a for a in events["alloc"]}
    for st in statements:
        for i, c in enumerate(st.classes):
            a = by[(st.period, i)]
            assert c["interest_paid"] == int(a["interest"])
            assert c["principal_paid"] == int(a["principal"])
            assert c["realised_loss"] == int(a["loss"])
            assert c["ending_balance"] == int(a["balance"])
            assert c["unpaid_interest_carried"] == int(a["interest_shortfall"])


def test_pool_figures_are_the_accepted_reports(statements: list[DistributionStatement], events: dict[str, Any]) -> None:
    for st, r, d in zip(statements, events["reports"], events["dists"], strict=True):
        p = st.pool
        assert p["beginning_balance"] == int(r["beginning_balance"])
        assert p["scheduled_principal"] == int(r["scheduled_principal"])
        assert p["unscheduled_principal"] == int(r["unscheduled_principal"])
        assert p["liquidation_proceeds"] == int(r["recoveries"])
        assert p["realised_loss"] == int(r["losses"])
        assert p["ending_balance"] == int(r["ending_balance"])
        assert p["cash_remitted"] == int(r["cash"])
        assert p["fees_paid"] == int(d["fee"])
        assert p["residual_paid"] == int(d["residual"])
        # the reserve account on chain holds the reserve and the rounding dust
        assert st.credit_enhancement["reserve_ending"] + st.pool["rounding_held"] == int(d["reserve_balance"])
        assert st.evidence["loan_tape_root"] == r["loan_tape_root"]
        assert st.evidence["report_hash"] == r["digest"]
        assert st.evidence["attestors"] == json.loads(r["signers"])
        assert st.evidence["remittance_tx"] == r["tx_hash"]
        assert st.evidence["distribution_tx"] == d["tx_hash"]
    cum = 0
    for st, r in zip(statements, events["reports"], strict=True):
        cum += int(r["losses"])
        assert st.pool["cumulative_realised_loss"] == cum
    assert cum > 0  # the run has losses: the loss lines are exercised


def test_cash_is_conserved(statements: list[DistributionStatement]) -> None:
    """Every unit remitted lands in a class, a fee, the residual, the reserve or the
    deal's rounding account; the pool rolls forward; class principal adds up."""
    for st in statements:
        p, ce = st.pool, st.credit_enhancement
        assert p["principal_distributed"] == sum(c["principal_paid"] for c in st.classes)
        assert p["interest_distributed"] == sum(c["interest_paid"] for c in st.classes)
        assert p["fees_paid"] == sum(f["paid"] for f in p["fees"])
        assert p["cash_remitted"] == p["interest_collected"] + p["principal_remittance"] + p["prepayment_penalties"]
        assert p["cash_remitted"] + ce["reserve_draw"] + ce["reserve_release"] == (
            p["interest_distributed"] + p["principal_distributed"] + p["fees_paid"] + p["residual_paid"]
            + ce["reserve_deposit"] + p["rounding_retained"]
        )
        assert ce["reserve_ending"] == ce["reserve_beginning"] + ce["reserve_deposit"] - ce["reserve_draw"] - ce["reserve_release"]
        assert p["ending_balance"] == (
            p["beginning_balance"] - p["scheduled_principal"] - p["unscheduled_principal"]
            - p["liquidation_proceeds"] - p["realised_loss"]
        )
        for c in st.classes:
            assert c["ending_balance"] == (
                c["beginning_balance"] - c["principal_paid"] - c["realised_loss"] + c["writeup"] + c["accreted"]
            )
        assert st.evidence["cash_conserved"] is True
    for st, nxt in itertools.pairwise(statements):
        assert nxt.pool["beginning_balance"] == st.pool["ending_balance"]
        assert [c["beginning_balance"] for c in nxt.classes] == [c["ending_balance"] for c in st.classes]


def test_final_clean_up_month(statements: list[DistributionStatement], events: dict[str, Any]) -> None:
    """The clean-up month pays the pool off: no 100% CPR, no OC trip on 0 / 0."""
    last = statements[-1]
    assert last.pool["ending_balance"] == 0 and last.pool["final_distribution"] is True
    assert last.pool["cleanup_call"] is True
    assert last.performance[0]["name"] == "1m" and last.performance[0]["cpr"] is None
    for row in last.performance[1:]:
        assert row["cpr"] is not None and row["cpr"] < 0.99
    oc = [t for t in last.triggers if t["test"] == "overcollateralization"]
    assert oc, "the deal has an OC trigger"
    for t in oc:
        assert t["state"] == "pass" and t["failing"] is False
        assert t["value"] is not None and t["value"] > t["threshold"]  # beginning of the period
    assert last.credit_enhancement["oc_pct"] is None  # 0 / 0 is not a percentage
    assert all(c["ending_balance"] == 0 for c in last.classes)
    assert any("final distribution" in n for n in last.notes)
    # the indexer's own speed of that month is the 100% the statement leaves out
    assert events["perf"][-1]["cpr"] == pytest.approx(1.0)


def test_speeds_over_windows_from_the_indexer(statements: list[DistributionStatement], events: dict[str, Any]) -> None:
    """Window CPR = 1 - (1 - mean SMM)^12, mean SMM geometric, the final month left out;
    severity = losses / (losses + proceeds); SMMs from the indexer's query."""
    smm = [float(r["smm"]) for r in events["perf"]]
    losses = [int(r["losses"]) for r in events["reports"]]
    rec = [int(r["recoveries"]) for r in events["reports"]]
    n = len(statements)
    for k, st in enumerate(statements):
        for row in st.performance:
            m = {"1m": 1, "3m": 3, "12m": 12, "life": k + 1}[row["name"]]
            lo = max(0, k + 1 - m)
            used = [smm[j] for j in range(lo, k + 1) if j != n - 1]
            if used:
                surv = math.prod(1 - x for x in used) ** (1 / len(used))
                assert row["cpr"] == pytest.approx(1 - surv**12, rel=1e-12)
            else:
                assert row["cpr"] is None
            liq = sum(losses[lo : k + 1]) + sum(rec[lo : k + 1])
            if liq:
                assert row["severity"] == pytest.approx(sum(losses[lo : k + 1]) / liq)
            else:
                assert row["severity"] is None
    assert statements[-1].performance[-1]["cdr"] > 0  # defaults happened


def test_delinquency_counts_from_loan_files(statements: list[DistributionStatement], cleanup_run: Path) -> None:
    import pyarrow.parquet as pq

    for st in statements:
        f = loan_file(cleanup_run / "loans", st.period)
        assert f is not None
        t = pq.read_table(f).to_pylist()
        live = [r for r in t if r["ending_balance"] > 0]
        rows = {r["name"]: r for r in st.delinquency}
        assert rows["30-59 days"]["count"] == sum(1 for r in live if r["delinquency"] == 1)
        assert rows["60-89 days"]["count"] == sum(1 for r in live if r["delinquency"] == 2)
        assert rows["90+ days"]["count"] == sum(1 for r in live if r["delinquency"] >= 3)
        assert st.pool["loan_count_ending"] == len(live)


def test_not_modelled_is_null_not_zero(stateless: list[DistributionStatement]) -> None:
    d = stateless[5].as_dict()
    # servicing cash is in the report now: a run that does not advance reports zeros
    assert d["pool"]["servicer_advances"] == 0 and d["pool"]["advances_outstanding"] == 0
    assert d["pool"]["servicer_advance_policy"] == "none"  # the run's setting, from closing.json
    assert d["pool"]["modifications_count"] is None
    rows = {r["name"]: r for r in d["delinquency"]}
    for name in ("foreclosure", "REO"):
        assert rows[name]["count"] is None and rows[name]["balance"] is None
    html = stateless[5].to_html()
    assert "not modelled" in html


def test_sections_and_json(statements: list[DistributionStatement]) -> None:
    d = statements[0].as_dict()
    assert list(d) == ["deal", "period", "decimals", *SECTIONS, "notes"]
    assert json.loads(json.dumps(d)) == d
    assert d["dates"]["distribution_date"] == "2026-02-25"  # the deal's first payment date
    assert statements[1].dates["distribution_date"] == "2026-03-25"
    assert statements[1].dates["record_date"] == "2026-02-28"


def test_csv_and_json_round_trip(statements: list[DistributionStatement], cleanup_run: Path) -> None:
    folder = cleanup_run / "statements"
    for st in (statements[0], statements[len(statements) // 2], statements[-1]):
        stem = f"period={st.period:04d}"
        assert json.loads((folder / f"{stem}.json").read_text()) == st.as_dict()
        rows = list(csv.DictReader(io.StringIO((folder / f"{stem}.csv").read_text())))
        assert rows == statement_csv_rows(st)
        assert statement_from_csv_rows(rows) == [st.as_dict()]
    every = statement_from_csv_rows(statement_csv_rows(statements))
    assert every == [s.as_dict() for s in statements]


def test_html_is_self_contained(cleanup_run: Path, statements: list[DistributionStatement]) -> None:
    folder = cleanup_run / "statements"
    pages = sorted(folder.glob("*.html"))
    assert len(pages) == len(statements) + 1  # and index.html
    for page in pages:
        text = page.read_text()
        assert not re.search(r"https?://", text), page.name
        assert "<script" not in text and "<link" not in text and "@import" not in text, page.name
        for ref in re.findall(r"(?:href|src)=['\"]([^'\"]+)", text):
            assert (folder / ref).is_file(), (page.name, ref)  # only the statements' own files
    page = (folder / "period=0002.html").read_text()
    assert page.count("<svg") == 3
    assert page.count("stroke-dasharray") == 2  # the pool factor (line and legend) over the classes'
    for title in ("Pool balance", "Pool and class factors", "period", "factor (current / original)"):
        assert title in page
    index = json.loads((folder / "index.json").read_text())
    assert [e["period"] for e in index["statements"]] == [s.period for s in statements]
    report = (cleanup_run / "report.html").read_text()
    assert "statements/index.html" in report


def test_flat_layout_reads_the_same(statements: list[DistributionStatement], cleanup_run: Path, tmp_path: Path) -> None:
    """The lifecycle writes Hive partition folders (loans/period=NNNN/part-0.parquet);
    an older run's flat loans/period=NNNN.parquet files give the same statements."""
    flat = tmp_path / "loans"
    flat.mkdir()
    for st in statements:
        assert loans_path(cleanup_run, st.period).exists()
        shutil.copy(loans_path(cleanup_run, st.period), flat / f"period={st.period:04d}.parquet")
    again = period_statements(cleanup_run / "events.duckdb", loans_dir=flat)
    assert [s.as_dict() for s in again] == [s.as_dict() for s in statements]


def test_without_loan_files_counts_are_null(statements: list[DistributionStatement], cleanup_run: Path, tmp_path: Path) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    again = period_statements(cleanup_run / "events.duckdb", loans_dir=empty)
    rows = {r["name"]: r for r in again[3].delinquency}
    assert rows["30-59 days"]["count"] is None
    assert rows["30-59 days"]["balance"] == statements[3].delinquency[0]["balance"]
    assert again[3].performance[-1]["cdr"] is None
    assert again[3].performance[-1]["cpr"] == statements[3].performance[-1]["cpr"]


def test_tampered_event_store_is_refused(cleanup_run: Path, tmp_path: Path) -> None:
    """A class allocation that is not the engine's (here: one unit more principal) is
    named, not shown."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("closing.json", "events.duckdb"):
        shutil.copy(cleanup_run / name, run / name)
    con = duckdb.connect(str(run / "events.duckdb"))
    con.execute("UPDATE ev_tranche_allocated SET principal = principal + 1 WHERE period = 3 AND tranche = 0")
    con.close()
    with pytest.raises(DataIntegrityError, match=r"period 3: class A principal"):
        period_statements(run / "events.duckdb", loans_dir=cleanup_run / "loans")


def test_missing_closing_json_is_named(cleanup_run: Path, tmp_path: Path) -> None:
    shutil.copy(cleanup_run / "events.duckdb", tmp_path / "events.duckdb")
    with pytest.raises(InputError, match=r"closing\.json"):
        period_statements(tmp_path / "events.duckdb")
    with EventStore(cleanup_run / "events.duckdb", read_only=True) as store:
        got = period_statements(store, deal=cleanup_run)
        assert [s.as_dict() for s in got] == [s.as_dict() for s in period_statements(store, deal=cleanup_run / "closing.json")]
        with pytest.raises(InputError, match="with a connection"):
            period_statements(store)
        with pytest.raises(InputError, match="no such run folder"):
            period_statements(store, deal=tmp_path / "nowhere")
        with pytest.raises(InputError, match="not a deal object"):
            period_statements(store, deal=object())  # type: ignore[arg-type]
    assert len(got) > 0


def test_cli_statement(cleanup_run: Path, statements: list[DistributionStatement], tmp_path: Path) -> None:
    db = str(cleanup_run / "events.duckdb")
    runner = CliRunner()
    res = runner.invoke(app, ["report", "statement", "--events", db, "--period", "4", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == statements[3].as_dict()
    out = tmp_path / "st"
    res = runner.invoke(app, ["report", "statement", "--events", db, "--period", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "index.html", "index.json", "period=0004.csv", "period=0004.html", "period=0004.json",
    ]  # fmt: skip
    res = runner.invoke(app, ["report", "statement", "--events", db, "--period", "999", "--json"])
    assert isinstance(res.exception, InputError)  # main() prints it and exits 2
    assert f"--period value 999: the event store {db!r} holds periods 1..{len(statements)}" == str(res.exception)


def test_io_strip_deal_with_rounding_dust(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pac_io: an IO strip (notional factor), a written-down support class with unpaid
    interest, and rounding dust, which the chain keeps in the reserve account."""
    from openmbs.sim import LifecycleConfig, run_lifecycle

    out = tmp_path_factory.mktemp("pac-io")
    cfg = LifecycleConfig(deal="pac_io", loans=60, months=30, investors=2, psa=400, sda=300, severity=0.45, seed=3)
    assert run_lifecycle(out, cfg).reconciled
    sts = period_statements(out / "events.duckdb")
    assert any(s.pool["rounding_held"] > 0 for s in sts)  # the case the reserve check must count
    io = [c for s in sts for c in s.classes if c["name"] == "IO"]
    assert io and all(c["principal_paid"] == 0 and c["notional"] is True for c in io)
    assert all(c["notional"] is False for s in sts for c in s.classes if c["name"] != "IO")
    for s in sts:
        ce, p = s.credit_enhancement, s.pool
        assert p["cash_remitted"] + ce["reserve_draw"] + ce["reserve_release"] == (
            p["interest_distributed"] + p["principal_distributed"] + p["fees_paid"] + p["residual_paid"]
            + ce["reserve_deposit"] + p["rounding_retained"]
        )


def test_notional_class_flag(statements: list[DistributionStatement]) -> None:
    # four_tranche has no IO strip: every class bears principal
    assert all(c["notional"] is False for s in statements for c in s.classes)


def test_unreconciled_run_gets_no_statement(tmp_path: Path) -> None:
    """The test waterfall (a test double) pays otherwise than the exact engine: the
    statement builder names the difference, and the demo writes no statements."""
    from openmbs.sim import LifecycleConfig, run_lifecycle

    out = tmp_path / "double"
    res = run_lifecycle(out, LifecycleConfig(loans=30, months=3, investors=2, seed=5, test_waterfall=True))
    assert not res.reconciled
    assert not (out / "statements").exists()
    assert "this run is not reconciled" in (out / "report.html").read_text()
    assert json.loads((out / "summary.json").read_text())["files"]["statements"] is None
    with pytest.raises(DataIntegrityError, match=r"period 1: class \w+ (interest|principal)"):
        period_statements(out / "events.duckdb")


def test_bad_run_files_are_named(cleanup_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(cleanup_run / "events.duckdb", run / "events.duckdb")
    closing = json.loads((cleanup_run / "closing.json").read_text())
    closing["deal_spec"]["tranches"][0]["rate"] = "high"
    (run / "closing.json").write_text(json.dumps(closing))
    with pytest.raises(InputError, match=r"closing\.json'.*field 'deal_spec\.tranches\.0\.rate'.*'high'"):
        period_statements(run / "events.duckdb")
    shutil.copy(cleanup_run / "closing.json", run / "closing.json")
    loans = run / "loans"
    loans.mkdir()
    import pyarrow.parquet as pq

    t = pq.read_table(loans_path(cleanup_run, 1)).drop_columns(["delinquency"])
    pq.write_table(t, loans / "period=0001.parquet")
    with pytest.raises(InputError, match=r"period=0001\.parquet'.*field 'delinquency' missing"):
        period_statements(run / "events.duckdb")


def test_loan_states_null_without_a_state_column(stateless: list[DistributionStatement]) -> None:
    for st in stateless:
        assert [r["name"] for r in st.loan_states] == [s.label for s in LoanState]
        assert all(r["count"] is None and r["balance"] is None for r in st.loan_states)
        for k in ("modifications_capitalised_arrears", "modified_loans_count", "forbearance_count"):
            assert st.pool[k] is None
    assert any("loan states" in n and "not modelled" in n for n in stateless[0].notes)


def test_simulated_loan_states_are_real(cleanup_run: Path, statements: list[DistributionStatement]) -> None:
    """The simulator writes each loan's state: the statement counts them from its files
    (a live loan paid off in the period, by prepayment or the clean-up call, is prepaid)."""
    live_codes = {0, 1, 2, 3, 4, 5, 13}
    for st in statements:
        t = pq.read_table(cleanup_run / "loans" / f"period={st.period:04d}" / "part-0.parquet")
        want = {int(s): 0 for s in LoanState}
        for r in t.select(["state", "status"]).to_pylist():
            code = r["state"]
            if code in live_codes and r["status"] in (4, 5):
                code = int(LoanState.PREPAID)
            want[code] += 1
        assert {r["code"]: r["count"] for r in st.loan_states} == want


def _with_states(src: Path, dst: Path) -> dict[int, pa.Table]:
    """A copy of the run folder whose loan files carry a state column made here:
    liquidated loans REO, every other loan the bucket of its delinquency (so a loan
    bought by the clean-up call keeps a live state); every 5th loan modified in the
    periods where its row number matches, with capitalised arrears; 30-day loans in
    forbearance."""
    shutil.copytree(src, dst)
    out = {}
    for f in sorted((dst / "loans").glob("period=*/part-0.parquet")):
        period = int(f.parent.name.split("=")[1])
        t = pq.read_table(f)
        dq = t.column("delinquency").to_numpy().astype(int)
        liq = t.column("liquidated").to_numpy(zero_copy_only=False)
        state = [int(LoanState.REO) if liquidated else min(d, 4) for d, liquidated in zip(dq, liq, strict=True)]
        rows = t.column("tape_row").to_numpy()
        mod = [(r % 5 == 0) and (r + period) % 4 == 0 for r in rows]
        if "state" in t.column_names:  # the simulator's own: replaced by the one made here
            t = t.drop_columns(["state"])
        t = t.append_column("state", pa.array(state, pa.int8()))
        t = t.append_column("modified", pa.array([r % 5 == 0 for r in rows]))
        t = t.append_column("modification", pa.array(mod))
        t = t.append_column("capitalised_arrears", pa.array([1000 + int(r) if m else 0 for r, m in zip(rows, mod, strict=True)], pa.int64()))
        t = t.append_column("forbearance", pa.array([bool(d == 1) for d in dq]))
        pq.write_table(t, f)
        out[period] = t
    return out


def test_loan_states_from_the_loan_files(cleanup_run: Path, tmp_path: Path) -> None:
    """With a state column the figures are real: counted here from each loan file."""
    tables = _with_states(cleanup_run, tmp_path / "run")
    sts = period_statements(tmp_path / "run" / "events.duckdb")
    live_codes = {0, 1, 2, 3, 4, 5, 13}
    saw_buyout = False
    for st in sts:
        t = tables[st.period].to_pylist()
        want: dict[int, list[int]] = {int(s): [0, 0] for s in LoanState}
        for r in t:
            code = r["state"]
            if code in live_codes and r["status"] in (4, 5):  # paid off: prepaid whatever the state
                saw_buyout = True
                code = int(LoanState.PREPAID)
            want[code][0] += 1
            want[code][1] += r["ending_balance"] if code in live_codes else r["beginning_balance"]
        got = {r["code"]: [r["count"], r["balance"]] for r in st.loan_states}
        assert got == want
        rows = {r["name"]: r for r in st.delinquency}
        assert [rows["REO"]["count"], rows["REO"]["balance"]] == want[int(LoanState.REO)]
        assert [rows["foreclosure"]["count"], rows["foreclosure"]["balance"]] == want[int(LoanState.FORECLOSURE)]
        mods = [r for r in t if r["modification"]]
        assert st.pool["modifications_count"] == len(mods)
        assert st.pool["modifications_balance"] == sum(r["ending_balance"] for r in mods)
        assert st.pool["modifications_capitalised_arrears"] == sum(1000 + r["tape_row"] for r in mods)
        live = [r for r in t if r["state"] in live_codes and r["status"] not in (4, 5)]
        assert st.pool["modified_loans_count"] == sum(1 for r in live if r["modified"])
        assert st.pool["forbearance_count"] == sum(1 for r in live if r["forbearance"])
        assert st.pool["forbearance_balance"] == sum(r["ending_balance"] for r in live if r["forbearance"])
    assert saw_buyout  # prepayments and the clean-up call's buy-out counted as prepaid
    assert sum(r["count"] for st in sts for r in st.loan_states if r["name"] == "REO") > 0
    html = sts[-1].to_html()
    assert "Loan states" in html and "left in the period" in html
    assert statement_from_csv_rows(statement_csv_rows(sts)) == [st.as_dict() for st in sts]
    assert not any("not modelled in this run" in n for n in sts[0].notes)
