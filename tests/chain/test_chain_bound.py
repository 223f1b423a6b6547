"""The two builds (8 and 16 classes) never mix, and a deal runs on the smallest that holds it.

The contracts are built twice from one source (``deal_types.MAX_TRANCHES``: 8 and
16, ``openmbs.chain._contracts.BOUNDS``); the Allocation the deal and its waterfall
exchange has that many rows, so a waterfall of the other build speaks another ABI.
Attacks: governance (the timelock) wires a waterfall of the other build, a waterfall
is given a rule program of the other build, a deal of 9 classes is deployed on the
8-class build. Calls sent ``sender=timelock.address`` stand for operations the
timelock executed after its delay.
"""

from __future__ import annotations

from typing import Any

import boa
import pytest

from openmbs.chain import TrancheConfig, deploy_deal
from openmbs.chain._contracts import BOUNDS, artifact, bound_for, deployer
from openmbs.chain._deploy import deal_bound
from openmbs.chain._exact_waterfall import deploy_exact_waterfall, exact_params
from openmbs.chain._rule_program import deploy_rule_program
from openmbs.errors import ChainError, InputError
from openmbs.structuring import compile_exact

ZERO = "0x" + "00" * 20


def _tranches(n: int) -> tuple[TrancheConfig, ...]:
    face = 100_000_000_000
    return tuple(TrancheConfig(f"Class {i}", f"C{i}", face, 0.05) for i in range(n))


def test_the_builds_and_the_smallest_bound_that_holds_a_deal() -> None:
    assert BOUNDS == (8, 16)
    assert [bound_for(n) for n in (1, 8, 9, 16)] == [8, 8, 16, 16]
    with pytest.raises(ChainError, match="17 classes: more than the largest build's bound 16"):
        bound_for(17)
    # the builds differ where the bound is used
    assert artifact("ExactWaterfall", 8).runtime != artifact("ExactWaterfall", 16).runtime
    assert artifact("Deal", 8).runtime != artifact("Deal", 16).runtime


def test_the_fixture_deal_runs_on_the_8_class_build(world: Any) -> None:
    d = world.d
    assert d.bound == 8
    assert int(d.deal.max_tranches()) == 8 and int(d.waterfall.max_tranches()) == 8


def test_governance_cannot_wire_a_waterfall_of_the_16_class_build_into_an_8_class_deal(world: Any) -> None:
    d = world.d
    exact = d.config.exact
    other = deploy_exact_waterfall(exact, str(d.deal.address), bound=16)
    assert int(other.max_tranches()) == 16
    before = d.deal.waterfall()
    with boa.reverts(dev="waterfall bound"):
        d.deal.set_waterfall(other.address, sender=d.timelock.address)
    assert d.deal.waterfall() == before
    # the same deal's waterfall of its own build is accepted (the check can pass)
    same = deploy_exact_waterfall(exact, str(d.deal.address), bound=8)
    d.deal.set_waterfall(same.address, sender=d.timelock.address)
    assert d.deal.waterfall() == same.address


def test_governance_cannot_wire_an_8_class_waterfall_into_a_16_class_deal(exact_config: Any, chain: Any) -> None:
    cfg = exact_config("bound16", chain.TRANCHES, pool=chain.POOL, loans=chain.LOANS)
    admin = boa.env.generate_address("admin16")
    d = deploy_deal(cfg, attestors=[boa.env.generate_address(f"a{i}") for i in range(5)], admin=admin, bound=16)
    assert d.bound == 16 and int(d.deal.max_tranches()) == 16 and int(d.waterfall.max_tranches()) == 16
    small = deploy_exact_waterfall(cfg.exact, str(d.deal.address), bound=8)
    with boa.reverts(dev="waterfall bound"):
        d.deal.set_waterfall(small.address, sender=d.timelock.address)
    assert d.deal.waterfall() == d.waterfall.address


def test_a_deal_of_9_classes_cannot_be_deployed_on_the_8_class_build(exact_config: Any, chain: Any) -> None:
    cfg = exact_config("nine", _tranches(9), pool=9 * 100_000_000_000, loans=chain.LOANS)
    assert deal_bound(cfg) == 16
    with pytest.raises(InputError, match=r"9 classes cannot run on the 8-class build .* smallest build that holds them is 16"):
        deal_bound(cfg, 8)
    with pytest.raises(InputError, match="9 classes cannot run on the 8-class build"):
        deploy_deal(cfg, attestors=[boa.env.generate_address(f"n{i}") for i in range(5)], admin=boa.env.eoa, bound=8)
    with pytest.raises(ChainError, match="9 classes cannot run on the 8-class build"):
        deploy_exact_waterfall(cfg.exact, ZERO, bound=8)
    with pytest.raises(ChainError, match="more than the bound 8"):
        exact_params(cfg.exact, 8)
    # nor by calling the contracts directly: the 8-class Deal's constructor cannot
    # take 9 faces, the 8-class waterfall's parameters cannot name 9 classes
    token = deployer("MockSettlementToken", 8).deploy("m", "m")
    who = boa.env.eoa
    with boa.reverts():
        deployer("Deal", 8).deploy(token.address, [t.face for t in cfg.tranches], cfg.initial_pool_balance,
                                   0, who, who, who, who, who)
    params = list(exact_params(cfg.exact, 16))
    eight = [v[:8] if isinstance(v, list) and len(v) == 16 else v for v in params]
    with boa.reverts(dev="tranche count"):
        deployer("ExactWaterfall", 8).deploy(tuple(eight), ZERO[:-1] + "1", ZERO)


def test_a_waterfall_refuses_a_rule_program_of_the_other_build() -> None:
    from rule_program_helpers import random_rules_deal

    deal = next(d for d in (compile_exact(random_rules_deal(s, max_classes=8)) for s in range(40))
                if d.n_tranches <= 8 and d.program)
    for mine, theirs in ((8, 16), (16, 8)):
        program = deploy_rule_program(deal, bound=theirs)
        with boa.reverts(dev="program bound"):
            deployer("ExactWaterfall", mine).deploy(exact_params(deal, mine), ZERO[:-1] + "1", program.address)
        own = deploy_rule_program(deal, bound=mine)
        w = deployer("ExactWaterfall", mine).deploy(exact_params(deal, mine), ZERO[:-1] + "1", own.address)
        assert w.rules() == own.address


def test_configure_refuses_a_waterfall_of_the_other_build() -> None:
    """The deployer's one-time wiring checks the bound too (a deal deployed by hand)."""
    who = boa.env.eoa
    token = deployer("MockSettlementToken", 8).deploy("m", "m")
    face = 100_000_000
    for mine, theirs in ((8, 16), (16, 8)):
        deal = deployer("Deal", mine).deploy(token.address, [face], face, 0, who, who, who, who, who)
        wiring = ([boa.env.generate_address("token")], boa.env.generate_address("issuance"),
                  boa.env.generate_address("oracle"))
        wrong = deployer("SequentialTestWaterfall", theirs).deploy([0], [face], deal.address)
        with boa.reverts(dev="waterfall bound"):
            deal.configure(*wiring, wrong.address)
        assert not deal.configured()
        right = deployer("SequentialTestWaterfall", mine).deploy([0], [face], deal.address)
        deal.configure(*wiring, right.address)
        assert deal.configured() and deal.waterfall() == right.address


def test_the_record_keeps_the_build_and_an_old_record_means_8(world: Any, tmp_path: Any) -> None:
    from openmbs.chain import DeploymentRecord, read_deployment_record, write_deployment_record

    record = DeploymentRecord.from_client(world.d, network="embedded", attestors=[k.address for k in world.keys])
    assert record.class_bound == 8 and record.to_json()["class_bound"] == 8
    path = write_deployment_record(tmp_path / "d.json", record)
    assert read_deployment_record(path)["class_bound"] == 8
    doc = record.to_json()
    del doc["class_bound"]
    write_deployment_record(tmp_path / "old.json", doc)
    assert read_deployment_record(tmp_path / "old.json")["class_bound"] == 8
    doc["class_bound"] = 12
    write_deployment_record(tmp_path / "bad.json", doc)
    with pytest.raises(InputError, match=r"bad.json' field 'class_bound' value 12: need one of .*\[8, 16\]"):
        read_deployment_record(tmp_path / "bad.json")


def test_only_the_waterfall_and_program_abis_differ_between_builds() -> None:
    """The indexer and the clients read the deal's events and views with one ABI per
    contract whatever the build: that holds because only the contracts exchanging
    fixed rows (the Allocation, ``pay``) have another ABI in the 8-class build."""
    from openmbs.chain._contracts import CONTRACTS

    differ = sorted(n for n in CONTRACTS if artifact(n, 8).abi != artifact(n, 16).abi)
    assert differ == ["ExactWaterfall", "RuleProgram", "SequentialTestWaterfall"]


@pytest.mark.parametrize("times", [0, 2])
def test_a_build_needs_exactly_one_bound_line(tmp_path: Any, monkeypatch: Any, times: int) -> None:
    """The 8-class build rewrites deal_types.vy's one MAX_TRANCHES line: with none or
    two, which one bounds what would be unclear, so no build is made."""
    from openmbs.chain import _contracts

    line = "MAX_TRANCHES: constant(uint256) = 16\n"
    text = (_contracts.CONTRACTS_DIR / "deal_types.vy").read_text()
    assert text.count(line) == 1
    (tmp_path / "deal_types.vy").write_text(text.replace(line, line * times))
    monkeypatch.setattr(_contracts, "CONTRACTS_DIR", tmp_path)
    with pytest.raises(ChainError, match=f"need exactly one line .* found {times}"):
        _contracts._bounded_types(8)
