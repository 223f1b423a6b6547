"""The exact waterfall: integer money, one period at a time.

THIS MODULE IS THE SPECIFICATION OF THE ON-CHAIN WATERFALL. The Vyper contract is a
line-by-line port of :func:`apply_period` and its step functions; a differential test
checks that both produce the same numbers to the last unit. Hence the style: Python
ints only (no floats, no numpy), no dicts, loops bounded by :data:`MAX_TRANCHES` on
chain (:data:`MAX_CLASSES` in Python),
:data:`MAX_FEES`, :data:`MAX_TRIGGERS`, one function per step.

Units
-----
* Money: base units of the settlement asset (1 USDC = 10**6 units).
* Rates and ratios: WAD fixed point, ``WAD = 10**18`` is 1.0 (100% a year for rates).
* Periods: monthly, 30/360: one period's interest on ``b`` at annual rate ``r`` is
  ``b * r // (12 * WAD)`` (= ``b * r * 30 // (360 * WAD)``).

Rounding (every division rounds in the deal's favour)
----------------------------------------------------
* Interest due, fees due, the reserve target, PAC targets and per-unit indices are
  floored (what the deal owes a class is never rounded up).
* Trigger tests never divide: ``a / b < t`` is evaluated as ``a * WAD < t * b``, so a
  test switches exactly at its threshold.
* A class-of-equal-rank interest shortfall splits the available cash pro rata with
  floored shares; the units left over (fewer than the number of classes in the rank)
  go to the deal's ``dust`` account. Dust is paid to the residual holder in the final
  period (ending pool balance 0, which includes the clean-up call).
* Principal and loss amounts split pro rata inside a group (or rank) use the "remaining" method:
  share ``j`` is ``floor(amount_left * balance_j / balance_left)``, taken in order, so the
  last class of the group takes the rounding remainder and the split is exact (the
  money follows the pool balance; nothing is parked).
* Per-unit indices (scaled by WAD, per unit of ORIGINAL face) are floored; the
  remainder of each division is carried to the next period, so the cumulative index
  times the face never exceeds the cumulative cash paid (holder claims
  ``units * index // WAD`` sum to at most the cash paid).

Order of a period (the deal's ``steps``; defaults in ``DEFAULT_ORDER`` of the spec)
-----------------------------------------------------------------------------------
0. Triggers are tested first, each comparing figures of ONE date: OC the pool's
   beginning balance with the classes' beginning balances (both as they stood right
   after the previous distribution), IC this period's interest with this period's
   interest due, cumulative loss the net losses to date with the original pool, 60+
   delinquency the period's ending delinquent and pool balances. A failing test
   latches (non-curable tests stay latched). The effects of the latched tests (bit
   mask) apply to the whole period.
1. ``OP_FEES``: senior fees from interest funds (unpaid fees carried forward).
2. ``OP_INTEREST``: interest by priority rank, pro rata inside a rank; the reserve pays
   a rank's shortfall if it covers interest; unpaid interest is carried forward (with
   interest on it when ``interest_on_shortfall``); a Z class accretes while its
   accretion-directed classes are outstanding and the accrual cash pays their principal.
3. ``OP_WRITEUP``: subsequent recoveries write up written-down classes, senior first.
4. ``OP_PRINCIPAL``: principal funds (scheduled + prepaid + recoveries + subsequent
   recoveries) by the principal rules in force.
5. ``OP_XS_LOSS``: excess interest pays principal up to the principal deficiency
   (sum of class balances above the ending pool balance).
6. ``OP_RESERVE_LOSS``: the reserve pays principal up to the remaining deficiency.
7. ``OP_WRITEDOWN``: what deficiency remains is written off face, most junior rank
   first; classes of one rank share it by balance.
8. ``OP_TRIGGER_XS``: while a TURBO effect is on, excess interest pays principal
   sequentially; while a TRAP effect is on, it is deposited in the reserve.
9. ``OP_RESERVE_TOPUP``: excess interest tops the reserve up to its target.
10. ``OP_RESIDUAL``: the rest (excess interest, unused principal funds, reserve above
    target while NO trigger is latched, i.e. no step-down while a test fails or a
    non-curable one stays tripped; in the final period the whole reserve and the dust)
    to the residual holder.

Other formulas
--------------
* Net WAC (WAD) = ``max(interest - current fees, 0) * 12 * WAD // beginning pool``.
* Coupon: fixed ``rate``; floating ``min(max(m * index + margin, floor), cap)`` (cap 0
  = none), at least 0, with ``m * index`` = ``index * multiplier // WAD`` (``m`` is 1
  when ``multiplier`` is empty); inverse floating ``min(max(margin - m * index, floor),
  cap)``, at least 0; net WAC ``max(net_wac + margin, 0)``; fixed capped
  ``min(rate, net_wac)``.
* Fee ``min(beginning pool * fee_rate // (12 * WAD) + fixed, cap)`` (cap 0 = none),
  plus unpaid fees carried.
* Reserve target ``max(floor, ending pool * pct // WAD)``; 0 when the pool is 0. The
  reserve is topped up to its target from excess interest; it is released above the
  target only while no trigger is latched (and wholly in the final period).
* Tests (each on figures of one date):

  - OC fails iff ``beginning pool * WAD < threshold * sum(beginning balances of the
    test class and seniors)``. Pool and classes are compared at the beginning of the
    period: the ratio right after the previous distribution. (The pool's ENDING
    balance against classes that have not yet received the period's principal falls
    with every prepayment and trips with no loss at all.) A period's loss shows in
    the next period's test.
  - IC fails iff ``(interest - current fees) * WAD < threshold * current interest due
    of those classes``.
  - Cumulative loss fails iff ``cum_loss * WAD > threshold * pool_original``, where
    ``cum_loss`` is the NET cumulative loss, as trustees report it: ``max(previous +
    realized_losses - subsequent_recoveries, 0)`` (a loss later recovered no longer
    counts).
  - 60+ delinquency fails iff ``delinquent * WAD > threshold * ending pool``, with
    ``delinquent`` the whole 60+ balance (60-89 days plus 90+ days).
* IO notional: set at the end of each period to the referenced class's ending balance
  (or the ending pool balance, or the sum of a group's classes); interest is on the
  beginning notional.

The deal language (rule programs)
---------------------------------
A deal with rules (``program`` not empty) pays principal by its program instead of
steps 1-2 of :func:`_distribute` (step 3, anything left to any class by priority,
still follows), and a Z class with accrual rules pays its accrual by its own program
(what is left joins the principal funds). :func:`_run_program` runs instructions of
four ints (``I_*``); register 0 holds the amount. Items are classes (``i < n``) or
groups (``n + g``): a group is paid in member order (mode 0) or by balance with the
remaining method (mode 1). A concurrent split floors each share
(``amount * weight // WAD``) and gives the remainder to the last share, so it is
exact; each share's unused cash is merged back for the next rule. A planned target is
the group's scheduled ending balance for the period (0 after the schedule). The
``sequential`` trigger effect does not change a program (rules use ``when`` and
``unless``). On chain, ``RuleProgram.vy`` runs the program (the waterfall calls it
for the principal rules and each Z class's accrual rules); what the chain cannot run
yet is listed by ``chain_unsupported`` in ``_compile.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from openmbs.errors import InputError

__all__ = [
    "E_SEQUENTIAL",
    "E_TRAP",
    "E_TURBO",
    "MAX_FEES",
    "MAX_TRANCHES",
    "MAX_TRIGGERS",
    "NOTIONAL_POOL",
    "WAD",
    "ExactDeal",
    "ExactPeriodResult",
    "ExactRemittance",
    "ExactState",
    "apply_period",
    "initial_state",
]

WAD = 10**18
MONTHS = 12
#: Most classes the ON-CHAIN waterfall takes (its arrays' bound). The Python engines
#: take up to :data:`MAX_CLASSES`.
MAX_TRANCHES = 16
#: Most classes of a deal in the Python engines (the deal language's bound).
MAX_CLASSES = 64
MAX_FEES = 4
MAX_TRIGGERS = 4
#: Longest order of payments: each of the ten steps (``OP_*``) at most once.
MAX_STEPS = 10

# coupon kinds
CPN_NONE = 0
CPN_FIXED = 1
CPN_FLOAT = 2
CPN_NETWAC = 3
CPN_FIXED_CAPPED = 4
CPN_INVERSE = 5

# principal rules
PR_NONE = 0
PR_SEQ = 1
PR_PRORATA = 2
PR_PAC = 3
PR_SUPPORT = 4

# tranche flags (bit mask)
F_IO = 1
F_PO = 2
F_Z = 4

#: ``io_ref`` value meaning "the notional is the pool balance".
NOTIONAL_POOL = 255
#: ``io_ref`` values from this on mean "the notional is group ``io_ref - NOTIONAL_GROUP``".
NOTIONAL_GROUP = 256

# instructions of a rule program (4 ints each: op, a, b, c); see ``_run_program``
I_SEQ = 1  # reg, lo, hi: pay items prog_list[lo:hi] in order, each to zero
I_PRORATA = 2  # reg, lo, hi: pay items prog_list[lo:hi] by balance, to zero
I_PLANNED = 3  # reg, g, 0: pay group g down to its planned balance
I_SPLIT = 4  # reg, lo, hi: move register reg to registers prog_list[lo:hi] by prog_wad[lo:hi]
I_MERGE = 5  # src, dst, 0: add register src to register dst (a sub-rule's unused cash)
I_SKIP = 6  # k, count, want: skip the next count instructions unless latch[k] == want

# trigger tests
T_OC = 1
T_IC = 2
T_CUMLOSS = 3
T_DELINQ = 4

# trigger effects (bit mask)
E_SEQUENTIAL = 1
E_TRAP = 2
E_TURBO = 4

# reserve flags (bit mask)
R_COVERS_INTEREST = 1
R_COVERS_LOSSES = 2

# steps (opcodes)
OP_FEES = 1
OP_INTEREST = 2
OP_WRITEUP = 3
OP_PRINCIPAL = 4
OP_XS_LOSS = 5
OP_RESERVE_LOSS = 6
OP_WRITEDOWN = 7
OP_TRIGGER_XS = 8
OP_RESERVE_TOPUP = 9
OP_RESIDUAL = 10


@dataclass(frozen=True)
class ExactDeal:
    """A deal compiled to flat integer parameters (see :func:`compile_exact`).

    Per-tranche tuples have ``n_tranches`` elements, tranches sorted by ``priority``
    (rank 1 is the most senior). Rates, margins, caps, floors and thresholds are WAD.

    Attributes
    ----------
    face : original face (base units); for an IO strip, its original notional.
    coupon_kind : CPN_* code. rate : fixed rate or IO strip rate. margin : floater or
        net-WAC margin (may be negative). cap : floater cap (0 = none). floor : floater
        floor.
    priority : seniority rank for interest, principal and (reversed) losses.
    rank_start, rank_end : first index / one past the last index of the tranche's rank.
    rule : PR_* principal rule. group_start, group_end : the tranche's pro-rata
        principal group (adjacent ``pro_rata`` classes of the same spec ``group``;
        itself for other rules).
    lockout : no principal while ``period <= lockout`` (unless nothing else is left).
    flags : F_IO | F_PO | F_Z. io_ref : tranche index whose balance is the IO notional,
        or NOTIONAL_POOL. accretion_mask : bit ``j`` set if tranche ``j`` receives this
        Z class's accretion.
    pac_schedule : per tranche, the scheduled ENDING balance for periods 1, 2, ...
        (empty for non-PAC classes; 0 after the last element).
    fee_rate, fee_fixed, fee_cap : per fee, annual rate on the beginning pool balance,
        fixed amount per period, cap per period (0 = no cap).
    reserve_initial, reserve_floor, reserve_pct, reserve_flags : reserve account.
    trig_test, trig_ref, trig_threshold, trig_effect, trig_curable : per trigger.
    steps : the order of payments as OP_* codes.
    interest_on_shortfall : 1 to accrue interest on unpaid interest at the class rate.
    cleanup_wad : pool factor at or below which the clean-up call may be exercised.
    pool_original : pool balance at closing (base units).
    decimals : decimals of the settlement asset.
    names, fee_names, trigger_names : labels (not used by the arithmetic).
    program, prog_list, prog_wad : the rule program (instructions of 4 ints, ``I_*``),
        its operand lists (items: class ``i < n_tranches`` or group ``n_tranches + g``;
        or registers) and split weights (WAD); empty for the fixed order.
    principal_prog : instruction range ``[start, end)`` of the principal rules.
    accrual_prog : per tranche, the instruction range of a Z class's accrual rules
        (``(0, 0)``: none). n_regs : registers a program uses.
    n_groups, grp_start, grp_end, grp_members, grp_mode, grp_schedule : groups:
        members ``grp_members[grp_start[g]:grp_end[g]]`` in payment order, mode 0
        sequential / 1 pro rata, planned ending balances for periods 1, 2, ... (0
        after the last; empty for a group without schedule).
    grp_prog : per group of mode 2 (paid by its own rules), its instruction range,
        input register and end of its registers ``(start, end, r_in, r_end)``; empty
        when no group has rules.
    grp_defer : per group, the periods ``1..grp_defer[g]`` in which a ``planned`` rule
        pays it nothing (the schedule's deferral; caught up from the next period, the
        planned balance being cumulative); empty means no deferral.
    multiplier : per tranche, the index multiplier of a floater or inverse floater
        (WAD; empty means 1 for every class).
    excess_to : the class paid the excess interest at the residual step (-1: the
        residual holder).
    penalty_to : the class paid the prepayment penalties, as interest cash (a P class;
        -1: the residual holder); the spec's ``prepayment_penalties``.
    """

    n_tranches: int
    face: tuple[int, ...]
    coupon_kind: tuple[int, ...]
    rate: tuple[int, ...]
    margin: tuple[int, ...]
    cap: tuple[int, ...]
    floor: tuple[int, ...]
    priority: tuple[int, ...]
    rank_start: tuple[int, ...]
    rank_end: tuple[int, ...]
    rule: tuple[int, ...]
    group_start: tuple[int, ...]
    group_end: tuple[int, ...]
    lockout: tuple[int, ...]
    flags: tuple[int, ...]
    io_ref: tuple[int, ...]
    accretion_mask: tuple[int, ...]
    pac_schedule: tuple[tuple[int, ...], ...]
    n_fees: int
    fee_rate: tuple[int, ...]
    fee_fixed: tuple[int, ...]
    fee_cap: tuple[int, ...]
    reserve_initial: int
    reserve_floor: int
    reserve_pct: int
    reserve_flags: int
    n_triggers: int
    trig_test: tuple[int, ...]
    trig_ref: tuple[int, ...]
    trig_threshold: tuple[int, ...]
    trig_effect: tuple[int, ...]
    trig_curable: tuple[int, ...]
    steps: tuple[int, ...]
    interest_on_shortfall: int
    cleanup_wad: int
    pool_original: int
    decimals: int
    names: tuple[str, ...] = ()
    # the deal language (all empty: the fixed order of ``_distribute``)
    program: tuple[int, ...] = ()
    prog_list: tuple[int, ...] = ()
    prog_wad: tuple[int, ...] = ()
    principal_prog: tuple[int, int] = (0, 0)
    accrual_prog: tuple[tuple[int, int], ...] = ()
    n_regs: int = 1
    n_groups: int = 0
    grp_start: tuple[int, ...] = ()
    grp_end: tuple[int, ...] = ()
    grp_members: tuple[int, ...] = ()
    grp_mode: tuple[int, ...] = ()
    grp_schedule: tuple[tuple[int, ...], ...] = ()
    grp_defer: tuple[int, ...] = ()
    grp_prog: tuple[tuple[int, int, int, int], ...] = ()
    multiplier: tuple[int, ...] = ()
    group_names: tuple[str, ...] = ()
    excess_to: int = -1
    fee_names: tuple[str, ...] = ()
    trigger_names: tuple[str, ...] = ()
    penalty_to: int = -1


@dataclass(frozen=True)
class ExactState:
    """The deal's state between periods (integers only).

    ``balance`` is the current face (an IO strip's current notional); ``shortfall`` the
    unpaid interest carried forward; ``writedown`` the face written off and not yet
    written back up; ``fee_shortfall`` unpaid fees; ``latch`` 1 while a trigger is
    tripped; ``cum_loss`` the net cumulative loss (realized losses less subsequent
    recoveries, never below 0); ``*_index`` the cumulative per-unit indices (WAD per unit of original
    face; ``writeup_index`` counts write-ups and Z accretion) and ``*_carry`` the
    remainders of their divisions (numerators below the face).
    """

    period: int
    balance: tuple[int, ...]
    shortfall: tuple[int, ...]
    writedown: tuple[int, ...]
    fee_shortfall: tuple[int, ...]
    reserve: int
    latch: tuple[int, ...]
    cum_loss: int
    dust: int
    interest_index: tuple[int, ...]
    principal_index: tuple[int, ...]
    loss_index: tuple[int, ...]
    writeup_index: tuple[int, ...]
    interest_carry: tuple[int, ...]
    principal_carry: tuple[int, ...]
    loss_carry: tuple[int, ...]
    writeup_carry: tuple[int, ...]


@dataclass(frozen=True)
class ExactRemittance:
    """One period's servicer report, in base units (rates WAD).

    ``interest`` is the interest collected (net of the servicing strip when servicing
    is in the net rate). ``recoveries`` are liquidation proceeds of this period;
    ``realized_losses`` the principal lost on those liquidations;
    ``subsequent_recoveries`` cash later recovered on loans already written off (paid
    as principal, and writes classes back up). ``delinquent_60`` is the 60+ days
    delinquent balance (for the delinquency test); ``index_rate`` the floater index.
    ``prepayment_penalties`` is cash beside the waterfall, paid after it to the deal's
    ``penalty_to`` class (as interest cash) or to the residual holder. Servicer
    advances are inside ``interest`` and ``scheduled_principal``; advances reimbursed
    out of liquidation proceeds are already taken off ``recoveries`` and added to
    ``realized_losses`` (``exact_remittance``).
    """

    period: int
    interest: int
    scheduled_principal: int
    prepaid_principal: int
    recoveries: int
    realized_losses: int
    beginning_balance: int
    ending_balance: int
    delinquent_60: int = 0
    index_rate: int = 0
    subsequent_recoveries: int = 0
    prepayment_penalties: int = 0


@dataclass(frozen=True)
class ExactPeriodResult:
    """What one period paid, per tranche (tuples) and for the deal.

    ``interest_due`` includes carried shortfall; ``interest_paid`` is cash;
    ``accreted`` the Z accretion (interest added to face instead of paid);
    ``interest_shortfall`` the unpaid interest carried forward after the period.
    ``reserve_draw`` is what the reserve paid for interest and losses,
    ``reserve_release`` what it paid to the residual holder (above target, or all of it
    in the final period), ``reserve_deposit`` what it received; exactly,
    ``cash_in = cash_out + reserve_deposit - reserve_draw - reserve_release +
    dust_change``.
    """

    period: int
    beginning_balance: tuple[int, ...]
    interest_due: tuple[int, ...]
    interest_paid: tuple[int, ...]
    accreted: tuple[int, ...]
    interest_shortfall: tuple[int, ...]
    principal_paid: tuple[int, ...]
    writedown: tuple[int, ...]
    writeup: tuple[int, ...]
    ending_balance: tuple[int, ...]
    fees_paid: tuple[int, ...]
    reserve_draw: int
    reserve_deposit: int
    reserve_release: int
    reserve_balance: int
    trigger_failing: tuple[int, ...]
    effects: int
    residual_paid: int
    dust: int
    dust_change: int
    cash_in: int
    cash_out: int
    cleanup_eligible: bool
    interest_index: tuple[int, ...]
    principal_index: tuple[int, ...]
    loss_index: tuple[int, ...]
    writeup_index: tuple[int, ...]


def initial_state(deal: ExactDeal) -> ExactState:
    """The state at closing: every class at its face, the reserve at its initial deposit."""
    n = deal.n_tranches
    zeros = (0,) * n
    return ExactState(
        period=0,
        balance=deal.face,
        shortfall=zeros,
        writedown=zeros,
        fee_shortfall=(0,) * deal.n_fees,
        reserve=deal.reserve_initial,
        latch=(0,) * deal.n_triggers,
        cum_loss=0,
        dust=0,
        interest_index=zeros,
        principal_index=zeros,
        loss_index=zeros,
        writeup_index=zeros,
        interest_carry=zeros,
        principal_carry=zeros,
        loss_carry=zeros,
        writeup_carry=zeros,
    )


class _Work:
    """Mutable scratch of one period (the contract's memory variables)."""

    __slots__ = (
        "accreted",
        "bal",
        "beg",
        "cum_loss",
        "delinquent",
        "dust",
        "effects",
        "failing",
        "fee_paid",
        "fee_short",
        "ifunds",
        "index_rate",
        "int_due",
        "int_paid",
        "interest",
        "latch",
        "loss",
        "netwac",
        "period",
        "pfunds",
        "pool_beg",
        "pool_end",
        "prin_paid",
        "reserve",
        "reserve_deposit",
        "reserve_draw",
        "reserve_release",
        "residual",
        "shortfall",
        "writedown",
        "writeup",
    )

    def __init__(self, deal: ExactDeal, state: ExactState, rem: ExactRemittance) -> None:
        n = deal.n_tranches
        self.period = rem.period
        self.interest = rem.interest
        self.pool_beg = rem.beginning_balance
        self.pool_end = rem.ending_balance
        self.delinquent = rem.delinquent_60
        self.index_rate = rem.index_rate
        self.ifunds = rem.interest
        self.pfunds = (
            rem.scheduled_principal
            + rem.prepaid_principal
            + rem.recoveries
            + rem.subsequent_recoveries
        )
        self.bal = list(state.balance)
        self.beg = list(state.balance)
        self.shortfall = list(state.shortfall)
        self.writedown = list(state.writedown)
        self.fee_short = list(state.fee_shortfall)
        self.reserve = state.reserve
        self.latch = list(state.latch)
        # net of subsequent recoveries (as trustees report it), never below 0
        self.cum_loss = max(
            state.cum_loss + rem.realized_losses - rem.subsequent_recoveries, 0
        )
        self.dust = state.dust
        self.int_due = [0] * n
        self.int_paid = [0] * n
        self.accreted = [0] * n
        self.prin_paid = [0] * n
        self.loss = [0] * n
        self.writeup = [0] * n
        self.fee_paid = [0] * deal.n_fees
        self.failing = [0] * deal.n_triggers
        self.reserve_draw = 0
        self.reserve_release = 0
        self.reserve_deposit = 0
        self.residual = 0
        self.effects = 0
        self.netwac = 0


# ---------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------


def _monthly(amount: int, rate_wad: int) -> int:
    """One 30/360 month of interest on ``amount`` at ``rate_wad`` a year, floored."""
    return amount * rate_wad // (MONTHS * WAD)


def _bears_principal(deal: ExactDeal, i: int) -> bool:
    return deal.rule[i] != PR_NONE and deal.flags[i] & F_IO == 0


def _locked(deal: ExactDeal, w: _Work, i: int) -> bool:
    return w.period <= deal.lockout[i]


def _fee_current(deal: ExactDeal, k: int, pool_beg: int) -> int:
    """This period's fee before any carried shortfall: rate + fixed, within the cap."""
    fee = _monthly(pool_beg, deal.fee_rate[k]) + deal.fee_fixed[k]
    if deal.fee_cap[k] > 0 and fee > deal.fee_cap[k]:
        fee = deal.fee_cap[k]
    return fee


def _coupon_rate(deal: ExactDeal, w: _Work, i: int) -> int:
    """The class's annual rate this period (WAD)."""
    kind = deal.coupon_kind[i]
    if kind == CPN_FIXED:
        return deal.rate[i]
    if kind in (CPN_FLOAT, CPN_INVERSE):
        # floater: multiplier x index + margin; inverse floater: margin - multiplier x
        # index (the multiplier's product floored; no multipliers means 1)
        index = w.index_rate
        if deal.multiplier:
            index = index * deal.multiplier[i] // WAD
        r = index + deal.margin[i] if kind == CPN_FLOAT else deal.margin[i] - index
        if r < deal.floor[i]:
            r = deal.floor[i]
        if deal.cap[i] > 0 and r > deal.cap[i]:
            r = deal.cap[i]
        return max(r, 0)
    if kind == CPN_NETWAC:
        return max(w.netwac + deal.margin[i], 0)
    if kind == CPN_FIXED_CAPPED:
        return min(deal.rate[i], w.netwac)
    return 0


def _pac_target(deal: ExactDeal, i: int, period: int) -> int:
    sched = deal.pac_schedule[i]
    if period <= len(sched):
        return sched[period - 1]
    return 0


def _reserve_target(deal: ExactDeal, pool_end: int) -> int:
    if pool_end == 0:
        return 0
    target = pool_end * deal.reserve_pct // WAD
    return max(target, deal.reserve_floor)


def _deficiency(deal: ExactDeal, w: _Work) -> int:
    """Class balances in excess of the ending pool balance (0 if none)."""
    total = 0
    for i in range(deal.n_tranches):
        if _bears_principal(deal, i):
            total += w.bal[i]
    return max(total - w.pool_end, 0)


def _pay_principal(w: _Work, i: int, amount: int) -> None:
    w.bal[i] -= amount
    w.prin_paid[i] += amount


def _pro_rata(deal: ExactDeal, w: _Work, start: int, end: int, amount: int) -> int:
    """Pay ``amount`` pro rata by balance to the unlocked classes in [start, end).

    Remaining method: share = amount_left * bal // balance_left, in order, so the last
    class takes the rounding remainder. Returns what is left (only when every class
    of the group is paid off).
    """
    total = 0
    for j in range(start, end):
        if not _locked(deal, w, j):
            total += w.bal[j]
    if total == 0:
        return amount
    if amount >= total:
        for j in range(start, end):
            if not _locked(deal, w, j):
                _pay_principal(w, j, w.bal[j])
        return amount - total
    left = amount
    bal_left = total
    for j in range(start, end):
        if _locked(deal, w, j) or w.bal[j] == 0:
            continue
        share = left * w.bal[j] // bal_left
        bal_left -= w.bal[j]
        _pay_principal(w, j, share)
        left -= share
    return left


def _item_balance(deal: ExactDeal, w: _Work, item: int) -> int:
    """Balance of a program item: a class (``item < n``) or a group (``n + g``)."""
    n = deal.n_tranches
    if item < n:
        return w.bal[item] if _bears_principal(deal, item) else 0
    g = item - n
    total = 0
    for q in range(deal.grp_start[g], deal.grp_end[g]):
        total += w.bal[deal.grp_members[q]]
    return total


def _pay_item(deal: ExactDeal, w: _Work, item: int, amount: int) -> None:
    """Pay ``amount`` (at most the item's balance) to a class or a group (a group shares
    it by its mode: members in order, or by balance with the remaining method)."""
    n = deal.n_tranches
    if item < n:
        _pay_principal(w, item, amount)
        return
    g = item - n
    start = deal.grp_start[g]
    end = deal.grp_end[g]
    if deal.grp_mode[g] == 2:
        # the group's own rules (its classes only; they end with its classes in
        # order, so an amount up to the group's balance is paid in full)
        p0, p1, r_in, _r_end = deal.grp_prog[g]
        left = _run_program(deal, w, p0, p1, amount, r_in)
        assert left == 0, "a group's rules leave nothing of an amount up to its balance"
        return
    if deal.grp_mode[g] == 0:
        for q in range(start, end):
            if amount == 0:
                return
            j = deal.grp_members[q]
            pay = min(amount, w.bal[j])
            _pay_principal(w, j, pay)
            amount -= pay
        return
    bal_left = 0
    for q in range(start, end):
        bal_left += w.bal[deal.grp_members[q]]
    for q in range(start, end):
        if bal_left == 0:
            return
        j = deal.grp_members[q]
        share = amount * w.bal[j] // bal_left
        bal_left -= w.bal[j]
        _pay_principal(w, j, share)
        amount -= share


def _planned_target(deal: ExactDeal, g: int, period: int) -> int:
    sched = deal.grp_schedule[g]
    if period <= len(sched):
        return sched[period - 1]
    return 0


def _run_program(deal: ExactDeal, w: _Work, start: int, end: int, amount: int, reg_in: int = 0) -> int:
    """Pay ``amount`` by the rule program's instructions ``[start, end)``; returns the
    unused part.

    Register 0 holds the amount; a concurrent split moves a register's cash to the
    sub-rules' registers (floored shares by WAD weight, the last sub-rule takes the
    remainder, so the split is exact) and each sub-rule's unused cash is merged back
    after it, for the next rule.
    """
    regs = [0] * deal.n_regs
    regs[reg_in] = amount
    pc = start
    while pc < end:
        op = deal.program[4 * pc]
        a = deal.program[4 * pc + 1]
        b = deal.program[4 * pc + 2]
        c = deal.program[4 * pc + 3]
        pc += 1
        if op == I_SKIP:
            if w.latch[a] != c:
                pc += b
        elif op == I_MERGE:
            regs[b] += regs[a]
            regs[a] = 0
        elif op == I_SPLIT:
            x = regs[a]
            used = 0
            for q in range(b, c - 1):
                y = x * deal.prog_wad[q] // WAD
                regs[deal.prog_list[q]] += y
                used += y
            regs[deal.prog_list[c - 1]] += x - used
            regs[a] = 0
        elif op == I_PLANNED:
            if deal.grp_defer and w.period <= deal.grp_defer[b]:
                continue  # the schedule is deferred: caught up later
            item = deal.n_tranches + b
            excess = _item_balance(deal, w, item) - _planned_target(deal, b, w.period)
            if excess > 0 and regs[a] > 0:
                pay = min(regs[a], excess)
                _pay_item(deal, w, item, pay)
                regs[a] -= pay
        elif op == I_SEQ:
            for q in range(b, c):
                if regs[a] == 0:
                    break
                item = deal.prog_list[q]
                pay = min(regs[a], _item_balance(deal, w, item))
                _pay_item(deal, w, item, pay)
                regs[a] -= pay
        elif op == I_PRORATA:
            x = regs[a]
            total = 0
            for q in range(b, c):
                total += _item_balance(deal, w, deal.prog_list[q])
            if x >= total:
                for q in range(b, c):
                    item = deal.prog_list[q]
                    _pay_item(deal, w, item, _item_balance(deal, w, item))
                regs[a] = x - total
            else:
                left = x
                bal_left = total
                for q in range(b, c):
                    if bal_left == 0:
                        break
                    item = deal.prog_list[q]
                    bi = _item_balance(deal, w, item)
                    share = left * bi // bal_left
                    bal_left -= bi
                    _pay_item(deal, w, item, share)
                    left -= share
                regs[a] = left
    return regs[reg_in]


def _distribute(deal: ExactDeal, w: _Work, amount: int, sequential: bool) -> int:
    """Pay ``amount`` of principal by the rules in force; returns the unused part.

    1. PAC classes down to their scheduled balance, senior first.
    2. Sequential, support and pro-rata classes that are not locked out, by priority
       (a pro-rata group shares by balance unless ``sequential``).
    3. Anything left: every principal-bearing class by priority (PAC classes beyond
       their schedule once the supports are gone, locked-out classes once nothing
       else is left).
    """
    n = deal.n_tranches
    if deal.principal_prog[1] > deal.principal_prog[0]:
        # the deal's rules; anything they leave goes on to step 3
        amount = _run_program(deal, w, deal.principal_prog[0], deal.principal_prog[1], amount)
    for i in range(n if deal.principal_prog[1] == deal.principal_prog[0] else 0):
        if amount == 0:
            return 0
        if deal.rule[i] == PR_PAC and not _locked(deal, w, i):
            excess = w.bal[i] - _pac_target(deal, i, w.period)
            if excess > 0:
                pay = min(amount, excess)
                _pay_principal(w, i, pay)
                amount -= pay
    for i in range(n if deal.principal_prog[1] == deal.principal_prog[0] else 0):
        if amount == 0:
            return 0
        rule = deal.rule[i]
        if rule not in (PR_SEQ, PR_PRORATA, PR_SUPPORT) or deal.flags[i] & F_IO != 0:
            continue
        if _locked(deal, w, i):
            continue
        if rule == PR_PRORATA and not sequential:
            if deal.group_start[i] == i:
                amount = _pro_rata(deal, w, i, deal.group_end[i], amount)
            continue
        pay = min(amount, w.bal[i])
        _pay_principal(w, i, pay)
        amount -= pay
    for i in range(n):
        if amount == 0:
            return 0
        if _bears_principal(deal, i):
            pay = min(amount, w.bal[i])
            _pay_principal(w, i, pay)
            amount -= pay
    return amount


def _write_down(deal: ExactDeal, w: _Work, i: int, amount: int) -> None:
    w.bal[i] -= amount
    w.loss[i] += amount
    w.writedown[i] += amount


# ---------------------------------------------------------------------------------
# step 0: triggers
# ---------------------------------------------------------------------------------


def _test_triggers(deal: ExactDeal, w: _Work) -> None:
    """Evaluate every trigger, update latches and the period's effect mask."""
    fees_now = 0
    for k in range(deal.n_fees):
        fees_now += _fee_current(deal, k, w.pool_beg)
    for k in range(deal.n_triggers):
        test = deal.trig_test[k]
        thr = deal.trig_threshold[k]
        fail = False
        if test in (T_OC, T_IC):
            ref_rank = deal.priority[deal.trig_ref[k]]
            den = 0
            for i in range(deal.n_tranches):
                if deal.priority[i] > ref_rank:
                    continue
                if test == T_OC and _bears_principal(deal, i):
                    den += w.beg[i]
                if test == T_IC:
                    den += _monthly(w.beg[i], _coupon_rate(deal, w, i))
            if test == T_OC:
                # one date: the pool and the classes as they stood after the
                # previous distribution (the period's beginning balances)
                fail = den > 0 and w.pool_beg * WAD < thr * den
            else:
                num = max(w.interest - fees_now, 0)
                fail = den > 0 and num * WAD < thr * den
        elif test == T_CUMLOSS:
            fail = w.cum_loss * WAD > thr * deal.pool_original
        elif test == T_DELINQ:
            fail = w.delinquent * WAD > thr * w.pool_end
        w.failing[k] = 1 if fail else 0
        if fail or (w.latch[k] == 1 and deal.trig_curable[k] == 0):
            w.latch[k] = 1
        else:
            w.latch[k] = 0
        if w.latch[k] == 1:
            w.effects |= deal.trig_effect[k]


def _held(deal: ExactDeal, w: _Work) -> bool:
    """Whether any trigger is latched this period (failing, or non-curable and
    tripped before): the reserve then does not step down (a TRAP is one case)."""
    return any(w.latch[k] == 1 for k in range(deal.n_triggers))


def _net_wac(deal: ExactDeal, w: _Work) -> int:
    """Pool net WAC this period (WAD): (interest - current fees) x 12 / beginning balance."""
    if w.pool_beg == 0:
        return 0
    fees_now = 0
    for k in range(deal.n_fees):
        fees_now += _fee_current(deal, k, w.pool_beg)
    return max(w.interest - fees_now, 0) * MONTHS * WAD // w.pool_beg


# ---------------------------------------------------------------------------------
# the steps
# ---------------------------------------------------------------------------------


def _step_fees(deal: ExactDeal, w: _Work) -> None:
    for k in range(deal.n_fees):
        due = _fee_current(deal, k, w.pool_beg) + w.fee_short[k]
        pay = min(due, w.ifunds)
        w.ifunds -= pay
        w.fee_paid[k] = pay
        w.fee_short[k] = due - pay


def _accrete(deal: ExactDeal, w: _Work, z: int, amount: int) -> None:
    """Add ``amount`` to the Z class's face and pay the same cash as principal to its
    accretion-directed classes, senior first; any excess joins the principal funds."""
    w.bal[z] += amount
    w.accreted[z] += amount
    if deal.accrual_prog and deal.accrual_prog[z][1] > deal.accrual_prog[z][0]:
        start, end = deal.accrual_prog[z]
        w.pfunds += _run_program(deal, w, start, end, amount)
        return
    for i in range(deal.n_tranches):
        if amount == 0:
            break
        if deal.accretion_mask[z] >> i & 1 == 1:
            pay = min(amount, w.bal[i])
            _pay_principal(w, i, pay)
            amount -= pay
    w.pfunds += amount


def _z_accreting(deal: ExactDeal, w: _Work, z: int) -> bool:
    if deal.flags[z] & F_Z == 0:
        return False
    for i in range(deal.n_tranches):
        if deal.accretion_mask[z] >> i & 1 == 1 and w.bal[i] > 0:
            return True
    return False


def _step_interest(deal: ExactDeal, w: _Work) -> None:
    n = deal.n_tranches
    for r in range(n):
        if deal.rank_start[r] != r:
            continue
        end = deal.rank_end[r]
        total = 0
        for i in range(r, end):
            rate = _coupon_rate(deal, w, i)
            due = _monthly(w.beg[i], rate) + w.shortfall[i]
            if deal.interest_on_shortfall == 1:
                due += _monthly(w.shortfall[i], rate)
            w.int_due[i] = due
            total += due
        if total > w.ifunds and deal.reserve_flags & R_COVERS_INTEREST != 0:
            draw = min(w.reserve, total - w.ifunds)
            w.reserve -= draw
            w.reserve_draw += draw
            w.ifunds += draw
        if total <= w.ifunds:
            for i in range(r, end):
                w.int_paid[i] = w.int_due[i]
            w.ifunds -= total
        else:
            pot = w.ifunds
            paid = 0
            for i in range(r, end):
                share = pot * w.int_due[i] // total
                w.int_paid[i] = share
                paid += share
            w.dust += pot - paid
            w.ifunds = 0
        for i in range(r, end):
            w.shortfall[i] = w.int_due[i] - w.int_paid[i]
            if _z_accreting(deal, w, i):
                accrual = w.int_paid[i]
                w.int_paid[i] = 0
                _accrete(deal, w, i, accrual)


def _step_writeup(deal: ExactDeal, w: _Work, amount: int) -> None:
    """Subsequent recoveries write classes back up, senior first (reverse loss order)."""
    for i in range(deal.n_tranches):
        if amount == 0:
            return
        up = min(amount, w.writedown[i])
        w.bal[i] += up
        w.writedown[i] -= up
        w.writeup[i] += up
        amount -= up


def _step_principal(deal: ExactDeal, w: _Work) -> None:
    w.pfunds = _distribute(deal, w, w.pfunds, w.effects & E_SEQUENTIAL != 0)


def _step_xs_loss(deal: ExactDeal, w: _Work) -> None:
    pay = min(w.ifunds, _deficiency(deal, w))
    left = _distribute(deal, w, pay, w.effects & E_SEQUENTIAL != 0)
    w.ifunds -= pay - left


def _step_reserve_loss(deal: ExactDeal, w: _Work) -> None:
    if deal.reserve_flags & R_COVERS_LOSSES == 0:
        return
    draw = min(w.reserve, _deficiency(deal, w))
    left = _distribute(deal, w, draw, w.effects & E_SEQUENTIAL != 0)
    w.reserve -= draw - left
    w.reserve_draw += draw - left


def _step_writedown(deal: ExactDeal, w: _Work) -> None:
    """Write the deficiency off face bottom-up, rank by rank (most junior rank first);
    classes of the same rank share it by balance (remaining method)."""
    left = _deficiency(deal, w)
    n = deal.n_tranches
    for k in range(n):
        if left == 0:
            return
        r = n - 1 - k
        if deal.rank_end[r] - 1 != r:
            continue
        start = deal.rank_start[r]
        total = 0
        for j in range(start, r + 1):
            if _bears_principal(deal, j):
                total += w.bal[j]
        take = min(left, total)
        left -= take
        bal_left = total
        for j in range(start, r + 1):
            if bal_left == 0:
                break
            if not _bears_principal(deal, j):
                continue
            share = take * w.bal[j] // bal_left
            bal_left -= w.bal[j]
            _write_down(deal, w, j, share)
            take -= share


def _step_trigger_xs(deal: ExactDeal, w: _Work) -> None:
    if w.effects & E_TURBO != 0:
        left = _distribute(deal, w, w.ifunds, True)
        w.ifunds = left
    if w.effects & E_TRAP != 0:
        w.reserve += w.ifunds
        w.reserve_deposit += w.ifunds
        w.ifunds = 0


def _step_reserve_topup(deal: ExactDeal, w: _Work) -> None:
    target = _reserve_target(deal, w.pool_end)
    if w.reserve < target:
        dep = min(w.ifunds, target - w.reserve)
        w.reserve += dep
        w.reserve_deposit += dep
        w.ifunds -= dep


def _step_residual(deal: ExactDeal, w: _Work) -> None:
    if deal.excess_to >= 0:
        # the interest funds left (excess interest) are that class's interest
        w.int_paid[deal.excess_to] += w.ifunds
        w.ifunds = 0
    release = 0
    if w.pool_end == 0:
        release = w.reserve + w.dust
        w.reserve_release += w.reserve
        w.reserve = 0
        w.dust = 0
    elif not _held(deal, w):
        target = _reserve_target(deal, w.pool_end)
        if w.reserve > target:
            release = w.reserve - target
            w.reserve_release += release
            w.reserve = target
    w.residual = w.ifunds + w.pfunds + release
    w.ifunds = 0
    w.pfunds = 0


def _accumulate(amount: int, face: int, index: int, carry: int) -> tuple[int, int]:
    """Add ``amount`` per unit of ``face`` to a WAD index; returns (index, carry)."""
    if face == 0:
        return index, carry
    num = amount * WAD + carry
    return index + num // face, num % face


def _step_penalties(deal: ExactDeal, w: _Work, penalties: int) -> None:
    """Prepayment penalties, after the order of payments: to the ``penalty_to`` class
    as interest cash (its interest index grows), or to the residual holder."""
    if penalties == 0:
        return
    if deal.penalty_to >= 0:
        w.int_paid[deal.penalty_to] += penalties
    else:
        w.residual += penalties


def _check(rem: ExactRemittance, state: ExactState) -> None:
    if rem.period != state.period + 1:
        raise InputError(f"remittance period {rem.period} does not follow period {state.period}")
    for name in (
        "interest",
        "scheduled_principal",
        "prepaid_principal",
        "recoveries",
        "realized_losses",
        "beginning_balance",
        "ending_balance",
        "delinquent_60",
        "index_rate",
        "subsequent_recoveries",
        "prepayment_penalties",
    ):
        value = getattr(rem, name)
        if not isinstance(value, int) or value < 0:
            raise InputError(f"remittance period {rem.period}: field {name!r} value {value!r} must be an integer >= 0")


def apply_period(
    deal: ExactDeal, state: ExactState, remittance: ExactRemittance
) -> tuple[ExactState, ExactPeriodResult]:
    """Run one period of the exact waterfall.

    Parameters
    ----------
    deal : ExactDeal
        The compiled deal (:func:`openmbs.structuring.compile_exact`).
    state : ExactState
        The state after the previous period (:func:`initial_state` at closing).
    remittance : ExactRemittance
        The period's collections; ``remittance.period`` must be ``state.period + 1``.

    Returns
    -------
    (ExactState, ExactPeriodResult)
        The new state and what was paid.

    Notes
    -----
    Interest is 30/360 (one twelfth of the annual rate a period). Rounding rules and
    the order of steps are in the module docstring; the identity
    ``cash_in == cash_out + reserve_deposit - reserve_draw - reserve_release +
    dust_change`` holds to the unit in every period.

    Examples
    --------
    >>> from openmbs.structuring import compile_exact, example_deal
    >>> from openmbs.structuring._exact import ExactRemittance, apply_period, initial_state
    >>> deal = compile_exact(example_deal("senior_sub"))
    >>> s0 = initial_state(deal)
    >>> rem = ExactRemittance(1, 0, 0, 0, 0, 0, deal.pool_original, deal.pool_original)
    >>> s1, res = apply_period(deal, s0, rem)
    >>> res.cash_in == (res.cash_out + res.reserve_deposit - res.reserve_draw
    ...                 - res.reserve_release + res.dust_change)
    True
    """
    _check(remittance, state)
    n = deal.n_tranches
    w = _Work(deal, state, remittance)
    dust_before = w.dust
    reserve_before = w.reserve
    w.netwac = _net_wac(deal, w)
    _test_triggers(deal, w)
    for op in deal.steps:
        if op == OP_FEES:
            _step_fees(deal, w)
        elif op == OP_INTEREST:
            _step_interest(deal, w)
        elif op == OP_WRITEUP:
            _step_writeup(deal, w, remittance.subsequent_recoveries)
        elif op == OP_PRINCIPAL:
            _step_principal(deal, w)
        elif op == OP_XS_LOSS:
            _step_xs_loss(deal, w)
        elif op == OP_RESERVE_LOSS:
            _step_reserve_loss(deal, w)
        elif op == OP_WRITEDOWN:
            _step_writedown(deal, w)
        elif op == OP_TRIGGER_XS:
            _step_trigger_xs(deal, w)
        elif op == OP_RESERVE_TOPUP:
            _step_reserve_topup(deal, w)
        elif op == OP_RESIDUAL:
            _step_residual(deal, w)
    _step_penalties(deal, w, remittance.prepayment_penalties)
    # IO notionals follow their reference at the end of the period
    for i in range(n):
        if deal.flags[i] & F_IO != 0:
            ref = deal.io_ref[i]
            if ref >= NOTIONAL_GROUP:
                w.bal[i] = _item_balance(deal, w, n + ref - NOTIONAL_GROUP)
            else:
                w.bal[i] = w.pool_end if ref == NOTIONAL_POOL else w.bal[ref]
    int_idx = list(state.interest_index)
    prin_idx = list(state.principal_index)
    loss_idx = list(state.loss_index)
    up_idx = list(state.writeup_index)
    int_c = list(state.interest_carry)
    prin_c = list(state.principal_carry)
    loss_c = list(state.loss_carry)
    up_c = list(state.writeup_carry)
    for i in range(n):
        f = deal.face[i]
        int_idx[i], int_c[i] = _accumulate(w.int_paid[i], f, int_idx[i], int_c[i])
        prin_idx[i], prin_c[i] = _accumulate(w.prin_paid[i], f, prin_idx[i], prin_c[i])
        if deal.flags[i] & F_IO == 0:
            loss_idx[i], loss_c[i] = _accumulate(w.loss[i], f, loss_idx[i], loss_c[i])
            up_idx[i], up_c[i] = _accumulate(
                w.writeup[i] + w.accreted[i], f, up_idx[i], up_c[i]
            )
    cash_in = (
        remittance.interest
        + remittance.scheduled_principal
        + remittance.prepaid_principal
        + remittance.recoveries
        + remittance.subsequent_recoveries
        + remittance.prepayment_penalties
    )
    cash_out = sum(w.fee_paid) + sum(w.int_paid) + sum(w.prin_paid) + w.residual
    result = ExactPeriodResult(
        period=w.period,
        beginning_balance=tuple(w.beg),
        interest_due=tuple(w.int_due),
        interest_paid=tuple(w.int_paid),
        accreted=tuple(w.accreted),
        interest_shortfall=tuple(w.shortfall),
        principal_paid=tuple(w.prin_paid),
        writedown=tuple(w.loss),
        writeup=tuple(w.writeup),
        ending_balance=tuple(w.bal),
        fees_paid=tuple(w.fee_paid),
        reserve_draw=w.reserve_draw,
        reserve_deposit=w.reserve_deposit,
        reserve_release=w.reserve_release,
        reserve_balance=w.reserve,
        trigger_failing=tuple(w.failing),
        effects=w.effects,
        residual_paid=w.residual,
        dust=w.dust,
        dust_change=w.dust - dust_before,
        cash_in=cash_in,
        cash_out=cash_out,
        cleanup_eligible=deal.cleanup_wad > 0
        and w.pool_end * WAD <= deal.cleanup_wad * deal.pool_original,
        interest_index=tuple(int_idx),
        principal_index=tuple(prin_idx),
        loss_index=tuple(loss_idx),
        writeup_index=tuple(up_idx),
    )
    assert w.reserve - reserve_before == w.reserve_deposit - w.reserve_draw - w.reserve_release
    new_state = ExactState(
        period=w.period,
        balance=tuple(w.bal),
        shortfall=tuple(w.shortfall),
        writedown=tuple(w.writedown),
        fee_shortfall=tuple(w.fee_short),
        reserve=w.reserve,
        latch=tuple(w.latch),
        cum_loss=w.cum_loss,
        dust=w.dust,
        interest_index=tuple(int_idx),
        principal_index=tuple(prin_idx),
        loss_index=tuple(loss_idx),
        writeup_index=tuple(up_idx),
        interest_carry=tuple(int_c),
        principal_carry=tuple(prin_c),
        loss_carry=tuple(loss_c),
        writeup_carry=tuple(up_c),
    )
    return new_state, result
