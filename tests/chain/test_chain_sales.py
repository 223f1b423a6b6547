"""LoanSale: descending-price sales of seriously delinquent loans (docs/chain.md, "Loan
sales"). Attacks (each refused with its ``# dev:`` reason) and the money flow
(bidder = keeper reward + net proceeds; the net proceeds reach the deal with the
servicer's next report, which must show the loan liquidated with them as its
recovery, checked against the exact engine). The oracle's side of the confirmation
(and its attacks) is in test_chain_wiring.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boa
import pytest
from sales_helpers import (
    DAY,
    DELINQUENT,
    DURATION,
    FLOOR_WAD,
    REWARD_WAD,
    START_WAD,
    WAD,
    Tape,
    deploy_sale,
    loan_id,
    make_bidder,
    now,
    sold_loan,
    warp,
)

from openmbs.chain import deployer


@pytest.fixture
def sale(world: Any) -> Any:
    return deploy_sale(world)


@pytest.fixture
def tape(world: Any, chain: Any) -> Tape:
    return Tape(world, chain)


def _expected_price(balance: int, elapsed: int) -> int:
    start, floor = balance * START_WAD // WAD, balance * FLOOR_WAD // WAD
    return start - (start - floor) * elapsed // DURATION


# ---------------------------------------------------------------- the money path


def test_sale_proceeds_reach_the_deal_as_recoveries_with_the_next_report(world, sale, tape):
    d, tok = world.d, world.d.settlement
    tape.remit(1, {1: DELINQUENT})
    keeper = boa.env.generate_address("keeper")
    sale.start_sale(*tape.proof(1, 1), sender=keeper)
    t0 = now()
    balance = tape.balance[1]
    assert sale.status(loan_id(1)) == sale.OPEN() and sale.account_of(loan_id(1)) == keeper
    warp(DAY + 7)
    elapsed = now() - t0
    price = _expected_price(balance, elapsed)
    assert sale.current_price(loan_id(1)) == price
    bidder = make_bidder(world, "bidder", balance, sale)
    servicer = d.servicer
    before = {a: tok.balanceOf(a) for a in (bidder, keeper, sale.address, servicer, d.deal.address)}
    sale.bid(loan_id(1), balance, sender=bidder)
    reward = price * REWARD_WAD // WAD
    net = price - reward
    assert tok.balanceOf(bidder) == before[bidder] - price  # pays the current price, not the max
    assert tok.balanceOf(keeper) == before[keeper] + reward
    # the net proceeds are in the deal at once, off its books until the next report
    assert tok.balanceOf(d.deal.address) == before[d.deal.address] + net
    assert tok.balanceOf(d.deal.address) - d.deal.cash_held() == net == sale.held()
    assert tok.balanceOf(sale.address) == 0
    assert sale.status(loan_id(1)) == sale.SOLD() and sale.account_of(loan_id(1)) == bidder
    assert sale.net_proceeds(loan_id(1)) == net

    # Period 2: the servicer reports the loan liquidated with the net proceeds as its
    # recovery and proves that record to the oracle; the deal books the proceeds it
    # holds as part of the report's cash and the servicer deposits the rest. The deal
    # runs the real waterfall and the exact engine beside it agrees to the unit.
    report = tape.remit(2, {1: sold_loan(net, balance)}, sold=(1,))
    assert report.recoveries == net and report.losses == balance - net
    assert tok.balanceOf(d.deal.address) == before[d.deal.address] + report.cash
    assert tok.balanceOf(d.deal.address) == d.deal.cash_held()  # booked: nothing off the books
    assert [s.balance for s in d.tranches()] == list(world.state.balance)
    assert [s.principal_index for s in d.tranches()] == list(world.state.principal_index)
    assert tok.balanceOf(servicer) == before[servicer] - report.cash + net
    assert tok.balanceOf(sale.address) == 0 and sale.held() == 0
    assert sale.status(loan_id(1)) == sale.RELEASED()
    # conservation over everyone the sale touched: the bidder's price is the keeper's
    # reward plus what the deal received as the loan's recovery
    assert before[bidder] - tok.balanceOf(bidder) == (tok.balanceOf(keeper) - before[keeper]) + report.recoveries


@pytest.mark.parametrize("elapsed", [0, 1, DAY, DURATION - 1, DURATION])
def test_price_descends_linearly_and_rounds_up(world, sale, tape, elapsed):
    tape.remit(1, {1: DELINQUENT})
    sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    t0 = now()
    warp(elapsed)
    got = sale.current_price(loan_id(1))
    bal = tape.balance[1]
    start, floor = bal * START_WAD // WAD, bal * FLOOR_WAD // WAD
    assert got == _expected_price(bal, now() - t0)
    assert floor <= got <= start
    # rounds up: the price times the duration is at least the exact linear value
    assert got * DURATION >= start * DURATION - (start - floor) * (now() - t0)


def test_foreclosure_without_90_days_may_be_sold(world, sale, tape):
    tape.remit(1, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 1}})
    tape.remit(2, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 2, "defaulted": True}})
    sale.start_sale(*tape.proof(2, 1), sender=world.admin)
    assert sale.status(loan_id(1)) == sale.OPEN()


# ---------------------------------------------------------------- attacks on start_sale


def test_sale_of_a_performing_loan_is_refused(world, sale, tape):
    tape.remit(1, {1: DELINQUENT, 2: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 1}})
    for loan in (2, 3):
        with boa.reverts(dev="loan not seriously delinquent"):
            sale.start_sale(*tape.proof(1, loan), sender=world.admin)
    # 60 days late is not yet seriously delinquent
    tape.remit(2, {2: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 2}})
    with boa.reverts(dev="loan not seriously delinquent"):
        sale.start_sale(*tape.proof(2, 2), sender=world.admin)


def test_sale_that_no_report_could_confirm_is_refused(world, sale, tape):
    """A loan marked defaulted while only 30 days late: the oracle takes liquidations
    only out of the last report's 60+ day balance, so no report could confirm its sale,
    and while a sale awaits confirmation every report is refused. A bid on it would stop
    the deal for good: the sale is refused at the start."""
    tape.remit(1, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 1, "defaulted": True}})
    with boa.reverts(dev="loan not seriously delinquent"):
        sale.start_sale(*tape.proof(1, 1), sender=world.admin)


def test_forged_record_is_refused(world, sale, tape):
    tape.remit(1, {1: DELINQUENT})
    _rec, proof = tape.proof(1, 2)  # a performing loan's proof
    forged = replace(tape.record(1, 2), interest_paid=0, scheduled_principal=0, delinquency=3,
                     ending_balance=tape.record(1, 2).beginning_balance)
    with boa.reverts(dev="loan not proven"):
        sale.start_sale(forged.as_tuple(), proof, sender=world.admin)
    with boa.reverts(dev="loan not proven"):  # the delinquent loan's record with another's proof
        sale.start_sale(tape.proof(1, 1)[0], proof, sender=world.admin)


def test_proof_of_another_period_is_refused(world, sale, tape):
    tape.remit(1, {1: DELINQUENT})
    tape.remit(2, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 0}})  # cured
    old = tape.proof(1, 1)  # still verifies against period 1's root
    assert world.d.oracle.verify_loan(1, tape.record(1, 1).record_hash(), old[1])
    with boa.reverts(dev="proof of another period"):
        sale.start_sale(*old, sender=world.admin)
    # a record relabelled with the last period does not verify
    relabelled = replace(tape.record(1, 1), period=2)
    with boa.reverts(dev="loan not proven"):
        sale.start_sale(relabelled.as_tuple(), old[1], sender=world.admin)


def test_cured_loan_is_refused_and_its_open_sale_is_superseded(world, sale, tape):
    tape.remit(1, {1: DELINQUENT})
    sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    tape.remit(2, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 0}})
    with boa.reverts(dev="loan not seriously delinquent"):
        sale.start_sale(*tape.proof(2, 1), sender=world.admin)
    bidder = make_bidder(world, "bidder", 10**12, sale)
    with boa.reverts(dev="sale period superseded"):
        sale.bid(loan_id(1), 10**12, sender=bidder)


def test_double_sale_is_refused(world, sale, tape):
    tape.remit(1, {1: DELINQUENT})
    sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    with boa.reverts(dev="sale already open"):
        sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    bidder = make_bidder(world, "bidder", 10**12, sale)
    sale.bid(loan_id(1), 10**12, sender=bidder)
    with boa.reverts(dev="no open sale"):
        sale.bid(loan_id(1), 10**12, sender=bidder)
    with boa.reverts(dev="loan already sold"):
        sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    # once the next report confirmed the sale, the loan is gone from the tapes
    net = int(sale.net_proceeds(loan_id(1)))
    tape.remit(2, {1: {**sold_loan(net, tape.balance[1]), "delinquency": 3}}, sold=(1,))
    assert sale.status(loan_id(1)) == sale.RELEASED()
    with boa.reverts(dev="loan liquidated"):
        sale.start_sale(*tape.proof(2, 1), sender=world.admin)


def test_liquidated_loan_is_refused(world, sale, tape):
    tape.remit(1, {1: DELINQUENT})
    bal = tape.balance[1]
    tape.remit(2, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 3, "liquidated": True,
                       "recovery": bal // 2, "loss": bal - bal // 2}})
    with boa.reverts(dev="loan liquidated"):
        sale.start_sale(*tape.proof(2, 1), sender=world.admin)


def test_expired_sale_refuses_bids_and_may_restart(world, sale, tape):
    tape.remit(1, {1: DELINQUENT})
    sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    warp(DURATION + 1)
    bidder = make_bidder(world, "bidder", 10**12, sale)
    with boa.reverts(dev="sale expired"):
        sale.bid(loan_id(1), 10**12, sender=bidder)
    keeper2 = boa.env.generate_address("keeper2")
    sale.start_sale(*tape.proof(1, 1), sender=keeper2)
    assert sale.account_of(loan_id(1)) == keeper2 and sale.current_price(loan_id(1)) == tape.balance[1]


# ---------------------------------------------------------------- attacks on bid


def test_bid_below_current_price_is_refused(world, sale, tape):
    tape.remit(1, {1: DELINQUENT})
    sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    warp(DAY)
    price = sale.current_price(loan_id(1))
    bidder = make_bidder(world, "bidder", 10**12, sale)
    with boa.reverts(dev="bid below current price"):
        sale.bid(loan_id(1), price - 1, sender=bidder)
    assert sale.bid(loan_id(1), price, sender=bidder) == price


def test_non_compliant_bidders_are_refused(world, sale, tape):
    d = world.d
    tape.remit(1, {1: DELINQUENT})
    sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    stranger = boa.env.generate_address("stranger")  # never allowlisted
    d.settlement.mint(stranger, 10**12, sender=world.admin)
    d.settlement.approve(sale.address, 10**12, sender=stranger)
    with boa.reverts(dev="bidder not compliant"):
        sale.bid(loan_id(1), 10**12, sender=stranger)
    frozen = make_bidder(world, "frozen", 10**12, sale)
    d.deal.set_frozen(frozen, True, sender=d.admin)
    with boa.reverts(dev="bidder not compliant"):
        sale.bid(loan_id(1), 10**12, sender=frozen)
    expired = make_bidder(world, "expired", 10**12, sale)
    d.allow([expired], now() + 10)
    warp(11)
    with boa.reverts(dev="bidder not compliant"):
        sale.bid(loan_id(1), 10**12, sender=expired)
    assert sale.status(loan_id(1)) == sale.OPEN() and sale.held() == 0


def test_constructor_refuses_bad_parameters(world):
    d, dep = world.d, deployer("LoanSale")
    base = (d.oracle.address, d.deal.address)
    with boa.reverts(dev="bad prices"):
        dep.deploy(*base, WAD // 2, WAD, DURATION, 0, 1, sender=world.admin)
    with boa.reverts(dev="bad prices"):  # a zero floor would give a loan away
        dep.deploy(*base, WAD, 0, DURATION, 0, 1, sender=world.admin)
    with boa.reverts(dev="bad duration"):
        dep.deploy(*base, WAD, WAD // 2, 0, 0, 1, sender=world.admin)
    with boa.reverts(dev="bad reward"):
        dep.deploy(*base, WAD, WAD // 2, DURATION, WAD, 1, sender=world.admin)
    with boa.reverts(dev="bad unit scale"):
        dep.deploy(*base, WAD, WAD // 2, DURATION, 0, 0, sender=world.admin)


def test_loan_too_small_to_price_is_refused(world, sale, tape):
    """A floor price that rounds to zero would give the loan away: refused."""
    bal = tape.balance[1]
    tape.remit(1, {1: {"scheduled_principal": 0, "prepaid_principal": bal - 3, "interest_paid": 0, "delinquency": 1}})
    tape.remit(2, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 2}})
    tape.remit(3, {1: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 3}})
    assert tape.balance[1] == 3 and 3 * FLOOR_WAD // WAD == 0
    with boa.reverts(dev="bad prices"):
        sale.start_sale(*tape.proof(3, 1), sender=world.admin)


def test_wrong_proof_paths_are_refused(world, sale, tape):
    """The sale checks the proof itself: every kind of wrong path fails; the true one
    then starts the sale."""
    tape.remit(1, {1: DELINQUENT})
    rec, proof = tape.proof(1, 1)
    flipped = [*proof[:-1], bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
    for wrong in (proof[:-1], [*proof, proof[0]], flipped, proof[::-1], [], tape.proof(1, 2)[1]):
        with boa.reverts(dev="loan not proven"):
            sale.start_sale(rec, wrong, sender=world.admin)
    with boa.reverts():  # deeper than any tape (2**32 loans)
        sale.start_sale(rec, [*proof, *([proof[0]] * (33 - len(proof)))], sender=world.admin)
    assert sale.status(loan_id(1)) == 0
    sale.start_sale(rec, proof, sender=world.admin)
    assert sale.status(loan_id(1)) != 0
