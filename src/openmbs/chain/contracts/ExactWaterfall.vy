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
        and per tranche the cumulative interest, principal, loss and write-up
        amounts from which the per-unit indices and their carries follow) in its
        own storage, so `allocate` and `apply` are NOT view and only the bound deal
        may call them.
        The scratch of one period (the Python `_Work` object) is a struct in memory
        (`Work`, with its parts `Cash`, `Pay`, `Interest`); `_apply` loads it from
        storage, runs the deal's steps in order, one internal function per step named
        after the Python function it ports (`_step_fees` ... `_step_residual`), and
        stores it.
"""

from . import deal_types

# ---------------------------------------------------------------- CONSTANTS

# @dev The tables below (bounds, coupon kinds, principal rules, flags, trigger tests
# and effects, reserve flags, step opcodes) are those of `_exact.py`, value for value;
# `tests/chain/test_exact_waterfall_tables.py` parses them from this file and fails on
# any drift.
# @dev The build's class bound: `deal_types.MAX_TRANCHES` (the one source; each build
# of the contracts sets it, docs/chain.md "Classes").
MAX_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
MAX_FEES: constant(uint256) = 4
MAX_TRIGGERS: constant(uint256) = 4
# @dev one of each step at most (a deal spec names each step once)
MAX_STEPS: constant(uint256) = 10
MAX_PAC: constant(uint256) = 360
STATE_WORDS: constant(uint256) = deal_types.STATE_WORDS
WAD: constant(uint256) = 10**18
MONTHS: constant(uint256) = 12
LOW128: constant(uint256) = 2**128 - 1
LOW127: constant(uint256) = 2**127 - 1
MARKER: constant(uint256) = 2**255
VALUE: constant(uint256) = 2**255 - 1
LOW64: constant(uint256) = 2**64 - 1
SEALED: constant(uint256) = 2**127
# @dev Every packed word below keeps one field in its high half (bits 128..) and one
# in its low half (LOW128); trigger k's latch is bit LATCH_SHIFT + k of the state word.
HIGH_HALF: constant(uint256) = 128
LATCH_SHIFT: constant(uint256) = 64
# nonzero flags in the state word (see `_state`): MAX_TRANCHES bits each for the
# shortfall / write-down and the cumulative words, MAX_FEES bits for the fees, one for
# the loss and dust word, all below SEALED (bit 127); so MAX_TRANCHES is at most 27.
NZ_SW: constant(uint256) = 68
NZ_CUM2: constant(uint256) = NZ_SW + MAX_TRANCHES
NZ_FEE: constant(uint256) = NZ_CUM2 + MAX_TRANCHES
NZ_LD: constant(uint256) = NZ_FEE + MAX_FEES

CPN_NONE: constant(uint256) = 0
CPN_FIXED: constant(uint256) = 1
CPN_FLOAT: constant(uint256) = 2
CPN_NETWAC: constant(uint256) = 3
CPN_FIXED_CAPPED: constant(uint256) = 4
CPN_INVERSE: constant(uint256) = 5

PR_NONE: constant(uint256) = 0
PR_SEQ: constant(uint256) = 1
PR_PRORATA: constant(uint256) = 2
PR_PAC: constant(uint256) = 3
PR_SUPPORT: constant(uint256) = 4

# @dev The tranche flags (F_*) stay uint256 constants: vyper 0.4.3 refuses arrays of
# `flag` values ("arrays of ... are not allowed"), and `ExactParams.flags` is one per
# tranche.
F_IO: constant(uint256) = 1
F_PO: constant(uint256) = 2
F_Z: constant(uint256) = 4
NOTIONAL_POOL: constant(uint256) = 255
# @dev An IO reference from this on is a group's notional: NOTIONAL_GROUP + the bit
# mask of the group's classes (`_exact.py` numbers the group instead; the mapping is
# `openmbs.chain._exact_waterfall.chain_io_refs`).
NOTIONAL_GROUP: constant(uint256) = 256
# @dev `ExactParams.penalty_to` (`excess_to`) of a deal whose prepayment penalties
# (excess interest) go to the residual holder (`_exact.py`'s -1)
PENALTY_RESIDUAL: constant(uint256) = max_value(uint256)
# @dev `ExactParams.tranche_word[i]` packs tranche i's small fields, each read inline
# as `(word >> TW_<FIELD>) & TW_MASK` (the accretion mask, in the top bits, without
# the mask): coupon kind, priority rank, first index and one past the last index of
# its rank, tranche flags (F_*), IO reference, accretion mask (one bit per tranche:
# up to 64 tranches). `openmbs.chain._exact_waterfall.exact_params` packs them.
TW_MASK: constant(uint256) = 2**32 - 1
TW_COUPON: constant(uint256) = 0
TW_PRIORITY: constant(uint256) = 32
TW_RANK_START: constant(uint256) = 64
TW_RANK_END: constant(uint256) = 96
TW_FLAGS: constant(uint256) = 128
TW_IO_REF: constant(uint256) = 160
TW_ACCRETION: constant(uint256) = 192

T_OC: constant(uint256) = 1
T_IC: constant(uint256) = 2
T_CUMLOSS: constant(uint256) = 3
T_DELINQ: constant(uint256) = 4

# @dev What a latched trigger does (`_exact.py`'s E_*: member k is bit k, so
# SEQUENTIAL = 1, TRAP = 2, TURBO = 4, pinned by the table test). The parameters keep
# one uint256 per trigger (`trig_effect`, checked below 8 by the constructor) for the
# same reason as the tranche flags; the effects of the latched triggers are a
# TriggerEffect, and ABI-encode as the same uint256 (`ExactResult.effects`).
flag TriggerEffect:
    SEQUENTIAL
    TRAP
    TURBO

# @dev What the reserve may pay (`_exact.py`'s R_*: COVERS_INTEREST = 1,
# COVERS_LOSSES = 2). `ExactParams.reserve_flags` is one: the ABI decoder refuses an
# unknown bit at deployment (a bare revert; `compile_exact` never produces one).
flag ReserveFlag:
    COVERS_INTEREST
    COVERS_LOSSES

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

# @dev Word offsets of the `ExactParams` fields in its ABI encoding (a static struct:
# one 32-byte word per integer, arrays in line), which is the code of the parameters
# contract after its leading STOP byte (`params_data`, see `_pw`).
P_N_TRANCHES: constant(uint256) = 0
P_FACE: constant(uint256) = 1
P_RATE: constant(uint256) = P_FACE + MAX_TRANCHES
P_MARGIN: constant(uint256) = P_RATE + MAX_TRANCHES
P_CAP: constant(uint256) = P_MARGIN + MAX_TRANCHES
P_FLOOR: constant(uint256) = P_CAP + MAX_TRANCHES
P_TRANCHE_WORD: constant(uint256) = P_FLOOR + MAX_TRANCHES
P_RULE: constant(uint256) = P_TRANCHE_WORD + MAX_TRANCHES
P_GROUP_START: constant(uint256) = P_RULE + MAX_TRANCHES
P_GROUP_END: constant(uint256) = P_GROUP_START + MAX_TRANCHES
P_LOCKOUT: constant(uint256) = P_GROUP_END + MAX_TRANCHES
P_N_FEES: constant(uint256) = P_LOCKOUT + MAX_TRANCHES
P_FEE_RATE: constant(uint256) = P_N_FEES + 1
P_FEE_FIXED: constant(uint256) = P_FEE_RATE + MAX_FEES
P_FEE_CAP: constant(uint256) = P_FEE_FIXED + MAX_FEES
P_RESERVE_INITIAL: constant(uint256) = P_FEE_CAP + MAX_FEES
P_RESERVE_FLOOR: constant(uint256) = P_RESERVE_INITIAL + 1
P_RESERVE_PCT: constant(uint256) = P_RESERVE_FLOOR + 1
P_RESERVE_FLAGS: constant(uint256) = P_RESERVE_PCT + 1
P_N_TRIGGERS: constant(uint256) = P_RESERVE_FLAGS + 1
P_TRIG_TEST: constant(uint256) = P_N_TRIGGERS + 1
P_TRIG_REF: constant(uint256) = P_TRIG_TEST + MAX_TRIGGERS
P_TRIG_THRESHOLD: constant(uint256) = P_TRIG_REF + MAX_TRIGGERS
P_TRIG_EFFECT: constant(uint256) = P_TRIG_THRESHOLD + MAX_TRIGGERS
P_TRIG_CURABLE: constant(uint256) = P_TRIG_EFFECT + MAX_TRIGGERS
P_N_STEPS: constant(uint256) = P_TRIG_CURABLE + MAX_TRIGGERS
P_STEPS: constant(uint256) = P_N_STEPS + 1
P_INTEREST_ON_SHORTFALL: constant(uint256) = P_STEPS + MAX_STEPS
P_CLEANUP_WAD: constant(uint256) = P_INTEREST_ON_SHORTFALL + 1
P_POOL_ORIGINAL: constant(uint256) = P_CLEANUP_WAD + 1
P_PENALTY_TO: constant(uint256) = P_POOL_ORIGINAL + 1
# @dev words of the encoding, and bytes of the parameters contract's code (a leading
# STOP, so that a call to it does nothing, then the encoding)
P_EXCESS_TO: constant(uint256) = P_PENALTY_TO + 1
P_WORDS: constant(uint256) = P_EXCESS_TO + 1
P_CODE_BYTES: constant(uint256) = 1 + 32 * P_WORDS

# ---------------------------------------------------------------- INTERFACES

# @dev The deal's rule program (`RuleProgram.vy`): its principal rules and its Z
# classes' accrual rules, run on the balances it is given (it changes no state).
interface RuleProgram:
    def pay(balances: uint256[MAX_TRANCHES], latches: uint256, period: uint256, amount: uint256, which: uint256) -> (uint256[MAX_TRANCHES], uint256): nonpayable
    def sealed() -> bool: view
    def n_classes() -> uint256: view
    def max_tranches() -> uint256: view

# ---------------------------------------------------------------- STRUCTS

# @dev `ExactDeal` of `_exact.py` (PAC schedules apart), arrays padded with zeros.
struct ExactParams:
    n_tranches: uint256
    face: uint256[MAX_TRANCHES]
    # @dev fixed rate; for a floater or inverse floater, its index multiplier (0: 1)
    rate: uint256[MAX_TRANCHES]
    margin: int256[MAX_TRANCHES]
    cap: uint256[MAX_TRANCHES]
    floor: uint256[MAX_TRANCHES]
    # @dev coupon kind, priority, rank bounds, flags, IO reference, accretion mask (TW_*)
    tranche_word: uint256[MAX_TRANCHES]
    rule: uint256[MAX_TRANCHES]
    group_start: uint256[MAX_TRANCHES]
    group_end: uint256[MAX_TRANCHES]
    lockout: uint256[MAX_TRANCHES]
    n_fees: uint256
    fee_rate: uint256[MAX_FEES]
    fee_fixed: uint256[MAX_FEES]
    fee_cap: uint256[MAX_FEES]
    reserve_initial: uint256
    reserve_floor: uint256
    reserve_pct: uint256
    reserve_flags: ReserveFlag
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
    # @dev the class paid the prepayment penalties as interest cash, or PENALTY_RESIDUAL
    penalty_to: uint256
    # @dev the class paid the excess interest at the residual step (the interest funds
    # left), or PENALTY_RESIDUAL (the residual holder's)
    excess_to: uint256


# @dev `ExactRemittance` of `_exact.py` (`delinquent_60` is the 60+ day balance).
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
    prepayment_penalties: uint256


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
    effects: TriggerEffect
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


# @dev Balances and principal paid this period (what `_distribute` moves); `left` is
# the amount a distribution could not place.
struct Pay:
    bal: uint256[MAX_TRANCHES]
    paid: uint256[MAX_TRANCHES]
    left: uint256
    # bit k: trigger k latched this period (a rule program's conditions)
    latches: uint256


# @dev Trigger latches, this period's failing tests and the effects of the latched ones.
struct Trig:
    latch: uint256[MAX_TRIGGERS]
    failing: uint256[MAX_TRIGGERS]
    effects: TriggerEffect


# @dev The cash of the period: interest funds, principal funds, the reserve and the
# dust, and what the period drew from, deposited to and released from the reserve and
# paid to the residual holder.
struct Cash:
    ifunds: uint256
    pfunds: uint256
    reserve: uint256
    dust: uint256
    rdraw: uint256
    rdeposit: uint256
    rrelease: uint256
    residual: uint256


# @dev Per tranche: interest due and paid this period, the shortfall carried (in: the
# one before the period; out: the new one) and the Z accretion.
struct Interest:
    due: uint256[MAX_TRANCHES]
    paid: uint256[MAX_TRANCHES]
    short: uint256[MAX_TRANCHES]
    accreted: uint256[MAX_TRANCHES]


# @dev The period's scratch (`_Work` of `_exact.py`), plus what the state words held
# before the period and the new per-unit indices. The steps take and return its parts.
struct Work:
    period: uint256
    interest: uint256
    pool_beg: uint256
    pool_end: uint256
    delinquent: uint256
    index_rate: uint256
    cum_loss: uint256
    effects: TriggerEffect
    netwac: uint256
    reserve_before: uint256
    dust_before: uint256
    cash: Cash
    pay: Pay
    it: Interest
    loss: uint256[MAX_TRANCHES]
    writeup: uint256[MAX_TRANCHES]
    fee_paid: uint256[MAX_FEES]
    trig: Trig
    idx_i: uint256[MAX_TRANCHES]
    idx_p: uint256[MAX_TRANCHES]


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

# @dev The deal's flat integer parameters (`compile_exact`), fixed at deployment, are
# the code of a data contract that the constructor creates (`raw_create`): a STOP byte,
# then `abi_encode(ExactParams)` (P_CODE_BYTES bytes). All of them as immutables
# would make the deployed code too large for 16 classes (runtime plus immutables
# under 24,576 bytes, EIP-170); the ones a period reads are also immutables (below),
# the others are read with one EXTCODECOPY of a word (`_pw`).
params_data: public(immutable(address))
# @dev The account that deployed the waterfall: it alone loads PAC schedules and seals.
deployer: public(immutable(address))
# @dev The Deal contract: the only caller of `allocate` and `apply`.
deal: public(immutable(address))
# @dev The deal's rule program (`RuleProgram.vy`), or the zero address for the fixed
# order of payments.
rules: public(immutable(address))
# @dev Number of tranches (1 to MAX_TRANCHES); rows past it are zero.
N_TRANCHES: immutable(uint256)
# @dev Number of fees (0 to MAX_FEES).
N_FEES: immutable(uint256)
# @dev Number of triggers (0 to MAX_TRIGGERS).
N_TRIGGERS: immutable(uint256)
# @dev Bit i set: tranche i bears principal (`_bears_principal`: not an IO strip, and a
# principal rule other than PR_NONE).
PRINCIPAL_BEARERS: immutable(uint256)
# @dev Bit i set: tranche i is an IO strip (flag F_IO), its balance a notional.
IO_STRIPS: immutable(uint256)
# @dev Summaries of the parameters that the hot paths test, so that they read the
# parameters contract only for what they use: the longest lockout; bit i set when
# tranche i's principal rule is PR_PAC (PAC_CLASSES), PR_SEQ, PR_PRORATA or PR_SUPPORT
# and not an IO strip (PAID_CLASSES), PR_PRORATA (PRO_RATA_CLASSES); a Z class
# (Z_CLASSES); the first class of its rank (RANK_STARTS); the steps (op s in bits
# 4s..4s+3) and their number; interest on shortfalls; the reserve's flags.
LOCKOUT_MAX: immutable(uint256)
PAC_CLASSES: immutable(uint256)
PAID_CLASSES: immutable(uint256)
PRO_RATA_CLASSES: immutable(uint256)
Z_CLASSES: immutable(uint256)
RANK_STARTS: immutable(uint256)
STEP_OPS: immutable(uint256)
N_STEPS: immutable(uint256)
SHORTFALL_INTEREST: immutable(bool)
RESERVE_FLAGS: immutable(ReserveFlag)
# @dev The parameters a period reads, as immutables, so that a deal whose classes have
# fixed or capped coupons, no lockout and no pro-rata group reads nothing from the
# parameters contract (a cold account: 2,600 gas, and an EXTCODECOPY a read): the
# tranche words, face (high 128 bits) | rate (low 128 bits) per tranche, the fee and
# trigger tables (rows as in `ExactParams`), and the scalars below. The parameters
# contract keeps them too (it is the deal's record: `chain verify` reads it).
TRANCHE_WORDS: immutable(uint256[MAX_TRANCHES])
FACE_RATE: immutable(uint256[MAX_TRANCHES])
FEES: immutable(uint256[MAX_FEES][3])
TRIGGERS: immutable(uint256[MAX_TRIGGERS][5])
POOL_ORIGINAL: immutable(uint256)
RESERVE_PCT: immutable(uint256)
RESERVE_FLOOR: immutable(uint256)
PENALTY_TO: immutable(uint256)
EXCESS_TO: immutable(uint256)
CLEANUP_WAD: immutable(uint256)

# @dev PAC scheduled ending balances, per tranche, for periods 1, 2, ...
pac_schedule: HashMap[uint256, DynArray[uint256, MAX_PAC]]

# ---------------------------------------------------------------- STATE (`ExactState`)

# @dev Storage is packed so that a performing period reads and writes one word per
# tranche plus one state word, and never sets a zero word (20,000 gas) in normal
# running; words that are usually 0 are read only when a flag says they are not.
# @dev The state word: reserve (high 128 bits) | SEALED (bit 127, set by `seal`) |
# nonzero flags (bit 68 + i: `_short_wd[i]`; bit 76 + i: `_cum2[i]`; bit 84 + k:
# `_fee_short[k]`; bit 88: `_loss_dust`) | trigger latches (bit 64 + k) | period (low
# 64 bits).
_state: uint256
# @dev balance (high 128 bits) | cumulative interest paid (low 128 bits), per tranche.
_bal_cum: uint256[MAX_TRANCHES]
# @dev The words below hold MARKER (bit 255, set at deployment) | values.
# interest shortfall (bits 128-254) | write-down (low 128 bits), per tranche.
_short_wd: uint256[MAX_TRANCHES]
# cumulative loss (bits 128-254) | cumulative write-up and Z accretion (low 128 bits)
# per tranche; for an IO strip: cumulative principal paid (low 128 bits). The
# cumulative principal of any other class follows from its balance:
# face + write-ups - losses - balance.
_cum2: uint256[MAX_TRANCHES]
_fee_short: uint256[MAX_FEES]
# net cumulative loss (realized losses less subsequent recoveries, at least 0; bits
# 128-254) | dust (low 128 bits).
_loss_dust: uint256
# @dev Per-unit indices: the exact engine adds `(amount * WAD + carry) // face` and
# carries the remainder; from zero, that is exactly index = cum * WAD // face, carry =
# cum * WAD % face, with cum the cumulative amount. So only the cumulative amounts
# are stored.

# ---------------------------------------------------------------- SET-UP

@deploy
def __init__(p: ExactParams, deal_: address, rules_: address):
    """
    @notice Create the waterfall of one deal.
    @param p The flat integer parameters of `compile_exact` (PAC schedules apart).
    @param deal_ The only address allowed to call `allocate` and `apply`.
    @param rules_ The deal's rule program (`RuleProgram`, sealed before this
           contract's `seal`), or the zero address for the fixed order.
    """
    assert deal_ != empty(address)  # dev: zero deal
    n: uint256 = p.n_tranches
    assert n >= 1 and n <= MAX_TRANCHES  # dev: tranche count
    assert p.n_fees <= MAX_FEES  # dev: fee count
    assert p.n_triggers <= MAX_TRIGGERS  # dev: trigger count
    assert p.n_steps <= MAX_STEPS  # dev: step count
    ops: uint256 = 0
    seen: uint256 = 0
    for s: uint256 in range(p.n_steps, bound=MAX_STEPS):
        assert p.steps[s] >= OP_FEES and p.steps[s] <= OP_RESIDUAL  # dev: unknown step
        # (each step once, as the deal language's order: `_step_interest` starts from
        # fresh rows)
        assert (seen >> p.steps[s]) & 1 == 0  # dev: step twice
        seen |= 1 << p.steps[s]
        ops |= p.steps[s] << (4 * s)
    assert p.pool_original <= LOW128  # dev: pool too large
    assert p.penalty_to < n or p.penalty_to == PENALTY_RESIDUAL  # dev: bad penalty class
    assert p.excess_to < n or p.excess_to == PENALTY_RESIDUAL  # dev: bad excess class
    assert p.reserve_initial <= LOW128  # dev: reserve too large
    bears: uint256 = 0
    io: uint256 = 0
    lockout_max: uint256 = 0
    pac: uint256 = 0
    paid: uint256 = 0
    pro_rata: uint256 = 0
    zs: uint256 = 0
    starts: uint256 = 0
    face_rate: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        tw: uint256 = p.tranche_word[i]
        lockout_max = max(lockout_max, p.lockout[i])
        rule: uint256 = p.rule[i]
        if rule == PR_PAC:
            pac |= 1 << i
        if rule == PR_PRORATA:
            pro_rata |= 1 << i
        if (tw >> TW_FLAGS) & F_Z != 0:
            zs |= 1 << i
        if (tw >> TW_RANK_START) & TW_MASK == i:
            starts |= 1 << i
        rank_end: uint256 = (tw >> TW_RANK_END) & TW_MASK
        flags: uint256 = (tw >> TW_FLAGS) & TW_MASK
        io_ref: uint256 = (tw >> TW_IO_REF) & TW_MASK
        assert p.face[i] <= LOW128  # dev: face too large
        assert p.rate[i] <= LOW128  # dev: rate too large
        face_rate[i] = (p.face[i] << HIGH_HALF) | p.rate[i]
        assert (tw >> TW_COUPON) & TW_MASK <= CPN_INVERSE  # dev: unknown coupon kind
        assert p.rule[i] <= PR_SUPPORT  # dev: unknown principal rule
        assert (tw >> TW_RANK_START) & TW_MASK <= i and i < rank_end and rank_end <= n  # dev: bad rank
        assert p.group_start[i] <= i and i < p.group_end[i] and p.group_end[i] <= n  # dev: bad group
        assert flags < 8  # dev: unknown tranche flag
        if flags & F_IO != 0:
            assert io_ref == NOTIONAL_POOL or io_ref < n or (io_ref >= NOTIONAL_GROUP and io_ref < NOTIONAL_GROUP + (1 << n))  # dev: bad IO reference
            io |= 1 << i
        elif p.rule[i] != PR_NONE:
            bears |= 1 << i
        if flags & F_IO == 0 and (rule == PR_SEQ or rule == PR_PRORATA or rule == PR_SUPPORT):
            paid |= 1 << i
        assert tw >> TW_ACCRETION < 1 << n  # dev: bad accretion mask
        self._bal_cum[i] = p.face[i] << HIGH_HALF
        self._short_wd[i] = MARKER
        self._cum2[i] = MARKER
    for k: uint256 in range(p.n_triggers, bound=MAX_TRIGGERS):
        assert p.trig_test[k] >= T_OC and p.trig_test[k] <= T_DELINQ  # dev: unknown trigger test
        assert p.trig_ref[k] < n  # dev: bad trigger tranche
        # (so the `convert` to TriggerEffect in `_test_triggers` never reverts)
        assert p.trig_effect[k] < 8  # dev: unknown trigger effect
    # init code of the data contract: PUSH2 size, DUP1, PUSH1 10, RETURNDATASIZE (0),
    # CODECOPY (the 10-byte prefix skipped), RETURNDATASIZE (0), RETURN
    blob: Bytes[P_CODE_BYTES] = concat(x"00", abi_encode(p))
    params_data = raw_create(concat(x"61", convert(convert(P_CODE_BYTES, uint16), bytes2), x"80600a3d393df3", blob))
    N_TRANCHES = n
    N_FEES = p.n_fees
    N_TRIGGERS = p.n_triggers
    PRINCIPAL_BEARERS = bears
    IO_STRIPS = io
    LOCKOUT_MAX = lockout_max
    PAC_CLASSES = pac
    PAID_CLASSES = paid
    PRO_RATA_CLASSES = pro_rata
    Z_CLASSES = zs
    RANK_STARTS = starts
    STEP_OPS = ops
    N_STEPS = p.n_steps
    SHORTFALL_INTEREST = p.interest_on_shortfall == 1
    RESERVE_FLAGS = p.reserve_flags
    TRANCHE_WORDS = p.tranche_word
    FACE_RATE = face_rate
    FEES = [p.fee_rate, p.fee_fixed, p.fee_cap]
    TRIGGERS = [p.trig_test, p.trig_ref, p.trig_threshold, p.trig_effect, p.trig_curable]
    POOL_ORIGINAL = p.pool_original
    RESERVE_PCT = p.reserve_pct
    RESERVE_FLOOR = p.reserve_floor
    PENALTY_TO = p.penalty_to
    EXCESS_TO = p.excess_to
    CLEANUP_WAD = p.cleanup_wad
    deployer = msg.sender
    deal = deal_
    rules = rules_
    if rules_ != empty(address):
        # the program's `pay` rows are this build's (an ABI of another length)
        assert staticcall RuleProgram(rules_).max_tranches() == MAX_TRANCHES  # dev: program bound
    self._state = p.reserve_initial << HIGH_HALF
    self._loss_dust = MARKER
    for k: uint256 in range(p.n_fees, bound=MAX_FEES):
        self._fee_short[k] = MARKER


@external
def set_pac_schedule(i: uint256, schedule: DynArray[uint256, MAX_PAC]):
    """
    @notice Load a PAC class's scheduled ending balances (periods 1, 2, ...).
    @dev Deployer only, before `seal`.
    @param i The PAC tranche's index.
    @param schedule Its scheduled ending balance after each period, in settlement
           base units.
    """
    assert msg.sender == deployer  # dev: only deployer
    assert self._state & SEALED == 0  # dev: sealed
    assert i < N_TRANCHES and self._pw(P_RULE + i) == PR_PAC  # dev: not a PAC class
    self.pac_schedule[i] = schedule


@external
def seal():
    """
    @notice End the set-up: parameters are final, `allocate` may run.
    """
    assert msg.sender == deployer  # dev: only deployer
    assert self._state & SEALED == 0  # dev: sealed
    if rules != empty(address):
        # the program's schedules are final, and it pays this deal's classes
        assert staticcall RuleProgram(rules).sealed()  # dev: rule program not sealed
        assert staticcall RuleProgram(rules).n_classes() == N_TRANCHES  # dev: rule program of another deal
    self._state |= SEALED


# ---------------------------------------------------------------- SMALL HELPERS

@internal
@view
def _pw(w: uint256) -> uint256:
    """
    @dev Word `w` of the parameters' encoding (`P_*` + index; callers check the index
         against the count, as the array bound would).
    """
    return convert(slice(params_data.code, 1 + 32 * w, 32), uint256)


@internal
@view
def _pm(i: uint256) -> int256:
    """
    @dev `margin[i]`, a signed word.
    """
    return convert(slice(params_data.code, 1 + 32 * (P_MARGIN + i), 32), int256)


@internal
@view
def _locked(i: uint256, period: uint256) -> bool:
    if period > LOCKOUT_MAX:
        return False
    return period <= self._pw(P_LOCKOUT + i)


@internal
@view
def _fee_current(k: uint256, pool_beg: uint256, fees: uint256[MAX_FEES][3]) -> uint256:
    fee: uint256 = pool_beg * fees[0][k] // (MONTHS * WAD) + fees[1][k]
    cap: uint256 = fees[2][k]
    if cap > 0 and fee > cap:
        fee = cap
    return fee


@internal
@view
def _fees_now(pool_beg: uint256, fees: uint256[MAX_FEES][3]) -> uint256:
    total: uint256 = 0
    for k: uint256 in range(N_FEES, bound=MAX_FEES):
        total += self._fee_current(k, pool_beg, fees)
    return total


@internal
@view
def _coupon_rate(i: uint256, tw: uint256, rate: uint256, index_rate: uint256, netwac: uint256) -> uint256:
    kind: uint256 = (tw >> TW_COUPON) & TW_MASK
    if kind == CPN_FIXED:
        return rate
    if kind == CPN_FLOAT or kind == CPN_INVERSE:
        # floater: m x index + margin; inverse floater: margin - m x index; m is the
        # index multiplier, which these kinds carry in `rate` (0: m = 1), the product
        # floored
        index: int256 = convert(index_rate, int256)
        m: uint256 = rate
        if m != 0:
            index = convert(index_rate * m // WAD, int256)
        r: int256 = index + self._pm(i)
        if kind == CPN_INVERSE:
            r = self._pm(i) - index
        if r < convert(self._pw(P_FLOOR + i), int256):
            r = convert(self._pw(P_FLOOR + i), int256)
        if self._pw(P_CAP + i) > 0 and r > convert(self._pw(P_CAP + i), int256):
            r = convert(self._pw(P_CAP + i), int256)
        return convert(max(r, 0), uint256)
    if kind == CPN_NETWAC:
        return convert(max(convert(netwac, int256) + self._pm(i), 0), uint256)
    if kind == CPN_FIXED_CAPPED:
        return min(rate, netwac)
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
    target: uint256 = pool_end * RESERVE_PCT // WAD
    return max(target, RESERVE_FLOOR)


@internal
@view
def _deficiency(bal: uint256[MAX_TRANCHES], pool_end: uint256) -> uint256:
    total: uint256 = 0
    bears: uint256 = PRINCIPAL_BEARERS
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        if (bears >> i) & 1 == 1:
            total += bal[i]
    if total > pool_end:
        return total - pool_end
    return 0


@internal
@view
def _pro_rata(pay_: Pay, period: uint256, start: uint256, end: uint256, amount: uint256) -> Pay:
    pay: Pay = pay_
    total: uint256 = 0
    for j: uint256 in range(start, end, bound=MAX_TRANCHES):
        if not self._locked(j, period):
            total += pay.bal[j]
    if total == 0:
        pay.left = amount
        return pay
    if amount >= total:
        for j: uint256 in range(start, end, bound=MAX_TRANCHES):
            if not self._locked(j, period):
                pay.paid[j] += pay.bal[j]
                pay.bal[j] = 0
        pay.left = amount - total
        return pay
    left: uint256 = amount
    bal_left: uint256 = total
    for j: uint256 in range(start, end, bound=MAX_TRANCHES):
        b: uint256 = pay.bal[j]
        if self._locked(j, period) or b == 0:
            continue
        share: uint256 = left * b // bal_left
        bal_left -= b
        pay.bal[j] = b - share
        pay.paid[j] += share
        left -= share
    pay.left = left
    return pay


@internal
def _run_rules(pay_: Pay, period: uint256, amount: uint256, which: uint256) -> Pay:
    """
    @dev `_run_program` by the deal's rule program: the principal rules (`which` =
         N_TRANCHES) or Z class `which`'s accrual rules; `pay.left` is the unused
         part. What the program returns is checked: it pays no class beyond its
         balance (underflow) and moves exactly `amount`.
    """
    pay: Pay = pay_
    paid: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    left: uint256 = 0
    paid, left = extcall RuleProgram(rules).pay(pay.bal, pay.latches, period, amount, which)
    moved: uint256 = left
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        pay.bal[i] -= paid[i]
        pay.paid[i] += paid[i]
        moved += paid[i]
    assert moved == amount  # dev: rule program moved other money
    pay.left = left
    return pay


@internal
def _distribute(pay_: Pay, period: uint256, amount_: uint256, sequential: bool) -> Pay:
    """
    @dev `_distribute`: pays `amount_` by the principal rules; `pay.left` is what
         could not be placed. A deal with rules pays by its program first
         (`_run_rules`), then anything left by priority (the last loop).
    """
    pay: Pay = pay_
    amount: uint256 = amount_
    n: uint256 = N_TRANCHES
    if rules != empty(address):
        pay = self._run_rules(pay, period, amount, n)
        amount = pay.left
        # the fixed order's first two loops run for no class
        n = 0
    pay.left = 0
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        if amount == 0:
            return pay
        if (PAC_CLASSES >> i) & 1 == 1 and not self._locked(i, period):
            target: uint256 = self._pac_target(i, period)
            b: uint256 = pay.bal[i]
            if b > target:
                x: uint256 = min(amount, b - target)
                pay.bal[i] = b - x
                pay.paid[i] += x
                amount -= x
    paid_classes: uint256 = PAID_CLASSES
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        if amount == 0:
            return pay
        if (paid_classes >> i) & 1 == 0:
            continue
        if self._locked(i, period):
            continue
        if (PRO_RATA_CLASSES >> i) & 1 == 1 and not sequential:
            if self._pw(P_GROUP_START + i) == i:
                pay = self._pro_rata(pay, period, i, self._pw(P_GROUP_END + i), amount)
                amount = pay.left
                pay.left = 0
            continue
        b: uint256 = pay.bal[i]
        x: uint256 = min(amount, b)
        pay.bal[i] = b - x
        pay.paid[i] += x
        amount -= x
    bears: uint256 = PRINCIPAL_BEARERS
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        if amount == 0:
            return pay
        if (bears >> i) & 1 == 1:
            b: uint256 = pay.bal[i]
            x: uint256 = min(amount, b)
            pay.bal[i] = b - x
            pay.paid[i] += x
            amount -= x
    pay.left = amount
    return pay


@internal
@view
def _z_accreting(z: uint256, bal: uint256[MAX_TRANCHES]) -> bool:
    if (Z_CLASSES >> z) & 1 == 0:
        return False
    mask: uint256 = TRANCHE_WORDS[z] >> TW_ACCRETION
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        if (mask >> i) & 1 == 1 and bal[i] > 0:
            return True
    return False


# ---------------------------------------------------------------- STEP 0: TRIGGERS

@internal
@view
def _test_triggers(
    latch: uint256[MAX_TRIGGERS],
    beg: uint256[MAX_TRANCHES],
    fees_now: uint256,
    pool_beg: uint256,
    pool_end: uint256,
    interest: uint256,
    cum_loss: uint256,
    delinquent: uint256,
    index_rate: uint256,
    netwac: uint256,
) -> Trig:
    """
    @dev `_test_triggers`: evaluates every trigger, updates the latches and the
         period's effect mask.
    """
    t: Trig = empty(Trig)
    t.latch = latch
    n: uint256 = N_TRANCHES
    bears: uint256 = PRINCIPAL_BEARERS
    effects: TriggerEffect = empty(TriggerEffect)
    # rows: test, tranche, threshold, effect, curable
    trigs: uint256[MAX_TRIGGERS][5] = TRIGGERS
    for k: uint256 in range(N_TRIGGERS, bound=MAX_TRIGGERS):
        test: uint256 = trigs[0][k]
        thr: uint256 = trigs[2][k]
        fail: bool = False
        if test == T_OC or test == T_IC:
            ref_rank: uint256 = (TRANCHE_WORDS[trigs[1][k]] >> TW_PRIORITY) & TW_MASK
            den: uint256 = 0
            for i: uint256 in range(n, bound=MAX_TRANCHES):
                tw: uint256 = TRANCHE_WORDS[i]
                if (tw >> TW_PRIORITY) & TW_MASK > ref_rank:
                    continue
                if test == T_OC and (bears >> i) & 1 == 1:
                    den += beg[i]
                if test == T_IC:
                    den += beg[i] * self._coupon_rate(i, tw, FACE_RATE[i] & LOW128, index_rate, netwac) // (MONTHS * WAD)
            if test == T_OC:
                fail = den > 0 and pool_beg * WAD < thr * den
            else:
                num: uint256 = 0
                if interest > fees_now:
                    num = interest - fees_now
                fail = den > 0 and num * WAD < thr * den
        elif test == T_CUMLOSS:
            fail = cum_loss * WAD > thr * POOL_ORIGINAL
        elif test == T_DELINQ:
            fail = delinquent * WAD > thr * pool_end
        if fail:
            t.failing[k] = 1
        if fail or (t.latch[k] == 1 and trigs[4][k] == 0):
            t.latch[k] = 1
        else:
            t.latch[k] = 0
        if t.latch[k] == 1:
            effects |= convert(trigs[3][k], TriggerEffect)
    t.effects = effects
    return t


# ---------------------------------------------------------------- STEPS (`_step_*`)

# @dev One internal function per waterfall step, named after the `_exact.py` function
# it ports, called from the dispatch loop in `_apply`. Vyper has no references to
# memory: arguments are copied into the callee's frame, are read-only there (hence
# the `x_` arguments copied to a local `x`), and results are copied back. So a step
# takes by value only the parts of the period's scratch it reads and returns the parts
# it changes (`Cash`, `Pay`, per-tranche rows), and `_apply` stores them back (the
# whole `Work`, about 170 words, would be copied in, to a local and back out at each
# call).
# The loss steps (`_step_xs_loss`, `_step_reserve_loss`, `_step_writedown`) take the
# deficiency, which the loop computes (`_deficiency`, as the Python steps do on entry)
# so as not to call a step that would do nothing.

@internal
@view
def _step_fees(ifunds_: uint256, pool_beg: uint256, fee_short_: uint256[MAX_FEES], fees: uint256[MAX_FEES][3]) -> (uint256, uint256[MAX_FEES], uint256[MAX_FEES]):
    """
    @dev `_step_fees`: each fee, current plus unpaid, from interest funds, in order.
    @return (interest funds, fees paid, fee shortfalls)
    """
    fee_short: uint256[MAX_FEES] = fee_short_
    fee_paid: uint256[MAX_FEES] = empty(uint256[MAX_FEES])
    ifunds: uint256 = ifunds_
    for k: uint256 in range(N_FEES, bound=MAX_FEES):
        due: uint256 = self._fee_current(k, pool_beg, fees) + fee_short[k]
        x: uint256 = min(due, ifunds)
        ifunds -= x
        fee_paid[k] = x
        fee_short[k] = due - x
    return ifunds, fee_paid, fee_short


@internal
def _step_interest(c_: Cash, pay_: Pay, short: uint256[MAX_TRANCHES], beg: uint256[MAX_TRANCHES], index_rate: uint256, netwac: uint256, period: uint256) -> (Cash, Pay, Interest):
    """
    @dev `_step_interest`: by rank, senior first, the interest due (coupon on the
         beginning balance plus the carried shortfall, and interest on it if the deal
         says so); the reserve covers a shortfall if it may; a rank short of funds is
         paid pro rata (floored, the units left over go to dust); a Z class accretes
         (`_accrete`) while its accretion-directed classes are outstanding.
    @return (cash, balances and principal paid, interest rows)
    """
    c: Cash = c_
    pay: Pay = pay_
    # (the step runs once a period, on fresh rows: only the carried shortfalls come in)
    it: Interest = empty(Interest)
    it.short = short
    n: uint256 = N_TRANCHES
    starts: uint256 = RANK_STARTS
    for r: uint256 in range(n, bound=MAX_TRANCHES):
        if (starts >> r) & 1 == 0:
            continue
        # the rank ends where the next one starts (RANK_STARTS), or at n
        end: uint256 = n
        for j: uint256 in range(r + 1, n, bound=MAX_TRANCHES):
            if (starts >> j) & 1 == 1:
                end = j
                break
        total: uint256 = 0
        for i: uint256 in range(r, end, bound=MAX_TRANCHES):
            rate: uint256 = self._coupon_rate(i, TRANCHE_WORDS[i], FACE_RATE[i] & LOW128, index_rate, netwac)
            sf: uint256 = it.short[i]
            due: uint256 = beg[i] * rate // (MONTHS * WAD) + sf
            if SHORTFALL_INTEREST:
                due += sf * rate // (MONTHS * WAD)
            it.due[i] = due
            total += due
        ifunds: uint256 = c.ifunds
        if total > ifunds and ReserveFlag.COVERS_INTEREST in RESERVE_FLAGS:
            draw: uint256 = min(c.reserve, total - ifunds)
            c.reserve -= draw
            c.rdraw += draw
            ifunds += draw
        if total <= ifunds:
            for i: uint256 in range(r, end, bound=MAX_TRANCHES):
                it.paid[i] = it.due[i]
            ifunds -= total
        else:
            pot: uint256 = ifunds
            paid: uint256 = 0
            for i: uint256 in range(r, end, bound=MAX_TRANCHES):
                share: uint256 = pot * it.due[i] // total
                it.paid[i] = share
                paid += share
            c.dust += pot - paid
            ifunds = 0
        c.ifunds = ifunds
        for i: uint256 in range(r, end, bound=MAX_TRANCHES):
            it.short[i] = it.due[i] - it.paid[i]
            if self._z_accreting(i, pay.bal):
                # ---- _accrete
                amount: uint256 = it.paid[i]
                it.paid[i] = 0
                pay.bal[i] += amount
                it.accreted[i] += amount
                mask: uint256 = TRANCHE_WORDS[i] >> TW_ACCRETION
                if rules != empty(address):
                    # the Z class's accrual rules (a rules deal's Z accretes only
                    # while a class its rules name is outstanding: it has rules)
                    pay = self._run_rules(pay, period, amount, i)
                    amount = pay.left
                    mask = 0
                for j: uint256 in range(n, bound=MAX_TRANCHES):
                    if amount == 0:
                        break
                    if (mask >> j) & 1 == 1:
                        x: uint256 = min(amount, pay.bal[j])
                        pay.bal[j] -= x
                        pay.paid[j] += x
                        amount -= x
                c.pfunds += amount
    return c, pay, it


@internal
@view
def _step_writeup(bal_: uint256[MAX_TRANCHES], wd_: uint256[MAX_TRANCHES], writeup_: uint256[MAX_TRANCHES], amount_: uint256) -> (uint256[MAX_TRANCHES], uint256[MAX_TRANCHES], uint256[MAX_TRANCHES]):
    """
    @dev `_step_writeup`: subsequent recoveries write back up what was written down,
         senior first.
    @return (balances, write-downs, write-ups)
    """
    bal: uint256[MAX_TRANCHES] = bal_
    wd: uint256[MAX_TRANCHES] = wd_
    writeup: uint256[MAX_TRANCHES] = writeup_
    amount: uint256 = amount_
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        if amount == 0:
            break
        up: uint256 = min(amount, wd[i])
        bal[i] += up
        wd[i] -= up
        writeup[i] += up
        amount -= up
    return bal, wd, writeup


@internal
def _step_principal(pay_: Pay, pfunds: uint256, period: uint256, sequential: bool) -> (Pay, uint256):
    """
    @dev `_step_principal`: principal funds by the principal rules (`_distribute`);
         what cannot be placed stays in principal funds.
    @return (balances and principal paid, principal funds)
    """
    pay: Pay = self._distribute(pay_, period, pfunds, sequential)
    return pay, pay.left


@internal
def _step_xs_loss(pay_: Pay, ifunds: uint256, deficiency: uint256, period: uint256, sequential: bool) -> (Pay, uint256):
    """
    @dev `_step_xs_loss`: excess interest pays principal up to the deficiency (the
         principal-bearing classes above the pool, `_deficiency`).
    @return (balances and principal paid, interest funds)
    """
    x: uint256 = min(ifunds, deficiency)
    if x == 0:
        return pay_, ifunds
    pay: Pay = self._distribute(pay_, period, x, sequential)
    return pay, ifunds - (x - pay.left)


@internal
def _step_reserve_loss(pay_: Pay, reserve: uint256, rdraw: uint256, deficiency: uint256, period: uint256, sequential: bool) -> (Pay, uint256, uint256):
    """
    @dev `_step_reserve_loss`: if the reserve covers losses, it pays principal up to
         the deficiency.
    @return (balances and principal paid, reserve, reserve drawn)
    """
    if ReserveFlag.COVERS_LOSSES not in RESERVE_FLAGS:
        return pay_, reserve, rdraw
    draw: uint256 = min(reserve, deficiency)
    if draw == 0:
        return pay_, reserve, rdraw
    pay: Pay = self._distribute(pay_, period, draw, sequential)
    used: uint256 = draw - pay.left
    return pay, reserve - used, rdraw + used


@internal
@view
def _step_writedown(bal_: uint256[MAX_TRANCHES], loss_: uint256[MAX_TRANCHES], wd_: uint256[MAX_TRANCHES], deficiency: uint256) -> (uint256[MAX_TRANCHES], uint256[MAX_TRANCHES], uint256[MAX_TRANCHES]):
    """
    @dev `_step_writedown`: the deficiency left is written off, junior rank first,
         pro rata (floored) within a rank over its principal-bearing classes
         (`_write_down`).
    @return (balances, losses, write-downs)
    """
    bal: uint256[MAX_TRANCHES] = bal_
    loss: uint256[MAX_TRANCHES] = loss_
    wd: uint256[MAX_TRANCHES] = wd_
    n: uint256 = N_TRANCHES
    bears: uint256 = PRINCIPAL_BEARERS
    left: uint256 = deficiency
    for k: uint256 in range(n, bound=MAX_TRANCHES):
        if left == 0:
            break
        r: uint256 = n - 1 - k
        tw: uint256 = TRANCHE_WORDS[r]
        if ((tw >> TW_RANK_END) & TW_MASK) - 1 != r:
            continue
        start: uint256 = (tw >> TW_RANK_START) & TW_MASK
        total: uint256 = 0
        for j: uint256 in range(start, r + 1, bound=MAX_TRANCHES):
            if (bears >> j) & 1 == 1:
                total += bal[j]
        take: uint256 = min(left, total)
        left -= take
        bal_left: uint256 = total
        for j: uint256 in range(start, r + 1, bound=MAX_TRANCHES):
            if bal_left == 0:
                break
            if (bears >> j) & 1 == 0:
                continue
            b: uint256 = bal[j]
            share: uint256 = take * b // bal_left
            bal_left -= b
            # ---- _write_down
            bal[j] = b - share
            loss[j] += share
            wd[j] += share
            take -= share
    return bal, loss, wd


@internal
def _step_trigger_xs(pay_: Pay, ifunds_: uint256, reserve: uint256, rdeposit: uint256, period: uint256, effects: TriggerEffect) -> (Pay, uint256, uint256, uint256):
    """
    @dev `_step_trigger_xs`: under a latched TURBO trigger, excess interest pays
         principal sequentially; under a TRAP trigger, what is left goes to the
         reserve.
    @return (balances and principal paid, interest funds, reserve, reserve deposited)
    """
    pay: Pay = pay_
    ifunds: uint256 = ifunds_
    if TriggerEffect.TURBO in effects:
        pay = self._distribute(pay, period, ifunds, True)
        ifunds = pay.left
    if TriggerEffect.TRAP in effects:
        return pay, 0, reserve + ifunds, rdeposit + ifunds
    return pay, ifunds, reserve, rdeposit


@internal
@view
def _step_reserve_topup(ifunds: uint256, reserve: uint256, rdeposit: uint256, pool_end: uint256) -> (uint256, uint256, uint256):
    """
    @dev `_step_reserve_topup`: interest funds fill the reserve up to its target.
    @return (interest funds, reserve, reserve deposited)
    """
    target: uint256 = self._reserve_target(pool_end)
    if reserve >= target:
        return ifunds, reserve, rdeposit
    dep: uint256 = min(ifunds, target - reserve)
    return ifunds - dep, reserve + dep, rdeposit + dep


@internal
@view
def _step_residual(c_: Cash, pool_end: uint256, held: bool) -> Cash:
    """
    @dev `_step_residual`: what is left goes to the residual holder, with the reserve
         above its target (unless a trigger is latched), or all of the reserve and the
         dust once the pool has paid off.
    """
    c: Cash = c_
    release: uint256 = 0
    if pool_end == 0:
        release = c.reserve + c.dust
        c.rrelease += c.reserve
        c.reserve = 0
        c.dust = 0
    elif not held:
        target: uint256 = self._reserve_target(pool_end)
        if c.reserve > target:
            release = c.reserve - target
            c.rrelease += release
            c.reserve = target
    c.residual = c.ifunds + c.pfunds + release
    c.ifunds = 0
    c.pfunds = 0
    return c


# ---------------------------------------------------------------- THE PERIOD

@internal
def _apply(rem: ExactRemittance) -> Work:
    """
    @dev `apply_period`: loads the state into the scratch, runs the steps in the
         deal's order, stores the new state and returns the scratch (with the new
         per-unit indices).
    """
    word: uint256 = self._state
    assert word & SEALED != 0  # dev: not sealed
    assert rem.period == (word & LOW64) + 1  # dev: period out of order
    n: uint256 = N_TRANCHES
    io: uint256 = IO_STRIPS
    bears: uint256 = PRINCIPAL_BEARERS
    # ---- _Work.__init__
    w: Work = empty(Work)
    w.period = rem.period
    w.interest = rem.interest
    w.pool_beg = rem.beginning_balance
    w.pool_end = rem.ending_balance
    w.delinquent = rem.delinquent_60
    w.index_rate = rem.index_rate
    w.cash.ifunds = rem.interest
    w.cash.pfunds = rem.scheduled_principal + rem.prepaid_principal + rem.recoveries + rem.subsequent_recoveries
    cum_i: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    cum_2: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    old_bc: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    # (rows of the period that `allocate` does not return: locals here, not in `Work`,
    # whose every word `allocate`'s frame holds twice on top of this one)
    beg: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    wd: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    fee_short: uint256[MAX_FEES] = empty(uint256[MAX_FEES])
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        packed: uint256 = self._bal_cum[i]
        old_bc[i] = packed
        b: uint256 = packed >> HIGH_HALF
        w.pay.bal[i] = b
        beg[i] = b
        cum_i[i] = packed & LOW128
        if (word >> (NZ_SW + i)) & 1 == 1:
            packed = self._short_wd[i]
            w.it.short[i] = (packed >> HIGH_HALF) & LOW127
            wd[i] = packed & LOW128
        if (word >> (NZ_CUM2 + i)) & 1 == 1:
            cum_2[i] = self._cum2[i] & VALUE
    for k: uint256 in range(N_FEES, bound=MAX_FEES):
        if (word >> (NZ_FEE + k)) & 1 == 1:
            fee_short[k] = self._fee_short[k] & VALUE
    for k: uint256 in range(N_TRIGGERS, bound=MAX_TRIGGERS):
        w.trig.latch[k] = (word >> (LATCH_SHIFT + k)) & 1
    w.cash.reserve = word >> HIGH_HALF
    w.reserve_before = w.cash.reserve
    old_ld: uint256 = 0
    if (word >> NZ_LD) & 1 == 1:
        old_ld = self._loss_dust & VALUE
    # ---- cumulative loss, net of subsequent recoveries, never below 0
    gross: uint256 = ((old_ld >> HIGH_HALF) & LOW127) + rem.realized_losses
    w.cum_loss = gross - min(gross, rem.subsequent_recoveries)
    w.cash.dust = old_ld & LOW128
    w.dust_before = w.cash.dust

    # ---- _net_wac (the current fees, as the trigger tests use them)
    # (the parameters the period reads more than once, each table in one read)
    fees: uint256[MAX_FEES][3] = FEES
    fees_now: uint256 = self._fees_now(w.pool_beg, fees)
    if w.pool_beg != 0:
        num: uint256 = 0
        if w.interest > fees_now:
            num = w.interest - fees_now
        w.netwac = num * MONTHS * WAD // w.pool_beg
    if N_TRIGGERS != 0:
        w.trig = self._test_triggers(
            w.trig.latch, beg, fees_now, w.pool_beg, w.pool_end, w.interest, w.cum_loss, w.delinquent, w.index_rate, w.netwac
        )
    w.effects = w.trig.effects
    sequential: bool = TriggerEffect.SEQUENTIAL in w.effects
    # ---- _held: any trigger latched (the reserve does not step down)
    held: bool = False
    for k: uint256 in range(N_TRIGGERS, bound=MAX_TRIGGERS):
        if w.trig.latch[k] == 1:
            held = True
            w.pay.latches |= 1 << k

    # ---- the steps, in the deal's order (each at most once). A step is skipped only
    # when its Python function provably changes nothing: no subsequent recoveries (write-
    # up), no deficiency (the loss steps: every amount they move is at most it), no
    # TURBO or TRAP effect latched (trigger excess); skipping saves the copies.
    step_ops: uint256 = STEP_OPS
    for s: uint256 in range(N_STEPS, bound=MAX_STEPS):
        op: uint256 = (step_ops >> (4 * s)) & 15
        if op == OP_FEES:
            w.cash.ifunds, w.fee_paid, fee_short = self._step_fees(w.cash.ifunds, w.pool_beg, fee_short, fees)
        elif op == OP_INTEREST:
            w.cash, w.pay, w.it = self._step_interest(w.cash, w.pay, w.it.short, beg, w.index_rate, w.netwac, w.period)
        elif op == OP_WRITEUP:
            if rem.subsequent_recoveries != 0:
                w.pay.bal, wd, w.writeup = self._step_writeup(w.pay.bal, wd, w.writeup, rem.subsequent_recoveries)
        elif op == OP_PRINCIPAL:
            w.pay, w.cash.pfunds = self._step_principal(w.pay, w.cash.pfunds, w.period, sequential)
        elif op == OP_XS_LOSS:
            d: uint256 = self._deficiency(w.pay.bal, w.pool_end)
            if d != 0:
                w.pay, w.cash.ifunds = self._step_xs_loss(w.pay, w.cash.ifunds, d, w.period, sequential)
        elif op == OP_RESERVE_LOSS:
            d: uint256 = self._deficiency(w.pay.bal, w.pool_end)
            if d != 0:
                w.pay, w.cash.reserve, w.cash.rdraw = self._step_reserve_loss(w.pay, w.cash.reserve, w.cash.rdraw, d, w.period, sequential)
        elif op == OP_WRITEDOWN:
            d: uint256 = self._deficiency(w.pay.bal, w.pool_end)
            if d != 0:
                w.pay.bal, w.loss, wd = self._step_writedown(w.pay.bal, w.loss, wd, d)
        elif op == OP_TRIGGER_XS:
            if w.effects & (TriggerEffect.TURBO | TriggerEffect.TRAP) != empty(TriggerEffect):
                w.pay, w.cash.ifunds, w.cash.reserve, w.cash.rdeposit = self._step_trigger_xs(w.pay, w.cash.ifunds, w.cash.reserve, w.cash.rdeposit, w.period, w.effects)
        elif op == OP_RESERVE_TOPUP:
            w.cash.ifunds, w.cash.reserve, w.cash.rdeposit = self._step_reserve_topup(w.cash.ifunds, w.cash.reserve, w.cash.rdeposit, w.pool_end)
        elif op == OP_RESIDUAL:
            excess_to: uint256 = EXCESS_TO
            if excess_to < n:
                # the interest funds left (excess interest) are that class's interest
                w.it.paid[excess_to] += w.cash.ifunds
                w.cash.ifunds = 0
            w.cash = self._step_residual(w.cash, w.pool_end, held)
    # ---- _step_penalties: to the named class as interest cash, or the residual holder
    if rem.prepayment_penalties != 0:
        penalty_to: uint256 = PENALTY_TO
        if penalty_to < n:
            w.it.paid[penalty_to] += rem.prepayment_penalties
        else:
            w.cash.residual += rem.prepayment_penalties
    # ---- IO notionals follow their reference at the end of the period
    if io != 0:
        for i: uint256 in range(n, bound=MAX_TRANCHES):
            if (io >> i) & 1 == 1:
                ref: uint256 = (TRANCHE_WORDS[i] >> TW_IO_REF) & TW_MASK
                if ref == NOTIONAL_POOL:
                    w.pay.bal[i] = w.pool_end
                elif ref >= NOTIONAL_GROUP:
                    # a group's notional: the sum of its classes' balances (the mask
                    # is the reference less NOTIONAL_GROUP, not its low bits: bit 8 of
                    # the mask is a class from nine classes on)
                    total: uint256 = 0
                    mask: uint256 = ref - NOTIONAL_GROUP
                    for j: uint256 in range(n, bound=MAX_TRANCHES):
                        if (mask >> j) & 1 == 1:
                            total += w.pay.bal[j]
                    w.pay.bal[i] = total
                else:
                    w.pay.bal[i] = w.pay.bal[ref]

    # ---- the new state and indices (only the words that change are written; a
    # word whose nonzero flag was clear holds 0 and was not read)
    assert rem.period <= LOW64 and w.cash.reserve <= LOW128  # dev: period or reserve too large
    flags: uint256 = 0
    for k: uint256 in range(N_TRIGGERS, bound=MAX_TRIGGERS):
        flags |= w.trig.latch[k] << (LATCH_SHIFT + k)
    for i: uint256 in range(n, bound=MAX_TRANCHES):
        f: uint256 = FACE_RATE[i] >> HIGH_HALF
        b: uint256 = w.pay.bal[i]
        ci: uint256 = cum_i[i] + w.it.paid[i]
        assert b <= LOW128 and ci <= LOW128  # dev: balance too large
        packed: uint256 = (b << HIGH_HALF) | ci
        if packed != old_bc[i]:
            self._bal_cum[i] = packed
        sf: uint256 = w.it.short[i]
        v: uint256 = wd[i]
        assert sf <= LOW127 and v <= LOW128  # dev: shortfall too large
        packed = (sf << HIGH_HALF) | v
        if packed != 0:
            flags |= 1 << (NZ_SW + i)
        if (word >> (NZ_SW + i)) & 1 == 1 or packed != 0:
            self._short_wd[i] = MARKER | packed
        cp: uint256 = 0
        c2: uint256 = cum_2[i]
        if (io >> i) & 1 == 1:
            cp = c2 + w.pay.paid[i]
            c2 = cp
        else:
            cl: uint256 = ((c2 >> HIGH_HALF) & LOW127) + w.loss[i]
            cw: uint256 = (c2 & LOW128) + w.writeup[i] + w.it.accreted[i]
            assert cl <= LOW127 and cw <= LOW128  # dev: cumulative too large
            c2 = (cl << HIGH_HALF) | cw
            cp = f + cw - cl - b
        assert c2 <= VALUE  # dev: cumulative too large
        if c2 != cum_2[i]:
            self._cum2[i] = MARKER | c2
        if c2 != 0:
            flags |= 1 << (NZ_CUM2 + i)
        if f != 0:
            w.idx_i[i] = ci * WAD // f
            w.idx_p[i] = cp * WAD // f
            # (the loss and write-up indices: `_loss_writeup_index`)
            assert max(w.idx_i[i], w.idx_p[i]) <= LOW127  # dev: index overflow
    for k: uint256 in range(N_FEES, bound=MAX_FEES):
        v: uint256 = fee_short[k]
        if v != 0:
            flags |= 1 << (NZ_FEE + k)
        if (word >> (NZ_FEE + k)) & 1 == 1 or v != 0:
            assert v <= VALUE  # dev: fee shortfall too large
            self._fee_short[k] = MARKER | v
    assert w.cum_loss <= LOW127 and w.cash.dust <= LOW128  # dev: loss too large
    ld: uint256 = (w.cum_loss << HIGH_HALF) | w.cash.dust
    if ld != old_ld:
        self._loss_dust = MARKER | ld
    if ld != 0:
        flags |= 1 << NZ_LD
    self._state = (w.cash.reserve << HIGH_HALF) | SEALED | flags | rem.period
    return w


@internal
@view
def _loss_writeup_index(i: uint256) -> (uint256, uint256):
    """
    @dev Tranche i's loss and write-up indices after the period (`_apply` has stored
         its cumulative word): cumulative * WAD // face; 0 for an IO strip (its word
         holds its principal) or a zero face.
    """
    f: uint256 = FACE_RATE[i] >> HIGH_HALF
    if (IO_STRIPS >> i) & 1 == 1 or f == 0:
        return 0, 0
    c2: uint256 = self._cum2[i] & VALUE
    il: uint256 = ((c2 >> HIGH_HALF) & LOW127) * WAD // f
    iw: uint256 = (c2 & LOW128) * WAD // f
    assert max(il, iw) <= LOW127  # dev: index overflow
    return il, iw


# ---------------------------------------------------------------- ENTRY POINTS

@internal
@pure
def _remittance(r: deal_types.RemittanceReport) -> ExactRemittance:
    """
    @dev The exact remittance of a verified report (`openmbs.structuring.exact_remittance`):
         unscheduled principal = prepaid, losses = realized losses, and the
         delinquency test's balance is the whole 60+ balance, 60-89 days plus 90+.
         Advances reimbursed out of liquidation proceeds are taken before the
         waterfall: off the recoveries, onto the realized losses.
    """
    assert r.cash + r.liquidation_reimbursements == r.interest + r.scheduled_principal + r.unscheduled_principal + r.recoveries + r.subsequent_recoveries + r.prepayment_penalties  # dev: cash is not the collections
    return ExactRemittance(
        period=r.period,
        interest=r.interest,
        scheduled_principal=r.scheduled_principal,
        prepaid_principal=r.unscheduled_principal,
        recoveries=r.recoveries - r.liquidation_reimbursements,
        realized_losses=r.losses + r.liquidation_reimbursements,
        beginning_balance=r.beginning_balance,
        ending_balance=r.ending_balance,
        delinquent_60=r.delinquent_60 + r.delinquent_90_plus,
        index_rate=r.index_rate,
        subsequent_recoveries=r.subsequent_recoveries,
        prepayment_penalties=r.prepayment_penalties,
    )


@external
def apply(r: deal_types.RemittanceReport) -> ExactResult:
    """
    @notice Run one period of the exact waterfall (`apply_period`) on a report and
            return every figure of `ExactPeriodResult`. Deal only.
    @dev The report is mapped to the exact remittance as in `allocate` (`_remittance`).
    @param r The period's report (`RemittanceReport`, every delinquency bucket).
    @return ExactResult What the period paid.
    """
    assert msg.sender == deal  # dev: only deal
    res: ExactResult = empty(ExactResult)
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        res.beginning_balance[i] = self._bal_cum[i] >> HIGH_HALF
    rem: ExactRemittance = self._remittance(r)
    w: Work = self._apply(rem)
    res.period = rem.period
    cash_out: uint256 = 0
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        cash_out += w.it.paid[i] + w.pay.paid[i]
    for k: uint256 in range(N_FEES, bound=MAX_FEES):
        cash_out += w.fee_paid[k]
    res.interest_due = w.it.due
    res.interest_paid = w.it.paid
    res.accreted = w.it.accreted
    res.interest_shortfall = w.it.short
    res.principal_paid = w.pay.paid
    res.writedown = w.loss
    res.writeup = w.writeup
    res.ending_balance = w.pay.bal
    res.fees_paid = w.fee_paid
    res.trigger_failing = w.trig.failing
    res.reserve_draw = w.cash.rdraw
    res.reserve_deposit = w.cash.rdeposit
    res.reserve_release = w.cash.rrelease
    res.reserve_balance = w.cash.reserve
    res.effects = w.effects
    res.residual_paid = w.cash.residual
    res.dust = w.cash.dust
    res.dust_change = convert(w.cash.dust, int256) - convert(w.dust_before, int256)
    res.cash_in = rem.interest + rem.scheduled_principal + rem.prepaid_principal + rem.recoveries + rem.subsequent_recoveries + rem.prepayment_penalties
    res.cash_out = cash_out + w.cash.residual
    res.cleanup_eligible = CLEANUP_WAD > 0 and rem.ending_balance * WAD <= CLEANUP_WAD * POOL_ORIGINAL
    res.interest_index = w.idx_i
    res.principal_index = w.idx_p
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        res.loss_index[i], res.writeup_index[i] = self._loss_writeup_index(i)
    return res


@external
def allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation:
    """
    @notice The deal's interface: one period from the verified report. Deal only.
    @dev NOT view (the exact state lives here). Maps the report to the exact
         remittance (`_remittance`: unscheduled principal = prepaid, losses =
         realized losses, 60+ delinquent = 60-89 days + 90+ days).
         The deal's reserve account holds the reserve AND the interest-shortfall
         dust (`reserve_balance = reserve + dust`), which keeps the deal's
         conservation identity exact. Write-ups and Z accretion are returned as
         `writeup` (they raise a balance); the indices are the carried ones (the
         loss and write-up indices only for tranches with a write-down / write-up
         this period, 0 otherwise).
         `state` = [net cumulative loss, period, latched-trigger bits | effects << 8,
         dust].
    @param inp The verified report and the deal's reserve account.
    @return Allocation The period's split, balances and indices.
    """
    assert msg.sender == deal  # dev: only deal
    # (the report is read from the calldata: a copy here would sit on top of the
    # memory of every frame below)
    w: Work = self._apply(self._remittance(inp.report))
    # (checked against the state before the period, which `_apply` loaded)
    assert inp.reserve_balance == w.reserve_before + w.dust_before  # dev: reserve out of sync
    a: deal_types.Allocation = empty(deal_types.Allocation)
    fee: uint256 = 0
    for k: uint256 in range(N_FEES, bound=MAX_FEES):
        fee += w.fee_paid[k]
    latch_bits: uint256 = 0
    for k: uint256 in range(N_TRIGGERS, bound=MAX_TRIGGERS):
        latch_bits |= w.trig.latch[k] << k
    a.interest = w.it.paid
    a.principal = w.pay.paid
    a.loss = w.loss
    a.balance = w.pay.bal
    a.interest_shortfall = w.it.short
    a.interest_index = w.idx_i
    a.principal_index = w.idx_p
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        up: uint256 = w.writeup[i] + w.it.accreted[i]
        a.writeup[i] = up
        # (returned only when they moved: the deal reads them only then)
        if w.loss[i] != 0 or up != 0:
            il: uint256 = 0
            iw: uint256 = 0
            il, iw = self._loss_writeup_index(i)
            if w.loss[i] != 0:
                a.loss_index[i] = il
            if up != 0:
                a.writeup_index[i] = iw
    a.fee = fee
    a.residual = w.cash.residual
    a.reserve_balance = w.cash.reserve + w.cash.dust
    a.state[0] = w.cum_loss
    a.state[1] = inp.report.period
    a.state[2] = latch_bits | (convert(w.effects, uint256) << 8)
    a.state[3] = w.cash.dust
    return a


# ---------------------------------------------------------------- VIEWS

@internal
@view
def _index_carry(kind: uint256, i: uint256) -> (uint256, uint256):
    """
    @dev Index and carry of kind 0 interest, 1 principal, 2 loss, 3 write-up, from
         the cumulative amount: cum * WAD = index * face + carry.
    """
    if i >= N_TRANCHES:
        return 0, 0
    f: uint256 = FACE_RATE[i] >> HIGH_HALF
    if f == 0:
        return 0, 0
    cum: uint256 = 0
    c2: uint256 = self._cum2[i] & VALUE
    if kind == 0:
        cum = self._bal_cum[i] & LOW128
    elif kind == 1:
        if (IO_STRIPS >> i) & 1 == 1:
            cum = c2
        else:
            cum = f + (c2 & LOW128) - ((c2 >> HIGH_HALF) & LOW127) - (self._bal_cum[i] >> HIGH_HALF)
    elif kind == 2:
        if (IO_STRIPS >> i) & 1 == 0:
            cum = (c2 >> HIGH_HALF) & LOW127
    elif kind == 3:
        if (IO_STRIPS >> i) & 1 == 0:
            cum = c2 & LOW128
    return cum * WAD // f, cum * WAD % f


@external
@view
def state_word(w: uint256) -> uint256:
    """
    @notice The deal-level state words: 0 net cumulative loss (realized losses less
            subsequent recoveries, at least 0), 1 last period,
            2 latched-trigger bits | effects of the latched triggers << 8, 3 dust.
    @param w The word.
    @return uint256 The word.
    """
    if w == 0:
        return (self._loss_dust >> HIGH_HALF) & LOW127
    word: uint256 = self._state
    if w == 1:
        return word & LOW64
    if w == 2:
        bits: uint256 = 0
        effects: TriggerEffect = empty(TriggerEffect)
        for k: uint256 in range(N_TRIGGERS, bound=MAX_TRIGGERS):
            if (word >> (LATCH_SHIFT + k)) & 1 == 1:
                bits |= 1 << k
                effects |= convert(TRIGGERS[3][k], TriggerEffect)
        return bits | (convert(effects, uint256) << 8)
    if w == 3:
        return self._loss_dust & LOW128
    return 0


@external
@view
def index(kind: uint256, i: uint256) -> (uint256, uint256):
    """
    @notice Per-unit index and carry of tranche `i`: kind 0 interest, 1 principal,
            2 loss, 3 write-up (and Z accretion).
    @param kind The index kind (0..3).
    @param i The tranche index.
    @return (uint256, uint256) (index per unit of original face scaled 1e18, the
            remainder carried to the next period).
    """
    assert kind < 4 and i < MAX_TRANCHES  # dev: bad index
    return self._index_carry(kind, i)


@external
@pure
def max_tranches() -> uint256:
    """
    @notice The class bound of this build (`deal_types.MAX_TRANCHES`): the rows of
            the Allocation it exchanges with the deal.
    """
    return MAX_TRANCHES


@external
@view
def sealed() -> bool:
    """
    @notice Whether the set-up is over (`allocate` / `apply` may run).
    @return bool True once sealed.
    """
    return self._state & SEALED != 0


@external
@view
def period() -> uint256:
    """
    @notice The last period applied (0 before the first).
    @return uint256 The period.
    """
    return self._state & LOW64


@external
@view
def writedown(i: uint256) -> uint256:
    """
    @notice Face of tranche `i` written off and not yet written back up.
    @param i The tranche index.
    @return uint256 The amount, in settlement base units.
    """
    return self._short_wd[i] & LOW128


@external
@view
def fee_shortfall(k: uint256) -> uint256:
    """
    @notice Unpaid fee `k` carried forward.
    @param k The fee index.
    @return uint256 The amount, in settlement base units.
    """
    return self._fee_short[k] & VALUE


@external
@view
def reserve() -> uint256:
    """
    @notice The reserve account (the exact engine's; the deal's reserve account also
            holds the dust).
    @return uint256 The reserve, in settlement base units.
    """
    return self._state >> HIGH_HALF


@external
@view
def latch(k: uint256) -> uint256:
    """
    @notice 1 while trigger `k` is latched.
    @param k The trigger index.
    @return uint256 1 if latched, else 0.
    """
    return (self._state >> (LATCH_SHIFT + k)) & 1


@external
@view
def cum_loss() -> uint256:
    """
    @notice Net cumulative loss: realized losses less subsequent recoveries, at least 0.
    @return uint256 The loss, in settlement base units.
    """
    return (self._loss_dust >> HIGH_HALF) & LOW127


@external
@view
def dust() -> uint256:
    """
    @notice Interest-shortfall rounding units held for the residual holder.
    @return uint256 The dust, in settlement base units.
    """
    return self._loss_dust & LOW128


@external
@view
def tranche_balance(i: uint256) -> uint256:
    """
    @notice Current face of tranche `i` (an IO strip's current notional).
    @param i The tranche index.
    @return uint256 The balance, in settlement base units.
    """
    return self._bal_cum[i] >> HIGH_HALF


@external
@view
def shortfall(i: uint256) -> uint256:
    """
    @notice Unpaid interest of tranche `i` carried forward.
    @param i The tranche index.
    @return uint256 The shortfall, in settlement base units.
    """
    return (self._short_wd[i] >> HIGH_HALF) & LOW127


@external
@view
def get_state() -> ExactStateOut:
    """
    @notice The whole stored state (`ExactState`), arrays padded with zeros.
    @return ExactStateOut The state.
    """
    out: ExactStateOut = empty(ExactStateOut)
    word: uint256 = self._state
    out.period = word & LOW64
    for i: uint256 in range(N_TRANCHES, bound=MAX_TRANCHES):
        out.balance[i] = self._bal_cum[i] >> HIGH_HALF
        packed: uint256 = self._short_wd[i]
        out.shortfall[i] = (packed >> HIGH_HALF) & LOW127
        out.writedown[i] = packed & LOW128
        for kind: uint256 in range(4):
            out.index[kind][i], out.carry[kind][i] = self._index_carry(kind, i)
    for k: uint256 in range(N_FEES, bound=MAX_FEES):
        out.fee_shortfall[k] = self._fee_short[k] & VALUE
    for k: uint256 in range(N_TRIGGERS, bound=MAX_TRIGGERS):
        out.latch[k] = (word >> (LATCH_SHIFT + k)) & 1
    out.reserve = word >> HIGH_HALF
    out.cum_loss = (self._loss_dust >> HIGH_HALF) & LOW127
    out.dust = self._loss_dust & LOW128
    return out


@external
@view
def pac_schedule_of(i: uint256) -> DynArray[uint256, MAX_PAC]:
    """
    @notice The PAC schedule loaded for tranche `i`.
    @param i The tranche index.
    @return DynArray The scheduled ending balances (empty for a non-PAC class).
    """
    return self.pac_schedule[i]

