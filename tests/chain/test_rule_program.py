"""``RuleProgram.vy`` == the exact engine's rule-program interpreter, to the unit.

The differential: random deals in the deal language (``rule_program_helpers``: random
groups of every payment mode, orders, concurrent splits, trigger conditions, planned
schedules with deferrals, accrual directions), compiled by ``compile_exact`` and
deployed; for random balances, latches, periods and amounts, the contract's answer for
the principal rules and for each Z class's accrual rules equals what
``_exact._run_program`` pays each class and leaves, and both pay exactly the amount
(paid + unused = amount, no class paid beyond its balance).

Then the attacks on the set-up (only the deployer loads and seals; sealed is final;
nothing runs before the seal) and the constructor's checks on the tables (a program
that could pay outside the deal, read past a table, nest a group in a group's rules or
split more than 100% is refused at deployment).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boa
import pytest
from rule_program_helpers import random_rules_deal

from openmbs.chain._contracts import contract_path
from openmbs.chain._rule_program import (
    MAX_GROUPS,
    MAX_INSTR,
    MAX_LIST,
    MAX_MEMBERS,
    MAX_PLANNED,
    MAX_REGS,
    RULE_MAX_CLASSES,
    deploy_rule_program,
    rule_params,
    rule_program_deployer,
    run_rules_onchain,
)
from openmbs.chain.fastevm import make_lean
from openmbs.structuring import (
    MAX_TRANCHES,
    ExactDeal,
    ExactRemittance,
    compile_exact,
    initial_state,
)
from openmbs.structuring._exact import (
    I_MERGE,
    I_PLANNED,
    I_PRORATA,
    I_SEQ,
    I_SKIP,
    I_SPLIT,
    _run_program,
    _Work,
)

DEALS = 40
QUERIES = 12


def engine_run(
    deal: ExactDeal, balances: list[int], latches: list[int], period: int, amount: int, rng: tuple[int, int]
) -> tuple[tuple[int, ...], int]:
    """What ``_run_program`` pays each class and leaves (the specification)."""
    state = replace(initial_state(deal), balance=tuple(balances), latch=tuple(latches), period=period - 1)
    w = _Work(deal, state, ExactRemittance(period, 0, 0, 0, 0, 0, 0, 0))
    left = _run_program(deal, w, rng[0], rng[1], amount)
    return tuple(w.prin_paid), left


def _query(rnd: random.Random, deal: ExactDeal) -> tuple[list[int], list[int], int, int, tuple[int, int]]:
    balances = []
    for f in deal.face:
        balances.append(rnd.choice([0, f, rnd.randint(0, f), rnd.randint(0, 2 * f)]))
    latches = [rnd.randint(0, 1) for _ in range(deal.n_triggers)]
    period = rnd.choice([1, 2, rnd.randint(1, 8), rnd.randint(1, 40)])
    total = sum(balances)
    amount = rnd.choice([0, 1, rnd.randint(0, max(total, 1)), total, total + rnd.randint(1, 10**6),
                         rnd.randint(0, max(total // 20, 1))])
    ranges = [deal.principal_prog] + [r for r in deal.accrual_prog if r[1] > r[0]]
    return balances, latches, period, amount, rnd.choice(ranges)


@pytest.fixture(scope="module")
def lean() -> Iterator[Any]:
    """A lean embedded EVM (``openmbs.chain.fastevm``: same results, less Python)."""
    env = boa.Env()
    make_lean(env)
    with boa.swap_env(env):
        yield env


@pytest.fixture(scope="module")
def deals(lean: Any) -> list[tuple[int, ExactDeal, Any]]:
    out = []
    for seed in range(DEALS):
        deal = compile_exact(random_rules_deal(seed))
        out.append((seed, deal, _deploy_quick(deal)))
    return out


def _deploy_quick(deal: ExactDeal) -> Any:
    """``deploy_rule_program`` without titanoboa's per-deployment source map (the same
    init code and constructor arguments, deployed raw, then the same set-up calls)."""
    from eth_abi import encode
    from vyper.compiler.output import build_abi_output

    dep = rule_program_deployer()
    ctor = next(x for x in build_abi_output(dep.compiler_data) if x["type"] == "constructor")
    args = encode([_abi_type(ctor["inputs"][0])], [rule_params(deal)])
    address, _ = boa.env.deploy_code(bytecode=dep.compiler_data.bytecode + args)
    contract = dep.at(address)
    for g, schedule in enumerate(deal.grp_schedule):
        if schedule:
            contract.set_planned(g, list(schedule))
    contract.seal()
    return contract


def _abi_type(x: dict[str, Any]) -> str:
    if x["type"] == "tuple":
        return "(" + ",".join(_abi_type(c) for c in x["components"]) + ")"
    return str(x["type"])


def test_random_programs_on_chain_equal_the_exact_engine(deals: list[tuple[int, ExactDeal, Any]]) -> None:
    seen = {"split": 0, "planned": 0, "skip": 0, "group_rules": 0, "accrual": 0, "left": 0, "deferred": 0}
    for seed, deal, contract in deals:
        rnd = random.Random(1000 + seed)
        ops = set(deal.program[0::4])
        seen["split"] += I_SPLIT in ops
        seen["planned"] += I_PLANNED in ops
        seen["skip"] += I_SKIP in ops
        seen["group_rules"] += 2 in deal.grp_mode
        for _ in range(QUERIES):
            balances, latches, period, amount, rng = _query(rnd, deal)
            want = engine_run(deal, balances, latches, period, amount, rng)
            got = run_rules_onchain(contract, balances, latches, period, amount, rng)
            assert got == want, f"seed {seed}: balances {balances} latches {latches} period {period} amount {amount} range {rng}"
            paid, left = got
            assert sum(paid) + left == amount, f"seed {seed}: money created or lost"
            assert all(p <= b for p, b in zip(paid, balances, strict=True)), f"seed {seed}: paid beyond a balance"
            seen["accrual"] += rng != deal.principal_prog
            seen["left"] += left > 0
            seen["deferred"] += any(period <= d for d in deal.grp_defer)
    # the random deals reached every construct (not a vacuous differential)
    assert all(v >= 5 for v in seen.values()), seen


def test_sixty_four_classes_run_on_chain(lean: Any) -> None:
    """The largest deal the contract takes: 64 classes in 16 groups, paid by rules."""
    from structuring_helpers import build_deal

    names = [f"C{i}" for i in range(RULE_MAX_CLASSES)]
    tranches = [{"name": c, "balance": 1000.0 + i, "rate": 0.05, "priority": 1} for i, c in enumerate(names)]
    groups = [{"name": f"G{g}", "classes": names[4 * g: 4 * g + 4], "pay": ["sequential", "pro_rata", "rules"][g % 3],
               **({"rules": [{"pay": "pro_rata", "classes": names[4 * g: 4 * g + 4]}]} if g % 3 == 2 else {}),
               "planned_balance": [4000.0 - 100 * k for k in range(30)]} for g in range(MAX_GROUPS)]
    rules = [{"pay": "planned", "target": f"G{g}"} for g in range(MAX_GROUPS)]
    rules.append({"pay": "sequential", "classes": [f"G{g}" for g in range(MAX_GROUPS)]})
    deal = compile_exact(build_deal(tranches, pool={"balance": sum(t["balance"] for t in tranches)},
                                    groups=groups, principal_rules=rules))
    contract = deploy_rule_program(deal)
    for period, amount in ((1, 5_000), (3, 40_000), (31, 10**9)):
        want = engine_run(deal, list(deal.face), [], period, amount, deal.principal_prog)
        assert run_rules_onchain(contract, deal.face, [], period, amount, deal.principal_prog) == want
        assert sum(want[0]) + want[1] == amount


def test_bounds_and_instructions_match_the_contract() -> None:
    src = contract_path("RuleProgram").read_text()
    for name, value in {"MAX_CLASSES": RULE_MAX_CLASSES, "MAX_GROUPS": MAX_GROUPS, "MAX_MEMBERS": MAX_MEMBERS,
                        "MAX_INSTR": MAX_INSTR, "MAX_LIST": MAX_LIST, "MAX_REGS": MAX_REGS,
                        "MAX_PLANNED": MAX_PLANNED, "I_SEQ": I_SEQ, "I_PRORATA": I_PRORATA,
                        "I_PLANNED": I_PLANNED, "I_SPLIT": I_SPLIT, "I_MERGE": I_MERGE, "I_SKIP": I_SKIP}.items():
        assert re.search(rf"^{name}: constant\(uint256\) = {value}\b", src, re.M), name
    # `pay` exchanges rows of the waterfall's size: both are the one source's, the
    # shipped value of which is the engine's bound
    waterfall = contract_path("ExactWaterfall").read_text()
    types = contract_path("Deal").with_name("deal_types.vy").read_text()
    assert re.search(r"^WATERFALL_TRANCHES: constant\(uint256\) = deal_types\.MAX_TRANCHES$", src, re.M)
    assert re.search(r"^MAX_TRANCHES: constant\(uint256\) = deal_types\.MAX_TRANCHES$", waterfall, re.M)
    assert re.findall(r"^MAX_TRANCHES: constant\(uint256\) = (\d+)$", types, re.M) == [str(MAX_TRANCHES)]


# ---------------------------------------------------------------- attacks on the set-up


def _small_deal() -> ExactDeal:
    from structuring_helpers import build_deal

    return compile_exact(build_deal(
        [{"name": "A", "balance": 600.0, "rate": 0.05, "priority": 1},
         {"name": "B", "balance": 400.0, "rate": 0.05, "priority": 1}],
        pool={"balance": 1000.0},
        groups=[{"name": "G", "classes": ["A"], "planned_balance": [500.0, 400.0]}],
        principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["B", "G"]}],
    ))


def test_only_the_deployer_loads_schedules_and_seals_and_sealed_is_final() -> None:
    deal = _small_deal()
    owner = boa.env.generate_address()
    mallory = boa.env.generate_address()
    contract = rule_program_deployer().deploy(rule_params(deal), sender=owner)
    with boa.reverts(dev="not sealed"):
        contract.run([600, 400], 0, 1, 100, 0, 2)
    with boa.reverts(dev="only deployer"):
        contract.set_planned(0, [1, 1], sender=mallory)
    with boa.reverts(dev="only deployer"):
        contract.seal(sender=mallory)
    with boa.reverts(dev="unknown group"):
        contract.set_planned(1, [1], sender=owner)
    contract.set_planned(0, list(deal.grp_schedule[0]), sender=owner)
    with boa.reverts(dev="schedule loaded"):
        # a second load could leave a longer schedule's tail behind
        contract.set_planned(0, [0, 0, 0], sender=owner)
    contract.seal(sender=owner)
    with boa.reverts(dev="sealed"):
        contract.seal(sender=owner)
    with boa.reverts(dev="sealed"):
        contract.set_planned(0, [0], sender=owner)
    # the loaded schedule is the one that runs: period 1 pays G down to 500
    paid, left = run_rules_onchain(contract, (600, 400), (), 1, 150, deal.principal_prog)
    assert (paid, left) == engine_run(deal, [600, 400], [], 1, 150, deal.principal_prog) == ((100, 50), 0)
    with boa.reverts(dev="class count"):
        contract.run([600], 0, 1, 1, 0, 2)
    with boa.reverts(dev="bad range"):
        contract.run([600, 400], 0, 1, 1, 0, len(deal.program) // 4 + 1)


def _with_program(deal: ExactDeal, program: list[int], lists: list[int] | None = None,
                  wads: list[int] | None = None) -> ExactDeal:
    lists = list(deal.prog_list) if lists is None else lists
    wads = [0] * len(lists) if wads is None else wads
    return replace(deal, program=tuple(program), prog_list=tuple(lists), prog_wad=tuple(wads),
                   principal_prog=(0, len(program) // 4))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # pay item 5 of a deal with 2 classes and 1 group: outside the deal
        (lambda d: _with_program(d, [I_SEQ, 0, 0, 1], [5]), "bad item"),
        # an operand range past the lists
        (lambda d: _with_program(d, [I_SEQ, 0, 0, 3], [0, 1]), "bad operands"),
        # a register past the register file
        (lambda d: _with_program(d, [I_SEQ, 7, 0, 1], [0]), "bad operands"),
        # a split whose floored shares could exceed the amount (60% + 60%)
        (lambda d: replace(_with_program(d, [I_SPLIT, 0, 0, 3], [1, 2, 3], [6 * 10**17, 6 * 10**17, 0]), n_regs=4),
         "split weights above 100%"),
        (lambda d: _with_program(d, [9, 0, 0, 0]), "unknown instruction"),
        (lambda d: _with_program(d, [I_SKIP, 4, 1, 1]), "bad operands"),
        (lambda d: _with_program(d, [I_PLANNED, 0, 1, 0]), "bad operands"),
        # a group's rules that pay a group (nesting the interpreter has no stack for)
        (lambda d: replace(_with_program(d, [I_SEQ, 1, 0, 1], [2]), n_regs=2, grp_mode=(2,),
                           grp_prog=((0, 1, 1, 2),)), "group in a group's rules"),
        (lambda d: replace(_with_program(d, [I_PLANNED, 1, 0, 0]), n_regs=2, grp_mode=(2,),
                           grp_prog=((0, 1, 1, 2),)), "planned rule in a group's rules"),
        (lambda d: replace(d, grp_members=(0, 7)), "bad member"),
    ],
)
def test_bad_tables_are_refused_at_deployment(change: Any, reason: str) -> None:
    bad = change(_small_deal())
    with boa.reverts(dev=reason):
        rule_program_deployer().deploy(rule_params(bad))
