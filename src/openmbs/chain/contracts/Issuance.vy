# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs Issuance: primary subscription escrow
@custom:contract-name Issuance
@license Apache-2.0
@notice Investors on the deal's allowlist deposit the settlement asset for a
        tranche during the offering window. Tokens are issued at par (one token unit
        per unit of settlement asset); a tranche's subscriptions are capped at its
        original face, so allocation is pro rata to deposits exactly, without rounding.
        When every tranche is fully subscribed, `close` mints each tranche's whole
        face into escrow, fixes the supply, funds the deal's reserve account with
        the deal's `reserve_initial` out of the proceeds (the seller's deposit),
        marks the deal closed and pays the seller the rest;
        each investor then pulls their tokens with `settle`. If the window ends with
        any tranche short, `fail` opens `withdraw` for every depositor. No loop over
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
    def check_holder(holder: address) -> bool: view
    def mark_closed(): nonpayable

interface ITrancheToken:
    def mint(to: address, amount: uint256): nonpayable
    def finish_minting(): nonpayable
    def transfer(to: address, amount: uint256) -> bool: nonpayable

# ---------------------------------------------------------------- CONSTANTS

MAX_TRANCHES: constant(uint256) = deal_types.MAX_TRANCHES
OPEN: constant(uint256) = 0
CLOSED: constant(uint256) = 1
FAILED: constant(uint256) = 2

# ---------------------------------------------------------------- EVENTS

event Subscribed:
    investor: indexed(address)
    tranche: indexed(uint256)
    amount: uint256
    total_for_tranche: uint256

event OfferingClosed:
    seller: address
    proceeds: uint256
    reserve_funded: uint256
    seller_paid: uint256

event OfferingFailed:
    timestamp: uint256

event Settled:
    investor: indexed(address)
    tranche: indexed(uint256)
    tokens: uint256

event Withdrawn:
    investor: indexed(address)
    amount: uint256

# ---------------------------------------------------------------- STORAGE

deal: public(immutable(address))
settlement: public(immutable(IERC20))
seller: public(immutable(address))
opens_at: public(immutable(uint256))
closes_at: public(immutable(uint256))
minimum_subscription: public(immutable(uint256))

state: public(uint256)
subscribed: public(uint256[MAX_TRANCHES])
deposit_of: public(HashMap[address, HashMap[uint256, uint256]])
# @dev Internal accounting of the settlement asset held in escrow.
escrow_held: public(uint256)


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(deal_: address, seller_: address, opens_at_: uint256, closes_at_: uint256, minimum_: uint256):
    """
    @notice Create the escrow of a deal's primary offering.
    @param deal_ The deal.
    @param seller_ Receives the proceeds at closing.
    @param opens_at_ Window start (unix seconds).
    @param closes_at_ Window end (unix seconds).
    @param minimum_ Minimum total deposit per investor and tranche, in base units
           (waived for a deposit that fills the tranche's remaining capacity).
    """
    assert opens_at_ < closes_at_  # dev: empty window
    deal = deal_
    settlement = IERC20(staticcall IDeal(deal_).settlement())
    seller = seller_
    opens_at = opens_at_
    closes_at = closes_at_
    minimum_subscription = minimum_


# ---------------------------------------------------------------- SUBSCRIPTION

@external
def subscribe(tranche: uint256, amount: uint256):
    """
    @notice Deposit `amount` of the settlement asset for `tranche` (at par). The
            caller must be allowlisted and have approved this contract.
    @param tranche The tranche index.
    @param amount The deposit, in base units.
    """
    assert self.state == OPEN  # dev: offering not open
    assert block.timestamp >= opens_at and block.timestamp <= closes_at  # dev: outside window
    assert not staticcall IDeal(deal).paused()  # dev: paused
    assert staticcall IDeal(deal).check_holder(msg.sender)  # dev: investor not allowed
    assert tranche < staticcall IDeal(deal).tranche_count()  # dev: no such tranche
    assert amount > 0  # dev: zero amount
    face: uint256 = staticcall IDeal(deal).original_face(tranche)
    total: uint256 = self.subscribed[tranche] + amount
    assert total <= face  # dev: above tranche face
    mine: uint256 = self.deposit_of[msg.sender][tranche] + amount
    assert mine >= minimum_subscription or total == face  # dev: below minimum subscription
    self.subscribed[tranche] = total
    self.deposit_of[msg.sender][tranche] = mine
    self.escrow_held += amount
    before: uint256 = staticcall settlement.balanceOf(self)
    assert extcall settlement.transferFrom(msg.sender, self, amount, default_return_value=True)  # dev: deposit failed
    assert staticcall settlement.balanceOf(self) - before == amount  # dev: deposit short
    log Subscribed(investor=msg.sender, tranche=tranche, amount=amount, total_for_tranche=total)


@external
def close():
    """
    @notice Close the offering once every tranche is fully subscribed: mint each
            tranche's face into escrow, fix the supply, fund the deal's reserve
            account (`reserve_initial` of the proceeds, moved to the deal), mark the
            deal closed and pay the seller the rest. Anyone may call.
    """
    assert self.state == OPEN  # dev: offering not open
    assert not staticcall IDeal(deal).paused()  # dev: paused
    n: uint256 = staticcall IDeal(deal).tranche_count()
    proceeds: uint256 = 0
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        face: uint256 = staticcall IDeal(deal).original_face(t)
        assert self.subscribed[t] == face  # dev: not fully subscribed
        proceeds += face
    reserve: uint256 = staticcall IDeal(deal).reserve_initial()
    assert reserve <= proceeds  # dev: reserve above proceeds
    self.state = CLOSED
    self.escrow_held -= proceeds
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        token: ITrancheToken = ITrancheToken(staticcall IDeal(deal).tranche_token(t))
        extcall token.mint(self, self.subscribed[t])
        extcall token.finish_minting()
    if reserve != 0:
        assert extcall settlement.transfer(deal, reserve, default_return_value=True)  # dev: reserve funding failed
    extcall IDeal(deal).mark_closed()
    assert extcall settlement.transfer(seller, proceeds - reserve, default_return_value=True)  # dev: payment failed
    log OfferingClosed(seller=seller, proceeds=proceeds, reserve_funded=reserve, seller_paid=proceeds - reserve)


@external
def fail():
    """
    @notice After the window, if some tranche is short, mark the offering failed so
            every depositor can withdraw. Anyone may call.
    """
    assert self.state == OPEN  # dev: offering not open
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
    @notice After closing, pull the caller's tranche tokens (one per unit deposited).
            The transfer goes through the deal's transfer rules.
    @return uint256 Total tokens delivered across tranches.
    """
    assert self.state == CLOSED  # dev: offering not closed
    n: uint256 = staticcall IDeal(deal).tranche_count()
    total: uint256 = 0
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        d: uint256 = self.deposit_of[msg.sender][t]
        if d != 0:
            self.deposit_of[msg.sender][t] = 0
            total += d
            assert extcall ITrancheToken(staticcall IDeal(deal).tranche_token(t)).transfer(msg.sender, d)  # dev: token transfer failed
            log Settled(investor=msg.sender, tranche=t, tokens=d)
    return total


@external
def withdraw() -> uint256:
    """
    @notice After a failed offering, take back every deposit of the caller.
    @return uint256 The amount refunded.
    """
    assert self.state == FAILED  # dev: offering not failed
    n: uint256 = staticcall IDeal(deal).tranche_count()
    total: uint256 = 0
    for t: uint256 in range(n, bound=MAX_TRANCHES):
        d: uint256 = self.deposit_of[msg.sender][t]
        if d != 0:
            self.deposit_of[msg.sender][t] = 0
            total += d
    if total != 0:
        self.escrow_held -= total
        assert extcall settlement.transfer(msg.sender, total, default_return_value=True)  # dev: refund failed
        log Withdrawn(investor=msg.sender, amount=total)
    return total
