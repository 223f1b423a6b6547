"""Stateful test: random remittances, transfers and claims keep the deal's books right.

The model is independent of the contract's arithmetic: each holder's ideal entitlement
is accumulated with exact fractions (balance x index increase / 1e18 per period), and
the contract must pay no more than that and lose at most one unit per checkpoint.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction

import boa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

WAD = 10**18


def test_deal_state_machine(world):
    class DealMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self._stack = contextlib.ExitStack()
            self._stack.enter_context(boa.env.anchor())
            self.w = world
            self.d = world.d
            self.holders = [*world.investors, world.holder("s1"), world.holder("s2")]
            self.n = len(self.d.tokens)
            self.ideal = {(h, t): Fraction(0) for h in self.holders for t in range(self.n)}
            self.touches = {(h, t): 1 for h in self.holders for t in range(self.n)}
            self.paid = {(h, t): 0 for h in self.holders for t in range(self.n)}
            self.remitted = 0
            self.payee_paid = 0
            self.faces = [int(self.d.deal.original_face(t)) for t in range(self.n)]

        def teardown(self):
            if hasattr(self, "_stack"):
                self._stack.close()

        def _idx(self, t):
            return int(self.d.deal.interest_index(t)) + int(self.d.deal.principal_index(t))

        @rule(sched=st.integers(0, 5 * 10**9), unsched=st.integers(0, 10**10),
              interest=st.integers(0, 6 * 10**9), loss=st.integers(0, 2 * 10**10))
        def remit(self, sched, unsched, interest, loss):
            beginning = int(self.d.oracle.last_ending_balance())
            sched, unsched = min(sched, beginning), min(unsched, beginning - min(sched, beginning))
            loss = min(loss, beginning - sched - unsched)
            interest = min(interest, beginning // 50)
            before = [self._idx(t) for t in range(self.n)]
            bal = {(h, t): int(self.d.tokens[t].balanceOf(h)) for h in self.holders for t in range(self.n)}
            r = self.w.report(sched=sched, unsched=unsched, interest=interest, losses=loss)
            self.w.remit(r)
            self.remitted += r.cash
            for t in range(self.n):
                delta = self._idx(t) - before[t]
                for h in self.holders:
                    self.ideal[(h, t)] += Fraction(bal[(h, t)] * delta, WAD)

        @rule(src=st.integers(0, 5), dst=st.integers(0, 5), t=st.integers(0, 3), frac=st.integers(0, 100))
        def transfer(self, src, dst, t, frac):
            a, b = self.holders[src], self.holders[dst]
            amount = int(self.d.tokens[t].balanceOf(a)) * frac // 100
            self.d.tokens[t].transfer(b, amount, sender=a)
            self.touches[(a, t)] += 1
            self.touches[(b, t)] += 1

        @rule(h=st.integers(0, 5), t=st.integers(0, 3))
        def claim(self, h, t):
            who = self.holders[h]
            got = self.d.claim(who, t)
            self.paid[(who, t)] += got
            self.touches[(who, t)] += 1
            assert self.d.claim(who, t) == 0  # nobody is paid twice

        @rule()
        def payee_claim(self):
            self.payee_paid += int(self.d.deal.claim_payee(sender=self.w.admin))

        @invariant()
        def books_balance(self):
            if not hasattr(self, "d"):
                return
            d = self.d
            held = int(d.deal.cash_held())
            claimed = sum(self.paid.values())
            assert held == self.remitted - claimed - self.payee_paid
            assert int(d.deal.cash_claimed()) == claimed
            assert claimed <= int(d.deal.cash_credited())
            owed = 0
            for (h, t), ideal in self.ideal.items():
                got = self.paid[(h, t)] + d.claimable(t, h)
                owed += d.claimable(t, h)
                assert got <= ideal  # never more than the exact entitlement
                assert got >= ideal - self.touches[(h, t)]  # at most one unit lost per checkpoint
            # holdings == what holders are owed + what payees are owed + dust (>= 0)
            dust = held - owed - int(d.deal.payee_owed(self.w.admin)) - int(d.deal.reserve_balance())
            assert dust >= 0
            assert int(d.settlement.balanceOf(d.deal.address)) >= held
            for t in range(self.n):
                assert int(d.tokens[t].totalSupply()) == self.faces[t]  # supply fixed after closing

    DealMachine.TestCase.settings = settings(max_examples=4, stateful_step_count=8, deadline=None)
    run = DealMachine.TestCase("runTest")
    run.runTest()
