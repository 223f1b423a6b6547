# pragma version ~=0.4.3
"""
@title openmbs ExactWaterfall: the exact integer waterfall, ported from Python
@custom:contract-name ExactWaterfall
@license Apache-2.0
@notice A line-by-line port of `openmbs.structuring._exact.apply_period`: the same
        steps in the deal's order, the same integer arithmetic and the same floors
        (operands in the same order, so every intermediate value is the same), and
        trigger tests evaluated as `a * WAD < thr * b`. Parameters are the flat
        integers of `compile_exact` (constructor, immutable), plus PAC schedules
        loaded by the deployer before `seal`.
        The waterfall keeps the exact engine's state (balances, shortfalls,
        write-downs, unpaid fees, reserve, trigger latches, cumulative loss, dust,
        per-unit indices and their carries) in its own storage, so `allocate` and
        `apply` are NOT view and only the bound deal may call them.
        Scratch values of one period live in transient storage (the Python
        `_Work` object), so the step functions can share them as in Python.
"""

from . import deal_types

# ---------------------------------------------------------------- CONSTANTS

MAX_TRANCHES: constant(uint256) = 8
MAX_FEES: constant(uint256) = 4
MAX_TRIGGERS: constant(uint256) = 4
MAX_STEPS: constant(uint256) = 16
MAX_PAC: constant(uint256) = 360
STATE_WORDS: constant(uint256) = deal_types.STATE_WORDS
WAD: constant(uint256) = 10**18
MONTHS: constant(uint256) = 12
LOW128: constant(uint256) = 2**128 - 1
LOW127: constant(uint256) = 2**127 - 1
MARKER: constant(uint256) = 2**255
VALUE: constant(uint256) = 2**255 - 1
LOW64: constant(uint256) = 2**64 - 1
NZ_WD: constant(uint256) = 128
NZ_FEE: constant(uint256) = 136
NZ_CUM: constant(uint256) = 140
NZ_DUST: constant(uint256) = 141

CPN_NONE: constant(uint256) = 0
CPN_FIXED: constant(uint256) = 1
CPN_FLOAT: constant(uint256) = 2
CPN_NETWAC: constant(uint256) = 3
CPN_FIXED_CAPPED: constant(uint256) = 4

PR_NONE: constant(uint256) = 0
PR_SEQ: constant(uint256) = 1
PR_PRORATA: constant(uint256) = 2
PR_PAC: constant(uint256) = 3
PR_SUPPORT: constant(uint256) = 4

F_IO: constant(uint256) = 1
F_PO: constant(uint256) = 2
F_Z: constant(uint256) = 4
NOTIONAL_POOL: constant(uint256) = 255

T_OC: constant(uint256) = 1
T_IC: constant(uint256) = 2
T_CUMLOSS: constant(uint256) = 3
T_DELINQ: constant(uint256) = 4

E_SEQUENTIAL: constant(uint256) = 1
E_TRAP: constant(uint256) = 2
E_TURBO: constant(uint256) = 4

R_COVERS_INTEREST: constant(uint256) = 1
R_COVERS_LOSSES: constant(uint256) = 2

OP_FEES: constant(uint256) = 1
OP_INTEREST: constant(uint256) = 2
OP_WRITEUP: constant(uint256) = 3
OP_PRINCIPAL: constant(uint256) = 4
OP_XS_LOSS: constant(uint256) = 5
OP_RESERVE_LOSS: constant(uint256) = 6
OP_WRITEDOWN: constant(uint256) = 7
OP_TRIGGER_XS: constant(uint256) = 8
OP_RESERVE_TOPUP: constant(uint256) = 9
OP_RESIDUAL: constant(uint256) = 10

# ---------------------------------------------------------------- STRUCTS

# @dev `ExactDeal` of `_exact.py` (PAC schedules apart), arrays padded with zeros.
struct ExactParams:
    n_tranches: uint256
    face: uint256[MAX_TRANCHES]
    coupon_kind: uint256[MAX_TRANCHES]
    rate: uint256[MAX_TRANCHES]
    margin: int256[MAX_TRANCHES]
    cap: uint256[MAX_TRANCHES]
    floor: uint256[MAX_TRANCHES]
    priority: uint256[MAX_TRANCHES]
    rank_start: uint256[MAX_TRANCHES]
    rank_end: uint256[MAX_TRANCHES]
    rule: uint256[MAX_TRANCHES]
    group_start: uint256[MAX_TRANCHES]
    group_end: uint256[MAX_TRANCHES]
    lockout: uint256[MAX_TRANCHES]
    flags: uint256[MAX_TRANCHES]
    io_ref: uint256[MAX_TRANCHES]
    accretion_mask: uint256[MAX_TRANCHES]
    n_fees: uint256
    fee_rate: uint256[MAX_FEES]
    fee_fixed: uint256[MAX_FEES]
    fee_cap: uint256[MAX_FEES]
    reserve_initial: uint256
    reserve_floor: uint256
    reserve_pct: uint256
    reserve_flags: uint256
    n_triggers: uint256
    trig_test: uint256[MAX_TRIGGERS]
    trig_ref: uint256[MAX_TRIGGERS]
    trig_threshold: uint256[MAX_TRIGGERS]
    trig_effect: uint256[MAX_TRIGGERS]
    trig_curable: uint256[MAX_TRIGGERS]
    n_steps: uint256
    steps: uint256[MAX_STEPS]
    interest_on_shortfall: uint256
    cleanup_wad: uint256
    pool_original: uint256


# @dev `ExactRemittance` of `_exact.py`.
struct ExactRemittance:
    period: uint256
    interest: uint256
    scheduled_principal: uint256
    prepaid_principal: uint256
    recoveries: uint256
    realized_losses: uint256
    beginning_balance: uint256
    ending_balance: uint256
    delinquent_60: uint256
    index_rate: uint256
    subsequent_recoveries: uint256


# @dev `ExactPeriodResult` of `_exact.py` (`dust_change` signed).
struct ExactResult:
    period: uint256
    beginning_balance: uint256[MAX_TRANCHES]
    interest_due: uint256[MAX_TRANCHES]
    interest_paid: uint256[MAX_TRANCHES]
    accreted: uint256[MAX_TRANCHES]
    interest_shortfall: uint256[MAX_TRANCHES]
    principal_paid: uint256[MAX_TRANCHES]
    writedown: uint256[MAX_TRANCHES]
    writeup: uint256[MAX_TRANCHES]
    ending_balance: uint256[MAX_TRANCHES]
    fees_paid: uint256[MAX_FEES]
    reserve_draw: uint256
    reserve_deposit: uint256
    reserve_release: uint256
    reserve_balance: uint256
    trigger_failing: uint256[MAX_TRIGGERS]
    effects: uint256
    residual_paid: uint256
    dust: uint256
    dust_change: int256
    cash_in: uint256
    cash_out: uint256
    cleanup_eligible: bool
    interest_index: uint256[MAX_TRANCHES]
    principal_index: uint256[MAX_TRANCHES]
    loss_index: uint256[MAX_TRANCHES]
    writeup_index: uint256[MAX_TRANCHES]


# @dev `ExactState` of `_exact.py`; `index` / `carry` rows: 0 interest, 1 principal,
# 2 loss, 3 write-up.
struct ExactStateOut:
    period: uint256
    balance: uint256[MAX_TRANCHES]
    shortfall: uint256[MAX_TRANCHES]
    writedown: uint256[MAX_TRANCHES]
    fee_shortfall: uint256[MAX_FEES]
    reserve: uint256
    latch: uint256[MAX_TRIGGERS]
    cum_loss: uint256
    dust: uint256
    index: uint256[MAX_TRANCHES][4]
    carry: uint256[MAX_TRANCHES][4]


# ---------------------------------------------------------------- PARAMETERS

P: immutable(ExactParams)
deployer: public(immutable(address))
deal: public(immutable(address))

# @dev PAC scheduled ending balances, per tranche, for periods 1, 2, ...
pac_schedule: HashMap[uint256, DynArray[uint256, MAX_PAC]]

# ---------------------------------------------------------------- STATE (`ExactState`)

# @dev Storage is packed so that a period writes few words and never sets a zero
# word (20,000 gas) in normal running: bit 255 of the state words is a marker set at
# deployment; a class's balance and interest shortfall share a word; the trigger
# latches share the period's word.
# @dev MARKER (set by `seal`: 0 before) | SEALED | nonzero flags (bit 128 + i: the
# write-down of tranche i; bit 136 + k: fee shortfall k; bit 140: cumulative loss;
# bit 141: dust) | trigger latches (bit 64 + k) | period (low 64 bits). The nonzero
# flags let a period skip the cold reads of words that hold 0 (2,100 gas each).
_period: uint256
# @dev balance (high 128 bits) | interest shortfall (low 128 bits), per tranche.
_bal_short: uint256[MAX_TRANCHES]
# @dev The words below hold MARKER | value (see the getters).
_writedown: uint256[MAX_TRANCHES]
_fee_short: uint256[MAX_FEES]
_reserve: uint256
_cum_loss: uint256
_dust: uint256
# @dev Per-unit index (bits 128-254) and the remainder of its divisions (low 128
# bits), per tranche: 0 interest, 1 principal, 2 loss, 3 write-up; bit 255 marker.
_index: uint256[MAX_TRANCHES][4]

# ---------------------------------------------------------------- PERIOD SCRATCH (`_Work`)

t_period: transient(uint256)
t_interest: transient(uint256)
t_pool_beg: transient(uint256)
t_pool_end: transient(uint256)
t_delinquent: transient(uint256)
t_index_rate: transient(uint256)
t_ifunds: transient(uint256)
t_pfunds: transient(uint256)
t_bal: transient(uint256[MAX_TRANCHES])
t_beg: transient(uint256[MAX_TRANCHES])
t_short: transient(uint256[MAX_TRANCHES])
t_wd: transient(uint256[MAX_TRANCHES])
t_fee_short: transient(uint256[MAX_FEES])
t_reserve: transient(uint256)
t_latch: transient(uint256[MAX_TRIGGERS])
t_cum_loss: transient(uint256)
t_dust: transient(uint256)
t_int_due: transient(uint256[MAX_TRANCHES])
t_int_paid: transient(uint256[MAX_TRANCHES])
t_accreted: transient(uint256[MAX_TRANCHES])
t_prin_paid: transient(uint256[MAX_TRANCHES])
t_loss: transient(uint256[MAX_TRANCHES])
t_writeup: transient(uint256[MAX_TRANCHES])
t_fee_paid: transient(uint256[MAX_FEES])
t_failing: transient(uint256[MAX_TRIGGERS])
t_rdraw: transient(uint256)
t_rrelease: transient(uint256)
t_rdeposit: transient(uint256)
t_residual: transient(uint256)
t_effects: transient(uint256)
t_netwac: transient(uint256)


# ---------------------------------------------------------------- SET-UP

@deploy
def __init__(p: ExactParams, deal_: address):
    """
    @notice Create the waterfall of one deal.
    @param p The flat integer parameters of `compile_exact` (PAC schedules apart).
    @param deal_ The only address allowed to call `allocate` and `apply`.
    """
    assert deal_ != empty(address)  # dev: zero deal
    n: uint256 = p.n_tranches
    assert n >= 1 and n <= MAX_TRANCHES  # dev: tranche count
    assert p.n_fees <= MAX_FEES  # dev: fee count
    assert p.n_triggers <= MAX_TRIGGERS  # dev: trigger count
    assert p.n_steps <= MAX_STEPS  # dev: step count
    for s: uint256 in range(p.n_steps, bound=MAX_STEPS):
        assert p.steps[s] >= OP_FEES and p.steps[s] <= OP_RESIDUAL  # dev: unknown step
    assert p.pool_original <= LOW128  # dev: pool too large
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        assert p.face[i] <= LOW128  # dev: face too large
        assert p.coupon_kind[i] <= CPN_FIXED_CAPPED  # dev: unknown coupon kind
        assert p.rule[i] <= PR_SUPPORT  # dev: unknown principal rule
        assert p.flags[i] < 8  # dev: unknown tranche flag
        assert p.rank_start[i] <= i and i < p.rank_end[i] and p.rank_end[i] <= n  # dev: bad rank
        assert p.group_start[i] <= i and i < p.group_end[i] and p.group_end[i] <= n  # dev: bad group
        if p.flags[i] & F_IO != 0:
            assert p.io_ref[i] == NOTIONAL_POOL or p.io_ref[i] < n  # dev: bad IO reference
        assert p.accretion_mask[i] < 2**n  # dev: bad accretion mask
        self._bal_short[i] = p.face[i] << 128
        for kind: uint256 in range(4):
            self._index[kind][i] = MARKER
    for k: uint256 in range(p.n_triggers, bound=MAX_TRIGGERS):
        assert p.trig_test[k] >= T_OC and p.trig_test[k] <= T_DELINQ  # dev: unknown trigger test
        assert p.trig_ref[k] < n  # dev: bad trigger tranche
        assert p.trig_effect[k] < 8  # dev: unknown trigger effect
    assert p.reserve_flags < 4  # dev: unknown reserve flag
    P = p
    deployer = msg.sender
    deal = deal_
    self._reserve = MARKER | p.reserve_initial
    self._cum_loss = MARKER
    self._dust = MARKER
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        self._writedown[i] = MARKER
    for k: uint256 in range(p.n_fees, bound=MAX_FEES):
        self._fee_short[k] = MARKER


@external
def set_pac_schedule(i: uint256, schedule: DynArray[uint256, MAX_PAC]):
    """
    @notice Load a PAC class's scheduled ending balances (periods 1, 2, ...).
    @dev Deployer only, before `seal`.
    """
    assert msg.sender == deployer  # dev: only deployer
    assert self._period & MARKER == 0  # dev: sealed
    assert i < P.n_tranches and P.rule[i] == PR_PAC  # dev: not a PAC class
    self.pac_schedule[i] = schedule


@external
def seal():
    """
    @notice End the set-up: parameters are final, `allocate` may run.
    """
    assert msg.sender == deployer  # dev: only deployer
    assert self._period & MARKER == 0  # dev: sealed
    self._period = MARKER


# ---------------------------------------------------------------- SMALL HELPERS

@internal
@pure
def _monthly(amount: uint256, rate_wad: uint256) -> uint256:
    return amount * rate_wad // (MONTHS * WAD)


@internal
@view
def _bears_principal(i: uint256) -> bool:
    return P.rule[i] != PR_NONE and P.flags[i] & F_IO == 0


@internal
@view
def _locked(i: uint256) -> bool:
    return self.t_period <= P.lockout[i]


@internal
@view
def _fee_current(k: uint256, pool_beg: uint256) -> uint256:
    fee: uint256 = self._monthly(pool_beg, P.fee_rate[k]) + P.fee_fixed[k]
    if P.fee_cap[k] > 0 and fee > P.fee_cap[k]:
        fee = P.fee_cap[k]
    return fee


@internal
@view
def _fees_now() -> uint256:
    total: uint256 = 0
    pool_beg: uint256 = self.t_pool_beg
    for k: uint256 in range(P.n_fees, bound=MAX_FEES):
        total += self._fee_current(k, pool_beg)
    return total


@internal
@view
def _coupon_rate(i: uint256) -> uint256:
    kind: uint256 = P.coupon_kind[i]
    if kind == CPN_FIXED:
        return P.rate[i]
    if kind == CPN_FLOAT:
        r: int256 = convert(self.t_index_rate, int256) + P.margin[i]
        if r < convert(P.floor[i], int256):
            r = convert(P.floor[i], int256)
        if P.cap[i] > 0 and r > convert(P.cap[i], int256):
            r = convert(P.cap[i], int256)
        return convert(max(r, 0), uint256)
    if kind == CPN_NETWAC:
        return convert(max(convert(self.t_netwac, int256) + P.margin[i], 0), uint256)
    if kind == CPN_FIXED_CAPPED:
        return min(P.rate[i], self.t_netwac)
    return 0


@internal
@view
def _pac_target(i: uint256, period: uint256) -> uint256:
    n: uint256 = len(self.pac_schedule[i])
    if period <= n:
        return self.pac_schedule[i][period - 1]
    return 0


@internal
@view
def _reserve_target(pool_end: uint256) -> uint256:
    if pool_end == 0:
        return 0
    target: uint256 = pool_end * P.reserve_pct // WAD
    return max(target, P.reserve_floor)


@internal
@view
def _deficiency() -> uint256:
    total: uint256 = 0
    for i: uint256 in range(P.n_tranches, bound=MAX_TRANCHES):
        if self._bears_principal(i):
            total += self.t_bal[i]
    pool_end: uint256 = self.t_pool_end
    if total > pool_end:
        return total - pool_end
    return 0


@internal
def _pay_principal(i: uint256, amount: uint256):
    self.t_bal[i] -= amount
    self.t_prin_paid[i] += amount


@internal
def _pro_rata(start: uint256, end: uint256, amount: uint256) -> uint256:
    total: uint256 = 0
    for j: uint256 in range(start, end, bound=MAX_TRANCHES):
        if not self._locked(j):
            total += self.t_bal[j]
    if total == 0:
        return amount
    if amount >= total:
        for j: uint256 in range(start, end, bound=MAX_TRANCHES):
            if not self._locked(j):
                self._pay_principal(j, self.t_bal[j])
        return amount - total
    left: uint256 = amount
    bal_left: uint256 = total
    for j: uint256 in range(start, end, bound=MAX_TRANCHES):
        b: uint256 = self.t_bal[j]
        if self._locked(j) or b == 0:
            continue
        share: uint256 = left * b // bal_left
        bal_left -= b
        self._pay_principal(j, share)
        left -= share
    return left


@internal
def _distribute(amount_: uint256, sequential: bool) -> uint256:
    amount: uint256 = amount_
    n: uint256 = P.n_tranches
    period: uint256 = self.t_period
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        if amount == 0:
            return 0
        if P.rule[i] == PR_PAC and not self._locked(i):
            target: uint256 = self._pac_target(i, period)
            b: uint256 = self.t_bal[i]
            if b > target:
                pay: uint256 = min(amount, b - target)
                self._pay_principal(i, pay)
                amount -= pay
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        if amount == 0:
            return 0
        rule: uint256 = P.rule[i]
        if (rule != PR_SEQ and rule != PR_PRORATA and rule != PR_SUPPORT) or P.flags[i] & F_IO != 0:
            continue
        if self._locked(i):
            continue
        if rule == PR_PRORATA and not sequential:
            if P.group_start[i] == i:
                amount = self._pro_rata(i, P.group_end[i], amount)
            continue
        pay: uint256 = min(amount, self.t_bal[i])
        self._pay_principal(i, pay)
        amount -= pay
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        if amount == 0:
            return 0
        if self._bears_principal(i):
            pay: uint256 = min(amount, self.t_bal[i])
            self._pay_principal(i, pay)
            amount -= pay
    return amount


@internal
def _write_down(i: uint256, amount: uint256):
    self.t_bal[i] -= amount
    self.t_loss[i] += amount
    self.t_wd[i] += amount


# ---------------------------------------------------------------- STEP 0: TRIGGERS

@internal
def _test_triggers():
    fees_now: uint256 = self._fees_now()
    n: uint256 = P.n_tranches
    effects: uint256 = 0
    for k: uint256 in range(P.n_triggers, bound=MAX_TRIGGERS):
        test: uint256 = P.trig_test[k]
        thr: uint256 = P.trig_threshold[k]
        fail: bool = False
        if test == T_OC or test == T_IC:
            ref_rank: uint256 = P.priority[P.trig_ref[k]]
            den: uint256 = 0
            for i: uint256 in range(n, bound=MAX_TRANCHES):
                if P.priority[i] > ref_rank:
                    continue
                if test == T_OC and self._bears_principal(i):
                    den += self.t_beg[i]
                if test == T_IC:
                    den += self._monthly(self.t_beg[i], self._coupon_rate(i))
            if test == T_OC:
                fail = den > 0 and self.t_pool_end * WAD < thr * den
            else:
                num: uint256 = 0
                if self.t_interest > fees_now:
                    num = self.t_interest - fees_now
                fail = den > 0 and num * WAD < thr * den
        elif test == T_CUMLOSS:
            fail = self.t_cum_loss * WAD > thr * P.pool_original
        elif test == T_DELINQ:
            fail = self.t_delinquent * WAD > thr * self.t_pool_end
        if fail:
            self.t_failing[k] = 1
        if fail or (self.t_latch[k] == 1 and P.trig_curable[k] == 0):
            self.t_latch[k] = 1
        else:
            self.t_latch[k] = 0
        if self.t_latch[k] == 1:
            effects |= P.trig_effect[k]
    self.t_effects = effects


@internal
@view
def _net_wac() -> uint256:
    pool_beg: uint256 = self.t_pool_beg
    if pool_beg == 0:
        return 0
    fees_now: uint256 = self._fees_now()
    num: uint256 = 0
    if self.t_interest > fees_now:
        num = self.t_interest - fees_now
    return num * MONTHS * WAD // pool_beg


# ---------------------------------------------------------------- THE STEPS

@internal
def _step_fees():
    ifunds: uint256 = self.t_ifunds
    pool_beg: uint256 = self.t_pool_beg
    for k: uint256 in range(P.n_fees, bound=MAX_FEES):
        due: uint256 = self._fee_current(k, pool_beg) + self.t_fee_short[k]
        pay: uint256 = min(due, ifunds)
        ifunds -= pay
        self.t_fee_paid[k] = pay
        self.t_fee_short[k] = due - pay
    self.t_ifunds = ifunds


@internal
def _accrete(z: uint256, amount_: uint256):
    amount: uint256 = amount_
    self.t_bal[z] += amount
    self.t_accreted[z] += amount
    mask: uint256 = P.accretion_mask[z]
    for i: uint256 in range(P.n_tranches, bound=MAX_TRANCHES):
        if amount == 0:
            break
        if (mask >> i) & 1 == 1:
            pay: uint256 = min(amount, self.t_bal[i])
            self._pay_principal(i, pay)
            amount -= pay
    self.t_pfunds += amount


@internal
@view
def _z_accreting(z: uint256) -> bool:
    if P.flags[z] & F_Z == 0:
        return False
    mask: uint256 = P.accretion_mask[z]
    for i: uint256 in range(P.n_tranches, bound=MAX_TRANCHES):
        if (mask >> i) & 1 == 1 and self.t_bal[i] > 0:
            return True
    return False


@internal
def _step_interest():
    n: uint256 = P.n_tranches
    for r: uint256 in range(n, bound=MAX_TRANCHES):
        if P.rank_start[r] != r:
            continue
        end: uint256 = P.rank_end[r]
        total: uint256 = 0
        for i: uint256 in range(r, end, bound=MAX_TRANCHES):
            rate: uint256 = self._coupon_rate(i)
            sf: uint256 = self.t_short[i]
            due: uint256 = self._monthly(self.t_beg[i], rate) + sf
            if P.interest_on_shortfall == 1:
                due += self._monthly(sf, rate)
            self.t_int_due[i] = due
            total += due
        ifunds: uint256 = self.t_ifunds
        if total > ifunds and P.reserve_flags & R_COVERS_INTEREST != 0:
            draw: uint256 = min(self.t_reserve, total - ifunds)
            self.t_reserve -= draw
            self.t_rdraw += draw
            ifunds += draw
        if total <= ifunds:
            for i: uint256 in range(r, end, bound=MAX_TRANCHES):
                self.t_int_paid[i] = self.t_int_due[i]
            ifunds -= total
        else:
            pot: uint256 = ifunds
            paid: uint256 = 0
            for i: uint256 in range(r, end, bound=MAX_TRANCHES):
                share: uint256 = pot * self.t_int_due[i] // total
                self.t_int_paid[i] = share
                paid += share
            self.t_dust += pot - paid
            ifunds = 0
        self.t_ifunds = ifunds
        for i: uint256 in range(r, end, bound=MAX_TRANCHES):
            self.t_short[i] = self.t_int_due[i] - self.t_int_paid[i]
            if self._z_accreting(i):
                accrual: uint256 = self.t_int_paid[i]
                self.t_int_paid[i] = 0
                self._accrete(i, accrual)


@internal
def _step_writeup(amount_: uint256):
    amount: uint256 = amount_
    for i: uint256 in range(P.n_tranches, bound=MAX_TRANCHES):
        if amount == 0:
            return
        up: uint256 = min(amount, self.t_wd[i])
        self.t_bal[i] += up
        self.t_wd[i] -= up
        self.t_writeup[i] += up
        amount -= up


@internal
def _step_principal():
    self.t_pfunds = self._distribute(self.t_pfunds, self.t_effects & E_SEQUENTIAL != 0)


@internal
def _step_xs_loss():
    pay: uint256 = min(self.t_ifunds, self._deficiency())
    left: uint256 = self._distribute(pay, self.t_effects & E_SEQUENTIAL != 0)
    self.t_ifunds -= pay - left


@internal
def _step_reserve_loss():
    if P.reserve_flags & R_COVERS_LOSSES == 0:
        return
    draw: uint256 = min(self.t_reserve, self._deficiency())
    left: uint256 = self._distribute(draw, self.t_effects & E_SEQUENTIAL != 0)
    self.t_reserve -= draw - left
    self.t_rdraw += draw - left


@internal
def _step_writedown():
    left: uint256 = self._deficiency()
    n: uint256 = P.n_tranches
    for k: uint256 in range(n, bound=MAX_TRANCHES):
        if left == 0:
            return
        r: uint256 = n - 1 - k
        if P.rank_end[r] - 1 != r:
            continue
        start: uint256 = P.rank_start[r]
        total: uint256 = 0
        for j: uint256 in range(start, r + 1, bound=MAX_TRANCHES):
            if self._bears_principal(j):
                total += self.t_bal[j]
        take: uint256 = min(left, total)
        left -= take
        bal_left: uint256 = total
        for j: uint256 in range(start, r + 1, bound=MAX_TRANCHES):
            if bal_left == 0:
                break
            if not self._bears_principal(j):
                continue
            b: uint256 = self.t_bal[j]
            share: uint256 = take * b // bal_left
            bal_left -= b
            self._write_down(j, share)
            take -= share


@internal
def _step_trigger_xs():
    effects: uint256 = self.t_effects
    if effects & E_TURBO != 0:
        self.t_ifunds = self._distribute(self.t_ifunds, True)
    if effects & E_TRAP != 0:
        ifunds: uint256 = self.t_ifunds
        self.t_reserve += ifunds
        self.t_rdeposit += ifunds
        self.t_ifunds = 0


@internal
def _step_reserve_topup():
    target: uint256 = self._reserve_target(self.t_pool_end)
    reserve: uint256 = self.t_reserve
    if reserve < target:
        dep: uint256 = min(self.t_ifunds, target - reserve)
        self.t_reserve = reserve + dep
        self.t_rdeposit += dep
        self.t_ifunds -= dep


@internal
def _step_residual():
    release: uint256 = 0
    pool_end: uint256 = self.t_pool_end
    if pool_end == 0:
        release = self.t_reserve + self.t_dust
        self.t_rrelease += self.t_reserve
        self.t_reserve = 0
        self.t_dust = 0
    elif self.t_effects & E_TRAP == 0:
        target: uint256 = self._reserve_target(pool_end)
        if self.t_reserve > target:
            release = self.t_reserve - target
            self.t_rrelease += release
            self.t_reserve = target
    self.t_residual = self.t_ifunds + self.t_pfunds + release
    self.t_ifunds = 0
    self.t_pfunds = 0


# ---------------------------------------------------------------- THE PERIOD

@internal
def _accumulate(slot: uint256, i: uint256, amount: uint256, face: uint256):
    """
    @dev index += (amount * WAD + carry) // face, carry = the remainder.
    """
    if face == 0 or amount == 0:
        return
    packed: uint256 = self._index[slot][i]
    num: uint256 = amount * WAD + (packed & LOW128)
    idx: uint256 = ((packed >> 128) & LOW127) + num // face
    assert idx <= LOW127  # dev: index overflow
    self._index[slot][i] = MARKER | (idx << 128) | (num % face)


@internal
def _apply(rem: ExactRemittance):
    """
    @dev `apply_period`: loads the state into the scratch, runs the steps, stores the
         new state. The figures stay in the scratch for `_result`.
    """
    period_word: uint256 = self._period
    assert period_word & MARKER != 0  # dev: not sealed
    assert rem.period == (period_word & LOW64) + 1  # dev: period out of order
    n: uint256 = P.n_tranches
    # _Work.__init__
    self.t_period = rem.period
    self.t_interest = rem.interest
    self.t_pool_beg = rem.beginning_balance
    self.t_pool_end = rem.ending_balance
    self.t_delinquent = rem.delinquent_60
    self.t_index_rate = rem.index_rate
    self.t_ifunds = rem.interest
    self.t_pfunds = rem.scheduled_principal + rem.prepaid_principal + rem.recoveries + rem.subsequent_recoveries
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        packed: uint256 = self._bal_short[i]
        b: uint256 = packed >> 128
        self.t_bal[i] = b
        self.t_beg[i] = b
        self.t_short[i] = packed & LOW128
        if (period_word >> (NZ_WD + i)) & 1 == 1:
            self.t_wd[i] = self._writedown[i] & VALUE
        else:
            self.t_wd[i] = 0
        self.t_int_due[i] = 0
        self.t_int_paid[i] = 0
        self.t_accreted[i] = 0
        self.t_prin_paid[i] = 0
        self.t_loss[i] = 0
        self.t_writeup[i] = 0
    for k: uint256 in range(P.n_fees, bound=MAX_FEES):
        if (period_word >> (NZ_FEE + k)) & 1 == 1:
            self.t_fee_short[k] = self._fee_short[k] & VALUE
        else:
            self.t_fee_short[k] = 0
        self.t_fee_paid[k] = 0
    for k: uint256 in range(P.n_triggers, bound=MAX_TRIGGERS):
        self.t_latch[k] = (period_word >> (64 + k)) & 1
        self.t_failing[k] = 0
    self.t_reserve = self._reserve & VALUE
    cum_loss: uint256 = 0
    if (period_word >> NZ_CUM) & 1 == 1:
        cum_loss = self._cum_loss & VALUE
    self.t_cum_loss = cum_loss + rem.realized_losses
    dust: uint256 = 0
    if (period_word >> NZ_DUST) & 1 == 1:
        dust = self._dust & VALUE
    self.t_dust = dust
    self.t_rdraw = 0
    self.t_rrelease = 0
    self.t_rdeposit = 0
    self.t_residual = 0
    self.t_effects = 0

    self.t_netwac = self._net_wac()
    self._test_triggers()
    for s: uint256 in range(P.n_steps, bound=MAX_STEPS):
        op: uint256 = P.steps[s]
        if op == OP_FEES:
            self._step_fees()
        elif op == OP_INTEREST:
            self._step_interest()
        elif op == OP_WRITEUP:
            self._step_writeup(rem.subsequent_recoveries)
        elif op == OP_PRINCIPAL:
            self._step_principal()
        elif op == OP_XS_LOSS:
            self._step_xs_loss()
        elif op == OP_RESERVE_LOSS:
            self._step_reserve_loss()
        elif op == OP_WRITEDOWN:
            self._step_writedown()
        elif op == OP_TRIGGER_XS:
            self._step_trigger_xs()
        elif op == OP_RESERVE_TOPUP:
            self._step_reserve_topup()
        elif op == OP_RESIDUAL:
            self._step_residual()
    # IO notionals follow their reference at the end of the period
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        if P.flags[i] & F_IO != 0:
            ref: uint256 = P.io_ref[i]
            if ref == NOTIONAL_POOL:
                self.t_bal[i] = self.t_pool_end
            else:
                self.t_bal[i] = self.t_bal[ref]
    # the new state (only the words that change are written; a word whose nonzero
    # flag was clear holds 0 and is not read)
    assert rem.period <= LOW64  # dev: period too large
    flags: uint256 = 0
    for k: uint256 in range(P.n_triggers, bound=MAX_TRIGGERS):
        flags |= self.t_latch[k] << (64 + k)
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        f: uint256 = P.face[i]
        b: uint256 = self.t_bal[i]
        sf: uint256 = self.t_short[i]
        assert b <= LOW128 and sf <= LOW128  # dev: balance too large
        packed: uint256 = (b << 128) | sf
        if packed != self._bal_short[i]:
            self._bal_short[i] = packed
        v: uint256 = self.t_wd[i]
        old: uint256 = 0
        if (period_word >> (NZ_WD + i)) & 1 == 1:
            old = self._writedown[i] & VALUE
        if v != old:
            self._writedown[i] = MARKER | v
        if v != 0:
            flags |= 1 << (NZ_WD + i)
        self._accumulate(0, i, self.t_int_paid[i], f)
        self._accumulate(1, i, self.t_prin_paid[i], f)
        if P.flags[i] & F_IO == 0:
            self._accumulate(2, i, self.t_loss[i], f)
            self._accumulate(3, i, self.t_writeup[i] + self.t_accreted[i], f)
    for k: uint256 in range(P.n_fees, bound=MAX_FEES):
        v: uint256 = self.t_fee_short[k]
        old: uint256 = 0
        if (period_word >> (NZ_FEE + k)) & 1 == 1:
            old = self._fee_short[k] & VALUE
        if v != old:
            self._fee_short[k] = MARKER | v
        if v != 0:
            flags |= 1 << (NZ_FEE + k)
    v: uint256 = self.t_reserve
    if v != self._reserve & VALUE:
        self._reserve = MARKER | v
    v = self.t_cum_loss
    if v != cum_loss:
        self._cum_loss = MARKER | v
    if v != 0:
        flags |= 1 << NZ_CUM
    v = self.t_dust
    if v != dust:
        self._dust = MARKER | v
    if v != 0:
        flags |= 1 << NZ_DUST
    self._period = MARKER | flags | rem.period


@internal
@view
def _result(rem: ExactRemittance, dust_before: uint256) -> ExactResult:
    res: ExactResult = empty(ExactResult)
    res.period = rem.period
    n: uint256 = P.n_tranches
    cash_out: uint256 = 0
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        res.beginning_balance[i] = self.t_beg[i]
        res.interest_due[i] = self.t_int_due[i]
        res.interest_paid[i] = self.t_int_paid[i]
        res.accreted[i] = self.t_accreted[i]
        res.interest_shortfall[i] = self.t_short[i]
        res.principal_paid[i] = self.t_prin_paid[i]
        res.writedown[i] = self.t_loss[i]
        res.writeup[i] = self.t_writeup[i]
        res.ending_balance[i] = self.t_bal[i]
        cash_out += res.interest_paid[i] + res.principal_paid[i]
        res.interest_index[i] = (self._index[0][i] >> 128) & LOW127
        res.principal_index[i] = (self._index[1][i] >> 128) & LOW127
        res.loss_index[i] = (self._index[2][i] >> 128) & LOW127
        res.writeup_index[i] = (self._index[3][i] >> 128) & LOW127
    for k: uint256 in range(P.n_fees, bound=MAX_FEES):
        res.fees_paid[k] = self.t_fee_paid[k]
        cash_out += res.fees_paid[k]
    for k: uint256 in range(P.n_triggers, bound=MAX_TRIGGERS):
        res.trigger_failing[k] = self.t_failing[k]
    res.reserve_draw = self.t_rdraw
    res.reserve_deposit = self.t_rdeposit
    res.reserve_release = self.t_rrelease
    res.reserve_balance = self.t_reserve
    res.effects = self.t_effects
    res.residual_paid = self.t_residual
    res.dust = self.t_dust
    res.dust_change = convert(res.dust, int256) - convert(dust_before, int256)
    res.cash_in = rem.interest + rem.scheduled_principal + rem.prepaid_principal + rem.recoveries + rem.subsequent_recoveries
    res.cash_out = cash_out + res.residual_paid
    res.cleanup_eligible = P.cleanup_wad > 0 and rem.ending_balance * WAD <= P.cleanup_wad * P.pool_original
    return res


# ---------------------------------------------------------------- ENTRY POINTS

@external
def apply(rem: ExactRemittance) -> ExactResult:
    """
    @notice Run one period of the exact waterfall (`apply_period`) and return every
            figure of `ExactPeriodResult`. Deal only.
    @param rem The period's remittance (`ExactRemittance`, with subsequent recoveries).
    @return ExactResult What the period paid.
    """
    assert msg.sender == deal  # dev: only deal
    dust_before: uint256 = self._dust & VALUE
    self._apply(rem)
    return self._result(rem, dust_before)


@external
def allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation:
    """
    @notice The deal's interface: one period from the verified report. Deal only.
    @dev NOT view (the exact state lives here). Maps the report to the exact
         remittance (unscheduled principal = prepaid, losses = realized losses).
         The deal's reserve account holds the reserve AND the interest-shortfall
         dust (`reserve_balance = reserve + dust`), which keeps the deal's
         conservation identity exact. Write-ups and Z accretion are returned as
         `writeup` (they raise a balance); the indices are the carried ones (the
         loss and write-up indices only for tranches with a write-down / write-up
         this period, 0 otherwise).
         `state` = [cumulative loss, period, latched-trigger bits | effects << 8,
         dust].
    @param inp The verified report and the deal's reserve account.
    @return Allocation The period's split, balances and indices.
    """
    assert msg.sender == deal  # dev: only deal
    r: deal_types.RemittanceReport = inp.report
    assert r.cash == r.interest + r.scheduled_principal + r.unscheduled_principal + r.recoveries + r.subsequent_recoveries  # dev: cash is not the collections
    dust0: uint256 = 0
    if (self._period >> NZ_DUST) & 1 == 1:
        dust0 = self._dust & VALUE
    assert inp.reserve_balance == (self._reserve & VALUE) + dust0  # dev: reserve out of sync
    rem: ExactRemittance = ExactRemittance(
        period=r.period,
        interest=r.interest,
        scheduled_principal=r.scheduled_principal,
        prepaid_principal=r.unscheduled_principal,
        recoveries=r.recoveries,
        realized_losses=r.losses,
        beginning_balance=r.beginning_balance,
        ending_balance=r.ending_balance,
        delinquent_60=r.delinquent_60,
        index_rate=r.index_rate,
        subsequent_recoveries=r.subsequent_recoveries,
    )
    self._apply(rem)
    a: deal_types.Allocation = empty(deal_types.Allocation)
    fee: uint256 = 0
    for k: uint256 in range(P.n_fees, bound=MAX_FEES):
        fee += self.t_fee_paid[k]
    latch_bits: uint256 = 0
    for k: uint256 in range(P.n_triggers, bound=MAX_TRIGGERS):
        latch_bits |= self.t_latch[k] << k
    for i: uint256 in range(P.n_tranches, bound=MAX_TRANCHES):
        a.interest[i] = self.t_int_paid[i]
        a.principal[i] = self.t_prin_paid[i]
        a.loss[i] = self.t_loss[i]
        a.writeup[i] = self.t_writeup[i] + self.t_accreted[i]
        a.balance[i] = self.t_bal[i]
        a.interest_shortfall[i] = self.t_short[i]
        a.interest_index[i] = (self._index[0][i] >> 128) & LOW127
        a.principal_index[i] = (self._index[1][i] >> 128) & LOW127
        # (returned only when they moved: the deal reads them only then)
        if a.loss[i] != 0:
            a.loss_index[i] = (self._index[2][i] >> 128) & LOW127
        if a.writeup[i] != 0:
            a.writeup_index[i] = (self._index[3][i] >> 128) & LOW127
    a.fee = fee
    a.residual = self.t_residual
    a.reserve_balance = self.t_reserve + self.t_dust
    a.state[0] = self.t_cum_loss
    a.state[1] = r.period
    a.state[2] = latch_bits | (self.t_effects << 8)
    a.state[3] = self.t_dust
    return a


@external
@view
def state_word(w: uint256) -> uint256:
    """
    @notice The deal-level state words: 0 realized losses to date, 1 last period,
            2 latched-trigger bits | effects of the latched triggers << 8, 3 dust.
    @param w The word.
    @return uint256 The word.
    """
    if w == 0:
        return self._cum_loss & VALUE
    word: uint256 = self._period
    if w == 1:
        return word & LOW64
    if w == 2:
        bits: uint256 = 0
        effects: uint256 = 0
        for k: uint256 in range(P.n_triggers, bound=MAX_TRIGGERS):
            if (word >> (64 + k)) & 1 == 1:
                bits |= 1 << k
                effects |= P.trig_effect[k]
        return bits | (effects << 8)
    if w == 3:
        return self._dust & VALUE
    return 0


@external
@view
def index(kind: uint256, i: uint256) -> (uint256, uint256):
    """
    @notice Per-unit index and carry of tranche `i`: kind 0 interest, 1 principal,
            2 loss, 3 write-up (and Z accretion).
    """
    packed: uint256 = self._index[kind][i]
    return (packed >> 128) & LOW127, packed & LOW128


@external
@view
def sealed() -> bool:
    """
    @notice Whether the set-up is over (`allocate` / `apply` may run).
    """
    return self._period & MARKER != 0


@external
@view
def period() -> uint256:
    """
    @notice The last period applied (0 before the first).
    """
    return self._period & LOW64


@external
@view
def writedown(i: uint256) -> uint256:
    """
    @notice Face of tranche `i` written off and not yet written back up.
    """
    return self._writedown[i] & VALUE


@external
@view
def fee_shortfall(k: uint256) -> uint256:
    """
    @notice Unpaid fee `k` carried forward.
    """
    return self._fee_short[k] & VALUE


@external
@view
def reserve() -> uint256:
    """
    @notice The reserve account (the exact engine's; the deal's reserve account also
            holds the dust).
    """
    return self._reserve & VALUE


@external
@view
def latch(k: uint256) -> uint256:
    """
    @notice 1 while trigger `k` is latched.
    """
    return (self._period >> (64 + k)) & 1


@external
@view
def cum_loss() -> uint256:
    """
    @notice Realized losses to date.
    """
    return self._cum_loss & VALUE


@external
@view
def dust() -> uint256:
    """
    @notice Interest-shortfall rounding units held for the residual holder.
    """
    return self._dust & VALUE


@external
@view
def tranche_balance(i: uint256) -> uint256:
    """
    @notice Current face of tranche `i` (an IO strip's current notional).
    """
    return self._bal_short[i] >> 128


@external
@view
def shortfall(i: uint256) -> uint256:
    """
    @notice Unpaid interest of tranche `i` carried forward.
    """
    return self._bal_short[i] & LOW128


@external
@view
def get_state() -> ExactStateOut:
    """
    @notice The whole stored state (`ExactState`), arrays padded with zeros.
    """
    out: ExactStateOut = empty(ExactStateOut)
    out.period = self._period & LOW64
    for i: uint256 in range(P.n_tranches, bound=MAX_TRANCHES):
        packed: uint256 = self._bal_short[i]
        out.balance[i] = packed >> 128
        out.shortfall[i] = packed & LOW128
        out.writedown[i] = self._writedown[i] & VALUE
        for kind: uint256 in range(4):
            word: uint256 = self._index[kind][i]
            out.index[kind][i] = (word >> 128) & LOW127
            out.carry[kind][i] = word & LOW128
    for k: uint256 in range(P.n_fees, bound=MAX_FEES):
        out.fee_shortfall[k] = self._fee_short[k] & VALUE
    for k: uint256 in range(P.n_triggers, bound=MAX_TRIGGERS):
        out.latch[k] = (self._period >> (64 + k)) & 1
    out.reserve = self._reserve & VALUE
    out.cum_loss = self._cum_loss & VALUE
    out.dust = self._dust & VALUE
    return out


@external
@view
def pac_schedule_of(i: uint256) -> DynArray[uint256, MAX_PAC]:
    """
    @notice The PAC schedule loaded for tranche `i`.
    """
    return self.pac_schedule[i]


@external
@view
def params() -> ExactParams:
    """
    @notice The deal parameters.
    """
    return P
