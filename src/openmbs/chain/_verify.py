"""Anchor a deployment record to the chain: read a deal's contracts from the deal itself.

A deployment record (``--state``) is a file anyone who can write it can change. The
chain commands therefore take ONE address from the user (``--deal ADDRESS`` or
``$OPENMBS_DEAL``) and read every other address from the chain, starting at the deal:

1. the deal's runtime code is the compiled ``Deal`` of one of the builds (8 or 16
   classes, ``openmbs.chain._contracts.BOUNDS``: see *Code check* below), and the
   deal is configured;
2. the deal's links: ``settlement()``, ``timelock()``, ``issuance()``, ``oracle()``,
   ``waterfall()``, ``tranche_count()`` and ``tranche_token(i)``;
3. each linked contract's code is the compiled contract of its role (``Timelock``,
   ``Issuance``, ``RemittanceOracle``, ``ExactWaterfall`` -- or the
   ``SequentialTestWaterfall`` TEST DOUBLE, reported as such --, ``TrancheToken``)
   of the deal's build;
4. each back-link points at the deal and agrees with it: ``oracle.deal``,
   ``oracle.settlement``, ``oracle.timelock``, ``issuance.deal``,
   ``issuance.settlement``, ``waterfall.deal``, each ``token.deal``, ``token.minter``
   (the issuance), ``token.tranche`` (its index) and ``token.original_face`` (the
   deal's ``original_face(i)``).

:func:`check_record` then compares the record with what the chain says (chain id,
every address, the build (``class_bound``), tranche faces, names and symbols, quorum,
attestors, which waterfall,
the compiled deal's rules against the waterfall's parameters contract and PAC schedules)
and refuses on the first difference, naming the contract, the field, the record's
value and the chain's.

Code check
----------
Vyper 0.4 deploys ``runtime || immutables``: the constructor returns the compiled
runtime code (its data sections included) followed by the immutable values. The
runtime is fixed by the sources and the compiler; the immutables are data that the
code only reads (``DATALOAD``), never runs. A contract is "the compiled ``Name``" when
its code starts with ``Name``'s runtime byte for byte and is exactly as long as that
runtime plus ``Name``'s immutables section, whose length the compiler writes in the
init code's CBOR metadata (``[integrity, runtime size, data sections, immutables
size, {"vyper": version}]``). The immutables' values are then checked through the
public getters above (the back-links), never by parsing the constructor's layout, so
a constructor that gains an argument needs no change here. The settlement asset is an
external token chosen at deployment: its address is checked (deal, oracle and issuance
agree) but not its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openmbs.errors import ChainError, DataIntegrityError, InputError

__all__ = [
    "DEAL_ENV",
    "ChainDeal",
    "check_addresses",
    "check_record",
    "code_is",
    "read_deal",
]

#: Environment variable that pins the deal's address (same as ``--deal ADDRESS``).
DEAL_ENV = "OPENMBS_DEAL"

_ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class ChainDeal:
    """A deal as the chain describes it, every contract's code checked.

    ``addresses`` has the shape of :meth:`DealClient.addresses` (``tokens`` a list);
    ``code`` maps each role (``deal``, ``oracle``, ``tokens[0]``, ...) to the keccak256
    of its deployed code; ``test_waterfall`` is true when the waterfall is the
    ``SequentialTestWaterfall`` test double.
    """

    chain_id: int
    addresses: dict[str, Any]
    code: dict[str, str]
    test_waterfall: bool
    original_face: tuple[int, ...]
    names: tuple[str, ...]
    symbols: tuple[str, ...]
    quorum: int
    attestor_count: int
    #: The waterfall's rule program (``ExactWaterfall.rules()``, its code checked),
    #: or the zero address for the fixed order or the test double.
    rules: str = "0x" + "00" * 20
    #: The class bound of the build whose code every contract is (8 or 16).
    bound: int = 16


def _immutables_size(bytecode: bytes) -> int:
    """The immutables section's length from the init code's CBOR metadata (vyper 0.4)."""
    import cbor2

    n = int.from_bytes(bytecode[-2:], "big")
    meta = cbor2.loads(bytecode[-n:-2])
    return int(meta[3])


def code_is(code: bytes, name: str, bound: int = 16) -> bool:
    """Whether deployed ``code`` is the compiled contract ``name`` of the ``bound``-class
    build with some immutables: it starts with that runtime and has exactly the
    immutables section's length after it (see the module notes)."""
    from openmbs.chain._contracts import artifact

    art = artifact(name, bound)
    return code[: len(art.runtime)] == art.runtime and len(code) == len(art.runtime) + _immutables_size(
        art.bytecode
    )


def _handle(name: str, address: str, bound: int) -> Any:
    """A handle on the contract ``name`` at ``address`` (its code already checked): the
    one the environment has, when it is that contract (the handle that deployed it,
    with its source map, so revert reasons stay readable), else a new ABI handle
    (which the environment then registers in its place)."""
    import boa

    from openmbs.chain._contracts import abi_deployer

    known = boa.env.lookup_contract(address)
    if known is not None and getattr(known, "contract_name", None) == name:
        return known
    return abi_deployer(name, bound).at(address)


def _checksum(x: Any) -> str:
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(str(x)))


def _chain_id() -> int:
    import boa

    get = getattr(boa.env, "get_chain_id", None)
    return int(get()) if get is not None else int(boa.env.evm.patch.chain_id)


class _Reader:
    """Reads the contracts of one deal, naming it in every error."""

    def __init__(self, deal: str) -> None:
        self.deal = deal
        self.code: dict[str, str] = {}
        #: The deal's build, set by the first contract read (the deal itself); every
        #: other contract must be of the same build.
        self.bound: int | None = None

    def fail(self, role: str, fld: str, expected: Any, got: Any) -> DataIntegrityError:
        return DataIntegrityError(
            f"deal {self.deal}: contract {role!r} field {fld!r}: expected {expected}, the chain has {got}; "
            "refusing to act on this deal"
        )

    def contract(self, role: str, address: Any, names: tuple[str, ...]) -> tuple[Any, str]:
        """The contract at ``address`` if its code is one of ``names`` (first match)."""
        import boa
        from eth_utils.crypto import keccak


        addr = _checksum(address)
        if addr == _ZERO:
            raise self.fail(role, "address", "a contract", "the zero address")
        code = bytes(boa.env.get_code(addr))
        digest = "0x" + bytes(keccak(code)).hex()
        self.code[role] = digest
        from openmbs.chain._contracts import BOUNDS

        for bound in BOUNDS if self.bound is None else (self.bound,):
            for name in names:
                if code_is(code, name, bound):
                    self.bound = bound
                    return _handle(name, addr, bound), name
        what = " or ".join(names)
        what += f" ({self.bound}-class build, the deal's)" if self.bound is not None else ""
        got = "no code" if not code else f"code keccak256 {digest} ({len(code)} bytes)"
        raise DataIntegrityError(
            f"deal {self.deal}: contract {role!r} at {addr} field 'code': expected the compiled {what} "
            f"(vyper 0.4.3, immutables aside), the chain has {got}; refusing to act on this deal"
        )

    def link(self, role: str, fld: str, got: Any, expected: Any) -> None:
        if _checksum(got) != _checksum(expected):
            raise self.fail(role, fld, _checksum(expected), _checksum(got))


def _check_params_data(r: _Reader, waterfall: Any) -> None:
    """The waterfall's parameters contract (``params_data()``, which its constructor
    creates): its code must be a STOP byte then exactly one ABI encoding of
    ``ExactParams`` (the words the waterfall reads), nothing else. Its keccak256 is
    recorded as role ``params``."""
    import boa
    from eth_utils.crypto import keccak

    from openmbs.chain._exact_waterfall import read_params

    addr = _checksum(waterfall.params_data())
    code = bytes(boa.env.get_code(addr))
    r.code["params"] = "0x" + bytes(keccak(code)).hex()
    try:
        read_params(waterfall)
    except ChainError:
        raise r.fail(
            "params", "code", "a STOP byte and exactly one ABI encoding of ExactParams",
            f"{len(code)} bytes, keccak256 {r.code['params']}",
        ) from None


def read_deal(deal: str) -> ChainDeal:
    """Read and check every contract of the deal at ``deal`` on the current ``boa.env``.

    Raises
    ------
    InputError
        ``deal`` is not an address.
    DataIntegrityError
        A contract's code is not the compiled contract of its role, the deal is not
        configured, or a back-link disagrees (see the module notes).
    """
    from eth_utils.address import is_address

    if not is_address(str(deal)):
        raise InputError(f"--deal value {deal!r}: not an address")
    deal = _checksum(deal)
    r = _Reader(deal)
    d, _ = r.contract("deal", deal, ("Deal",))
    if not bool(d.configured()):
        raise r.fail("deal", "configured()", True, False)
    settlement = _checksum(d.settlement())
    timelock_addr = _checksum(d.timelock())
    r.contract("timelock", timelock_addr, ("Timelock",))
    issuance, _ = r.contract("issuance", d.issuance(), ("Issuance",))
    oracle, _ = r.contract("oracle", d.oracle(), ("RemittanceOracle",))
    waterfall, wname = r.contract(
        "waterfall", d.waterfall(), ("ExactWaterfall", "SequentialTestWaterfall")
    )
    r.link("oracle", "deal()", oracle.deal(), deal)
    r.link("oracle", "settlement()", oracle.settlement(), settlement)
    r.link("oracle", "timelock()", oracle.timelock(), timelock_addr)
    r.link("issuance", "deal()", issuance.deal(), deal)
    r.link("issuance", "settlement()", issuance.settlement(), settlement)
    r.link("waterfall", "deal()", waterfall.deal(), deal)
    if wname == "ExactWaterfall":
        _check_params_data(r, waterfall)
    rules = _ZERO
    if wname == "ExactWaterfall" and _checksum(waterfall.rules()) != _ZERO:
        program, _ = r.contract("rules", waterfall.rules(), ("RuleProgram",))
        rules = _checksum(program.address)
    servicing = _read_servicing(r, oracle, deal, timelock_addr)
    n = int(d.tranche_count())
    tokens, faces, names, symbols = [], [], [], []
    for i in range(n):
        role = f"tokens[{i}]"
        tok, _ = r.contract(role, d.tranche_token(i), ("TrancheToken",))
        r.link(role, "deal()", tok.deal(), deal)
        r.link(role, "minter()", tok.minter(), issuance.address)
        face = int(d.original_face(i))
        if int(tok.tranche()) != i:
            raise r.fail(role, "tranche()", i, int(tok.tranche()))
        if int(tok.original_face()) != face:
            raise r.fail(role, "original_face()", f"the deal's original_face({i}) {face}", int(tok.original_face()))
        tokens.append(_checksum(tok.address))
        faces.append(face)
        names.append(str(tok.name()))
        symbols.append(str(tok.symbol()))
    return ChainDeal(
        chain_id=_chain_id(),
        addresses={
            "settlement": settlement,
            "timelock": timelock_addr,
            "deal": deal,
            "issuance": _checksum(issuance.address),
            "oracle": _checksum(oracle.address),
            "waterfall": _checksum(waterfall.address),
            "tokens": tokens,
            **servicing,
        },
        code=dict(r.code),
        test_waterfall=wname == "SequentialTestWaterfall",
        original_face=tuple(faces),
        names=tuple(names),
        symbols=tuple(symbols),
        quorum=int(oracle.quorum()),
        attestor_count=int(oracle.attestor_count()),
        rules=rules,
        bound=int(r.bound or 0),
    )


def _read_servicing(r: _Reader, oracle: Any, deal: str, timelock: str) -> dict[str, str]:
    """The LoanSale and ServicerBond the oracle was wired to (``wire_servicing``), each
    checked and linked back to the oracle; none when the oracle was never wired."""
    sale_addr = _checksum(oracle.loan_sale())
    if sale_addr == _ZERO:
        return {}
    sale, _ = r.contract("loan_sale", sale_addr, ("LoanSale",))
    bond, _ = r.contract("servicer_bond", oracle.servicer_bond(), ("ServicerBond",))
    r.link("loan_sale", "oracle()", sale.oracle(), oracle.address)
    r.link("loan_sale", "deal()", sale.deal(), deal)
    r.link("servicer_bond", "oracle()", bond.oracle(), oracle.address)
    r.link("servicer_bond", "loan_sale()", bond.loan_sale(), sale.address)
    r.link("servicer_bond", "timelock()", bond.timelock(), timelock)
    return {"loan_sale": _checksum(sale.address), "servicer_bond": _checksum(bond.address)}


def check_record(record: Mapping[str, Any], chain: ChainDeal, *, where: str) -> None:
    """Refuse a deployment record that says anything the chain does not.

    ``where`` names the record (``file 'd.json'``). Compared: ``chain_id``, every
    address under ``contracts``, ``test_waterfall``, ``class_bound`` (8 when absent), each tranche's ``face``, ``name``
    and ``symbol``, the ``quorum`` and the compiled deal ``exact`` (the waterfall's
    parameters contract and PAC schedules) under ``config``, and the ``attestors`` (each an
    attestor of the oracle, as many as the oracle has).

    Raises
    ------
    DataIntegrityError
        On the first difference: names the field, the record's value and the chain's.
    """

    def fail(fld: str, rec: Any, got: Any) -> DataIntegrityError:
        return DataIntegrityError(
            f"{where} field {fld!r} record value {rec!r}, chain value {got!r} "
            f"(deal {chain.addresses['deal']}): the record does not describe this deal; refusing to act"
        )

    if not isinstance(record, Mapping):
        raise DataIntegrityError(f"{where}: not a JSON object")
    if record.get("chain_id") != chain.chain_id:
        raise fail("chain_id", record.get("chain_id"), chain.chain_id)
    check_addresses(record.get("contracts"), chain, where=where)
    if bool(record.get("test_waterfall")) != chain.test_waterfall:
        raise fail("test_waterfall", record.get("test_waterfall"), chain.test_waterfall)
    from openmbs.chain._record import LEGACY_CLASS_BOUND

    if record.get("class_bound", LEGACY_CLASS_BOUND) != chain.bound:
        raise fail("class_bound", record.get("class_bound", LEGACY_CLASS_BOUND), chain.bound)
    config = record.get("config")
    if not isinstance(config, Mapping):
        raise fail("config", config, "the deal's configuration")
    tranches = config.get("tranches")
    if not isinstance(tranches, list) or len(tranches) != len(chain.original_face):
        raise fail("config.tranches", tranches, f"{len(chain.original_face)} tranche(s)")
    for i, t in enumerate(tranches):
        t = t if isinstance(t, Mapping) else {}
        for fld, got in (
            ("face", chain.original_face[i]),
            ("name", chain.names[i]),
            ("symbol", chain.symbols[i]),
        ):
            if t.get(fld) != got:
                raise fail(f"config.tranches[{i}].{fld}", t.get(fld), got)
    if config.get("quorum") != chain.quorum:
        raise fail("config.quorum", config.get("quorum"), chain.quorum)
    if not chain.test_waterfall and config.get("exact") is not None:
        _check_rules(config, chain, fail)
    attestors = record.get("attestors")
    if attestors is not None:
        _check_attestors(attestors, chain, fail)


def check_addresses(contracts: Any, chain: ChainDeal, *, where: str) -> None:
    """Refuse recorded ``contracts`` (the shape of :meth:`DealClient.addresses`) that
    differ from the chain's in any address, naming the field and both values."""

    def fail(fld: str, rec: Any, got: Any) -> DataIntegrityError:
        return DataIntegrityError(
            f"{where} field {fld!r} record value {rec!r}, chain value {got!r} "
            f"(deal {chain.addresses['deal']}): the record does not describe this deal; refusing to act"
        )

    if not isinstance(contracts, Mapping):
        raise fail("contracts", contracts, chain.addresses)
    for key, want in chain.addresses.items():
        rec = contracts.get(key)
        if key == "tokens":
            if not isinstance(rec, list) or len(rec) != len(want):
                raise fail("contracts.tokens", rec, want)
            for i, (a, b) in enumerate(zip(rec, want, strict=True)):
                if not _same(a, b):
                    raise fail(f"contracts.tokens[{i}]", a, b)
        elif not _same(rec, want):
            raise fail(f"contracts.{key}", rec, want)
    extra = sorted(set(contracts) - set(chain.addresses))
    if extra:
        raise fail(f"contracts.{extra[0]}", contracts[extra[0]], None)


def _flat(x: Any) -> Any:
    """A struct / array as nested lists of ints (ABI results and Python tuples alike)."""
    return [_flat(y) for y in x] if isinstance(x, (list, tuple)) else int(x)


def _check_rules(config: Mapping[str, Any], chain: ChainDeal, fail: Any) -> None:
    """The record's compiled deal (``config.exact``) against the waterfall's rules on
    chain: its parameters contract (``read_params``) and each tranche's PAC schedule."""
    from openmbs.chain._deploy import _exact_from_dict
    from openmbs.chain._exact_waterfall import exact_params, read_params

    raw = config["exact"]
    try:
        exact = _exact_from_dict(dict(raw), str(config.get("name"))) if isinstance(raw, Mapping) else raw
        want = _flat(exact_params(exact, chain.bound))
    except (InputError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise fail("config.exact", "unreadable", f"the waterfall's rules ({exc})") from None
    waterfall = _handle("ExactWaterfall", chain.addresses["waterfall"], chain.bound)
    got = _flat(read_params(waterfall))
    if got != want:
        names = _params_fields(waterfall.abi)
        k = next((k for k, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), len(want))
        fld = names[k] if k < len(names) else f"[{k}]"
        raise fail(
            f"config.exact.{fld}",
            want[k] if k < len(want) else None,
            f"{got[k] if k < len(got) else None} (the waterfall's parameters contract)",
        )
    for i, sched in enumerate(exact.pac_schedule):
        on_chain = _flat(waterfall.pac_schedule_of(i))
        if on_chain != _flat(sched):
            raise fail(f"config.exact.pac_schedule[{i}]", f"{len(sched)} periods", f"{len(on_chain)} periods, other values")
    _check_program(exact, chain, fail)


def _check_program(exact: Any, chain: ChainDeal, fail: Any) -> None:
    """The compiled deal's rule program against the waterfall's ``RuleProgram``: its
    tables (``params()``), its planned balances, its seal; no program for the fixed
    order."""
    from openmbs.chain._contracts import abi_deployer
    from openmbs.chain._rule_program import rule_params

    if not exact.program:
        if chain.rules != _ZERO:
            raise fail("config.exact.program", "none (the fixed order)", f"a rule program at {chain.rules}")
        return
    if chain.rules == _ZERO:
        raise fail("config.exact.program", f"{len(exact.program) // 4} instructions", "no rule program")
    program = abi_deployer("RuleProgram", chain.bound).at(chain.rules)
    if _flat(program.params()) != _flat(rule_params(exact)):
        raise fail("config.exact.program", "the compiled rule program", "other tables (the rule program's params())")
    if not bool(program.sealed()):
        raise fail("config.exact.program", "a sealed rule program", "not sealed")
    for g, sched in enumerate(exact.grp_schedule):
        for k in range(len(sched) + 1):
            want = sched[k] if k < len(sched) else 0
            got = int(program.planned(g, k + 1))
            if got != want:
                raise fail(f"config.exact.grp_schedule[{g}][{k}]", want, got)


def _params_fields(abi: list[dict[str, Any]]) -> list[str]:
    """Field names of ``ExactParams``, from the waterfall's ABI."""
    from openmbs.chain._exact_waterfall import params_fields

    return [str(c.get("name")) for c in params_fields(abi)]


def _check_attestors(attestors: Any, chain: ChainDeal, fail: Any) -> None:

    if not isinstance(attestors, list) or len(attestors) != chain.attestor_count:
        raise fail("attestors", attestors, f"{chain.attestor_count} attestor(s)")
    oracle = _handle("RemittanceOracle", chain.addresses["oracle"], chain.bound)
    for i, a in enumerate(attestors):
        try:
            ok = bool(oracle.is_attestor(_checksum(a)))
        except ValueError:
            ok = False
        if not ok:
            raise fail(f"attestors[{i}]", a, "not an attestor of the oracle")


def _same(a: Any, b: Any) -> bool:
    try:
        return _checksum(a) == _checksum(b)
    except (TypeError, ValueError):
        return False
