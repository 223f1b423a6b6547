"""A deployment record anchored to the chain (`openmbs.chain._verify`).

The session deal of the chain conftest (test-double waterfall) is read back from its
deal address alone; then each link is broken in turn (a look-alike's code, a back-link
to another deal, a record that names other addresses or figures) and must be refused
with an error naming the contract or field, the record's value and the chain's.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boa
import pytest

from openmbs.chain import deployer
from openmbs.chain._contracts import artifact
from openmbs.chain._verify import check_record, code_is, read_deal
from openmbs.errors import DataIntegrityError, InputError


def _record(world: Any) -> dict[str, Any]:
    d = world.d
    return json.loads(
        json.dumps(
            {
                "network": "rpc",
                "chain_id": d.chain_id(),
                "test_waterfall": False,
                "class_bound": d.bound,
                "attestors": [k.address for k in world.keys],
                "config": dataclasses.asdict(d.config),
                "contracts": d.addresses(),
            }
        )
    )


def _slot(name: str, var: str, bound: int = 8) -> int:
    """Storage slot of ``var`` in contract ``name`` of the world deal's build (8)."""
    return int(deployer(name, bound).compiler_data.storage_layout["storage_layout"][var]["slot"])


def test_the_deal_address_alone_gives_every_contract(world):
    chain = read_deal(str(world.d.deal.address))
    assert chain.addresses == world.d.addresses()
    assert chain.test_waterfall is False  # the chain fixtures run the real waterfall
    assert chain.original_face == tuple(t.face for t in world.d.config.tranches)
    assert chain.quorum == 3 and chain.attestor_count == 5
    assert set(chain.code) == {"deal", "timelock", "issuance", "oracle", "waterfall", "params", "loan_sale", "servicer_bond"} | {
        f"tokens[{i}]" for i in range(4)
    }
    check_record(_record(world), chain, where="file 'd.json'")  # the true record passes


def test_code_is_the_runtime_plus_the_immutables_only(world):
    code = bytes(boa.env.get_code(str(world.d.oracle.address)))
    assert code_is(code, "RemittanceOracle")
    assert not code_is(code, "Issuance")
    assert not code_is(code + b"\x00", "RemittanceOracle")  # longer than runtime + immutables
    runtime = artifact("RemittanceOracle").runtime
    flipped = code[:100] + bytes([code[100] ^ 1]) + code[101:]
    assert len(runtime) > 100 and not code_is(flipped, "RemittanceOracle")


def test_a_look_alike_oracle_behind_the_deal_is_refused(world):
    # the deal's oracle slot now points at a contract with other code (a token)
    look_alike = str(world.d.tokens[0].address)
    boa.env.set_storage(str(world.d.deal.address), _slot("Deal", "oracle"), int(look_alike, 16))
    with pytest.raises(DataIntegrityError) as info:
        read_deal(str(world.d.deal.address))
    msg = str(info.value)
    assert "'oracle'" in msg and look_alike in msg and "RemittanceOracle" in msg and "\n" not in msg


@pytest.mark.parametrize("tamper", ["trailing byte", "no stop byte", "other parameters"])
def test_a_waterfall_whose_parameters_contract_was_altered_is_refused(world, tamper):
    """The waterfall reads its parameters from the code of ``params_data()``: a
    parameters contract that is not exactly a STOP byte and one encoding of
    ``ExactParams`` (a state altered under the waterfall, as a forged deployment could
    leave it) is refused naming the role ``params``."""
    data = str(world.d.waterfall.params_data())
    code = bytes(boa.env.get_code(data))
    bad = {
        "trailing byte": code + b"\x00",
        "no stop byte": b"\x5b" + code[1:],
        "other parameters": code[:-1] + bytes([code[-1] ^ 1]),
    }[tamper]
    boa.env.set_code(data, bad)
    if tamper == "other parameters":
        # other words, still one encoding: the record check names the field
        chain = read_deal(str(world.d.deal.address))
        with pytest.raises(DataIntegrityError, match="excess_to"):
            check_record(_record(world), chain, where="file 'd.json'")
        return
    with pytest.raises(DataIntegrityError) as info:
        read_deal(str(world.d.deal.address))
    msg = str(info.value)
    assert "'params'" in msg and "STOP byte" in msg and "\n" not in msg


def test_a_genuine_oracle_of_another_deal_is_refused_by_its_back_link(world):
    from openmbs.chain import deploy_deal

    other = deploy_deal(
        world.d.config,
        attestors=[k.address for k in world.keys],
        admin=world.admin,
    )
    boa.env.set_storage(
        str(world.d.deal.address), _slot("Deal", "oracle"), int(str(other.oracle.address), 16)
    )
    with pytest.raises(DataIntegrityError) as info:
        read_deal(str(world.d.deal.address))
    msg = str(info.value)
    assert "'oracle'" in msg and "'deal()'" in msg
    assert str(world.d.deal.address) in msg and str(other.deal.address) in msg


def test_a_pinned_address_that_is_not_a_deal_is_refused(world):
    with pytest.raises(DataIntegrityError, match=r"contract 'deal' .*field 'code'"):
        read_deal(str(world.d.oracle.address))
    with pytest.raises(DataIntegrityError, match="no code"):
        read_deal("0x" + "11" * 20)
    with pytest.raises(InputError, match="--deal value 'nope'"):
        read_deal("nope")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("contracts", "oracle"), "0x" + "22" * 20, "contracts.oracle"),
        (("contracts", "settlement"), "0x" + "22" * 20, "contracts.settlement"),
        (("contracts", "tokens", 1), "0x" + "22" * 20, "contracts.tokens[1]"),
        (("contracts", "deal"), "0x" + "22" * 20, "contracts.deal"),
        (("chain_id",), 5, "chain_id"),
        (("test_waterfall",), True, "test_waterfall"),
        (("class_bound",), 16, "class_bound"),
        (("config", "quorum"), 1, "config.quorum"),
        (("config", "tranches", 2, "face"), 1, "config.tranches[2].face"),
        (("attestors", 0), "0x" + "33" * 20, "attestors[0]"),
    ],
)
def test_a_record_that_disagrees_with_the_chain_is_refused(world, path, value, field):
    record = _record(world)
    node: Any = record
    for k in path[:-1]:
        node = node[k]
    before = node[path[-1]]
    node[path[-1]] = value
    chain = read_deal(str(world.d.deal.address))
    with pytest.raises(DataIntegrityError) as info:
        check_record(record, chain, where="file 'd.json'")
    msg = str(info.value)
    assert f"field {field!r}" in msg and "file 'd.json'" in msg and "\n" not in msg
    assert f"record value {value!r}" in msg
    if field not in ("attestors[0]",):
        assert f"chain value {before!r}" in msg


def test_a_deal_of_each_build_is_read_back_with_its_build(world, exact_config, chain):
    """The world's deal (4 classes) is on the 8-class build, a deal of 9 classes on the
    16-class one: read_deal finds each build from the deal's code, a record says it
    (``class_bound``; a record without it means 8) and must agree."""
    from openmbs.chain import TrancheConfig, deploy_deal

    mine = read_deal(str(world.d.deal.address))
    assert mine.bound == world.d.bound == 8
    old = _record(world)
    del old["class_bound"]  # a record written before the 16-class build
    check_record(old, mine, where="file 'old.json'")

    nine = tuple(TrancheConfig(f"Class {i}", f"C{i}", 100_000_000_000, 0.05) for i in range(9))
    cfg = exact_config("nine_verify", nine, pool=900_000_000_000, loans=chain.LOANS)
    d = deploy_deal(cfg, attestors=[k.address for k in world.keys], admin=world.admin)
    big = read_deal(str(d.deal.address))
    assert d.bound == big.bound == 16 and len(big.addresses["tokens"]) == 9
    record = json.loads(json.dumps({
        "chain_id": d.chain_id(), "test_waterfall": False, "class_bound": 16,
        "attestors": [k.address for k in world.keys], "config": dataclasses.asdict(d.config),
        "contracts": d.addresses(),
    }))
    check_record(record, big, where="file 'nine.json'")
    del record["class_bound"]
    with pytest.raises(DataIntegrityError, match="field 'class_bound' record value 8, chain value 16"):
        check_record(record, big, where="file 'nine.json'")


def test_a_contract_of_the_other_build_behind_the_deal_is_refused(world):
    """A deal whose waterfall slot points at a waterfall of the 16-class build (as a
    forged state could): read_deal wants the deal's build for every contract."""
    from openmbs.chain._exact_waterfall import deploy_exact_waterfall

    d = world.d
    other = deploy_exact_waterfall(d.config.exact, str(d.deal.address), bound=16)
    boa.env.set_storage(str(d.deal.address), _slot("Deal", "waterfall"), int(str(other.address), 16))
    with pytest.raises(DataIntegrityError) as info:
        read_deal(str(d.deal.address))
    msg = str(info.value)
    assert "'waterfall'" in msg and "(8-class build, the deal's)" in msg and "\n" not in msg
