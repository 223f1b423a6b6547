# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs FeeOnTransferToken: a settlement token that can take a transfer fee
@custom:contract-name FeeOnTransferToken
@license Apache-2.0
@notice For the attack tests only. 6 decimals; its owner (the deployer) mints and
        sets a fee in basis points (0 at deployment, as USDT's switchable fee).
        On `transfer` and `transferFrom` the sender is debited the amount and the
        receiver credited the amount less the fee (rounded down); the fee is
        burnt.
"""

# ---------------------------------------------------------------- IMPORTS

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: (
    erc20.balanceOf,
    erc20.totalSupply,
    erc20.allowance,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.approve,
)

# ---------------------------------------------------------------- EVENTS

event FeeSet:
    fee_bps: uint256

# ---------------------------------------------------------------- STORAGE

fee_bps: public(uint256)


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(name_: String[25], symbol_: String[5]):
    """
    @notice Create the token (6 decimals, no fee); the deployer owns it.
    @param name_ Token name.
    @param symbol_ Token symbol.
    """
    ownable.__init__()
    erc20.__init__(name_, symbol_, 6, name_, "1")


# ---------------------------------------------------------------- OWNER

@external
def mint(to: address, amount: uint256):
    """
    @notice Mint tokens (owner only).
    @param to Receiver.
    @param amount Amount.
    """
    ownable._check_owner()
    erc20._mint(to, amount)


@external
def set_fee(fee_bps_: uint256):
    """
    @notice Set the transfer fee (owner only).
    @param fee_bps_ The fee, in basis points of the amount.
    """
    ownable._check_owner()
    assert fee_bps_ <= 10_000  # dev: fee above 100%
    self.fee_bps = fee_bps_
    log FeeSet(fee_bps=fee_bps_)


# ---------------------------------------------------------------- ERC-20

@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 transfer less the fee.
    @param to Receiver.
    @param amount Amount debited to the caller.
    @return bool True.
    """
    self._move(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 transferFrom less the fee.
    @param owner Sender.
    @param to Receiver.
    @param amount Amount debited to the sender.
    @return bool True.
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    self._move(owner, to, amount)
    return True


@internal
def _move(owner: address, to: address, amount: uint256):
    fee: uint256 = amount * self.fee_bps // 10_000
    erc20._transfer(owner, to, amount - fee)
    if fee != 0:
        erc20._burn(owner, fee)
