# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs Deal: cash distributor, tranche ledger and compliance registry
@custom:contract-name Deal
@license Apache-2.0
@notice The deal core. It holds the deal's cash (settlement asset) with internal
        accounting, keeps per-tranche cumulative indices (interest, principal and
        loss per unit of ORIGINAL face, scaled 1e18, only growing), checkpoints
        holders on every token transfer, and lets holders pull what they are owed.
        A holder's claim is `balance * (index_now - index_at_checkpoint) // 1e18`
        (rounded down: against the claimant; the dust stays in the deal).
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
from snekmate.utils import pausable
from . import deal_types

initializes: access_control
initializes: pausable

exports: (
    access_control.DEFAULT_ADMIN_ROLE,
    access_control.hasRole,
    access_control.getRoleAdmin,
    access_control.grantRole,
    access_control.revokeRole,
    access_control.renounceRole,
    access_control.supportsInterface,
    pausable.paused,
)

# ---------------------------------------------------------------- INTERFACES

interface IWaterfall:
    def allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation: nonpayable
    def tranche_balance(i: uint256) -> uint256: view
    def shortfall(i: uint256) -> uint256: view
    def state_word(w: uint256) -> uint256: view

interface ITrancheToken:
    def balanceOf(owner: address) -> uint256: view

# ---------------------------------------------------------------- CONSTANTS

MAX_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
STATE_WORDS: constant(uint256) = deal_types.STATE_WORDS
WAD: constant(uint256) = deal_types.WAD
MAX_BATCH: constant(uint256) = 64
_LOW128: constant(uint256) = 2**128 - 1
_LOW64: constant(uint256) = 2**64 - 1

GUARDIAN_ROLE: public(constant(bytes32)) = keccak256("GUARDIAN_ROLE")
COMPLIANCE_ROLE: public(constant(bytes32)) = keccak256("COMPLIANCE_ROLE")

# ---------------------------------------------------------------- EVENTS

event DealConfigured:
    issuance: address
    oracle: address
    waterfall: address
    tokens: DynArray[address, MAX_TRANCHES]

event DealClosed:
    timestamp: uint256

event ReserveFunded:
    source: indexed(address)
    amount: uint256
    reserve_balance: uint256

event Distributed:
    period: indexed(uint256)
    cash: uint256
    fee: uint256
    residual: uint256
    reserve_balance: uint256
    credited: uint256
    state: uint256[STATE_WORDS]

event TrancheAllocated:
    period: indexed(uint256)
    tranche: indexed(uint256)
    interest: uint256
    principal: uint256
    loss: uint256
    balance: uint256
    interest_shortfall: uint256
    writeup: uint256

event Claimed:
    holder: indexed(address)
    tranche: indexed(uint256)
    amount: uint256

event PayeeClaimed:
    payee: indexed(address)
    amount: uint256

event AllowlistSet:
    holder: indexed(address)
    valid_until: uint256

event FrozenSet:
    holder: indexed(address)
    frozen: bool

event RecipientsSet:
    fee_recipient: address
    residual_recipient: address

event WaterfallSet:
    waterfall: address

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
# @dev The timelock that alone changes parameters (holds DEFAULT_ADMIN_ROLE).
timelock: public(immutable(address))
_DEPLOYER: immutable(address)

configured: public(bool)
issuance: public(address)
oracle: public(address)
waterfall: public(address)
tranche_token: public(address[MAX_TRANCHES])
# @dev token address -> tranche index + 1 (0: not a tranche token).
_tranche_of: HashMap[address, uint256]

# @dev Packed cumulative indices per unit of original face, scaled 1e18, as the
# waterfall computed them (floored, remainders carried by the waterfall):
# high 128 bits interest, low 128 bits principal.
_index: uint256[MAX_TRANCHES]
# @dev Cumulative face written down, and written back up (subsequent recoveries and
# Z accretion), per unit of original face, scaled 1e18.
loss_index: public(uint256[MAX_TRANCHES])
writeup_index: public(uint256[MAX_TRANCHES])
# @dev Packed progress: the reserve account (the waterfall's reserve plus its
# rounding dust; high 128 bits) | last distributed period << 1 | closed flag.
_progress: uint256

# @dev Packed holder account per tranche: high 128 bits the cash index
# (interest + principal) at the last checkpoint, low 128 bits the cash owed.
_account: HashMap[uint256, HashMap[address, uint256]]

# @dev Internal accounting of the settlement asset: packed cash received from the
# oracle (high 128 bits) and cash paid to fee/residual payees (low 128 bits).
# cash_held = received - claimed by holders - paid to payees.
_cash: uint256
# @dev Packed: cash credited to tranche holders through the indices (high 128
# bits) and cash claimed by them (low 128 bits).
_totals: uint256
# @dev Cash owed to the fee and residual recipients (pull).
payee_owed: public(HashMap[address, uint256])
fee_recipient: public(address)
residual_recipient: public(address)

# @dev Compliance, packed per holder: bit 255 the freeze flag, the low 64 bits the
# allowlist expiry (unix seconds; 0 = never allowed; 2**64-1 = forever).
_compliance: HashMap[address, uint256]
_FROZEN_BIT: constant(uint256) = 2**255
_UNTIL_MASK: constant(uint256) = 2**64 - 1


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
            parameter change goes through the timelock, which gets DEFAULT_ADMIN_ROLE.
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
    pausable.__init__()
    settlement = settlement_
    tranche_count = len(faces_)
    faces: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    for i: uint256 in range(len(faces_), bound=MAX_TRANCHES):
        assert faces_[i] > 0 and faces_[i] < 2**96  # dev: face out of range
        faces[i] = faces_[i]
    assert reserve_initial_ < 2**128  # dev: reserve out of range
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
        assert self._tranche_of[tokens[i]] == 0  # dev: duplicate token
        self.tranche_token[i] = tokens[i]
        self._tranche_of[tokens[i]] = i + 1
    self.issuance = issuance_
    self.oracle = oracle_
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
    assert self._progress & 1 == 0  # dev: already closed
    self._progress = (reserve_initial << 128) | 1
    if reserve_initial != 0:
        # A receipt check (before closing the deal holds nothing it accounts for).
        assert staticcall settlement.balanceOf(self) >= reserve_initial  # dev: reserve not funded
        self._cash += reserve_initial << 128
        log ReserveFunded(source=msg.sender, amount=reserve_initial, reserve_balance=reserve_initial)
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
    progress: uint256 = self._progress
    assert progress & 1 == 1  # dev: deal not closed
    pausable._require_not_paused()
    assert report.period == ((progress >> 1) & _LOW64) + 1  # dev: period out of order

    reserve_before: uint256 = progress >> 128
    alloc: deal_types.Allocation = self._allocate(
        deal_types.WaterfallInput(report=report, reserve_balance=reserve_before)
    )

    credited: uint256 = 0
    for i: uint256 in range(tranche_count, bound=MAX_TRANCHES):
        face: uint256 = original_face[i]
        credited += alloc.interest[i] + alloc.principal[i]
        packed: uint256 = self._index[i]
        iidx: uint256 = alloc.interest_index[i]
        pidx: uint256 = alloc.principal_index[i]
        # An index grows by at most its cash over the face (plus less than one unit
        # of carried remainder): holders are never credited more than was paid.
        self._check_index(packed >> 128, iidx, alloc.interest[i], face)
        self._check_index(packed & _LOW128, pidx, alloc.principal[i], face)
        new_packed: uint256 = (iidx << 128) | pidx
        if new_packed != packed:
            self._index[i] = new_packed
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
    assert credited + alloc.fee + alloc.residual + alloc.reserve_balance == report.cash + reserve_before  # dev: allocation does not conserve cash

    assert alloc.reserve_balance <= _LOW128 and report.period <= _LOW64  # dev: reserve or period too large
    self._progress = (alloc.reserve_balance << 128) | (report.period << 1) | 1
    if alloc.fee != 0:
        self.payee_owed[self.fee_recipient] += alloc.fee
    if alloc.residual != 0:
        self.payee_owed[self.residual_recipient] += alloc.residual
    assert report.cash <= _LOW128  # dev: cash too large
    self._cash += report.cash << 128
    self._totals += credited << 128
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
    assert new >= old and new <= _LOW128  # dev: index moved back
    assert (new - old) * face < amount * WAD + face  # dev: index above cash

@internal
def _allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation:
    """
    @dev The per-period allocation: which tranche gets how much interest and
         principal, which losses are written down, fees, reserve and residual.
         The rules live in the waterfall contract (`ExactWaterfall.vy`, the port of
         the exact Python waterfall); the deal only checks and applies its answer.
    """
    return extcall IWaterfall(self.waterfall).allocate(inp)


# ---------------------------------------------------------------- TRANSFER HOOK

@external
def on_transfer(owner: address, to: address, owner_balance: uint256, to_balance: uint256):
    """
    @notice Called by a tranche token BEFORE balances move (transfer and
            transferFrom): enforces the pause and the transfer rules, then
            checkpoints both holders' claims at the current index.
    @param owner The sender.
    @param to The receiver.
    @param owner_balance The sender's token balance before the transfer.
    @param to_balance The receiver's token balance before the transfer.
    """
    t: uint256 = self._tranche_of[msg.sender]
    assert t != 0  # dev: only tranche token
    t = unsafe_sub(t, 1)
    pausable._require_not_paused()
    self._require_may_hold(owner)
    self._require_may_hold(to)
    idx: uint256 = self._cash_index(t)
    self._checkpoint(t, owner, owner_balance, idx)
    self._checkpoint(t, to, to_balance, idx)


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
    packed: uint256 = self._index[t]
    return (packed >> 128) + (packed & _LOW128)


@internal
def _checkpoint(t: uint256, holder: address, balance: uint256, idx: uint256) -> uint256:
    acc: uint256 = self._account[t][holder]
    last: uint256 = acc >> 128
    owed: uint256 = acc & _LOW128
    if last == idx:
        return owed
    # Rounded down: against the claimant.
    owed += balance * (idx - last) // WAD
    assert owed <= _LOW128  # dev: owed overflow
    self._account[t][holder] = (idx << 128) | owed
    return owed


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
    owed: uint256 = self._take(tranche, msg.sender)
    if owed != 0:
        self._totals += owed
        assert extcall settlement.transfer(msg.sender, owed, default_return_value=True)  # dev: transfer failed
    return owed


@external
def claimAll() -> uint256:
    """
    @notice Pull what the caller is owed on every tranche, in one transfer.
    @return uint256 The amount paid, in settlement base units.
    """
    total: uint256 = 0
    for t: uint256 in range(tranche_count, bound=MAX_TRANCHES):
        total += self._take(t, msg.sender)
    if total != 0:
        self._totals += total
        assert extcall settlement.transfer(msg.sender, total, default_return_value=True)  # dev: transfer failed
    return total


@internal
def _take(t: uint256, holder: address) -> uint256:
    bal: uint256 = staticcall ITrancheToken(self.tranche_token[t]).balanceOf(holder)
    idx: uint256 = self._cash_index(t)
    acc: uint256 = self._account[t][holder]
    owed: uint256 = (acc & _LOW128) + bal * (idx - (acc >> 128)) // WAD
    if acc != (idx << 128):
        self._account[t][holder] = idx << 128
    if owed != 0:
        log Claimed(holder=holder, tranche=t, amount=owed)
    return owed


@external
def claim_payee() -> uint256:
    """
    @notice Pull the fees or residual owed to the caller. Works while paused.
    @return uint256 The amount paid.
    """
    owed: uint256 = self.payee_owed[msg.sender]
    if owed != 0:
        self.payee_owed[msg.sender] = 0
        self._cash += owed
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
    bal: uint256 = staticcall ITrancheToken(self.tranche_token[tranche]).balanceOf(holder)
    acc: uint256 = self._account[tranche][holder]
    return (acc & _LOW128) + bal * (self._cash_index(tranche) - (acc >> 128)) // WAD


@external
@view
def interest_index(tranche: uint256) -> uint256:
    """
    @notice Cumulative interest paid per unit of original face, scaled 1e18.
    @param tranche The tranche index.
    @return uint256 The index.
    """
    return self._index[tranche] >> 128


@external
@view
def principal_index(tranche: uint256) -> uint256:
    """
    @notice Cumulative principal paid per unit of original face, scaled 1e18.
    @param tranche The tranche index.
    @return uint256 The index.
    """
    return self._index[tranche] & _LOW128


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
    acc: uint256 = self._account[tranche][holder]
    return (acc >> 128, acc & _LOW128)


@external
@view
def closed() -> bool:
    """
    @notice Whether the primary offering has closed (remittances start after it).
    @return bool True once closed.
    """
    return self._progress & 1 == 1


@external
@view
def last_period() -> uint256:
    """
    @notice The last period distributed (0 before the first remittance).
    @return uint256 The period.
    """
    return (self._progress >> 1) & _LOW64


@external
@view
def reserve_balance() -> uint256:
    """
    @notice The reserve account: the waterfall's reserve plus its rounding dust,
            funded at closing with `reserve_initial` out of the offering proceeds.
    @return uint256 The balance, in settlement base units.
    """
    return self._progress >> 128


@external
@view
def cash_held() -> uint256:
    """
    @notice The settlement asset the deal holds by its own books: cash received with
            remittances less what holders claimed and payees were paid (donations
            are not counted).
    @return uint256 The amount, in settlement base units.
    """
    c: uint256 = self._cash
    return (c >> 128) - (self._totals & _LOW128) - (c & _LOW128)


@external
@view
def cash_credited() -> uint256:
    """
    @notice Cash credited to tranche holders through the indices, all periods.
    @return uint256 The amount, in settlement base units.
    """
    return self._totals >> 128


@external
@view
def cash_claimed() -> uint256:
    """
    @notice Cash claimed by tranche holders, all periods.
    @return uint256 The amount, in settlement base units.
    """
    return self._totals & _LOW128


@external
@view
def allowed_until(holder: address) -> uint256:
    """
    @notice Until when `holder` is allowlisted (unix seconds; 0 = not allowed).
    @param holder The account.
    @return uint256 The expiry.
    """
    return self._compliance[holder] & _UNTIL_MASK


@external
@view
def frozen(holder: address) -> bool:
    """
    @notice Whether `holder` is frozen.
    @param holder The account.
    @return bool True if frozen.
    """
    return self._compliance[holder] & _FROZEN_BIT != 0


# ---------------------------------------------------------------- COMPLIANCE

@external
def set_allowed(holders: DynArray[address, MAX_BATCH], valid_until: uint256):
    """
    @notice Allowlist holders until a time (0 removes them). COMPLIANCE_ROLE.
    @param holders The accounts.
    @param valid_until Unix time (seconds) up to which they may hold and transfer.
    """
    access_control._check_role(COMPLIANCE_ROLE, msg.sender)
    until: uint256 = min(valid_until, _UNTIL_MASK)
    for h: address in holders:
        self._compliance[h] = (self._compliance[h] & _FROZEN_BIT) | until
        log AllowlistSet(holder=h, valid_until=until)


@external
def set_frozen(holder: address, frozen_: bool):
    """
    @notice Freeze or unfreeze a holder's transfers. COMPLIANCE_ROLE.
    @param holder The account.
    @param frozen_ True to freeze.
    """
    access_control._check_role(COMPLIANCE_ROLE, msg.sender)
    c: uint256 = self._compliance[holder] & _UNTIL_MASK
    if frozen_:
        c = c | _FROZEN_BIT
    self._compliance[holder] = c
    log FrozenSet(holder=holder, frozen=frozen_)


# ---------------------------------------------------------------- GOVERNANCE

@external
def pause():
    """
    @notice Stop transfers, subscriptions and remittances. GUARDIAN_ROLE.
            Claims of cash already distributed keep working.
    """
    access_control._check_role(GUARDIAN_ROLE, msg.sender)
    pausable._pause()


@external
def unpause():
    """
    @notice Lift the pause. GUARDIAN_ROLE.
    """
    access_control._check_role(GUARDIAN_ROLE, msg.sender)
    pausable._unpause()


@external
def set_recipients(fee_recipient_: address, residual_recipient_: address):
    """
    @notice Change the fee and residual recipients. Timelock only.
    @param fee_recipient_ New fee recipient.
    @param residual_recipient_ New residual recipient.
    """
    assert msg.sender == timelock  # dev: only timelock
    self.fee_recipient = fee_recipient_
    self.residual_recipient = residual_recipient_
    log RecipientsSet(fee_recipient=fee_recipient_, residual_recipient=residual_recipient_)


@external
def set_waterfall(waterfall_: address):
    """
    @notice Replace the waterfall contract (for instance with a corrected port).
            Timelock only. The waterfall keeps the deal's state (balances,
            shortfalls, triggers, index remainders, reserve): a replacement must
            start from the current state, or the next remittance is refused.
    @param waterfall_ The new waterfall.
    """
    assert msg.sender == timelock  # dev: only timelock
    assert waterfall_ != empty(address)  # dev: zero waterfall
    self.waterfall = waterfall_
    log WaterfallSet(waterfall=waterfall_)
