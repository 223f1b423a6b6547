"""One source for the waterfall's tables: the constants of ``ExactWaterfall.vy`` (and
the other hand copies: ``deal_types.vy``, the chain helpers, the trigger keeper) are
parsed and pinned, value for value, against ``structuring/_exact.py``, the
specification. A drift in either file fails here."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import openmbs.chain._exact_waterfall as chain_helpers
from openmbs.agents import _keeper
from openmbs.structuring import _exact

CONTRACTS = Path(chain_helpers.__file__).parent / "contracts"

#: the table families the contract copies from ``_exact.py``
TABLE = re.compile(r"^(OP|PR|CPN|F|T|E|R)_[A-Z0-9_]+$|^NOTIONAL_POOL$|^MAX_(TRANCHES|FEES|TRIGGERS|STEPS)$|^(WAD|MONTHS)$")
_DECL = re.compile(r"^([A-Z][A-Z0-9_]*)\s*:\s*constant\(u?int\d+\)\s*=\s*(.+?)\s*(#.*)?$", re.M)
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Pow: operator.pow}


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback: nothing is deployed here."""
    yield


def _value(text: str, known: dict[str, int] | None = None) -> int:
    """An integer constant expression of the contract (numbers, + - * **,
    ``max_value(uintN)`` and the names of constants declared above it, ``known``)."""

    def ev(node: ast.expr) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and known is not None and node.id in known:
            return known[node.id]
        if (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "max_value"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Name)
            and re.fullmatch(r"uint\d+", node.args[0].id)
        ):
            return int(2 ** int(node.args[0].id[4:]) - 1)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return int(_OPS[type(node.op)](ev(node.left), ev(node.right)))
        raise ValueError(f"not a plain integer expression: {text!r}")

    return ev(ast.parse(text, mode="eval").body)


#: Vyper ``flag`` types of the contract -> the prefix of the same table in ``_exact.py``
FLAG_TABLES = {"TriggerEffect": "E_", "ReserveFlag": "R_"}
_FLAG = re.compile(r"^flag\s+(\w+):\n((?:[ \t]+\w+[ \t]*(?:#.*)?\n)+)", re.M)


def _constants(name: str) -> dict[str, int]:
    """``NAME: constant(uint256) = value`` declarations of a contract, evaluated
    (a value naming ``deal_types``'s constant takes its value there; one naming another
    module's is skipped), and the members of its ``flag`` types in ``FLAG_TABLES``, as
    ``<prefix><MEMBER>`` with the value Vyper gives them (member k is bit k)."""
    text = (CONTRACTS / name).read_text()
    types = _constants("deal_types.vy") if name != "deal_types.vy" else {}
    out: dict[str, int] = {}
    for m in _DECL.finditer(text):
        value = m.group(2).strip()
        if value.startswith("deal_types.") and value[len("deal_types."):] in types:
            out[m.group(1)] = types[value[len("deal_types."):]]
            continue
        if "." in value:
            continue
        out[m.group(1)] = _value(m.group(2), out)
    for m in _FLAG.finditer(text):
        members = [line.split("#")[0].strip() for line in m.group(2).splitlines()]
        for k, member in enumerate(x for x in members if x):
            out[FLAG_TABLES[m.group(1)] + member] = 1 << k
    return out


#: Codes of the deal language that the contract does not run: a deal using one is
#: refused before deployment (``structuring.chain_unsupported``), so the contract has
#: no copy of them. (Empty since the inverse floater runs on chain.)
OFF_CHAIN: set[str] = set()


def _python_tables() -> dict[str, int]:
    return {
        k: v for k, v in vars(_exact).items()
        if TABLE.match(k) and isinstance(v, int) and k not in OFF_CHAIN
    }


def test_an_inverse_floater_is_no_longer_refused() -> None:
    import dataclasses

    from openmbs.structuring import chain_unsupported, compile_exact, example_deal

    deal = compile_exact(example_deal("four_tranche"))
    kinds = list(deal.coupon_kind)
    kinds[0] = _exact.CPN_INVERSE
    inverse = dataclasses.replace(deal, coupon_kind=tuple(kinds))
    assert chain_unsupported(inverse) == []


def test_parser_reads_the_contract() -> None:
    """The parser sees what a reader sees (guards against a pattern that matches nothing)."""
    c = _constants("ExactWaterfall.vy")
    assert c["OP_RESIDUAL"] == 10 and c["WAD"] == 10**18 and c["LOW128"] == 2**128 - 1
    assert len([k for k in c if TABLE.match(k)]) == len(_python_tables()) >= 35


def test_contract_tables_equal_the_specification() -> None:
    py = _python_tables()
    vy = {k: v for k, v in _constants("ExactWaterfall.vy").items() if TABLE.match(k)}
    assert sorted(vy) == sorted(py), "a table constant exists on one side only"
    drift = {k: (vy[k], py[k]) for k in py if vy[k] != py[k]}
    assert drift == {}, f"ExactWaterfall.vy differs from _exact.py (contract, spec): {drift}"


def test_other_copies_equal_the_specification() -> None:
    types = _constants("deal_types.vy")
    assert types["MAX_TRANCHES"] == _exact.MAX_TRANCHES and types["WAD"] == _exact.WAD
    vy = _constants("ExactWaterfall.vy")
    assert vy["MAX_PAC"] == chain_helpers.MAX_PAC
    assert chain_helpers.MAX_STEPS == _exact.MAX_STEPS
    keeper = (_keeper._T_OC, _keeper._T_IC, _keeper._T_CUMLOSS, _keeper._T_DELINQ, _keeper._F_IO)
    assert keeper == (_exact.T_OC, _exact.T_IC, _exact.T_CUMLOSS, _exact.T_DELINQ, _exact.F_IO)


def test_step_bound_is_the_number_of_steps() -> None:
    """A deal names each step at most once, so the bound is the number of opcodes."""
    ops = [v for k, v in _python_tables().items() if k.startswith("OP_")]
    assert sorted(ops) == list(range(1, _exact.MAX_STEPS + 1))
