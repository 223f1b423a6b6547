"""The audit of a run on the embedded chain is anchored to the re-executed chain.

Attacks that passed when the audit checked the folder against itself: a forged period
(loan record, its leaf) with the accepted root edited in the event store to match; the
same with ``events.duckdb`` and the manifest deleted; an event store whose views run
their author's SQL.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.audit import ANCHOR_REEXECUTED, audit
from openmbs.cli import app
from openmbs.errors import DataIntegrityError
from openmbs.oracle import MerkleTree
from openmbs.sim import LifecycleConfig, loans_path, run_lifecycle

CFG = LifecycleConfig(loans=40, months=4, investors=2, seed=21)
SECRET = "OPENMBS_PRIVATE_KEY=0x5ec2e7a11ce0000000000000000000000000000000000000000000000000beef"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("anchored")
    run_lifecycle(out, CFG, write_outputs=False)
    return out


def _copy(folder: Path, tmp: Path) -> Path:
    dst = tmp / "copy"
    shutil.copytree(folder, dst)
    return dst


def _forge_period(out: Path, period: int) -> str:
    """Move one unit of interest between two loan records (the period's sums stay) and
    re-hash their leaves; returns the forged root."""
    from openmbs.agents import leaves

    path = loans_path(out, period)
    t = pq.read_table(path)
    vals = t.column("interest_paid").to_numpy().copy()
    vals[0] += 1
    vals[1] -= 1
    t = t.set_column(
        t.schema.get_field_index("interest_paid"),
        "interest_paid",
        pa.array(vals, t.schema.field("interest_paid").type),
    )
    fresh = leaves(t)
    t = t.set_column(t.schema.get_field_index("leaf"), "leaf", pa.array(fresh, pa.binary(32)))
    pq.write_table(t, path)
    return "0x" + MerkleTree(fresh).root.hex()


def _edit_accepted_root(out: Path, period: int, root: str) -> None:
    """Edit one row of the event store: the accepted root of a period."""
    con = duckdb.connect(str(out / "events.duckdb"))
    con.execute(
        "UPDATE ev_remittance_accepted SET loan_tape_root = ? WHERE CAST(period AS BIGINT) = ?",
        [root, period],
    )
    con.close()


def test_clean_folder_passes_against_the_reexecuted_chain(folder: Path) -> None:
    rep = audit(folder)
    assert rep.ok, rep.mismatches
    assert not rep.not_checked
    by_name = {c.name: c for c in rep.checks}
    assert by_name["Merkle roots match the accepted roots"].anchor == ANCHOR_REEXECUTED
    assert by_name["event store equals the chain's events"].ok


def test_edited_event_store_row_is_caught_against_the_chain(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    forged = _forge_period(out, 2)
    _edit_accepted_root(out, 2, forged)
    manifest = out / "state" / "manifest.json"
    manifest.write_text(manifest.read_text().replace(audit_root(folder, 2), forged))
    # the folder agrees with itself (and says the chain was not consulted) ...
    narrowed = audit(out, files_only=True)
    assert narrowed.ok and narrowed.not_checked == ["chain anchor"]
    # ... but not with the chain
    rep = audit(out)
    assert not rep.ok
    events = next(c for c in rep.checks if c.name == "event store equals the chain's events")
    assert any(
        "ev_remittance_accepted" in m and "loan_tape_root" in m and forged in m
        for m in events.mismatches
    ), events.mismatches
    roots = next(c for c in rep.checks if c.name == "Merkle roots match the accepted roots")
    assert not roots.ok and roots.mismatches[0].startswith("period 2:")
    res = CliRunner().invoke(app, ["audit", str(out)])
    assert res.exit_code == 1 and f"[{ANCHOR_REEXECUTED}]" in res.output


def test_rows_added_to_the_event_store_are_named(folder: Path, tmp_path: Path) -> None:
    """A claim row added to the store (and a whole table the chain never emitted)."""
    out = _copy(folder, tmp_path)
    con = duckdb.connect(str(out / "events.duckdb"))
    con.execute(
        "INSERT INTO ev_claimed SELECT 999999, 0, tx_hash, contract_address, contract, holder, "
        "tranche, amount FROM ev_claimed LIMIT 1"
    )
    con.execute("CREATE TABLE ev_forged AS SELECT * FROM ev_claimed")
    con.execute(
        "INSERT INTO event_types VALUES ('Forged(address,uint256,uint256)', 'Forged', '0x00', "
        "'ev_forged', '[[\"holder\", \"address\", \"VARCHAR\"], [\"tranche\", \"uint256\", "
        "\"BIGNUM\"], [\"amount\", \"uint256\", \"BIGNUM\"]]')"
    )
    con.close()
    rep = audit(out)
    events = next(c for c in rep.checks if c.name == "event store equals the chain's events")
    assert not events.ok
    assert any("'ev_claimed' row (block 999999, log 0): not on chain" in m for m in events.mismatches)
    assert any("'ev_forged'" in m and "the chain does not have" in m for m in events.mismatches)


def audit_root(folder: Path, period: int) -> str:
    import json

    return str(json.loads((folder / "state" / "manifest.json").read_text())["roots"][period - 1])


@pytest.mark.parametrize("files_only", [False, True])
def test_deleting_the_evidence_fails(folder: Path, tmp_path: Path, files_only: bool) -> None:
    """A forged folder used to pass once events.duckdb and the manifest were deleted."""
    out = _copy(folder, tmp_path)
    _forge_period(out, 3)
    (out / "events.duckdb").unlink()
    (out / "state" / "manifest.json").unlink()
    args = ["audit", str(out)] + (["--files-only"] if files_only else [])
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "audit FAILED" in res.output
    assert "state/manifest.json': missing" in res.output
    if files_only:  # the folder alone: what could not be checked is listed
        assert "not checked: " in res.output and "Merkle roots" in res.output
    else:  # against the re-executed chain: the forged period and the missing store
        assert "period 3: root of stored leaves" in res.output
        assert "events.duckdb': missing" in res.output


def test_event_store_with_a_view_is_refused_and_leaks_nothing(
    folder: Path, tmp_path: Path
) -> None:
    out = _copy(folder, tmp_path)
    secret = tmp_path / "environ"
    secret.write_text(SECRET)
    con = duckdb.connect(str(out / "events.duckdb"))
    con.execute("CREATE TABLE acc AS SELECT * FROM ev_remittance_accepted")
    con.execute("DROP TABLE ev_remittance_accepted")
    cols = [r[0] for r in con.execute("DESCRIBE acc").fetchall()]
    sel = ", ".join(
        # hex, so the old audit got as far as printing it (in a report error)
        f"(SELECT '0x' || lower(hex(content)) FROM read_text('{secret}')) AS loan_tape_root"
        if c == "loan_tape_root"
        else f'"{c}"'
        for c in cols
    )
    con.execute(f"CREATE VIEW ev_remittance_accepted AS SELECT {sel} FROM acc")
    con.execute("DROP TABLE acc")
    con.close()
    for args in (["audit", str(out), "--files-only"], ["audit", str(out)]):
        res = CliRunner().invoke(app, args)
        msg = str(res.exception)
        for leaked in ("5ec2e7a11ce", SECRET.encode().hex()):
            assert leaked not in res.output and leaked not in msg
        assert isinstance(res.exception, DataIntegrityError), res.output
        assert "view 'main.ev_remittance_accepted'" in msg and "events.duckdb" in msg
