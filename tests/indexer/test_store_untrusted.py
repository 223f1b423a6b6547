"""An event store written by someone else must not run their SQL in the reader.

Attack: a view named like an expected table reads a file holding a secret; a reader that
opens the store with external access on and reads views as tables prints the secret.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from indexer_helpers import Scenario
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.errors import DataIntegrityError
from openmbs.indexer import ContractRegistry, EventStore, Indexer, MemoryLogSource, holder_claims

SECRET = "OPENMBS_PRIVATE_KEY=0xdeadbeefcafe0123456789"


def _store(scenario: Scenario, path: Path) -> None:
    source = MemoryLogSource("boa", scenario.logs)
    source.seal(scenario.last_block)
    reg = ContractRegistry()
    reg.add(scenario.address, "Fixture", scenario.abi)
    with EventStore(path) as st:
        Indexer(st, source, reg).run()


def _secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "environ"
    p.write_text(SECRET)
    return p


def _replace_with_view(db: Path, table: str, select: str) -> None:
    con = duckdb.connect(str(db))
    con.execute(f"DROP TABLE {table}")
    con.execute(f"CREATE VIEW {table} AS {select}")
    con.close()


CLAIMS_VIEW = (
    "SELECT 1::UBIGINT AS block_number, 0::UBIGINT AS log_index, 'x' AS tx_hash, "
    "'0x0' AS contract_address, 'c' AS contract, "
    "(SELECT content FROM read_text('{secret}')) AS holder, 0::BIGNUM AS tranche, "
    "100::BIGNUM AS amount"
)


def test_view_reading_a_secret_is_refused_by_query(scenario: Scenario, tmp_path: Path) -> None:
    db = tmp_path / "events.duckdb"
    _store(scenario, db)
    table = "ev_claimed"
    with EventStore(db, read_only=True) as st:
        assert st.tables_for_event("Claimed") == [table]
        assert holder_claims(st).num_rows > 0  # a clean store reads
    _replace_with_view(db, table, CLAIMS_VIEW.format(secret=_secret_file(tmp_path)))
    res = CliRunner().invoke(app, ["query", "claims", "--db", str(db)])
    assert SECRET not in res.output
    assert "0xdeadbeef" not in res.output
    assert isinstance(res.exception, DataIntegrityError), res.output
    assert str(db) in str(res.exception) and table in str(res.exception)
    with pytest.raises(DataIntegrityError, match=r"view 'main\.ev_claimed'"):
        EventStore(db, read_only=True)


@pytest.mark.parametrize(
    ("ddl", "named"),
    [
        ("CREATE MACRO ev_total(x) AS x + 1", "macro 'main.ev_total'"),
        ("CREATE TABLE extra (a INTEGER)", "table 'extra'"),
        ("CREATE SEQUENCE seq", "sequence 'main.seq'"),
        ("CREATE SCHEMA other", "schema 'other'"),
        (
            "DROP TABLE cursor; CREATE TABLE cursor (source VARCHAR, "
            "last_block BIGINT AS (42))",
            "column 'last_block' is a generated column",
        ),
        (
            "DROP TABLE cursor; CREATE TABLE cursor (source VARCHAR, last_block VARCHAR)",
            "table 'cursor' has columns",
        ),
        ("DROP TABLE ev_transfer", "names table 'ev_transfer'"),
    ],
)
def test_foreign_objects_are_refused(
    scenario: Scenario, tmp_path: Path, ddl: str, named: str
) -> None:
    db = tmp_path / "events.duckdb"
    _store(scenario, db)
    con = duckdb.connect(str(db))
    con.execute(ddl)
    con.close()
    with pytest.raises(DataIntegrityError) as err:
        EventStore(db, read_only=True)
    assert named in str(err.value) and str(db) in str(err.value)
    with pytest.raises(DataIntegrityError):  # the writer refuses it too
        EventStore(db)


def test_read_only_store_has_no_external_access(scenario: Scenario, tmp_path: Path) -> None:
    db = tmp_path / "events.duckdb"
    _store(scenario, db)
    secret = _secret_file(tmp_path)
    with EventStore(db, read_only=True) as st:
        with pytest.raises(duckdb.Error, match="disabled"):
            st.con.execute(f"SELECT content FROM read_text('{secret}')").fetchall()
        with pytest.raises(duckdb.Error):  # and cannot be switched back on
            st.con.execute("SET enable_external_access = true")
