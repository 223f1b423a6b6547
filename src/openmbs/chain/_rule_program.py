"""Deploy and run ``RuleProgram.vy``, the on-chain port of the rule-program interpreter.

The deal language (``[[groups]]``, ``[[principal_rules]]``, ``[[accrual_rules]]``)
compiles to a program of four-int instructions (``I_*`` in
:mod:`openmbs.structuring._exact`) with operand lists, split weights and group tables;
:func:`rule_params` packs them into the contract's immutable ``RuleParams`` (16 bits a
field), :func:`deploy_rule_program` deploys it, loads the groups' planned balances and
seals it, and :func:`run_rules_onchain` runs one program range on given balances, as
``_exact._run_program`` does.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from openmbs.chain._contracts import BOUNDS, abi_deployer, bound_for, deployer
from openmbs.errors import ChainError
from openmbs.structuring import F_IO, WAD, ExactDeal

__all__ = [
    "MAX_GROUPS",
    "MAX_INSTR",
    "MAX_LIST",
    "MAX_MEMBERS",
    "MAX_PLANNED",
    "MAX_REGS",
    "RULE_MAX_CLASSES",
    "deploy_rule_program",
    "rule_params",
    "rule_program_deployer",
    "run_rules_onchain",
]

#: The contract's bounds (``RuleProgram.vy``'s constants; a test pins them).
RULE_MAX_CLASSES = 64
MAX_GROUPS = 16
MAX_MEMBERS = 64
MAX_INSTR = 256
MAX_LIST = 256
MAX_REGS = 64
MAX_PLANNED = 600
_FIELD = 2**16
#: ``_exact.PR_NONE``: a class with this principal rule bears no principal.
_PR_NONE = 0


@cache
def rule_program_deployer(bound: int = BOUNDS[-1]) -> Any:
    """A cached titanoboa deployer (``boa.load_partial``) of ``RuleProgram.vy`` in the
    ``bound``-class build (its ``pay`` rows; ``openmbs.chain._contracts.BOUNDS``)."""
    return deployer("RuleProgram", bound)


def _bound(value: int, limit: int, what: str) -> int:
    if not 0 <= value < limit:
        raise ChainError(f"rule program: {what} is {value}, outside the contract's range 0..{limit - 1}")
    return value


def _words(fields: list[int], per_word: int, bits: int, size: int) -> list[int]:
    out = [0] * size
    for k, v in enumerate(fields):
        out[k // per_word] |= v << (bits * (k % per_word))
    return out


def rule_params(deal: ExactDeal) -> tuple[Any, ...]:
    """The contract's ``RuleParams`` struct (field order) from a compiled deal.

    Raises :class:`~openmbs.errors.ChainError` naming the table that exceeds a bound
    of the contract (classes, groups, members, instructions, operands, registers).
    """
    n = deal.n_tranches
    _bound(n, RULE_MAX_CLASSES + 1, "the number of classes")
    n_instr = len(deal.program) // 4
    _bound(n_instr, MAX_INSTR + 1, "the number of instructions")
    _bound(len(deal.prog_list), MAX_LIST + 1, "the number of operands")
    _bound(deal.n_regs, MAX_REGS + 1, "the number of registers")
    _bound(deal.n_groups, MAX_GROUPS + 1, "the number of groups")
    _bound(len(deal.grp_members), MAX_MEMBERS + 1, "the number of group members")
    bears = 0
    for i in range(n):
        if deal.rule[i] != _PR_NONE and deal.flags[i] & F_IO == 0:
            bears |= 1 << i
    instr = []
    for k in range(n_instr):
        op, a, b, c = deal.program[4 * k : 4 * k + 4]
        word = 0
        for j, v in enumerate((op, a, b, c)):
            word |= _bound(v, _FIELD, f"instruction {k} field {j}") << (16 * j)
        instr.append(word)
    entries = []
    for q, (v, wad) in enumerate(zip(deal.prog_list, deal.prog_wad, strict=True)):
        _bound(wad, WAD + 1, f"operand {q}'s weight")
        entries.append(_bound(v, _FIELD, f"operand {q}") | wad << 16)
    groups = []
    for g in range(deal.n_groups):
        p0, p1, r_in = deal.grp_prog[g][:3] if deal.grp_prog else (0, 0, 0)
        defer = deal.grp_defer[g] if deal.grp_defer else 0
        fields = (deal.grp_start[g], deal.grp_end[g], deal.grp_mode[g], p0, p1, r_in, defer)
        word = 0
        for j, v in enumerate(fields):
            word |= _bound(v, _FIELD, f"group {g} field {j}") << (16 * j)
        groups.append(word)
    ranges = [*(deal.accrual_prog or ((0, 0),) * n), deal.principal_prog]
    packed_ranges = [_bound(a, _FIELD, "a program range") | _bound(b, _FIELD, "a program range") << 16
                     for a, b in ranges]
    return (
        n,
        bears,
        n_instr,
        _words(instr, 4, 64, MAX_INSTR // 4),
        len(deal.prog_list),
        _words(entries, 2, 128, MAX_LIST // 2),
        deal.n_regs,
        deal.n_groups,
        groups + [0] * (MAX_GROUPS - len(groups)),
        len(deal.grp_members),
        _words(list(deal.grp_members), 16, 16, MAX_MEMBERS // 16),
        _words(packed_ranges, 8, 32, RULE_MAX_CLASSES // 8 + 1),
    )


def deploy_rule_program(
    deal: ExactDeal, *, sender: str | None = None, from_artifact: bool = False, bound: int | None = None
) -> Any:
    """Deploy ``RuleProgram`` for ``deal``, load its groups' planned balances, seal it.

    Parameters
    ----------
    deal : ExactDeal
        A compiled deal with rules (:func:`openmbs.structuring.compile_exact`).
    sender : str, optional
        Deployer (default ``boa.env.eoa``); it alone loads the schedules and seals.
    from_artifact : bool
        Deploy from the cached compiled artefact (``abi_deployer``).
    bound : int, optional
        The build's class bound (its waterfall's: the rows of ``pay``); default the
        smallest that holds the deal's classes (``bound_for``; the largest for a
        program of more classes than a waterfall takes).

    Returns
    -------
    The titanoboa contract.
    """
    kw: dict[str, Any] = {} if sender is None else {"sender": sender}
    if bound is None:  # a program alone may have up to 64 classes; the largest build then
        bound = bound_for(min(deal.n_tranches, BOUNDS[-1]))
    dep = abi_deployer("RuleProgram", bound) if from_artifact else rule_program_deployer(bound)
    contract = dep.deploy(rule_params(deal), **kw)
    for g, schedule in enumerate(deal.grp_schedule):
        if schedule:
            if len(schedule) > MAX_PLANNED:
                raise ChainError(
                    f"rule program: the planned balance of group {deal.group_names[g]!r} has "
                    f"{len(schedule)} periods, more than {MAX_PLANNED}"
                )
            contract.set_planned(g, list(schedule), **kw)
    contract.seal(**kw)
    return contract


def run_rules_onchain(
    contract: Any,
    balances: tuple[int, ...] | list[int],
    latches: tuple[int, ...] | list[int],
    period: int,
    amount: int,
    prog_range: tuple[int, int],
) -> tuple[tuple[int, ...], int]:
    """Run the program range ``prog_range`` on chain (a call that changes no state).

    Returns the principal paid to each class and the unused amount, as
    ``_exact._run_program`` leaves them (its ``prin_paid`` and return value).
    """
    mask = 0
    for k, v in enumerate(latches):
        if v:
            mask |= 1 << k
    paid, left = contract.run(list(balances), mask, period, amount, prog_range[0], prog_range[1])
    return tuple(int(x) for x in paid), int(left)
