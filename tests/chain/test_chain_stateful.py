"""Stateful test of the whole deal on the REAL waterfall: offering, tokens, claims,
compliance, pause, attested remittances and timelocked governance, interleaved at
random, with a Python model kept in step with the contracts by wrapper methods.

The machine (:class:`DealMachine`, module level, Curve stableswap-ng style) runs on the
four_tranche example deal (``ExactWaterfall``: fees, reserve account, OC turbo and
cumulative-loss trap triggers, a net-WAC capped class) deployed once per process in
its own lean embedded EVM (``openmbs.chain.fastevm``); each example starts from the
freshly deployed, still open offering (``env.anchor()``).

The model is the exact engine (``apply_period`` on the deal's compiled ``ExactDeal``)
for the waterfall, plus a ledger of token units, checkpoints (cash index and cash
owed at the checkpoint), cash claimed, payees' cash, allowances, permit nonces,
compliance flags, the oracle's attestor set and quorum and the timelock's queue.
Every action's expected outcome is computed from the model BEFORE the call; a revert
is expected by its ``# dev:`` reason (or the contract's revert string), never by
catching any error.

Invariants after every step (``check_*`` below):

* cash is conserved to the unit: the deal's settlement balance (less donations) ==
  ``cash_held`` == the model's == credited - claimed + payees + reserve account;
* sum over every account (the issuance escrow included) of claimable + claimed never
  exceeds the cash credited;
* every claimable equals the model's ``owed + units * (index - checkpoint) // 1e18``;
* no account's claimable + claimed ever decreases (a transfer moves no accrued cash);
* every index (interest, principal, loss, write-up) only grows and equals the exact
  engine's; tranche balances and the reserve account equal the engine's.

Late settlement: tokens that wait in the issuance escrow after closing carry what is
distributed on them; an investor who settles after a distribution receives it all
(:func:`settlement_entitlement`, used by ``settle``). The escrow's own claim is
pinned to the model and shrinks by what each settlement hands on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import boa
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as selector
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from openmbs.chain import config_from_spec, deploy_deal
from openmbs.chain.fastevm import make_lean
from openmbs.oracle import RemittanceReport, attest
from openmbs.structuring import exact_remittance, example_deal
from openmbs.structuring._exact import apply_period, initial_state

WAD = 10**18
MAX_UINT = 2**256 - 1
LOANS = 100
FOREVER = 2**40
ZERO32 = b"\0" * 32



def cutoff_delinquent(pool: int) -> tuple[int, int, int]:
    """The pool's balance 30-59, 60-89 and 90+ days late at cut-off (2%, 1%, 1%): the
    oracle bounds period 1's roll and liquidations by it."""
    return (pool * 2 // 100, pool // 100, pool // 100)

#: Attestor keys: the first five are the deal's attestors, the sixth a candidate
#: that governance may add.
ATTESTOR_KEYS = [bytes([i + 1]) * 32 for i in range(6)]
#: Holders: three primary investors and one secondary-market buyer; keys known so
#: that they can sign permits.
HOLDER_KEYS = [bytes([0x40 + i]) * 32 for i in range(4)]
#: Signs reports without being an attestor.
OUTSIDER_KEY = b"\x99" * 32
HOLDERS = [Account.from_key(k).address for k in HOLDER_KEYS]
INVESTORS = HOLDERS[:3]

# ---------------------------------------------------------------- the deal, once


@dataclass
class MachineWorld:
    """The deployed deal and its accounts, in their own lean embedded EVM."""

    env: Any
    d: Any
    ex: Any
    admin: str
    spender: str
    payees: list[str]  # admin (initial fee + residual recipient), two replacements
    stranger: str
    escrow: str
    closes_at: int
    delay: int


_WORLD: MachineWorld | None = None


def machine_world() -> MachineWorld:
    """Deploy four_tranche (offering open, nobody subscribed) once per process."""
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    env = boa.Env()
    make_lean(env)
    with boa.swap_env(env):
        spec = example_deal("four_tranche")
        pool_units = int(spec.pool.balance * 10**spec.asset.decimals)
        cfg = config_from_spec(spec, loan_count=LOANS, initial_delinquent=cutoff_delinquent(pool_units))
        admin = env.generate_address("sm-admin")
        d = deploy_deal(cfg, attestors=[Account.from_key(k).address for k in ATTESTOR_KEYS[:5]], admin=admin)
        spender = env.generate_address("sm-spender")
        payees = [admin, env.generate_address("sm-payee1"), env.generate_address("sm-payee2")]
        stranger = env.generate_address("sm-stranger")
        d.allow([*HOLDERS, spender], FOREVER)
        big = 2 * cfg.initial_pool_balance
        for a in INVESTORS:
            d.settlement.mint(a, big, sender=admin)
            d.settlement.approve(d.issuance.address, MAX_UINT, sender=a)
        d.settlement.mint(admin, 10**24, sender=admin)
        d.settlement.approve(d.oracle.address, MAX_UINT, sender=admin)
        _WORLD = MachineWorld(
            env=env,
            d=d,
            ex=cfg.exact,
            admin=admin,
            spender=spender,
            payees=payees,
            stranger=stranger,
            escrow=str(d.issuance.address),
            closes_at=int(d.issuance.closes_at()),
            delay=int(d.timelock.get_minimum_delay()),
        )
    return _WORLD


# ---------------------------------------------------------------- reverts


def root_dev_reason(exc: Any) -> str | None:
    """The ``# dev:`` reason of the innermost failing contract line that has one (the
    root cause; an outer frame reports the call that failed)."""
    for frame in exc.stack_trace:
        dev = getattr(frame, "dev_reason", None)
        if dev is not None:
            return str(dev.reason_str)
    return None


def revert_string(exc: Any) -> str | None:
    """The revert string the transaction returned (None for a bare revert)."""
    frame = exc.stack_trace.last_frame
    try:
        reason = frame.pretty_vm_reason
    except (AttributeError, IndexError):
        return None
    return reason if isinstance(reason, str) else None


@contextlib.contextmanager
def expect_revert(*, dev: str | None = None, msg: str | None = None) -> Iterator[None]:
    """Expect the block to revert with the root cause ``dev`` (a ``# dev:`` reason)
    and/or the revert string ``msg``; any other outcome fails the test."""
    assert dev or msg
    DealMachine.outcomes[f"  reverted: {dev or msg}"] += 1
    try:
        yield
    except boa.BoaError as exc:
        if dev is not None:
            assert root_dev_reason(exc) == dev, f"expected dev reason {dev!r}, got {root_dev_reason(exc)!r}"
        if msg is not None:
            assert revert_string(exc) == msg, f"expected revert string {msg!r}, got {revert_string(exc)!r}"
    else:
        raise AssertionError(f"did not revert (expected {dev or msg!r})")


# ---------------------------------------------------------------- model functions


def settlement_entitlement(deposit: int, index_now: int, index_at_closing: int) -> int:
    """THE CORRECT BEHAVIOUR of a settlement (the one model function that encodes it):
    an investor who settles receives everything distributed on their tokens since
    closing, whenever they settle: ``deposit * (index now - index at closing) // 1e18``
    (rounded down, against the claimant, like every claim)."""
    return deposit * (index_now - index_at_closing) // WAD


def accrued(units: int, index_now: int, checkpoint: int) -> int:
    """Cash accrued on ``units`` since ``checkpoint`` (the contracts' formula)."""
    return units * (index_now - checkpoint) // WAD


def _permit_signature(key: bytes, token: Any, spender: str, value: int, nonce: int, deadline: int) -> tuple[int, bytes, bytes]:
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": token.name(), "version": "1", "chainId": boa.env.evm.patch.chain_id,
                   "verifyingContract": str(token.address)},
        "message": {"owner": Account.from_key(key).address, "spender": spender, "value": value,
                    "nonce": nonce, "deadline": deadline},
    }
    s = Account.sign_typed_data(key, full_message=data)
    return s.v, s.r.to_bytes(32, "big"), s.s.to_bytes(32, "big")


# ---------------------------------------------------------------- the machine

_holder = st.integers(0, len(HOLDERS) - 1)
_investor = st.integers(0, len(INVESTORS) - 1)
_tranche = st.integers(0, 3)


class DealMachine(RuleBasedStateMachine):
    """Deal, tranche tokens, issuance, oracle and timelock against the model."""

    #: Steps run by every machine of this class in this process (all examples).
    steps = 0
    #: How often each rule took each path ("remit:ok", "remit:below quorum", ...),
    #: all examples in this process: what the run exercised.
    outcomes: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        w = self.w = machine_world()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(boa.swap_env(w.env))
        self._stack.enter_context(w.env.anchor())
        ex = self.ex = w.ex
        self.n = ex.n_tranches
        self.accounts = [*HOLDERS, w.escrow]
        # offering
        self.closed = False
        self.subscribed = [0] * self.n
        self.deposit = {(h, t): 0 for h in INVESTORS for t in range(self.n)}
        # tokens: units, checkpoint (cash index) and cash owed at the checkpoint
        self.units = {(a, t): 0 for a in self.accounts for t in range(self.n)}
        self.ckpt = dict.fromkeys(self.units, 0)
        self.owed = dict.fromkeys(self.units, 0)
        self.claimed = dict.fromkeys(self.units, 0)
        self.entitled = dict.fromkeys(self.units, 0)  # claimable + claimed, last seen
        self.allowance = {(h, t): 0 for h in HOLDERS for t in range(self.n)}
        self.nonce = {(h, t): 0 for h in HOLDERS for t in range(self.n)}
        # compliance and pause
        self.until = {h: FOREVER for h in HOLDERS}
        self.frozen = {h: False for h in HOLDERS}
        self.paused = False
        # waterfall and cash
        self.state = initial_state(ex)
        self.pool = ex.pool_original
        self.loans = LOANS
        self.unrecovered = 0
        self.outstanding = 0  # advances not yet reimbursed
        self.last_30, sixty, ninety = cutoff_delinquent(ex.pool_original)
        self.last_60_plus = sixty + ninety
        self.last_index = 0
        self.cash_held = 0
        self.donated = 0
        self.fee_recipient = self.residual_recipient = w.admin
        self.fee_owed = self.residual_owed = 0
        self.parked = dict.fromkeys(w.payees, 0)
        self.seen_index = [(0, 0, 0, 0)] * self.n
        # oracle and timelock
        self.attestors = set(range(5))
        self.quorum = 3
        self.pending: list[tuple[str, bytes, bytes, int, tuple[Any, ...]]] = []
        self.salt = 0
        self.now = int(w.env.evm.patch.timestamp)

    def teardown(self) -> None:
        self._stack.close()

    # -- bookkeeping --------------------------------------------------------------------
    def _tick(self) -> None:
        type(self).steps += 1
        DealMachine.outcomes[sys._getframe(1).f_code.co_name] += 1

    def _idx(self, t: int) -> int:
        return self.state.interest_index[t] + self.state.principal_index[t]

    def _checkpoint(self, a: str, t: int) -> None:
        """The model of a checkpoint: accrue at the current index."""
        self.owed[(a, t)] += accrued(self.units[(a, t)], self._idx(t), self.ckpt[(a, t)])
        self.ckpt[(a, t)] = self._idx(t)

    def _claimable(self, a: str, t: int) -> int:
        return self.owed[(a, t)] + accrued(self.units[(a, t)], self._idx(t), self.ckpt[(a, t)])

    def _may_hold(self, a: str) -> str | None:
        """The ``# dev:`` reason the deal gives for ``a`` (None: may hold)."""
        if a == self.w.escrow:
            return None
        if self.frozen.get(a, False):
            return "holder frozen"
        if self.until.get(a, 0) < self.now:
            return "holder not allowed"
        return None

    def _transfer_reason(self, owner: str, to: str, units: int, amount: int) -> tuple[str, str] | None:
        """Why a token move would revert, as (kind, text) for ``boa.reverts``."""
        if self.paused:
            return ("dev", "paused")
        for a in (owner, to):
            r = self._may_hold(a)
            if r:
                return ("dev", r)
        if amount > units:
            return ("dev", "erc20: transfer amount exceeds balance")
        return None

    @staticmethod
    def _reverts(reason: tuple[str, str]) -> Any:
        kind, text = reason
        return expect_revert(dev=text) if kind == "dev" else expect_revert(msg=text)

    def _move(self, owner: str, to: str, t: int, amount: int) -> None:
        """A transfer: both sides checkpointed, then the units move; a zero-amount or
        self transfer writes nothing (nobody can force another's checkpoint)."""
        if amount == 0 or owner == to:
            return
        self._checkpoint(owner, t)
        self._checkpoint(to, t)
        self.units[(owner, t)] -= amount
        self.units[(to, t)] += amount

    # -- offering -----------------------------------------------------------------------
    @initialize(
        close=st.integers(0, 3),
        split=st.lists(st.tuples(_investor, _tranche, st.integers(1, 100)), max_size=6),
    )
    def offering(self, close: int, split: list[tuple[int, int, int]]) -> None:
        """Start every example with some subscriptions, and three in four of them
        closed (``close`` != 0), so that most steps run on a closed deal."""
        for j, t, pct in split:
            self.subscribe(j, t, pct)
        if close:
            self.close(fill=True)

    @rule(j=_investor, t=_tranche, pct=st.integers(0, 101))
    def subscribe(self, j: int, t: int, pct: int) -> None:
        self._tick()
        d, h = self.w.d, INVESTORS[j]
        left = self.ex.face[t] - self.subscribed[t]
        amount = left + 1 if pct == 101 else left * pct // 100
        if left == 0 and pct != 0:
            amount = 1
        reason: tuple[str, str] | None = None
        if self.closed:
            reason = ("dev", "offering not open")
        elif self.now > self.w.closes_at:
            reason = ("dev", "outside window")
        elif self.paused:
            reason = ("dev", "paused")
        elif self._may_hold(h):
            reason = ("dev", self._may_hold(h) or "")
        elif amount == 0:
            reason = ("dev", "zero amount")
        elif amount > left:
            reason = ("dev", "above tranche face")
        if reason:
            with self._reverts(reason):
                d.issuance.subscribe(t, amount, sender=h)
            return
        before = int(d.settlement.balanceOf(h))
        d.issuance.subscribe(t, amount, sender=h)
        assert int(d.settlement.balanceOf(h)) == before - amount
        self.subscribed[t] += amount
        self.deposit[(h, t)] += amount

    @precondition(lambda self: not self.closed)
    @rule(fill=st.booleans())
    def close(self, fill: bool) -> None:
        """Close the offering (anyone may), after subscribing what is left from the
        first investor that may when ``fill``. Before closing, settle and remit are
        refused ("offering not closed", "deal not closed"); after it, close again."""
        self._tick()
        d, w = self.w.d, self.w
        if fill and not self.paused and self.now <= w.closes_at:
            for t in range(self.n):
                left = self.ex.face[t] - self.subscribed[t]
                who = next((h for h in INVESTORS if not self._may_hold(h)), None)
                if left and who is not None:
                    d.issuance.subscribe(t, left, sender=who)
                    self.subscribed[t] += left
                    self.deposit[(who, t)] += left
        if self.paused:
            reason = "paused"
        elif self.subscribed != list(self.ex.face):
            reason = "not fully subscribed"
        else:
            with expect_revert(dev="offering not closed"):
                d.issuance.settle(sender=INVESTORS[0])
            self._remit_report(signers="quorum", reason=("dev", "deal not closed"))
            d.close(sender=w.stranger)
            proceeds = sum(self.ex.face) - self.ex.reserve_initial
            assert int(d.issuance.seller_owed()) == proceeds
            with expect_revert(dev="only seller"):
                d.issuance.withdraw_proceeds(w.stranger, sender=w.stranger)
            seller_before = int(d.settlement.balanceOf(w.admin))
            assert int(d.issuance.withdraw_proceeds(w.admin, sender=w.admin)) == proceeds
            assert int(d.settlement.balanceOf(w.admin)) - seller_before == proceeds
            self.closed = True
            self.cash_held = self.ex.reserve_initial
            for t in range(self.n):
                self.units[(w.escrow, t)] = self.ex.face[t]
            with expect_revert(dev="offering not open"):
                d.close(sender=w.stranger)
            return
        with expect_revert(dev=reason):
            d.close(sender=w.stranger)

    def fill_and_close(self) -> None:
        """Subscribe what is left and close (for tests that drive the machine by hand)."""
        self.close(fill=True)

    def _settle_is_late(self) -> bool:
        return self.state.period > 0

    @precondition(lambda self: self.closed)
    @rule(j=_investor)
    def settle(self, j: int) -> None:
        """Pull an investor's tokens from the escrow: EARLY (before any distribution)
        or LATE (after one: the tokens carry what was distributed on them)."""
        self._tick()
        d, w, h = self.w.d, self.w, INVESTORS[j]
        tranches = [t for t in range(self.n) if self.deposit[(h, t)]]
        reason = self._transfer_reason(w.escrow, h, MAX_UINT, 0) if tranches else None
        if reason:
            with self._reverts(reason):
                d.issuance.settle(sender=h)
            return
        got = int(d.issuance.settle(sender=h))
        assert got == sum(self.deposit[(h, t)] for t in tranches)
        for t in tranches:
            dep = self.deposit[(h, t)]
            self.deposit[(h, t)] = 0
            # the escrow keeps its checkpoint (closing: index 0, nothing owed) and loses
            # the units; they carry everything distributed on them since closing
            self.units[(w.escrow, t)] -= dep
            if self.units[(h, t)] == 0 and self.owed[(h, t)] == 0:
                # a new position takes the escrow's checkpoint itself
                self.ckpt[(h, t)] = self.ckpt[(w.escrow, t)]
            else:
                self._checkpoint(h, t)
                self.owed[(h, t)] += settlement_entitlement(dep, self._idx(t), self.ckpt[(w.escrow, t)])
            self.units[(h, t)] += dep
            assert int(d.tokens[t].balanceOf(h)) == self.units[(h, t)]
            assert d.claimable(t, h) == self._claimable(h, t)

    # -- secondary market ---------------------------------------------------------------
    @precondition(lambda self: self.closed)
    @rule(src=_holder, dst=_holder, t=_tranche, pct=st.integers(0, 101))
    def transfer(self, src: int, dst: int, t: int, pct: int) -> None:
        self._tick()
        d, a, b = self.w.d, HOLDERS[src], HOLDERS[dst]
        units = self.units[(a, t)]
        amount = units + 1 if pct == 101 else units * pct // 100
        reason = self._transfer_reason(a, b, units, amount)
        if reason:
            with self._reverts(reason):
                d.tokens[t].transfer(b, amount, sender=a)
            return
        d.tokens[t].transfer(b, amount, sender=a)
        self._move(a, b, t, amount)

    @rule(o=_holder, t=_tranche, amount=st.sampled_from([0, 1, 10**6, 10**11, MAX_UINT]))
    def approve(self, o: int, t: int, amount: int) -> None:
        self._tick()
        d, owner = self.w.d, HOLDERS[o]
        d.tokens[t].approve(self.w.spender, amount, sender=owner)
        self.allowance[(owner, t)] = amount
        assert int(d.tokens[t].allowance(owner, self.w.spender)) == amount

    @rule(o=_holder, t=_tranche, amount=st.sampled_from([0, 10**6, 10**11, MAX_UINT]),
          late=st.booleans(), forged=st.booleans())
    def permit(self, o: int, t: int, amount: int, late: bool, forged: bool) -> None:
        self._tick()
        d, owner, key = self.w.d, HOLDERS[o], HOLDER_KEYS[o]
        tok = d.tokens[t]
        deadline = self.now - 1 if late else self.now + 3600
        nonce = self.nonce[(owner, t)] + (1 if forged else 0)
        v, r, s = _permit_signature(key, tok, self.w.spender, amount, nonce, deadline)
        reason = None
        if late:
            reason = "permit expired"
        elif self._may_hold(owner):
            reason = self._may_hold(owner)
        elif forged:
            reason = "invalid permit signature"
        if reason:
            with expect_revert(dev=reason):
                tok.permit(owner, self.w.spender, amount, deadline, v, r, s, sender=self.w.spender)
            return
        tok.permit(owner, self.w.spender, amount, deadline, v, r, s, sender=self.w.spender)
        self.nonce[(owner, t)] += 1
        self.allowance[(owner, t)] = amount
        assert int(tok.nonces(owner)) == self.nonce[(owner, t)]

    @precondition(lambda self: self.closed)
    @rule(o=_holder, dst=_holder, t=_tranche, pct=st.integers(0, 101))
    def transfer_from(self, o: int, dst: int, t: int, pct: int) -> None:
        self._tick()
        d, a, b = self.w.d, HOLDERS[o], HOLDERS[dst]
        units = self.units[(a, t)]
        amount = units + 1 if pct == 101 else units * pct // 100
        allowed = self.allowance[(a, t)]
        reason: tuple[str, str] | None
        if amount > allowed:
            reason = ("dev", "insufficient allowance")
        else:
            reason = self._transfer_reason(a, b, units, amount)
        if reason:
            with self._reverts(reason):
                d.tokens[t].transferFrom(a, b, amount, sender=self.w.spender)
            return
        d.tokens[t].transferFrom(a, b, amount, sender=self.w.spender)
        if allowed != MAX_UINT:
            self.allowance[(a, t)] = allowed - amount
        assert int(d.tokens[t].allowance(a, self.w.spender)) == self.allowance[(a, t)]
        self._move(a, b, t, amount)

    # -- claims -------------------------------------------------------------------------
    @rule(h=_holder, t=st.integers(0, 4))
    def claim(self, h: int, t: int) -> None:
        """Claim one tranche (works while paused); tranche 4 does not exist."""
        self._tick()
        d, who = self.w.d, HOLDERS[h]
        if t >= self.n:
            with expect_revert(dev="no such tranche"):
                d.deal.claim(t, sender=who)
            return
        self._checkpoint(who, t)
        expect = self.owed[(who, t)]
        before = int(d.settlement.balanceOf(who))
        assert int(d.deal.claim(t, sender=who)) == expect
        assert int(d.settlement.balanceOf(who)) - before == expect
        self._paid(who, t, expect)
        assert int(d.deal.claim(t, sender=who)) == 0  # nobody is paid twice

    @rule(h=_holder)
    def claim_all(self, h: int) -> None:
        self._tick()
        d, who = self.w.d, HOLDERS[h]
        expect = 0
        for t in range(self.n):
            self._checkpoint(who, t)
            expect += self.owed[(who, t)]
        before = int(d.settlement.balanceOf(who))
        assert int(d.deal.claim_all(sender=who)) == expect
        assert int(d.settlement.balanceOf(who)) - before == expect
        for t in range(self.n):
            self._paid(who, t, self.owed[(who, t)])

    def _paid(self, who: str, t: int, amount: int) -> None:
        self.owed[(who, t)] -= amount
        self.claimed[(who, t)] += amount
        self.cash_held -= amount

    @rule(p=st.integers(0, 3))
    def claim_payee(self, p: int) -> None:
        self._tick()
        d = self.w.d
        who = (*self.w.payees, self.w.stranger)[p]
        expect = self.parked.get(who, 0)
        if who == self.fee_recipient:
            expect += self.fee_owed
        if who == self.residual_recipient:
            expect += self.residual_owed
        before = int(d.settlement.balanceOf(who))
        assert int(d.deal.claim_payee(sender=who)) == expect
        assert int(d.settlement.balanceOf(who)) - before == expect
        if who in self.parked:
            self.parked[who] = 0
        if who == self.fee_recipient:
            self.fee_owed = 0
        if who == self.residual_recipient:
            self.residual_owed = 0
        self.cash_held -= expect

    @rule(amount=st.integers(1, 10**9))
    def donate(self, amount: int) -> None:
        """A donation to the deal changes nothing it accounts for."""
        self._tick()
        self.w.d.settlement.transfer(self.w.d.deal.address, amount, sender=self.w.admin)
        self.donated += amount

    # -- compliance, pause, time ----------------------------------------------------------
    @rule(h=_holder, frozen=st.booleans(), authorised=st.booleans())
    def set_frozen(self, h: int, frozen: bool, authorised: bool) -> None:
        self._tick()
        d, who = self.w.d, HOLDERS[h]
        if not authorised:
            with expect_revert(msg="access_control: account is missing role"):
                d.deal.set_frozen(who, frozen, sender=self.w.stranger)
            return
        d.deal.set_frozen(who, frozen, sender=self.w.admin)
        self.frozen[who] = frozen
        assert bool(d.deal.frozen(who)) == frozen

    @rule(h=_holder, secs=st.sampled_from([-1, 0, 3600, 3 * 86400, FOREVER]))
    def set_allowed(self, h: int, secs: int) -> None:
        """Allowlist until ``now + secs`` (``FOREVER``: for good; -1: already expired)."""
        self._tick()
        d, who = self.w.d, HOLDERS[h]
        until = FOREVER if secs == FOREVER else self.now + secs
        d.allow([who], until)
        self.until[who] = until
        assert int(d.deal.allowed_until(who)) == until

    @rule(secs=st.sampled_from([1, 3600, 86400, 2 * 86400, 3 * 86400]))
    def wait(self, secs: int) -> None:
        """Time passes (allowlist expiry, timelock delays). Before closing it never
        passes the end of the offering window (the offering would fail)."""
        self._tick()
        if not self.closed and self.now + secs > self.w.closes_at:
            secs = 1
        self.w.env.time_travel(seconds=secs)
        self.now += secs
        assert int(self.w.env.evm.patch.timestamp) == self.now

    @rule(authorised=st.booleans())
    def pause(self, authorised: bool) -> None:
        self._tick()
        d = self.w.d
        if not authorised:
            with expect_revert(msg="access_control: account is missing role"):
                d.deal.pause(sender=self.w.stranger)
        elif self.paused:
            with expect_revert(dev="paused"):
                d.deal.pause(sender=self.w.admin)
        else:
            d.deal.pause(sender=self.w.admin)
            self.paused = True

    @rule(authorised=st.booleans())
    def unpause(self, authorised: bool) -> None:
        self._tick()
        d = self.w.d
        if not authorised:
            with expect_revert(msg="access_control: account is missing role"):
                d.deal.unpause(sender=self.w.stranger)
        elif not self.paused:
            with expect_revert(dev="not paused"):
                d.deal.unpause(sender=self.w.admin)
        else:
            d.deal.unpause(sender=self.w.admin)
            self.paused = False

    # -- remittances ----------------------------------------------------------------------
    @precondition(lambda self: self.closed)
    @rule(
        sched_bp=st.integers(0, 100), prepay_bp=st.integers(0, 1500), liq_bp=st.integers(0, 800),
        recov_pct=st.integers(0, 100), sub_pct=st.integers(0, 100), int_pct=st.integers(0, 130),
        dq_bp=st.tuples(st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 3000)),
        index_bp=st.integers(0, 2500), loans_gone=st.integers(0, 3), payoff=st.booleans(),
        signers=st.integers(0, 7),
        servicing=st.one_of(st.just((0, 0, 0, 0)), st.tuples(st.integers(0, 100), st.integers(0, 100),
                                                              st.integers(0, 100), st.integers(0, 500))),
    )
    def remit(self, sched_bp: int, prepay_bp: int, liq_bp: int, recov_pct: int, sub_pct: int,
              int_pct: int, dq_bp: tuple[int, int, int], index_bp: int, loans_gone: int,
              payoff: bool, signers: int | str, servicing: tuple[int, int, int, int]) -> None:
        """An attested report whose figures are consistent: the pool rolls forward,
        every delinquency bucket is non-zero while loans are left, losses come with
        their recoveries, subsequent recoveries stay below the losses not yet
        recovered, advances within the scheduled P&I, reimbursements within the
        advances outstanding (out of proceeds within the proceeds), penalties within
        the prepayments, the cash is the collections. ``signers``: 0 one short of the
        quorum, 1 an outsider among them, else the quorum. ``servicing``: advance % of
        the scheduled P&I, reimbursed % of what is outstanding, % of that out of the
        proceeds, penalty bp of the prepayments."""
        self._tick()
        who = signers if isinstance(signers, str) else {0: "short", 1: "outsider"}.get(signers, "quorum")
        self._remit_report(sched_bp, prepay_bp, liq_bp, recov_pct, sub_pct, int_pct, dq_bp, index_bp,
                           loans_gone, payoff, signers=who, servicing=servicing)

    @precondition(lambda self: self.closed and not self.paused and self.pool > 0)
    @rule(over=st.sampled_from(["reimbursed", "proceeds", "penalties"]))
    def remit_overdrawn(self, over: str) -> None:
        """The servicer (with a quorum) reports a reimbursement it is not owed, takes
        more out of the proceeds than they hold, or a penalty above the prepayments."""
        self._tick()
        reason = {"reimbursed": "reimbursements above advances outstanding",
                  "proceeds": "reimbursements above liquidation proceeds",
                  "penalties": "penalties above prepayments"}[over]
        self._remit_report(signers="quorum", overdraw=over, reason=("dev", reason))

    def _remit_report(self, sched_bp: int = 10, prepay_bp: int = 100, liq_bp: int = 0, recov_pct: int = 0,
                      sub_pct: int = 0, int_pct: int = 100, dq_bp: tuple[int, int, int] = (1, 1, 1),
                      index_bp: int = 0, loans_gone: int = 0, payoff: bool = False, *, signers: str,
                      reason: tuple[str, str] | None = None, servicing: tuple[int, int, int, int] = (0, 0, 0, 0),
                      overdraw: str = "") -> None:
        """Build, sign and submit a report; expect ``reason`` (or the model's)."""
        d, w = self.w.d, self.w
        pool = self.pool
        sched = pool * sched_bp // 10_000
        prepaid = min(pool - sched, pool * prepay_bp // 10_000)
        # figures a pool can produce (the oracle's bounds): liquidated loans were 60+
        # days late last month; 60-89 days rolls from last month's 30-59; 90+ from last
        # month's 60+ less what was liquidated; the index moves within the band
        liquidated = min(pool - sched - prepaid, pool * liq_bp // 10_000, self.last_60_plus)
        recov = liquidated * recov_pct // 100
        loss = liquidated - recov
        end = pool - sched - prepaid - liquidated
        if payoff and self.state.period >= 2:
            prepaid += end  # the clean-up call: the pool is bought out
            end = 0
        sub = (self.unrecovered + loss) * sub_pct // 100
        interest = pool * 6 // 1200 * int_pct // 100
        dq = [end * b // 10_000 for b in dq_bp]
        dq[1] = min(dq[1], self.last_30)
        dq[2] = min(dq[2], self.last_60_plus - liquidated)
        band = WAD // 100  # DealConfig.max_index_change, 1%
        index = min(max(WAD * index_bp // 10_000, self.last_index - band), self.last_index + band)
        loans = max(0, self.loans - loans_gone) if end else 0
        period = self.state.period + 1
        adv_pct, rb_pct, liq_pct, pen_bp = servicing
        advances = (interest + sched) * adv_pct // 100
        reimbursed = (self.outstanding + advances) * rb_pct // 100
        out_of_proceeds = min(reimbursed * liq_pct // 100, recov)
        penalties = prepaid * pen_bp // 10_000
        if overdraw == "reimbursed":
            reimbursed = self.outstanding + advances + 1
        elif overdraw == "proceeds":
            advances = interest + sched
            reimbursed = out_of_proceeds = recov + 1
            if reimbursed > self.outstanding + advances:  # too little advanced to overdraw the proceeds alone
                reason = ("dev", "reimbursements above advances outstanding")
        elif overdraw == "penalties":
            penalties = prepaid + 1
        rep = RemittanceReport(
            period, sched, prepaid, interest, recov, loss, pool, end, loans, dq[0], dq[1], dq[2],
            index, 0, (period * 7919).to_bytes(32, "big"), sub, advances, reimbursed, out_of_proceeds,
            penalties, 17 * period,
        )
        rep = dataclasses.replace(rep, cash=rep.collections())
        keys = [ATTESTOR_KEYS[i] for i in sorted(self.attestors)]
        if reason is not None:
            keys = keys[: self.quorum]
        elif signers == "short":
            keys = keys[: self.quorum - 1]
            reason = ("dev", "below quorum")
        elif signers == "outsider":
            keys = [*keys[: self.quorum - 1], OUTSIDER_KEY]
            reason = ("dev", "signer is not an attestor")
        elif self.paused:
            reason = ("dev", "paused")
        deadline = self.now + 3600  # attestations expire (chain time)
        sigs = attest(rep, keys, chain_id=d.chain_id(), verifying_contract=str(d.oracle.address), deadline=deadline)
        if reason:
            with self._reverts(reason):
                d.oracle.submit(rep.as_tuple(), deadline, [a.as_tuple() for a in sigs], sender=w.admin)
            return
        d.oracle.submit(rep.as_tuple(), deadline, [a.as_tuple() for a in sigs], sender=w.admin)
        self.state, res = apply_period(self.ex, self.state, exact_remittance(rep))
        self.outstanding += advances - reimbursed
        self.pool, self.loans = end, loans
        self.last_30, self.last_60_plus, self.last_index = dq[0], dq[1] + dq[2], index
        self.unrecovered += loss - sub
        self.cash_held += rep.cash
        self.fee_owed += sum(res.fees_paid)
        self.residual_owed += res.residual_paid
        assert int(d.oracle.unrecovered_losses()) == self.unrecovered
        assert int(d.oracle.outstanding_advances()) == self.outstanding
        assert int(d.deal.last_period()) == period == int(d.oracle.last_period())
        for t in range(self.n):
            assert int(d.deal.tranche_balance(t)) == self.state.balance[t]
            assert int(d.deal.interest_shortfall(t)) == self.state.shortfall[t]

    # -- governance through the timelock ----------------------------------------------------
    @rule(kind=st.sampled_from(["recipients", "quorum", "attestor"]), a=st.integers(0, 5), b=st.integers(0, 5))
    def gov_schedule(self, kind: str, a: int, b: int) -> None:
        self._tick()
        d, w = self.w.d, self.w
        if kind == "recipients":
            fee, res = w.payees[a % 3], w.payees[b % 3]
            target = str(d.deal.address)
            payload = selector("set_recipients(address,address)") + abi_encode(["address", "address"], [fee, res])
            args: tuple[Any, ...] = (fee, res)
        elif kind == "quorum":
            target = str(d.oracle.address)
            payload = selector("set_quorum(uint256)") + abi_encode(["uint256"], [a])
            args = (a,)
        else:
            who = Account.from_key(ATTESTOR_KEYS[a]).address
            target = str(d.oracle.address)
            payload = selector("set_attestor(address,bool)") + abi_encode(["address", "bool"], [who, b % 2 == 1])
            args = (a, b % 2 == 1)
        self.salt += 1
        salt = self.salt.to_bytes(32, "big")
        d.timelock.schedule(target, 0, payload, ZERO32, salt, w.delay, sender=w.admin)
        self.pending.append((kind, payload, salt, self.now + w.delay, args))

    @precondition(lambda self: self.pending)
    @rule(i=st.integers(0, 7), cancel=st.booleans())
    def gov_execute(self, i: int, cancel: bool) -> None:
        self._tick()
        d, w = self.w.d, self.w
        kind, payload, salt, ready_at, args = self.pending[i % len(self.pending)]
        target = str(d.deal.address) if kind == "recipients" else str(d.oracle.address)
        tl = d.timelock
        if cancel:
            tl.cancel(tl.hash_operation(target, 0, payload, ZERO32, salt), sender=w.admin)
            self.pending.remove((kind, payload, salt, ready_at, args))
            with expect_revert(msg="timelock_controller: operation is not ready"):
                tl.execute(target, 0, payload, ZERO32, salt, sender=w.admin)
            return
        if self.now < ready_at:
            with expect_revert(msg="timelock_controller: operation is not ready"):
                tl.execute(target, 0, payload, ZERO32, salt, sender=w.admin)
            return
        reason = self._governance_reason(kind, args)
        if reason:
            # The target's assertion carries no message: the timelock reports that the
            # call reverted (the trace of a raw_call's frame has no dev reason), and the
            # same call made as the timelock shows the target's reason.
            with expect_revert(msg="timelock_controller: underlying transaction reverted"):
                tl.execute(target, 0, payload, ZERO32, salt, sender=w.admin)
            with expect_revert(dev=reason):
                self._governance_call(kind, args, sender=str(tl.address))
            return
        tl.execute(target, 0, payload, ZERO32, salt, sender=w.admin)
        self.pending.remove((kind, payload, salt, ready_at, args))
        self._governance_apply(kind, args)

    def _governance_call(self, kind: str, args: tuple[Any, ...], *, sender: str) -> None:
        """The call a governance operation makes, sent directly from ``sender``."""
        d = self.w.d
        if kind == "recipients":
            d.deal.set_recipients(*args, sender=sender)
        elif kind == "quorum":
            d.oracle.set_quorum(args[0], sender=sender)
        else:
            a, active = args
            d.oracle.set_attestor(Account.from_key(ATTESTOR_KEYS[a]).address, active, sender=sender)

    def _governance_reason(self, kind: str, args: tuple[Any, ...]) -> str | None:
        if kind == "quorum":
            (q,) = args
            return "bad quorum" if not 0 < q <= len(self.attestors) else None
        if kind == "attestor":
            a, active = args
            if (a in self.attestors) == active:
                return "no change"
            if not active and len(self.attestors) - 1 < self.quorum:
                return "quorum unreachable"
        return None

    def _governance_apply(self, kind: str, args: tuple[Any, ...]) -> None:
        d = self.w.d
        if kind == "recipients":
            # what the current recipients are owed stays theirs (parked)
            self.parked[self.fee_recipient] += self.fee_owed
            self.parked[self.residual_recipient] += self.residual_owed
            self.fee_owed = self.residual_owed = 0
            self.fee_recipient, self.residual_recipient = args
            assert str(d.deal.fee_recipient()) == self.fee_recipient
        elif kind == "quorum":
            self.quorum = args[0]
            assert int(d.oracle.quorum()) == self.quorum
        else:
            a, active = args
            (self.attestors.add if active else self.attestors.discard)(a)
            assert int(d.oracle.attestor_count()) == len(self.attestors)

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def check_cash(self) -> None:
        """Cash conserved to the unit."""
        d = self.w.d
        held = int(d.deal.cash_held())
        assert held == self.cash_held
        assert int(d.settlement.balanceOf(d.deal.address)) == held + self.donated
        credited, claimed = int(d.deal.cash_credited()), int(d.deal.cash_claimed())
        payees = sum(int(d.deal.payee_owed(p)) for p in self.w.payees)
        model_payees = self.fee_owed + self.residual_owed + sum(self.parked.values())
        assert payees == model_payees
        reserve = int(d.deal.reserve_balance())
        assert held == credited - claimed + payees + reserve
        assert claimed == sum(self.claimed.values())
        if self.closed:
            assert reserve == self.state.reserve + self.state.dust

    @invariant()
    def check_claims(self) -> None:
        """Every claimable is the model's (the escrow's too); the sum of all, claimed
        included, never above the cash credited; no holder's claimable + claimed ever
        decreases."""
        d = self.w.d
        total = 0
        for a in self.accounts:
            for t in range(self.n):
                c = int(d.deal.claimable(t, a))
                assert c == self._claimable(a, t), (a, t)
                ent = c + self.claimed[(a, t)]
                # The escrow's implied claim shrinks when a settlement hands its accrual
                # on to the investor (who can then claim it); everyone else's never does.
                if a != self.w.escrow:
                    assert ent >= self.entitled[(a, t)], (a, t)
                self.entitled[(a, t)] = ent
                total += ent
        assert total <= int(d.deal.cash_credited())

    @invariant()
    def check_indices(self) -> None:
        """Every index only grows and equals the exact engine's."""
        d, s = self.w.d, self.state
        for t in range(self.n):
            now = (int(d.deal.interest_index(t)), int(d.deal.principal_index(t)),
                   int(d.deal.loss_index(t)), int(d.deal.writeup_index(t)))
            assert all(x >= y for x, y in zip(now, self.seen_index[t], strict=True)), t
            assert now == (s.interest_index[t], s.principal_index[t], s.loss_index[t], s.writeup_index[t]), t
            self.seen_index[t] = now


# ---------------------------------------------------------------- running


def machine_settings(examples: int, steps: int, *, shrink: bool = True) -> settings:
    """Hypothesis settings for a run of the machines (no shrinking: fail fast)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if shrink:
        phases.append(Phase.shrink)
    return settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, phases=phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def profile_sizes() -> tuple[int, int, int]:
    """(steps to run at least, steps per example, examples per round) for this run:
    the CI profile runs at least 10,000 steps (about 5 minutes of one core at the
    ~35 steps/s measured, see docs/testing.md); the default a quick smoke run."""
    if os.environ.get("HYPOTHESIS_PROFILE") == "ci":
        return 10_000, 50, 10
    return 150, 30, 6


def run_machine(machine: type[DealMachine], examples: int, steps: int, *, shrink: bool = True) -> tuple[int, float]:
    """Run ``machine``; returns (steps run, seconds)."""
    machine_world()  # deploy outside the timed run
    before = machine.steps
    t0 = time.perf_counter()
    try:
        run_state_machine_as_test(machine, settings=machine_settings(examples, steps, shrink=shrink))
    finally:
        elapsed = time.perf_counter() - t0
    return machine.steps - before, elapsed


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback (no shared test-double deal)."""
    yield


def test_deal_machine(record_property: Any) -> None:
    """Rounds of the machine (each a hypothesis run) until the step target is met."""
    target, steps, examples = profile_sizes()
    ci = os.environ.get("HYPOTHESIS_PROFILE") == "ci"
    n, secs = 0, 0.0
    while n < target:
        ran, took = run_machine(DealMachine, examples, steps, shrink=not ci)
        assert ran >= examples  # every example ran at least one step
        n, secs = n + ran, secs + took
    record_property("stateful_steps", n)
    record_property("stateful_steps_per_second", round(n / secs, 1))


def test_late_settlement_receives_distributions_since_closing() -> None:
    """The late-settlement rule, driven by hand: close, one distribution, then the
    investor settles; the rule checks the investor's claimable against
    ``settlement_entitlement`` and the invariants check everything else."""
    m = DealMachine()
    try:
        m.fill_and_close()
        m.remit(sched_bp=10, prepay_bp=100, liq_bp=0, recov_pct=0, sub_pct=0, int_pct=100,
                dq_bp=(10, 10, 10), index_bp=0, loans_gone=0, payoff=False, signers="quorum",
                servicing=(20, 0, 0, 100))
        for check in (m.check_cash, m.check_claims, m.check_indices):
            check()
        m.settle(j=0)
        for check in (m.check_cash, m.check_claims, m.check_indices):
            check()
    finally:
        m.teardown()
