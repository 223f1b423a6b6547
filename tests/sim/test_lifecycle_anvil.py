"""`openmbs demo --rpc`: the lifecycle on a real node (anvil from the npm registry).

Small: 50 loans, 6 months, 3 investors. The oracle rejects a tampered period 4 (cash
one unit short); the rerun reattaches to the deal deployed on the node and resumes
after period 3; the run reconciles (events read back over JSON-RPC).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from sim_helpers import tampered_reports

from openmbs.errors import RemittanceRejected
from openmbs.sim import LifecycleConfig, run_lifecycle
from openmbs.sim._keys import dev_chain_keys

pytestmark = pytest.mark.anvil


def _node():  # type: ignore[no-untyped-def]
    from openmbs.chain._anvil import find_anvil, install_anvil, start_anvil

    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    return start_anvil(find_anvil() or install_anvil())


def test_demo_on_anvil_rejects_resumes_and_reconciles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boa

    from openmbs.chain._anvil import ANVIL_KEYS

    node = _node()
    saved = boa.env
    try:
        monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
        cfg = LifecycleConfig(loans=50, months=6, investors=3, seed=4, rpc=node.url)
        keys = dev_chain_keys(cfg.attestors, cfg.investors)  # a throwaway dev chain
        out = tmp_path / "rpc"

        def short(rep: object) -> object:
            if rep.period == 4:  # type: ignore[attr-defined]
                return dataclasses.replace(rep, cash=rep.cash - 1)  # type: ignore[type-var,attr-defined]
            return rep

        with pytest.raises(RemittanceRejected) as info, tampered_reports(short):
            run_lifecycle(out, cfg, write_outputs=False, keys=keys)
        assert info.value.period == 4
        manifest = json.loads((out / "state" / "manifest.json").read_text())
        assert manifest["last_period"] == 3
        deployment = json.loads((out / "state" / "deployment.json").read_text())
        # the node holds the deal: its code is there and its last period is 3
        assert node.rpc("eth_getCode", [deployment["contracts"]["deal"], "latest"]) not in ("0x", "")

        res = run_lifecycle(out, cfg, keys=keys)
        assert res.resumed_from == 3 and res.periods == 6
        bad = [c for c in res.checks if not c.ok]
        assert not bad, bad
        assert res.reconciled
        names = {c.name for c in res.checks}
        assert "on-chain waterfall equals the exact engine" in names
        assert "final loan records verify on chain (verify_loan)" in names
        summary = json.loads((out / "summary.json").read_text())
        assert summary["reconciled"] is True
    finally:
        node.stop()
        boa.set_env(saved)
