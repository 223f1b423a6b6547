"""ServicerBond: the servicer's bond, late-report penalties and fraud proofs
(docs/chain.md, "Servicer bond"). Each attack (fraud proof against a consistent tape,
griefing the bond with early or repeated penalties or proofs, withdrawing under
dispute, booking other income in the deal without paying it, penalties while the deal
is paused or paid off) is refused with its ``# dev:`` reason; money is conserved: the
bond contract holds exactly ``bond + forfeited``, a late penalty reaches the deal and
its holders through the waterfall exactly as the exact engine computes it, and a slash
is the prover's bounty plus what is forfeited."""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any

import boa
import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from sales_helpers import (
    DAY,
    DELINQUENT,
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

REPORT_DAY = 15
LATE_PENALTY = 1_000_000_000
FRAUD_SLASH = 10_000_000_000
BOUNTY_WAD = WAD // 10
MAX_STRIKES = 3
BOND = 50_000_000_000
ZERO32 = b"\0" * 32


@pytest.fixture
def tape(world: Any, chain: Any) -> Tape:
    return Tape(world, chain)


@pytest.fixture
def sale(world: Any) -> Any:
    return deploy_sale(world)


def _first_month() -> tuple[int, int]:
    """The month after the chain's current one (period 1 is never already late)."""
    today = datetime.datetime.fromtimestamp(now(), datetime.UTC).date()
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


@pytest.fixture
def bond(world: Any, sale: Any) -> Any:
    """The fixture deal's ServicerBond (deployed by ``deploy_deal`` with this module's
    parameters, checked here), the bond posted by the servicer."""
    d = world.d
    b = d.bond
    assert (b.first_year(), b.first_month()) == _first_month()
    assert (b.report_day(), b.late_penalty(), b.fraud_slash(), b.bounty_wad(), b.max_strikes()) == (
        REPORT_DAY, LATE_PENALTY, FRAUD_SLASH, BOUNTY_WAD, MAX_STRIKES)
    assert d.bond_amount() == BOND
    assert d.post_bond() == BOND
    return b


def _held(world: Any, bond: Any) -> None:
    assert world.d.settlement.balanceOf(bond.address) == bond.bond() + bond.forfeited()


def _due_by_calendar(period: int) -> int:
    year, month = _first_month()
    months = year * 12 + month - 1 + period - 1
    day = datetime.date(months // 12, months % 12 + 1, REPORT_DAY) + datetime.timedelta(days=1)
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp())


# ---------------------------------------------------------------- bond and due dates


def test_due_dates_follow_the_calendar(bond):
    for period in (1, 2, 3, 11, 12, 13, 14, 25, 60, 361):
        assert bond.due(period) == _due_by_calendar(period)
    with boa.reverts(dev="bad period"):
        bond.due(0)


def test_bond_is_posted_and_only_governance_releases_it(world, bond):
    d = world.d
    assert bond.bond() == BOND
    _held(world, bond)
    assert bond.hasRole(bond.DEFAULT_ADMIN_ROLE(), d.timelock.address)
    assert not bond.hasRole(bond.DEFAULT_ADMIN_ROLE(), world.admin)
    with boa.reverts("access_control: account is missing role"):
        bond.release_bond(world.admin, 1, sender=world.admin)
    # through the timelock: schedule, wait the delay, execute
    payload = keccak(b"release_bond(address,uint256)")[:4] + abi_encode(["address", "uint256"], [d.servicer, 7])
    delay = d.config.timelock_delay
    d.timelock.schedule(bond.address, 0, payload, ZERO32, ZERO32, delay, sender=world.admin)
    warp(delay)
    before = d.settlement.balanceOf(d.servicer)
    d.timelock.execute(bond.address, 0, payload, ZERO32, ZERO32, sender=world.admin)
    assert d.settlement.balanceOf(d.servicer) == before + 7 and bond.bond() == BOND - 7
    _held(world, bond)


# ---------------------------------------------------------------- late reports


def test_late_penalty_after_the_due_date_once_per_period(world, bond, tape):
    warp(bond.due(1) - now() - 1)
    with boa.reverts(dev="not late"):
        bond.penalize_late(1)
    with boa.reverts(dev="not late"):  # a later period is not late either
        bond.penalize_late(2)
    warp(1)
    griefer = boa.env.generate_address("griefer")
    assert bond.penalize_late(1, sender=griefer) == LATE_PENALTY
    assert bond.bond() == BOND - LATE_PENALTY and bond.forfeited() == 0 and bond.strikes() == 1
    assert world.d.deal.other_income() == LATE_PENALTY  # paid to the deal for holders
    assert world.d.settlement.balanceOf(griefer) == 0  # no reward for a penalty
    with boa.reverts(dev="already penalized"):
        bond.penalize_late(1, sender=griefer)
    assert bond.open_disputes() == 0  # a late report is a strike, not a dispute
    tape.remit(1)
    with boa.reverts(dev="report accepted"):
        bond.penalize_late(1)
    _held(world, bond)


def test_report_on_time_cannot_be_penalized(world, bond, tape):
    tape.remit(1)
    warp(bond.due(1) - now() + DAY)
    with boa.reverts(dev="report accepted"):
        bond.penalize_late(1)
    assert bond.bond() == BOND and bond.strikes() == 0


def test_penalties_never_exceed_the_bond_and_strikes_make_a_backup_eligible(world, bond):
    warp(bond.due(MAX_STRIKES + 60) - now())
    total = 0
    for period in range(1, MAX_STRIKES + 60):
        total += bond.penalize_late(period)
        _held(world, bond)
    assert total == BOND and bond.bond() == 0 and bond.forfeited() == 0
    assert world.d.deal.other_income() == BOND
    assert bond.backup_eligible() and bond.strikes() == MAX_STRIKES + 59


# ---------------------------------------------------------------- fraud proofs


def _shift_balance(tape: Tape, src: int, dst: int, amount: int) -> None:
    """The servicer moves balance from one loan to another between tapes: the pool's
    aggregate still rolls forward (the oracle accepts it), the loans do not."""
    tape.balance[src] -= amount
    tape.balance[dst] += amount


def test_balance_discontinuity_slashes_the_bond(world, bond, tape):
    tape.remit(1)
    _shift_balance(tape, 4, 3, 5_000_000)
    tape.remit(2)
    prover = boa.env.generate_address("prover")
    a, pa = tape.proof(1, 3)
    b, pb = tape.proof(2, 3)
    bounty = FRAUD_SLASH * BOUNTY_WAD // WAD
    assert bond.prove_discontinuity(a, pa, b, pb, sender=prover) == bounty
    assert world.d.settlement.balanceOf(prover) == bounty
    assert bond.bond() == BOND - FRAUD_SLASH and bond.forfeited() == FRAUD_SLASH - bounty
    assert bond.open_disputes() == 1 and bond.strikes() == 1
    _held(world, bond)
    with boa.reverts(dev="already proven"):
        bond.prove_discontinuity(a, pa, b, pb, sender=prover)
    # the other side of the same shift is a second, distinct breach
    bond.prove_discontinuity(*tape.proof(1, 4), *tape.proof(2, 4), sender=prover)
    assert bond.open_disputes() == 2


def test_fraud_proof_against_a_consistent_tape_is_refused(world, bond, tape):
    tape.remit(1, {1: DELINQUENT})
    tape.remit(2, {1: DELINQUENT})
    bal = tape.balance[1]
    tape.remit(3, {1: {"scheduled_principal": 0, "interest_paid": 0, "liquidated": True, "recovery": bal // 2,
                       "loss": bal - bal // 2}})
    for loan in (1, 2, 5):
        for p in (1, 2):
            with boa.reverts(dev="records consistent"):
                bond.prove_discontinuity(*tape.proof(p, loan), *tape.proof(p + 1, loan))
    with boa.reverts(dev="periods not consecutive"):
        bond.prove_discontinuity(*tape.proof(1, 2), *tape.proof(3, 2))
    with boa.reverts(dev="periods not in order"):
        bond.prove_discontinuity(*tape.proof(2, 2), *tape.proof(1, 2))
    with boa.reverts(dev="different loans"):
        bond.prove_discontinuity(*tape.proof(1, 2), *tape.proof(2, 3))
    rec, _proof = tape.proof(2, 2)
    with boa.reverts(dev="loan not proven"):
        bond.prove_discontinuity(*tape.proof(1, 2), rec, tape.proof(2, 3)[1])
    assert bond.bond() == BOND and bond.strikes() == 0 and bond.open_disputes() == 0


def test_liquidated_loan_reappearing_slashes_the_bond(world, bond, tape):
    tape.remit(1, {1: DELINQUENT})
    bal = tape.balance[1]
    tape.remit(2, {1: {"scheduled_principal": 0, "interest_paid": 0, "liquidated": True, "recovery": bal // 2,
                       "loss": bal - bal // 2}})
    assert tape.balance[1] == 0
    tape.remit(3)  # the loan is off the tape
    # and comes back in place of another loan (the loan count must not grow)
    _shift_balance(tape, 2, 1, tape.balance[2])
    tape.remit(4)
    a, pa = tape.proof(2, 1)
    b, pb = tape.proof(4, 1)
    bond.prove_discontinuity(a, pa, b, pb, sender=world.admin)
    assert bond.strikes() == 1 and bond.open_disputes() == 1
    _held(world, bond)


def _sell_loan_1(world: Any, sale: Any, tape: Tape) -> int:
    """Sell loan 1 on tape 1; report 2 confirms the sale (the oracle refuses it
    otherwise: tests/chain/test_chain_wiring.py). Returns the net proceeds."""
    tape.remit(1, {1: DELINQUENT})
    sale.start_sale(*tape.proof(1, 1), sender=world.admin)
    b = make_bidder(world, "bidder", 10**12, sale)
    sale.bid(loan_id(1), 10**12, sender=b)
    net = int(sale.net_proceeds(loan_id(1)))
    tape.remit(2, {1: sold_loan(net, tape.balance[1])}, sold=(1,))
    return net


def test_sold_loan_reported_performing_again_slashes(world, bond, sale, tape):
    """After the confirming report, a later tape shows the sold loan performing again
    (the servicer moved another loan's whole balance onto it: the pool's figures and
    loan count still roll forward)."""
    _sell_loan_1(world, sale, tape)
    with boa.reverts(dev="sale not yet due"):  # the tape the sale was started on
        bond.prove_sold_performing(*tape.proof(1, 1))
    _shift_balance(tape, 2, 1, tape.balance[2])
    tape.remit(3)  # loan 1 "performing"
    prover = boa.env.generate_address("prover")
    bond.prove_sold_performing(*tape.proof(3, 1), sender=prover)
    assert world.d.settlement.balanceOf(prover) == FRAUD_SLASH * BOUNTY_WAD // WAD
    assert bond.open_disputes() == 1
    _held(world, bond)


def test_sold_loan_liquidated_at_its_price_is_consistent(world, bond, sale, tape):
    _sell_loan_1(world, sale, tape)
    with boa.reverts(dev="records consistent"):
        bond.prove_sold_performing(*tape.proof(2, 1))
    with boa.reverts(dev="loan not sold"):
        bond.prove_sold_performing(*tape.proof(2, 2))
    assert bond.strikes() == 0


def test_slash_is_capped_by_the_bond_and_a_dispute_blocks_release(world, bond, tape):
    d = world.d
    tape.remit(1)
    for loan in range(3, 10):
        _shift_balance(tape, loan + 1, loan, 1_000 * (loan - 2))  # every loan 3..10 moves
    tape.remit(2)
    slashed = 0
    for loan in range(3, 11):
        before = bond.bond()
        bond.prove_discontinuity(*tape.proof(1, loan), *tape.proof(2, loan), sender=world.admin)
        slashed += before - bond.bond()
        _held(world, bond)
    assert slashed == BOND and bond.bond() == 0  # 5 full slashes, then nothing left
    with boa.env.prank(d.timelock.address), boa.reverts(dev="bond under dispute"):
        bond.release_bond(world.admin, 0)
    with boa.env.prank(d.timelock.address):
        bond.resolve()
        assert bond.open_disputes() == 0
        with boa.reverts(dev="no dispute"):
            bond.resolve()
        forfeited = bond.forfeited()
        with boa.reverts(dev="above forfeited"):
            bond.pay_forfeited(world.admin, forfeited + 1)
        to = boa.env.generate_address("holders")
        bond.pay_forfeited(to, forfeited)
    assert d.settlement.balanceOf(to) == forfeited
    _held(world, bond)
    assert d.settlement.balanceOf(bond.address) == 0


def test_constructor_refuses_bad_parameters(world, sale):
    d, dep = world.d, deployer("ServicerBond")
    args = [d.oracle.address, d.deal.address, sale.address, 2026, 1, REPORT_DAY, 1, 1, BOUNTY_WAD, MAX_STRIKES]
    for i, bad, reason in ((4, 13, "bad date"), (4, 0, "bad date"), (5, 29, "bad date"), (5, 0, "bad date"),
                           (8, WAD + 1, "bad bounty"), (9, 0, "bad strikes")):
        with boa.reverts(dev=reason):
            dep.deploy(*args[:i], bad, *args[i + 1:], sender=world.admin)


def test_forged_record_of_a_sold_loan_cannot_slash(world, bond, sale, tape):
    """An attacker forges a "performing" record of a sold loan (not in any tape)."""
    _sell_loan_1(world, sale, tape)
    bal = tape.record(2, 1).beginning_balance
    _real, proof = tape.proof(2, 1)
    forged = replace(tape.record(2, 1), liquidated=False, recovery=0, loss=0, ending_balance=bal)
    with boa.reverts(dev="loan not proven"):
        bond.prove_sold_performing(forged.as_tuple(), proof)
    assert bond.bond() == BOND and bond.strikes() == 0


def test_forged_earlier_record_cannot_slash(world, bond, tape):
    """An attacker pairs a real later record with a forged earlier one that ends elsewhere."""
    tape.remit(1)
    tape.remit(2)
    a = tape.record(1, 3)
    forged = replace(a, scheduled_principal=a.scheduled_principal + 1, ending_balance=a.ending_balance - 1)
    with boa.reverts(dev="loan not proven"):
        bond.prove_discontinuity(forged.as_tuple(), tape.proof(1, 3)[1], *tape.proof(2, 3))
    assert bond.bond() == BOND and bond.strikes() == 0


# ---------------------------------------------------------------- late penalties reach holders


def _distribution_matches_engine(world: Any, logs: list[Any], other: int) -> None:
    """The period's events equal the exact engine's result on the report plus ``other``
    income (interest, principal, balances, shortfalls per tranche; fees, residual,
    reserve), and the engine's cash in is the report's cash plus ``other``."""
    res = world.results[-1]
    alloc = sorted((e for e in logs if type(e).__name__ == "TrancheAllocated"), key=lambda e: e.tranche)
    assert len(alloc) == len(res.interest_paid)
    for i, e in enumerate(alloc):
        assert (e.interest, e.principal, e.balance, e.interest_shortfall) == (
            res.interest_paid[i], res.principal_paid[i], res.ending_balance[i], res.interest_shortfall[i]), i
    (dist,) = [e for e in logs if type(e).__name__ == "Distributed"]
    assert (dist.fee, dist.residual) == (sum(res.fees_paid), res.residual_paid)
    assert dist.reserve_balance == world.state.reserve + world.state.dust
    paid = [e for e in logs if type(e).__name__ == "OtherIncomeDistributed"]
    assert [e.amount for e in paid] == ([other] if other else [])
    assert dist.cash == res.cash_in - other


def test_late_penalty_is_paid_to_the_deal_and_reaches_holders(world, bond, tape):
    """The penalty leaves the bond for the deal (pending other income), and the next
    distribution pays it as available interest, exactly as the exact engine does."""
    d = world.d
    tape.remit(1)
    warp(bond.due(2) - now())
    deal_before, held_before = d.settlement.balanceOf(d.deal.address), d.deal.cash_held()
    assert bond.penalize_late(2, sender=boa.env.generate_address("anyone")) == LATE_PENALTY
    assert bond.bond() == BOND - LATE_PENALTY and bond.forfeited() == 0 and bond.strikes() == 1
    assert d.settlement.balanceOf(d.deal.address) - deal_before == LATE_PENALTY
    assert d.deal.other_income() == LATE_PENALTY == d.other_income_pending()
    assert d.deal.cash_held() == held_before + LATE_PENALTY
    _held(world, bond)
    interest_before = [s.interest_index for s in d.tranches()]
    tape.remit(2)  # the late report: the penalty is distributed with it
    _distribution_matches_engine(world, d.oracle.get_logs(), LATE_PENALTY)
    assert d.deal.other_income() == 0
    assert d.settlement.balanceOf(d.deal.address) == d.deal.cash_held()
    assert [s.interest_index for s in d.tranches()] != interest_before
    tape.remit(3)  # nothing pending: an ordinary period
    _distribution_matches_engine(world, d.oracle.get_logs(), 0)


def test_penalties_of_several_late_periods_are_paid_together(world, bond, tape):
    tape.remit(1)
    warp(bond.due(4) - now())
    for p in (2, 3, 4):
        assert bond.penalize_late(p) == LATE_PENALTY
    assert world.d.deal.other_income() == 3 * LATE_PENALTY
    tape.remit(2)
    _distribution_matches_engine(world, world.d.oracle.get_logs(), 3 * LATE_PENALTY)
    with boa.reverts(dev="already penalized"):
        bond.penalize_late(3)
    assert world.d.deal.other_income() == 0


def test_attack_other_income_from_anyone_but_the_bond_is_refused(world, bond):
    """A non-bond account (here the servicer and the oracle itself) cannot book other
    income: it would inflate what holders are credited with cash the deal never got,
    or launder a donation into the waterfall."""
    d = world.d
    for who in (world.admin, d.oracle.address, boa.env.generate_address("mallory")):
        d.settlement.mint(who, LATE_PENALTY, sender=world.admin)
        d.settlement.approve(d.deal.address, LATE_PENALTY, sender=who)
        with boa.reverts(dev="caller not servicer bond"):
            d.deal.add_other_income(LATE_PENALTY, sender=who)
    assert d.deal.other_income() == 0


def test_attack_bond_that_says_it_paid_but_did_not(world, bond):
    """Even the wired bond's address cannot book income it does not hand over: the
    deal pulls the tokens itself and checks what arrived."""
    d = world.d
    held = d.deal.cash_held()
    with boa.env.prank(bond.address), boa.reverts():  # no allowance: the pull fails
        d.deal.add_other_income(LATE_PENALTY)
    # an allowance above the bond's balance: the pull fails too
    with boa.env.prank(bond.address):
        d.settlement.approve(d.deal.address, 10 * BOND)
    with boa.env.prank(bond.address), boa.reverts():
        d.deal.add_other_income(10 * BOND)
    assert d.deal.other_income() == 0 and d.deal.cash_held() == held
    assert bond.bond() == BOND
    _held(world, bond)


def test_attack_penalty_twice_for_one_period_pays_once(world, bond, tape):
    tape.remit(1)
    warp(bond.due(2) - now())
    bond.penalize_late(2)
    with boa.reverts(dev="already penalized"):
        bond.penalize_late(2)
    assert world.d.deal.other_income() == LATE_PENALTY and bond.bond() == BOND - LATE_PENALTY


def test_attack_penalty_while_the_deal_is_paused_is_refused(world, bond, tape):
    """While the guardian's pause stops remittances the servicer cannot report: no
    penalty (and no income booked into a deal that cannot distribute)."""
    d = world.d
    tape.remit(1)
    warp(bond.due(2) - now())
    d.deal.pause(sender=world.admin)
    with boa.reverts(dev="deal paused"):
        bond.penalize_late(2)
    with boa.env.prank(bond.address):  # and the deal itself refuses the income
        d.settlement.approve(d.deal.address, LATE_PENALTY)
    with boa.env.prank(bond.address), boa.reverts(dev="paused"):
        d.deal.add_other_income(LATE_PENALTY)
    d.deal.unpause(sender=world.admin)
    # the servicer gets RESUME_GRACE after the pause to report (see the next test)
    warp(bond.RESUME_GRACE())
    assert bond.penalize_late(2) == LATE_PENALTY
    assert bond.bond() == BOND - LATE_PENALTY and d.deal.other_income() == LATE_PENALTY


def test_attack_pause_over_the_deadline_then_penalty_at_unpause(world, bond, tape):
    """Griefing the bond through a pause: the guardian pauses the deal before a due date
    and lifts the pause after it. The servicer could not report while paused; a penalty
    called the second the pause is lifted would punish it for that. It has RESUME_GRACE
    from the moment reporting is possible again."""
    d = world.d
    tape.remit(1)
    warp(bond.due(2) - now() - DAY)
    d.deal.pause(sender=world.admin)
    warp(3 * DAY)  # the due date passes during the pause
    d.deal.unpause(sender=world.admin)
    resumed = now()
    assert d.deal.resumed_at() == resumed
    assert bond.late_from(2) == resumed + bond.RESUME_GRACE() > bond.due(2)
    griefer = boa.env.generate_address("griefer")
    with boa.reverts(dev="not late"):
        bond.penalize_late(2, sender=griefer)
    warp(bond.RESUME_GRACE() - 1)
    with boa.reverts(dev="not late"):
        bond.penalize_late(2, sender=griefer)
    tape.remit(2)  # the servicer reports within the grace: no penalty at all
    with boa.reverts(dev="report accepted"):
        bond.penalize_late(2, sender=griefer)
    assert bond.bond() == BOND and bond.strikes() == 0


def test_attack_dispute_over_the_deadline_then_penalty_at_resolve(world, bond, tape):
    """The same through a fraud-proof dispute: distributions are paused until governance
    resolves it; the report due meanwhile is late only RESUME_GRACE after the resolution."""
    d = world.d
    tape.remit(1)
    _shift_balance(tape, 4, 3, 5_000_000)
    tape.remit(2)
    bond.prove_discontinuity(*tape.proof(1, 3), *tape.proof(2, 3), sender=world.admin)
    warp(bond.due(3) - now() + 2 * DAY)
    with boa.reverts(dev="bond under dispute"):
        bond.penalize_late(3)
    with boa.env.prank(d.timelock.address):
        bond.resolve()
    with boa.reverts(dev="not late"):
        bond.penalize_late(3)
    warp(bond.RESUME_GRACE())
    assert bond.penalize_late(3) == LATE_PENALTY
    _held(world, bond)


def test_a_deal_that_closes_after_a_due_date_gives_the_servicer_the_grace(world, bond):
    """Reporting starts at closing: a due date before it is not missed at closing."""
    closed = world.d.deal.resumed_at()
    assert closed > 0
    assert bond.late_from(1) == max(bond.due(1), closed + bond.RESUME_GRACE())


def test_attack_griefing_the_bond_before_the_deadline(world, bond, tape):
    """Early, already-reported and far-future periods are all refused, and nothing
    moves."""
    tape.remit(1)
    warp(bond.due(2) - now() - 1)
    for p, reason in ((2, "not late"), (3, "not late"), (1, "report accepted"), (0, "report accepted")):
        with boa.reverts(dev=reason):
            bond.penalize_late(p)
    assert bond.bond() == BOND and bond.strikes() == 0 and world.d.deal.other_income() == 0


def test_no_penalty_once_the_pool_is_paid_off(world, bond, tape):
    """After the final distribution (the pool's ending balance is 0) no report is due:
    a penalty would have no distribution to reach holders through, so it is refused."""
    tape.remit(1)
    left = dict(tape.balance)
    tape.remit(2, {k: {"scheduled_principal": 0, "prepaid_principal": b} for k, b in left.items()})
    assert int(world.d.oracle.last_ending_balance()) == 0
    warp(bond.due(3) - now())
    with boa.reverts(dev="pool paid off"):
        bond.penalize_late(3)
    assert bond.bond() == BOND and world.d.deal.other_income() == 0


def test_late_penalty_reaches_the_event_store_and_the_audit_closes(world, chain, bond, tape, tmp_path):
    """The indexer decodes the penalty's events (bond and deal); the store's other income
    per period, fed to the exact engine with the stored reports, reproduces every
    tranche's allocation (the audit's waterfall check passes), and without it the
    engine would not (the check bites)."""
    import datetime as _dt

    from openmbs.audit._audit import _waterfall_check
    from openmbs.indexer import (
        BoaLogCollector,
        ContractRegistry,
        EventStore,
        Indexer,
        MemoryLogSource,
        other_income,
    )

    d = world.d
    source = MemoryLogSource("boa")
    collector = BoaLogCollector(source)

    def step(contract: Any) -> None:
        collector.record(contract)
        boa.env.time_travel(blocks=1)

    step(d.bond)  # the bond posted by the fixture
    tape.remit(1)
    step(d.oracle)
    warp(bond.due(2) - now())
    bond.penalize_late(2)
    step(d.bond)
    tape.remit(2)
    step(d.oracle)
    tape.remit(3)
    step(d.oracle)
    source.seal(int(boa.env.evm.patch.block_number) - 1)
    registry = ContractRegistry()
    for c, name in ((d.deal, "Deal"), (d.oracle, "RemittanceOracle"), (d.bond, "ServicerBond"),
                    (d.settlement, "MockSettlementToken"), (d.waterfall, "Waterfall")):
        registry.add_contract(c, name)
    for tok in d.tokens:
        registry.add_contract(tok, "TrancheToken")
    spec = {
        "name": "four_tranche_test", "closing_date": _dt.date(2026, 1, 29), "first_payment_date": _dt.date(2026, 2, 25),
        "pool": {"balance": chain.POOL / 10**6, "wac": 0.07, "net_coupon": 0.065, "term": 360},
        "tranches": [{"name": t.symbol, "balance": t.face / 10**6, "rate": t.coupon, "priority": i + 1}
                     for i, t in enumerate(chain.TRANCHES)],
    }
    with EventStore(tmp_path / "events.duckdb") as store:
        stats = Indexer(store, source, registry, batch_blocks=100).run()
        assert stats.unknown == 0
        got = dict(store.con.execute("SELECT event, count(*) FROM events GROUP BY event").fetchall())
        assert (got.get("LatePenalized"), got.get("OtherIncomeReceived"), got.get("OtherIncomeDistributed")) == (1, 1, 1)
        assert other_income(store.con) == {2: LATE_PENALTY}
        check = _waterfall_check({"deal_spec": spec}, store.con, "test")
        assert check.ok, check.mismatches
        assert "late-report penalties to holders 1000000000 in 1 period(s)" in check.detail
    # without the other income the engine would distribute less than the chain did
    from openmbs.structuring import apply_period, exact_remittance, initial_state

    s0 = initial_state(d.config.exact)
    s1, _ = apply_period(d.config.exact, s0, exact_remittance(tape_report(tape, 1)))
    _, without = apply_period(d.config.exact, s1, exact_remittance(tape_report(tape, 2)))
    with_it = world.results[1]
    assert with_it.cash_in - without.cash_in == LATE_PENALTY
    assert sum(with_it.interest_paid) + with_it.residual_paid > sum(without.interest_paid) + without.residual_paid


def tape_report(tape: Tape, p: int) -> Any:
    from openmbs.oracle import RemittanceReport

    return RemittanceReport.from_loans(p, tape.records[p])

# ---------------------------------------------------------------- proof paths (the bond checks proofs itself)


def _wrong_paths(proof: list[bytes]) -> list[list[bytes]]:
    """Proofs that differ from the true one (truncated, one sibling too many, the last
    sibling altered by one bit, the siblings reordered, empty): none reaches the root."""
    flipped = [*proof[:-1], bytes([proof[-1][0] ^ 1]) + proof[-1][1:]]
    return [proof[:-1], [*proof, proof[0]], flipped, proof[::-1], []]


def test_wrong_proof_paths_cannot_slash(world, bond, tape):
    """A real discontinuity, proven with every kind of wrong path, slashes nothing; the
    true proofs then slash (the wrong ones failed for their path, not for the tape)."""
    tape.remit(1)
    _shift_balance(tape, 4, 3, 5_000_000)
    tape.remit(2)
    a, pa = tape.proof(1, 3)
    b, pb = tape.proof(2, 3)
    assert len(pa) >= 3 and len(pb) >= 3
    for wrong in _wrong_paths(pb):
        with boa.reverts(dev="loan not proven"):
            bond.prove_discontinuity(a, pa, b, wrong, sender=world.admin)
    for wrong in _wrong_paths(pa):
        with boa.reverts(dev="loan not proven"):
            bond.prove_discontinuity(a, wrong, b, pb, sender=world.admin)
    with boa.reverts(dev="loan not proven"):  # the two proofs swapped
        bond.prove_discontinuity(a, pb, b, pa, sender=world.admin)
    with boa.reverts(dev="loan not proven"):  # another loan's path in the same tape
        bond.prove_discontinuity(a, pa, b, tape.proof(2, 4)[1], sender=world.admin)
    with boa.reverts():  # deeper than any tape (2**32 loans): refused before any hashing
        bond.prove_discontinuity(a, pa, b, [*pb, *([pb[0]] * (33 - len(pb)))], sender=world.admin)
    assert bond.bond() == BOND and bond.strikes() == 0
    bond.prove_discontinuity(a, pa, b, pb, sender=world.admin)
    assert bond.strikes() == 1


def test_tape_never_accepted_cannot_slash(world, bond, tape):
    """Records of a tape the oracle never accepted (period 3 built, not reported; and
    period 2's record relabelled as period 3) prove nothing."""
    tape.remit(1)
    tape.remit(2)
    tape.period(3)  # the servicer's next tape, not reported
    a3 = tape.record(3, 3)
    forged = replace(a3, beginning_balance=a3.beginning_balance + 1, ending_balance=a3.ending_balance + 1)
    tape.records[3] = [forged if r.loan_id == a3.loan_id else r for r in tape.records[3]]
    with boa.reverts(dev="loan not proven"):
        bond.prove_discontinuity(*tape.proof(2, 3), *tape.proof(3, 3), sender=world.admin)
    r2 = tape.record(2, 3)
    relabelled = replace(r2, period=3, beginning_balance=r2.beginning_balance + 1, ending_balance=r2.ending_balance + 1)
    with boa.reverts(dev="loan not proven"):
        bond.prove_discontinuity(*tape.proof(2, 3), relabelled.as_tuple(), tape.proof(2, 3)[1], sender=world.admin)
    assert bond.bond() == BOND and bond.strikes() == 0


def test_wrong_proof_paths_cannot_prove_a_sold_loan_performing(world, bond, sale, tape):
    _sell_loan_1(world, sale, tape)
    _shift_balance(tape, 2, 1, tape.balance[2])
    tape.remit(3)  # loan 1 "performing"
    rec, proof = tape.proof(3, 1)
    for wrong in _wrong_paths(proof):
        with boa.reverts(dev="loan not proven"):
            bond.prove_sold_performing(rec, wrong, sender=world.admin)
    assert bond.strikes() == 0
    bond.prove_sold_performing(rec, proof, sender=world.admin)
    assert bond.strikes() == 1


def test_oracle_reads_tape_roots_in_one_call(world, tape):
    """`loan_tape_roots` (the fraud proofs) and `last_loan_tape` (the sales) read the
    stored roots: zero for a period not accepted, the last period's before a report."""
    oracle = world.d.oracle
    assert oracle.last_loan_tape() == (0, ZERO32)
    tape.remit(1)
    tape.remit(2)
    r1, r2 = oracle.loan_tape_root(1), oracle.loan_tape_root(2)
    assert r1 != ZERO32 and r2 != ZERO32 and r1 != r2
    assert oracle.loan_tape_roots(1, 2) == (r1, r2)
    assert oracle.loan_tape_roots(2, 1) == (r2, r1)
    assert oracle.loan_tape_roots(2, 3) == (r2, ZERO32)
    assert oracle.last_loan_tape() == (2, r2)
