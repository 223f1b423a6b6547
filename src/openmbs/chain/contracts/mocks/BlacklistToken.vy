# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs BlacklistToken: a USDC-style settlement token with a blacklist
@custom:contract-name BlacklistToken
@license Apache-2.0
@notice For the attack tests only. 6 decimals; its owner (the deployer) mints and
        blacklists. Like USDC, `transfer`, `transferFrom` and `approve` revert
        when the caller, the sender, the receiver or the spender is blacklisted,
        so a push payment to a blacklisted address (a seller, the deal, an
        investor) fails.
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
)

# ---------------------------------------------------------------- EVENTS

event Blacklisted:
    account: indexed(address)
    flag: bool

# ---------------------------------------------------------------- STORAGE

blacklisted: public(HashMap[address, bool])


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(name_: String[25], symbol_: String[5]):
    """
    @notice Create the token (6 decimals); the deployer owns it.
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
def blacklist(account: address, flag: bool):
    """
    @notice Block or unblock an account (owner only).
    @param account The account.
    @param flag True to block.
    """
    ownable._check_owner()
    self.blacklisted[account] = flag
    log Blacklisted(account=account, flag=flag)


# ---------------------------------------------------------------- ERC-20

@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 transfer; reverts if either side is blacklisted.
    @param to Receiver.
    @param amount Amount.
    @return bool True.
    """
    self._check(msg.sender)
    self._check(to)
    erc20._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 transferFrom; reverts if the caller, sender or receiver is
            blacklisted.
    @param owner Sender.
    @param to Receiver.
    @param amount Amount.
    @return bool True.
    """
    self._check(msg.sender)
    self._check(owner)
    self._check(to)
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice ERC-20 approve; reverts if either side is blacklisted.
    @param spender Spender.
    @param amount Allowance.
    @return bool True.
    """
    self._check(msg.sender)
    self._check(spender)
    erc20._approve(msg.sender, spender, amount)
    return True


@internal
@view
def _check(account: address):
    assert not self.blacklisted[account]  # dev: blacklisted
