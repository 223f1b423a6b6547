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
        enforces the pause and the transfer rules (allowlist with expiry, freeze) on
        the sender, the receiver and a `transferFrom` spender, and returns the
        tranche's cash index; both holders are checkpointed at it BEFORE balances
        move. A zero-amount or self transfer runs the same checks and emits Transfer
        but moves no checkpoint (nobody can force a holder's accrual to be floored).
        Tokens leaving the issuance escrow (`settle`) carry the escrow's accrual
        with them: the escrow's checkpoint stays where closing put it, and a new
        holder takes that checkpoint (one that already holds the class is
        credited `amount x (index - escrow's checkpoint index) // 1e18`), so an
        investor who settles late is paid every unit distributed on their tokens
        since closing. Nothing else may be sent to the escrow.
        The checkpoint (cash index at the last settlement and the cash owed up to
        it) is packed in the holder's balance word, so a transfer to a new holder
        and a first claim create no extra storage slot; the deal pays claims and
        settles a holder through `take`.
        Composition: snekmate's `eip712_domain_separator` (the EIP-712 domain,
        `DOMAIN_SEPARATOR`, EIP-5267 `eip712Domain`) and `ecdsa` (signature
        recovery for `permit`), nothing else. snekmate's `erc20` module is not
        used, for three reasons: its `balanceOf` map cannot hold the checkpoint
        packed with the balance (a second map would cost a slot per holder); every
        path that moves tokens must call the deal's hook and checkpoint both
        holders BEFORE balances move, which its `transfer`/`transferFrom` (and
        its `_before_token_transfer` hook, which gets no spender) cannot do; and its
        `permit` cannot refuse an owner the deal does not allow to hold. Composing
        it anyway would leave its balance map dead and its totals and nonces
        written from outside. So this contract keeps its own ERC-20 storage
        (`totalSupply`, `allowance`, `nonces`, name, symbol, decimals) and its own
        `transfer`, `transferFrom`, `approve`, `permit`, with the events ERC-20
        and EIP-2612 require (`Transfer` on every move, mint included; `Approval`
        on `approve`, on `permit`, and when `transferFrom` spends a finite
        allowance) and snekmate's `RoleMinterChanged` for the minter: granted to
        the escrow at deployment, revoked when minting is finished.
        Every external entry point is this contract's own, so `# pragma
        nonreentrancy on` covers them all.
"""

# ---------------------------------------------------------------- IMPORTS

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed
from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator

implements: IERC20
implements: IERC20Detailed

initializes: eip712_domain_separator

exports: eip712_domain_separator.eip712Domain

# ---------------------------------------------------------------- INTERFACES

interface IDeal:
    def on_transfer(tranche: uint256, spender: address, owner: address, to: address) -> uint256: view
    def check_holder(holder: address) -> bool: view
    def settlement() -> address: view

# ---------------------------------------------------------------- CONSTANTS

_PERMIT_TYPE_HASH: constant(bytes32) = keccak256(
    "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)

WAD: constant(uint256) = 10**18
# @dev A holder's word: balance (bits 160..255) | cash index at the last
# checkpoint (bits 80..159) | WIDE flag (bit 79) | cash owed up to it (bits 0..78).
# When the index or the owed amount does not fit (an 18-decimal asset's holder
# owed above 2**79 units, an index above 2**80), the flag is set and both live in
# `_wide` (index << 128 | owed) until a claim brings them back. The transfer and
# claim paths read these fields inline (vyper 0.4.3 does not inline internal
# functions; a transferFrom is within 100 gas of its 75k target).
_BAL_SHIFT: constant(uint256) = 160
_CK_SHIFT: constant(uint256) = 80
_CK_MAX: constant(uint256) = 2**80 - 1
_OWED_MAX: constant(uint256) = 2**79 - 1
_WIDE: constant(uint256) = 2**79
_WIDE_INDEX_SHIFT: constant(uint256) = 128
_WIDE_OWED_MASK: constant(uint256) = 2**128 - 1

# ---------------------------------------------------------------- EVENTS

# @notice The supply is fixed for good (closing).
# @param total_supply The final supply, in base units of original face.
event MintingFinished:
    total_supply: uint256

# @notice `minter` gained (`status` true, at deployment) or lost (false, when
#         minting is finished) the power to mint; snekmate's event of the same name.
# @param minter The issuance escrow.
# @param status Whether it may mint from now on.
event RoleMinterChanged:
    minter: indexed(address)
    status: bool

# ---------------------------------------------------------------- STORAGE

# @dev Token name (also the EIP-712 domain name), symbol and decimals (the
# settlement asset's).
name: public(immutable(String[50]))
symbol: public(immutable(String[16]))
decimals: public(immutable(uint8))
# @dev Tokens in existence (the minted original face).
totalSupply: public(uint256)
# @dev What a spender may still move of an owner's tokens (max uint256: unlimited).
allowance: public(HashMap[address, HashMap[address, uint256]])
# @dev Per owner: the next EIP-2612 permit nonce.
nonces: public(HashMap[address, uint256])
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
# @dev Per holder: balance and packed checkpoint (see `_BAL_SHIFT`).
_word: HashMap[address, uint256]
# @dev Per holder in WIDE mode: cash index at the checkpoint << 128 | cash owed.
_wide: HashMap[address, uint256]


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(
    name_: String[50],
    symbol_: String[16],
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
    assert original_face_ < 2**96  # dev: face out of range
    assert minter_ != empty(address)  # dev: zero minter
    settlement_: address = staticcall IDeal(deal_).settlement()
    eip712_domain_separator.__init__(name_, "1")
    name = name_
    symbol = symbol_
    decimals = staticcall IERC20Detailed(settlement_).decimals()
    deal = deal_
    minter = minter_
    tranche = tranche_
    original_face = original_face_
    # The deployer keeps no power: the escrow is the only minter, until closing.
    log RoleMinterChanged(minter=minter_, status=True)


# ---------------------------------------------------------------- ERC-20

@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Move `amount` tokens from the caller to `to`, after the deal's hook.
    @param to The receiver.
    @param amount The amount, in base units of original face.
    @return bool True (reverts on failure).
    """
    self._move(msg.sender, msg.sender, to, amount)
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Move `amount` tokens from `owner` to `to` using the caller's allowance,
            after the deal's hook (which also refuses a frozen or non-allowlisted
            caller).
    @param owner The sender.
    @param to The receiver.
    @param amount The amount.
    @return bool True (reverts on failure).
    """
    allowed: uint256 = self.allowance[owner][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount  # dev: insufficient allowance
        self.allowance[owner][msg.sender] = allowed - amount
        log IERC20.Approval(owner=owner, spender=msg.sender, value=allowed - amount)
    self._move(msg.sender, owner, to, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of the caller's tokens.
    @param spender The spender.
    @param amount The allowance (max uint256: unlimited).
    @return bool True.
    """
    self._approve(msg.sender, spender, amount)
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
    nonce: uint256 = self.nonces[owner]
    self.nonces[owner] = nonce + 1
    struct_hash: bytes32 = keccak256(abi_encode(_PERMIT_TYPE_HASH, owner, spender, amount, nonce, deadline))
    digest: bytes32 = eip712_domain_separator._hash_typed_data_v4(struct_hash)
    signer: address = ecdsa._recover_vrs(digest, convert(v, uint256), convert(r, uint256), convert(s, uint256))
    assert signer == owner  # dev: invalid permit signature
    self._approve(owner, spender, amount)


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice The EIP-712 domain separator `permit` signatures are bound to (this
            token's name, version "1", this chain, this contract).
    @return bytes32 The separator.
    """
    return eip712_domain_separator._domain_separator_v4()


@internal
def _approve(owner: address, spender: address, amount: uint256):
    """
    @dev Set `spender`'s allowance over `owner`'s tokens and emit Approval (ERC-20).
    """
    assert spender != empty(address)  # dev: approve to the zero address
    self.allowance[owner][spender] = amount
    log IERC20.Approval(owner=owner, spender=spender, value=amount)


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
    supply: uint256 = self.totalSupply + amount
    assert supply <= original_face  # dev: above original face
    assert to != empty(address)  # dev: mint to the zero address
    self.totalSupply = supply
    # No distribution before closing: the index is 0, the checkpoint stays empty.
    self._word[to] += amount << _BAL_SHIFT
    log IERC20.Transfer(sender=empty(address), receiver=to, value=amount)


@external
def finish_minting():
    """
    @notice Fix the supply for good (called by the issuance escrow at closing).
    """
    assert msg.sender == minter  # dev: only minter
    assert not self.minting_finished  # dev: minting finished
    self.minting_finished = True
    log MintingFinished(total_supply=self.totalSupply)
    log RoleMinterChanged(minter=minter, status=False)


@external
@view
def is_minter(account: address) -> bool:
    """
    @notice Whether `account` may mint now: the issuance escrow, until minting is
            finished (what the `RoleMinterChanged` events say).
    @param account The account.
    @return bool True if it may mint.
    """
    return account == minter and not self.minting_finished


# ---------------------------------------------------------------- CHECKPOINTS

@external
@view
def balanceOf(owner: address) -> uint256:
    """
    @notice The token balance of `owner`.
    @param owner The holder.
    @return uint256 The balance, in base units of original face.
    """
    return self._word[owner] >> _BAL_SHIFT


@external
def take(holder: address, idx: uint256) -> uint256:
    """
    @notice Settle `holder` at the cash index `idx` and hand over what it is owed
            (the deal pays it out). Deal only.
    @param holder The holder.
    @param idx The tranche's cash index now.
    @return uint256 The cash owed, in settlement base units (rounded down).
    """
    assert msg.sender == deal  # dev: only deal
    w: uint256 = self._word[holder]
    if w == 0:
        return 0
    owed: uint256 = self._owed_at(holder, w, idx)
    new: uint256 = self._pack(holder, w >> _BAL_SHIFT, idx, 0, w)
    if new != w:
        self._word[holder] = new
    return owed


@external
@view
def claimable_at(holder: address, idx: uint256) -> uint256:
    """
    @notice What `holder` is owed at the cash index `idx` (see `Deal.claimable`).
    @param holder The holder.
    @param idx A cash index at or above the holder's checkpoint.
    @return uint256 The amount, in settlement base units (rounded down).
    """
    return self._owed_at(holder, self._word[holder], idx)


@external
@view
def checkpoint_of(holder: address) -> (uint256, uint256):
    """
    @notice The holder's stored checkpoint: the cash index at the last checkpoint
            and the cash owed accrued up to it.
    @param holder The holder.
    @return (uint256, uint256) (index at checkpoint, owed at checkpoint).
    """
    w: uint256 = self._word[holder]
    if w & _WIDE != 0:
        x: uint256 = self._wide[holder]
        return (x >> _WIDE_INDEX_SHIFT, x & _WIDE_OWED_MASK)
    return ((w >> _CK_SHIFT) & _CK_MAX, w & _OWED_MAX)


@internal
@view
def _owed_at(holder: address, w: uint256, idx: uint256) -> uint256:
    """
    @dev Owed at checkpoint + balance x (idx - checkpoint index) // 1e18: rounded
         down, against the claimant.
    """
    if w & _WIDE != 0:
        x: uint256 = self._wide[holder]
        return (x & _WIDE_OWED_MASK) + (w >> _BAL_SHIFT) * (idx - (x >> _WIDE_INDEX_SHIFT)) // WAD
    return (w & _OWED_MAX) + (w >> _BAL_SHIFT) * (idx - ((w >> _CK_SHIFT) & _CK_MAX)) // WAD


@internal
def _pack(holder: address, bal: uint256, idx: uint256, owed: uint256, old: uint256) -> uint256:
    """
    @dev The holder's new word (writes `_wide` when the checkpoint does not fit in
         the word, clears it when it fits again). An empty position is stored as 0.
    """
    if idx <= _CK_MAX and owed <= _OWED_MAX:
        if old & _WIDE != 0:
            self._wide[holder] = 0
        if bal == 0 and owed == 0:
            return 0
        return (bal << _BAL_SHIFT) | (idx << _CK_SHIFT) | owed
    assert idx <= _WIDE_OWED_MASK and owed <= _WIDE_OWED_MASK  # dev: owed overflow
    self._wide[holder] = (idx << _WIDE_INDEX_SHIFT) | owed
    return (bal << _BAL_SHIFT) | _WIDE


@internal
def _move(spender: address, owner: address, to: address, amount: uint256):
    """
    @dev The deal checks the pause, the spender and both holders and gives the
         index; both holders are settled at it, then the balances move. A zero or
         self transfer writes nothing. Tokens out of the escrow carry its accrual
         since its checkpoint (see `_from_escrow`): the escrow's word keeps its
         checkpoint and loses only the balance; its implied claim
         `bal x (i - ck) // 1e18` shrinks, at any index i, by at least what the
         receiver is owed on the tokens (floor(x) - floor(x - y) >= floor(y)), so
         no cash is created.
    """
    assert owner != empty(address)  # dev: erc20: transfer from the zero address
    assert to != empty(address)  # dev: erc20: transfer to the zero address
    assert to != minter  # dev: transfer to the escrow
    idx: uint256 = staticcall IDeal(deal).on_transfer(tranche, spender, owner, to)
    w: uint256 = self._word[owner]
    bal: uint256 = w >> _BAL_SHIFT
    assert bal >= amount  # dev: erc20: transfer amount exceeds balance
    if amount != 0 and owner != to:
        if owner == minter:
            self._word[owner] = w - (amount << _BAL_SHIFT)
            self._from_escrow(to, amount, idx, self._ck_index(owner, w))
            log IERC20.Transfer(sender=owner, receiver=to, value=amount)
            return
        self._word[owner] = self._pack(owner, bal - amount, idx, self._owed_at(owner, w, idx), w)
        w = self._word[to]
        self._word[to] = self._pack(to, (w >> _BAL_SHIFT) + amount, idx, self._owed_at(to, w, idx), w)
    log IERC20.Transfer(sender=owner, receiver=to, value=amount)


@internal
def _from_escrow(to: address, amount: uint256, idx: uint256, ck: uint256):
    """
    @dev Tokens settled out of the escrow (checkpoint index `ck`). A receiver with no
         position in the class takes the escrow's checkpoint itself, so its claims
         are exactly those of a holder since closing (no extra rounding); one that
         already holds some is settled at `idx` and credited
         `amount x (idx - ck) // 1e18` (rounded down).
    """
    w: uint256 = self._word[to]
    if w == 0:
        self._word[to] = self._pack(to, amount, ck, 0, 0)
    else:
        carried: uint256 = amount * (idx - ck) // WAD
        self._word[to] = self._pack(to, (w >> _BAL_SHIFT) + amount, idx, self._owed_at(to, w, idx) + carried, w)


@internal
@view
def _ck_index(holder: address, w: uint256) -> uint256:
    """
    @dev The cash index at the holder's last checkpoint.
    """
    if w & _WIDE != 0:
        return self._wide[holder] >> _WIDE_INDEX_SHIFT
    return (w >> _CK_SHIFT) & _CK_MAX
