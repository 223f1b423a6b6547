"""Event ABIs: selectors, DuckDB column types, and decoding of raw logs.

A contract's ABI (the JSON list titanoboa gives as ``contract.abi`` or
``deployer.abi``, or any compiler's ABI file) is registered under the contract's
address and a name. Each event type (one signature) gets one typed DuckDB table whose
columns come from the ABI: struct (tuple) arguments are flattened to one column per
component (``report_period``, ``report_interest``, ...), arrays are stored as JSON.

Decoding has two paths giving the same values. The fast path covers events whose
arguments are static (``uintN``, ``intN``, ``address``, ``bool``, ``bytesN`` and
fixed-size arrays and tuples of those), plus ``bytes``, ``string`` and ``T[]`` of a
static ``T`` in ``data``: a plan compiled once per event type reads each argument from
its 32-byte word(s) of ``data`` or of its topic with ``int.from_bytes``, with the checks
``eth_abi`` makes (enough data, zero padding, bools 0 or 1). Dynamic values must be in
the canonical layout (each tail right after the previous one, zero padding, valid
UTF-8); any other layout, and every other type, is decoded with ``eth_abi``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_hash.auto import keccak as keccak256
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


_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")


def _eip55(lower_hex: str) -> str:
    """EIP-55: upper-case each hex letter whose nibble of keccak256(the lower-case hex
    text) is 8 or more."""
    digest = keccak256(lower_hex.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if d in "89abcdef" else c for c, d in zip(lower_hex, digest[:40], strict=True)
    )


@functools.lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    """EIP-55 checksummed form of an address (cached).

    A ``0x`` + 40 hex digit string in any case is converted directly; anything else goes
    through ``eth_utils.to_checksum_address`` (which raises ``ValueError`` when it is not
    an address).
    """
    if _HEX40.fullmatch(address):
        return _eip55(address[2:].lower())
    return str(to_checksum_address(address))


@functools.lru_cache(maxsize=65536)
def _checksum20(raw: bytes) -> str:
    """EIP-55 form of a 20-byte address (cached)."""
    return _eip55(raw.hex())


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


# -- the fast path --------------------------------------------------------------------------
#: A reader of one value: (buffer, byte offset) -> the value as JSON-able Python.
_Reader = Callable[[bytes, int], Any]

_ZERO32 = bytes(32)
_ONE32 = bytes(31) + b"\x01"


def _padding_error(label: str, typ: str, word: bytes) -> ValueError:
    return ValueError(
        f"argument {label!r} ({typ}): padding bytes are not zero in word 0x{word.hex()}"
    )


def _leaf_reader(typ: str, label: str) -> _Reader | None:
    """Reader of one elementary static type (one 32-byte word), or None."""
    m = _INT.match(typ)
    if m:
        bits = int(m.group(2) or 256)
        if bits % 8 or not 8 <= bits <= 256:
            return None
        if m.group(1) == "u":
            if bits == 256:
                return lambda b, o: int.from_bytes(b[o : o + 32], "big")
            limit = 1 << bits

            def read_uint(b: bytes, o: int) -> int:
                v = int.from_bytes(b[o : o + 32], "big")
                if v >= limit:
                    raise _padding_error(label, typ, b[o : o + 32])
                return v

            return read_uint
        if bits == 256:
            return lambda b, o: int.from_bytes(b[o : o + 32], "big", signed=True)
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

        def read_int(b: bytes, o: int) -> int:
            v = int.from_bytes(b[o : o + 32], "big", signed=True)
            if not lo <= v <= hi:  # the padding is not the sign extension
                raise _padding_error(label, typ, b[o : o + 32])
            return v

        return read_int
    if typ == "address":

        def read_address(b: bytes, o: int) -> str:
            if b[o : o + 12] != _ZERO32[:12]:
                raise _padding_error(label, typ, b[o : o + 32])
            return _checksum20(b[o + 12 : o + 32])

        return read_address
    if typ == "bool":

        def read_bool(b: bytes, o: int) -> bool:
            w = b[o : o + 32]
            if w == _ZERO32:
                return False
            if w == _ONE32:
                return True
            raise ValueError(f"argument {label!r} (bool): word 0x{w.hex()} is neither 0 nor 1")

        return read_bool
    if typ.startswith("bytes") and typ[5:].isdigit():
        n = int(typ[5:])
        if not 1 <= n <= 32:
            return None
        pad = bytes(32 - n)

        def read_bytes(b: bytes, o: int) -> str:
            if b[o + n : o + 32] != pad:
                raise _padding_error(label, typ, b[o : o + 32])
            return "0x" + b[o : o + n].hex()

        return read_bytes
    return None


def _static_reader(inp: Mapping[str, Any], label: str) -> tuple[int, _Reader] | None:
    """(size in words, reader) of a static input (elementary, fixed-size array or tuple
    of static types); None when the input is dynamic or not handled."""
    typ = str(inp["type"])
    if typ.endswith("]"):
        base, _, dim = typ[:-1].rpartition("[")
        if not dim.isdigit():
            return None  # T[]: dynamic
        sub = _static_reader({**inp, "type": base}, f"{label}[]")
        if sub is None:
            return None
        words, elem = sub
        offsets = tuple(32 * words * i for i in range(int(dim)))
        return words * len(offsets), lambda b, o: [elem(b, o + d) for d in offsets]
    if typ == "tuple":
        parts: list[tuple[int, _Reader]] = []
        words = 0
        for comp in inp.get("components", []):
            sub = _static_reader(comp, f"{label}.{comp.get('name', '')}")
            if sub is None:
                return None
            parts.append((32 * words, sub[1]))
            words += sub[0]
        return words, lambda b, o: [f(b, o + d) for d, f in parts]
    leaf = _leaf_reader(typ, label)
    return None if leaf is None else (1, leaf)


def _topic_hex(b: bytes, o: int) -> str:
    return "0x" + b.hex()


def _read_offset(b: bytes, o: int) -> int:
    return int.from_bytes(b[o : o + 32], "big")


class _NotCanonical(Exception):
    """A dynamic value not in the canonical layout: left to ``eth_abi`` to decode."""


#: A reader of a dynamic value's tail: (data, byte position) -> (value, end position).
_TailReader = Callable[[bytes, int], tuple[Any, int]]


def _tail_reader(inp: Mapping[str, Any], label: str) -> _TailReader | None:
    """Tail reader of ``bytes``, ``string`` or ``T[]`` with a static ``T``, or None."""
    typ = str(inp["type"])
    if typ in ("bytes", "string"):
        text = typ == "string"

        def read_bytes(b: bytes, pos: int) -> tuple[Any, int]:
            n = int.from_bytes(b[pos : pos + 32], "big")
            start = pos + 32
            stop = start + 32 * -(-n // 32)
            if stop > len(b) or b[start + n : stop] != bytes(stop - start - n):
                raise _NotCanonical
            raw = b[start : start + n]
            if not text:
                return "0x" + raw.hex(), stop
            try:
                return to_json_value(raw.decode("utf-8")), stop
            except UnicodeDecodeError:
                raise _NotCanonical from None

        return read_bytes
    if typ.endswith("[]"):
        sub = _static_reader({**inp, "type": typ[:-2]}, f"{label}[]")
        if sub is None:
            return None
        size, elem = 32 * sub[0], sub[1]

        def read_array(b: bytes, pos: int) -> tuple[Any, int]:
            n = int.from_bytes(b[pos : pos + 32], "big")
            start = pos + 32
            stop = start + n * size
            if stop > len(b):
                raise _NotCanonical
            return [elem(b, start + i * size) for i in range(n)], stop

        return read_array
    return None


@dataclass(frozen=True)
class _StaticPlan:
    """How to decode one event on the fast path: where each argument is, how to read it.

    ``readers[k] = (source, offset, reader)``: ``source`` 0 reads ``log.data``, ``j > 0``
    reads ``log.topics[j]``; a dynamic argument's reader gives the offset of its tail,
    which ``tails`` (argument index, tail reader) then reads in order. ``flat_row`` says
    the typed row is the argument list itself (one non-JSON column per argument).
    """

    n_topics: int
    data_size: int
    checked_topics: tuple[int, ...]
    readers: tuple[tuple[int, int, _Reader], ...]
    tails: tuple[tuple[int, _TailReader], ...]
    names: tuple[str, ...]
    flat_row: bool
    json_fmt: str
    json_direct: tuple[bool, ...]


def _compile_static(et: EventType) -> _StaticPlan | None:
    """The fast-path plan of an event type, or None when ``eth_abi`` must decode it
    (a type not handled: fixed-point, dynamic arrays of dynamic types, structs or
    fixed arrays holding dynamic types, indexed arguments of two words or more)."""
    readers: list[tuple[int, int, _Reader]] = []
    tails: list[tuple[int, _TailReader]] = []
    checked: list[int] = []
    words = n_topics = 0
    for k, inp in enumerate(et.inputs):
        label = str(inp.get("name") or f"arg{k}")
        if inp.get("indexed"):
            n_topics += 1
            if _is_dynamic(canonical_type(inp)):
                readers.append((n_topics, 0, _topic_hex))  # the topic holds a hash
                continue
            sub = _static_reader(inp, label)
            if sub is None or sub[0] != 1:
                return None
            checked.append(n_topics)
            readers.append((n_topics, 0, sub[1]))
        else:
            sub = _static_reader(inp, label)
            if sub is None:
                tail = _tail_reader(inp, label)
                if tail is None:
                    return None
                sub = (1, _read_offset)
                tails.append((k, tail))
            readers.append((0, 32 * words, sub[1]))
            words += sub[0]
    flat = [(c.path, c.sql_type == "JSON") for c in et.columns] == [
        ((k,), False) for k in range(len(et.inputs))
    ]
    names = tuple(str(inp.get("name") or f"arg{k}") for k, inp in enumerate(et.inputs))
    # the args' JSON text as json.dumps writes it: integers with %d, hex text (addresses,
    # bytesN, topic hashes) with "%s", anything else (bool, str, lists) json.dumps'd
    parts, direct = [], []
    for k, inp in enumerate(et.inputs):
        typ = canonical_type(inp)
        key = json.dumps(names[k]).replace("%", "%%")
        if _INT.match(typ):
            parts.append(f"{key}: %d")
            direct.append(True)
        elif typ == "address" or (typ.startswith("bytes") and typ[5:].isdigit()) or (
            inp.get("indexed") and _is_dynamic(typ)
        ):
            parts.append(f'{key}: "%s"')
            direct.append(True)
        else:
            parts.append(f"{key}: %s")
            direct.append(False)
    return _StaticPlan(
        n_topics=1 + n_topics,
        data_size=32 * words,
        checked_topics=tuple(checked),
        readers=tuple(readers),
        tails=tuple(tails),
        names=names,
        flat_row=flat,
        json_fmt="{" + ", ".join(parts) + "}",
        json_direct=tuple(direct),
    )


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
    _plan: _StaticPlan | None = field(init=False, repr=False, compare=False, default=None)

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _compile_static(self))

    @property
    def fast(self) -> bool:
        """Whether logs of this event are decoded by the fast path (else ``eth_abi``)."""
        return self._plan is not None

    def decode(self, log: RawLog) -> tuple[dict[str, Any], list[Any]]:
        """Decode a log: (arguments by name as JSON-able values, typed column values).

        Raises
        ------
        ValueError
            (or an ``eth_abi`` decoding error) when the log does not decode: wrong
            number of topics, too little data, non-zero padding, a bool neither 0 nor 1.
            :meth:`ContractRegistry.decode` reports it as a ``DataIntegrityError``.
        """
        plan = self._plan
        if plan is None:
            return self._decode_eth_abi(log)
        topics = log.topics
        if len(topics) != plan.n_topics:
            raise ValueError(f"{len(topics)} topics for {self.signature}")
        data = log.data
        if len(data) < plan.data_size:
            raise ValueError(f"data holds {len(data)} bytes, {plan.data_size} needed")
        for j in plan.checked_topics:
            if len(topics[j]) < 32:
                raise ValueError(f"topic {j} holds {len(topics[j])} bytes, 32 needed")
        jvals = [f(topics[src] if src else data, off) for src, off, f in plan.readers]
        if plan.tails:
            pos = plan.data_size
            try:
                for k, tail in plan.tails:
                    if jvals[k] != pos:
                        raise _NotCanonical
                    jvals[k], pos = tail(data, pos)
            except _NotCanonical:
                return self._decode_eth_abi(log)
        args = dict(zip(plan.names, jvals, strict=True))
        if plan.flat_row:
            return args, jvals
        return args, self._row(jvals)

    def args_json(self, args: Mapping[str, Any]) -> str:
        """``json.dumps(args)`` for the arguments :meth:`decode` gave (faster on the fast
        path: one ``%`` format per event type; other mappings go to ``json.dumps``)."""
        plan = self._plan
        if plan is None or tuple(args) != plan.names:
            return json.dumps(args)
        values = args.values()
        try:
            if all(plan.json_direct):
                return plan.json_fmt % tuple(values)
            return plan.json_fmt % tuple(
                v if d else json.dumps(v) for d, v in zip(plan.json_direct, values, strict=True)
            )
        except TypeError:  # a value of another type than decode gives
            return json.dumps(args)

    def _row(self, jvals: list[Any]) -> list[Any]:
        row: list[Any] = []
        for col in self.columns:
            v: Any = jvals
            for step in col.path:
                v = v[int(step)]
            row.append(json.dumps(v) if col.sql_type == "JSON" else v)
        return row

    def _decode_eth_abi(self, log: RawLog) -> tuple[dict[str, Any], list[Any]]:
        """:meth:`decode` with ``eth_abi`` (every type; the reference of the fast path)."""
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
        return args, self._row(jvals)


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
