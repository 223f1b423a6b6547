"""A lean embedded EVM for long simulations (the lifecycle, ``openmbs demo``).

This module is tooling, not chain logic: it knows no contract, deal or oracle, only how
py-evm runs bytecode, and it changes how fast an embedded EVM computes, never what.
Deployment and the typed clients (the rest of :mod:`openmbs.chain`) never import it; a
simulation opts in with :func:`make_lean`. (It was ``openmbs.chain._lean``.)

titanoboa runs contracts on py-evm, which executes every opcode through a generator
code stream (titanoboa's records each program counter for coverage), a dispatch
dict, a function call, stack methods that validate every value, and a memory method
that prices every expansion in gas. That is about 7 µs an opcode here; a remittance
runs some 15,000 of them. :func:`make_lean` changes one environment so that it does
the same computation with less Python around it:

- titanoboa's SHA3 and SSTORE tracers are removed (they record hash preimages and
  touched slots for storage dumps, which a simulation never reads); its record of the
  executed program counters is kept (it finds a failing line and its ``# dev:``
  reason);
- gas is not metered: py-evm's gas meter charges nothing (the ``GAS`` opcode reads the
  transaction's gas limit). Memory beyond :data:`MAX_MEMORY` bytes raises ``OutOfGas``,
  as it would on any chain (its expansion alone would cost over 2 billion gas);
- the interpreter loop runs the frequent opcodes (``PUSH0``-``PUSH32``, ``DUP``,
  ``SWAP``, ``POP``, ``MLOAD``, ``MSTORE``, ``JUMP``, ``JUMPI``, ``JUMPDEST``, the
  arithmetic, comparison and bitwise operations, ``CALLDATALOAD``, ``CALLDATASIZE``,
  ``CALLER``, ``CALLVALUE``, ``RETURNDATASIZE``, ``CODECOPY``, ``MCOPY``) on the stack's
  list directly, with the jump destinations and push values of each bytecode decoded
  once; every other opcode (storage, calls, logs, hashing, copies, ...) is py-evm's
  own function, called with the program counter in step.

Each inlined opcode computes what py-evm's computes (``tests/chain/test_lean_evm.py`` runs
random programs and the lifecycle on both and compares them). What differs is only
what no contract can observe: the stack holds integers where py-evm would hold bytes
(py-evm accepts either), an error leaves the failed frame's stack in another state (it
is discarded), and no gas is counted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_MEMORY", "analyse", "make_lean", "run_code"]

UINT256_MAX = 2**256 - 1
SIGN_BIT = 2**255
MAX_MEMORY = 1 << 25
"""Largest memory (bytes) a frame may reach; expanding to 32 MiB costs over 2e9 gas."""

_BINARY = frozenset(
    (0x01, 0x02, 0x03, 0x04, 0x06, 0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1B, 0x1C)
)
_ANALYSIS: dict[bytes, tuple[frozenset[int], list[int]]] = {}
_ANALYSIS_LIMIT = 256


def analyse(code: bytes) -> tuple[frozenset[int], list[int]]:
    """The valid jump destinations of ``code`` (``JUMPDEST`` bytes that are not push
    data) and, for each position holding a ``PUSHn``, its value (zero-padded past the
    end of the code, as py-evm reads it)."""
    hit = _ANALYSIS.get(code)
    if hit is not None:
        return hit
    n = len(code)
    dests: set[int] = set()
    imm = [0] * n
    pc = 0
    while pc < n:
        op = code[pc]
        if 0x60 <= op <= 0x7F:
            size = op - 0x5F
            raw = code[pc + 1 : pc + 1 + size]
            imm[pc] = int.from_bytes(raw.ljust(size, b"\x00"), "big")
            pc += size + 1
            continue
        if op == 0x5B:
            dests.add(pc)
        pc += 1
    out = (frozenset(dests), imm)
    if len(_ANALYSIS) >= _ANALYSIS_LIMIT:
        _ANALYSIS.clear()
    _ANALYSIS[bytes(code)] = out
    return out


def _extend(memory: Any, end: int) -> None:
    """Grow ``memory`` to cover ``[0, end)``, in 32-byte words (py-evm's ``Memory.extend``)."""
    from eth.exceptions import OutOfGas

    new_size = (end + 31) & ~31
    if new_size > MAX_MEMORY:
        raise OutOfGas(f"memory expansion to {new_size} bytes")
    have = len(memory._bytes)
    if new_size > have:
        try:
            memory._bytes.extend(bytes(new_size - have))
        except BufferError:  # a live memoryview pins the buffer (py-evm does the same)
            memory._bytes = memory._bytes + bytearray(new_size - have)


def run_code(computation: Any) -> None:
    """Execute ``computation``'s code (the body of py-evm's ``apply_computation``)."""
    from eth.exceptions import (
        FullStack,
        Halt,
        InsufficientStack,
        InvalidInstruction,
        InvalidJumpDestination,
    )
    from eth.vm.logic.invalid import InvalidOpcode

    code = computation.code
    raw = code._raw_code_bytes
    n = len(raw)
    dests, imm = analyse(raw)
    values = computation._stack.values
    append = values.append
    pop = values.pop
    memory = computation._memory
    lookup = computation.opcodes
    cdata = computation.msg.data_as_bytes
    mask = UINT256_MAX
    trace = code._trace.append  # titanoboa's record of executed pcs (its error reports)
    pc = code.program_counter
    try:
        while pc < n:
            op = raw[pc]
            trace(pc)
            if op >= 0x5F:
                if op <= 0x7F:  # PUSH0 .. PUSH32
                    if len(values) > 1023:
                        raise FullStack("Stack limit reached")
                    append(imm[pc])
                    pc += op - 0x5E
                    continue
                if op <= 0x8F:  # DUP1 .. DUP16
                    if len(values) > 1023:
                        raise FullStack("Stack limit reached")
                    append(values[0x7F - op])
                    pc += 1
                    continue
                if op <= 0x9F:  # SWAP1 .. SWAP16
                    i = 0x8E - op
                    values[-1], values[i] = values[i], values[-1]
                    pc += 1
                    continue
            elif op >= 0x50:
                if op == 0x51:  # MLOAD
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    end = a + 32
                    if end > len(memory._bytes):
                        _extend(memory, end)
                    append(int.from_bytes(memory._bytes[a:end], "big"))
                    pc += 1
                    continue
                if op == 0x57:  # JUMPI
                    a = pop()
                    b = pop()
                    if b.__class__ is bytes:
                        b = int.from_bytes(b, "big")
                    if b:
                        if a.__class__ is bytes:
                            a = int.from_bytes(a, "big")
                        if a not in dests:
                            code.program_counter = a
                            if a < n and raw[a] == 0x5B:
                                raise InvalidInstruction("Jump resulted in invalid instruction")
                            raise InvalidJumpDestination("Invalid Jump Destination")
                        pc = a
                    else:
                        pc += 1
                    continue
                if op == 0x52:  # MSTORE
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    v = pop()
                    if v.__class__ is bytes:
                        v = int.from_bytes(v, "big")
                    end = a + 32
                    if end > len(memory._bytes):
                        _extend(memory, end)
                    memory._bytes[a:end] = v.to_bytes(32, "big")
                    pc += 1
                    continue
                if op == 0x5B:  # JUMPDEST
                    pc += 1
                    continue
                if op == 0x50:  # POP
                    pop()
                    pc += 1
                    continue
                if op == 0x5E:  # MCOPY
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    b = pop()
                    if b.__class__ is bytes:
                        b = int.from_bytes(b, "big")
                    size = pop()
                    if size.__class__ is bytes:
                        size = int.from_bytes(size, "big")
                    if size:
                        end = max(a, b) + size
                        if end > len(memory._bytes):
                            _extend(memory, end)
                        buf = memory._bytes
                        buf[a : a + size] = buf[b : b + size]
                    pc += 1
                    continue
                if op == 0x56:  # JUMP
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    if a not in dests:
                        code.program_counter = a
                        if a < n and raw[a] == 0x5B:
                            raise InvalidInstruction("Jump resulted in invalid instruction")
                        raise InvalidJumpDestination("Invalid Jump Destination")
                    pc = a
                    continue
            elif op <= 0x1D:
                if op == 0x15:  # ISZERO
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    append(0 if a else 1)
                    pc += 1
                    continue
                if op in _BINARY:
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    b = pop()
                    if b.__class__ is bytes:
                        b = int.from_bytes(b, "big")
                    if op == 0x01:  # ADD
                        append((a + b) & mask)
                    elif op == 0x10:  # LT
                        append(1 if a < b else 0)
                    elif op == 0x1B:  # SHL: a = shift, b = value
                        append((b << a) & mask if a < 256 else 0)
                    elif op == 0x18:  # XOR
                        append(a ^ b)
                    elif op == 0x11:  # GT
                        append(1 if a > b else 0)
                    elif op == 0x1C:  # SHR
                        append(b >> a if a < 256 else 0)
                    elif op == 0x16:  # AND
                        append(a & b)
                    elif op == 0x17:  # OR
                        append(a | b)
                    elif op == 0x14:  # EQ
                        append(1 if a == b else 0)
                    elif op == 0x02:  # MUL
                        append((a * b) & mask)
                    elif op == 0x04:  # DIV
                        append(a // b if b else 0)
                    elif op == 0x03:  # SUB
                        append((a - b) & mask)
                    elif op == 0x06:  # MOD
                        append(a % b if b else 0)
                    elif op == 0x12:  # SLT
                        append(1 if (a ^ SIGN_BIT) < (b ^ SIGN_BIT) else 0)
                    else:  # 0x13 SGT
                        append(1 if (a ^ SIGN_BIT) > (b ^ SIGN_BIT) else 0)
                    pc += 1
                    continue
                if op == 0x19:  # NOT
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    append(mask ^ a)
                    pc += 1
                    continue
                if op == 0x00:  # STOP
                    break
            elif 0x30 <= op <= 0x3F:
                if op == 0x39 or op == 0x35:  # CODECOPY, CALLDATALOAD
                    a = pop()
                    if a.__class__ is bytes:
                        a = int.from_bytes(a, "big")
                    if op == 0x35:
                        append(int.from_bytes(cdata[a : a + 32].ljust(32, b"\x00"), "big"))
                        pc += 1
                        continue
                    b = pop()
                    if b.__class__ is bytes:
                        b = int.from_bytes(b, "big")
                    size = pop()
                    if size.__class__ is bytes:
                        size = int.from_bytes(size, "big")
                    if size:
                        end = a + size
                        if end > len(memory._bytes):
                            _extend(memory, end)
                        memory._bytes[a:end] = raw[b : b + size].ljust(size, b"\x00")
                    pc += 1
                    continue
                if op == 0x33:  # CALLER
                    append(int.from_bytes(computation.msg.sender, "big"))
                    pc += 1
                    continue
                if op == 0x34:  # CALLVALUE
                    append(computation.msg.value)
                    pc += 1
                    continue
                if op == 0x36:  # CALLDATASIZE
                    append(len(cdata))
                    pc += 1
                    continue
                if op == 0x3D:  # RETURNDATASIZE
                    append(len(computation.return_data))
                    pc += 1
                    continue
            # every other opcode: py-evm's own, with the program counter in step
            code.program_counter = pc + 1
            fn = lookup.get(op)
            if fn is None:
                fn = InvalidOpcode(op)
            try:
                fn(computation)
            except Halt:
                break
            pc = code.program_counter
    except IndexError:
        raise InsufficientStack(f"Stack underflow at opcode 0x{raw[pc]:02x} @ {pc}") from None
    code.program_counter = pc


def make_lean(env: Any) -> bool:
    """Make titanoboa environment ``env`` (embedded py-evm) lean, as the module says.
    Returns False, leaving ``env`` as it is, when titanoboa's or py-evm's internals are
    not the ones this module knows."""
    try:
        from boa.vm.py_evm import Sha3PreimageTracer, SstoreTracer
        from eth.vm.computation import NO_RESULT
        from eth.vm.gas_meter import GasMeter
        from eth.vm.opcode import _FastOpcode

        comp = env.evm.vm.state.computation_class
        table = dict(comp.opcodes)
        op = table[0x20]
        while isinstance(op, Sha3PreimageTracer):
            op = op.sha3
        table[0x20] = op
        op = table[0x55]
        while isinstance(op, SstoreTracer):
            op = op.sstore
        table[0x55] = op
        for code, op in list(table.items()):
            if type(op) is _FastOpcode:
                table[code] = op.logic_fn
    except Exception:  # pragma: no cover - another titanoboa / py-evm version
        return False

    class UnmeteredGas(GasMeter):  # type: ignore[misc]
        def consume_gas(self, amount: int, reason: str) -> None:
            return None

        def return_gas(self, amount: int) -> None:
            return None

        def refund_gas(self, amount: int) -> None:
            return None

    def apply_computation(
        cls: Any,
        state: Any,
        message: Any,
        transaction_context: Any,
        parent_computation: Any = None,
    ) -> Any:
        # py-evm's BaseComputation.apply_computation with the loop of run_code, and
        # titanoboa's note of the contract when the computation fails
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            run_code(computation)
        if computation.is_error:
            addr = message.code_address
            contract = cls.env._lookup_contract_fast(addr) if addr else None
            computation._contract_repr_before_revert = repr(contract)
        return computation

    comp.opcodes = table
    comp.apply_computation = classmethod(apply_computation)
    env.set_gas_meter_class(UnmeteredGas)
    return True
