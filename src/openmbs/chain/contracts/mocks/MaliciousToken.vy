# pragma version ~=0.4.3
"""
@title openmbs MaliciousToken: a settlement token that re-enters on transfer
@custom:contract-name MaliciousToken
@license Apache-2.0
@notice For the attack tests only. When armed, its next `transfer` or
        `transferFrom` calls `target` with `payload` (for example `Deal.claim(0)`
        on behalf of this contract, which also holds tranche tokens) before
        returning, swallows a revert, and counts attempts and successes.
"""

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

target: public(address)
payload: public(Bytes[1024])
armed: public(bool)
reentry_attempts: public(uint256)
reentry_successes: public(uint256)


@deploy
def __init__():
    """
    @notice Create the token (6 decimals).
    """
    ownable.__init__()
    erc20.__init__("Malicious", "EVIL", 6, "Malicious", "1")


@external
def mint(to: address, amount: uint256):
    """
    @notice Mint freely (test token).
    @param to Receiver.
    @param amount Amount.
    """
    erc20._mint(to, amount)


@external
def arm(target_: address, payload_: Bytes[1024]):
    """
    @notice Re-enter `target_` with `payload_` on the next transfer.
    @param target_ Contract to call.
    @param payload_ Calldata.
    """
    self.target = target_
    self.payload = payload_
    self.armed = True


@external
def call_as_token(target_: address, payload_: Bytes[1024]):
    """
    @notice Call `target_` from this contract (used to act as a holder).
    @param target_ Contract to call.
    @param payload_ Calldata.
    """
    raw_call(target_, payload_)


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 transfer that re-enters when armed.
    @param to Receiver.
    @param amount Amount.
    @return bool True.
    """
    erc20._transfer(msg.sender, to, amount)
    self._attack()
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice ERC-20 transferFrom that re-enters when armed.
    @param owner Sender.
    @param to Receiver.
    @param amount Amount.
    @return bool True.
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    self._attack()
    return True


@internal
def _attack():
    if self.armed:
        self.armed = False
        self.reentry_attempts += 1
        ok: bool = raw_call(self.target, self.payload, revert_on_failure=False)
        if ok:
            self.reentry_successes += 1
