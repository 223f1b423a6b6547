"""The lean embedded EVM (``openmbs.chain.fastevm``) computes what titanoboa's py-evm does.

Random programs run on a stock titanoboa environment and on a lean one; their output
(memory and the top of the stack, dumped with ``RETURN``), success and error kind must
be equal. The programs mix every opcode the lean loop runs itself with opcodes it
hands to py-evm (which leave bytes on the stack), jumps (valid, into push data, to a
non-``JUMPDEST``), stack underflow and copies past the end of code and calldata.
Memory offsets stay small, so the stock environment's gas (metered, the lean one's is
not) never runs out. The lifecycle on both environments is compared in
``tests/sim/test_lifecycle.py``.
"""

from __future__ import annotations

import boa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.chain.fastevm import MAX_MEMORY, analyse, make_lean

ADDR = "0x00000000000000000000000000000000000c0de0"
CALLER = "0x000000000000000000000000000000000000beef"

# opcode -> (pops, pushes) for the stack-only operations the generator may emit
STACK_OPS = {
    0x01: (2, 1), 0x02: (2, 1), 0x03: (2, 1), 0x04: (2, 1), 0x05: (2, 1), 0x06: (2, 1),
    0x07: (2, 1), 0x08: (3, 1), 0x09: (3, 1), 0x0A: (2, 1), 0x0B: (2, 1),
    0x10: (2, 1), 0x11: (2, 1), 0x12: (2, 1), 0x13: (2, 1), 0x14: (2, 1), 0x15: (1, 1),
    0x16: (2, 1), 0x17: (2, 1), 0x18: (2, 1), 0x19: (1, 1), 0x1A: (2, 1), 0x1B: (2, 1),
    0x1C: (2, 1), 0x1D: (2, 1),
    0x33: (0, 1), 0x34: (0, 1), 0x35: (1, 1), 0x36: (0, 1), 0x3D: (0, 1),
    0x30: (0, 1), 0x32: (0, 1), 0x58: (0, 1), 0x59: (0, 1), 0x50: (1, 0),
}  # fmt: skip

EDGE = [0, 1, 2, 31, 32, 255, 256, 2**255 - 1, 2**255, 2**256 - 1, 2**128, 7]


def push(value: int) -> bytes:
    if value == 0:
        return b"\x5f"
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([0x5F + len(raw)]) + raw


values = st.one_of(st.sampled_from(EDGE), st.integers(0, 2**256 - 1), st.integers(0, 300))
small = st.integers(0, 200)


@st.composite
def programs(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(0, 12))
    code = bytearray()
    for _ in range(depth):
        code += push(draw(values))
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.integers(0, 11))
        if kind <= 3:
            op = draw(st.sampled_from(sorted(STACK_OPS)))
            pops, pushes = STACK_OPS[op]
            if pops > depth and draw(st.integers(0, 29)) > 0:
                code += push(draw(values))  # usually keep the stack deep enough
                depth += 1
                continue
            code.append(op)
            depth += pushes - pops
        elif kind == 4:
            code += push(draw(values))
            depth += 1
        elif kind == 5:  # DUPn / SWAPn, sometimes deeper than the stack
            n = draw(st.integers(1, 16 if draw(st.integers(0, 9)) == 0 else max(min(depth, 16), 1)))
            code.append((0x7F if draw(st.booleans()) else 0x8F) + n)
            if code[-1] <= 0x8F:
                depth += 1
        elif kind == 6:  # MSTORE / MLOAD at a small offset
            code += push(draw(small))
            code.append(draw(st.sampled_from([0x51, 0x52, 0x53])))  # MLOAD, MSTORE, MSTORE8
            depth += 1 if code[-1] == 0x51 else -1
        elif kind == 7:  # CODECOPY / CALLDATACOPY / MCOPY / SHA3 with small sizes
            op = draw(st.sampled_from([0x39, 0x37, 0x5E, 0x20]))
            if op == 0x20:
                code += push(draw(small)) + push(draw(small)) + b"\x20"
                depth += 1
            else:
                src = draw(st.one_of(small, st.sampled_from([2**64, 2**256 - 1])))
                code += push(draw(small)) + push(src) + push(draw(small)) + bytes([op])
        elif kind == 8:  # a jump over the next push: valid, conditional or not
            cond = draw(st.sampled_from([None, 0, 1, 2**255]))
            skipped = push(draw(values))
            target = len(code) + (0 if cond is None else len(push(cond))) + 3 + 1 + len(skipped)
            if cond is not None:
                code += push(cond)
            code += b"\x61" + target.to_bytes(2, "big") + (b"\x56" if cond is None else b"\x57")
            code += skipped + b"\x5b"
            if cond is not None and cond == 0:
                depth += 1
        elif kind == 9:  # a bad jump (rarely): to push data, to a plain byte, past the end
            if draw(st.integers(0, 5)) > 0:
                continue
            dest = draw(st.sampled_from(["data", "plain", "end"]))
            if dest == "data":  # PUSH1 0x5b: the 0x5b is data, not a JUMPDEST
                at = len(code) + 1
                code += b"\x60\x5b\x50"
            else:
                at = 0 if dest == "plain" else 10_000
            code += push(at) + b"\x56"
        elif kind == 10:  # CODECOPY of the program itself into memory
            code += push(draw(small)) + push(0) + push(draw(small)) + b"\x39"
        else:  # an invalid opcode, rarely
            if draw(st.integers(0, 39)) == 0:
                code.append(0xFE)
    # dump the top 8 stack items (or fewer) and the first 320 bytes of memory
    for i in range(min(max(depth, 0), 8)):
        code += push(320 + 32 * i) + b"\x52"
    code += push(320 + 32 * 8) + push(0) + b"\xf3"
    return bytes(code)


def _env(lean: bool) -> boa.Env:
    env = boa.Env()
    if lean:
        assert make_lean(env)
    return env


_STOCK = _env(False)
_LEAN = _env(True)


def _run(env: boa.Env, code: bytes, data: bytes, value: int = 0) -> tuple[bool, str, bytes]:
    env.set_code(ADDR, code)
    env.set_balance(CALLER, 10**18)
    c = env.execute_code(to_address=ADDR, sender=CALLER, gas=5_000_000, data=data, value=value)
    err = type(c.error).__name__ if c.is_error else ""
    return c.is_error, err, bytes(c.output)


@settings(max_examples=250, deadline=None)
@given(code=programs(), data=st.binary(max_size=80), value=st.sampled_from([0, 1, 10**9]))
def test_random_programs_equal_stock_py_evm(code: bytes, data: bytes, value: int) -> None:
    assert _run(_LEAN, code, data, value) == _run(_STOCK, code, data, value), code.hex()


BINARY = [0x01, 0x02, 0x03, 0x04, 0x06, 0x10, 0x11, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1B, 0x1C]
EDGE_ALL = [0, 1, 2, 254, 255, 256, 257, 2**64, 2**255 - 1, 2**255, 2**255 + 1, 2**256 - 1]


@pytest.mark.parametrize("op", [*BINARY, 0x15, 0x19])
def test_each_inlined_operation_on_edge_values(op: int) -> None:
    """Every pair of edge values (shifts of 254-257, sign bit, all ones, zero divisor),
    pushed as integers and as bytes (from ``ADDRESS``-free ``PUSH`` + ``MLOAD``)."""
    arity = 1 if op in (0x15, 0x19) else 2
    for a in EDGE_ALL:
        for b in EDGE_ALL if arity == 2 else [0]:
            for via_memory in (False, True):
                if via_memory:  # operands read back by MLOAD (stock py-evm: bytes)
                    code = push(b) + push(0) + b"\x52" + push(a) + push(32) + b"\x52"
                    code += (push(0) + b"\x51" if arity == 2 else b"") + push(32) + b"\x51"
                else:
                    code = (push(b) if arity == 2 else b"") + push(a)
                code += bytes([op]) + push(64) + b"\x52" + push(32) + push(64) + b"\xf3"
                assert _run(_LEAN, code, b"") == _run(_STOCK, code, b""), (hex(op), a, b)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (b"\x01", "InsufficientStack"),  # ADD on an empty stack
        (b"\x60\x01\x90", "InsufficientStack"),  # SWAP1 with one item
        (b"\x81", "InsufficientStack"),  # DUP2 on an empty stack
        (b"\x60\x03\x56\x00", "InvalidJumpDestination"),  # JUMP to a STOP byte
        (b"\x60\x04\x56\x60\x5b", "InvalidInstruction"),  # JUMP into PUSH1 data
        (b"\x60\x01\x60\x06\x57\x61\x5b\x00", "InvalidInstruction"),  # JUMPI into data
        (b"\xfe", "InvalidInstruction"),
        (b"\x5f" * 1025, "FullStack"),
        (b"\x5f\x80" * 513, "FullStack"),
    ],
)
def test_errors_are_py_evm_errors(code: bytes, error: str) -> None:
    assert _run(_LEAN, code, b"") == _run(_STOCK, code, b"")
    assert _run(_LEAN, code, b"")[1] == error


def test_memory_past_the_limit_runs_out_of_gas() -> None:
    code = push(MAX_MEMORY) + b"\x51\x00"  # MLOAD at 32 MiB
    assert _run(_LEAN, code, b"")[:2] == (True, "OutOfGas")
    # in reach, the lean environment grows memory as py-evm does (no gas metered)
    code = push(4096) + b"\x51" + push(0) + b"\x52"  # MLOAD at 4096, keep the word
    code += b"\x59" + push(32) + b"\x52" + push(64) + push(0) + b"\xf3"  # MSIZE, return
    out = _run(_LEAN, code, b"")
    assert out[0] is False and int.from_bytes(out[2][32:64], "big") == 4096 + 32


def test_analysis_skips_push_data_and_pads_the_last_push() -> None:
    dests, imm = analyse(b"\x5b\x60\x5b\x5b\x62\x01\x02")
    assert dests == frozenset({0, 3})
    assert imm[1] == 0x5B and imm[4] == 0x010200  # PUSH3 cut by the end: zero-padded


def test_lean_environment_keeps_the_contract_behaviour_of_titanoboa() -> None:
    """A compiled contract's calls, storage, events and reverts are the same, and so
    are the revert reasons titanoboa finds from the executed program counters (the
    ``# dev:`` comment of the failing line)."""
    src = """
event Moved:
    who: indexed(address)
    amount: uint256

total: public(uint256)
seen: public(HashMap[address, uint256])

@external
def move(amount: uint256) -> uint256:
    assert amount < 1000, "too much"
    assert amount != 13  # dev: unlucky amount
    self.total += amount
    self.seen[msg.sender] = self.total * 3 // 2
    log Moved(who=msg.sender, amount=amount)
    return self.total
"""
    from openmbs.chain._clients import _reason

    results = []
    for env in (_env(False), _env(True)):
        with boa.swap_env(env):
            c = boa.loads(src)
            got = [c.move(5), c.move(7), c.total(), c.seen(boa.env.eoa)]
            with boa.reverts("too much"):
                c.move(1000)
            for bad in (1000, 13):  # the revert string; the failing line's dev comment
                with pytest.raises(boa.BoaError) as info:
                    c.move(bad)
                got.append(_reason(info.value))
            got.append(c.get_logs() if hasattr(c, "get_logs") else None)
            results.append(repr(got))
    assert results[0] == results[1]
    assert "'too much'" in results[1] and "'unlucky amount'" in results[1]
