"""`openmbs demo --sales --rpc`: loan sales in the lifecycle on a real node (anvil).

Small: 60 loans, 12 months at 2000% SDA, 3 investors. After each accepted period the
run indexes the node's logs (JSON-RPC, block hashes kept) into the run's event store;
the keeper reads that store and the period's loan file and starts the sales; an investor
buys them; the next report confirms them. A node run with sales that stopped is not
resumed: the rerun is refused with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import tampered_reports

from openmbs.errors import InputError, RemittanceRejected
from openmbs.indexer import EventStore, default_db_path, event_rows
from openmbs.sim import LifecycleConfig, run_lifecycle
from openmbs.sim._keys import dev_chain_keys

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def node() -> Iterator[Any]:
    import boa

    from openmbs.chain._anvil import find_anvil, install_anvil, start_anvil

    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    n = start_anvil(find_anvil() or install_anvil())
    saved = boa.env
    try:
        yield n
    finally:
        n.stop()
        boa.set_env(saved)


def _cfg(node: Any) -> LifecycleConfig:
    return LifecycleConfig(loans=60, months=12, investors=3, seed=4, sda=2000, rpc=node.url, loan_sales=True)


def test_sales_on_anvil_reconcile(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openmbs.chain._anvil import ANVIL_KEYS

    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    cfg = _cfg(node)
    out = tmp_path / "rpc"
    res = run_lifecycle(out, cfg, keys=dev_chain_keys(cfg.attestors, cfg.investors))
    assert res.reconciled, [c for c in res.checks if not c.ok]
    assert res.audit is not None and res.audit.ok
    with EventStore(default_db_path(out), read_only=True) as store:
        sold = event_rows(store, "LoanSold") or []
        started = event_rows(store, "SaleStarted") or []
        confirmed = event_rows(store, "SaleConfirmed") or []
    assert len(sold) >= 3 and len(started) == len(sold) == len(confirmed)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["loans_sold"] == len(sold)
    assert summary["sale_proceeds"] == sum(int(e["net_proceeds"]) for e in sold)


def test_a_stopped_node_run_with_sales_is_not_resumed(
    node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openmbs.chain._anvil import ANVIL_KEYS

    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    cfg = _cfg(node)
    keys = dev_chain_keys(cfg.attestors, cfg.investors)
    out = tmp_path / "stop"

    def short(rep: Any) -> Any:
        return dataclasses.replace(rep, cash=rep.cash - 1) if rep.period == 3 else rep

    with pytest.raises(RemittanceRejected), tampered_reports(short):
        run_lifecycle(out, cfg, write_outputs=False, keys=keys)
    with EventStore(default_db_path(out), read_only=True) as store:
        assert event_rows(store, "LoanSold")  # sales were made before the stop (periods 1, 2)
    with pytest.raises(InputError, match="not resumed") as info:
        run_lifecycle(out, cfg, keys=keys)
    assert "--fresh" in str(info.value) and "after period 2" in str(info.value)
