"""Foundry-style artifacts (`openmbs chain artifacts --out DIR`): what an integrator reads.

The files are written once per module through the CLI, then checked against three
independent things: the code titanoboa actually deploys for a deal (init code sent,
runtime code stored), the vyper command-line compiler run on the same sources, and
the keccak256 selectors recomputed here from the ABI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boa
import cbor2
import pytest
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from openmbs.chain import CONTRACTS, DEPLOYABLE_CONTRACTS, deploy_deal, foundry_artifact
from openmbs.chain._contracts import BOUNDS, build_dir, export_name
from openmbs.cli import app
from openmbs.errors import InputError

SRC = Path(__file__).resolve().parents[2] / "src"
#: The vyper command-line compiler installed beside this Python (or on PATH).
VYPER = next((p for p in (Path(sys.executable).parent / "vyper", shutil.which("vyper")) if p and Path(p).exists()), None)
MOCKS = sorted(name for name, path in CONTRACTS.items() if path.startswith("mocks/"))
#: Every deployable contract of each build: ``Deal`` (16 classes), then ``Deal.c8``.
EXPORTED = [export_name(n, b) for b in sorted(BOUNDS, reverse=True) for n in DEPLOYABLE_CONTRACTS]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    res = CliRunner().invoke(app, ["chain", "artifacts", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.split() == [str(out / f"{n}.json") for n in EXPORTED]
    return out


@pytest.fixture(scope="module")
def arts(out_dir: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))}


def test_exactly_the_deployable_contracts_and_no_test_double(out_dir, arts):
    assert MOCKS  # the registry does hold test doubles, which must stay out
    assert sorted(arts) == sorted(EXPORTED)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{n}.json" for n in EXPORTED)
    for path in out_dir.iterdir():
        text = path.read_text().lower()
        for mock in MOCKS:
            assert mock.lower() not in text, (path.name, mock)
        assert "mocks/" not in text, path.name


@pytest.mark.parametrize("name", ["MockSettlementToken", "SequentialTestWaterfall", "NoSuchContract"])
def test_a_test_double_or_unknown_name_is_refused(name):
    with pytest.raises(InputError, match=name):
        foundry_artifact(name)


def test_every_artifact_has_the_foundry_fields(arts):
    for key, a in arts.items():
        name, bound = a["contractName"], a["classBound"]
        assert key == export_name(name, bound)
        assert a["bytecode"]["object"].startswith("0x") and len(a["bytecode"]["object"]) > 2
        assert a["deployedBytecode"]["object"].startswith("0x") and len(a["deployedBytecode"]["object"]) > 2
        assert isinstance(a["abi"], list) and a["abi"]
        assert a["userdoc"].get("notice"), name  # every contract carries a @notice
        assert a["devdoc"].get("title", "").startswith("openmbs"), name
        meta = a["metadata"]
        assert meta["language"] == "Vyper"
        assert meta["compiler"]["version"].startswith("0.4.3")
        assert meta["settings"]["evm_version"] and meta["settings"]["optimize"]
        assert f"openmbs/chain/contracts/{name}.vy" in meta["sources"]
        for rel, digest in meta["sources"].items():
            # the 8-class build's sources are the shipped ones, deal_types.vy's bound line aside
            data = (build_dir(bound) / Path(rel).relative_to("openmbs/chain/contracts")).read_bytes()
            if bound == BOUNDS[-1]:
                assert data == (SRC / rel).read_bytes()
            elif rel.endswith("/deal_types.vy"):
                shipped = (SRC / rel).read_text()
                assert data.decode() == shipped.replace("MAX_TRANCHES: constant(uint256) = 16\n",
                                                        f"MAX_TRANCHES: constant(uint256) = {bound}\n")
                assert data.decode() != shipped
            assert digest["keccak256"] == "0x" + keccak(data).hex()


def _canonical(param: dict[str, Any]) -> str:
    """The canonical ABI type of a parameter (tuples spelled out, arrays kept)."""
    t = param["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + t[len("tuple"):]
    return str(t)


def test_method_identifiers_are_the_keccak_selectors_of_the_abi_functions(arts):
    for name, a in arts.items():
        sigs = {
            f"{f['name']}({','.join(_canonical(p) for p in f['inputs'])})"
            for f in a["abi"]
            if f["type"] == "function"
        }
        assert set(a["methodIdentifiers"]) == sigs, name
        for sig, sel in a["methodIdentifiers"].items():
            assert sel == keccak(text=sig)[:4].hex(), (name, sig)


def _immutables_size(initcode: bytes) -> int:
    n = int.from_bytes(initcode[-2:], "big")
    return int(cbor2.loads(initcode[-n:-2])[3])


def test_the_bytecode_is_what_boa_deploys_for_a_deal(arts, chain, monkeypatch):
    """Deploy a deal with the source deployers, recording every init code sent; each
    deployable contract's init code is its artifact's bytecode followed by the
    constructor arguments, and its stored code is the artifact's runtime followed by
    the immutables."""
    sent: list[tuple[bytes, Any]] = []
    real_deploy = boa.env.deploy

    def recording(*args: Any, **kw: Any) -> Any:
        address, computation = real_deploy(*args, **kw)
        sent.append((bytes(kw["bytecode"]), address))
        return address, computation

    monkeypatch.setattr(boa.env, "deploy", recording)
    cfg = chain.exact_config("artifacts_deal", chain.TRANCHES, pool=chain.POOL, loans=chain.LOANS)
    admin = boa.env.generate_address("artifacts-admin")
    attestors = [boa.env.generate_address(f"artifacts-attestor{i}") for i in range(cfg.n_attestors)]
    d = deploy_deal(cfg, attestors=attestors, admin=admin)
    monkeypatch.undo()
    assert d.bound == 8  # four classes: the 8-class build's files
    arts = {a["contractName"]: a for a in arts.values() if a["classBound"] == d.bound}

    by_address = {str(addr): code for code, addr in sent}
    roles = {
        "Deal": [d.deal], "ExactWaterfall": [d.waterfall], "Issuance": [d.issuance],
        "RemittanceOracle": [d.oracle], "Timelock": [d.timelock], "TrancheToken": list(d.tokens),
    }
    for name, contracts in roles.items():
        init = bytes.fromhex(arts[name]["bytecode"]["object"][2:])
        runtime = bytes.fromhex(arts[name]["deployedBytecode"]["object"][2:])
        for c in contracts:
            initcode = by_address[str(c.address)]
            assert initcode.startswith(init), name
            assert len(initcode) > len(init), name  # the constructor arguments follow
            code = bytes(boa.env.get_code(c.address))
            assert code.startswith(runtime), name
            assert len(code) == len(runtime) + _immutables_size(init), name
    # every init code sent is one of the artifacts, or the mock settlement asset
    # (the only contract a deal deploys that is not exported)
    inits = [bytes.fromhex(a["bytecode"]["object"][2:]) for a in arts.values()]
    strays = [code for code, _ in sent if not any(code.startswith(i) for i in inits)]
    assert strays == [sent[0][0]] and str(sent[0][1]) == str(d.settlement.address)


def test_abi_matches_the_deployed_contracts_and_selectors_dispatch(arts, world):
    d = world.d
    arts = {a["contractName"]: a for a in arts.values() if a["classBound"] == d.bound}
    for name, contract in (
        ("Deal", d.deal), ("ExactWaterfall", d.waterfall), ("Issuance", d.issuance),
        ("RemittanceOracle", d.oracle), ("Timelock", d.timelock), ("TrancheToken", d.tokens[0]),
    ):
        assert arts[name]["abi"] == contract.abi, name
        # every argument-free view answers its artifact selector on the real code,
        # with what the boa contract's own call returns
        for fn in arts[name]["abi"]:
            if fn["type"] != "function" or fn["inputs"] or fn["stateMutability"] not in ("view", "pure"):
                continue
            sig = f"{fn['name']}()"
            data = bytes.fromhex(arts[name]["methodIdentifiers"][sig])
            out = boa.env.raw_call(str(contract.address), data=data).output
            assert len(out) >= 32, (name, sig)


@pytest.mark.skipif(VYPER is None, reason="the vyper command-line compiler is not installed")
@pytest.mark.parametrize(
    ("name", "bound"),
    [(n, BOUNDS[-1]) for n in DEPLOYABLE_CONTRACTS] + [(n, 8) for n in ("Deal", "ExactWaterfall", "RuleProgram")],
)
def test_the_vyper_command_line_compiler_gives_the_same_outputs(arts, name, bound):
    """``vyper -f abi,bytecode,bytecode_runtime,method_identifiers,userdoc,devdoc`` on
    the same source gives the artifact's fields (selectors as vyper prints them); for
    the 8-class build, on that build's sources."""
    import snekmate

    libs = Path(next(iter(snekmate.__path__))).resolve().parent
    fmt = "abi,bytecode,bytecode_runtime,method_identifiers,userdoc,devdoc"
    shipped = bound == BOUNDS[-1]
    res = subprocess.run(
        [str(VYPER), "-f", fmt, "-p", str(libs),
         f"openmbs/chain/contracts/{CONTRACTS[name]}" if shipped else CONTRACTS[name]],
        cwd=SRC if shipped else build_dir(bound), capture_output=True, text=True, timeout=600, check=True,
    )
    abi, init, runtime, methods, userdoc, devdoc = res.stdout.strip().split("\n")
    a = arts[export_name(name, bound)]
    assert json.loads(abi) == a["abi"]
    assert init == a["bytecode"]["object"]
    assert runtime == a["deployedBytecode"]["object"]
    cli = {k: f"{int(v, 16):08x}" for k, v in json.loads(methods).items() if k != "__default__()"}
    assert cli == a["methodIdentifiers"]
    assert json.loads(userdoc) == a["userdoc"]
    assert json.loads(devdoc) == a["devdoc"]


def test_a_remittance_logs_the_documented_events_in_order(arts, world):
    """docs/events.md: one remittance emits the settlement asset's transfer events, then
    ``RemittanceAccepted``, one ``TrancheAllocated`` per tranche and ``Distributed``;
    each log is matched by the topic the artifact's event ABI gives."""
    d = world.d
    arts = {a["contractName"]: a for a in arts.values() if a["classBound"] == d.bound}
    world.remit()
    entries = sorted(d.oracle._computation.get_raw_log_entries())
    topics = {
        "0x" + keccak(text=f"{e['name']}({','.join(_canonical(i) for i in e['inputs'])})").hex(): (n, e["name"])
        for n, a in arts.items() for e in a["abi"] if e["type"] == "event"
    }
    names = {str(d.oracle.address).lower(): "RemittanceOracle", str(d.deal.address).lower(): "Deal"}
    seen = []
    for _, address, log_topics, _data in entries:  # py-evm: (counter, address bytes, int topics, data)
        addr = "0x" + address.hex()
        if addr == str(d.settlement.address).lower():
            seen.append("settlement")
            continue
        contract, event = topics["0x" + log_topics[0].to_bytes(32, "big").hex()]
        assert names[addr] == contract
        seen.append(event)
    n = len(d.tokens)
    first = seen.index("RemittanceAccepted")
    assert first > 0 and set(seen[:first]) == {"settlement"}
    assert seen[first:] == ["RemittanceAccepted", *["TrancheAllocated"] * n, "Distributed"]
