"""The JSON-RPC path: a deal deployed on a real node (anvil from the npm registry).

Skips only when npm is absent (anvil is then not installable); otherwise installs
``@foundry-rs/anvil`` into ``<repo>/.tools`` if needed, starts it on 127.0.0.1 at a
free port, deploys a deal through titanoboa's network env and runs three periods.
"""

from __future__ import annotations

import json
import shutil

import boa
import pytest
from eth_account import Account
from typer.testing import CliRunner

from openmbs.chain import DealConfig, TrancheConfig, deploy_deal
from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil
from openmbs.chain._env import network_env
from openmbs.oracle import RemittanceReport, attest

WAD = 10**18


def _node():
    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    binary = find_anvil() or install_anvil()
    return start_anvil(binary)


@pytest.fixture
def anvil():
    """A fresh node per test (titanoboa's network mode tracks one deployer's nonces)."""
    node = _node()
    yield node
    node.stop()


@pytest.mark.anvil
def test_deal_runs_three_periods_on_anvil(anvil):
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin, investor = Account.from_key(ANVIL_KEYS[0]), Account.from_key(ANVIL_KEYS[1])
    embedded = boa.env
    network_env(anvil.url)  # titanoboa's network env without its on-disk RPC cache
    try:
        boa.env.add_account(admin, force_eoa=True)
        boa.env.add_account(investor)
        cfg = DealConfig(
            name="anvil", initial_pool_balance=1_000_000_000, initial_loan_count=5,
            tranches=(TrancheConfig("Senior A", "A", 600_000_000, 0.04), TrancheConfig("Senior B", "B", 200_000_000, 0.05),
                      TrancheConfig("Mezzanine M", "M", 120_000_000, 0.07), TrancheConfig("Junior J", "J", 80_000_000, 0.10)),
        )
        d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin.address, test_waterfall=True)
        assert d.chain_id() == 31337
        assert anvil.rpc("eth_getCode", [str(d.deal.address), "latest"]) not in ("0x", "")
        d.allow([investor.address, admin.address], 2**40)
        d.settlement.mint(investor.address, 600_000_000, sender=admin.address)
        d.settlement.mint(admin.address, 10**13, sender=admin.address)
        d.subscribe(investor.address, 0, 600_000_000)
        for t, face in ((1, 200_000_000), (2, 120_000_000), (3, 80_000_000)):
            d.subscribe(admin.address, t, face)
        d.close()
        d.settle(investor.address)
        d.settle(admin.address)
        pool, senior, paid = 1_000_000_000, 600_000_000, 0
        for period in (1, 2, 3):
            sched, interest = 10_000_000, 5_000_000
            r = RemittanceReport(period, sched, 0, interest, 0, 0, pool, pool - sched, 5, 0, 0, 0, 0,
                                 sched + interest, bytes([period]) * 32)
            d.remit(r, attest(r, [k.key for k in keys[:3]], chain_id=31337, verifying_contract=str(d.oracle.address)))
            # by hand: senior interest = balance x 4% / 12; all principal to the senior
            due = senior * 4 // 100 // 12
            expect = (due * WAD // 600_000_000 + sched * WAD // 600_000_000) * 600_000_000 // WAD
            got = d.claim(investor.address, 0)
            assert expect - 1 <= got <= due + sched
            paid += got
            pool -= sched
            senior -= sched
        assert int(d.deal.last_period()) == 3
        assert int(d.deal.tranche_balance(0)) == 600_000_000 - 30_000_000
        assert int(d.settlement.balanceOf(investor.address)) == paid
    finally:
        boa.set_env(embedded)


@pytest.mark.anvil
def test_cli_deploy_and_status_over_rpc(anvil, tmp_path, monkeypatch):
    from openmbs.cli import app

    state = tmp_path / "deployment.json"
    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    attestors = ",".join(Account.from_key(bytes([i + 1]) * 32).address for i in range(5))
    runner = CliRunner()
    embedded = boa.env  # the CLI points boa at the node for the rest of the process
    try:
        _cli_round_trip(runner, app, anvil, state, attestors)
    finally:
        boa.set_env(embedded)


def _cli_round_trip(runner, app, anvil, state, attestors):
    res = runner.invoke(app, ["chain", "deploy", "four_tranche", "--rpc", anvil.url, "--state", str(state),
                              "--attestors", attestors, "--quorum", "3", "--loans", "100"])
    assert res.exit_code == 0, res.output
    record = json.loads(state.read_text())
    assert record["network"] == "rpc" and record["chain_id"] == 31337
    assert len(record["contracts"]["tokens"]) == 4
    # the deal's address comes from outside the record (here: what deploy printed)
    res = runner.invoke(app, ["chain", "status", "--rpc", anvil.url, "--state", str(state),
                              "--deal", record["contracts"]["deal"]])
    assert res.exit_code == 0, res.output
    assert "closed" in res.output and "last_period" in res.output
