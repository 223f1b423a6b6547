"""A deal's life on a real node (anvil) through the command line only.

``chain deploy --rpc`` -> ``offering open / subscribe / close / settle`` -> ``servicer
remit`` (ACCEPTED: the waterfall pays, an investor claims) -> a second month whose
interest is above the oracle's bound is refused, naming the bound, the value and the
limit, and nothing moves. Then ``chain status`` against a node of another chain says so
in one line (exit 2, no traceback), and ``$ETH_RPC_URL`` / ``$ETH_PRIVATE_KEY`` stand in
for ``--rpc`` and ``$OPENMBS_PRIVATE_KEY`` as foundry's tools read them.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boa
import pytest
from eth_account import Account
from typer.testing import CliRunner

from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil
from openmbs.chain._contracts import abi_deployer
from openmbs.chain._env import network_env

pytestmark = pytest.mark.anvil

ATTESTOR_KEYS = ["0x" + (bytes([i + 1]) * 32).hex() for i in range(5)]
FIELDS = (
    "loan_id", "period", "beginning_balance", "scheduled_principal", "prepaid_principal",
    "interest_paid", "ending_balance", "delinquency", "defaulted", "liquidated", "loss", "recovery",
)


@pytest.fixture
def node() -> Any:
    if find_anvil() is None and shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install anvil from the npm registry")
    n = start_anvil(find_anvil() or install_anvil())
    saved = boa.env
    try:
        yield n
    finally:
        n.stop()
        boa.set_env(saved)


def _cli(args: list[str]) -> Any:
    from openmbs.cli import app

    return CliRunner().invoke(app, args)


def _ok(args: list[str]) -> str:
    res = _cli(args)
    assert res.exit_code == 0, (res.output, res.exception)
    return str(res.output)


def _read(node: Any, call: Any) -> int:
    """One view call on the node (then back to an embedded environment)."""
    env = network_env(node.url)
    env.add_account(Account.from_key(ANVIL_KEYS[0]), force_eoa=True)
    try:
        return int(call())
    finally:
        boa.set_env(boa.Env())


def _records(path: Path, period: int, balances: list[int], *, sched: int, rate: float) -> list[int]:
    """One period of loan records: each loan pays ``sched`` of principal and a month of
    interest at ``rate``; returns the ending balances."""
    ends = []
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FIELDS)
        for i, b in enumerate(balances):
            interest = int(b * rate / 12)
            ends.append(b - sched)
            w.writerow([f"L{i:03d}", period, b, sched, 0, interest, b - sched, 0, "false", "false", 0, 0])
    return ends


def test_offering_and_an_accepted_remittance_through_the_cli(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENMBS_PRIVATE_KEY", "ETH_PRIVATE_KEY", "OPENMBS_DEAL", "ETH_RPC_URL", "OPENMBS_ATTESTOR_KEYS"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "deployment.json"
    operator, investor = Account.from_key(ANVIL_KEYS[0]), Account.from_key(ANVIL_KEYS[1])
    # foundry's names: $ETH_RPC_URL for --rpc, $ETH_PRIVATE_KEY for the operator
    monkeypatch.setenv("ETH_RPC_URL", node.url)
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[0])
    attestors = ",".join(Account.from_key(k).address for k in ATTESTOR_KEYS)
    out = _ok(["chain", "deploy", "four_tranche", "--state", str(state), "--attestors", attestors,
               "--quorum", "3", "--loans", "10"])
    assert "tx " not in out  # quiet by default
    record = json.loads(state.read_text())
    assert record["format"] == "openmbs-chain-deployment/2" and record["rpc"] == node.url
    assert record["deal"] == "four_tranche" and record["chain_id"] == 31337 and record["network"] == "rpc"
    # each contract and class with the block and transaction that created it, as the node has them
    for entry in [*record["deployments"].values(), *record["classes"].values()]:
        receipt = node.rpc("eth_getTransactionReceipt", [entry["tx_hash"]])
        assert str(receipt["contractAddress"]).lower() == entry["address"].lower()  # type: ignore[index]
        assert int(receipt["blockNumber"], 16) == entry["block"]  # type: ignore[index]
    symbols = [t["symbol"] for t in record["config"]["tranches"]]
    assert list(record["classes"]) == symbols and len(symbols) == 4
    monkeypatch.setenv("OPENMBS_DEAL", record["contracts"]["deal"])
    faces = [int(t["face"]) for t in record["config"]["tranches"]]

    # the offering: the operator allowlists, both subscribe, the operator closes, both settle
    _ok(["offering", "open", "--state", str(state), "--allow", f"{operator.address},{investor.address}"])
    half_a = faces[0] // 2
    # the investor's stablecoins (the mock's owner mints them: test set-up, not the CLI)
    env = network_env(node.url)
    env.add_account(operator, force_eoa=True)
    token = abi_deployer("MockSettlementToken").at(record["contracts"]["settlement"])
    token.mint(investor.address, half_a, sender=operator.address)
    boa.set_env(boa.Env())
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[1])
    out = _ok(["offering", "subscribe", "--state", str(state), "--tranche", "A", "--amount", str(half_a)])
    assert f"paid {half_a}" in out
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[0])
    _ok(["offering", "subscribe", "--state", str(state), "--tranche", "A", "--amount", str(faces[0] - half_a), "--mint"])
    for sym, face in zip("BCD", faces[1:], strict=True):
        _ok(["offering", "subscribe", "--state", str(state), "--tranche", sym, "--amount", str(face), "--mint"])
    out = _ok(["offering", "status", "--state", str(state)])
    assert "offering open" in out
    _ok(["offering", "close", "--state", str(state)])
    _ok(["offering", "settle", "--state", str(state)])
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[1])
    out = _ok(["offering", "settle", "--state", str(state)])
    assert f"{symbols[0]} {half_a}" in out
    assert "offering closed" in _ok(["offering", "status", "--state", str(state)])

    # month 1: ten loans that make up the pool, from a CSV, signed by 3 of the 5 attestors
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[0])  # the servicer
    monkeypatch.setenv("OPENMBS_ATTESTOR_KEYS", ",".join(ATTESTOR_KEYS[:3]))
    pool = int(record["config"]["initial_pool_balance"])
    balances = [pool // 10] * 9 + [pool - 9 * (pool // 10)]
    sched = 10**11
    ends = _records(tmp_path / "period1.csv", 1, balances, sched=sched, rate=0.05)
    out = _ok(["servicer", "remit", "--deal", str(state), "--records", str(tmp_path / "period1.csv")])
    assert "period 1 accepted" in out
    st = json.loads(_ok(["chain", "status", "--state", str(state), "--json"]))
    assert st["status"]["last_period"] == 1 and st["status"]["pool_balance"] == sum(ends)
    assert st["waterfall"]["last_period"] == 1
    # the investor holds half of class A: it claims what the deal says it is owed
    owed = _read(node, lambda: abi_deployer("Deal").at(record["contracts"]["deal"]).claimable(0, investor.address))
    before = _read(node, lambda: abi_deployer("MockSettlementToken").at(record["contracts"]["settlement"]).balanceOf(investor.address))
    assert owed > 0
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[1])
    out = _ok(["chain", "claim", "--state", str(state), "--tranche", "0"])
    assert f"claimed {owed} base units" in out
    after = _read(node, lambda: abi_deployer("MockSettlementToken").at(record["contracts"]["settlement"]).balanceOf(investor.address))
    assert after - before == owed

    # month 2 reports interest at 40% a year: above the 25% bound, refused with the numbers
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[0])
    _records(tmp_path / "period2.csv", 2, ends, sched=sched, rate=0.40)
    res = _cli(["servicer", "remit", "--deal", str(state), "--records", str(tmp_path / "period2.csv")])
    assert res.exit_code != 0
    msg = str(res.exception)
    interest = sum(int(b * 0.40 / 12) for b in ends)
    limit = sum(ends) * 25 // 100  # beginning balance x 25%, nothing in arrears
    assert "interest above balance x max rate" in msg, msg
    assert f"interest x 12 {interest * 12:,} vs limit {limit:,}" in msg, msg
    assert "nothing recorded" in msg
    st = json.loads(_ok(["chain", "status", "--state", str(state), "--json"]))
    assert st["status"]["last_period"] == 1 and st["status"]["pool_balance"] == sum(ends)


def test_status_against_a_node_of_another_chain_is_one_line(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENMBS_DEAL", "ETH_RPC_URL", "ETH_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    state = tmp_path / "deployment.json"
    attestors = ",".join(Account.from_key(k).address for k in ATTESTOR_KEYS)
    _ok(["chain", "deploy", "four_tranche", "--rpc", node.url, "--state", str(state), "--attestors", attestors,
         "--quorum", "3", "--loans", "10"])
    deal = json.loads(state.read_text())["contracts"]["deal"]
    other = start_anvil(find_anvil() or install_anvil(), chain_id=999)
    try:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
        proc = subprocess.run(
            [sys.executable, "-m", "openmbs", "chain", "status", "--rpc", other.url, "--state", str(state),
             "--deal", deal],
            capture_output=True, text=True, env=env, timeout=300,
        )
    finally:
        other.stop()
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "31337" in lines[0] and "chain 999" in lines[0] and str(state) in lines[0]


def test_deploy_on_a_given_settlement_asset_takes_its_decimals(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openmbs

    for name in ("OPENMBS_DEAL", "ETH_RPC_URL", "ETH_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    operator = Account.from_key(ANVIL_KEYS[0])
    env = network_env(node.url)
    env.add_account(operator, force_eoa=True)
    dai = abi_deployer("MockStablecoin").deploy("Dai Stablecoin", "DAI", 18, sender=operator.address)
    boa.set_env(boa.Env())
    example = Path(openmbs.__file__).parent / "examples" / "deals" / "four_tranche.toml"
    d18 = tmp_path / "d18.toml"
    d18.write_text(example.read_text().replace("decimals = 6", "decimals = 18"))
    attestors = ",".join(Account.from_key(k).address for k in ATTESTOR_KEYS)
    state = tmp_path / "d18.json"
    _ok(["chain", "deploy", str(d18), "--rpc", node.url, "--state", str(state), "--attestors", attestors,
         "--loans", "10", "--settlement", str(dai.address)])
    record = json.loads(state.read_text())
    assert record["settlement"] == {"address": str(dai.address), "symbol": "DAI", "decimals": 18, "mock": False}
    # 500,000,000 at 18 decimals, class A 80%; the tranche tokens take the asset's decimals
    assert int(record["config"]["tranches"][0]["face"]) == 400_000_000 * 10**18
    assert _read(node, lambda: abi_deployer("TrancheToken").at(record["contracts"]["tokens"][0]).decimals()) == 18
    # a 6-decimal deal on the 18-decimal asset is refused before anything is deployed
    res = _cli(["chain", "deploy", "four_tranche", "--rpc", node.url, "--state", str(tmp_path / "d6.json"),
                "--attestors", attestors, "--loans", "10", "--settlement", str(dai.address)])
    assert res.exit_code != 0 and not (tmp_path / "d6.json").exists()
    assert "'asset.decimals' value 6" in str(res.exception) and "has 18 decimals" in str(res.exception)


def test_chain_export_reads_the_record_a_demo_on_the_node_wrote(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`demo --rpc` writes the same deployment record as `chain deploy --rpc`: `chain
    export` on it names the deal, the network and the chain (they were null before)."""
    for name in ("OPENMBS_DEAL", "ETH_RPC_URL", "ETH_PRIVATE_KEY", "OPENMBS_ATTESTOR_KEYS", "OPENMBS_INVESTOR_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    out = tmp_path / "run"
    _ok(["demo", "--rpc", node.url, "--dev-chain", "--loans", "30", "--months", "2", "--investors", "2",
         "--out", str(out)])
    path = out / "state" / "deployment.json"
    record = json.loads(path.read_text())
    assert record["format"] == "openmbs-chain-deployment/2" and record["network"] == "rpc"
    deal = record["contracts"]["deal"]
    assert record["deployments"]["deal"]["address"] == deal and record["deployments"]["deal"]["tx_hash"]
    _ok(["chain", "export", "--out", str(tmp_path / "abi"), "--state", str(path), "--rpc", node.url, "--deal", deal])
    doc = json.loads((tmp_path / "abi" / "addresses.json").read_text())
    assert (doc["deal"], doc["network"], doc["chain_id"]) == ("four_tranche", "rpc", 31337)
    assert list(doc["classes"]) == [t["symbol"] for t in record["config"]["tranches"]]
    assert doc["contracts"]["deal"]["address"] == deal
