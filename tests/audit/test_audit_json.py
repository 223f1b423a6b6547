"""`openmbs audit DIR --json`: one JSON object a script can read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openmbs.audit import audit
from openmbs.cli import app
from openmbs.sim import LifecycleConfig, run_lifecycle

CFG = LifecycleConfig(loans=30, months=3, investors=2, chain=False, seed=5)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit_json")
    run_lifecycle(out, CFG, write_outputs=False)
    return out


def _json(args: list[str]) -> tuple[int, dict[str, object]]:
    res = CliRunner().invoke(app, args)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    return res.exit_code, json.loads(res.stdout)


def test_audit_json_passing(folder: Path) -> None:
    code, doc = _json(["audit", str(folder), "--files-only", "--json"])
    assert code == 0
    rep = audit(folder, files_only=True)
    assert doc["ok"] is True
    assert doc["folder"] == str(folder)
    checks = doc["checks"]
    assert isinstance(checks, list)
    assert [c["name"] for c in checks] == [c.name for c in rep.checks]
    for c in checks:
        assert set(c) == {"name", "ok", "skipped", "anchor", "detail", "mismatches"}
        assert isinstance(c["mismatches"], list)
    assert doc["not_checked"] == rep.not_checked


def test_audit_json_failing_exits_1(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(folder, out)
    (out / "state" / "manifest.json").unlink()
    code, doc = _json(["audit", str(out), "--files-only", "--json"])
    assert code == 1
    assert doc["ok"] is False
    failed = [c for c in doc["checks"] if not c["ok"]]  # type: ignore[union-attr]
    assert failed and all(c["detail"] for c in failed)


def test_audit_json_without_chain_lists_not_checked(folder: Path) -> None:
    code, doc = _json(["audit", str(folder), "--json"])
    assert code == 1
    assert doc["ok"] is False
    assert doc["not_checked"]
