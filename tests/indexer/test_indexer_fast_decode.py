"""The fast decoding path against eth_abi, on every event of the deal's contracts."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from indexer_helpers import deal_event_abis, random_log

from openmbs.errors import DataIntegrityError
from openmbs.indexer import ContractRegistry, EventType, RawLog
from openmbs.indexer._abi import checksum

ADDRESS = "0x00000000000000000000000000000000000000Aa"


def _types(values: Any) -> Any:
    """The nested Python types of a decoded value (bool vs int matters)."""
    if isinstance(values, dict):
        return {k: _types(v) for k, v in values.items()}
    if isinstance(values, list):
        return [_types(v) for v in values]
    return type(values)


def test_deal_events_fast_path_equals_eth_abi() -> None:
    """Every event type of the deal's contracts, random values with extremes: the fast
    path gives the same args, row and value types as the eth_abi path."""
    rng = random.Random(7)
    abis = deal_event_abis()
    assert len(abis) > 30
    n_fast = 0
    for contract, item in abis:
        et = EventType.from_abi(item)
        n_fast += et.fast
        for k in range(25):
            log, values = random_log(item, ADDRESS, 1, k, rng)
            fast = et.decode(log)
            ref = et._decode_eth_abi(log)
            assert fast == ref, (contract, et.signature, values)
            assert _types(fast[0]) == _types(ref[0]) and _types(fast[1]) == _types(ref[1])
            assert et.args_json(fast[0]) == json.dumps(ref[0])
    assert n_fast == len(abis)  # every event of the deal's contracts is on the fast path


def _expected_json(typ: str, value: Any) -> Any:
    """What an argument should decode to, from the value encoded (not from eth_abi)."""
    if typ.endswith("]"):
        return [_expected_json(typ[: typ.rindex("[")], v) for v in value]
    if typ == "address":
        return to_checksum_address(value)
    if typ.startswith("bytes"):
        return "0x" + value.hex()
    return value


# -- bad data: the same DataIntegrityError as the eth_abi path -------------------------
def _registry(inputs: list[dict[str, Any]]) -> tuple[ContractRegistry, EventType]:
    reg = ContractRegistry()
    reg.add(ADDRESS, "Token", [{"type": "event", "name": "Bad", "anonymous": False, "inputs": inputs}])
    return reg, reg.event_types()[0]


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


EXTREMES: list[tuple[str, list[Any]]] = [
    ("uint8", [0, 1, 255]),
    ("uint64", [0, 2**64 - 1]),
    ("uint128", [2**128 - 1]),
    ("uint256", [0, 2**256 - 1]),
    ("int8", [-128, -1, 0, 127]),
    ("int128", [-(2**127), -(2**100), 2**127 - 1]),
    ("int256", [-(2**255), -1, 2**255 - 1]),
    ("bool", [True, False]),
    ("bytes1", [b"\xff"]),
    ("bytes20", [b"\x00" * 19 + b"\x01"]),
    ("bytes32", [b"\xab" * 32]),
    ("address", ["0x" + "ff" * 20, "0x0000000000000000000000000000000000000000"]),
    ("uint256[3]", [[0, 2**256 - 1, 5]]),
    ("int16[2]", [[-(2**15), 2**15 - 1]]),
]


def _event(name: str, inputs: list[dict[str, Any]]) -> EventType:
    return EventType.from_abi({"type": "event", "name": name, "anonymous": False, "inputs": inputs})


@pytest.mark.parametrize(("typ", "values"), EXTREMES)
def test_extreme_values_in_data_and_topics(typ: str, values: list[Any]) -> None:
    static_topic = not typ.endswith("]")
    inputs = [{"name": "a", "type": typ, "indexed": False}]
    if static_topic:
        inputs.append({"name": "b", "type": typ, "indexed": True})
    et = _event("E", inputs)
    assert et.fast
    for v in values:
        topics = [keccak(text=et.signature)]
        if static_topic:
            topics.append(encode([typ], [v]))
        log = RawLog(1, 0, "0x00", 0, ADDRESS, tuple(topics), encode([typ], [v]))
        args, row = et.decode(log)
        want = _expected_json(typ, v)
        assert args["a"] == want
        if static_topic:
            assert args["b"] == want and row == [want, want]
        assert (args, row) == et._decode_eth_abi(log)
        assert et.args_json(args) == json.dumps(args)


def test_static_struct_and_array_columns() -> None:
    """A static struct is flattened to columns, a fixed array is one JSON column."""
    et = _event(
        "S",
        [
            {"name": "p", "type": "uint256", "indexed": True},
            {
                "name": "r",
                "type": "tuple",
                "indexed": False,
                "components": [
                    {"name": "x", "type": "int64"},
                    {"name": "who", "type": "address"},
                    {"name": "ok", "type": "bool"},
                ],
            },
            {"name": "arr", "type": "uint8[2]", "indexed": False},
        ],
    )
    assert et.fast and [c.name for c in et.columns] == ["p", "r_x", "r_who", "r_ok", "arr"]
    who = "0x" + "ab" * 20
    data = encode(["(int64,address,bool)", "uint8[2]"], [(-5, who, True), [1, 255]])
    log = RawLog(1, 0, "0x00", 0, ADDRESS, (keccak(text=et.signature), encode(["uint256"], [9])), data)
    args, row = et.decode(log)
    assert args == {"p": 9, "r": [-5, to_checksum_address(who), True], "arr": [1, 255]}
    assert row == [9, -5, to_checksum_address(who), True, "[1, 255]"]
    assert et.args_json(args) == (
        f'{{"p": 9, "r": [-5, "{to_checksum_address(who)}", true], "arr": [1, 255]}}'
    )
    assert et.args_json({"p": 9}) == '{"p": 9}'  # not what decode gives: json.dumps
    assert (args, row) == et._decode_eth_abi(log)


def test_dynamic_values_canonical_and_not() -> None:
    """bytes, string and T[] in data: canonical layouts on the fast path, others (and
    dynamic types of dynamic types) decoded by eth_abi, with the same answers."""
    et = _event(
        "D",
        [
            {"name": "n", "type": "uint8", "indexed": False},
            {"name": "s", "type": "string", "indexed": False},
            {"name": "who", "type": "address[]", "indexed": False},
            {"name": "b", "type": "bytes", "indexed": False},
        ],
    )
    assert et.fast
    sel = keccak(text=et.signature)
    who = ["0x" + "ab" * 20, "0x" + "00" * 19 + "01"]
    for s_val, b_val in (("", b""), ("héllo" * 9, b"\x01" * 33), ("0x" + "cd" * 20, b"\xff" * 32)):
        data = encode(["uint8", "string", "address[]", "bytes"], [7, s_val, who, b_val])
        log = RawLog(1, 0, "0x00", 0, ADDRESS, (sel,), data)
        args, row = et.decode(log)
        assert args["n"] == 7 and args["b"] == "0x" + b_val.hex()
        assert args["who"] == [to_checksum_address(w) for w in who]
        assert args["s"] == (to_checksum_address(s_val) if len(s_val) == 42 else s_val)
        assert (args, row) == et._decode_eth_abi(log)
        assert et.args_json(args) == json.dumps(args)
    # the same values with the tails swapped: a valid layout, not the canonical one
    one = encode(["string"], ["hi"])[32:]  # length word + padded text
    arr = encode(["address[]"], [who])[32:]
    blob = encode(["bytes"], [b"\x02"])[32:]
    head = _word(7) + _word(128 + len(arr)) + _word(128) + _word(128 + len(arr) + len(one))
    log = RawLog(1, 0, "0x00", 0, ADDRESS, (sel,), head + arr + one + blob)
    assert et.decode(log) == et._decode_eth_abi(log)
    assert et.decode(log)[0]["s"] == "hi"
    # a dynamic array of strings is left to eth_abi
    et2 = _event("L", [{"name": "xs", "type": "string[]", "indexed": False}])
    assert not et2.fast
    log2 = RawLog(1, 0, "0x00", 0, ADDRESS, (keccak(text=et2.signature),), encode(["string[]"], [["a", "b"]]))
    assert et2.decode(log2) == ({"xs": ["a", "b"]}, ['["a", "b"]'])
    # an indexed string is a hash in its topic
    et3 = _event("H", [{"name": "s", "type": "string", "indexed": True}])
    assert et3.fast
    topic = keccak(text="hi")
    log3 = RawLog(1, 0, "0x00", 0, ADDRESS, (keccak(text=et3.signature), topic), b"")
    assert et3.decode(log3) == ({"s": "0x" + topic.hex()}, ["0x" + topic.hex()])


@pytest.mark.parametrize(
    ("typ", "data"),
    [
        ("bytes", _word(32) + _word(1) + b"\x01" * 31 + b"\x01"),  # tail padding
        ("bytes", _word(32) + _word(40) + bytes(32)),  # tail cut short
        ("string", _word(32) + _word(2) + b"\xff\xfe" + bytes(30)),  # not UTF-8
        ("uint256[]", _word(32) + _word(3) + _word(1)),  # elements missing
        ("address[]", _word(32) + _word(1) + b"\x01" * 32),  # element padding
        ("string", _word(64)),  # offset past the end
    ],
)
def test_bad_dynamic_data_raises(typ: str, data: bytes) -> None:
    reg, et = _registry([{"name": "v", "type": typ, "indexed": False}])
    assert et.fast
    log = RawLog(5, 1, "0x00", 0, ADDRESS, (keccak(text=et.signature),), data)
    with pytest.raises((DecodingError, UnicodeDecodeError)):
        et._decode_eth_abi(log)
    with pytest.raises(DataIntegrityError, match=r"block 5 log 1 .*cannot decode as Bad"):
        reg.decode(log)


# -- bad data: the same DataIntegrityError as the eth_abi path -------------------------
BAD: list[tuple[str, bool, bytes]] = [
    ("uint256", False, b"\x01" * 31),  # short data
    ("uint8", False, _word(256)),  # nonzero padding
    ("uint64", False, _word(2**64)),
    ("int8", False, _word(128)),  # not the sign extension
    ("int8", False, b"\xff" * 31 + b"\x01"),
    ("address", False, b"\x01" + bytes(31)),
    ("bool", False, _word(2)),
    ("bytes2", False, b"\x01\x02\x03" + bytes(29)),
    ("uint8", True, _word(256)),  # the same in a topic
    ("address", True, b"\x00" * 11 + b"\x01" + b"\x22" * 20),
    ("bool", True, _word(7)),
    ("uint256", True, b"\x01" * 31),  # short topic
]


@pytest.mark.parametrize(("typ", "indexed", "blob"), BAD)
def test_bad_words_raise_data_integrity_error(typ: str, indexed: bool, blob: bytes) -> None:
    reg, et = _registry([{"name": "v", "type": typ, "indexed": indexed}])
    assert et.fast
    topics = (keccak(text=et.signature), blob) if indexed else (keccak(text=et.signature),)
    log = RawLog(12, 3, "0x00", 0, ADDRESS, topics, b"" if indexed else blob)
    with pytest.raises(DecodingError):  # eth_abi refuses it too
        et._decode_eth_abi(log)
    with pytest.raises(ValueError, match=r"bytes|padding|neither 0 nor 1"):
        et.decode(log)
    with pytest.raises(DataIntegrityError, match=rf"block 12 log 3 \(Token {ADDRESS}\).*{re.escape(et.signature)}"):
        reg.decode(log)


def test_wrong_topic_count_and_struct_padding() -> None:
    reg, et = _registry(
        [
            {"name": "a", "type": "address", "indexed": True},
            {"name": "r", "type": "tuple", "indexed": False, "components": [{"name": "x", "type": "uint16"}]},
        ]
    )
    sel = keccak(text=et.signature)
    with pytest.raises(DataIntegrityError, match="1 topics for Bad"):
        reg.decode(RawLog(1, 0, "0x00", 0, ADDRESS, (sel,), _word(1)))
    with pytest.raises(DataIntegrityError, match=r"'r\.x' \(uint16\)"):
        reg.decode(RawLog(1, 0, "0x00", 0, ADDRESS, (sel, bytes(32)), _word(2**16)))
    # extra trailing data is accepted, as eth_abi accepts it
    log = RawLog(1, 0, "0x00", 0, ADDRESS, (sel, bytes(32)), _word(7) + b"\x01")
    assert reg.decode(log).args == {"a": "0x" + "00" * 20, "r": [7]}
    assert et.decode(log) == et._decode_eth_abi(log)


def test_checksum_matches_eth_utils() -> None:
    rng = random.Random(3)
    for _ in range(200):
        raw = rng.randbytes(20)
        want = to_checksum_address(raw)
        assert checksum("0x" + raw.hex()) == want
        assert checksum("0x" + raw.hex().upper()) == want
        assert checksum(want) == want
    with pytest.raises(ValueError):
        checksum("0x1234")

