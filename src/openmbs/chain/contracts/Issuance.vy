# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs Issuance: primary subscription escrow
@custom:contract-name Issuance
@license Apache-2.0
@notice Investors on the deal's allowlist subscribe an amount of a tranche's face
        (an IO strip's: of its notional) during the offering window and pay the
        tranche's offering price for it: `ceil(face x price / 1e18)` of the
        settlement asset (rounded up, in the deal's favour; the price is per unit
        of face, 1e18 = par, fixed at deployment). A tranche's subscriptions are
        capped at its original face, so allocation is exact, without rounding.
        The escrow keeps, per investor and tranche, the face subscribed and the
        cash paid, apart.
        When every tranche is fully subscribed, `close` (by `close_deadline`)
        mints each tranche's whole face into escrow, fixes the supply, funds the
        deal's reserve account with the deal's `reserve_initial` out of the
        proceeds, marks the deal closed and credits the seller the rest, which
        the seller pulls with `withdraw_proceeds` (a seller the settlement asset
        blacklists cannot block closing). Each investor then pulls their tokens
        with `settle`, whenever they like: the tokens carry every distribution
        made on them since closing.
        Investors always have a way out: if the window ends with a tranche short,
        or if the offering has not closed by `close_deadline` for any reason (the
        settlement asset blocks the deal, the guardian keeps the deal paused, the
        deal was wired wrongly), anyone may `fail` it, even while paused, and
        every depositor takes back the cash they paid with `withdraw` (which also
        works while paused). The deal's wiring (configured with this escrow as
        the tokens' minter) is checked before the first deposit, and the reserve
        against the least possible proceeds at construction. No loop over
        investors.
"""

# ---------------------------------------------------------------- IMPORTS

from ethereum.ercs import IERC20
from . import deal_types

# ---------------------------------------------------------------- INTERFACES

interface IDeal:
    def settlement() -> address: view
    def tranche_count() -> uint256: view
    def original_face(i: uint256) -> uint256: view
    def tranche_token(i: uint256) -> address: view
    def reserve_initial() -> uint256: view
    def paused() -> bool: view
    def issuance() -> address: view
    def check_holder(holder: address) -> bool: view
    def mark_closed(): nonpayable

interface ITrancheToken:
    def mint(to: address, amount: uint256): nonpayable
    def finish_minting(): nonpayable
    def transfer(to: address, amount: uint256) -> bool: nonpayable
    def minter() -> address: view
    def original_face() -> uint256: view
    def minting_finished() -> bool: view
    def totalSupply() -> uint256: view

# ---------------------------------------------------------------- CONSTANTS

MAX_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
WAD: constant(uint256) = deal_types.WAD
# @dev The highest offering price: ten times face (keeps face x price in range).
MAX_PRICE: constant(uint256) = 10 * WAD
OPEN: constant(uint256) = 0
CLOSED: constant(uint256) = 1
FAILED: constant(uint256) = 2
# @dev A position word: face subscribed (bits 160..255) | cash paid (bits 0..159).
_FACE_SHIFT: constant(uint256) = 160
_PAID_MASK: constant(uint256) = 2**160 - 1

# ---------------------------------------------------------------- EVENTS

# @dev NatSpec of events, in comments (vyper 0.4.3's userdoc/devdoc cover functions
# only). Amounts in base units.
# @notice An investor subscribed face of a tranche and paid for it.
# @param investor The investor. @param tranche The tranche index. @param amount Face
#        subscribed. @param paid Cash paid. @param total_for_tranche Face subscribed
#        in the tranche so far.
event Subscribed:
    investor: indexed(address)
    tranche: indexed(uint256)
    amount: uint256
    paid: uint256
    total_for_tranche: uint256

# @notice The offering closed: tokens minted, reserve funded, seller credited.
# @param seller The seller. @param proceeds All subscription cash.
# @param reserve_funded Moved to the deal's reserve. @param seller_owed Credited to
#        the seller.
event OfferingClosed:
    seller: address
    proceeds: uint256
    reserve_funded: uint256
    seller_owed: uint256

# @notice The offering failed; depositors may withdraw.
# @param timestamp The block time.
event OfferingFailed:
    timestamp: uint256

# @notice An investor pulled its tokens of a tranche.
# @param investor The investor. @param tranche The tranche index. @param tokens Tokens
#        delivered.
event Settled:
    investor: indexed(address)
    tranche: indexed(uint256)
    tokens: uint256

# @notice A depositor took back its cash after a failed offering.
# @param investor The depositor. @param amount Refunded.
event Withdrawn:
    investor: indexed(address)
    amount: uint256

# @notice The seller pulled its proceeds.
# @param seller The seller. @param receiver Where they went. @param amount Paid.
event ProceedsWithdrawn:
    seller: indexed(address)
    receiver: address
    amount: uint256

# ---------------------------------------------------------------- STORAGE

# @dev The deal, its settlement asset, the seller credited the proceeds, and the
# subscription window (unix seconds, both ends included).
deal: public(immutable(address))
settlement: public(immutable(IERC20))
seller: public(immutable(address))
opens_at: public(immutable(uint256))
closes_at: public(immutable(uint256))
# @dev After this time an offering that has not closed can only fail.
close_deadline: public(immutable(uint256))
# @dev Least face per investor and tranche (waived for the subscription that fills
# the tranche).
minimum_subscription: public(immutable(uint256))
# @dev Per tranche: the settlement asset paid per unit of face (or notional),
# scaled 1e18 (1e18 = par).
offering_price: public(immutable(uint256[MAX_TRANCHES]))

# @dev OPEN (0), CLOSED (1) or FAILED (2).
state: public(uint256)
# @dev Set by the first deposit once the deal's wiring has been checked.
wired: public(bool)
# @dev Per tranche: face subscribed.
subscribed: public(uint256[MAX_TRANCHES])
# @dev Per investor and tranche: face subscribed and cash paid (see `_FACE_SHIFT`).
_position: HashMap[address, HashMap[uint256, uint256]]
# @dev Internal accounting of the settlement asset held: deposits while open or
# failed, and the seller's proceeds not yet withdrawn after closing.
escrow_held: public(uint256)
# @dev The seller's proceeds (less the reserve funding), until withdrawn.
seller_owed: public(uint256)


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(
    deal_: address,
    seller_: address,
    opens_at_: uint256,
    closes_at_: uint256,
    close_deadline_: uint256,
    minimum_: uint256,
    prices_: DynArray[uint256, MAX_TRANCHES],
):
    """
    @notice Create the escrow of a deal's primary offering.
    @param deal_ The deal (deployed; configured with this escrow before the first
           deposit).
    @param seller_ Is credited the proceeds at closing (pulls them with
           `withdraw_proceeds`).
    @param opens_at_ Window start (unix seconds).
    @param closes_at_ Window end (unix seconds).
    @param close_deadline_ Last time the offering may close (unix seconds, after
           the window); later, anyone may fail it.
    @param minimum_ Minimum total face per investor and tranche, in base units
           (waived for a subscription that fills the tranche's remaining face).
    @param prices_ Offering price of each tranche per unit of face or notional,
           scaled 1e18 (1e18 = par), in (0, 10e18].
    """
    assert opens_at_ < closes_at_  # dev: empty window
    assert closes_at_ < close_deadline_  # dev: close deadline not after the window
    assert seller_ != empty(address)  # dev: zero seller
    n: uint256 = staticcall IDeal(deal_).tranche_count()
    assert len(prices_) == n  # dev: one price per tranche
    prices: uint256[MAX_TRANCHES] = empty(uint256[MAX_TRANCHES])
    least: uint256 = 0
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        assert prices_[t] != 0 and prices_[t] <= MAX_PRICE  # dev: price out of range
        prices[t] = prices_[t]
        least += self._cost(staticcall IDeal(deal_).original_face(t), prices_[t])
    # The proceeds are at least `least` (a sum of rounded-up costs is at least the
    # rounded-up cost of the sum), so closing can always fund the reserve.
    assert staticcall IDeal(deal_).reserve_initial() <= least  # dev: reserve above proceeds
    deal = deal_
    settlement = IERC20(staticcall IDeal(deal_).settlement())
    seller = seller_
    opens_at = opens_at_
    closes_at = closes_at_
    close_deadline = close_deadline_
    minimum_subscription = minimum_
    offering_price = prices


# ---------------------------------------------------------------- SUBSCRIPTION

@external
def subscribe(tranche: uint256, amount: uint256) -> uint256:
    """
    @notice Subscribe `amount` of `tranche`'s face (or notional) and pay its price,
            `cost_of(tranche, amount)`. The caller must be allowlisted and have
            approved this contract for the cost.
    @param tranche The tranche index.
    @param amount The face subscribed, in base units.
    @return uint256 The cash paid, in settlement base units.
    """
    assert self.state == OPEN  # dev: offering not open
    assert block.timestamp >= opens_at and block.timestamp <= closes_at  # dev: outside window
    assert not staticcall IDeal(deal).paused()  # dev: paused
    if not self.wired:
        self._check_wiring()
    assert staticcall IDeal(deal).check_holder(msg.sender)  # dev: investor not allowed
    assert tranche < staticcall IDeal(deal).tranche_count()  # dev: no such tranche
    assert amount > 0  # dev: zero amount
    face: uint256 = staticcall IDeal(deal).original_face(tranche)
    total: uint256 = self.subscribed[tranche] + amount
    assert total <= face  # dev: above tranche face
    pos: uint256 = self._position[msg.sender][tranche]
    mine: uint256 = (pos >> _FACE_SHIFT) + amount
    assert mine >= minimum_subscription or total == face  # dev: below minimum subscription
    cost: uint256 = self._cost(amount, offering_price[tranche])
    self.subscribed[tranche] = total
    self._position[msg.sender][tranche] = (mine << _FACE_SHIFT) | ((pos & _PAID_MASK) + cost)
    self.escrow_held += cost
    before: uint256 = staticcall settlement.balanceOf(self)
    assert extcall settlement.transferFrom(msg.sender, self, cost, default_return_value=True)  # dev: deposit failed
    assert staticcall settlement.balanceOf(self) - before == cost  # dev: deposit short
    log Subscribed(investor=msg.sender, tranche=tranche, amount=amount, paid=cost, total_for_tranche=total)
    return cost


@external
def check_wiring():
    """
    @notice Check, once, that the deal was configured with this escrow and that
            every tranche token is minted by it up to the deal's face (the first
            deposit does it otherwise; `deploy_deal` calls it after `configure` so
            that no investor pays for it). Anyone may call.
    """
    if not self.wired:
        self._check_wiring()


@internal
def _check_wiring():
    """
    @dev Before the first deposit: the deal was configured with this escrow and
         every tranche token can be minted by it up to the deal's face, so `close`
         cannot fail for want of wiring.
    """
    assert staticcall IDeal(deal).issuance() == self  # dev: deal not configured with this escrow
    n: uint256 = staticcall IDeal(deal).tranche_count()
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        token: ITrancheToken = ITrancheToken(staticcall IDeal(deal).tranche_token(t))
        assert staticcall token.minter() == self  # dev: token not minted by this escrow
        assert staticcall token.original_face() == staticcall IDeal(deal).original_face(t)  # dev: token face differs
        assert not staticcall token.minting_finished() and staticcall token.totalSupply() == 0  # dev: token already minted
    self.wired = True


@external
def close():
    """
    @notice Close the offering once every tranche is fully subscribed, by
            `close_deadline`: mint each tranche's face into escrow, fix the
            supply, fund the deal's reserve account (`reserve_initial` of the
            proceeds, moved to the deal), mark the deal closed and credit the
            seller the rest (pulled with `withdraw_proceeds`). Anyone may call.
    """
    assert self.state == OPEN  # dev: offering not open
    assert block.timestamp <= close_deadline  # dev: past the close deadline
    assert not staticcall IDeal(deal).paused()  # dev: paused
    n: uint256 = staticcall IDeal(deal).tranche_count()
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        assert self.subscribed[t] == staticcall IDeal(deal).original_face(t)  # dev: not fully subscribed
    reserve: uint256 = staticcall IDeal(deal).reserve_initial()
    # While open, everything held is subscription cash: the proceeds.
    proceeds: uint256 = self.escrow_held
    self.state = CLOSED
    self.escrow_held = proceeds - reserve
    self.seller_owed = proceeds - reserve
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        token: ITrancheToken = ITrancheToken(staticcall IDeal(deal).tranche_token(t))
        extcall token.mint(self, self.subscribed[t])
        extcall token.finish_minting()
    if reserve != 0:
        assert extcall settlement.transfer(deal, reserve, default_return_value=True)  # dev: reserve funding failed
    extcall IDeal(deal).mark_closed()
    log OfferingClosed(seller=seller, proceeds=proceeds, reserve_funded=reserve, seller_owed=proceeds - reserve)


@external
def fail():
    """
    @notice Mark the offering failed so every depositor can withdraw. Anyone may
            call: after the window if some tranche is short, or after
            `close_deadline` if the offering has not closed, whatever its
            subscriptions and even while the deal is paused.
    """
    assert self.state == OPEN  # dev: offering not open
    if block.timestamp <= close_deadline:
        assert block.timestamp > closes_at  # dev: window still open
        n: uint256 = staticcall IDeal(deal).tranche_count()
        full: bool = True
        for t: uint256 in range(n, bound=MAX_TRANCHES):
            if self.subscribed[t] != staticcall IDeal(deal).original_face(t):
                full = False
        assert not full  # dev: fully subscribed: close instead
    self.state = FAILED
    log OfferingFailed(timestamp=block.timestamp)


@external
def settle() -> uint256:
    """
    @notice After closing, pull the caller's tranche tokens (one per unit of face
            subscribed), with every distribution made on them since closing. The
            transfer goes through the deal's transfer rules (a frozen or
            de-listed investor settles once allowed again, and loses nothing).
    @return uint256 Total tokens delivered across tranches.
    """
    assert self.state == CLOSED  # dev: offering not closed
    n: uint256 = staticcall IDeal(deal).tranche_count()
    total: uint256 = 0
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        d: uint256 = self._position[msg.sender][t] >> _FACE_SHIFT
        if d != 0:
            self._position[msg.sender][t] = 0
            total += d
            assert extcall ITrancheToken(staticcall IDeal(deal).tranche_token(t)).transfer(msg.sender, d)  # dev: token transfer failed
            log Settled(investor=msg.sender, tranche=t, tokens=d)
    return total


@external
def withdraw() -> uint256:
    """
    @notice After a failed offering, take back the cash paid for every
            subscription of the caller. Works while the deal is paused.
    @return uint256 The amount refunded.
    """
    assert self.state == FAILED  # dev: offering not failed
    n: uint256 = staticcall IDeal(deal).tranche_count()
    total: uint256 = 0
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        pos: uint256 = self._position[msg.sender][t]
        if pos != 0:
            self._position[msg.sender][t] = 0
            total += pos & _PAID_MASK
    if total != 0:
        self.escrow_held -= total
        assert extcall settlement.transfer(msg.sender, total, default_return_value=True)  # dev: refund failed
        log Withdrawn(investor=msg.sender, amount=total)
    return total


@external
def withdraw_proceeds(receiver: address) -> uint256:
    """
    @notice After closing, the seller takes its proceeds (less the reserve
            funding) to `receiver`. Works while the deal is paused.
    @param receiver Where the proceeds go (the seller may name another address,
           for instance when the settlement asset blocks its own).
    @return uint256 The amount paid.
    """
    assert msg.sender == seller  # dev: only seller
    assert receiver != empty(address)  # dev: zero receiver
    owed: uint256 = self.seller_owed
    if owed != 0:
        self.seller_owed = 0
        self.escrow_held -= owed
        assert extcall settlement.transfer(receiver, owed, default_return_value=True)  # dev: payment failed
        log ProceedsWithdrawn(seller=msg.sender, receiver=receiver, amount=owed)
    return owed


# ---------------------------------------------------------------- VIEWS

@external
@view
def cost_of(tranche: uint256, amount: uint256) -> uint256:
    """
    @notice The cash a subscription of `amount` of `tranche`'s face costs.
    @param tranche The tranche index.
    @param amount The face, in base units.
    @return uint256 `ceil(amount x price / 1e18)`, in settlement base units.
    """
    return self._cost(amount, offering_price[tranche])


@external
@view
def deposit_of(investor: address, tranche: uint256) -> uint256:
    """
    @notice The face `investor` subscribed in `tranche` and has not settled or
            withdrawn (the tokens it will receive).
    @param investor The investor.
    @param tranche The tranche index.
    @return uint256 The face, in base units.
    """
    return self._position[investor][tranche] >> _FACE_SHIFT


@external
@view
def paid_of(investor: address, tranche: uint256) -> uint256:
    """
    @notice The cash `investor` paid for its subscriptions in `tranche` (until it
            settles or withdraws).
    @param investor The investor.
    @param tranche The tranche index.
    @return uint256 The amount, in settlement base units.
    """
    return self._position[investor][tranche] & _PAID_MASK


@internal
@pure
def _cost(amount: uint256, price: uint256) -> uint256:
    """
    @dev Rounded up: in the deal's favour.
    """
    return (amount * price + WAD - 1) // WAD
