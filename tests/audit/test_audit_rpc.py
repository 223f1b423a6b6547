"""`openmbs audit DIR --rpc URL --deal ADDRESS`: the folder checked against the node.

The smallest lifecycle on anvil (20 loans, 2 months, 1 investor). A folder whose files
were edited consistently (a loan record, its leaf, the accepted root in the event store
and in the manifest) passes the files-only audit and fails against the chain.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_audit_anchor import _edit_accepted_root, _forge_period
from typer.testing import CliRunner

from openmbs.audit import ANCHOR_RPC, audit
from openmbs.cli import app
from openmbs.sim import LifecycleConfig, dev_chain_keys, run_lifecycle

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def on_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    import boa

    from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil

    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    node = start_anvil(find_anvil() or install_anvil())
    saved = boa.env
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
        out = tmp_path_factory.mktemp("rpc") / "run"
        cfg = LifecycleConfig(loans=20, months=2, investors=1, seed=4, rpc=node.url, verify_limit=1)
        keys = dev_chain_keys(cfg.attestors, cfg.investors)  # a throwaway dev chain
        run_lifecycle(out, cfg, write_outputs=False, keys=keys)
        deal = json.loads((out / "state" / "deployment.json").read_text())["contracts"]["deal"]
        yield out, node.url, str(deal)
    finally:
        mp.undo()
        node.stop()
        boa.set_env(saved)


def test_clean_folder_passes_against_the_node(on_node: tuple[Path, str, str]) -> None:
    out, url, deal = on_node
    rep = audit(out, rpc=url, deal=deal)
    assert rep.ok, rep.mismatches
    by_name = {c.name: c for c in rep.checks}
    for name in (
        "Merkle roots match the accepted roots",
        "on-chain waterfall equals the exact engine",
        "token balances add up to the original face",
        "event store equals the chain's events",
        "closing.json and the manifest equal the chain's deal",
    ):
        assert by_name[name].ok and by_name[name].anchor == ANCHOR_RPC, by_name[name]


def test_node_run_without_rpc_is_not_checked(on_node: tuple[Path, str, str]) -> None:
    out, _, _ = on_node
    res = CliRunner().invoke(app, ["audit", str(out)])
    assert res.exit_code == 1
    assert "the run was on a node: pass --rpc URL --deal ADDRESS" in res.output


def test_consistently_edited_folder_fails_against_the_node(
    on_node: tuple[Path, str, str], tmp_path: Path
) -> None:
    src, url, deal = on_node
    out = tmp_path / "edited"
    shutil.copytree(src, out)
    manifest = out / "state" / "manifest.json"
    old_root = json.loads(manifest.read_text())["roots"][0]
    forged = _forge_period(out, 1)
    _edit_accepted_root(out, 1, forged)
    manifest.write_text(manifest.read_text().replace(old_root, forged))
    assert audit(out, files_only=True).ok  # the files agree with each other
    res = CliRunner().invoke(app, ["audit", str(out), "--rpc", url, "--deal", deal])
    assert res.exit_code == 1, res.output
    assert f"[{ANCHOR_RPC}]" in res.output
    rep: Any = audit(out, rpc=url, deal=deal)
    bad = {c.name for c in rep.checks if not c.ok}
    assert {
        "Merkle roots match the accepted roots",
        "event store equals the chain's events",
        "closing.json and the manifest equal the chain's deal",
    } <= bad
    assert any("period 1: root of stored leaves " + forged in m for m in rep.mismatches)
    assert any("state/manifest.json' period 1" in m for m in rep.mismatches)
