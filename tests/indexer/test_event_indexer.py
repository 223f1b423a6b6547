"""Indexer tests on logs recorded from titanoboa's embedded EVM."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from eth_utils.crypto import keccak
from indexer_helpers import Scenario, synthetic_logs

import openmbs.indexer as indexer_pkg
from openmbs.errors import DataIntegrityError
from openmbs.indexer import (
    ContractRegistry,
    EventStore,
    Indexer,
    MemoryLogSource,
    RawLog,
    default_db_path,
    sql_type,
)

TOKEN = "0x00000000000000000000000000000000000000aa"


def registry_for(sc: Scenario) -> ContractRegistry:
    reg = ContractRegistry()
    reg.add(sc.address, "Fixture", sc.abi)
    return reg


def dump(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    """Every table of a store, rows in a canonical order."""
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    return {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in sorted(names)}


def test_public_api() -> None:
    def isort_key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert indexer_pkg.__all__ == sorted(indexer_pkg.__all__, key=isort_key)


def test_sql_types() -> None:
    assert sql_type("uint8") == "UBIGINT"
    assert sql_type("uint64") == "UBIGINT"
    assert sql_type("uint128") == "UHUGEINT"
    assert sql_type("uint256") == "BIGNUM"
    assert sql_type("int64") == "BIGINT"
    assert sql_type("int128") == "HUGEINT"
    assert sql_type("int256") == "BIGNUM"
    assert sql_type("bool") == "BOOLEAN"
    assert sql_type("address") == "VARCHAR"
    assert sql_type("bytes32") == "VARCHAR"
    assert sql_type("address[]") == "JSON"


def test_boa_logs_indexed_into_events_and_typed_tables(scenario: Scenario, tmp_path: Path) -> None:
    sc = scenario
    db = default_db_path(tmp_path)
    assert db.name == "events.duckdb"
    source = MemoryLogSource("boa", sc.logs)
    source.seal(sc.last_block)
    with EventStore(db) as store:
        stats = Indexer(store, source, registry_for(sc), batch_blocks=2).run()
        n = 1 + 3 + 3 * 3 + 4 + 1  # mint, transfers, 3 x (2 allocations + remittance), claims, misc
        assert stats.logs == n and stats.unknown == 0
        assert stats.last_block == sc.last_block
        con = store.con
        assert con.execute("SELECT count(*) FROM events").fetchone() == (n,)
        assert store.cursor("boa") == sc.last_block
        # (block, log index) are unique and transactions in one block are numbered
        rows = con.execute(
            "SELECT block_number, log_index, tx_index, event FROM events ORDER BY 1, 2"
        ).fetchall()
        assert len({(r[0], r[1]) for r in rows}) == n
        same_block = [r for r in rows if r[3] == "Transfer" and r[0] == rows[1][0]]
        assert [(r[1], r[2]) for r in same_block] == [(0, 0), (1, 1)]
        # typed transfer table: sender/receiver/value as emitted
        tr = con.execute(
            "SELECT sender, receiver, value FROM ev_transfer ORDER BY block_number, log_index"
        ).fetchall()
        zero = "0x0000000000000000000000000000000000000000"
        assert [(s, r, int(v)) for s, r, v in tr] == [
            (zero, sc.alice, 1_000_000),
            (sc.alice, sc.bob, 300),
            (sc.alice, sc.carol, 200),
            (sc.bob, sc.carol, 50),
        ]
        # struct arguments are flattened, arrays kept as JSON
        rem = con.execute(
            "SELECT period, report_unscheduled_principal, report_ending_balance, signers, digest "
            "FROM ev_remittance_accepted ORDER BY period"
        ).fetchall()
        assert [int(r[0]) for r in rem] == [1, 2, 3]
        assert [int(r[1]) for r in rem] == [r["unscheduled_principal"] for r in sc.reports]
        assert [int(r[2]) for r in rem] == [r["ending_balance"] for r in sc.reports]
        assert json.loads(rem[0][3]) == [sc.alice, sc.bob]
        assert rem[0][4] == "0x" + "11" * 32
        # odd types: uint256 max exactly, negative int128, uint8, indexed string as hash
        misc = con.execute("SELECT label, note, big, neg, small, flag, blob FROM ev_misc").fetchone()
        assert misc is not None
        assert misc[0] == "0x" + keccak(text="hello").hex()
        assert misc[1] == "world"
        assert int(misc[2]) == 2**256 - 1
        assert int(misc[3]) == -(2**100)
        assert misc[4] == 255 and misc[5] is True and misc[6] == "0x0102"
        args = json.loads(
            con.execute("SELECT args FROM events WHERE event = 'Misc'").fetchone()[0]  # type: ignore[index]
        )
        assert args["big"] == 2**256 - 1 and args["neg"] == -(2**100)
        types = dict(con.execute("SELECT name, table_name FROM event_types").fetchall())
        assert types["TrancheAllocated"] == "ev_tranche_allocated"


def test_batches_and_resume_give_the_same_store(scenario: Scenario, tmp_path: Path) -> None:
    sc = scenario
    source = MemoryLogSource("boa", sc.logs)
    source.seal(sc.last_block)
    with EventStore(tmp_path / "one.duckdb") as one:
        Indexer(one, source, registry_for(sc), batch_blocks=1000).run()
        expected = dump(one.con)
    with EventStore(tmp_path / "steps.duckdb") as steps:
        idx = Indexer(steps, source, registry_for(sc), batch_blocks=1)
        idx.run(max_batches=2)
        assert steps.cursor("boa") == 1
        idx.run(to_block=4)
        assert steps.cursor("boa") == 4
    # reopen the file: the cursor survives, the rest is indexed once
    with EventStore(tmp_path / "steps.duckdb") as steps:
        stats = Indexer(steps, source, registry_for(sc), batch_blocks=3).run()
        assert stats.first_block == 5
        assert dump(steps.con) == expected
        again = Indexer(steps, source, registry_for(sc)).run()
        assert again.batches == 0 and again.logs == 0
        assert dump(steps.con) == expected


def test_only_sealed_blocks_are_indexed_and_sealed_blocks_are_frozen() -> None:
    logs = synthetic_logs(TOKEN, 10, seed=1)
    source = MemoryLogSource("m", [x for x in logs if x.block_number <= 5])
    reg = ContractRegistry()
    store = EventStore()
    assert Indexer(store, source, reg).run().batches == 0  # nothing sealed yet
    source.seal(5)
    Indexer(store, source, reg).run()
    assert store.cursor("m") == 5
    late = RawLog(5, 99, "0x00", 0, TOKEN, (), b"")
    with pytest.raises(DataIntegrityError, match="already sealed"):
        source.append([late])
    with pytest.raises(DataIntegrityError, match="duplicate"):
        MemoryLogSource("d", [logs[0], logs[0]])


def test_unknown_logs_are_kept_raw_and_duplicates_refused() -> None:
    logs = synthetic_logs(TOKEN, 6, seed=2)
    store = EventStore()
    source = MemoryLogSource("m", logs)
    source.seal(6)
    stats = Indexer(store, source, ContractRegistry()).run()  # no ABI registered
    assert stats.unknown == stats.logs == len(logs)
    rows = store.con.execute("SELECT contract, event, args, data FROM events").fetchall()
    assert all(r[0] is None and r[1] is None and r[2] is None for r in rows)
    assert {r[3] for r in rows} == {"0x" + x.data.hex() for x in logs}
    # writing an already stored log fails and leaves the store and cursor unchanged
    reg = ContractRegistry()
    before = dump(store.con)
    with pytest.raises(DataIntegrityError, match="already stored"):
        store.write_batch("m", 7, [reg.decode(logs[0])])
    assert dump(store.con) == before
    with pytest.raises(DataIntegrityError, match="move back"):
        store.write_batch("m", 2, [])


def test_bad_log_data_is_a_clear_error() -> None:
    from indexer_helpers import TRANSFER

    reg = ContractRegistry()
    abi = [
        {
            "type": "event",
            "name": "Transfer",
            "anonymous": False,
            "inputs": [
                {"name": "sender", "type": "address", "indexed": True},
                {"name": "receiver", "type": "address", "indexed": True},
                {"name": "value", "type": "uint256", "indexed": False},
            ],
        }
    ]
    reg.add(TOKEN, "Token", abi)
    bad = RawLog(3, 0, "0x01", 0, reg.addresses[0], (TRANSFER,), b"\x01")
    with pytest.raises(DataIntegrityError, match=r"block 3 log 0 .*Transfer\(address,address,uint256\)"):
        reg.decode(bad)


def test_boa_capture_records_every_transaction() -> None:
    import boa
    from indexer_helpers import FIXTURE_VY

    from openmbs.indexer import BoaLogCollector

    env = boa.Env()
    with boa.swap_env(env):
        source = MemoryLogSource("boa")
        col = BoaLogCollector(source, env=env)
        alice, bob = (str(env.generate_address()) for _ in range(2))
        with col.capture():
            with env.prank(alice):
                token = boa.load(str(FIXTURE_VY), 10)
                token.transfer(bob, 3)
                assert token.balanceOf(bob) == 3  # a view call: not a transaction
                with pytest.raises(Exception):  # noqa: B017 - reverts (underflow): no log
                    token.transfer(bob, 100)
            env.time_travel(blocks=1)
            with env.prank(bob):
                token.transfer(alice, 1)
        col.seal()
        with env.prank(bob):
            token.transfer(alice, 1)  # outside capture: not recorded
    logs = source.logs(0, source.latest_block())
    assert [(x.block_number, x.log_index, x.tx_index) for x in logs] == [
        (1, 0, 0),
        (1, 1, 1),
        (2, 0, 0),
    ]
    reg = ContractRegistry()
    reg.add_contract(token, "Fixture")
    store = EventStore()
    Indexer(store, source, reg).run()
    rows = store.con.execute(
        "SELECT sender, receiver, CAST(value AS BIGINT) FROM ev_transfer ORDER BY ALL"
    ).fetchall()
    zero = "0x0000000000000000000000000000000000000000"
    assert sorted(rows) == sorted([(zero, alice, 10), (alice, bob, 3), (bob, alice, 1)])
    assert "execute_code" not in env.__dict__ and "deploy" not in env.__dict__


def test_abi_of_deployer_and_selectors() -> None:
    import boa
    from indexer_helpers import FIXTURE_VY, TRANSFER

    from openmbs.indexer import abi_of

    abi = abi_of(boa.load_partial(str(FIXTURE_VY)))
    names = {e["name"] for e in abi if e["type"] == "event"}
    assert names == {"Transfer", "TrancheAllocated", "Claimed", "RemittanceAccepted", "Misc"}
    reg = ContractRegistry()
    reg.add(TOKEN, "Fixture", json.dumps(abi))
    types = {e.name: e for e in reg.event_types()}
    assert types["Transfer"].topic0 == "0x" + TRANSFER.hex()
    sig = "RemittanceAccepted(uint256,bytes32,(" + ",".join(["uint256"] * 12) + "),address[])"
    assert types["RemittanceAccepted"].signature == sig
    assert types["RemittanceAccepted"].topic0 == "0x" + keccak(text=sig).hex()


def test_memory_source_orders_out_of_order_appends() -> None:
    """Logs appended out of (block, index) order come back ordered, by block range."""
    mk = lambda b, i: RawLog(b, i, "0x" + "00" * 32, 0, "0x" + "11" * 20, (), b"")  # noqa: E731
    src = MemoryLogSource("m", [mk(1, 0), mk(1, 1), mk(3, 0)])
    src.append([mk(2, 1), mk(2, 0)])
    src.append([mk(5, 0)])
    assert [(x.block_number, x.log_index) for x in src.logs(0, 10)] == [
        (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (5, 0)
    ]
    assert [(x.block_number, x.log_index) for x in src.logs(2, 3)] == [(2, 0), (2, 1), (3, 0)]
    assert src.logs(4, 4) == [] and src.logs(6, 9) == []
