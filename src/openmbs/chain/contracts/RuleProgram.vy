# pragma version ~=0.4.3
"""
@title openmbs RuleProgram: a deal's priority of payments, run for the waterfall
@custom:contract-name RuleProgram
@license Apache-2.0
@notice A port of the rule-program interpreter of the exact engine
        (`openmbs.structuring._exact`: `_run_program`, `_pay_item`, `_item_balance`,
        `_planned_target`), instruction by instruction, with the same integer
        arithmetic and the same floors. The deal language compiles a deal's
        principal rules, each Z class's accrual rules and each group's own rules to
        one program of four-int instructions (`I_*`); this contract holds that
        program and, given the classes' balances, the trigger latches, the period,
        an amount and an instruction range, returns what the program pays each
        class and the unused amount. It holds nobody's money and changes no state
        when it runs (the balances being paid are in transient storage for the
        call, so no array is copied between internal calls): the waterfall applies
        what it returns.
        Tables (instructions, operand lists, split weights, groups and their
        members) are immutable, packed 16 bits a field; planned-balance schedules
        are loaded into storage by the deployer before `seal` (sealed is final).
        No recursion: the deal language nests at most one level (a group paid by
        its own rules names only its own classes and has no `planned` rule; the
        constructor checks it), so a group's rules run in a second interpreter,
        `_run_group`, that pays classes only (compile-time flattening of the
        nesting, not a stack). Each interpreter keeps its own registers, as each
        Python call of `_run_program` does.
"""

from . import deal_types

# ---------------------------------------------------------------- CONSTANTS

# @dev Bounds (the value of `_exact.py` where it has one; pinned by
# `tests/chain/test_rule_program.py`).
MAX_CLASSES: constant(uint256) = 64
MAX_GROUPS: constant(uint256) = 16
MAX_MEMBERS: constant(uint256) = 64
MAX_INSTR: constant(uint256) = 256
MAX_LIST: constant(uint256) = 256
MAX_REGS: constant(uint256) = 64
MAX_TRIGGERS: constant(uint256) = 4
MAX_PLANNED: constant(uint256) = 600
# @dev `ExactWaterfall`'s MAX_TRANCHES (the build's class bound): the rows of `pay`.
WATERFALL_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
WAD: constant(uint256) = 10**18
LOW16: constant(uint256) = 2**16 - 1
LOW32: constant(uint256) = 2**32 - 1
LOW64: constant(uint256) = 2**64 - 1
LOW112: constant(uint256) = 2**112 - 1
LOW128: constant(uint256) = 2**128 - 1

# @dev Instructions (`_exact.py`'s I_*): op, a, b, c.
I_SEQ: constant(uint256) = 1  # reg, lo, hi: pay items list[lo:hi] in order, each to zero
I_PRORATA: constant(uint256) = 2  # reg, lo, hi: pay items list[lo:hi] by balance
I_PLANNED: constant(uint256) = 3  # reg, g, 0: pay group g down to its planned balance
I_SPLIT: constant(uint256) = 4  # reg, lo, hi: move reg to registers list[lo:hi] by weight
I_MERGE: constant(uint256) = 5  # src, dst, 0: add register src to register dst
I_SKIP: constant(uint256) = 6  # k, count, want: skip count instructions unless latch k == want

# @dev Group payment modes (`_exact.py`'s grp_mode).
MODE_SEQ: constant(uint256) = 0
MODE_PRORATA: constant(uint256) = 1
MODE_RULES: constant(uint256) = 2

# ---------------------------------------------------------------- STRUCTS

# @dev The program of `compile_exact`, packed (see `openmbs.chain._rule_program`):
# instruction i is the 64 bits at `program[i // 4] >> 64 * (i % 4)`: op | a << 16 |
# b << 32 | c << 48; list entry q is the 128 bits at `lists[q // 2] >> 128 * (q % 2)`:
# value (16 bits) | weight << 16 (WAD, a concurrent split's share); group g is
# `groups[g]`: start | end << 16 | mode << 32 | p0 << 48 | p1 << 64 | r_in << 80 |
# deferral << 96 (16 bits each; members `start..end`, its own rules `p0..p1` on
# input register `r_in`, no planned payment while `period <= deferral`); member q
# is the 16 bits at `members[q // 16] >> 16 * (q % 16)`. Program range k (the 32 bits
# at `ranges[k // 8] >> 32 * (k % 8)`: start | end << 16) is class k's accrual rules
# for a Z class k (empty for any other class), and the principal rules for k = N.
struct RuleParams:
    n_classes: uint256
    bears: uint256
    n_instr: uint256
    program: uint256[MAX_INSTR // 4]
    n_list: uint256
    lists: uint256[MAX_LIST // 2]
    n_regs: uint256
    n_groups: uint256
    groups: uint256[MAX_GROUPS]
    n_members: uint256
    members: uint256[MAX_MEMBERS // 16]
    ranges: uint256[MAX_CLASSES // 8 + 1]

# ---------------------------------------------------------------- PARAMETERS

# @dev The packed tables (public: `openmbs chain verify` compares them with the
# deal's compiled program).
params: public(immutable(RuleParams))
# @dev Number of classes (1 to MAX_CLASSES).
N: immutable(uint256)
# @dev Bit i set: class i bears principal (`_bears_principal`: not an IO strip, a
# principal rule other than none); a class item of any other class has balance 0.
BEARS: immutable(uint256)
# @dev The account that deployed the program: it alone loads schedules and seals.
deployer: public(immutable(address))

# @dev Planned (scheduled ending) balance of group g after period p (1, 2, ...);
# 0 after the schedule (`_planned_target`), which is also what an unset key reads.
planned: public(HashMap[uint256, HashMap[uint256, uint256]])
# @dev Bit g set: group g's schedule is loaded (once).
loaded: public(uint256)
# @dev Set by `seal`: the schedules are final and `run` may be called.
sealed: public(bool)
# @dev The balances being paid, for one `run` (transient: gone after the transaction;
# `run` sets every class's entry before it reads any).
_bal: transient(uint256[MAX_CLASSES])

# ---------------------------------------------------------------- EVENTS

event ScheduleLoaded:
    group: indexed(uint256)
    periods: uint256

event Sealed:
    by: indexed(address)

# ---------------------------------------------------------------- SET-UP

@deploy
def __init__(p: RuleParams):
    """
    @notice Create the program of one deal; every table is checked so that `run`
            never reads past a table or pays outside the deal's classes.
    @param p The packed program (`openmbs.chain._rule_program.rule_params`).
    """
    n: uint256 = p.n_classes
    assert n >= 1 and n <= MAX_CLASSES  # dev: class count
    assert p.bears < 1 << n  # dev: bad principal mask
    assert p.n_instr <= MAX_INSTR  # dev: program too long
    assert p.n_list <= MAX_LIST  # dev: lists too long
    assert p.n_regs >= 1 and p.n_regs <= MAX_REGS  # dev: register count
    assert p.n_groups <= MAX_GROUPS  # dev: group count
    assert p.n_members <= MAX_MEMBERS  # dev: member count
    items: uint256 = n + p.n_groups
    for q: uint256 in range(p.n_members, bound=MAX_MEMBERS):
        assert (p.members[q // 16] >> 16 * (q % 16)) & LOW16 < n  # dev: bad member
    for g: uint256 in range(p.n_groups, bound=MAX_GROUPS):
        w: uint256 = p.groups[g]
        assert w & LOW16 <= (w >> 16) & LOW16  # dev: bad group range
        assert (w >> 16) & LOW16 <= p.n_members  # dev: bad group range
        assert (w >> 32) & LOW16 <= MODE_RULES  # dev: bad group mode
        assert w >> 112 == 0  # dev: bad group word
        if (w >> 32) & LOW16 == MODE_RULES:
            p0: uint256 = (w >> 48) & LOW16
            p1: uint256 = (w >> 64) & LOW16
            assert p0 <= p1 and p1 <= p.n_instr  # dev: bad group program
            assert (w >> 80) & LOW16 < p.n_regs  # dev: bad group register
            # one level of nesting: a group's rules pay classes, never a group or a
            # planned balance (so `_run_group` needs no recursion)
            for i: uint256 in range(p0, p1, bound=MAX_INSTR):
                op: uint256 = (p.program[i // 4] >> 64 * (i % 4)) & LOW16
                assert op != I_PLANNED  # dev: planned rule in a group's rules
                if op == I_SEQ or op == I_PRORATA:
                    lo: uint256 = (p.program[i // 4] >> 64 * (i % 4) + 32) & LOW16
                    hi: uint256 = (p.program[i // 4] >> 64 * (i % 4) + 48) & LOW16
                    for q: uint256 in range(lo, hi, bound=MAX_LIST):
                        assert (p.lists[q // 2] >> 128 * (q % 2)) & LOW16 < n  # dev: group in a group's rules
    for i: uint256 in range(p.n_instr, bound=MAX_INSTR):
        ins: uint256 = (p.program[i // 4] >> 64 * (i % 4)) & LOW64
        op: uint256 = ins & LOW16
        a: uint256 = (ins >> 16) & LOW16
        b: uint256 = (ins >> 32) & LOW16
        c: uint256 = ins >> 48
        if op == I_SEQ or op == I_PRORATA:
            assert a < p.n_regs and b <= c and c <= p.n_list  # dev: bad operands
            for q: uint256 in range(b, c, bound=MAX_LIST):
                assert (p.lists[q // 2] >> 128 * (q % 2)) & LOW16 < items  # dev: bad item
        elif op == I_PLANNED:
            assert a < p.n_regs and b < p.n_groups and c == 0  # dev: bad operands
        elif op == I_SPLIT:
            assert a < p.n_regs and b < c and c <= p.n_list  # dev: bad operands
            total: uint256 = 0
            for q: uint256 in range(b, c, bound=MAX_LIST):
                e: uint256 = (p.lists[q // 2] >> 128 * (q % 2)) & LOW128
                assert e & LOW16 < p.n_regs  # dev: bad register
                if q + 1 < c:
                    total += e >> 16
            # the floored shares never exceed the amount: the last one takes the rest
            assert total <= WAD  # dev: split weights above 100%
        elif op == I_MERGE:
            assert a < p.n_regs and b < p.n_regs and c == 0  # dev: bad operands
        elif op == I_SKIP:
            assert a < MAX_TRIGGERS and c <= 1  # dev: bad operands
        else:
            raise "unknown instruction"  # dev: unknown instruction
    for k: uint256 in range(n + 1, bound=MAX_CLASSES + 1):
        r: uint256 = (p.ranges[k // 8] >> 32 * (k % 8)) & LOW32
        assert r & LOW16 <= r >> 16 and r >> 16 <= p.n_instr  # dev: bad program range
    params = p
    N = n
    BEARS = p.bears
    deployer = msg.sender


@external
def set_planned(g: uint256, schedule: DynArray[uint256, MAX_PLANNED]):
    """
    @notice Load group g's planned balances (its scheduled ending balance after
            periods 1, 2, ...; 0 after the last).
    @dev Deployer only, before `seal`, once per group.
    @param g The group's index.
    @param schedule The planned balances, in settlement base units.
    """
    assert msg.sender == deployer  # dev: only deployer
    assert not self.sealed  # dev: sealed
    assert g < params.n_groups  # dev: unknown group
    assert self.loaded >> g & 1 == 0  # dev: schedule loaded
    self.loaded |= 1 << g
    for k: uint256 in range(len(schedule), bound=MAX_PLANNED):
        if schedule[k] != 0:
            self.planned[g][k + 1] = schedule[k]
    log ScheduleLoaded(group=g, periods=len(schedule))


@external
def seal():
    """
    @notice End the set-up: the schedules are final and `run` may be called.
    """
    assert msg.sender == deployer  # dev: only deployer
    assert not self.sealed  # dev: sealed
    self.sealed = True
    log Sealed(by=msg.sender)

# ---------------------------------------------------------------- TABLES

@internal
@view
def _instr(i: uint256) -> uint256:
    return (params.program[i // 4] >> 64 * (i % 4)) & LOW64


@internal
@view
def _entry(q: uint256) -> uint256:
    """List entry q: value (low 16 bits) | weight << 16."""
    return (params.lists[q // 2] >> 128 * (q % 2)) & LOW128


@internal
@view
def _member(q: uint256) -> uint256:
    return (params.members[q // 16] >> 16 * (q % 16)) & LOW16

# ---------------------------------------------------------------- BALANCES

@internal
@view
def _group_balance(g: uint256) -> uint256:
    w: uint256 = params.groups[g]
    total: uint256 = 0
    for q: uint256 in range(w & LOW16, (w >> 16) & LOW16, bound=MAX_MEMBERS):
        total += self._bal[self._member(q)]
    return total


@internal
@view
def _class_balance(i: uint256) -> uint256:
    if BEARS >> i & 1 == 1:
        return self._bal[i]
    return 0


@internal
@view
def _item_balance(item: uint256) -> uint256:
    """`_item_balance`: a class (`item < N`) or a group (`N + g`)."""
    if item < N:
        return self._class_balance(item)
    return self._group_balance(item - N)

# ---------------------------------------------------------------- A GROUP'S OWN RULES

@internal
def _run_group(start: uint256, end: uint256, r_in: uint256, amount: uint256, latches: uint256) -> uint256:
    """
    @dev `_run_program` on a group's own rules: class items only, no planned rule
         (checked by the constructor). Returns the unused amount.
    """
    regs: uint256[MAX_REGS] = empty(uint256[MAX_REGS])
    regs[r_in] = amount
    pc: uint256 = start
    for step: uint256 in range(MAX_INSTR):
        if pc >= end:
            break
        ins: uint256 = self._instr(pc)
        op: uint256 = ins & LOW16
        a: uint256 = (ins >> 16) & LOW16
        b: uint256 = (ins >> 32) & LOW16
        c: uint256 = ins >> 48
        pc += 1
        if op == I_SKIP:
            if latches >> a & 1 != c:
                pc += b
        elif op == I_MERGE:
            regs[b] += regs[a]
            regs[a] = 0
        elif op == I_SPLIT:
            # floored shares by weight, the last sub-rule takes the remainder (exact)
            x: uint256 = regs[a]
            used: uint256 = 0
            for q: uint256 in range(b, c - 1, bound=MAX_LIST):
                e: uint256 = self._entry(q)
                y: uint256 = x * (e >> 16) // WAD
                regs[e & LOW16] += y
                used += y
            regs[self._entry(c - 1) & LOW16] += x - used
            regs[a] = 0
        elif op == I_SEQ:
            for q: uint256 in range(b, c, bound=MAX_LIST):
                if regs[a] == 0:
                    break
                j: uint256 = self._entry(q) & LOW16
                pay: uint256 = min(regs[a], self._class_balance(j))
                self._bal[j] -= pay
                regs[a] -= pay
        elif op == I_PRORATA:
            x: uint256 = regs[a]
            total: uint256 = 0
            for q: uint256 in range(b, c, bound=MAX_LIST):
                total += self._class_balance(self._entry(q) & LOW16)
            if x >= total:
                for q: uint256 in range(b, c, bound=MAX_LIST):
                    j: uint256 = self._entry(q) & LOW16
                    self._bal[j] -= self._class_balance(j)
                regs[a] = x - total
            else:
                left: uint256 = x
                bal_left: uint256 = total
                for q: uint256 in range(b, c, bound=MAX_LIST):
                    if bal_left == 0:
                        break
                    j: uint256 = self._entry(q) & LOW16
                    bj: uint256 = self._class_balance(j)
                    share: uint256 = left * bj // bal_left
                    bal_left -= bj
                    self._bal[j] -= share
                    left -= share
                regs[a] = left
    return regs[r_in]

# ---------------------------------------------------------------- THE DEAL'S PROGRAM

@internal
def _pay_item(item: uint256, amount: uint256, latches: uint256):
    """
    @dev `_pay_item`: `amount` (at most the item's balance) to a class, or to a
         group by its mode (members in order; by balance, remaining method; its own
         rules, which must use all of it).
    """
    if item < N:
        self._bal[item] -= amount
        return
    w: uint256 = params.groups[item - N]
    start: uint256 = w & LOW16
    end: uint256 = (w >> 16) & LOW16
    mode: uint256 = (w >> 32) & LOW16
    if mode == MODE_RULES:
        left: uint256 = self._run_group((w >> 48) & LOW16, (w >> 64) & LOW16, (w >> 80) & LOW16, amount, latches)
        assert left == 0  # dev: a group's rules left part of its payment
        return
    rest: uint256 = amount
    if mode == MODE_SEQ:
        for q: uint256 in range(start, end, bound=MAX_MEMBERS):
            if rest == 0:
                break
            j: uint256 = self._member(q)
            pay: uint256 = min(rest, self._bal[j])
            self._bal[j] -= pay
            rest -= pay
        return
    bal_left: uint256 = 0
    for q: uint256 in range(start, end, bound=MAX_MEMBERS):
        bal_left += self._bal[self._member(q)]
    for q: uint256 in range(start, end, bound=MAX_MEMBERS):
        if bal_left == 0:
            break
        j: uint256 = self._member(q)
        bj: uint256 = self._bal[j]
        share: uint256 = rest * bj // bal_left
        bal_left -= bj
        self._bal[j] -= share
        rest -= share


@internal
def _run(start: uint256, end: uint256, amount: uint256, latches: uint256, period: uint256) -> uint256:
    """
    @dev `_run_program` on register 0: returns the unused amount.
    """
    regs: uint256[MAX_REGS] = empty(uint256[MAX_REGS])
    regs[0] = amount
    pc: uint256 = start
    for step: uint256 in range(MAX_INSTR):
        if pc >= end:
            break
        ins: uint256 = self._instr(pc)
        op: uint256 = ins & LOW16
        a: uint256 = (ins >> 16) & LOW16
        b: uint256 = (ins >> 32) & LOW16
        c: uint256 = ins >> 48
        pc += 1
        if op == I_SKIP:
            if latches >> a & 1 != c:
                pc += b
        elif op == I_MERGE:
            regs[b] += regs[a]
            regs[a] = 0
        elif op == I_SPLIT:
            # floored shares by weight, the last sub-rule takes the remainder (exact)
            x: uint256 = regs[a]
            used: uint256 = 0
            for q: uint256 in range(b, c - 1, bound=MAX_LIST):
                e: uint256 = self._entry(q)
                y: uint256 = x * (e >> 16) // WAD
                regs[e & LOW16] += y
                used += y
            regs[self._entry(c - 1) & LOW16] += x - used
            regs[a] = 0
        elif op == I_PLANNED:
            if period <= (params.groups[b] >> 96) & LOW16:
                continue  # the schedule is deferred: caught up later
            excess: uint256 = self._group_balance(b)
            target: uint256 = self.planned[b][period]
            if excess > target and regs[a] > 0:
                pay: uint256 = min(regs[a], excess - target)
                self._pay_item(N + b, pay, latches)
                regs[a] -= pay
        elif op == I_SEQ:
            for q: uint256 in range(b, c, bound=MAX_LIST):
                if regs[a] == 0:
                    break
                item: uint256 = self._entry(q) & LOW16
                pay: uint256 = min(regs[a], self._item_balance(item))
                self._pay_item(item, pay, latches)
                regs[a] -= pay
        elif op == I_PRORATA:
            x: uint256 = regs[a]
            total: uint256 = 0
            for q: uint256 in range(b, c, bound=MAX_LIST):
                total += self._item_balance(self._entry(q) & LOW16)
            if x >= total:
                for q: uint256 in range(b, c, bound=MAX_LIST):
                    item: uint256 = self._entry(q) & LOW16
                    self._pay_item(item, self._item_balance(item), latches)
                regs[a] = x - total
            else:
                left: uint256 = x
                bal_left: uint256 = total
                for q: uint256 in range(b, c, bound=MAX_LIST):
                    if bal_left == 0:
                        break
                    item: uint256 = self._entry(q) & LOW16
                    bi: uint256 = self._item_balance(item)
                    share: uint256 = left * bi // bal_left
                    bal_left -= bi
                    self._pay_item(item, share, latches)
                    left -= share
                regs[a] = left
    return regs[0]

# ---------------------------------------------------------------- ENTRY POINTS

@internal
def _pay(
    balances: DynArray[uint256, MAX_CLASSES], latches: uint256, period: uint256, amount: uint256, start: uint256, end: uint256
) -> (DynArray[uint256, MAX_CLASSES], uint256):
    assert len(balances) == N  # dev: class count
    for i: uint256 in range(N, bound=MAX_CLASSES):
        self._bal[i] = balances[i]
    left: uint256 = self._run(start, end, amount, latches, period)
    paid: DynArray[uint256, MAX_CLASSES] = []
    for i: uint256 in range(N, bound=MAX_CLASSES):
        paid.append(balances[i] - self._bal[i])
    return paid, left


@external
def pay(
    balances: uint256[WATERFALL_TRANCHES], latches: uint256, period: uint256, amount: uint256, which: uint256
) -> (uint256[WATERFALL_TRANCHES], uint256):
    """
    @notice Pay `amount` by the deal's principal rules (`which` = the class count) or
            by Z class `which`'s accrual rules: what `ExactWaterfall` calls, with its
            fixed-size rows (rows past the class count are ignored and paid 0).
    @dev Changes no state (see `run`). No `sealed` check here: the waterfall checks
         at its own `seal` that its program is sealed, and a program cannot be
         unsealed.
    @param balances The classes' balances (in the deal's order).
    @param latches Bit k set: trigger k is latched this period.
    @param period The period being paid (1, 2, ...).
    @param amount The cash to pay, in settlement base units.
    @param which A Z class's index, or the class count for the principal rules.
    @return The principal paid to each class, and the unused part of `amount`.
    """
    assert N <= WATERFALL_TRANCHES  # dev: class count
    assert which <= N  # dev: bad program
    r: uint256 = (params.ranges[which // 8] >> 32 * (which % 8)) & LOW32
    for i: uint256 in range(N, bound=WATERFALL_TRANCHES):
        self._bal[i] = balances[i]
    left: uint256 = self._run(r & LOW16, r >> 16, amount, latches, period)
    paid: uint256[WATERFALL_TRANCHES] = empty(uint256[WATERFALL_TRANCHES])
    for i: uint256 in range(N, bound=WATERFALL_TRANCHES):
        paid[i] = balances[i] - self._bal[i]
    return paid, left


@external
def run(
    balances: DynArray[uint256, MAX_CLASSES],
    latches: uint256,
    period: uint256,
    amount: uint256,
    start: uint256,
    end: uint256,
) -> (DynArray[uint256, MAX_CLASSES], uint256):
    """
    @notice Pay `amount` by the program's instructions `start..end` on register 0.
    @dev Changes no state: the balances being paid live in transient storage for
         the call (set from `balances` first, so an earlier call in the same
         transaction leaves nothing behind). Anyone may call it.
    @param balances The classes' balances (one per class, in the deal's order).
    @param latches Bit k set: trigger k is latched this period.
    @param period The period being paid (1, 2, ...).
    @param amount The cash to pay, in settlement base units.
    @param start First instruction.
    @param end One past the last instruction.
    @return The principal paid to each class, and the unused part of `amount`.
    """
    assert self.sealed  # dev: not sealed
    assert start <= end and end <= params.n_instr  # dev: bad range
    return self._pay(balances, latches, period, amount, start, end)


@external
@pure
def max_tranches() -> uint256:
    """
    @notice The class bound of this build (`deal_types.MAX_TRANCHES`): the rows of
            `pay` it exchanges with the waterfall.
    """
    return WATERFALL_TRANCHES


@external
@view
def n_classes() -> uint256:
    """
    @notice Number of classes of the deal the program pays.
    """
    return N
