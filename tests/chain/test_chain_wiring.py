"""Loan sales and the servicer's bond wired into every deal (docs/chain.md, "Loan
sales" and "Servicer bond"): ``deploy_deal`` deploys LoanSale and ServicerBond and
wires them to the oracle; the oracle refuses a report while a sold loan awaits
confirmation unless the report proves that loan's record (liquidated, recovery ==
net proceeds), and the proceeds then reach the deal with that report's cash; only
the bond's ``appoint_backup`` (governance, after ``max_strikes`` strikes) moves
SERVICER_ROLE. Attacks first: each is refused with its ``# dev:`` reason."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boa
import pytest
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from sales_helpers import DELINQUENT, Tape, loan_id, make_bidder, now, sold_loan, warp

from openmbs.chain import ServicingConfig
from openmbs.errors import ChainError, InputError, RemittanceRejected
from openmbs.oracle import RemittanceReport

ZERO32 = b"\0" * 32


@pytest.fixture
def tape(world: Any, chain: Any) -> Tape:
    return Tape(world, chain)


def _sell(world: Any, tape: Tape, loan: int, *, period: int) -> int:
    """Start and win the sale of ``loan`` (seriously delinquent in ``period``'s tape);
    returns the net proceeds."""
    d = world.d
    d.start_sale(*tape.sold_proof(period, loan), sender=world.admin)
    bidder = make_bidder(world, f"bidder{loan}", 10**12, d.loan_sale)
    d.bid(loan_id(loan), 10**12, sender=bidder)
    return int(d.loan_sale.net_proceeds(loan_id(loan)))


def _roll_to_90(tape: Tape, loans: range | tuple[int, ...]) -> int:
    """Report ``loans`` 30, 60, then 90+ days delinquent (the oracle lets delinquency
    roll one bucket a month); returns the period in which they are 90+."""
    for p, dq in ((1, 1), (2, 2)):
        tape.remit(p, {loan: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": dq} for loan in loans})
    tape.remit(3, dict.fromkeys(loans, DELINQUENT))
    return 3


def _timelock(world: Any, target: str, payload: bytes) -> None:
    """Schedule ``payload`` on the deal's timelock, wait the delay, execute it."""
    d = world.d
    delay = d.config.timelock_delay
    d.timelock.schedule(target, 0, payload, ZERO32, ZERO32, delay, sender=world.admin)
    warp(delay)
    d.timelock.execute(target, 0, payload, ZERO32, ZERO32, sender=world.admin)


# ---------------------------------------------------------------- deployment


def test_deploy_deal_wires_the_sale_and_the_bond(world, chain):
    d = world.d
    o, sale, bond = d.oracle, d.loan_sale, d.bond
    assert o.loan_sale() == sale.address and o.servicer_bond() == bond.address
    assert sale.oracle() == o.address and sale.deal() == d.deal.address
    assert bond.oracle() == o.address and bond.loan_sale() == sale.address
    assert bond.hasRole(bond.DEFAULT_ADMIN_ROLE(), d.timelock.address)
    assert not bond.hasRole(bond.DEFAULT_ADMIN_ROLE(), world.admin)
    # only the bond administers SERVICER_ROLE (and nobody can grant its own role)
    assert o.getRoleAdmin(o.SERVICER_ROLE()) == o.APPOINTER_ROLE()
    assert o.getRoleAdmin(o.APPOINTER_ROLE()) == o.APPOINTER_ROLE()
    assert o.hasRole(o.APPOINTER_ROLE(), bond.address)
    # the parameters are the config's
    cfg = chain.SERVICING
    pool = d.config.initial_pool_balance
    assert d.bond_amount() == pool * 5 // 100
    assert bond.late_penalty() == d.bond_amount() * 2 // 100
    assert bond.fraud_slash() == d.bond_amount() * 20 // 100
    assert (bond.report_day(), bond.max_strikes()) == (cfg.report_day, cfg.max_strikes)
    assert sale.duration() == cfg.sale_seconds
    assert set(d.addresses()) >= {"loan_sale", "servicer_bond"}


def test_the_wiring_is_once_and_by_the_deployer_only(world):
    o = world.d.oracle
    with boa.reverts(dev="only deployer"):
        o.wire_servicing(world.admin, world.admin, sender=boa.env.generate_address("stranger"))
    with boa.reverts(dev="already wired"):
        o.wire_servicing(world.admin, world.admin, sender=world.admin)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sale_floor", 2.0), ("sale_start", 0.0), ("keeper_reward", 1.0), ("report_day", 29), ("max_strikes", 0),
     ("first_due", "2026-13"), ("bond", 1.5), ("sale_seconds", 0)],
)
def test_servicing_config_names_a_bad_field(field, value):
    with pytest.raises(InputError, match=f"servicing field '{field}' value"):
        ServicingConfig(**{field: value})


def test_a_record_config_without_servicing_reads_as_the_defaults_and_a_typo_is_named(world):
    """A record written before the loan sales has no ``servicing``; one with a misspelt
    parameter is refused naming it."""
    from dataclasses import asdict

    from openmbs.chain import DealConfig, TrancheConfig

    raw = asdict(world.d.config)
    raw["tranches"] = tuple(TrancheConfig(**t) for t in raw["tranches"])
    old = {k: v for k, v in raw.items() if k != "servicing"}
    assert DealConfig(**old).servicing == ServicingConfig()
    assert DealConfig(**raw).servicing == world.d.config.servicing
    raw["servicing"] = dict(raw["servicing"], sale_secs=10)
    with pytest.raises(InputError, match=r"field 'servicing.sale_secs' value 10: not a servicing parameter"):
        DealConfig(**raw)


# ---------------------------------------------------------------- attacks: the sold-loan check


def test_servicer_cannot_report_past_a_sold_loan(world, tape):
    """The attack: after a sale the servicer reports the loan as still delinquent (and
    keeps the proceeds off the deal's books); the oracle refuses the report."""
    tape.remit(1, {1: DELINQUENT})
    _sell(world, tape, 1, period=1)
    assert world.d.pending_sales() == 1
    with pytest.raises(RemittanceRejected, match="sold loan awaits confirmation"):
        tape.remit(2, {1: DELINQUENT})
    # nor may it report the loan liquidated and skip the proof
    net = int(world.d.loan_sale.net_proceeds(loan_id(1)))
    with pytest.raises(RemittanceRejected, match="sold loan awaits confirmation"):
        tape.remit(2, {1: sold_loan(net, tape.balance[1])})


def test_report_must_show_the_sale_at_its_net_proceeds(world, tape):
    tape.remit(1, {1: DELINQUENT})
    net = _sell(world, tape, 1, period=1)
    bal = tape.balance[1]
    # a smaller recovery than the net proceeds (the servicer skims)
    with pytest.raises(RemittanceRejected, match="report does not show the sale"):
        tape.remit(2, {1: sold_loan(net - 1, bal)}, sold=(1,))
    # the loan reported performing, its record proven
    with pytest.raises(RemittanceRejected, match="report does not show the sale"):
        tape.remit(2, {1: DELINQUENT}, sold=(1,))
    assert world.d.pending_sales() == 1 and world.d.loan_sale.held() == net


def test_confirmation_needs_this_reports_tape_and_every_pending_sale(world, tape):
    d = world.d
    p = _roll_to_90(tape, (1, 2))
    net = _sell(world, tape, 1, period=p)
    bal = tape.balance[1]
    recs = tape.period(p + 1, {1: sold_loan(net, bal)})
    report = RemittanceReport.from_loans(p + 1, recs)
    rec, proof = tape.sold_proof(p + 1, 1)
    # a proof against another tape (the loan's record in the last accepted tape)
    with pytest.raises(RemittanceRejected, match="record of another period"):
        d.remit_with_sales(report, world.sign(report), [tape.sold_proof(p, 1)])
    # a forged record with this tape's proof
    with pytest.raises(RemittanceRejected, match="loan not proven"):
        d.remit_with_sales(report, world.sign(report), [(replace(rec, recovery=net + 1, loss=rec.loss - 1), proof)])
    # no record at all for the pending sale
    with pytest.raises(RemittanceRejected, match="not every sold loan confirmed"):
        d.remit_with_sales(report, world.sign(report), [])
    # a second sale pending: the same loan twice does not cover it
    _sell(world, tape, 2, period=p)
    with pytest.raises(RemittanceRejected, match="loan not sold"):
        d.remit_with_sales(report, world.sign(report), [(rec, proof), (rec, proof)])
    # a loan that was never sold, proven in the tape, standing in for the second sale
    with pytest.raises(RemittanceRejected, match="report does not show the sale"):
        d.remit_with_sales(report, world.sign(report), [(rec, proof), tape.sold_proof(p + 1, 3)])
    assert d.pending_sales() == 2


def test_only_the_loan_sale_notes_a_sale_and_only_the_oracle_confirms(world):
    d = world.d
    with boa.reverts(dev="caller not loan sale"):
        d.oracle.note_sale(sender=world.admin)
    with boa.reverts(dev="caller not oracle"):
        d.loan_sale.confirm(loan_id(1), 1, sender=world.admin)


def test_governance_changing_bounds_keeps_the_pending_sale(world, tape):
    """set_bounds rewrites the packed word that counts pending sales: the count stays."""
    d = world.d
    tape.remit(1, {1: DELINQUENT})
    _sell(world, tape, 1, period=1)
    payload = keccak(b"set_bounds(uint256,uint256)")[:4] + abi_encode(["uint256", "uint256"], [3 * 10**17, 10**16])
    _timelock(world, d.oracle.address, payload)
    assert d.oracle.max_annual_rate() == 3 * 10**17
    assert d.pending_sales() == 1
    with pytest.raises(RemittanceRejected, match="sold loan awaits confirmation"):
        tape.remit(2, {1: DELINQUENT})


def test_too_many_pending_sales_refuse_the_bid(world, chain):
    """A report confirms at most MAX_PENDING_SALES sold loans: a further bid waits."""
    d, o = world.d, world.d.oracle
    cap = int(o.MAX_PENDING_SALES())
    assert cap < chain.LOANS
    t = Tape(world, chain)
    p = _roll_to_90(t, range(1, cap + 2))
    for loan in range(1, cap + 1):
        _sell(world, t, loan, period=p)
    d.start_sale(*t.sold_proof(p, cap + 1), sender=world.admin)
    bidder = make_bidder(world, "late bidder", 10**12, d.loan_sale)
    with pytest.raises(ChainError, match="too many pending sales"):
        d.bid(loan_id(cap + 1), 10**12, sender=bidder)


# ---------------------------------------------------------------- the money path


def test_sale_proceeds_reach_the_deal_with_the_confirming_report(world, tape):
    d, tok = world.d, world.d.settlement
    p = _roll_to_90(tape, (1, 4))
    net1 = _sell(world, tape, 1, period=p)
    net4 = _sell(world, tape, 4, period=p)
    sale = d.loan_sale
    # the deal holds the net proceeds off its books; the sale contract holds nothing
    assert sale.held() == net1 + net4 == tok.balanceOf(d.deal.address) - d.deal.cash_held()
    assert tok.balanceOf(sale.address) == 0
    servicer = d.servicer
    before = {a: tok.balanceOf(a) for a in (servicer, d.deal.address)}
    report = tape.remit(p + 1, {1: sold_loan(net1, tape.balance[1]), 4: sold_loan(net4, tape.balance[4])},
                        sold=(4, 1))
    assert report.recoveries == net1 + net4
    # the servicer deposited the cash but the proceeds; the deal booked all of it
    assert tok.balanceOf(d.deal.address) == before[d.deal.address] + report.cash - net1 - net4
    assert tok.balanceOf(servicer) == before[servicer] - (report.cash - net1 - net4)
    assert tok.balanceOf(d.deal.address) == d.deal.cash_held()
    assert sale.held() == 0 == tok.balanceOf(sale.address)
    assert sale.status(loan_id(1)) == sale.status(loan_id(4)) == sale.RELEASED()
    assert d.pending_sales() == 0
    # the real waterfall and the exact engine agree to the unit
    assert [s.balance for s in d.tranches()] == list(world.state.balance)
    assert [s.principal_index for s in d.tranches()] == list(world.state.principal_index)
    # the next report needs no confirmation
    tape.remit(p + 2)


def test_a_bid_after_the_tape_was_signed_needs_a_new_signature(world, tape):
    """A sale won between signing and submitting makes the signed report stale: the
    oracle refuses it, and the servicer's next tape shows the sale."""
    d = world.d
    tape.remit(1, {1: DELINQUENT})
    recs = tape.period(2, {1: DELINQUENT})
    stale = RemittanceReport.from_loans(2, recs)
    signed = world.sign(stale)
    net = _sell(world, tape, 1, period=1)
    with pytest.raises(RemittanceRejected, match="sold loan awaits confirmation"):
        d.remit(stale, signed)
    tape.remit(2, {1: sold_loan(net, tape.balance[1])}, sold=(1,))
    assert d.pending_sales() == 0


# ---------------------------------------------------------------- backup servicer


def _appoint_payload(backup: str, previous: str) -> bytes:
    return keccak(b"appoint_backup(address,address)")[:4] + abi_encode(["address", "address"], [backup, previous])


def test_governance_cannot_appoint_a_backup_before_the_strikes(world):
    """The attack: governance replaces a servicer in good standing."""
    d = world.d
    backup = boa.env.generate_address("backup")
    payload = _appoint_payload(backup, d.servicer)
    delay = d.config.timelock_delay
    d.timelock.schedule(d.bond.address, 0, payload, ZERO32, ZERO32, delay, sender=world.admin)
    warp(delay)
    with boa.reverts():
        d.timelock.execute(d.bond.address, 0, payload, ZERO32, ZERO32, sender=world.admin)
    with boa.reverts(dev="too few strikes"):  # the bond's own reason, called as the timelock
        d.bond.appoint_backup(backup, d.servicer, sender=d.timelock.address)
    # nor around the bond: the timelock is no longer SERVICER_ROLE's admin
    with boa.reverts("access_control: account is missing role"):
        d.oracle.grantRole(d.oracle.SERVICER_ROLE(), backup, sender=d.timelock.address)
    assert not d.oracle.hasRole(d.oracle.SERVICER_ROLE(), backup)


def test_backup_servicer_after_the_strikes_takes_over_the_reports(world, tape):
    d, bond = world.d, world.d.bond
    d.post_bond()
    strikes = int(bond.max_strikes())
    warp(int(bond.due(strikes)) - now())
    for period in range(1, strikes + 1):
        d.penalize_late(period, sender=boa.env.generate_address("anyone"))
    assert d.bond_status()["backup_eligible"]
    backup = world.holder("backup")
    d.settlement.mint(backup, 10**15, sender=world.admin)
    old = d.servicer
    _timelock(world, bond.address, _appoint_payload(backup, old))
    o = d.oracle
    assert o.hasRole(o.SERVICER_ROLE(), backup) and not o.hasRole(o.SERVICER_ROLE(), old)
    assert bond.strikes() == 0
    report = world.report()
    with pytest.raises(RemittanceRejected, match="missing role"):
        d.remit(report, world.sign(report), sender=old)
    d.remit(report, world.sign(report), sender=backup)
    assert int(o.last_period()) == 1



def test_submit_and_the_sales_path_run_the_same_steps():
    """``submit`` writes ``_accept``'s steps out (saving an internal call's copies); the
    two bodies must stay line for line the same, but for the cash deposited."""
    from openmbs.chain import contract_path

    src = contract_path("RemittanceOracle").read_text()

    def body(start: str) -> list[str]:
        text = src[src.index(start):]
        text = text[text.index("    access_control._check_role(SERVICER_ROLE, msg.sender)\n    assert block.timestamp"):]
        text = text[: text.index("\n\n\n")]
        return [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]

    submit, accept = body("def submit(\n"), body("def _accept(\n")
    assert len(submit) > 20
    deposit = ["    deposit: uint256 = report.cash - prepaid"]
    assert [ln.replace("report.cash", "deposit") for ln in submit] == [ln for ln in accept if ln not in deposit]


# ---------------------------------------------------------------- an 18-decimal deal


def test_an_eighteen_decimal_deal_sells_at_the_tapes_scale(chain):
    """The tapes count record units (10**-9 of an 18-decimal asset): the sale prices the
    loan in record units and is paid in whole record units, so the confirming tape's
    recovery (record units) is exactly the net proceeds (base units) / 10**9. Before the
    unit scale, the loan's price was its record-unit balance read as base units: a
    billionth of its worth."""
    import datetime

    from eth_account import Account

    from openmbs.agents import scale_report
    from openmbs.chain import config_from_exact, deploy_deal
    from openmbs.oracle import LoanRecord, MerkleTree, attest
    from openmbs.structuring import compile_exact, parse_deal

    scale = 10**9
    spec = parse_deal({
        "name": "eighteen", "closing_date": datetime.date(2026, 1, 29), "first_payment_date": datetime.date(2026, 2, 25),
        "asset": {"decimals": 18},
        "pool": {"balance": 1_000_000, "wac": 0.07, "net_coupon": 0.065, "term": 360},
        "tranches": [{"name": "A", "balance": 800_000, "rate": 0.04, "priority": 1},
                     {"name": "B", "balance": 200_000, "rate": 0.06, "priority": 2}],
    })
    exact = compile_exact(spec)
    pool = exact.pool_original
    assert exact.decimals == 18 and pool == 10**24
    cfg = config_from_exact(exact, name="eighteen", loan_count=4, initial_delinquent=(0, 0, pool // 4))
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = boa.env.generate_address("admin18")
    with boa.env.anchor():
        d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin)
        assert int(d.loan_sale.unit_scale()) == scale
        chain.close_with_one_investor_per_tranche(d, admin, "inv18")
        bal_r = pool // scale // 4  # each loan's balance, record units
        records: dict[int, list[LoanRecord]] = {}

        def remit(p: int, loan1: dict[str, Any], sold: bool = False) -> None:
            recs = [LoanRecord(loan_id=k, period=p, beginning_balance=bal_r, scheduled_principal=0, prepaid_principal=0,
                               interest_paid=bal_r * 5 // 1200, ending_balance=bal_r) for k in (2, 3, 4)]
            recs.insert(0, LoanRecord(loan_id=1, period=p, beginning_balance=bal_r, scheduled_principal=0,
                                      prepaid_principal=0, interest_paid=0, **loan1))
            records[p] = recs
            rep = scale_report(RemittanceReport.from_loans(p, recs), scale)
            sigs = attest(rep, [k.key for k in keys[:3]], chain_id=d.chain_id(), verifying_contract=d.oracle.address,
                          deadline=now() + 3600)
            if sold:
                d.remit_with_sales(rep, sigs, [(recs[0], MerkleTree([r.leaf() for r in recs]).proof(0))])
            else:
                d.remit(rep, sigs)

        remit(1, {"ending_balance": bal_r, "delinquency": 3})
        d.start_sale(records[1][0], MerkleTree([r.leaf() for r in records[1]]).proof(0), sender=admin)
        # the start price is the loan's balance in base units (start 100%)
        assert d.sale_price(loan_id(1)) == bal_r * scale
        bidder = boa.env.generate_address("bidder18")
        d.allow([bidder], 2**40)
        d.settlement.mint(bidder, bal_r * scale, sender=admin)
        price = d.bid(loan_id(1), bal_r * scale, sender=bidder)
        net = int(d.loan_sale.net_proceeds(loan_id(1)))
        assert price == bal_r * scale and net % scale == 0
        assert int(d.loan_sale.record_proceeds(loan_id(1))) == net // scale
        remit(2, {"ending_balance": 0, "delinquency": 3, "liquidated": True, "recovery": net // scale,
                  "loss": bal_r - net // scale}, sold=True)
        assert d.pending_sales() == 0
        assert d.settlement.balanceOf(d.deal.address) == d.deal.cash_held()


# ---------------------------------------------------------------- a fraud proof pauses distributions


def _disprove(world: Any, tape: Tape) -> None:
    """Report 1, then a tape 2 that moves balance from loan 4 to loan 3; prove loan 3."""
    tape.remit(1)
    tape.balance[4] -= 5_000_000
    tape.balance[3] += 5_000_000
    tape.remit(2)
    world.d.prove_discontinuity(*tape.sold_proof(1, 3), *tape.sold_proof(2, 3),
                                sender=boa.env.generate_address("prover"))


def test_a_fraud_proof_pauses_distributions_until_governance_resolves(world, tape):
    d = world.d
    d.post_bond()
    _disprove(world, tape)
    assert d.oracle.disputed() and d.bond.open_disputes() == 1
    with pytest.raises(RemittanceRejected, match="distributions paused by a fraud proof"):
        tape.remit(3)
    # neither the guardian's unpause nor anyone but the bond lifts it
    for who in (world.admin, d.timelock.address):
        with boa.reverts(dev="caller not servicer bond"):
            d.oracle.lift_dispute(sender=who)
    # nor can the servicer be penalized for reports the pause stops
    warp(int(d.bond.due(3)) - now())
    with boa.reverts(dev="bond under dispute"):
        d.bond.penalize_late(3)
    # governance acts through the timelock: resolve lifts the pause
    _timelock(world, d.bond.address, keccak(b"resolve()")[:4])
    assert not d.oracle.disputed() and d.bond.open_disputes() == 0
    tape.remit(3)
    assert int(d.oracle.last_period()) == 3


def test_a_prover_cannot_pause_the_deal_with_a_consistent_tape(world, tape):
    """The attack: pause the deal (and take a bounty) with records that agree."""
    d = world.d
    d.post_bond()
    tape.remit(1)
    tape.remit(2)
    for loan in (1, 3, 10):
        with pytest.raises(ChainError, match="records consistent"):
            d.prove_discontinuity(*tape.sold_proof(1, loan), *tape.sold_proof(2, loan), sender=world.admin)
    with boa.reverts(dev="caller not servicer bond"):
        d.oracle.dispute(sender=world.admin)
    assert not d.oracle.disputed()
    tape.remit(3)


# ---------------------------------------------------------------- attestors' bonds


ATTESTOR_BOND = 20_000_000_000


def _bonded_attestors(world: Any, n: int = 4) -> list[str]:
    d = world.d
    out = []
    for k in world.keys[:n]:
        a = k.address
        d.settlement.mint(a, ATTESTOR_BOND, sender=world.admin)
        d.settlement.approve(d.bond.address, ATTESTOR_BOND, sender=a)
        d.bond.post_attestor(ATTESTOR_BOND, sender=a)
        out.append(a)
    return out


def _held_by_bond(world: Any) -> None:
    b = world.d.bond
    assert world.d.settlement.balanceOf(b.address) == b.bond() + b.forfeited() + b.attestor_total()


def test_the_signers_of_a_disproved_report_are_slashed_and_cannot_escape(world, tape):
    d, bond = world.d, world.d.bond
    d.post_bond()
    attestors = _bonded_attestors(world)
    tape.remit(1)
    tape.balance[4] -= 5_000_000
    tape.balance[3] += 5_000_000
    recs = tape.period(2)
    report = RemittanceReport.from_loans(2, recs)
    sigs = world.sign(report)  # attestors 0, 1, 2 sign the tape that breaks continuity
    d.remit(report, sigs)
    args = (loan_id(3), report.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs])
    with boa.reverts(dev="report not disproved"):  # no fraud proof yet
        bond.slash_attestors(*args)
    prover = boa.env.generate_address("prover")
    d.prove_discontinuity(*tape.sold_proof(1, 3), *tape.sold_proof(2, 3), sender=prover)
    # an attestor cannot leave ahead of its slash: governance cannot release under dispute
    with boa.env.prank(d.timelock.address), boa.reverts(dev="bond under dispute"):
        bond.release_attestor(attestors[0], attestors[0], ATTESTOR_BOND)
    # signatures out of order, or over another report of the period, are refused
    with boa.reverts(dev="signers not sorted and unique"):
        bond.slash_attestors(loan_id(3), report.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs[::-1]])
    other = replace(report, loan_tape_root=b"\x07" * 32)
    other_sigs = world.sign(other)
    with boa.reverts(dev="report not accepted"):
        bond.slash_attestors(loan_id(3), other.as_tuple(), other_sigs[0].deadline, [s.as_tuple() for s in other_sigs])
    forfeited, before = bond.forfeited(), d.settlement.balanceOf(prover)
    slash = int(bond.fraud_slash())
    bounty = bond.slash_attestors(*args, sender=prover)
    signers = {s.signer for s in sigs}
    assert signers == set(attestors[:3])
    for a in attestors:
        assert bond.attestor_bond(a) == (ATTESTOR_BOND - min(slash, ATTESTOR_BOND) if a in signers else ATTESTOR_BOND)
    each = min(slash, ATTESTOR_BOND)
    assert bounty == 3 * (each * int(bond.bounty_wad()) // 10**18)
    assert d.settlement.balanceOf(prover) - before == bounty
    assert bond.forfeited() - forfeited == 3 * each - bounty
    _held_by_bond(world)
    with boa.reverts(dev="no attestor to slash"):  # once per attestor and period
        bond.slash_attestors(*args, sender=prover)


def test_a_report_not_disproved_cannot_slash_its_signers(world, tape):
    d = world.d
    _bonded_attestors(world)
    recs = tape.period(1)
    report = RemittanceReport.from_loans(1, recs)
    sigs = world.sign(report)
    d.remit(report, sigs)
    with boa.reverts(dev="report not disproved"):
        d.bond.slash_attestors(loan_id(3), report.as_tuple(), sigs[0].deadline, [s.as_tuple() for s in sigs])
    assert all(d.bond.attestor_bond(k.address) == ATTESTOR_BOND for k in world.keys[:4])
    _held_by_bond(world)


# ---------------------------------------------------------------- the event store


def test_sale_and_bond_events_reach_the_event_store(world, tape, tmp_path):
    """The indexer decodes the LoanSale, ServicerBond and new oracle events of a sale, its
    confirmation and a fraud proof into typed DuckDB tables (no log left unknown)."""
    from openmbs.indexer import (
        BoaLogCollector,
        ContractRegistry,
        EventStore,
        Indexer,
        MemoryLogSource,
    )

    d = world.d
    source = MemoryLogSource("boa")
    collector = BoaLogCollector(source)

    def step(contract: Any) -> None:  # the logs of the transaction just sent to `contract`
        collector.record(contract)
        boa.env.time_travel(blocks=1)

    tape.remit(1, {1: DELINQUENT})
    step(d.oracle)
    d.post_bond()
    step(d.bond)
    d.start_sale(*tape.sold_proof(1, 1), sender=world.admin)
    step(d.loan_sale)
    bidder = make_bidder(world, "bidder-ix", 10**12, d.loan_sale)
    d.bid(loan_id(1), 10**12, sender=bidder)
    step(d.loan_sale)
    net = int(d.loan_sale.net_proceeds(loan_id(1)))
    tape.remit(2, {1: sold_loan(net, tape.balance[1])}, sold=(1,))
    step(d.oracle)
    tape.balance[4] -= 5_000_000
    tape.balance[3] += 5_000_000
    tape.remit(3)
    step(d.oracle)
    d.prove_discontinuity(*tape.sold_proof(2, 3), *tape.sold_proof(3, 3), sender=world.admin)
    step(d.bond)
    source.seal(int(boa.env.evm.patch.block_number) - 1)
    registry = ContractRegistry()
    for c, name in ((d.deal, "Deal"), (d.oracle, "RemittanceOracle"), (d.loan_sale, "LoanSale"),
                    (d.bond, "ServicerBond"), (d.settlement, "MockSettlementToken"), (d.waterfall, "Waterfall")):
        registry.add_contract(c, name)
    for tok in d.tokens:
        registry.add_contract(tok, "TrancheToken")
    with EventStore(tmp_path / "events.duckdb") as store:
        stats = Indexer(store, source, registry, batch_blocks=100).run()
        assert stats.unknown == 0
        got = dict(store.con.execute("SELECT event, count(*) FROM events GROUP BY event").fetchall())
    want = {"SaleStarted": 1, "LoanSold": 1, "ProceedsReleased": 1, "SaleConfirmed": 1, "BondPosted": 1,
            "FraudProven": 1, "DisputeSet": 1, "RemittanceAccepted": 3}
    assert {k: got.get(k, 0) for k in want} == want, got
