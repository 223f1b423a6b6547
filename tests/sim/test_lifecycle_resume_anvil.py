"""A resumed run on a node sends nothing that was already mined (issue 14).

The investors sign with their own keys (fresh accounts with no ether, as a user's would
be: anvil's development accounts hold 10,000 ether each and would hide it). The first
run gives each investor its gas money, is rejected at period 4 and stops; the rerun
reattaches to the deal. Every transaction the rerun sends is counted
(``eth_sendRawTransaction``) and tagged with the stage it was sent in: none before the
first new period (the gas money is not given again), and each new period sends what
the same period sends in an uninterrupted run of the same deal.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sim_helpers import tampered_reports

from openmbs.errors import RemittanceRejected
from openmbs.sim import LifecycleConfig, NodeKeys, run_lifecycle
from openmbs.sim._keys import dev_chain_keys

pytestmark = pytest.mark.anvil


def _node() -> Any:
    from openmbs.chain._anvil import find_anvil, install_anvil, start_anvil

    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    return start_anvil(find_anvil() or install_anvil())


class _Sent:
    """Counts ``eth_sendRawTransaction`` requests by the run's current stage."""

    def __init__(self) -> None:
        self.stage = "start"
        self.by_stage: collections.Counter[str] = collections.Counter()

    def progress(self, stage: str, done: int, total: int) -> None:
        self.stage = f"{stage} {done}" if stage == "months" else stage


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Sent]:
    from boa.rpc import EthereumRPC

    s = _Sent()
    fetch = EthereumRPC.fetch

    def counting(self: Any, method: str, params: Any) -> Any:
        if method == "eth_sendRawTransaction":
            s.by_stage[s.stage] += 1
        return fetch(self, method, params)

    monkeypatch.setattr(EthereumRPC, "fetch", counting)
    yield s


def _fresh_keys(label: str, n: int) -> list[str]:
    return ["0x" + hashlib.sha256(f"resume-test:{label}:{i}".encode()).hexdigest() for i in range(n)]


def test_resume_on_a_node_sends_only_the_new_periods(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sent: _Sent
) -> None:
    import boa

    from openmbs.chain._anvil import ANVIL_KEYS

    node = _node()
    saved = boa.env
    try:
        monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
        cfg = LifecycleConfig(loans=30, months=5, investors=3, seed=4, rpc=node.url)
        attestors = dev_chain_keys(cfg.attestors, 0).attestors
        keys = NodeKeys(attestors, tuple(_fresh_keys("inv", cfg.investors)))
        # the reference: an uninterrupted run of the same deal (its own deployment)
        run_lifecycle(tmp_path / "ref", cfg, write_outputs=False, keys=keys, progress=sent.progress)
        ref = dict(sent.by_stage)
        assert ref.get("months 4", 0) >= 2  # approve + submit at least

        sent.by_stage.clear()

        def short(rep: Any) -> Any:
            return dataclasses.replace(rep, cash=rep.cash - 1) if rep.period == 4 else rep

        out = tmp_path / "run"
        with pytest.raises(RemittanceRejected), tampered_reports(short):
            run_lifecycle(out, cfg, write_outputs=False, keys=keys, progress=sent.progress)
        sent.by_stage.clear()
        sent.stage = "start"
        res = run_lifecycle(out, cfg, write_outputs=False, keys=keys, progress=sent.progress)
        assert res.resumed_from == 3 and res.reconciled
        resumed = dict(sent.by_stage)
        # nothing before the first new period (no gas money again, no replayed period) ...
        assert {s for s in resumed if not s.startswith("months ")} == set(), resumed
        # ... and each new period sends exactly what it sends in the uninterrupted run
        assert resumed == {k: v for k, v in ref.items() if k in ("months 4", "months 5")}, (resumed, ref)
    finally:
        node.stop()
        boa.set_env(saved)
