"""Stateful test on the REAL waterfall: random interleavings of subscriptions,
closing, settlement, remittances, transfers, claims and pauses on the four_tranche
example deal (``ExactWaterfall``), with the exact Python engine run alongside.

Invariants (the issue's list):

* the deal's settlement-asset holdings equal everything it owes (holders' claims,
  payees, the reserve account) plus accounted dust (never negative, a few units);
* the sum of claims never exceeds the sum distributed to holders;
* supply is fixed after closing;
* nobody is paid twice (a second claim pays 0);

and, stronger, every holder's claim equals ``units * (engine index - index at the
last checkpoint) // 1e18`` computed from the exact engine's carried indices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import boa
import pytest
from eth_account import Account
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from openmbs.chain import config_from_spec, deploy_deal
from openmbs.errors import RemittanceRejected
from openmbs.oracle import RemittanceReport, attest
from openmbs.structuring import example_deal
from openmbs.structuring._exact import ExactRemittance, apply_period, initial_state

WAD = 10**18
KEYS = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
LOANS = 100


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback (no shared test-double deal)."""
    yield


@pytest.fixture(scope="module")
def fresh() -> dict[str, object]:
    """four_tranche deployed, offering open, nobody subscribed yet."""
    cfg = config_from_spec(example_deal("four_tranche"), loan_count=LOANS)
    admin = boa.env.generate_address("sm-admin")
    d = deploy_deal(cfg, attestors=[k.address for k in KEYS], admin=admin)
    investors = [boa.env.generate_address(f"sm-inv{i}") for i in range(3)]
    outsider = boa.env.generate_address("sm-holder")
    d.allow([*investors, outsider, admin], 2**40)
    big = 2 * cfg.initial_pool_balance
    for a in investors:
        d.settlement.mint(a, big, sender=admin)
        d.settlement.approve(d.issuance.address, big, sender=a)
    d.settlement.mint(admin, 10**18, sender=admin)
    d.settlement.approve(d.oracle.address, 2**255, sender=admin)
    return {"d": d, "cfg": cfg, "admin": admin, "investors": investors, "outsider": outsider}


def test_deal_state_machine(fresh: dict[str, object]) -> None:
    d = fresh["d"]
    cfg = fresh["cfg"]
    ex = cfg.exact  # type: ignore[attr-defined]
    admin: str = fresh["admin"]  # type: ignore[assignment]
    investors: list[str] = fresh["investors"]  # type: ignore[assignment]
    holders = [*investors, fresh["outsider"]]
    n = ex.n_tranches

    class DealMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            self._stack = contextlib.ExitStack()
            self._stack.enter_context(boa.env.anchor())
            self.closed = False
            self.paused = False
            self.deposits = {(h, t): 0 for h in holders for t in range(n)}
            self.settled = {h: False for h in holders}
            self.state = initial_state(ex)
            self.units = {(h, t): 0 for h in holders for t in range(n)}
            self.ckpt = {(h, t): 0 for h in holders for t in range(n)}
            self.owed = {(h, t): 0 for h in holders for t in range(n)}
            self.claimed = 0
            self.payee_paid = 0
            self.remitted = 0
            self.pool = ex.pool_original

        def teardown(self) -> None:
            if hasattr(self, "_stack"):
                self._stack.close()

        # -- the model's checkpoints (from the engine's indices) --------------------
        def _idx(self, t: int) -> int:
            return self.state.interest_index[t] + self.state.principal_index[t]

        def _accrue(self, h: str, t: int) -> None:
            self.owed[(h, t)] += self.units[(h, t)] * (self._idx(t) - self.ckpt[(h, t)]) // WAD
            self.ckpt[(h, t)] = self._idx(t)

        # -- offering -------------------------------------------------------------------
        @precondition(lambda self: not self.closed)
        @rule(j=st.integers(0, 2), t=st.integers(0, 3), pct=st.integers(1, 100))
        def subscribe(self, j: int, t: int, pct: int) -> None:
            left = ex.face[t] - sum(self.deposits[(h, t)] for h in holders)
            amount = max(1, left * pct // 100)
            if self.paused or left == 0:
                with pytest.raises(boa.BoaError):
                    d.issuance.subscribe(t, amount if left else 1, sender=investors[j])
                return
            d.issuance.subscribe(t, amount, sender=investors[j])
            self.deposits[(investors[j], t)] += amount

        @precondition(lambda self: not self.closed and not self.paused)
        @rule()
        def fill_and_close(self) -> None:
            for t in range(n):
                left = ex.face[t] - sum(self.deposits[(h, t)] for h in holders)
                if left:
                    d.issuance.subscribe(t, left, sender=investors[0])
                    self.deposits[(investors[0], t)] += left
            seller_before = int(d.settlement.balanceOf(admin))
            d.close()
            assert int(d.settlement.balanceOf(admin)) - seller_before == sum(ex.face) - ex.reserve_initial
            self.closed = True

        @precondition(lambda self: self.closed)
        @rule(j=st.integers(0, 2))
        def settle(self, j: int) -> None:
            h = investors[j]
            if self.paused and not self.settled[h] and any(self.deposits[(h, t)] for t in range(n)):
                with pytest.raises(boa.BoaError):
                    d.settle(h)  # token transfers stop while paused
                return
            got = d.settle(h)
            assert got == (0 if self.settled[h] else sum(self.deposits[(h, t)] for t in range(n)))
            if not self.settled[h]:
                for t in range(n):
                    # the receiver is checkpointed at the current index by the transfer
                    self._accrue(h, t)
                    self.units[(h, t)] += self.deposits[(h, t)]
            self.settled[h] = True

        # -- remittances -----------------------------------------------------------------
        @precondition(lambda self: self.closed and self.pool > 0)
        @rule(pre_bp=st.integers(0, 600), loss_bp=st.integers(0, 800), int_pct=st.integers(0, 120),
              sub_pct=st.integers(0, 100), payoff=st.booleans())
        def remit(self, pre_bp: int, loss_bp: int, int_pct: int, sub_pct: int, payoff: bool) -> None:
            pool = self.pool
            sched = pool // 360
            prepaid = min(pool - sched, pool * pre_bp // 10_000)
            loss = min(pool - sched - prepaid, pool * loss_bp // 10_000)
            recov = loss // 4
            loss -= recov
            end = pool - sched - prepaid - loss - recov
            if payoff and self.state.period >= 2:
                prepaid += end  # clean-up call: the pool is bought out
                end = 0
            unrecovered = self.state.cum_loss + loss - self._subs
            sub = unrecovered * sub_pct // 400
            interest = pool * 6 // 1200 * int_pct // 100
            rem = ExactRemittance(self.state.period + 1, interest, sched, prepaid, recov, loss, pool, end,
                                  subsequent_recoveries=sub)
            rep = RemittanceReport(rem.period, sched, prepaid, interest, recov, loss, pool, end, LOANS, 0, 0, 0, 0,
                                   interest + sched + prepaid + recov + sub, rem.period.to_bytes(32, "big"), sub)
            sigs = attest(rep, [k.key for k in KEYS[1:4]], chain_id=d.chain_id(), verifying_contract=str(d.oracle.address))
            if self.paused:
                with pytest.raises(RemittanceRejected, match="paused"):
                    d.remit(rep, sigs, sender=admin)
                return
            d.remit(rep, sigs, sender=admin)
            self.state, _ = apply_period(ex, self.state, rem)
            self._subs += sub
            self.remitted += rep.cash
            self.pool = end

        _subs = 0

        # -- secondary market and claims -------------------------------------------------
        @precondition(lambda self: self.closed)
        @rule(src=st.integers(0, 3), dst=st.integers(0, 3), t=st.integers(0, 3), pct=st.integers(0, 100))
        def transfer(self, src: int, dst: int, t: int, pct: int) -> None:
            a, b = holders[src], holders[dst]
            amount = self.units[(a, t)] * pct // 100
            if self.paused:
                with pytest.raises(boa.BoaError):
                    d.tokens[t].transfer(b, amount, sender=a)
                return
            d.tokens[t].transfer(b, amount, sender=a)
            self._accrue(a, t)
            self._accrue(b, t)
            self.units[(a, t)] -= amount
            self.units[(b, t)] += amount

        @rule(h=st.integers(0, 3), t=st.one_of(st.none(), st.integers(0, 3)))
        def claim(self, h: int, t: int | None) -> None:
            who = holders[h]
            tranches = range(n) if t is None else [t]
            for tt in tranches:
                self._accrue(who, tt)
            expect = sum(self.owed[(who, tt)] for tt in tranches)
            got = d.claim(who, t)  # works while paused
            assert got == expect
            for tt in tranches:
                self.owed[(who, tt)] = 0
            self.claimed += got
            assert d.claim(who, t) == 0  # nobody is paid twice

        @rule()
        def payee_claim(self) -> None:
            self.payee_paid += int(d.deal.claim_payee(sender=admin))

        @rule()
        def toggle_pause(self) -> None:
            if self.paused:
                d.deal.unpause(sender=admin)
            else:
                d.deal.pause(sender=admin)
            self.paused = not self.paused

        # -- invariants --------------------------------------------------------------------
        @invariant()
        def books(self) -> None:
            if not hasattr(self, "state"):
                return
            deal = d.deal
            if not self.closed:
                assert int(d.issuance.escrow_held()) == sum(self.deposits.values())
                assert int(d.settlement.balanceOf(d.issuance.address)) == sum(self.deposits.values())
                return
            held = int(deal.cash_held())
            assert held == ex.reserve_initial + self.remitted - self.claimed - self.payee_paid
            assert int(d.settlement.balanceOf(deal.address)) == held
            assert int(deal.cash_claimed()) == self.claimed <= int(deal.cash_credited())
            owed_holders = 0
            for h in holders:
                for t in range(n):
                    c = d.claimable(t, h)
                    units, ck, ow = self.units[(h, t)], self.ckpt[(h, t)], self.owed[(h, t)]
                    assert c == ow + units * (self._idx(t) - ck) // WAD
                    owed_holders += c
            # tokens not yet settled sit in the escrow, which accrues on them
            owed_holders += sum(d.claimable(t, d.issuance.address) for t in range(n))
            dust = held - owed_holders - int(deal.payee_owed(admin)) - int(deal.reserve_balance())
            assert 0 <= dust <= 4 * n * (self.state.period + 1) + len(holders) * n * 4
            assert int(deal.reserve_balance()) == self.state.reserve + self.state.dust
            for t in range(n):
                assert int(d.tokens[t].totalSupply()) == ex.face[t]  # supply fixed after closing
                assert int(deal.tranche_balance(t)) == self.state.balance[t]

    DealMachine.TestCase.settings = settings(max_examples=4, stateful_step_count=12, deadline=None)
    DealMachine.TestCase("runTest").runTest()
