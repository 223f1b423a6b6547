"""docs/client.md's web3.py example (examples/client/read_deal.py) against a real node.

A deal is deployed on anvil with ``openmbs chain deploy --rpc`` (so the deployment
record is the one the CLI writes), its offering is subscribed and closed and one
period is remitted with a real loan-level tape (8 loans, Merkle root from
``openmbs.oracle``). The artifacts are exported with ``openmbs chain artifacts``.
The example then runs as a subprocess given ONLY those files (artifacts folder,
deployment record) plus one loan record with its proof, and its figures must equal
the deal client's (``DealClient``: factors, faces, holder balances, claimable), the
waterfall's state words and the report that was sent.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boa
import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from typer.testing import CliRunner

from openmbs.chain import DealConfig, TrancheConfig, attach_deal
from openmbs.chain._anvil import ANVIL_KEYS, find_anvil, install_anvil, start_anvil
from openmbs.chain._env import network_env
from openmbs.oracle import LoanRecord, MerkleTree, RemittanceReport, attest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "client" / "read_deal.py"
ATTESTOR_KEYS = ["0x" + (bytes([i + 1]) * 32).hex() for i in range(5)]
WAD = 10**18
FAR_FUTURE = 2**40
N_LOANS = 8


@pytest.fixture(autouse=True)
def _rollback() -> Any:
    """Overrides the chain conftest's rollback: this test runs on a node."""
    yield


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

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def _loans(pool: int) -> list[LoanRecord]:
    """Period 1 of 8 current loans summing to the pool: 0.2% scheduled principal,
    loan 3 prepays in full, 6.5% a year of interest."""
    weights = [3, 5, 7, 11, 13, 17, 19, 25]
    balances = [pool * w // 100 for w in weights]
    balances[-1] += pool - sum(balances)
    out = []
    for i, b in enumerate(balances):
        sched = b * 2 // 1000
        prepaid = b - sched if i == 3 else 0
        out.append(LoanRecord(
            loan_id=f"LOAN-{i:03d}", period=1, beginning_balance=b, scheduled_principal=sched,
            prepaid_principal=prepaid, interest_paid=b * 65 // 12000, ending_balance=b - sched - prepaid,
        ))
    return out


def _loan_file(path: Path, loans: list[LoanRecord], k: int, **change: Any) -> Path:
    """Loan ``k``'s record (with ``change`` applied) and its proof, as the example reads them."""
    tree = MerkleTree([r.leaf() for r in loans])
    rec = loans[k]
    record = {name: getattr(rec, name) for name in rec.__dataclass_fields__}
    record["loan_id"] = "0x" + rec.loan_id.hex()
    record.update(change)
    path.write_text(json.dumps({"record": record, "proof": ["0x" + p.hex() for p in tree.proof(k)]}))
    return path


def _run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=300,
                          cwd=EXAMPLE.parent)


def test_the_example_imports_no_openmbs():
    tree = ast.parse(EXAMPLE.read_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules <= {"__future__", "argparse", "json", "sys", "pathlib", "typing", "eth_abi", "eth_typing", "eth_utils", "web3"}


@pytest.mark.anvil
def test_the_web3_example_reads_a_deal_from_the_exported_files(node, tmp_path, monkeypatch):
    # -- deploy with the CLI (the record is the CLI's) -----------------------------------
    state = tmp_path / "deployment.json"
    monkeypatch.setenv("OPENMBS_PRIVATE_KEY", ANVIL_KEYS[0])
    attestors = ",".join(Account.from_key(k).address for k in ATTESTOR_KEYS)
    _cli(["chain", "deploy", "four_tranche", "--rpc", node.url, "--state", str(state),
          "--attestors", attestors, "--quorum", "3", "--loans", str(N_LOANS)])
    record = json.loads(state.read_text())
    out = tmp_path / "out"
    _cli(["chain", "artifacts", "--out", str(out)])

    # -- subscribe, close, settle and remit period 1 through the deal client --------------
    admin, investor = Account.from_key(ANVIL_KEYS[0]), Account.from_key(ANVIL_KEYS[1])
    network_env(node.url)
    boa.env.add_account(admin, force_eoa=True)
    boa.env.add_account(investor)
    cfg = dict(record["config"])
    cfg["tranches"] = tuple(TrancheConfig(**t) for t in cfg["tranches"])
    d = attach_deal(DealConfig(**cfg), record["contracts"], admin=admin.address)
    faces = [t.face for t in d.config.tranches]
    d.allow([investor.address, admin.address], FAR_FUTURE)
    d.settlement.mint(investor.address, d.subscription_cost(0, faces[0]), sender=admin.address)
    d.subscribe(investor.address, 0, faces[0])
    for i in range(1, len(faces)):
        d.settlement.mint(admin.address, d.subscription_cost(i, faces[i]), sender=admin.address)
        d.subscribe(admin.address, i, faces[i])
    d.close()
    d.settle(investor.address)
    d.settle(admin.address)
    # the investor passes half of its class-A tokens to a second holder
    d.tokens[0].transfer(admin.address, faces[0] // 2, sender=investor.address)
    loans = _loans(int(record["config"]["initial_pool_balance"]))
    report = RemittanceReport.from_loans(1, loans)
    d.settlement.mint(admin.address, report.cash, sender=admin.address)
    d.remit(report, attest(report, ATTESTOR_KEYS[:3], chain_id=d.chain_id(), verifying_contract=str(d.oracle.address)))

    # -- the example, on the exported files only --------------------------------------
    res = _run_example("--rpc", node.url, "--artifacts", str(out), "--record", str(state),
                       "--deal", str(d.deal.address), "--holder", investor.address,
                       "--loan", str(_loan_file(tmp_path / "loan.json", loans, 5)),
                       "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)

    assert doc["chain_id"] == d.chain_id() == record["chain_id"]
    assert doc["deal"] == str(d.deal.address)
    assert doc["last_period"] == d.status()["last_period"] == 1
    status = d.tranches()
    assert [t["index"] for t in doc["tranches"]] == [s.index for s in status]
    for t, s in zip(doc["tranches"], status, strict=True):
        tokens = int(d.tokens[s.index].balanceOf(investor.address))
        assert (t["symbol"], t["original_face"], t["factor"], t["current_face"]) == (
            s.symbol, s.original_face, s.factor, s.balance)
        assert t["holder_tokens"] == tokens
        assert t["holder_current_face"] == tokens * s.factor // WAD
        assert t["claimable"] == d.claimable(s.index, investor.address)
    senior = doc["tranches"][0]
    assert senior["factor"] < WAD and senior["claimable"] > 0 and senior["holder_tokens"] == faces[0] - faces[0] // 2

    (dist,) = doc["distributions"]
    assert dist["period"] == 1 and dist["cash"] == report.cash
    assert dist["credited"] == d.status()["cash_credited"]
    assert dist["reserve_balance"] == d.status()["reserve_balance"]
    assert dist["fee"] + dist["credited"] + dist["residual"] + dist["reserve_balance"] == (
        report.cash + int(d.deal.reserve_initial()))
    words = [int(d.waterfall.state_word(w)) for w in range(4)]
    assert [dist["cumulative_loss"], dist["state_period"], dist["dust"]] == [words[0], words[1], words[3]]
    assert dist["latched_triggers"] == [k for k in range(8) if (words[2] >> k) & 1]

    loan = doc["loan"]
    assert loan["record_hash"] == "0x" + loans[5].record_hash().hex()
    assert loan["leaf"] == loan["oracle_leaf"] == "0x" + loans[5].leaf().hex()
    assert loan["root"] == "0x" + report.loan_tape_root.hex()
    assert loan["proof_ok"] is True and loan["verify_loan"] is True

    # a record that was not reported (one unit more interest) fails both checks
    res = _run_example("--rpc", node.url, "--artifacts", str(out), "--record", str(state), "--json",
                       "--loan", str(_loan_file(tmp_path / "forged.json", loans, 5,
                                                interest_paid=loans[5].interest_paid + 1)))
    assert res.returncode == 0, res.stderr
    forged = json.loads(res.stdout)["loan"]
    assert forged["proof_ok"] is False and forged["verify_loan"] is False

    # a deal pinned by the user that the record does not name is refused
    res = _run_example("--rpc", node.url, "--artifacts", str(out), "--record", str(state),
                       "--deal", str(d.oracle.address))
    assert res.returncode != 0 and "refusing" in res.stderr and str(d.oracle.address) in res.stderr

    # the text output (what the guide shows) runs too
    res = _run_example("--rpc", node.url, "--artifacts", str(out), "--record", str(state),
                       "--holder", investor.address)
    assert res.returncode == 0, res.stderr
    assert "last period 1" in res.stdout and "period 1: cash" in res.stdout


def test_the_guide_quotes_the_example_verbatim():
    """docs/client.md's ``attach`` is the example's own function, line for line (its
    docstring aside)."""
    guide = (REPO / "docs" / "client.md").read_text()
    block = guide.split("```python\n", 1)[1].split("```", 1)[0]
    source = EXAMPLE.read_text()
    (fn,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "attach"]
    lines = source.splitlines()
    doc = fn.body[0]
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    code = lines[fn.lineno - 1 : doc.lineno - 1] + lines[doc.end_lineno : fn.end_lineno]  # type: ignore[misc]
    assert block.splitlines() == code


def _example_module() -> Any:
    spec = importlib.util.spec_from_file_location("read_deal_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*")
def test_load_deployment_reads_the_deal_block_when_the_record_keeps_it(tmp_path):
    """A record with per-contract deployments (format /2) starts the event scan at the
    deal's block; one without (format /1) at block 0."""
    load = _example_module().load_deployment
    contracts = {"deal": "0x" + "11" * 20, "oracle": "0x" + "22" * 20, "waterfall": "0x" + "33" * 20,
                 "tokens": ["0x" + "44" * 20, "0x" + "55" * 20]}
    old = tmp_path / "v1.json"
    old.write_text(json.dumps({"chain_id": 31337, "contracts": contracts}))
    new = tmp_path / "v2.json"
    new.write_text(json.dumps({"chain_id": 31337, "contracts": contracts,
                               "deployments": {"deal": {"address": contracts["deal"], "block": 17, "tx_hash": "0x"}}}))
    a, b = load(old), load(new)
    assert (a["from_block"], b["from_block"]) == (0, 17)
    assert a["tokens"] == b["tokens"] == [to_checksum_address(t) for t in contracts["tokens"]]
    assert a["deal"] == to_checksum_address(contracts["deal"]) and a["chain_id"] == 31337
