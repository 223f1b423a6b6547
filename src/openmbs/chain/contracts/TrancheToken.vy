# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs TrancheToken: one tranche of a deal as an ERC-20 + EIP-2612 token
@custom:contract-name TrancheToken
@license Apache-2.0
@notice One token unit is one unit of ORIGINAL face of the tranche, in the settlement
        asset's base units (same decimals). Minted only by the deal's issuance escrow
        up to the original face, before or at closing; the supply is fixed after.
        Every transfer path (`transfer`, `transferFrom`, and therefore
        `permit` + `transferFrom`) first calls the deal's `on_transfer` hook, which
        enforces the pause and the transfer rules (allowlist with expiry, freeze) and
        checkpoints both holders' claims BEFORE balances move.
        The external entry points are this contract's own functions (wrapping the
        snekmate `erc20` internals) so that `# pragma nonreentrancy on` covers them.
"""

# ---------------------------------------------------------------- IMPORTS

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed
from snekmate.auth import ownable
from snekmate.tokens import erc20
from snekmate.utils import ecdsa

implements: IERC20
implements: IERC20Detailed

initializes: ownable
initializes: erc20[ownable := ownable]

exports: (
    erc20.balanceOf,
    erc20.totalSupply,
    erc20.allowance,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
)

# ---------------------------------------------------------------- INTERFACES

interface IDeal:
    def on_transfer(owner: address, to: address, owner_balance: uint256, to_balance: uint256): nonpayable
    def check_holder(holder: address) -> bool: view
    def settlement() -> address: view

# ---------------------------------------------------------------- CONSTANTS

_PERMIT_TYPE_HASH: constant(bytes32) = keccak256(
    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)

# ---------------------------------------------------------------- EVENTS

event MintingFinished:
    total_supply: uint256

# ---------------------------------------------------------------- STORAGE

# @dev The deal this tranche belongs to (transfer hook, compliance).
deal: public(immutable(address))
# @dev The only account allowed to mint: the deal's issuance escrow.
minter: public(immutable(address))
# @dev The tranche's original face: the mint cap.
original_face: public(immutable(uint256))
# @dev The tranche's index in the deal.
tranche: public(immutable(uint256))
# @dev Set at closing; no mint after it.
minting_finished: public(bool)


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(
    name_: String[25],
    symbol_: String[5],
    deal_: address,
    minter_: address,
    tranche_: uint256,
    original_face_: uint256,
):
    """
    @notice Create the token of one tranche; decimals are read from the deal's
            settlement asset.
    @param name_ Token name (also the EIP-712 domain name for permit).
    @param symbol_ Token symbol.
    @param deal_ The deal contract.
    @param minter_ The issuance escrow, sole minter.
    @param tranche_ The tranche index in the deal.
    @param original_face_ The tranche's original face (mint cap).
    """
    settlement_: address = staticcall IDeal(deal_).settlement()
    decimals_: uint8 = staticcall IERC20Detailed(settlement_).decimals()
    ownable.__init__()
    erc20.__init__(name_, symbol_, decimals_, name_, "1")
    deal = deal_
    minter = minter_
    tranche = tranche_
    original_face = original_face_
    # The deployer keeps no power: renounce the snekmate owner/minter roles.
    erc20.is_minter[msg.sender] = False
    ownable._transfer_ownership(empty(address))


# ---------------------------------------------------------------- ERC-20

@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Move `amount` tokens from the caller to `to`, after the deal's hook.
    @param to The receiver.
    @param amount The amount, in base units of original face.
    @return bool True (reverts on failure).
    """
    self._hook(msg.sender, to)
    erc20._transfer(msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Move `amount` tokens from `owner` to `to` using the caller's allowance,
            after the deal's hook.
    @param owner The sender.
    @param to The receiver.
    @param amount The amount.
    @return bool True (reverts on failure).
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    self._hook(owner, to)
    erc20._transfer(owner, to, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of the caller's tokens.
    @param spender The spender.
    @param amount The allowance (max uint256: unlimited).
    @return bool True.
    """
    erc20._approve(msg.sender, spender, amount)
    return True


@external
def permit(
    owner: address, spender: address, amount: uint256, deadline: uint256, v: uint8, r: bytes32, s: bytes32
):
    """
    @notice EIP-2612: set an allowance from `owner`'s signature. A frozen or
            non-allowlisted owner cannot grant one; the transfer itself is checked
            again by `transferFrom`.
    @param owner The token owner who signed.
    @param spender The spender.
    @param amount The allowance.
    @param deadline Last valid block timestamp.
    @param v Signature v.
    @param r Signature r.
    @param s Signature s.
    """
    assert block.timestamp <= deadline  # dev: permit expired
    assert staticcall IDeal(deal).check_holder(owner)  # dev: owner may not hold
    nonce: uint256 = erc20.nonces[owner]
    erc20.nonces[owner] = nonce + 1
    struct_hash: bytes32 = keccak256(abi_encode(_PERMIT_TYPE_HASH, owner, spender, amount, nonce, deadline))
    digest: bytes32 = erc20.eip712_domain_separator._hash_typed_data_v4(struct_hash)
    signer: address = ecdsa._recover_vrs(digest, convert(v, uint256), convert(r, uint256), convert(s, uint256))
    assert signer == owner  # dev: invalid permit signature
    erc20._approve(owner, spender, amount)


# ---------------------------------------------------------------- MINTING

@external
def mint(to: address, amount: uint256):
    """
    @notice Mint tokens; only the issuance escrow, only before minting is finished,
            never beyond the original face.
    @param to The receiver.
    @param amount The amount.
    """
    assert msg.sender == minter  # dev: only minter
    assert not self.minting_finished  # dev: minting finished
    assert erc20.totalSupply + amount <= original_face  # dev: above original face
    erc20._mint(to, amount)


@external
def finish_minting():
    """
    @notice Fix the supply for good (called by the issuance escrow at closing).
    """
    assert msg.sender == minter  # dev: only minter
    assert not self.minting_finished  # dev: minting finished
    self.minting_finished = True
    log MintingFinished(total_supply=erc20.totalSupply)


# ---------------------------------------------------------------- HOOK

@internal
def _hook(owner: address, to: address):
    extcall IDeal(deal).on_transfer(owner, to, erc20.balanceOf[owner], erc20.balanceOf[to])
