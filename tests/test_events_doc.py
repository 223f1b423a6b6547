"""docs/events.md documents every event of every deployable contract, as the ABI has it.

The page is parsed (``## Contract`` sections, ``### `Event``` subsections, one table
row per field, tuple components as ``field.component``) and compared with each
contract's compiled ABI: an event or field missing from the page, one the ABI no
longer has, a wrong type or indexed flag, a unit outside the page's own unit table or
an event without a sentence saying when it is emitted fails the test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from openmbs.chain import DEPLOYABLE_CONTRACTS, artifact

PAGE = Path(__file__).resolve().parents[1] / "docs" / "events.md"

_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|\s*(yes|no)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _parse(text: str) -> tuple[set[str], dict[str, dict[str, dict[str, Any]]]]:
    """(units of the Units table, {contract: {event: {"fields": [...], "prose": str}}})."""
    units: set[str] = set()
    doc: dict[str, dict[str, dict[str, Any]]] = {}
    section: str | None = None
    contract: str | None = None
    event: str | None = None
    header = ""  # the header row of the table being read
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("| `") and not line.startswith("|---"):
            header = _cells(line)[0]
        elif not line.startswith("|"):
            header = ""
        if line.startswith("## "):
            section = line[3:].strip()
            contract = section if section in DEPLOYABLE_CONTRACTS else None
            if contract is not None:
                doc.setdefault(contract, {})
            event = None
            continue
        if line.startswith("### "):
            m = re.fullmatch(r"### `(\w+)`", line.strip())
            assert m and contract is not None, f"docs/events.md: heading {line!r} outside a contract section"
            event = m.group(1)
            assert event not in doc[contract], f"docs/events.md: {contract}.{event} documented twice"
            doc[contract][event] = {"fields": [], "prose": ""}
            continue
        if section == "Units" and line.startswith("|") and not line.startswith("|---"):
            name = _cells(line)[0]
            if name != "unit":
                units.add(name)
            continue
        if contract is None or event is None:
            continue
        entry = doc[contract][event]
        if line.startswith("| `") and header == "field":
            m = _ROW.match(line)
            assert m, f"docs/events.md {contract}.{event}: malformed row {line!r}"
            entry["fields"].append(
                {"name": m.group(1), "type": m.group(2), "indexed": m.group(3) == "yes",
                 "unit": m.group(4), "meaning": m.group(5)}
            )
        elif line.strip() and not line.startswith("|"):
            entry["prose"] += line + " "
    return units, doc


def _abi_fields(event: dict[str, Any]) -> list[tuple[str, str, bool]]:
    out = []
    for inp in event["inputs"]:
        out.append((inp["name"], inp["type"], bool(inp["indexed"])))
        for c in inp.get("components", []):
            out.append((f"{inp['name']}.{c['name']}", c["type"], False))
    return out


@pytest.fixture(scope="module")
def page() -> tuple[set[str], dict[str, dict[str, dict[str, Any]]]]:
    return _parse(PAGE.read_text())


def test_the_unit_table_is_there(page):
    units, _ = page
    assert {"asset units", "face units", "wad", "period", "seconds"} <= units


@pytest.mark.parametrize("name", DEPLOYABLE_CONTRACTS)
def test_every_event_and_field_of_the_abi_is_documented(page, name):
    units, doc = page
    assert name in doc, f"docs/events.md: no '## {name}' section"
    abi_events = {e["name"]: e for e in artifact(name).abi if e["type"] == "event"}
    documented = doc[name]
    missing = sorted(set(abi_events) - set(documented))
    extra = sorted(set(documented) - set(abi_events))
    assert not missing, f"docs/events.md: {name} events not documented: {missing}"
    assert not extra, f"docs/events.md: {name} documents events its ABI does not have: {extra}"
    for ev_name, ev in abi_events.items():
        entry = documented[ev_name]
        got = [(f["name"], f["type"], f["indexed"]) for f in entry["fields"]]
        assert got == _abi_fields(ev), f"docs/events.md: {name}.{ev_name} fields differ from the ABI"
        assert "emit" in entry["prose"].lower(), f"docs/events.md: {name}.{ev_name}: say when it is emitted"
        for f in entry["fields"]:
            assert f["meaning"], f"docs/events.md: {name}.{ev_name}.{f['name']}: no meaning"
            assert f["unit"] in units or f["unit"] == "see below", (
                f"docs/events.md: {name}.{ev_name}.{f['name']}: unit {f['unit']!r} is not in the Units table"
            )


def test_the_distributed_state_layout_covers_every_word(page):
    """The packed ``Distributed.state`` table names each of its words."""
    text = PAGE.read_text()
    deal_abi = artifact("Deal").abi
    (dist,) = [e for e in deal_abi if e["type"] == "event" and e["name"] == "Distributed"]
    (state,) = [i for i in dist["inputs"] if i["name"] == "state"]
    words = int(re.fullmatch(r"uint256\[(\d+)\]", state["type"]).group(1))  # type: ignore[union-attr]
    for w in range(words):
        assert re.search(rf"^\| `state\[{w}\]` \| \d", text, re.M), f"docs/events.md: state[{w}] not in the layout table"
