"""`openmbs query ... --json`: the rows as one JSON array."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from indexer_helpers import Scenario
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.indexer import (
    ContractRegistry,
    EventStore,
    Indexer,
    MemoryLogSource,
    holder_claims,
    holder_positions,
)


@pytest.fixture
def db(scenario: Scenario, tmp_path: Path) -> Path:
    path = tmp_path / "events.duckdb"
    source = MemoryLogSource("boa", scenario.logs)
    source.seal(scenario.last_block)
    reg = ContractRegistry()
    reg.add(scenario.address, "Fixture", scenario.abi)
    with EventStore(path) as st:
        Indexer(st, source, reg).run()
    return path


def _rows(args: list[str]) -> list[dict[str, object]]:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert isinstance(doc, list)
    return doc


def test_query_claims_json(db: Path) -> None:
    rows = _rows(["query", "claims", "--db", str(db), "--json"])
    with EventStore(db, read_only=True) as st:
        want = holder_claims(st).to_pylist()
    assert len(rows) == len(want) > 0
    assert [set(r) for r in rows] == [set(w) for w in want]
    assert [str(r["holder"]) for r in rows] == [str(w["holder"]) for w in want]


def test_query_json_prints_every_row_unless_limited(db: Path) -> None:
    with EventStore(db, read_only=True) as st:
        n = holder_positions(st).num_rows
    assert n > 1
    assert len(_rows(["query", "holders", "--db", str(db), "--json"])) == n
    assert len(_rows(["query", "holders", "--db", str(db), "--json", "--limit", "1"])) == 1


@pytest.mark.parametrize("sub", ["tranche-payments", "pool-performance"])
def test_query_json_other_tables_parse(db: Path, sub: str) -> None:
    assert isinstance(_rows(["query", sub, "--db", str(db), "--json"]), list)
