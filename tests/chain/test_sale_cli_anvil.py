"""Loan sales and the servicer's bond on a real node (anvil) through the command line.

``chain deploy --rpc`` (the deal's LoanSale and ServicerBond come with it) -> the
offering -> ``servicer post-bond`` / ``servicer bond`` -> three months in which loan
L000 rolls 30, 60, 90+ days -> ``sale start`` (the keeper, from the published records)
-> ``sale bid`` (an allowlisted investor) -> ``servicer remit`` of a tape still showing
the loan delinquent is refused before anything is sent -> the tape showing it
liquidated at the net proceeds is accepted (``submit_with_sales``), and the deal's
cash equals its books.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_utils.crypto import keccak
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


def _tape(path: Path, period: int, balances: list[int], loan0: dict[str, Any]) -> list[int]:
    """One period's records: loan L000 as ``loan0`` says, the others pay 1/360 of their
    balance and a month of interest at 5%; returns the ending balances."""
    ends = []
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FIELDS)
        for i, b in enumerate(balances):
            if b == 0:
                ends.append(0)
                continue
            if i == 0:
                rec = {"sched": 0, "interest": 0, "end": b, "dq": 0, "liq": "false", "loss": 0, "rec": 0} | loan0
            else:
                rec = {"sched": b // 360, "interest": b * 5 // 1200, "end": b - b // 360, "dq": 0, "liq": "false",
                       "loss": 0, "rec": 0}
            ends.append(rec["end"])
            w.writerow([f"L{i:03d}", period, b, rec["sched"], 0, rec["interest"], rec["end"], rec["dq"], "false",
                        rec["liq"], rec["loss"], rec["rec"]])
    return ends


def _balance(node: Any, token: str, who: str) -> int:
    env = network_env(node.url)
    env.add_account(Account.from_key(ANVIL_KEYS[0]), force_eoa=True)
    try:
        return int(abi_deployer("MockSettlementToken").at(token).balanceOf(who))
    finally:
        boa.set_env(boa.Env())


def test_a_loan_sale_and_the_bond_through_the_cli(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENMBS_PRIVATE_KEY", "ETH_PRIVATE_KEY", "OPENMBS_DEAL", "ETH_RPC_URL", "OPENMBS_ATTESTOR_KEYS"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "deployment.json"
    operator, investor = Account.from_key(ANVIL_KEYS[0]), Account.from_key(ANVIL_KEYS[1])
    monkeypatch.setenv("ETH_RPC_URL", node.url)
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[0])
    attestors = ",".join(Account.from_key(k).address for k in ATTESTOR_KEYS)
    _ok(["chain", "deploy", "four_tranche", "--state", str(state), "--attestors", attestors, "--quorum", "3",
         "--loans", "10"])
    record = json.loads(state.read_text())
    assert {"loan_sale", "servicer_bond"} <= set(record["contracts"]) <= set(record["deployments"]) | {"tokens"}
    monkeypatch.setenv("OPENMBS_DEAL", record["contracts"]["deal"])
    faces = [int(t["face"]) for t in record["config"]["tranches"]]
    _ok(["offering", "open", "--state", str(state), "--allow", f"{operator.address},{investor.address}"])
    for sym, face in zip("ABCD", faces, strict=True):
        _ok(["offering", "subscribe", "--state", str(state), "--tranche", sym, "--amount", str(face), "--mint"])
    _ok(["offering", "close", "--state", str(state)])
    _ok(["offering", "settle", "--state", str(state)])

    # the servicer's bond: the deal asks 0.5% of the pool; the operator (servicer) posts it
    pool = int(record["config"]["initial_pool_balance"])
    env = network_env(node.url)
    env.add_account(operator, force_eoa=True)
    abi_deployer("MockSettlementToken").at(record["contracts"]["settlement"]).mint(
        operator.address, 10**15, sender=operator.address)
    abi_deployer("MockSettlementToken").at(record["contracts"]["settlement"]).mint(
        investor.address, pool, sender=operator.address)
    boa.set_env(boa.Env())
    assert f"bond 0 (the deal asks {pool // 200})" in _ok(["servicer", "bond", "--deal", str(state)])
    assert f"posted {pool // 200}; bond {pool // 200}" in _ok(["servicer", "post-bond", "--deal", str(state)])
    res = _cli(["servicer", "penalize-late", "--deal", str(state), "--period", "1"])
    assert res.exit_code != 0 and "not late" in str(res.exception)

    # three months: L000 rolls 30, 60, then 90+ days delinquent
    monkeypatch.setenv("OPENMBS_ATTESTOR_KEYS", ",".join(ATTESTOR_KEYS[:3]))
    balances = [pool // 10] * 9 + [pool - 9 * (pool // 10)]
    for p in (1, 2, 3):
        balances = _tape(tmp_path / f"p{p}.csv", p, balances, {"dq": p})
        assert f"period {p} accepted" in _ok(["servicer", "remit", "--deal", str(state), "--records",
                                              str(tmp_path / f"p{p}.csv")])
    # the keeper starts the sale from the published tape; nothing else is for sale
    out = _ok(["sale", "start", "--deal", str(state), "--records", str(tmp_path / "p3.csv")])
    assert "1 sale(s) started" in out and f"sale started at {balances[0]}" in out
    # the investor buys it
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[1])
    out = _ok(["sale", "bid", "--deal", str(state), "--loan", "L000", "--max-price", str(balances[0])])
    m = re.search(r"bought for (\d+); net proceeds (\d+)", out)
    assert m, out
    price, net = int(m.group(1)), int(m.group(2))
    assert 0 < net <= price <= balances[0]
    assert "sold (awaiting the servicer's report)" in _ok(["sale", "status", "--deal", str(state), "--loan", "L000"])

    # a tape that ignores the sale is refused before anything is sent
    monkeypatch.setenv("ETH_PRIVATE_KEY", ANVIL_KEYS[0])
    _tape(tmp_path / "p4_bad.csv", 4, balances, {"dq": 3})
    res = _cli(["servicer", "remit", "--deal", str(state), "--records", str(tmp_path / "p4_bad.csv")])
    assert res.exit_code != 0 and "1 sold loan(s) await confirmation" in str(res.exception), res.output
    # the tape showing L000 liquidated at the net proceeds is accepted
    bal0 = balances[0]
    _tape(tmp_path / "p4.csv", 4, balances, {"end": 0, "dq": 3, "liq": "true", "rec": net, "loss": bal0 - net})
    out = _ok(["servicer", "remit", "--deal", str(state), "--records", str(tmp_path / "p4.csv")])
    assert "confirming 1 sold loan(s)" in out and "period 4 accepted" in out
    assert "sold and confirmed" in _ok(["sale", "status", "--deal", str(state), "--loan", "L000"])
    st = json.loads(_ok(["chain", "status", "--state", str(state), "--json"]))
    assert st["status"]["last_period"] == 4
    deal_cash = _balance(node, record["contracts"]["settlement"], record["contracts"]["deal"])
    assert deal_cash == st["status"]["cash_held"]  # the proceeds are on the deal's books

    # period 5's report is late: anyone takes the penalty; the CLI says where it went
    # (to the deal, for holders) and the deal's books and balance grow by it
    bond_address = record["contracts"]["servicer_bond"]
    call = "0x" + (bytes(keccak(b"due(uint256)")[:4]) + (5).to_bytes(32, "big")).hex()
    due = int(node.rpc("eth_call", [{"to": bond_address, "data": call}, "latest"]), 16)
    node.rpc("evm_setNextBlockTimestamp", [hex(due)])
    node.rpc("evm_mine", [])
    out = _ok(["servicer", "penalize-late", "--deal", str(state), "--period", "5"])
    m = re.search(r"late-report penalty (\d+) paid from the bond to the deal (0x[0-9a-fA-F]{40}) for holders "
                  r"\(other income pending there: (\d+)", out)
    assert m, out
    taken, pending = int(m.group(1)), int(m.group(3))
    assert taken == pending == pool // 200 * 5 // 100  # the default late penalty: 5% of the bond
    assert m.group(2).lower() == record["contracts"]["deal"].lower()
    assert _balance(node, record["contracts"]["settlement"], record["contracts"]["deal"]) == deal_cash + taken
    st = json.loads(_ok(["chain", "status", "--state", str(state), "--json"]))
    assert st["status"]["cash_held"] == deal_cash + taken
