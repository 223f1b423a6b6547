"""`openmbs demo --rpc`: on a node the attestors and investors sign with keys the user
gives (or, with --dev-chain, anvil's public development accounts), never with keys
derived from the seed, which anyone can recompute."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

from openmbs.errors import InputError
from openmbs.sim import LifecycleConfig, run_lifecycle

SMALL = ["--loans", "20", "--months", "2", "--investors", "1"]


def _demo(args: list[str]) -> Any:
    from openmbs.cli import app

    return CliRunner().invoke(app, ["demo", *args])


def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from openmbs.chain._anvil import ANVIL_KEYS

    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    for var in ("OPENMBS_ATTESTOR_KEYS", "OPENMBS_INVESTOR_KEYS"):
        monkeypatch.delenv(var, raising=False)


def test_demo_on_a_node_without_keys_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_keys(monkeypatch)
    out = tmp_path / "out"
    # nothing listens on port 9: the refusal comes before any connection
    res = _demo(["--rpc", "http://127.0.0.1:9", "--out", str(out), *SMALL])
    assert isinstance(res.exception, InputError), res.output
    msg = str(res.exception)
    assert "--dev-chain" in msg and "OPENMBS_INVESTOR_KEYS" in msg and "OPENMBS_ATTESTOR_KEYS" in msg
    assert "\n" not in msg and not out.exists()
    # the library refuses too
    with pytest.raises(InputError, match="--dev-chain"):
        run_lifecycle(out, LifecycleConfig(loans=20, months=2, investors=1, rpc="http://127.0.0.1:9"))
    assert not out.exists()


def test_demo_with_too_few_investor_keys_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_keys(monkeypatch)
    monkeypatch.setenv("OPENMBS_ATTESTOR_KEYS", ",".join("0x" + bytes([i + 1]).hex() * 32 for i in range(5)))
    res = _demo(["--rpc", "http://127.0.0.1:9", "--out", str(tmp_path / "o"), "--investors", "2"])
    assert isinstance(res.exception, InputError) and "OPENMBS_INVESTOR_KEYS: 0 investor key(s)" in str(res.exception)


def test_dev_chain_is_for_a_node_only(tmp_path: Path) -> None:
    res = _demo(["--dev-chain", "--out", str(tmp_path / "o"), *SMALL])
    assert isinstance(res.exception, InputError) and "--rpc" in str(res.exception)


@pytest.mark.anvil
def test_demo_on_a_dev_chain_signs_with_anvil_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boa

    from openmbs.chain._anvil import anvil_dev_keys, find_anvil, install_anvil, start_anvil
    from openmbs.chain._contracts import abi_deployer
    from openmbs.chain._env import network_env

    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    node = start_anvil(find_anvil() or install_anvil())
    saved = boa.env
    try:
        _no_keys(monkeypatch)
        out = tmp_path / "out"
        res = _demo(["--rpc", node.url, "--dev-chain", "--out", str(out), *SMALL])
        assert res.exit_code == 0, (res.output, res.exception)
        assert json.loads((out / "summary.json").read_text())["reconciled"] is True
        oracle_address = json.loads((out / "state" / "deployment.json").read_text())["contracts"]["oracle"]
        env = network_env(node.url)
        env.add_account(Account.from_key(anvil_dev_keys(1)[0]), force_eoa=True)
        oracle = abi_deployer("RemittanceOracle").at(oracle_address)
        dev = [Account.from_key(k).address for k in anvil_dev_keys(5, start=1)]
        assert all(oracle.is_attestor(a) for a in dev)
        seeded = Account.from_key(hashlib.sha256(b"openmbs-lifecycle:attestor0:7").digest()).address
        assert not oracle.is_attestor(seeded)
    finally:
        node.stop()
        boa.set_env(saved)


@pytest.mark.anvil
def test_demo_resume_refuses_a_tampered_deployment_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rerun reattaches from ``state/deployment.json``: an oracle address changed in
    that file (here: the issuance's, a contract with other code) is refused before the
    servicer approves anything to it."""
    import boa

    from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil
    from openmbs.chain._contracts import abi_deployer
    from openmbs.chain._env import network_env
    from openmbs.errors import DataIntegrityError

    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    node = start_anvil(find_anvil() or install_anvil())
    saved = boa.env
    try:
        _no_keys(monkeypatch)
        monkeypatch.delenv("OPENMBS_DEAL", raising=False)
        out = tmp_path / "out"
        res = _demo(["--rpc", node.url, "--dev-chain", "--out", str(out), *SMALL])
        assert res.exit_code == 0, (res.output, res.exception)
        path = out / "state" / "deployment.json"
        record = json.loads(path.read_text())
        real = dict(record["contracts"])
        record["contracts"]["oracle"] = real["issuance"]
        path.write_text(json.dumps(record))
        res = _demo(["--rpc", node.url, "--dev-chain", "--out", str(out), "--loans", "20",
                     "--months", "3", "--investors", "1"])
        assert isinstance(res.exception, DataIntegrityError), (res.output, res.exception)
        assert "'contracts.oracle'" in str(res.exception) and real["oracle"] in str(res.exception)
        env = network_env(node.url)
        operator = Account.from_key(ANVIL_KEYS[0])
        env.add_account(operator, force_eoa=True)
        token = abi_deployer("MockSettlementToken").at(real["settlement"])
        assert int(token.allowance(operator.address, real["issuance"])) == 0
        assert int(abi_deployer("Deal").at(real["deal"]).last_period()) == 2
    finally:
        node.stop()
        boa.set_env(saved)


def test_node_keys_hide_themselves_and_refuse_repeats() -> None:
    from openmbs.sim import NodeKeys, dev_chain_keys

    a, b = "0x" + "01" * 32, "0x" + "02" * 32
    assert "01" * 8 not in repr(NodeKeys((a,), (b,))) and "02" * 8 not in repr(NodeKeys((a,), (b,)))
    with pytest.raises(InputError, match="repeated"):
        NodeKeys((a,), (a,))
    with pytest.raises(InputError, match="investor key 0: not a private key"):
        NodeKeys((a,), ("0x1234",))
    dev = dev_chain_keys(5, 2)
    assert dev.dev_chain and len(dev.attestors) == 5 and len(dev.investors) == 2
