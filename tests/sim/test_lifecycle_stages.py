"""The lifecycle's stages, called one at a time (``openmbs.sim._stages``).

``run_lifecycle`` composes them; here each is driven on its own: prepare a folder, step
periods from a record source (the simulator, or loan files written by another run),
resume by replaying the accepted periods, and on the embedded chain deploy, verify,
index, reconcile and report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from openmbs.errors import DataIntegrityError
from openmbs.sim import (
    FileRecords,
    LifecycleConfig,
    SimulatedRecords,
    legacy_loans_path,
    loans_path,
    read_loans,
    run_lifecycle,
)
from openmbs.sim._stages import (
    deploy,
    index,
    prepare,
    reconcile,
    replay_accepted,
    report,
    run_periods,
    step_period,
    verify,
)

OFF = LifecycleConfig(loans=50, months=4, investors=2, chain=False, seed=13)
ON = LifecycleConfig(loans=40, months=3, investors=2, seed=17)


def test_prepare_writes_closing_and_starts_at_period_zero(tmp_path: Path) -> None:
    run = prepare(tmp_path / "p", OFF)
    assert run.last_period == 0 and run.resumed_from == 0 and not run.finished
    assert isinstance(run.source, SimulatedRecords)
    closing = json.loads((tmp_path / "p" / "closing.json").read_text())
    assert closing["pool_units"] == run.exact.pool_original
    assert closing["tranche_names"] == list(run.exact.names)
    assert (tmp_path / "p" / "tape.parquet").exists() and not (tmp_path / "p" / "state" / "manifest.json").exists()


def test_step_period_stores_the_file_then_the_manifest(tmp_path: Path) -> None:
    out = tmp_path / "s"
    run = prepare(out, OFF)
    final = step_period(run, run.source.records(1))
    assert not final and run.last_period == 1 and len(run.results) == 1
    t = pq.read_table(loans_path(out, 1))
    assert loans_path(out, 1).parent.name == "period=0001"
    assert t.num_rows == OFF.loans and t.schema.field("leaf").type.byte_width == 32
    # the run's assumptions travel with the file
    meta = pq.read_metadata(loans_path(out, 1)).metadata
    assert json.loads(meta[b"openmbs.config"])["psa"] == OFF.psa
    manifest = json.loads((out / "state" / "manifest.json").read_text())
    assert manifest["last_period"] == 1 and manifest["roots"] == run.roots
    assert run.roots[0] == "0x" + run.reports[0].loan_tape_root.hex()


def test_records_from_files_drive_the_same_run(tmp_path: Path) -> None:
    """The record source is pluggable: a run fed the loan files another run wrote
    (as a replay of a real history would be) accepts the same reports."""
    ref = tmp_path / "ref"
    run_lifecycle(ref, OFF, write_outputs=False)
    run = prepare(tmp_path / "files", OFF, source=FileRecords(ref))
    run_periods(run)
    want = json.loads((ref / "lifecycle.json").read_text())["reports"]
    assert run.last_period == OFF.months
    assert [r.loan_tape_root.hex() for r in run.reports] == [r["loan_tape_root"][2:] for r in want]
    assert [r.cash for r in run.reports] == [r["cash"] for r in want]


def test_resume_replays_the_accepted_periods(tmp_path: Path) -> None:
    out = tmp_path / "r"
    first = prepare(out, OFF)
    for _ in range(2):
        step_period(first, first.source.records(first.last_period + 1))
    again = prepare(out, OFF)
    assert again.resumed_from == 2 and again.roots == first.roots
    replay_accepted(again)
    assert [r.cash for r in again.reports] == [r.cash for r in first.reports]
    assert again.source.sim.period == 2  # type: ignore[attr-defined]
    run_periods(again)
    assert again.last_period == OFF.months and len(again.results) == OFF.months


def test_replay_refuses_an_edited_loan_file(tmp_path: Path) -> None:
    out = tmp_path / "e"
    run = prepare(out, OFF)
    step_period(run, run.source.records(1))
    t = pq.read_table(loans_path(out, 1))
    pq.write_table(t.slice(1), loans_path(out, 1))  # a loan removed
    with pytest.raises(DataIntegrityError, match="period 1: Merkle root"):
        replay_accepted(prepare(out, OFF))


def test_an_older_layout_is_not_resumed(tmp_path: Path) -> None:
    out = tmp_path / "old"
    run = prepare(out, OFF)
    step_period(run, run.source.records(1))
    loans_path(out, 1).rename(legacy_loans_path(out, 1))
    with pytest.raises(DataIntegrityError, match="older output layout"):
        read_loans(out, 1)
    with pytest.raises(DataIntegrityError, match="older output layout"):
        replay_accepted(prepare(out, OFF))


def test_chain_stages_one_by_one(tmp_path: Path) -> None:
    import boa

    out = tmp_path / "c"
    before = boa.env
    try:
        run = prepare(out, ON)
        deploy(run)
        assert run.world is not None and not run.world.attached
        run_periods(run)
        assert run.finished and run.last_period == ON.months
        verify(run)
        assert [c.name for c in run.checks] == [
            "final loan records verify on chain (verify_loan)",
            "final loan records verify against the on-chain roots",
        ]
        assert all(c.ok for c in run.checks), run.checks
        index(run)
        from openmbs.indexer import EventStore, pool_performance, remittance_reports

        with EventStore(out / "events.duckdb", read_only=True) as store:
            reps = remittance_reports(store)
            perf = pool_performance(store).to_pylist()
        assert reps is not None and [int(r["period"]) for r in reps] == [1, 2, 3]
        assert perf[0]["projected_loss"] is not None  # the projection was stored
        reconcile(run)
        assert run.audit_report is not None and run.audit_report.ok
        result = report(run, write_outputs=False)
        assert result.reconciled and result.periods == ON.months
        assert (out / "lifecycle.json").exists() and not (out / "report.html").exists()
    finally:
        boa.set_env(before)


def test_off_chain_stages_skip_the_chain(tmp_path: Path) -> None:
    run = prepare(tmp_path / "o", OFF)
    deploy(run)
    assert run.world is None
    run_periods(run)
    verify(run)
    index(run)
    assert run.checks == [] and not (tmp_path / "o" / "events.duckdb").exists()
    reconcile(run)
    result = report(run, write_outputs=False)
    assert not result.onchain and not result.reconciled and all(c.ok for c in result.checks)


def test_loan_folder_reads_as_one_partitioned_table(tmp_path: Path) -> None:
    """The recipes of docs/demo.md: ``loans/`` is one table partitioned by period for
    pyarrow (with the partition's type given: each file keeps its own ``period`` column,
    so a single file still hashes to its leaves) and for DuckDB."""
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds

    out = tmp_path / "h"
    run_lifecycle(out, OFF, write_outputs=False)
    part = ds.partitioning(pa.schema([("period", pa.int32())]), flavor="hive")
    t = pq.read_table(out / "loans", partitioning=part)
    per_file = sum(pq.read_metadata(loans_path(out, k)).num_rows for k in range(1, OFF.months + 1))
    assert t.num_rows == per_file
    assert sorted(set(t.column("period").to_pylist())) == list(range(1, OFF.months + 1))
    rows = duckdb.sql(
        f"SELECT period, count(*) FROM read_parquet('{out}/loans/*/*.parquet', hive_types={{'period': INTEGER}}) "
        "GROUP BY period ORDER BY period"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(1, OFF.months + 1)) and sum(r[1] for r in rows) == per_file
