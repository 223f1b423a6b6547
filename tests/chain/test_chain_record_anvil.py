"""A tampered deployment record on a real node (anvil): the servicer's cash stays put.

The attack: the deployment record's oracle address is replaced by a look-alike that
answers every call and, on ``submit``, pulls the report's cash to the attacker with the
allowance the servicer just gave it. ``openmbs chain remit --rpc`` must read the oracle
from the deal the user pinned (``--deal`` / ``$OPENMBS_DEAL``), see that the record
disagrees, and refuse before it approves or sends anything.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boa
import pytest
from eth_account import Account
from typer.testing import CliRunner

from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil
from openmbs.chain._contracts import abi_deployer
from openmbs.chain._env import network_env
from openmbs.errors import DataIntegrityError, InputError
from openmbs.oracle import RemittanceReport

pytestmark = pytest.mark.anvil

ATTESTOR_KEYS = ["0x" + (bytes([i + 1]) * 32).hex() for i in range(5)]

#: Answers every call; a ``submit(report, ...)`` takes the report's cash (the 14th word).
LOOK_ALIKE = """
# pragma version ~=0.4.3
interface IERC20:
    def transferFrom(owner: address, to: address, amount: uint256) -> bool: nonpayable

SETTLEMENT: immutable(address)
THIEF: immutable(address)


@deploy
def __init__(settlement: address, thief: address):
    SETTLEMENT = settlement
    THIEF = thief


@external
def __default__():
    if len(msg.data) >= 4 + 14 * 32:
        cash: uint256 = convert(slice(msg.data, 4 + 13 * 32, 32), uint256)
        assert extcall IERC20(SETTLEMENT).transferFrom(msg.sender, THIEF, cash)
"""


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


def _deploy(node: Any, state: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    attestors = ",".join(Account.from_key(k).address for k in ATTESTOR_KEYS)
    res = _cli(
        ["chain", "deploy", "four_tranche", "--rpc", node.url, "--state", str(state),
         "--attestors", attestors, "--quorum", "3", "--loans", "100"]
    )
    assert res.exit_code == 0, res.output
    record: dict[str, Any] = json.loads(state.read_text())
    return record


def _report(record: dict[str, Any], path: Path) -> int:
    from openmbs.chain import report_to_dict

    pool = int(record["config"]["initial_pool_balance"])
    sched, interest = 1_000_000_000, 2_000_000_000
    rep = RemittanceReport(1, sched, 0, interest, 0, 0, pool, pool - sched, 100, 0, 0, 0, 0,
                           sched + interest, b"\x42" * 32)
    path.write_text(json.dumps(report_to_dict(rep)))
    return rep.cash


def test_a_tampered_oracle_address_is_refused_and_no_cash_moves(node, tmp_path, monkeypatch):
    state = tmp_path / "deployment.json"
    record = _deploy(node, state, monkeypatch)
    real = dict(record["contracts"])
    operator = Account.from_key(ANVIL_KEYS[0])
    thief = Account.from_key(ANVIL_KEYS[1])
    # the attacker deploys the look-alike; the servicer holds a month's collections
    network_env(node.url)
    boa.env.add_account(thief)
    boa.env.add_account(operator, force_eoa=True)
    fake = boa.loads(LOOK_ALIKE, real["settlement"], thief.address, sender=thief.address)
    token = abi_deployer("MockSettlementToken").at(real["settlement"])
    token.mint(operator.address, 10**15, sender=operator.address)
    # the record is edited: its oracle is the look-alike
    record["contracts"]["oracle"] = str(fake.address)
    state.write_text(json.dumps(record, indent=1))
    report = tmp_path / "report.json"
    _report(record, report)
    monkeypatch.setenv("OPENMBS_ATTESTOR_KEYS", ",".join(ATTESTOR_KEYS[:3]))
    monkeypatch.setenv("OPENMBS_DEAL", real["deal"])  # pinned outside the file

    res = _cli(["chain", "remit", "--report", str(report), "--rpc", node.url, "--state", str(state)])

    network_env(node.url)  # a fresh view of the node
    boa.env.add_account(operator, force_eoa=True)
    token = abi_deployer("MockSettlementToken").at(real["settlement"])
    oracle = abi_deployer("RemittanceOracle").at(real["oracle"])
    assert int(token.allowance(operator.address, str(fake.address))) == 0
    assert int(token.balanceOf(thief.address)) == 0
    assert int(token.balanceOf(operator.address)) == 10**15
    assert int(oracle.last_period()) == 0
    assert "accepted" not in res.output
    assert isinstance(res.exception, DataIntegrityError), res.output
    msg = str(res.exception)
    assert "'contracts.oracle'" in msg and str(fake.address) in msg and real["oracle"] in msg


def test_a_node_command_without_a_pinned_deal_is_refused(node, tmp_path, monkeypatch):
    state = tmp_path / "deployment.json"
    _deploy(node, state, monkeypatch)
    monkeypatch.delenv("OPENMBS_DEAL", raising=False)
    for args in (["status"], ["claim"], ["export", "--out", str(tmp_path / "abi")]):
        res = _cli(["chain", *args, "--rpc", node.url, "--state", str(state)])
        assert isinstance(res.exception, InputError), res.output
        assert "--deal ADDRESS" in str(res.exception) and "OPENMBS_DEAL" in str(res.exception)


def test_a_record_naming_another_deal_is_refused(node, tmp_path, monkeypatch):
    state = tmp_path / "deployment.json"
    record = _deploy(node, state, monkeypatch)
    genuine = record["contracts"]["deal"]
    other = tmp_path / "other.json"
    _deploy(node, other, monkeypatch)  # a second, genuine deal (the attacker's)
    attacker = json.loads(other.read_text())
    res = _cli(["chain", "status", "--rpc", node.url, "--state", str(other), "--deal", genuine])
    assert isinstance(res.exception, DataIntegrityError), res.output
    msg = str(res.exception)
    assert "field 'contracts.settlement'" in msg
    assert attacker["contracts"]["settlement"] in msg and record["contracts"]["settlement"] in msg


def test_status_and_export_read_the_pinned_deal_from_the_node(node, tmp_path, monkeypatch):
    state = tmp_path / "deployment.json"
    record = _deploy(node, state, monkeypatch)
    monkeypatch.delenv("OPENMBS_PRIVATE_KEY")  # reading needs no key
    deal = record["contracts"]["deal"]
    res = _cli(["chain", "status", "--rpc", node.url, "--state", str(state), "--deal", deal, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["chain_id"] == 31337 and doc["status"]["last_period"] == 0
    assert [t["token"] for t in doc["tranches"]] == record["contracts"]["tokens"]
    out = tmp_path / "abi"
    res = _cli(["chain", "export", "--out", str(out), "--rpc", node.url, "--state", str(state),
                "--deal", deal])
    assert res.exit_code == 0, res.output
    addresses = json.loads((out / "addresses.json").read_text())
    assert {k: v["address"] for k, v in addresses["contracts"].items()} == record["contracts"]
