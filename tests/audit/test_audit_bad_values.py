"""A missing or garbled stored value is a failed audit check, never an exception.

The folder is of a small run on the embedded chain; each test damages one stored value
(in the event store, a loan file, the manifest or closing.json) in a copy and audits it
narrowed to its files: the check that reads the value fails and names it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from openmbs.audit import AuditReport, audit
from openmbs.sim import LifecycleConfig, legacy_loans_path, loans_path, run_lifecycle

CFG = LifecycleConfig(loans=40, months=3, investors=2, seed=31)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-values")
    res = run_lifecycle(out, CFG, write_outputs=False)
    assert res.reconciled
    return out


def _copy(folder: Path, tmp: Path) -> Path:
    dst = tmp / "copy"
    shutil.copytree(folder, dst)
    return dst


def _sql(out: Path, sql: str) -> None:
    con = duckdb.connect(str(out / "events.duckdb"))
    try:
        con.execute(sql)
    finally:
        con.close()


def _check(rep: AuditReport, name: str) -> Any:
    return next(c for c in rep.checks if c.name == name)


def test_clean_folder_passes(folder: Path) -> None:
    rep = audit(folder, files_only=True)
    assert rep.ok, rep.mismatches


def test_missing_report_value_is_a_failed_check(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    _sql(out, "UPDATE ev_remittance_accepted SET report_cash = NULL WHERE period = 2")
    rep = audit(out, files_only=True)
    agg = _check(rep, "report aggregates equal loan-level sums")
    assert not agg.ok
    assert any("period 2" in m and "'cash'" in m and "missing" in m for m in agg.mismatches), agg.mismatches
    wf = _check(rep, "on-chain waterfall equals the exact engine")
    assert not wf.ok and any("period 2" in m for m in wf.mismatches), wf.mismatches


def test_garbled_root_is_a_failed_check(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    _sql(out, "UPDATE ev_remittance_accepted SET loan_tape_root = '0xnot-hex' WHERE period = 1")
    rep = audit(out, files_only=True)
    roots = _check(rep, "Merkle roots match the accepted roots")
    assert not roots.ok
    assert any(m.startswith("period 1") and "0xnot-hex" in m for m in roots.mismatches), roots.mismatches
    assert not rep.ok


def test_garbled_token_list_is_a_failed_check(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    _sql(out, "UPDATE ev_deal_configured SET tokens = '[\"0x12\", 7]'")
    rep = audit(out, files_only=True)
    sup = _check(rep, "token balances add up to the original face")
    assert not sup.ok and any("tokens" in m for m in sup.mismatches), sup.mismatches


def test_missing_allocation_value_is_a_failed_check(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    _sql(out, "UPDATE ev_tranche_allocated SET balance = NULL WHERE period = 3 AND tranche = 0")
    rep = audit(out, files_only=True)
    wf = _check(rep, "on-chain waterfall equals the exact engine")
    assert not wf.ok
    assert any("period 3" in m and "balance" in m and "missing" in m for m in wf.mismatches), wf.mismatches


def test_missing_loan_value_is_a_failed_check(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    path = loans_path(out, 2)
    t = pq.read_table(path)
    col = t.column("interest_paid").to_pylist()
    col[5] = None
    t = t.set_column(t.schema.get_field_index("interest_paid"), "interest_paid", pa.array(col, pa.int64()))
    pq.write_table(t, path)
    rep = audit(out, files_only=True)
    leaf = _check(rep, "loan records hash to their stored leaves")
    assert not leaf.ok
    assert any("period 2" in m and "interest_paid" in m for m in leaf.mismatches), leaf.mismatches


def test_garbled_manifest_is_a_failed_check(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    path = out / "state" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["roots"] = "not a list"
    path.write_text(json.dumps(manifest))
    rep = audit(out, files_only=True)
    assert not rep.ok
    assert any("manifest.json" in m and "roots" in m for m in rep.mismatches), rep.mismatches


def test_garbled_closing_faces_are_a_failed_check(folder: Path, tmp_path: Path) -> None:
    out = _copy(folder, tmp_path)
    path = out / "closing.json"
    closing = json.loads(path.read_text())
    closing["tranche_face"][1] = "lots"
    path.write_text(json.dumps(closing))
    rep = audit(out, files_only=True)
    sup = _check(rep, "token balances add up to the original face")
    assert not sup.ok and any("tranche_face" in m for m in sup.mismatches), sup.mismatches


def test_older_layout_is_read_and_named(folder: Path, tmp_path: Path) -> None:
    """A folder written before the partition folders (loans/period=NNNN.parquet) is
    audited the same way, and the check says it read the older layout."""
    out = _copy(folder, tmp_path)
    for k in range(1, CFG.months + 1):
        new = loans_path(out, k)
        new.rename(legacy_loans_path(out, k))
        new.parent.rmdir()
    rep = audit(out, files_only=True)
    assert rep.ok, rep.mismatches
    leaf = _check(rep, "loan records hash to their stored leaves")
    assert "older layout" in leaf.detail
