# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs Deal: cash distributor, tranche ledger and compliance registry
@custom:contract-name Deal
@license Apache-2.0
@notice The deal core. It holds the deal's cash (settlement asset) with internal
        accounting, keeps per-tranche cumulative indices (interest, principal and
        loss per unit of ORIGINAL face, scaled 1e18, only growing) and
        lets holders pull what they are owed. A holder's claim is
        `balance * (index_now - index_at_checkpoint) // 1e18` (rounded down: against
        the claimant; the dust stays in the deal). The holders' checkpoints live in
        the tranche tokens, packed in each holder's balance word (so a transfer to a
        new holder or a first claim creates no storage slot): on every transfer the
        token asks the deal (`on_transfer`) for the transfer rules and the current
        index, and on a claim the deal asks the token (`take`) what the holder is
        owed and moves the checkpoint.
        Each period the remittance oracle hands over a verified report; the deal asks
        the waterfall contract (`ExactWaterfall`, the port of the exact Python
        waterfall, which keeps the tranche balances, shortfalls, triggers and index
        remainders) how to split the cash, checks that the split conserves cash and
        that no index grows by more than the cash paid allows, and stores the
        waterfall's indices (so holder claims equal the exact engine's to the unit).
        The reserve account is funded at closing out of the offering proceeds.
        No loop over holders or loans anywhere.
        The deal is also the compliance registry read by the tranche tokens
        (allowlist with per-holder expiry, freeze flag) and the pause switch
        (guardian) that stops transfers, subscriptions and remittances, never claims.
"""

# ---------------------------------------------------------------- IMPORTS

from ethereum.ercs import IERC20
from snekmate.auth import access_control
from . import deal_types

initializes: access_control

exports: (
    access_control.DEFAULT_ADMIN_ROLE,
    access_control.hasRole,
    access_control.getRoleAdmin,
    access_control.grantRole,
    access_control.revokeRole,
    access_control.renounceRole,
    access_control.supportsInterface,
)

# ---------------------------------------------------------------- INTERFACES

interface IWaterfall:
    def allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation: nonpayable
    def tranche_balance(i: uint256) -> uint256: view
    def shortfall(i: uint256) -> uint256: view
    def state_word(w: uint256) -> uint256: view
    def max_tranches() -> uint256: view

interface IOracle:
    def servicer_bond() -> address: view

interface ITrancheToken:
    def take(holder: address, idx: uint256) -> uint256: nonpayable
    def claimable_at(holder: address, idx: uint256) -> uint256: view
    def checkpoint_of(holder: address) -> (uint256, uint256): view

# ---------------------------------------------------------------- CONSTANTS

MAX_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
STATE_WORDS: constant(uint256) = deal_types.STATE_WORDS
WAD: constant(uint256) = deal_types.WAD
MAX_BATCH: constant(uint256) = 64
MAX_PAIRS: constant(uint256) = (MAX_TRANCHES + 1) // 2
# @dev The fields of the packed words (see STORAGE): read through the named helpers
# under PACKED STORAGE, except on the hot paths, which use these same constants
# inline (why: PACKED STORAGE).
# `_progress`: credited (bits 144..255) | reserve account (34..143) | other income
# pending (bit 33) | last period (2..32) | paused (bit 1) | closed (bit 0).
_CLOSED_BIT: constant(uint256) = 1
_PAUSED_BIT: constant(uint256) = 2
_PERIOD_SHIFT: constant(uint256) = 2
_PERIOD_MAX: constant(uint256) = 2**31 - 1
_INCOME_BIT: constant(uint256) = 2**33
_RESERVE_SHIFT: constant(uint256) = 34
_RESERVE_MAX: constant(uint256) = 2**110 - 1
_CREDITED_SHIFT: constant(uint256) = 144
_CREDITED_MAX: constant(uint256) = 2**112 - 1
# `_tranche[t]`: cash claimed counter (bits 160..255) | token address (0..159).
_TOKEN_MASK: constant(uint256) = 2**160 - 1
_COUNTER_SHIFT: constant(uint256) = 160
_COUNTER_MAX: constant(uint256) = 2**96 - 1
# `_cidx[k]`, `_pidx[k]`: tranche 2k's index (bits 128..255) | tranche 2k+1's (0..127).
_HALF_BITS: constant(uint256) = 128
_HALF_MASK: constant(uint256) = 2**128 - 1
_INDEX_MAX: constant(uint256) = 2**127 - 1
# `_payees`: owed to the fee recipient (bits 128..255) | to the residual one (0..127).
_FEE_SHIFT: constant(uint256) = 128
_OWED_MAX: constant(uint256) = 2**128 - 1
# `_compliance[holder]`: frozen (bit 255) | allowlist expiry (bits 0..63).
_FROZEN_BIT: constant(uint256) = 2**255
_UNTIL_MASK: constant(uint256) = 2**64 - 1

GUARDIAN_ROLE: public(constant(bytes32)) = keccak256("GUARDIAN_ROLE")
COMPLIANCE_ROLE: public(constant(bytes32)) = keccak256("COMPLIANCE_ROLE")

# ---------------------------------------------------------------- EVENTS

# @dev NatSpec of events, in comments: vyper 0.4.3's userdoc/devdoc cover the contract
# and its external functions only. Amounts are in settlement base units.

# @notice The deal's contracts were wired together (once, by the deployer).
# @param issuance The issuance escrow. @param oracle The remittance oracle.
# @param waterfall The waterfall contract. @param tokens The tranche tokens, in order.
event DealConfigured:
    issuance: address
    oracle: address
    waterfall: address
    tokens: DynArray[address, MAX_TRANCHES]

# @notice The primary offering closed; remittances may start.
# @param timestamp The block time of closing.
event DealClosed:
    timestamp: uint256

# @notice The reserve account was funded at closing.
# @param source The issuance escrow. @param amount The deposit.
# @param reserve_balance The reserve account after it.
event ReserveFunded:
    source: indexed(address)
    amount: uint256
    reserve_balance: uint256

# @notice A period's remittance was distributed.
# @param period The period. @param cash The cash remitted. @param fee Fees owed.
# @param residual Owed to the residual holder. @param reserve_balance The reserve
#        account after the period. @param credited Cash credited to holders.
# @param state The waterfall's state words after the period.
event Distributed:
    period: indexed(uint256)
    cash: uint256
    fee: uint256
    residual: uint256
    reserve_balance: uint256
    credited: uint256
    state: uint256[STATE_WORDS]

# @notice One tranche's share of a period (one event per tranche per period).
# @param period The period. @param tranche The tranche index. @param interest
#        Interest paid. @param principal Principal paid. @param loss Face written
#        down. @param balance Current face after the period. @param
#        interest_shortfall Unpaid interest carried. @param writeup Face written up.
event TrancheAllocated:
    period: indexed(uint256)
    tranche: indexed(uint256)
    interest: uint256
    principal: uint256
    loss: uint256
    balance: uint256
    interest_shortfall: uint256
    writeup: uint256

# @notice A holder pulled what it was owed on a tranche.
# @param holder The holder. @param tranche The tranche index. @param amount Paid.
event Claimed:
    holder: indexed(address)
    tranche: indexed(uint256)
    amount: uint256

# @notice A fee or residual recipient pulled what it was owed.
# @param payee The recipient. @param amount Paid.
event PayeeClaimed:
    payee: indexed(address)
    amount: uint256

# @notice A holder's allowlist expiry was set (0: removed).
# @param holder The account. @param valid_until Unix seconds.
event AllowlistSet:
    holder: indexed(address)
    valid_until: uint256

# @notice A holder was frozen or unfrozen.
# @param holder The account. @param frozen True if frozen.
event FrozenSet:
    holder: indexed(address)
    frozen: bool

# @notice The fee and residual recipients changed (what the former were owed is
#         parked for them).
# @param fee_recipient The new fee recipient. @param residual_recipient The new
#        residual recipient.
event RecipientsSet:
    fee_recipient: address
    residual_recipient: address

# @notice Other income for holders arrived (a late-report penalty from the servicer's
#         bond); it is paid with the next distributed period's available interest.
# @param source The ServicerBond. @param amount Received.
# @param pending Other income pending after it.
event OtherIncomeReceived:
    source: indexed(address)
    amount: uint256
    pending: uint256

# @notice The pending other income entered a period's distribution as available
#         interest (`Distributed.cash` is the servicer's cash; the waterfall
#         distributed `cash + amount`).
# @param period The period. @param amount The other income distributed.
event OtherIncomeDistributed:
    period: indexed(uint256)
    amount: uint256

# @notice The waterfall contract was replaced.
# @param waterfall The new waterfall.
event WaterfallSet:
    waterfall: address

# @notice The guardian paused transfers, subscriptions and remittances.
# @param account The guardian.
event Paused:
    account: address

# @notice The guardian lifted the pause.
# @param account The guardian.
event Unpaused:
    account: address

# ---------------------------------------------------------------- STORAGE

# @dev The settlement asset (a stablecoin); tranche tokens share its decimals.
settlement: public(immutable(IERC20))
# @dev Number of tranches, and their original face in settlement base units.
tranche_count: public(immutable(uint256))
original_face: public(immutable(uint256[MAX_TRANCHES]))
# @dev Pool balance at the cut-off date: period 1's beginning balance.
initial_pool_balance: public(immutable(uint256))
# @dev The reserve account's initial deposit, funded at closing from the proceeds.
reserve_initial: public(immutable(uint256))
# @dev The governance timelock, given DEFAULT_ADMIN_ROLE at deployment (the setters
# check the role, not this address: see "Authority model" in docs/chain.md).
timelock: public(immutable(address))
_DEPLOYER: immutable(address)

# @dev Whether `configure` has run; the issuance escrow, the remittance oracle and
# the waterfall contract it wired (the waterfall may be replaced by governance).
configured: public(bool)
issuance: public(address)
oracle: public(address)
waterfall: public(address)
# @dev Per tranche: the token address (low 160 bits) | a counter of cash claimed
# by holders (high 96 bits; claim_all counts its total on tranche 0; an overflow
# moves to `_claimed_spill`). cash_claimed = sum of the counters + the spill.
_tranche: uint256[MAX_TRANCHES]
_claimed_spill: uint256

# @dev Cumulative indices per unit of original face, scaled 1e18, as the waterfall
# computed them (floored, remainders carried by the waterfall), each below 2**127.
# Two tranches share each word: tranche 2k in the high 128 bits, 2k+1 in the low.
# `_cidx` holds the cash index C = I + P (what holders are paid on), `_pidx` the
# principal index P; the interest index is C - P. A period that pays no principal
# to a pair leaves its `_pidx` word alone.
_cidx: uint256[MAX_PAIRS]
_pidx: uint256[MAX_PAIRS]
# @dev Cumulative face written down, and written back up (subsequent recoveries and
# Z accretion), per unit of original face, scaled 1e18.
loss_index: public(uint256[MAX_TRANCHES])
writeup_index: public(uint256[MAX_TRANCHES])
# @dev The one word a remittance reads and writes for the deal's books (and a
# transfer reads for the pause): cash credited to tranche holders through the
# indices, all periods (bits 144..255) | the reserve account (the waterfall's
# reserve plus its rounding dust; bits 34..143) | other income pending (bit 33:
# `_other_income` is not zero) | last distributed period (bits 2..32) | paused flag
# (bit 1) | closed flag (bit 0).
_progress: uint256
# @dev Other income received and not yet distributed (late-report penalties paid by
# the servicer's bond, `add_other_income`); read by a remittance only when
# `_progress`'s flag says it is not zero (no cold read on an ordinary period).
_other_income: uint256
# @dev Cash owed to the current fee recipient (high 128 bits) and residual
# recipient (low 128 bits), pull. What was owed to a former recipient when the
# recipients changed is parked per address in `_parked` (total `_parked_total`).
_payees: uint256
_parked: HashMap[address, uint256]
_parked_total: uint256
# @dev The current fee and residual recipients (pull with `claim_payee`).
fee_recipient: public(address)
residual_recipient: public(address)
# @dev When reporting last became possible (unix seconds): the closing, or the lifting
# of a pause. The servicer bond gives the servicer a grace period from it before a
# late-report penalty (`ServicerBond.late_from`). Never read on the hot path.
resumed_at: public(uint256)
# Internal accounting of the settlement asset, by construction (every period's
# cash lands in exactly one of the holders' credit, the payees, the reserve):
# cash_held = credited - claimed + owed to payees + reserve account + other income
# pending.

# @dev Compliance, packed per holder: bit 255 the freeze flag, the low 64 bits the
# allowlist expiry (unix seconds; 0 = never allowed; 2**64-1 = forever).
_compliance: HashMap[address, uint256]


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(
    settlement_: IERC20,
    faces_: DynArray[uint256, MAX_TRANCHES],
    initial_pool_balance_: uint256,
    reserve_initial_: uint256,
    timelock_: address,
    guardian_: address,
    compliance_: address,
    fee_recipient_: address,
    residual_recipient_: address,
):
    """
    @notice Create a deal. The deployer may call `configure` once; every later
            parameter change needs DEFAULT_ADMIN_ROLE, which only the timelock gets.
    @param settlement_ The settlement asset.
    @param faces_ Original face of each tranche, in settlement base units.
    @param initial_pool_balance_ Pool balance at cut-off (period 1 beginning balance).
    @param reserve_initial_ Initial reserve deposit, funded by the issuance at closing.
    @param timelock_ The timelock contract (admin of every role).
    @param guardian_ Holder of GUARDIAN_ROLE (pause).
    @param compliance_ Holder of COMPLIANCE_ROLE (allowlist, freeze).
    @param fee_recipient_ Receives waterfall fees (pull).
    @param residual_recipient_ Receives the residual (pull).
    """
    assert len(faces_) > 0  # dev: no tranches
    assert timelock_ != empty(address)  # dev: zero timelock
    access_control.__init__()
    settlement = settlement_
    tranche_count = len(faces_)
    faces: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    for i: uint256 in range(len(faces_), bound=MAX_TRANCHES):
        assert faces_[i] > 0 and faces_[i] < 2**96  # dev: face out of range
        faces[i] = faces_[i]
    assert reserve_initial_ <= _RESERVE_MAX  # dev: reserve out of range
    original_face = faces
    initial_pool_balance = initial_pool_balance_
    reserve_initial = reserve_initial_
    timelock = timelock_
    _DEPLOYER = msg.sender
    self.fee_recipient = fee_recipient_
    self.residual_recipient = residual_recipient_
    access_control._grant_role(access_control.DEFAULT_ADMIN_ROLE, timelock_)
    access_control._grant_role(GUARDIAN_ROLE, guardian_)
    access_control._grant_role(COMPLIANCE_ROLE, compliance_)
    access_control._revoke_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)


# ---------------------------------------------------------------- SET-UP

@external
def configure(
    tokens: DynArray[address, MAX_TRANCHES], issuance_: address, oracle_: address, waterfall_: address
):
    """
    @notice Wire the deal's contracts together; callable once, by the deployer.
    @param tokens The tranche tokens, in tranche order.
    @param issuance_ The issuance escrow (the only minter, exempt from the allowlist).
    @param oracle_ The remittance oracle (the only caller of `distribute`).
    @param waterfall_ The waterfall contract that allocates each period's cash.
    """
    assert msg.sender == _DEPLOYER  # dev: only deployer
    assert not self.configured  # dev: already configured
    assert len(tokens) == tranche_count  # dev: wrong token count
    for i: uint256 in range(len(tokens), bound=MAX_TRANCHES):
        assert tokens[i] != empty(address)  # dev: zero token
        for j: uint256 in range(i, bound=MAX_TRANCHES):
            assert tokens[j] != tokens[i]  # dev: duplicate token
        self._tranche[i] = self._tranche_word(tokens[i], 0)
    self.issuance = issuance_
    self.oracle = oracle_
    # the Allocation's rows are the build's bound: a waterfall of another build
    # would exchange an ABI of another length
    assert staticcall IWaterfall(waterfall_).max_tranches() == MAX_TRANCHES  # dev: waterfall bound
    self.waterfall = waterfall_
    self.configured = True
    self._compliance[issuance_] = _UNTIL_MASK
    log AllowlistSet(holder=issuance_, valid_until=_UNTIL_MASK)
    log DealConfigured(issuance=issuance_, oracle=oracle_, waterfall=waterfall_, tokens=tokens)


@external
def mark_closed():
    """
    @notice Record the closing of the primary offering (called by the issuance
            escrow once every tranche token is minted, after it has transferred
            `reserve_initial` of the proceeds to this contract). Opens the reserve
            account with it. Remittances start after closing.
    """
    assert msg.sender == self.issuance  # dev: only issuance
    progress: uint256 = self._progress
    assert not self._is_closed(progress)  # dev: already closed
    # Before closing nothing was distributed: credited and period are 0.
    self._progress = self._progress_word(0, reserve_initial, 0, self._is_paused(progress), True)
    if reserve_initial != 0:
        # A receipt check (before closing the deal holds nothing it accounts for).
        assert staticcall settlement.balanceOf(self) >= reserve_initial  # dev: reserve not funded
        log ReserveFunded(source=msg.sender, amount=reserve_initial, reserve_balance=reserve_initial)
    self.resumed_at = block.timestamp
    log DealClosed(timestamp=block.timestamp)


# ---------------------------------------------------------------- REMITTANCE

@external
def distribute(report: deal_types.RemittanceReport):
    """
    @notice Distribute a verified remittance. Only the oracle calls this, after it
            has checked the attestations and pulled `report.cash` into this contract.
    @param report The verified report.
    """
    assert msg.sender == self.oracle  # dev: only oracle
    # The hot path reads its packed fields inline, with the same constants as the
    # helpers under PACKED STORAGE (an internal call costs ~140 gas here).
    progress: uint256 = self._progress
    assert progress & _CLOSED_BIT != 0  # dev: deal not closed
    assert progress & _PAUSED_BIT == 0  # dev: paused
    assert report.period == ((progress >> _PERIOD_SHIFT) & _PERIOD_MAX) + 1  # dev: period out of order

    reserve_before: uint256 = (progress >> _RESERVE_SHIFT) & _RESERVE_MAX
    # Other income pending (late-report penalties) is part of the period's available
    # interest, as a PSA's available distribution amount includes it. Only with the
    # flag set is `_other_income` read; the flag is cleared with the word below.
    inp: deal_types.WaterfallInput = deal_types.WaterfallInput(report=report, reserve_balance=reserve_before)
    if progress & _INCOME_BIT != 0:
        other: uint256 = self._other_income
        self._other_income = 0
        inp.report.interest += other
        inp.report.cash += other
        log OtherIncomeDistributed(period=report.period, amount=other)
    # The per-period allocation: which tranche gets how much interest and principal,
    # which losses are written down, fees, reserve and residual. The rules live in the
    # waterfall contract (`ExactWaterfall.vy`, the port of the exact Python waterfall);
    # the deal only checks and applies its answer. (Called inline: an internal
    # function returning the `Allocation` would hold a second copy of its rows.)
    alloc: deal_types.Allocation = extcall IWaterfall(self.waterfall).allocate(inp)

    credited: uint256 = 0
    cw: uint256 = 0  # the current pair's words, as read and as updated
    pw: uint256 = 0
    cw0: uint256 = 0
    pw0: uint256 = 0
    for i: uint256 in range(tranche_count, bound=MAX_TRANCHES):
        face: uint256 = original_face[i]
        credited += alloc.interest[i] + alloc.principal[i]
        sh: uint256 = _HALF_BITS  # tranche i's half of its pair's words: even i high
        if i & 1 == 0:
            cw0 = self._cidx[i >> 1]
            pw0 = self._pidx[i >> 1]
            cw = cw0
            pw = pw0
        else:
            sh = 0
        c_old: uint256 = (cw >> sh) & _HALF_MASK
        p_old: uint256 = (pw >> sh) & _HALF_MASK
        iidx: uint256 = alloc.interest_index[i]
        pidx: uint256 = alloc.principal_index[i]
        # An index grows by at most its cash over the face (plus less than one unit
        # of carried remainder): holders are never credited more than was paid.
        # `_check_index` written out for the interest and principal indices (every
        # tranche, every period: an internal call each cost ~140 gas).
        i_old: uint256 = c_old - p_old
        assert iidx >= i_old and iidx <= _INDEX_MAX  # dev: index moved back
        assert (iidx - i_old) * face < alloc.interest[i] * WAD + face  # dev: index above cash
        assert pidx >= p_old and pidx <= _INDEX_MAX  # dev: index moved back
        assert (pidx - p_old) * face < alloc.principal[i] * WAD + face  # dev: index above cash
        cw = (cw & ~(_HALF_MASK << sh)) | ((iidx + pidx) << sh)
        pw = (pw & ~(_HALF_MASK << sh)) | (pidx << sh)
        if i & 1 == 1 or i + 1 == tranche_count:
            if cw != cw0:
                self._cidx[i >> 1] = cw
            if pw != pw0:
                self._pidx[i >> 1] = pw
        # (the loss and write-up indices move only in periods with a write-down or
        # a write-up: a carried remainder alone never reaches a whole index unit)
        if alloc.loss[i] != 0:
            self._check_index(self.loss_index[i], alloc.loss_index[i], alloc.loss[i], face)
            self.loss_index[i] = alloc.loss_index[i]
        if alloc.writeup[i] != 0:
            self._check_index(self.writeup_index[i], alloc.writeup_index[i], alloc.writeup[i], face)
            self.writeup_index[i] = alloc.writeup_index[i]
        log TrancheAllocated(
            period=report.period,
            tranche=i,
            interest=alloc.interest[i],
            principal=alloc.principal[i],
            loss=alloc.loss[i],
            balance=alloc.balance[i],
            interest_shortfall=alloc.interest_shortfall[i],
            writeup=alloc.writeup[i],
        )
    assert credited + alloc.fee + alloc.residual + alloc.reserve_balance == inp.report.cash + reserve_before  # dev: allocation does not conserve cash

    # Not paused (checked above), closed, no other income pending.
    self._progress = self._progress_word(
        (progress >> _CREDITED_SHIFT) + credited, alloc.reserve_balance, report.period, False, True
    )
    if alloc.fee != 0 or alloc.residual != 0:
        payees: uint256 = self._payees
        self._payees = self._payees_word(
            self._fee_owed(payees) + alloc.fee, self._residual_owed(payees) + alloc.residual
        )
    log Distributed(
        period=report.period,
        cash=report.cash,
        fee=alloc.fee,
        residual=alloc.residual,
        reserve_balance=alloc.reserve_balance,
        credited=credited,
        state=alloc.state,
    )


@internal
@pure
def _check_index(old: uint256, new: uint256, amount: uint256, face: uint256):
    """
    @dev `new` follows `old` by `floor((amount * 1e18 + carry) / face)` with a carry
         below `face`: so `(new - old) * face < amount * 1e18 + face`.
    """
    assert new >= old and new <= _INDEX_MAX  # dev: index moved back
    assert (new - old) * face < amount * WAD + face  # dev: index above cash


@external
def add_other_income(amount: uint256):
    """
    @notice Receive other income for holders: a late-report penalty from the deal's
            ServicerBond (the only caller: the bond wired on the oracle by
            `wire_servicing`). The deal pulls `amount` from the caller itself
            (transferFrom) and checks what arrived; the next distributed period adds
            it to its available interest (`OtherIncomeDistributed`). Refused before
            closing and while paused (no remittance could carry it).
    @param amount Base units of the settlement asset.
    """
    assert msg.sender == staticcall IOracle(self.oracle).servicer_bond()  # dev: caller not servicer bond
    progress: uint256 = self._progress
    assert self._is_closed(progress)  # dev: deal not closed
    assert not self._is_paused(progress)  # dev: paused
    assert amount != 0  # dev: no income
    before: uint256 = staticcall settlement.balanceOf(self)
    assert extcall settlement.transferFrom(msg.sender, self, amount, default_return_value=True)  # dev: transfer failed
    assert staticcall settlement.balanceOf(self) - before == amount  # dev: received != amount
    pending: uint256 = self._other_income + amount
    assert pending <= _OWED_MAX  # dev: other income too large
    self._other_income = pending
    self._progress = progress | _INCOME_BIT
    log OtherIncomeReceived(source=msg.sender, amount=amount, pending=pending)


# ---------------------------------------------------------------- TRANSFER HOOK

@external
@view
def on_transfer(tranche: uint256, spender: address, owner: address, to: address) -> uint256:
    """
    @notice Called by a tranche token BEFORE balances move (transfer and
            transferFrom): enforces the pause and the transfer rules for both
            sides and for the `transferFrom` caller (`spender`; for `transfer` it
            is the owner and is checked once), and returns the tranche's cash index
            (interest + principal per unit of original face, scaled 1e18), at which
            the token checkpoints both holders. A view: the checkpoints live in the
            token. Reverts while the deal is locked (a transfer inside a claim or a
            remittance fails).
    @param tranche The calling token's tranche index.
    @param spender The account moving the tokens (the owner, or the approved caller).
    @param owner The sender.
    @param to The receiver.
    @return uint256 The tranche's cash index now.
    """
    # Hot path: fields read inline (see PACKED STORAGE).
    assert self._progress & _PAUSED_BIT == 0  # dev: paused
    if spender != owner:
        c: uint256 = self._compliance[spender]
        assert c & _FROZEN_BIT == 0  # dev: spender frozen
        assert c & _UNTIL_MASK >= block.timestamp  # dev: spender not allowed
    self._require_may_hold(owner)
    self._require_may_hold(to)
    return self._cash_index(tranche)


@external
@view
def check_holder(holder: address) -> bool:
    """
    @notice Revert unless `holder` may hold and move tranche tokens now (allowlisted,
            unexpired, not frozen). Used by the tokens' `permit` and by issuance.
    @param holder The account to check.
    @return bool True (reverts otherwise).
    """
    self._require_may_hold(holder)
    return True


@internal
@view
def _require_may_hold(holder: address):
    c: uint256 = self._compliance[holder]
    assert c & _FROZEN_BIT == 0  # dev: holder frozen
    assert c & _UNTIL_MASK >= block.timestamp  # dev: holder not allowed


@internal
@view
def _cash_index(t: uint256) -> uint256:
    return (self._cidx[t >> 1] >> (_HALF_BITS - (t & 1) * _HALF_BITS)) & _HALF_MASK


# ---------------------------------------------------------------- CLAIMS

@external
def claim(tranche: uint256) -> uint256:
    """
    @notice Pull the interest and principal owed to the caller on one tranche.
            Works while paused: cash already distributed is never held back.
    @param tranche The tranche index.
    @return uint256 The amount paid, in settlement base units.
    """
    assert tranche < tranche_count  # dev: no such tranche
    w: uint256 = self._tranche[tranche]
    owed: uint256 = self._take(tranche, w, msg.sender)
    if owed != 0:
        self._count_claimed(tranche, w, owed)
        assert extcall settlement.transfer(msg.sender, owed, default_return_value=True)  # dev: transfer failed
    return owed


@external
def claim_all() -> uint256:
    """
    @notice Pull what the caller is owed on every tranche, in one transfer.
    @return uint256 The amount paid, in settlement base units.
    """
    total: uint256 = 0
    for t: uint256 in range(tranche_count, bound=MAX_TRANCHES):
        total += self._take(t, self._tranche[t], msg.sender)
    if total != 0:
        self._count_claimed(0, self._tranche[0], total)
        assert extcall settlement.transfer(msg.sender, total, default_return_value=True)  # dev: transfer failed
    return total


@internal
def _take(t: uint256, w: uint256, holder: address) -> uint256:
    # The token settles the holder at the current index and zeroes what it owed.
    owed: uint256 = extcall ITrancheToken(self._token(w)).take(holder, self._cash_index(t))
    if owed != 0:
        log Claimed(holder=holder, tranche=t, amount=owed)
    return owed


@internal
def _count_claimed(t: uint256, w: uint256, amount: uint256):
    # Count a claim on tranche t's counter (in its token word, already read).
    # Hot path (every claim): fields inline, as `_claimed_count` and `_tranche_word`.
    c: uint256 = (w >> _COUNTER_SHIFT) + amount
    if c > _COUNTER_MAX:
        self._claimed_spill += c
        c = 0
    self._tranche[t] = (c << _COUNTER_SHIFT) | (w & _TOKEN_MASK)


@external
def claim_payee() -> uint256:
    """
    @notice Pull the fees or residual owed to the caller. Works while paused.
    @return uint256 The amount paid.
    """
    owed: uint256 = self._parked[msg.sender]
    if owed != 0:
        self._parked[msg.sender] = 0
        self._parked_total -= owed
    payees: uint256 = self._payees
    fee_left: uint256 = self._fee_owed(payees)
    residual_left: uint256 = self._residual_owed(payees)
    if msg.sender == self.fee_recipient:
        owed += fee_left
        fee_left = 0
    if msg.sender == self.residual_recipient:
        owed += residual_left
        residual_left = 0
    left: uint256 = self._payees_word(fee_left, residual_left)
    if left != payees:
        self._payees = left
    if owed != 0:
        assert extcall settlement.transfer(msg.sender, owed, default_return_value=True)  # dev: transfer failed
        log PayeeClaimed(payee=msg.sender, amount=owed)
    return owed


# ---------------------------------------------------------------- VIEWS

@external
@view
def claimable(tranche: uint256, holder: address) -> uint256:
    """
    @notice What `holder` could claim on `tranche` now.
    @param tranche The tranche index.
    @param holder The holder.
    @return uint256 The amount, in settlement base units.
    """
    return staticcall ITrancheToken(self._token(self._tranche[tranche])).claimable_at(
        holder, self._cash_index(tranche)
    )


@external
@view
def payee_owed(payee: address) -> uint256:
    """
    @notice Fees and residual owed to `payee` (pull with `claim_payee`).
    @param payee The fee or residual recipient (current or former).
    @return uint256 The amount, in settlement base units.
    """
    owed: uint256 = self._parked[payee]
    payees: uint256 = self._payees
    if payee == self.fee_recipient:
        owed += self._fee_owed(payees)
    if payee == self.residual_recipient:
        owed += self._residual_owed(payees)
    return owed


@external
@view
def interest_index(tranche: uint256) -> uint256:
    """
    @notice Cumulative interest paid per unit of original face, scaled 1e18.
    @param tranche The tranche index.
    @return uint256 The index.
    """
    return self._cash_index(tranche) - self._principal_index(tranche)


@external
@view
def principal_index(tranche: uint256) -> uint256:
    """
    @notice Cumulative principal paid per unit of original face, scaled 1e18.
    @param tranche The tranche index.
    @return uint256 The index.
    """
    return self._principal_index(tranche)


@internal
@view
def _principal_index(t: uint256) -> uint256:
    return self._half(self._pidx[t >> 1], t)


@external
@view
def tranche_factor(tranche: uint256) -> uint256:
    """
    @notice Current face over original face, scaled 1e18 (rounded down); above
            1e18 for a Z class that has accreted.
    @param tranche The tranche index.
    @return uint256 The factor.
    """
    return staticcall IWaterfall(self.waterfall).tranche_balance(tranche) * WAD // original_face[tranche]


@external
@view
def tranche_balance(tranche: uint256) -> uint256:
    """
    @notice Current face of a tranche (original face less principal paid and losses
            written down, plus write-ups and Z accretion; an IO strip's notional), as
            kept by the waterfall.
    @param tranche The tranche index.
    @return uint256 The balance, in settlement base units.
    """
    assert tranche < tranche_count  # dev: no such tranche
    return staticcall IWaterfall(self.waterfall).tranche_balance(tranche)


@external
@view
def interest_shortfall(tranche: uint256) -> uint256:
    """
    @notice Unpaid interest of a tranche carried forward, as kept by the waterfall.
    @param tranche The tranche index.
    @return uint256 The shortfall, in settlement base units.
    """
    assert tranche < tranche_count  # dev: no such tranche
    return staticcall IWaterfall(self.waterfall).shortfall(tranche)


@external
@view
def waterfall_state(w: uint256) -> uint256:
    """
    @notice A word of the waterfall's state (ExactWaterfall: 0 realized losses to
            date, 1 last period, 2 latched-trigger bits | effects << 8, 3 dust).
    @param w The word (0..STATE_WORDS-1).
    @return uint256 The word.
    """
    assert w < STATE_WORDS  # dev: no such word
    return staticcall IWaterfall(self.waterfall).state_word(w)


@external
@view
def checkpoint_of(tranche: uint256, holder: address) -> (uint256, uint256):
    """
    @notice A holder's stored checkpoint: the cash index at the last checkpoint and
            the cash owed accrued up to it.
    @param tranche The tranche index.
    @param holder The holder.
    @return (uint256, uint256) (index at checkpoint, owed at checkpoint).
    """
    return staticcall ITrancheToken(self._token(self._tranche[tranche])).checkpoint_of(holder)


@external
@view
def closed() -> bool:
    """
    @notice Whether the primary offering has closed (remittances start after it).
    @return bool True once closed.
    """
    return self._is_closed(self._progress)


@external
@view
def paused() -> bool:
    """
    @notice Whether the guardian has paused transfers, subscriptions and remittances.
    @return bool True while paused.
    """
    return self._is_paused(self._progress)


@external
@view
def tranche_token(tranche: uint256) -> address:
    """
    @notice The token of a tranche.
    @param tranche The tranche index.
    @return address The token (zero before `configure`).
    """
    return self._token(self._tranche[tranche])


@external
@view
def last_period() -> uint256:
    """
    @notice The last period distributed (0 before the first remittance).
    @return uint256 The period.
    """
    return self._period_of(self._progress)


@external
@view
def reserve_balance() -> uint256:
    """
    @notice The reserve account: the waterfall's reserve plus its rounding dust,
            funded at closing with `reserve_initial` out of the offering proceeds.
    @return uint256 The balance, in settlement base units.
    """
    return self._reserve_of(self._progress)


@external
@view
def cash_held() -> uint256:
    """
    @notice The settlement asset the deal holds by its own books: cash received with
            remittances (and the reserve deposit) less what holders claimed and
            payees were paid, plus other income received (donations are not
            counted). Kept as what it is owed: credited to holders - claimed + owed
            to payees + the reserve account + other income pending (each period's
            conservation check makes the two equal).
    @return uint256 The amount, in settlement base units.
    """
    progress: uint256 = self._progress
    payees: uint256 = self._payees
    return (
        self._credited_of(progress)
        - self._claimed_total()
        + self._reserve_of(progress)
        + self._fee_owed(payees)
        + self._residual_owed(payees)
        + self._parked_total
        + self._other_income
    )


@external
@view
def other_income() -> uint256:
    """
    @notice Other income received (late-report penalties) and not yet distributed:
            the next period's distribution adds it to the available interest.
    @return uint256 The amount, in settlement base units.
    """
    return self._other_income


@external
@view
def cash_credited() -> uint256:
    """
    @notice Cash credited to tranche holders through the indices, all periods.
    @return uint256 The amount, in settlement base units.
    """
    return self._credited_of(self._progress)


@external
@view
def cash_claimed() -> uint256:
    """
    @notice Cash claimed by tranche holders, all periods.
    @return uint256 The amount, in settlement base units.
    """
    return self._claimed_total()


@internal
@view
def _claimed_total() -> uint256:
    total: uint256 = self._claimed_spill
    for t: uint256 in range(tranche_count, bound=MAX_TRANCHES):
        total += self._claimed_count(self._tranche[t])
    return total


@external
@view
def allowed_until(holder: address) -> uint256:
    """
    @notice Until when `holder` is allowlisted (unix seconds; 0 = not allowed).
    @param holder The account.
    @return uint256 The expiry.
    """
    return self._allowed_until(self._compliance[holder])


@external
@view
def frozen(holder: address) -> bool:
    """
    @notice Whether `holder` is frozen.
    @param holder The account.
    @return bool True if frozen.
    """
    return self._is_frozen(self._compliance[holder])


# ---------------------------------------------------------------- COMPLIANCE

@external
def set_allowed(holders: DynArray[address, MAX_BATCH], valid_until: uint256):
    """
    @notice Allowlist holders until a time (0 removes them). COMPLIANCE_ROLE.
            The issuance escrow is allowlisted for good by `configure` and cannot
            be listed again or removed (tokens waiting for settlement must stay
            deliverable).
    @param holders The accounts.
    @param valid_until Unix time (seconds) up to which they may hold and transfer.
    """
    access_control._check_role(COMPLIANCE_ROLE, msg.sender)
    until: uint256 = min(valid_until, _UNTIL_MASK)
    escrow: address = self.issuance
    for h: address in holders:
        assert h != escrow  # dev: the escrow is always allowed
        self._compliance[h] = self._compliance_word(self._is_frozen(self._compliance[h]), until)
        log AllowlistSet(holder=h, valid_until=until)


@external
def set_frozen(holder: address, frozen_: bool):
    """
    @notice Freeze or unfreeze a holder's transfers. COMPLIANCE_ROLE. The issuance
            escrow cannot be frozen (a frozen investor is refused at `settle`
            instead, and is paid everything since closing once unfrozen).
    @param holder The account.
    @param frozen_ True to freeze.
    """
    access_control._check_role(COMPLIANCE_ROLE, msg.sender)
    assert holder != self.issuance  # dev: the escrow is always allowed
    self._compliance[holder] = self._compliance_word(frozen_, self._allowed_until(self._compliance[holder]))
    log FrozenSet(holder=holder, frozen=frozen_)


# ---------------------------------------------------------------- GOVERNANCE

@external
def pause():
    """
    @notice Stop transfers, subscriptions and remittances. GUARDIAN_ROLE.
            Claims of cash already distributed keep working.
    """
    access_control._check_role(GUARDIAN_ROLE, msg.sender)
    progress: uint256 = self._progress
    assert not self._is_paused(progress)  # dev: paused
    self._progress = self._with_paused(progress, True)
    log Paused(account=msg.sender)


@external
def unpause():
    """
    @notice Lift the pause. GUARDIAN_ROLE.
    """
    access_control._check_role(GUARDIAN_ROLE, msg.sender)
    progress: uint256 = self._progress
    assert self._is_paused(progress)  # dev: not paused
    self._progress = self._with_paused(progress, False)
    self.resumed_at = block.timestamp
    log Unpaused(account=msg.sender)


@external
def set_recipients(fee_recipient_: address, residual_recipient_: address):
    """
    @notice Change the fee and residual recipients. DEFAULT_ADMIN_ROLE (the timelock).
    @param fee_recipient_ New fee recipient.
    @param residual_recipient_ New residual recipient.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    # What the current recipients are owed stays theirs: park it per address.
    payees: uint256 = self._payees
    if payees != 0:
        self._parked[self.fee_recipient] += self._fee_owed(payees)
        self._parked[self.residual_recipient] += self._residual_owed(payees)
        self._parked_total += self._fee_owed(payees) + self._residual_owed(payees)
        self._payees = 0
    self.fee_recipient = fee_recipient_
    self.residual_recipient = residual_recipient_
    log RecipientsSet(fee_recipient=fee_recipient_, residual_recipient=residual_recipient_)


@external
@pure
def max_tranches() -> uint256:
    """
    @notice The class bound of this build (`deal_types.MAX_TRANCHES`): a waterfall
            must be of the same build (`set_waterfall` checks it).
    """
    return MAX_TRANCHES


@external
def set_waterfall(waterfall_: address):
    """
    @notice Replace the waterfall contract (for instance with a corrected port).
            DEFAULT_ADMIN_ROLE (the timelock). The waterfall keeps the deal's state (balances,
            shortfalls, triggers, index remainders, reserve): a replacement must
            start from the current state, or the next remittance is refused.
    @param waterfall_ The new waterfall.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    assert waterfall_ != empty(address)  # dev: zero waterfall
    assert staticcall IWaterfall(waterfall_).max_tranches() == MAX_TRANCHES  # dev: waterfall bound
    self.waterfall = waterfall_
    log WaterfallSet(waterfall=waterfall_)


# ---------------------------------------------------------------- PACKED STORAGE

# @dev Each field of a packed word has a named reader here (layouts under CONSTANTS).
# Cold paths (views, set-up, governance, compliance, payees) use them. The hot paths
# (`distribute`, `on_transfer`, a claim's index and counter) read the same fields
# inline with the same named constants: vyper 0.4.3 does not inline internal
# functions, and each call cost about 140 gas (measured: helpers throughout the
# remittance added 3.1k gas, against a 250k budget with 1.7k to spare).


@internal
@pure
def _is_closed(progress: uint256) -> bool:
    """@dev `_progress`: whether the offering has closed."""
    return progress & _CLOSED_BIT != 0


@internal
@pure
def _is_paused(progress: uint256) -> bool:
    """@dev `_progress`: whether the guardian has paused the deal."""
    return progress & _PAUSED_BIT != 0


@internal
@pure
def _period_of(progress: uint256) -> uint256:
    """@dev `_progress`: the last period distributed."""
    return (progress >> _PERIOD_SHIFT) & _PERIOD_MAX


@internal
@pure
def _reserve_of(progress: uint256) -> uint256:
    """@dev `_progress`: the reserve account, in settlement base units."""
    return (progress >> _RESERVE_SHIFT) & _RESERVE_MAX


@internal
@pure
def _credited_of(progress: uint256) -> uint256:
    """@dev `_progress`: cash credited to holders through the indices, all periods."""
    return progress >> _CREDITED_SHIFT


@internal
@pure
def _progress_word(credited: uint256, reserve: uint256, period: uint256, paused: bool, closed: bool) -> uint256:
    """@dev A `_progress` word from its fields (each range-checked)."""
    assert reserve <= _RESERVE_MAX and period <= _PERIOD_MAX  # dev: reserve or period too large
    assert credited <= _CREDITED_MAX  # dev: credited too large
    word: uint256 = (credited << _CREDITED_SHIFT) | (reserve << _RESERVE_SHIFT) | (period << _PERIOD_SHIFT)
    if paused:
        word |= _PAUSED_BIT
    if closed:
        word |= _CLOSED_BIT
    return word


@internal
@pure
def _with_paused(progress: uint256, paused: bool) -> uint256:
    """@dev `progress` with its paused flag set to `paused`."""
    if paused:
        return progress | _PAUSED_BIT
    return progress & ~_PAUSED_BIT


@internal
@pure
def _token(w: uint256) -> address:
    """@dev `_tranche[t]`: the tranche's token."""
    return convert(convert(w & _TOKEN_MASK, uint160), address)


@internal
@pure
def _claimed_count(w: uint256) -> uint256:
    """@dev `_tranche[t]`: the counter of cash claimed on the tranche."""
    return w >> _COUNTER_SHIFT


@internal
@pure
def _tranche_word(token: address, claimed: uint256) -> uint256:
    """@dev A `_tranche[t]` word (the caller keeps `claimed` <= _COUNTER_MAX)."""
    return (claimed << _COUNTER_SHIFT) | convert(token, uint256)


@internal
@pure
def _half(word: uint256, t: uint256) -> uint256:
    """@dev `_cidx`/`_pidx`: tranche t's index in its pair's word (even t high)."""
    return (word >> (_HALF_BITS - (t & 1) * _HALF_BITS)) & _HALF_MASK


@internal
@pure
def _fee_owed(payees: uint256) -> uint256:
    """@dev `_payees`: owed to the current fee recipient."""
    return payees >> _FEE_SHIFT


@internal
@pure
def _residual_owed(payees: uint256) -> uint256:
    """@dev `_payees`: owed to the current residual recipient."""
    return payees & _OWED_MAX


@internal
@pure
def _payees_word(fee_owed: uint256, residual_owed: uint256) -> uint256:
    """@dev A `_payees` word from what each payee is owed."""
    assert fee_owed <= _OWED_MAX and residual_owed <= _OWED_MAX  # dev: payee owed too large
    return (fee_owed << _FEE_SHIFT) | residual_owed


@internal
@pure
def _is_frozen(c: uint256) -> bool:
    """@dev `_compliance[holder]`: the freeze flag."""
    return c & _FROZEN_BIT != 0


@internal
@pure
def _allowed_until(c: uint256) -> uint256:
    """@dev `_compliance[holder]`: the allowlist expiry (unix seconds)."""
    return c & _UNTIL_MASK


@internal
@pure
def _compliance_word(frozen_: bool, until: uint256) -> uint256:
    """@dev A `_compliance[holder]` word (`until` <= _UNTIL_MASK)."""
    if frozen_:
        return _FROZEN_BIT | until
    return until
