"""The lifecycle: off-chain reconciliation, on-chain plumbing, rejection and resume.

Small runs (a few hundred loans, a few months). The on-chain runs use the embedded EVM.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sim_helpers import tampered_reports

from openmbs.behaviour import Default, Prepayment
from openmbs.collateral import generate_tape
from openmbs.errors import InputError, RemittanceRejected
from openmbs.sim import LifecycleConfig, LoanSimulator, loans_path, run_lifecycle
from openmbs.structuring import compile_exact, example_deal

OFF = LifecycleConfig(loans=200, months=24, investors=5, chain=False, seed=11)


@pytest.fixture(scope="module")
def offchain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("offchain")
    return out, run_lifecycle(out, OFF)


def test_reports_equal_an_independent_simulation(offchain: tuple[Path, object]) -> None:
    """Each accepted report equals the pool aggregates of a separate LoanSimulator run
    with the same tape and seed (collections = loan-level simulation, to the unit)."""
    out, _ = offchain
    life = json.loads((out / "lifecycle.json").read_text())
    sim = LoanSimulator(
        generate_tape(OFF.loans, seed=OFF.seed),
        prepayment=Prepayment.psa(OFF.psa),
        default=Default.sda(OFF.sda),
        severity=OFF.severity,
        lag=OFF.lag,
        seed=OFF.seed,
    )
    for rep in life["reports"]:
        pool = sim.step().pool
        assert rep["period"] == pool.period
        assert rep["interest"] == pool.net_interest
        assert rep["scheduled_principal"] == pool.scheduled_principal
        assert rep["recoveries"] == pool.recovery
        assert rep["losses"] == pool.loss
        assert rep["beginning_balance"] == pool.balance_begin
        if rep["ending_balance"] > 0:  # not the clean-up period
            assert rep["unscheduled_principal"] == pool.prepaid_principal
            assert rep["ending_balance"] == pool.balance_end
            assert rep["delinquent_60"] == pool.delinquent_60_balance


def test_exact_engine_pays_what_was_collected(offchain: tuple[Path, object]) -> None:
    out, _ = offchain
    life = json.loads((out / "lifecycle.json").read_text())
    for rep, res in zip(life["reports"], life["results"], strict=True):
        assert res["cash_in"] == rep["cash"]
        # conservation of the exact engine, as its docstring states it
        assert res["cash_in"] == (
            res["cash_out"]
            + res["reserve_deposit"]
            - res["reserve_draw"]
            - res["reserve_release"]
            + res["dust_change"]
        )
        paid = (
            sum(res["interest_paid"])
            + sum(res["principal_paid"])
            + sum(res["fees_paid"])
            + res["residual_paid"]
        )
        assert paid == res["cash_out"]


def test_offchain_run_is_not_called_reconciled(offchain: tuple[Path, object]) -> None:
    _, result = offchain
    assert not result.reconciled  # type: ignore[attr-defined]
    assert all(c.ok for c in result.checks)  # type: ignore[attr-defined]
    summary = json.loads((offchain[0] / "summary.json").read_text())
    assert summary["reconciled"] is False and summary["onchain"] is False


def test_loan_files_hold_every_live_loan(offchain: tuple[Path, object]) -> None:
    out, _ = offchain
    t1 = pq.read_table(loans_path(out, 1))
    assert t1.num_rows == OFF.loans
    t2 = pq.read_table(loans_path(out, 2))
    # period 2 holds exactly the loans with a balance at the end of period 1
    open1 = {
        r["loan_id"]
        for r in t1.select(["loan_id", "ending_balance"]).to_pylist()
        if r["ending_balance"] > 0
    }
    assert set(t2.column("loan_id").to_pylist()) == open1


def test_other_settings_in_the_same_folder_are_refused(
    offchain: tuple[Path, object], tmp_path: Path
) -> None:
    out = tmp_path / "x"
    shutil.copytree(offchain[0], out)
    with pytest.raises(InputError, match="other settings"):
        run_lifecycle(out, dataclasses.replace(OFF, psa=300))


def test_cleanup_call_ends_the_deal(tmp_path: Path) -> None:
    """At a fast speed the pool reaches the 10% clean-up factor: that period's ending
    balance is 0, the remaining loans are bought at par and the deal stops."""
    cfg = LifecycleConfig(loans=60, months=120, psa=2000, sda=0, chain=False, seed=3)
    res = run_lifecycle(tmp_path / "c", cfg, write_outputs=False)
    life = json.loads((tmp_path / "c" / "lifecycle.json").read_text())
    last = life["reports"][-1]
    assert res.periods < 120 and last["ending_balance"] == 0
    exact = compile_exact(
        example_deal("four_tranche").with_pool(
            balance=life["reports"][0]["beginning_balance"] / 1e6
        )
    )
    # the call was exercised: the pool factor before the last period was above 10%
    assert last["beginning_balance"] * 10 > exact.pool_original
    t = pq.read_table(loans_path(tmp_path / "c", res.periods)).to_pylist()
    assert all(r["ending_balance"] == 0 for r in t)
    # the loans still open were bought at par: their whole balance after scheduled
    # principal is prepaid; without the call the pool would have kept at least one
    bought = [
        r
        for r in t
        if r["prepaid_principal"] == r["beginning_balance"] - r["scheduled_principal"] > 0
    ]
    assert bought
    # the report's unscheduled principal includes the buy-out
    prepaid_before = sum(r["prepaid_principal"] for r in t)
    assert last["unscheduled_principal"] == prepaid_before
    # the last period paid every class off (or wrote it down): no face is left
    assert sum(life["results"][-1]["ending_balance"]) == 0


# ------------------------------------------------------------------------ on chain

CHAIN = LifecycleConfig(
    loans=80, months=5, investors=4, seed=5, test_waterfall=True, verify_limit=1000
)


@pytest.fixture(scope="module")
def onchain_resumed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, object, RemittanceRejected]:
    """A run whose period 3 report is tampered with (cash one unit short): the oracle
    rejects it; the rerun resumes after period 2."""
    out = tmp_path_factory.mktemp("onchain")

    def short(rep: object) -> object:
        if rep.period == 3:  # type: ignore[attr-defined]
            return dataclasses.replace(rep, cash=rep.cash - 1)  # type: ignore[type-var,attr-defined]
        return rep

    with pytest.raises(RemittanceRejected) as info, tampered_reports(short):
        run_lifecycle(out, CHAIN)
    after_reject["manifest"] = json.loads((out / "state" / "manifest.json").read_text())
    after_reject["files"] = sorted(p.name for p in (out / "loans").iterdir())
    return out, run_lifecycle(out, CHAIN), info.value


after_reject: dict[str, object] = {}


def test_rejected_remittance_leaves_no_partial_state(
    onchain_resumed: tuple[Path, object, RemittanceRejected],
) -> None:
    _, result, err = onchain_resumed
    assert err.period == 3
    assert "nothing of period 3 was stored" in str(err)
    manifest = after_reject["manifest"]
    assert manifest["last_period"] == 2 and len(manifest["roots"]) == 2  # type: ignore[index]
    assert after_reject["files"] == ["period=0001", "period=0002"]
    assert result.resumed_from == 2  # type: ignore[attr-defined]
    assert result.periods == CHAIN.months  # type: ignore[attr-defined]


def test_resumed_run_equals_an_uninterrupted_one(
    onchain_resumed: tuple[Path, object, RemittanceRejected], tmp_path: Path
) -> None:
    out, _, _ = onchain_resumed
    ref = tmp_path / "ref"
    run_lifecycle(ref, dataclasses.replace(CHAIN, chain=False), write_outputs=False)
    a = json.loads((out / "lifecycle.json").read_text())
    b = json.loads((ref / "lifecycle.json").read_text())
    assert a["reports"] == b["reports"]
    assert a["results"] == b["results"]


def test_onchain_plumbing(onchain_resumed: tuple[Path, object, RemittanceRejected]) -> None:
    """Every loan's final record verifies on chain; roots, report sums, token supplies
    and claims reconcile; the TEST DOUBLE waterfall differs from the exact engine and
    the audit says so (it must: the double does not cap class D's coupon)."""
    _, result, _ = onchain_resumed
    checks = {c.name: c for c in result.checks}  # type: ignore[attr-defined]
    assert checks["final loan records verify on chain (verify_loan)"].ok
    assert (
        f"{CHAIN.loans} of {CHAIN.loans} loans verified"
        in checks["final loan records verify on chain (verify_loan)"].detail
    )
    for name in (
        "final loan records verify against the on-chain roots",
        "Merkle roots match the accepted roots",
        "report aggregates equal loan-level sums",
        "token balances add up to the original face",
        "claims never exceed the cash credited",
    ):
        assert checks[name].ok, checks[name].detail
    assert not checks["on-chain waterfall equals the exact engine"].ok
    assert not result.reconciled  # type: ignore[attr-defined]


def test_lifecycle_reconciles_on_chain(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    duckdb_tables: Callable[[Path], dict[str, list[tuple[object, ...]]]],
) -> None:
    """The run reconciles; and on titanoboa's stock py-evm (no lean interpreter, gas
    metered, tracers on) it emits the same events and gives the same summary."""
    import boa

    cfg = LifecycleConfig(loans=200, months=24, investors=5, seed=2)
    before = boa.env
    res = run_lifecycle(tmp_path / "r", cfg)
    assert boa.env is before  # the run's lean environment is not left global
    bad = [c for c in res.checks if not c.ok]
    assert not bad, bad
    assert res.reconciled

    import openmbs.chain.fastevm as lean

    monkeypatch.setattr(lean, "make_lean", lambda env: False)
    stock = run_lifecycle(tmp_path / "stock", cfg)
    assert stock.reconciled
    summaries = []
    for d in ("r", "stock"):
        summary = json.loads((tmp_path / d / "summary.json").read_text())
        summary.pop("timing_seconds")
        summaries.append(json.dumps(summary, sort_keys=True).replace(str(tmp_path / d), "OUT"))
    assert summaries[0] == summaries[1]
    lean_events = duckdb_tables(tmp_path / "r" / "events.duckdb")
    assert sum(len(v) for v in lean_events.values()) > 100
    assert lean_events == duckdb_tables(tmp_path / "stock" / "events.duckdb")


def test_query_cli_reads_the_event_store(
    onchain_resumed: tuple[Path, object, RemittanceRejected],
) -> None:
    from typer.testing import CliRunner

    from openmbs.cli import app

    out, _, _ = onchain_resumed
    db = str(out / "events.duckdb")
    runner = CliRunner()
    res = runner.invoke(app, ["query", "tranche-payments", "--db", db, "--limit", "100"])
    assert res.exit_code == 0, res.output
    assert f"({4 * CHAIN.months} rows)" in res.output  # 4 tranches x periods
    for sub in ("holders", "claims", "pool-performance"):
        r = runner.invoke(app, ["query", sub, "--db", db])
        assert r.exit_code == 0, (sub, r.output)
    # realised vs projected losses: the projection the demo stored with the events is
    # the one in projection.csv (currency units -> base units)
    import csv

    from openmbs.indexer import EventStore, pool_performance

    with open(out / "projection.csv", newline="") as fh:
        rows = {int(r["period"]): float(r["loss"]) for r in csv.DictReader(fh)}
    with EventStore(db, read_only=True) as store:
        perf = pool_performance(store).to_pylist()
    assert [r["period"] for r in perf] == list(range(1, CHAIN.months + 1))
    for r in perf:
        assert r["projected_loss"] == round(rows[r["period"]] * 10**6)
    bad = runner.invoke(app, ["query", "holders", "--db", str(out / "missing.duckdb")])
    assert isinstance(bad.exception, InputError) and "no such event store" in str(bad.exception)


def test_demo_cli_off_chain(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from openmbs.cli import app

    out = tmp_path / "d"
    res = CliRunner().invoke(
        app,
        [
            "demo",
            "--out",
            str(out),
            "--loans",
            "40",
            "--months",
            "4",
            "--investors",
            "2",
            "--no-chain",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "report.html" in res.output
    assert (out / "report.html").exists() and (out / "summary.json").exists()
    assert (out / "projection.csv").exists()
    assert len(list((out / "loans").glob("period=*/part-0.parquet"))) == 4


def test_demo_cli_rpc_needs_the_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator key is never a CLI argument: without $OPENMBS_PRIVATE_KEY the
    command refuses before doing anything; --rpc with --no-chain is refused too."""
    from typer.testing import CliRunner

    from openmbs.cli import app

    monkeypatch.delenv("OPENMBS_PRIVATE_KEY", raising=False)
    out = tmp_path / "n"
    res = CliRunner().invoke(app, ["demo", "--out", str(out), "--rpc", "http://127.0.0.1:9"])
    assert isinstance(res.exception, InputError)
    assert "OPENMBS_PRIVATE_KEY" in str(res.exception)
    assert not out.exists()
    res = CliRunner().invoke(
        app, ["demo", "--out", str(out), "--rpc", "http://127.0.0.1:9", "--no-chain"]
    )
    assert isinstance(res.exception, InputError) and "--no-chain" in str(res.exception)
