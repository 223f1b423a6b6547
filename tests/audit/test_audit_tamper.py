"""`openmbs audit` recomputes a lifecycle folder and names what was tampered with.

The folder here is of a run without a chain, so the audit is narrowed to its files
(``files_only``); tests/audit/test_audit_anchor.py audits runs on a chain.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.audit import audit
from openmbs.cli import app
from openmbs.errors import InputError
from openmbs.oracle import MerkleTree
from openmbs.sim import LifecycleConfig, loans_path, run_lifecycle

CFG = LifecycleConfig(loans=60, months=6, investors=3, chain=False, seed=21)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit")
    run_lifecycle(out, CFG, write_outputs=False)
    return out


def _copy(folder: Path, tmp: Path) -> Path:
    dst = tmp / "copy"
    shutil.copytree(folder, dst)
    return dst


def _edit(path: Path, row: int, column: str, delta: int) -> str:
    t = pq.read_table(path)
    values = t.column(column).to_numpy().copy()
    values[row] += delta
    t = t.set_column(
        t.schema.get_field_index(column), column, pa.array(values, t.schema.field(column).type)
    )
    pq.write_table(t, path)
    return str(t.column("loan_id")[row].as_py())


def test_clean_folder_passes(folder: Path) -> None:
    rep = audit(folder, files_only=True)
    assert rep.ok, rep.mismatches
    names = [c.name for c in rep.checks]
    assert "Merkle roots match the accepted roots" in names


def test_edited_loan_record_is_named(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    loan = _edit(loans_path(out, 2), 7, "interest_paid", 1)
    rep = audit(out, files_only=True)
    assert not rep.ok
    leaf = next(c for c in rep.checks if c.name == "loan records hash to their stored leaves")
    assert not leaf.ok
    assert leaf.mismatches == (f"period 2 loan {loan!r}: record does not hash to its stored leaf",)


def test_rehashed_leaf_breaks_the_root(folder: Path, tmp_path: Path) -> None:
    """A forger who also rewrites the stored leaf is caught by the accepted root."""
    from openmbs.agents import leaves

    out = _copy(folder, tmp_path)
    path = loans_path(out, 3)
    _edit(path, 0, "scheduled_principal", -5)
    _edit(path, 0, "ending_balance", 5)  # keep the record rolling forward
    t = pq.read_table(path)
    fresh = leaves(t)
    t = t.set_column(t.schema.get_field_index("leaf"), "leaf", pa.array(fresh, pa.binary(32)))
    pq.write_table(t, path)
    rep = audit(out, files_only=True)
    roots = next(c for c in rep.checks if c.name == "Merkle roots match the accepted roots")
    assert not roots.ok
    assert len(roots.mismatches) == 1 and roots.mismatches[0].startswith("period 3:")
    assert f"0x{MerkleTree(fresh).root.hex()}" in roots.mismatches[0]
    assert np.all(
        [c.ok for c in rep.checks if c.name == "loan records hash to their stored leaves"]
    )


def test_cli_exits_nonzero_and_prints_period_and_loan(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    loan = _edit(loans_path(out, 4), 3, "loss", 2)
    res = CliRunner().invoke(app, ["audit", str(out), "--files-only"])
    assert res.exit_code == 1
    assert f"period 4 loan {loan!r}" in res.output
    assert "audit FAILED" in res.output
    ok = CliRunner().invoke(app, ["audit", str(folder), "--files-only"])
    assert ok.exit_code == 0, ok.output
    assert "audit passed" in ok.output


def test_no_chain_is_not_checked_unless_narrowed(folder: Path) -> None:
    """A skipped check is a failure: auditing a run without a chain against the chain
    fails, and says what it did not check; narrowed with --files-only it passes and
    still lists what was not checked."""
    rep = audit(folder)
    assert not rep.ok
    anchor = next(c for c in rep.checks if c.name == "chain anchor")
    assert not anchor.ok and "no chain" in anchor.detail
    res = CliRunner().invoke(app, ["audit", str(folder)])
    assert res.exit_code == 1 and "not checked: chain anchor" in res.output
    narrowed = CliRunner().invoke(app, ["audit", str(folder), "--files-only"])
    assert narrowed.exit_code == 0, narrowed.output
    assert "not checked:" in narrowed.output and "on-chain waterfall" in narrowed.output


def test_missing_manifest_fails(folder: Path, tmp_path: Path) -> None:
    """Without state/manifest.json no loan file was read and the audit passed."""
    out = _copy(folder, tmp_path)
    loan = _edit(loans_path(out, 2), 7, "interest_paid", 1)
    (out / "state" / "manifest.json").unlink()
    rep = audit(out, files_only=True)
    assert not rep.ok
    assert any("manifest.json" in m and "missing" in m for m in rep.mismatches), rep.mismatches
    assert f"period 2 loan {loan!r}: record does not hash to its stored leaf" in rep.mismatches
    roots = next(c for c in rep.checks if c.name == "Merkle roots match the accepted roots")
    assert roots.skipped and not roots.ok
    res = CliRunner().invoke(app, ["audit", str(out), "--files-only"])
    assert res.exit_code == 1, res.output


def test_not_a_lifecycle_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"closing\.json"):
        audit(tmp_path)
