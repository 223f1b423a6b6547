"""The event store as Parquet: ABI integers as decimals (not DuckDB's opaque BIGNUM
bytes), every value exact, one file per table; `openmbs query export-parquet`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.errors import InputError
from openmbs.indexer import EventStore, event_table, export_parquet, tranche_payments
from openmbs.sim import LifecycleConfig, run_lifecycle

_MAX = 2**256 - 1


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    run_lifecycle(out, LifecycleConfig(loans=30, months=2, investors=2, seed=9), write_outputs=False)
    return out / "events.duckdb"


def test_every_table_exported_with_exact_integers(db: Path, tmp_path: Path) -> None:
    with EventStore(db, read_only=True) as store:
        files = export_parquet(store, tmp_path / "x")
        tables = [str(r[0]) for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        want = store.con.execute(
            "SELECT CAST(value AS VARCHAR) FROM ev_transfer ORDER BY block_number, log_index"
        ).fetchall()
        payments = tranche_payments(store)
    assert sorted(f.stem for f in files) == sorted(tables)
    t = pq.read_table(tmp_path / "x" / "ev_transfer.parquet")
    field = t.schema.field("value")
    assert field.type == pa.decimal128(38, 0)
    assert field.metadata == {b"openmbs.abi_integer": b"decimal128"}
    assert t.column("value").to_pylist() == [Decimal(r[0]) for r in want]
    # the exported allocations carry the same figures as the query over the store
    alloc = pq.read_table(tmp_path / "x" / "ev_tranche_allocated.parquet").to_pylist()
    got = sorted((int(r["period"]), int(r["tranche"]), int(r["interest"])) for r in alloc)
    assert got == sorted(zip(*(payments.column(c).to_pylist() for c in ("period", "tranche", "interest")), strict=True))
    # any DuckDB reads the file back as exact decimals
    back = duckdb.sql(f"SELECT typeof(value), value FROM '{tmp_path / 'x' / 'ev_transfer.parquet'}' LIMIT 1").fetchall()
    assert back == [("DECIMAL(38,0)", Decimal(want[0][0]))]
    assert not list((tmp_path / "x").glob(".*"))  # no temporary file left


def test_wide_integers_widen_the_column_or_become_strings() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE ev_wide (block_number UBIGINT, log_index UBIGINT, a BIGNUM, b BIGNUM, c BIGNUM)")
    con.execute(
        "INSERT INTO ev_wide VALUES (1, 0, 5, ?::BIGNUM, ?::BIGNUM), (1, 1, NULL, 0, 1)",
        [str(10**60), str(_MAX)],
    )
    t = event_table(con, "ev_wide")
    assert t.schema.field("a").type == pa.decimal128(38, 0)
    assert t.schema.field("b").type == pa.decimal256(76, 0)
    assert t.schema.field("b").metadata == {b"openmbs.abi_integer": b"decimal256"}
    assert t.schema.field("c").type == pa.string()
    assert t.schema.field("c").metadata == {b"openmbs.abi_integer": b"decimal-string"}
    assert t.column("a").to_pylist() == [Decimal(5), None]
    assert t.column("b").to_pylist() == [Decimal(10**60), Decimal(0)]
    assert t.column("c").to_pylist() == [str(_MAX), "1"]
    with pytest.raises(InputError, match="no table 'ev_missing'"):
        event_table(con, "ev_missing")


def test_cli_export(db: Path, tmp_path: Path) -> None:
    from openmbs.cli import app

    res = CliRunner().invoke(app, ["query", "export-parquet", "--db", str(db), str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cli" / "ev_remittance_accepted.parquet").exists()
    assert "table(s) written" in res.output


def test_pandas_reads_the_export_and_the_loan_files_exactly(db: Path, tmp_path: Path) -> None:
    """What users open the files with: pandas gets exact integers (``Decimal`` objects
    for the ABI integers, int64 for the loan records), never opaque bytes."""
    import pandas as pd

    from openmbs.sim import loans_path

    with EventStore(db, read_only=True) as store:
        export_parquet(store, tmp_path / "x")
        want = store.con.execute(
            "SELECT CAST(value AS VARCHAR) FROM ev_transfer ORDER BY block_number, log_index"
        ).fetchall()
    df = pd.read_parquet(tmp_path / "x" / "ev_transfer.parquet")
    assert list(df["value"]) == [Decimal(r[0]) for r in want]
    loans = pd.read_parquet(loans_path(db.parent, 1))
    raw = pq.read_table(loans_path(db.parent, 1))
    assert str(loans["beginning_balance"].dtype) == "int64"
    assert loans["beginning_balance"].tolist() == raw.column("beginning_balance").to_pylist()
    assert int(loans["beginning_balance"].sum()) > 0
