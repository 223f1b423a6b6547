"""Stateful test over loan sales, late-report penalties, the guardian's pause and fraud
proofs on the fixture's deal (real waterfall), with a Python model kept in step.

Each step's outcome is computed from the model BEFORE the call: a refusal is expected
by its ``# dev:`` reason, never by catching any error. Loans roll one delinquency
bucket a period or cure; the servicer reports every sold loan liquidated at its net
proceeds in the next period and proves those records to the oracle
(``submit_with_sales``: the oracle refuses the report otherwise), which has the sale
contract pay the proceeds to the deal; a ``shift`` step makes the tape move balance
between two loans (a dishonest tape). A bid beyond the oracle's cap of pending sales
is refused. Invariants after every step:

* the sale contract holds nothing, and the deal holds exactly ``held`` == the model's
  unconfirmed net proceeds beyond its books (``cash_held``);
* the bond contract holds exactly ``bond + forfeited`` == the model's figures;
* every late penalty is paid to the deal (``Deal.other_income`` == the model's pending
  penalties) and the next report distributes it: the chain's interest and principal
  indices equal the exact engine's, run on the report plus that other income;
* every bid's price is the keeper's reward plus the net proceeds, and every net
  proceeds reach the deal as the loan's recovery (the exact engine beside the chain
  agrees with the deal's tranche balances after every report);
* a fraud proof succeeds exactly when the model knows the tape broke continuity, and
  pauses distributions until governance resolves it (every report refused, no late
  penalty); a report that fell due during a pause, the guardian's or a dispute's, may
  be penalized only ``RESUME_GRACE`` after the pause ends.
"""

from __future__ import annotations

import os
from typing import Any

import boa
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sales_helpers import (
    DAY,
    DURATION,
    FLOOR_WAD,
    REWARD_WAD,
    START_WAD,
    WAD,
    Tape,
    deploy_sale,
    loan_id,
    now,
)

from openmbs.errors import RemittanceRejected

LATE_PENALTY = 1_000_000_000
FRAUD_SLASH = 10_000_000_000
BOUNTY_WAD = WAD // 10
BOND = 30_000_000_000
BIDDER_CASH = 10**13
#: Booleans whose simplest value (the first, which a derandomized run tries most) is the
#: one that moves money: a valid target, a bid at the price.
VALID = st.sampled_from([True, False])
AT_PRICE = st.sampled_from([False, True])


class SalesMachine(RuleBasedStateMachine):
    world: Any = None
    chain: Any = None
    #: Successful money-moving steps over the whole run (the test checks each kind ran).
    done: dict[str, int] = {}  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__()
        w = self.w = type(self).world
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        w.reset_engine()
        d = w.d
        self.tok = d.settlement
        self.tape = Tape(w, type(self).chain)
        self.sale = deploy_sale(w)
        self.bond = d.bond
        assert (self.bond.late_penalty(), self.bond.fraud_slash(), self.bond.bounty_wad()) == (
            LATE_PENALTY, FRAUD_SLASH, BOUNTY_WAD)
        self.max_pending = int(d.oracle.MAX_PENDING_SALES())
        d.post_bond(BOND)
        self.bidder = w.holder("sm_bidder")
        self.tok.mint(self.bidder, BIDDER_CASH, sender=w.admin)
        self.tok.approve(self.sale.address, BIDDER_CASH, sender=self.bidder)
        self.keeper = boa.env.generate_address("sm_keeper")
        self.prover = boa.env.generate_address("sm_prover")
        # model
        self.period = 0
        self.dq = dict.fromkeys(self.tape.balance, 0)  # delinquency of the last tape
        self.open: dict[int, tuple[int, int, int]] = {}  # loan -> (period, start time, balance)
        self.sold: dict[int, int] = {}  # loan -> net proceeds, not yet confirmed by a report
        self.confirmed: set[int] = set()  # sold loans a report confirmed (proceeds in the deal)
        self.held = 0
        self.m_bond, self.m_forfeited = BOND, 0
        self.penalized: set[int] = set()
        self.broken: set[tuple[int, int]] = set()  # (loan, period) provable discontinuities
        self.proven: set[tuple[int, int]] = set()
        self.disputes = 0  # fraud proofs governance has not resolved (distributions paused)
        self.pending = 0  # late penalties paid to the deal, not yet distributed
        self.paused = False  # the deal's guardian paused it
        # when reporting last became possible (closing, end of a pause, disputes
        # resolved): a penalty waits RESUME_GRACE after it
        self.resumed = int(self.w.d.deal.resumed_at())
        self.shift_next = False

    def teardown(self) -> None:
        self._anchor.__exit__(None, None, None)

    # ------------------------------------------------------------ steps

    @initialize()
    def loan_1_rolls_to_90_days(self) -> None:
        """Three periods in which loan 1 misses its payments (a loan for sale at once),
        then a late and dishonest fourth report, its fraud proof and its resolution,
        then loan 1's sale and the report that confirms it."""
        for _ in range(3):
            self.remit(1, 0, False)
        # and the fourth report is late: anyone takes the penalty (the model checks it);
        # it moves balance between two loans, a fraud proof pauses distributions and
        # governance resolves it (every example starts from these paths, whatever the
        # chain's clock: the random steps after them need not find them)
        boa.env.time_travel(seconds=max(0, int(self.bond.due(4)) - now()))
        self.penalize(0, 0)
        self.remit(1, 0, True)
        self.prove(0, True)
        self.resolve()
        # then loan 1 (90+ days) is sold and the next report confirms the sale
        self.sell(0, 1)
        self.remit(1, 0, False)

    @rule(roll=st.integers(1, 4), cure=st.integers(0, 12), shift=VALID)
    def remit(self, roll: int, cure: int, shift: bool) -> None:
        """Next period: loan ``roll`` (if current) misses a payment, delinquent loans
        roll one bucket unless loan ``cure`` cures, sold loans are liquidated at their net proceeds; with ``shift`` the tape
        moves 1,000 units from one performing loan to another."""
        if self.disputes:  # a fraud proof paused distributions: every report is refused
            r = self.w.report()
            with pytest.raises(RemittanceRejected, match="distributions paused by a fraud proof"):
                self.w.d.remit(r, self.w.sign(r))
            return
        if self.paused:  # the guardian's pause stops remittances too (the oracle names a
            # sold loan awaiting confirmation first, if there is one)
            r = self.w.report()
            with pytest.raises(RemittanceRejected, match="sold loan awaits" if self.sold else "paused"):
                self.w.d.remit(r, self.w.sign(r))
            return
        p = self.period + 1
        live = [k for k, b in self.tape.balance.items() if b > 0]
        special: dict[int, dict[str, Any]] = {}
        for k in live:
            if k in self.sold:
                bal, net = self.tape.balance[k], self.sold[k]
                special[k] = {"scheduled_principal": 0, "interest_paid": 0, "liquidated": True,
                              "recovery": net, "loss": bal - net, "delinquency": self.dq[k]}
            elif (k == roll and self.dq[k] == 0) or (self.dq[k] > 0 and k != cure):
                # a loan that does not pay rolls one bucket a month (90+ stays 90+)
                special[k] = {"scheduled_principal": 0, "interest_paid": 0, "delinquency": min(3, self.dq[k] + 1)}
        performing = [k for k in live if k not in special]
        moved: tuple[int, int] | None = None
        if shift and len(performing) >= 2:
            moved = (performing[0], performing[1])
            self.tape.balance[moved[0]] -= 1_000
            self.tape.balance[moved[1]] += 1_000
        deal_before = self.tok.balanceOf(self.w.d.deal.address)
        report = self.tape.remit(p, special, sold=tuple(sorted(self.sold)))
        # the deal receives the cash less the proceeds it already held
        assert self.tok.balanceOf(self.w.d.deal.address) - deal_before == report.cash - sum(self.sold.values())
        self.period = p
        for k in live:
            rec = self.tape.record(p, k)
            self.dq[k] = rec.delinquency
            if rec.liquidated:
                self.held -= self.sold.pop(k)
                self.confirmed.add(k)
                self._done("confirm")
        if moved:
            self.broken |= {(moved[0], p), (moved[1], p)}
        self.open = {}  # a newer tape supersedes every open sale
        d = self.w.d
        if self.pending:
            self._done("penalty distributed")
        self.pending = 0
        tranches = d.tranches()
        assert [s.balance for s in tranches] == list(self.w.state.balance)
        assert [s.interest_index for s in tranches] == list(self.w.state.interest_index)
        assert [s.principal_index for s in tranches] == list(self.w.state.principal_index)
        assert report.recoveries == sum(r.recovery for r in self.tape.records[p])

    @rule(i=st.integers(0, 9), valid=VALID)
    def start_sale(self, i: int, valid: bool) -> None:
        """A keeper starts a sale: of a loan the model says is for sale (``valid``),
        else of any loan on the tape (refused with the model's reason)."""
        if self.period == 0:
            return
        ok = sorted(k for k in self.tape_loans() if self.dq[k] >= 3 and k not in self.sold
                    and k not in self.confirmed and k not in self.open)
        loan = ok[i % len(ok)] if valid and ok else sorted(self.tape_loans())[i % len(self.tape_loans())]
        rec = self.tape.record(self.period, loan)
        args = self.tape.proof(self.period, loan)
        status = int(self.sale.status(loan_id(loan)))
        if not (rec.delinquency >= 3 or (rec.defaulted and rec.delinquency >= 2)):
            reason = "loan not seriously delinquent"
        elif rec.liquidated or rec.ending_balance == 0:
            reason = "loan liquidated"
        elif status >= 2:
            reason = "loan already sold"
        elif loan in self.open and now() <= self.open[loan][1] + DURATION:
            reason = "sale already open"
        else:
            reason = ""
        if reason:
            with boa.reverts(dev=reason):
                self.sale.start_sale(*args, sender=self.keeper)
            return
        self.sale.start_sale(*args, sender=self.keeper)
        self.open[loan] = (self.period, now(), rec.ending_balance)
        self._done("sale")

    @rule(i=st.integers(0, 9), under=AT_PRICE, valid=VALID)
    def bid(self, i: int, under: bool, valid: bool) -> None:
        """A bid on an open sale (``valid``) or on any loan."""
        loan = sorted(self.open)[i % len(self.open)] if valid and self.open else i % 10 + 1
        if loan not in self.open:
            if int(self.sale.status(loan_id(loan))) != 1:
                with boa.reverts(dev="no open sale"):
                    self.sale.bid(loan_id(loan), BIDDER_CASH, sender=self.bidder)
            else:  # opened on a tape a newer report superseded
                with boa.reverts(dev="sale period superseded"):
                    self.sale.bid(loan_id(loan), BIDDER_CASH, sender=self.bidder)
            return
        _, t0, bal = self.open[loan]
        elapsed = now() - t0
        if elapsed > DURATION:
            with boa.reverts(dev="sale expired"):
                self.sale.bid(loan_id(loan), BIDDER_CASH, sender=self.bidder)
            return
        start, floor = bal * START_WAD // WAD, bal * FLOOR_WAD // WAD
        price = start - (start - floor) * elapsed // DURATION
        if under:
            with boa.reverts(dev="bid below current price"):
                self.sale.bid(loan_id(loan), price - 1, sender=self.bidder)
            return
        if len(self.sold) >= self.max_pending:
            with boa.reverts(dev="too many pending sales"):
                self.sale.bid(loan_id(loan), price, sender=self.bidder)
            return
        before_k, before_b = self.tok.balanceOf(self.keeper), self.tok.balanceOf(self.bidder)
        assert self.sale.bid(loan_id(loan), price, sender=self.bidder) == price
        reward = price * REWARD_WAD // WAD
        assert self.tok.balanceOf(self.keeper) - before_k == reward
        assert before_b - self.tok.balanceOf(self.bidder) == price
        del self.open[loan]
        self.sold[loan] = price - reward
        self.held += price - reward
        self._done("bid")

    @rule(i=st.integers(0, 9), hours=st.integers(0, 80))
    def sell(self, i: int, hours: int) -> None:
        """Start a sale of a loan for sale, wait, bid at the price (three steps in one)."""
        before = len(self.open)
        self.start_sale(i, True)
        if len(self.open) > before:
            loan = max(self.open, key=lambda k: self.open[k][1])
            boa.env.time_travel(seconds=hours * 3600)
            self.bid(sorted(self.open).index(loan), False, True)

    @rule(days=st.integers(0, 35))
    def warp(self, days: int) -> None:
        boa.env.time_travel(seconds=days * DAY + 1)

    @rule(ahead=st.integers(0, 2), wait_days=st.sampled_from([100, 0, 30]))
    def penalize(self, ahead: int, wait_days: int) -> None:
        """Wait, then take a late-report penalty for a period not yet reported."""
        boa.env.time_travel(seconds=wait_days * DAY)
        p = self.period + 1 + ahead
        late_from = max(int(self.bond.due(p)), self.resumed + int(self.bond.RESUME_GRACE()))
        assert int(self.bond.late_from(p)) == late_from
        if now() < late_from:
            reason = "not late"
        elif p in self.penalized:
            reason = "already penalized"
        elif self.disputes:
            reason = "bond under dispute"
        elif self.paused:
            reason = "deal paused"
        else:
            reason = ""
        if reason:
            with boa.reverts(dev=reason):
                self.bond.penalize_late(p)
            return
        amount = min(LATE_PENALTY, self.m_bond)
        deal_before = self.tok.balanceOf(self.w.d.deal.address)
        assert self.bond.penalize_late(p) == amount
        assert self.tok.balanceOf(self.w.d.deal.address) - deal_before == amount  # to the deal, not held
        self.penalized.add(p)
        self.m_bond -= amount
        self.pending += amount
        self._done("penalty")

    @rule()
    def guardian(self) -> None:
        """The guardian pauses the deal, or lifts its pause."""
        deal, admin = self.w.d.deal, self.w.admin
        if self.paused:
            deal.unpause(sender=admin)
            self.resumed = now()
        else:
            deal.pause(sender=admin)
        self.paused = not self.paused
        self._done("pause")

    @rule(i=st.integers(0, 9), valid=VALID)
    def prove(self, i: int, valid: bool) -> None:
        """A fraud proof on the last two tapes: of a loan the model knows is broken
        (``valid``), else of any loan (refused unless broken)."""
        p = self.period
        broken = sorted(k for k, q in self.broken if q == p)
        loan = broken[i % len(broken)] if valid and broken else i % 10 + 1
        if p < 2 or loan not in self.tape_loans() or loan not in self.tape_loans(p - 1):
            return
        args = (*self.tape.proof(p - 1, loan), *self.tape.proof(p, loan))
        if (loan, p) not in self.broken:
            with boa.reverts(dev="records consistent"):
                self.bond.prove_discontinuity(*args, sender=self.prover)
            return
        if (loan, p) in self.proven:
            with boa.reverts(dev="already proven"):
                self.bond.prove_discontinuity(*args, sender=self.prover)
            return
        amount = min(FRAUD_SLASH, self.m_bond)
        bounty = amount * BOUNTY_WAD // WAD
        before = self.tok.balanceOf(self.prover)
        assert self.bond.prove_discontinuity(*args, sender=self.prover) == bounty
        assert self.tok.balanceOf(self.prover) - before == bounty
        self.proven.add((loan, p))
        self.disputes += 1
        self.m_bond -= amount
        self.m_forfeited += amount - bounty
        self._done("fraud proof")

    @rule()
    def resolve(self) -> None:
        """Governance (the timelock) resolves the open disputes: distributions resume."""
        bond = self.bond
        with boa.env.prank(self.w.d.timelock.address):
            if not self.disputes:
                with boa.reverts(dev="no dispute"):
                    bond.resolve()
                return
            bond.resolve()
        self.disputes = 0
        self.resumed = now()
        self._done("resolve")

    def _done(self, kind: str) -> None:
        self.done[kind] = self.done.get(kind, 0) + 1

    def tape_loans(self, p: int | None = None) -> set[int]:
        recs = self.tape.records.get(self.period if p is None else p, [])
        return {int.from_bytes(r.loan_id, "big") for r in recs}

    # ------------------------------------------------------------ invariants

    @invariant()
    def sale_proceeds_are_exact(self) -> None:
        deal = self.w.d.deal
        assert self.tok.balanceOf(self.sale.address) == 0
        assert self.tok.balanceOf(deal.address) - deal.cash_held() == self.sale.held() == self.held

    @invariant()
    def penalties_wait_in_the_deal(self) -> None:
        assert self.w.d.deal.other_income() == self.pending

    @invariant()
    def bond_is_exact(self) -> None:
        assert self.bond.bond() == self.m_bond and self.bond.forfeited() == self.m_forfeited
        assert self.tok.balanceOf(self.bond.address) == self.m_bond + self.m_forfeited
        assert self.bond.open_disputes() == self.disputes
        assert bool(self.w.d.oracle.disputed()) == (self.disputes > 0)


def test_sales_bond_machine(world: Any, chain: Any) -> None:
    SalesMachine.world, SalesMachine.chain, SalesMachine.done = world, chain, {}
    examples = int(os.environ.get("OPENMBS_SALES_EXAMPLES", "10"))
    run_state_machine_as_test(
        SalesMachine,
        settings=settings(max_examples=examples, stateful_step_count=40, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck)),
    )
    print(f"sales machine: {examples} examples; successful steps {SalesMachine.done}")
    # the run exercised every money path (derandomized: the same steps every time)
    paths = {"sale", "bid", "confirm", "penalty", "penalty distributed", "fraud proof", "resolve", "pause"}
    assert set(SalesMachine.done) == paths, f"never taken: {sorted(paths - set(SalesMachine.done))}"
