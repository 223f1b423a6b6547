"""Event ABIs: selectors, DuckDB column types, and decoding of raw logs.

A contract's ABI (the JSON list titanoboa gives as ``contract.abi`` or
``deployer.abi``, or any compiler's ABI file) is registered under the contract's
address and a name. Each event type (one signature) gets one typed DuckDB table whose
columns come from the ABI: struct (tuple) arguments are flattened to one column per
component (``report_period``, ``report_interest``, ...), arrays are stored as JSON.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from openmbs.errors import DataIntegrityError, InputError
from openmbs.indexer._sources import RawLog

__all__ = [
    "META_COLUMNS",
    "ContractRegistry",
    "DecodedLog",
    "EventColumn",
    "EventType",
    "abi_of",
    "sql_type",
]

#: Columns every typed event table starts with.
META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("block_number", "UBIGINT"),
    ("log_index", "UBIGINT"),
    ("tx_hash", "VARCHAR"),
    ("contract_address", "VARCHAR"),
    ("contract", "VARCHAR"),
)

_INT = re.compile(r"^(u?)int(\d*)$")


def canonical_type(inp: Mapping[str, Any]) -> str:
    """The canonical ABI type string of an input (tuples spelled out)."""
    typ = str(inp["type"])
    if typ.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in inp.get("components", []))
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def sql_type(abi_type: str) -> str:
    """DuckDB column type of a (non-tuple) ABI type.

    ``uint8..uint64`` are ``UBIGINT``, up to 128 bits ``UHUGEINT``, wider ``BIGNUM``
    (arbitrary precision: exact sums; cast to ``HUGEINT`` for products); signed types
    likewise ``BIGINT``/``HUGEINT``/``BIGNUM``. Addresses, strings and byte strings
    (hex) are ``VARCHAR``; arrays are ``JSON``.

    Examples
    --------
    >>> sql_type("uint256"), sql_type("uint64"), sql_type("address"), sql_type("uint8[3]")
    ('BIGNUM', 'UBIGINT', 'VARCHAR', 'JSON')
    """
    if abi_type.endswith("]") or abi_type.startswith("("):
        return "JSON"
    m = _INT.match(abi_type)
    if m:
        bits = int(m.group(2) or 256)
        unsigned = m.group(1) == "u"
        if bits <= 64:
            return "UBIGINT" if unsigned else "BIGINT"
        if bits <= 128:
            return "UHUGEINT" if unsigned else "HUGEINT"
        return "BIGNUM"
    if abi_type == "bool":
        return "BOOLEAN"
    return "VARCHAR"


def _is_dynamic(abi_type: str) -> bool:
    return (
        abi_type in ("string", "bytes")
        or abi_type.endswith("]")
        or abi_type.startswith("(")
    )


@functools.lru_cache(maxsize=4096)
def checksum(address: str) -> str:
    """EIP-55 checksummed form of an address (cached)."""
    return str(to_checksum_address(address))


def to_json_value(value: Any) -> Any:
    """A decoded ABI value as JSON-able Python: bytes to hex, tuples to lists."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        try:
            return checksum(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class EventColumn:
    """One typed column of an event table: ``path`` picks it out of the arguments."""

    name: str
    abi_type: str
    sql_type: str
    path: tuple[str | int, ...]


@dataclass(frozen=True)
class EventType:
    """One event signature: its selector, inputs and typed columns."""

    name: str
    signature: str
    topic0: str
    inputs: tuple[Mapping[str, Any], ...]
    columns: tuple[EventColumn, ...]

    @classmethod
    def from_abi(cls, item: Mapping[str, Any]) -> EventType:
        """Build from one ``{"type": "event", ...}`` ABI entry."""
        name = str(item["name"])
        inputs = tuple(item.get("inputs", []))
        sig = f"{name}({','.join(canonical_type(i) for i in inputs)})"
        topic0 = "0x" + keccak(text=sig).hex()
        cols: list[EventColumn] = []
        taken = {c for c, _ in META_COLUMNS}

        def add(colname: str, abi_type: str, sqlt: str, path: tuple[str | int, ...]) -> None:
            while colname in taken:
                colname += "_arg"
            taken.add(colname)
            cols.append(EventColumn(colname, abi_type, sqlt, path))

        def walk(inp: Mapping[str, Any], prefix: str, path: tuple[str | int, ...], indexed: bool) -> None:
            typ = canonical_type(inp)
            if indexed and _is_dynamic(typ):
                add(prefix, "bytes32", "VARCHAR", path)  # the topic holds a hash
            elif str(inp["type"]) == "tuple":
                for j, comp in enumerate(inp.get("components", [])):
                    walk(comp, f"{prefix}_{comp['name']}", (*path, j), False)
            else:
                add(prefix, typ, sql_type(typ), path)

        for i, inp in enumerate(inputs):
            walk(inp, str(inp.get("name") or f"arg{i}"), (i,), bool(inp.get("indexed")))
        return cls(name=name, signature=sig, topic0=topic0, inputs=inputs, columns=tuple(cols))

    def decode(self, log: RawLog) -> tuple[dict[str, Any], list[Any]]:
        """Decode a log: (arguments by name as JSON-able values, typed column values)."""
        indexed = [i for i in self.inputs if i.get("indexed")]
        plain = [i for i in self.inputs if not i.get("indexed")]
        if len(log.topics) != 1 + len(indexed):
            raise ValueError(f"{len(log.topics)} topics for {self.signature}")
        values: list[Any] = [None] * len(self.inputs)
        plain_vals = abi_decode([canonical_type(i) for i in plain], log.data) if plain else ()
        ti = pi = 0
        for k, inp in enumerate(self.inputs):
            typ = canonical_type(inp)
            if inp.get("indexed"):
                topic = log.topics[1 + ti]
                ti += 1
                values[k] = topic if _is_dynamic(typ) else abi_decode([typ], topic)[0]
            else:
                values[k] = plain_vals[pi]
                pi += 1
        jvals = [to_json_value(v) for v in values]
        args = {str(inp.get("name") or f"arg{k}"): jvals[k] for k, inp in enumerate(self.inputs)}
        row: list[Any] = []
        for col in self.columns:
            v: Any = jvals
            for step in col.path:
                v = v[int(step)]
            row.append(json.dumps(v) if col.sql_type == "JSON" else v)
        return args, row


@dataclass(frozen=True)
class DecodedLog:
    """A raw log with what the registry knows of it (``event`` None when unknown)."""

    log: RawLog
    contract: str | None
    event: EventType | None
    args: dict[str, Any] | None
    row: list[Any] | None


class ContractRegistry:
    """Contracts to decode: address -> (name, event types by selector).

    Examples
    --------
    >>> abi = [{"type": "event", "name": "Ping", "anonymous": False,
    ...         "inputs": [{"name": "n", "type": "uint256", "indexed": False}]}]
    >>> reg = ContractRegistry()
    >>> reg.add("0x0000000000000000000000000000000000000001", "Pinger", abi)
    >>> [e.signature for e in reg.event_types()]
    ['Ping(uint256)']
    """

    def __init__(self) -> None:
        self._contracts: dict[str, tuple[str, dict[bytes, EventType]]] = {}

    def add(self, address: str, name: str, abi: Sequence[Mapping[str, Any]] | str) -> None:
        """Register a contract's ABI (a list of entries, or its JSON text)."""
        items = json.loads(abi) if isinstance(abi, str) else abi
        try:
            addr = to_checksum_address(address)
        except ValueError as exc:
            raise InputError(f"contract {name!r}: address {address!r} is not an address") from exc
        events: dict[bytes, EventType] = {}
        for item in items:
            if item.get("type") == "event" and not item.get("anonymous", False):
                et = EventType.from_abi(item)
                events[bytes.fromhex(et.topic0[2:])] = et
        self._contracts[addr.lower()] = (name, events)

    def add_contract(self, contract: Any, name: str | None = None, *, abi: Any = None) -> None:
        """Register a titanoboa contract (``contract.address``; ABI from ``abi``, else
        :func:`abi_of`)."""
        cname = name or getattr(contract, "contract_name", None) or "contract"
        self.add(str(contract.address), str(cname), abi if abi is not None else abi_of(contract))

    @property
    def addresses(self) -> list[str]:
        """Registered addresses (checksummed), in registration order."""
        return [checksum(a) for a in self._contracts]

    def event_types(self) -> list[EventType]:
        """Every distinct event type (one per signature), in registration order."""
        seen: dict[str, EventType] = {}
        for _, events in self._contracts.values():
            for et in events.values():
                seen.setdefault(et.signature, et)
        return list(seen.values())

    def decode(self, log: RawLog) -> DecodedLog:
        """Decode one log; logs of unknown contracts or selectors stay raw."""
        entry = self._contracts.get(log.address.lower())
        if entry is None:
            return DecodedLog(log, None, None, None, None)
        name, events = entry
        et = events.get(log.topics[0]) if log.topics else None
        if et is None:
            return DecodedLog(log, name, None, None, None)
        try:
            args, row = et.decode(log)
        except Exception as exc:
            raise DataIntegrityError(
                f"block {log.block_number} log {log.log_index} ({name} {log.address}): "
                f"cannot decode as {et.signature}: {exc}"
            ) from exc
        return DecodedLog(log, name, et, args, row)


def abi_of(obj: Any) -> list[dict[str, Any]]:
    """The JSON ABI of a titanoboa contract or deployer (``boa.load_partial``).

    titanoboa 0.2.8 gives contracts an ``abi`` property; a ``VyperDeployer`` has none,
    so its ABI is built from its ``compiler_data`` with vyper's own ABI output.
    """
    abi = getattr(obj, "abi", None)
    if abi is not None:
        return list(abi)
    data = getattr(obj, "compiler_data", None)
    if data is None:
        raise InputError(f"{type(obj).__name__} has neither an 'abi' nor 'compiler_data'")
    from vyper.compiler.output import build_abi_output

    return list(build_abi_output(data))


def registry_from(contracts: Iterable[tuple[str, str, Any]]) -> ContractRegistry:
    """Build a registry from ``(address, name, abi)`` triples."""
    reg = ContractRegistry()
    for address, name, abi in contracts:
        reg.add(address, name, abi)
    return reg
