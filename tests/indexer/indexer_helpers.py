"""Helpers of the indexer tests: a titanoboa scenario and synthetic recorded logs."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from openmbs.indexer import RawLog

HERE = Path(__file__).resolve().parent
FIXTURE_VY = HERE / "events_fixture.vy"

REPORT_FIELDS = (
    "period",
    "scheduled_principal",
    "unscheduled_principal",
    "interest",
    "recoveries",
    "losses",
    "beginning_balance",
    "ending_balance",
    "loan_count",
    "delinquent_30",
    "delinquent_60",
    "delinquent_90_plus",
)


@dataclass
class Scenario:
    """What the boa scenario did, written down independently of the indexer."""

    address: str
    abi: list[dict[str, Any]]
    logs: list[RawLog]
    alice: str
    bob: str
    carol: str
    balances: dict[str, int] = field(default_factory=dict)
    allocations: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    claims: list[tuple[str, int, int]] = field(default_factory=list)
    reports: list[dict[str, int]] = field(default_factory=list)
    misc: dict[str, Any] = field(default_factory=dict)
    last_block: int = 0


def run_scenario() -> Scenario:
    import boa

    from openmbs.indexer import BoaLogCollector, MemoryLogSource

    env = boa.Env()
    with boa.swap_env(env):
        source = MemoryLogSource("boa")
        col = BoaLogCollector(source, env=env)
        alice, bob, carol = (str(env.generate_address()) for _ in range(3))
        with env.prank(alice):
            token = boa.load(str(FIXTURE_VY), 1_000_000)
        col.record(token)
        env.time_travel(blocks=1)
        with env.prank(alice):
            token.transfer(bob, 300)
            col.record(token)
            token.transfer(carol, 200)  # same block, second transaction
            col.record(token)
        env.time_travel(blocks=1)
        with env.prank(bob):
            token.transfer(carol, 50)
            col.record(token)
        sc = Scenario(str(token.address), list(token.abi), [], alice, bob, carol)
        sc.balances = {alice: 1_000_000 - 500, bob: 250, carol: 250}
        begin = 10_000_000_000
        for period in (1, 2, 3):
            env.time_travel(blocks=1)
            for tranche, (i, p, loss) in enumerate([(40 * period, 700, 0), (9, 0, 5 * period)]):
                bal = 5000 - 700 * period if tranche == 0 else 1000 - 5 * period
                token.allocate(period, tranche, i, p, loss, bal)
                col.record(token)
                sc.allocations.append((period, tranche, i, p, loss, bal))
            sched, prepaid = 20_000_000, 30_000_000 * period
            losses, recov = 1_000_000 * period, 2_000_000
            end = begin - sched - prepaid - losses - recov
            report = dict.fromkeys(REPORT_FIELDS, 0) | {
                "period": period,
                "scheduled_principal": sched,
                "unscheduled_principal": prepaid,
                "interest": 45_000_000,
                "recoveries": recov,
                "losses": losses,
                "beginning_balance": begin,
                "ending_balance": end,
                "loan_count": 100 - period,
                "delinquent_30": 100_000_000,
                "delinquent_60": 50_000_000,
                "delinquent_90_plus": 25_000_000 * period,
            }
            token.remit(tuple(report[f] for f in REPORT_FIELDS), b"\x11" * 32, [alice, bob])
            col.record(token)
            sc.reports.append(report)
            begin = end
        env.time_travel(blocks=1)
        for who, tranche, amount in ((bob, 0, 120), (carol, 0, 80), (bob, 1, 7), (bob, 0, 30)):
            with env.prank(who):
                token.claim(tranche, amount)
                col.record(token)
            sc.claims.append((who, tranche, amount))
        env.time_travel(blocks=1)
        big = 2**256 - 1
        token.misc("hello", "world", big, -(2**100), 255, True, b"\x01\x02")
        col.record(token)
        sc.misc = {"label": "hello", "note": "world", "big": big, "neg": -(2**100), "small": 255}
        col.seal()
        sc.logs = source.logs(0, source.latest_block())
        sc.last_block = source.latest_block()
    return sc


TRANSFER = keccak(text="Transfer(address,address,uint256)")
ALLOC = keccak(text="TrancheAllocated(uint256,uint256,uint256,uint256,uint256,uint256,uint256)")
CLAIMED = keccak(text="Claimed(address,uint256,uint256)")


def _addr_topic(a: str) -> bytes:
    return bytes(12) + bytes.fromhex(a[2:])


def synthetic_logs(address: str, n_blocks: int, seed: int = 0) -> list[RawLog]:
    """Logs of the fixture contract's event types, encoded here with eth_abi."""
    rng = random.Random(seed)
    holders = [f"0x{rng.getrandbits(160):040x}" for _ in range(8)]
    out: list[RawLog] = []
    for block in range(1, n_blocks + 1):
        for li in range(rng.randint(0, 4)):
            kind = rng.choice(("t", "a", "c"))
            tx = "0x" + keccak(text=f"{block}:{li}").hex()
            if kind == "t":
                s, r = rng.sample(holders, 2)
                topics = (TRANSFER, _addr_topic(s), _addr_topic(r))
                data = encode(["uint256"], [rng.randint(0, 10**12)])
            elif kind == "a":
                topics = (ALLOC, block.to_bytes(32, "big"), rng.randint(0, 3).to_bytes(32, "big"))
                data = encode(["uint256"] * 5, [rng.randint(0, 10**15) for _ in range(5)])
            else:
                topics = (CLAIMED, _addr_topic(rng.choice(holders)), (1).to_bytes(32, "big"))
                data = encode(["uint256"], [rng.randint(0, 10**9)])
            out.append(RawLog(block, li, tx, li, address, topics, data))
    return out


def logs_to_json(logs: list[RawLog]) -> list[dict[str, Any]]:
    """Logs in the JSON-RPC ``eth_getLogs`` result format."""
    return [
        {
            "address": x.address.lower(),
            "blockNumber": hex(x.block_number),
            "logIndex": hex(x.log_index),
            "transactionHash": x.tx_hash,
            "transactionIndex": hex(x.tx_index),
            "blockHash": "0x" + keccak(text=f"block{x.block_number}").hex(),
            "topics": ["0x" + t.hex() for t in x.topics],
            "data": "0x" + x.data.hex(),
            "removed": False,
        }
        for x in logs
    ]


def write_logs_file(path: Path, logs: list[RawLog]) -> None:
    path.write_text(json.dumps(logs_to_json(logs)))


# -- random logs of any event ABI (encoded with eth_abi, independently of the decoder) --
DEAL_CONTRACTS = (
    "Deal",
    "TrancheToken",
    "RemittanceOracle",
    "Issuance",
    "Timelock",
    "MockSettlementToken",
)


def deal_event_abis() -> list[tuple[str, dict[str, Any]]]:
    """(contract, event ABI entry) of every event of the deal's contracts."""
    from openmbs.chain._contracts import artifact

    return [
        (name, item)
        for name in DEAL_CONTRACTS
        for item in artifact(name).abi
        if item.get("type") == "event" and not item.get("anonymous", False)
    ]


def _type_of(inp: dict[str, Any]) -> str:
    typ = str(inp["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_type_of(c) for c in inp["components"])
        return f"({inner}){typ[len('tuple'):]}"
    return typ


def _split_tuple(inner: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    return [*parts, cur] if cur else parts


def random_value(typ: str, rng: random.Random, pool: list[str] | None = None) -> Any:
    """A random value of a canonical ABI type, extremes favoured (addresses from
    ``pool`` when given)."""
    from eth_utils.address import to_checksum_address

    if typ.endswith("]"):
        base, _, dim = typ[:-1].rpartition("[")
        n = int(dim) if dim else rng.randint(0, 3)
        return [random_value(base, rng, pool) for _ in range(n)]
    if typ.startswith("("):
        return tuple(random_value(t, rng, pool) for t in _split_tuple(typ[1:-1]))
    if typ.startswith(("uint", "int")):
        signed = typ.startswith("int")
        bits = int(typ[3 + (not signed):] or 256)
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        pick = rng.random()
        if pick < 0.3:
            return rng.choice([lo, hi, 0, 1] + ([-1] if signed else []))
        return rng.randint(lo, hi) if pick < 0.7 else rng.randint(max(lo, -(10**6)), min(hi, 10**6))
    if typ == "address":
        if pool:
            return rng.choice(pool)
        raw = rng.choice([bytes(20), b"\xff" * 20, rng.randbytes(20)])
        return to_checksum_address(raw)  # mixed case
    if typ == "bool":
        return rng.random() < 0.5
    if typ == "string":
        return rng.choice(["", "hello", "0x" + "ab" * 20, "é" * rng.randint(0, 40)])
    if typ == "bytes":
        return rng.randbytes(rng.randint(0, 70))
    if typ.startswith("bytes"):
        return rng.randbytes(int(typ[5:]))
    raise ValueError(f"no random value for ABI type {typ!r}")


def random_log(
    item: dict[str, Any],
    address: str,
    block: int,
    log_index: int,
    rng: random.Random,
    pool: list[str] | None = None,
) -> tuple[RawLog, list[Any]]:
    """A log of the event ``item`` with random arguments (and the values encoded)."""
    types = [_type_of(i) for i in item["inputs"]]
    values = [random_value(t, rng, pool) for t in types]
    topics = [keccak(text=f"{item['name']}({','.join(types)})")]
    plain_t, plain_v = [], []
    for inp, typ, val in zip(item["inputs"], types, values, strict=True):
        if inp.get("indexed"):
            dynamic = typ in ("string", "bytes") or typ.endswith("]") or typ.startswith("(")
            topics.append(rng.randbytes(32) if dynamic else encode([typ], [val]))
        else:
            plain_t.append(typ)
            plain_v.append(val)
    tx = "0x" + keccak(text=f"tx{block}:{log_index}").hex()
    log = RawLog(block, log_index, tx, 0, address, tuple(topics), encode(plain_t, plain_v))
    return log, values


def deal_logs(
    n: int,
    seed: int = 0,
    per_block: int = 50,
    weights: dict[str, float] | None = None,
    holders: int | None = None,
) -> tuple[list[RawLog], list[Any]]:
    """``n`` random logs of the deal's event types, ``per_block`` per block from block 1,
    and the ``(address, name, abi)`` triples to register. ``weights`` (by event name,
    default 1) sets how often each event type is drawn; ``holders`` draws addresses from
    that many (as in a deal, where a few hundred accounts recur)."""
    from eth_utils.address import to_checksum_address

    from openmbs.chain._contracts import artifact

    rng = random.Random(seed)
    contracts = [
        (to_checksum_address(bytes([0] * 19 + [k + 1])), name, artifact(name).abi)
        for k, name in enumerate(DEAL_CONTRACTS)
    ]
    events = [(addr, item) for addr, _, abi in contracts for item in abi if item.get("type") == "event"]
    pool = None
    if holders:
        pool = [to_checksum_address(rng.randbytes(20)) for _ in range(holders)]
    w = [(weights or {}).get(str(item["name"]), 1.0) for _, item in events]
    out = []
    for k in range(n):
        addr, item = rng.choices(events, weights=w)[0]
        out.append(random_log(item, addr, 1 + k // per_block, k % per_block, rng, pool)[0])
    return out, contracts
