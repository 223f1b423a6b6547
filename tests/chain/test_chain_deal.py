"""Deal, tokens and issuance: unit tests against hand-derived figures."""

from __future__ import annotations

import boa
import pytest

WAD = 10**18


def test_closing_minted_full_face_and_fixed_supply(world):
    d = world.d
    for i, tok in enumerate(d.tokens):
        face = int(d.deal.original_face(i))
        assert tok.totalSupply() == face
        assert tok.balanceOf(world.investors[i]) == face
        assert tok.minting_finished()
        assert tok.decimals() == 6
    assert d.deal.closed()
    # the seller (admin) was paid the total face at closing: 1,000,000.000000
    assert d.issuance.escrow_held() == 0


def test_first_period_allocation_by_hand(world):
    d = world.d
    world.remit()  # interest 5,000 ; principal 3,000 (1,000 scheduled + 2,000 prepaid)
    res = world.results[0]  # the exact engine's period
    # interest due = face x coupon / 12, in tranche order from 5,000.000000 collected:
    #   A 600,000 x 4% / 12 = 2,000 ; B 200,000 x 5% / 12 = 833.333333 ;
    #   M 120,000 x 7% / 12 = 700 ; J 80,000 x 10% / 12 = 666.666666
    due = [2_000_000_000, 833_333_333, 700_000_000, 666_666_666]
    assert list(res.interest_paid) == due  # the engine agrees with the hand figures
    st = d.tranches()
    for i in range(4):
        assert st[i].interest_index == world.state.interest_index[i] == due[i] * WAD // int(d.deal.original_face(i))
        assert st[i].principal_index == world.state.principal_index[i]
    # principal 3,000 all to A (sequential)
    assert list(res.principal_paid) == [3_000_000_000, 0, 0, 0]
    assert [s.balance for s in st] == list(world.state.balance)
    assert st[0].balance == 600_000_000_000 - 3_000_000_000
    assert [s.balance for s in st[1:]] == [200_000_000_000, 120_000_000_000, 80_000_000_000]
    assert st[0].factor == (597_000_000_000 * WAD) // 600_000_000_000
    # residual = 5,000 - sum(due) = 800.000001 (no fees, no reserve in this deal)
    assert res.residual_paid == 5_000_000_000 - sum(due) and sum(res.fees_paid) == 0
    assert d.deal.payee_owed(world.admin) == res.residual_paid
    assert d.deal.cash_held() == 8_000_000_000
    # holder of all of A claims interest + principal, rounded down once
    a = world.investors[0]
    expect = 600_000_000_000 * (st[0].interest_index + st[0].principal_index) // WAD
    assert expect in (5_000_000_000 - 1, 5_000_000_000)
    before = d.settlement.balanceOf(a)
    assert d.claim(a, 0) == expect
    assert d.settlement.balanceOf(a) - before == expect
    assert d.claim(a, 0) == 0  # nobody is paid twice


def test_losses_write_down_junior_first(world):
    d = world.d
    world.remit(world.report(sched=0, unsched=0, recoveries=1_000_000_000, losses=90_000_000_000))
    res, s = world.results[0], world.state
    st = d.tranches()
    assert [t.balance for t in st] == list(s.balance)
    assert [t.loss_index for t in st] == list(s.loss_index)
    assert d.deal.waterfall_state(0) == s.cum_loss == 90_000_000_000
    # the engine writes the most junior class down first: J wiped, then M
    assert s.balance[3] == 0 and res.writedown[3] == 80_000_000_000 and s.loss_index[3] == WAD
    assert res.writedown[2] > 0 and res.writedown[0] == res.writedown[1] == 0
    assert s.balance[2] == 120_000_000_000 - res.writedown[2]


def test_claim_all_and_claim_while_paused(world):
    d = world.d
    world.remit()
    x = world.investors[1]
    d.deal.pause(sender=world.admin)
    owed = d.claimable(1, x)
    assert owed > 0
    assert d.claim(x) == owed  # claim_all works while paused
    with boa.reverts(dev="paused"):
        d.tokens[1].transfer(world.investors[0], 1, sender=x)  # transfers stop while paused


def test_pause_stops_remittance_and_subscription(world):
    d = world.d
    d.deal.pause(sender=world.admin)
    r = world.report()
    with pytest.raises(Exception, match="paused"):
        world.remit(r)
    d.deal.unpause(sender=world.admin)
    world.remit(r)
    assert d.deal.last_period() == 1


def test_transfer_checkpoints_both_sides(world):
    d = world.d
    a, b = world.investors[0], world.holder("b")
    world.remit()
    owed_a = d.claimable(0, a)
    d.tokens[0].transfer(b, 100_000_000_000, sender=a)
    # the accrued claim stays with the sender, the receiver starts at zero
    assert d.claimable(0, a) == owed_a
    assert d.claimable(0, b) == 0
    world.remit()
    idx = int(d.deal.interest_index(0)) + int(d.deal.principal_index(0))
    ck_a, owed_ck = d.deal.checkpoint_of(0, a)
    assert d.claimable(0, b) == 100_000_000_000 * (idx - ck_a) // WAD
    assert d.claimable(0, a) == owed_ck + 500_000_000_000 * (idx - ck_a) // WAD


def test_failed_offering_refunds(world):
    """A fresh offering that stays short: everyone withdraws their deposit."""
    from openmbs.chain import DealConfig, TrancheConfig, deploy_deal

    cfg = DealConfig(name="short", tranches=(TrancheConfig("X", "X", 1_000_000),),
                     initial_pool_balance=1_000_000, initial_loan_count=1, quorum=1, n_attestors=1)
    admin = world.admin
    d2 = deploy_deal(cfg, attestors=[world.keys[0].address], admin=admin, test_waterfall=True)
    inv = world.holder("short-investor")
    d2.allow([inv], 2**40)
    d2.settlement.mint(inv, 400_000, sender=admin)
    d2.subscribe(inv, 0, 400_000)
    with boa.reverts(dev="not fully subscribed"):
        d2.issuance.close(sender=admin)
    with boa.reverts(dev="window still open"):
        d2.issuance.fail(sender=admin)
    boa.env.time_travel(seconds=cfg.offering_seconds + 1)
    d2.issuance.fail(sender=admin)
    assert d2.issuance.withdraw(sender=inv) == 400_000
    assert d2.settlement.balanceOf(inv) == 400_000
    assert d2.tokens[0].totalSupply() == 0


def test_subscription_rules(world):
    from openmbs.chain import DealConfig, TrancheConfig, deploy_deal

    cfg = DealConfig(name="sub", tranches=(TrancheConfig("X", "X", 10_000_000),),
                     initial_pool_balance=10_000_000, initial_loan_count=1, quorum=1, n_attestors=1,
                     minimum_subscription=2_000_000)
    admin = world.admin
    d2 = deploy_deal(cfg, attestors=[world.keys[0].address], admin=admin, test_waterfall=True)
    inv, outsider = boa.env.generate_address(), boa.env.generate_address()
    d2.allow([inv], 2**40)
    for a in (inv, outsider):
        d2.settlement.mint(a, 20_000_000, sender=admin)
        d2.settlement.approve(d2.issuance.address, 2**255, sender=a)
    with pytest.raises(boa.BoaError, match="holder not allowed"):
        d2.issuance.subscribe(0, 5_000_000, sender=outsider)
    with boa.reverts(dev="below minimum subscription"):
        d2.issuance.subscribe(0, 1_000_000, sender=inv)
    with boa.reverts(dev="above tranche face"):
        d2.issuance.subscribe(0, 11_000_000, sender=inv)
    d2.issuance.subscribe(0, 9_000_000, sender=inv)
    d2.issuance.subscribe(0, 1_000_000, sender=inv)  # fills the tranche: minimum waived
    d2.close()
    with boa.reverts(dev="minting finished"):
        d2.tokens[0].mint(inv, 1, sender=d2.issuance.address)
    assert d2.settle(inv) == 10_000_000


# ------------------------------------------------------------------ packed holder checkpoints


def _big_deal(world, faces, coupons, pool=None):
    """A fresh one-holder-per-tranche deal on the test waterfall (faces in base units)."""
    from openmbs.chain import DealConfig, TrancheConfig, deploy_deal

    pool = pool or sum(faces)
    cfg = DealConfig(name="big", tranches=tuple(TrancheConfig(f"T{i}", f"T{i}", f, c)
                                                for i, (f, c) in enumerate(zip(faces, coupons, strict=True))),
                     initial_pool_balance=pool, initial_loan_count=10, quorum=1, n_attestors=1)
    admin = world.admin
    d2 = deploy_deal(cfg, attestors=[world.keys[0].address], admin=admin, test_waterfall=True)
    holders = [boa.env.generate_address(f"big{i}") for i in range(3)]
    d2.allow([*holders, admin], 2**40)
    for i, f in enumerate(faces):
        d2.settlement.mint(holders[0], f, sender=admin)
        d2.subscribe(holders[0], i, f)
    d2.close()
    d2.settle(holders[0])
    d2.settlement.mint(admin, 10**30, sender=admin)
    return d2, holders


def _remit_one(world, d2, period, beginning, interest, principal):
    from openmbs.oracle import RemittanceReport, attest

    r = RemittanceReport(period, principal, 0, interest, 0, 0, beginning, beginning - principal, 10,
                         0, 0, 0, 0, interest + principal, b"\x01" * 32)
    d2.remit(r, attest(r, [world.keys[0].key], chain_id=d2.chain_id(), verifying_contract=d2.oracle.address))


def test_owed_above_the_packed_width_is_exact(world):
    """An 18-decimal-sized position: the owed amount outgrows the word's 79 bits,
    moves to the wide slot, and every claim is still balance x index delta // 1e18."""
    face = 10**28  # 10 billion at 18 decimals
    d2, (a, b, _) = _big_deal(world, [face], [0.12])
    interest = face * 12 // 100 // 12  # 1e26 due and paid
    _remit_one(world, d2, 1, face, interest, 0)
    idx1 = interest * WAD // face  # the test waterfall floors each period, no carry
    assert d2.deal.interest_index(0) == idx1
    owed_a = face * idx1 // WAD
    assert owed_a > 2**79  # does not fit the packed word
    d2.tokens[0].transfer(b, face // 4, sender=a)  # checkpoints a with owed_a (wide)
    assert tuple(d2.deal.checkpoint_of(0, a)) == (idx1, owed_a)
    assert d2.claimable(0, a) == owed_a and d2.claimable(0, b) == 0
    _remit_one(world, d2, 2, face, interest, 0)
    idx2 = idx1 + interest * WAD // face
    assert d2.claim(a, 0) == owed_a + (face - face // 4) * (idx2 - idx1) // WAD
    assert tuple(d2.deal.checkpoint_of(0, a)) == (idx2, 0)  # back in the packed word
    assert d2.claim(b, 0) == (face // 4) * (idx2 - idx1) // WAD
    assert d2.claim(a, 0) == 0 and d2.claim(b, 0) == 0
    assert d2.deal.cash_claimed() == owed_a + (face - face // 4) * (idx2 - idx1) // WAD + (face // 4) * (idx2 - idx1) // WAD


def test_index_above_the_packed_width_is_exact(world):
    """A tiny tranche that takes the pool's interest: its cash index passes 2**80
    (the word's checkpoint width) and holders' claims stay exact."""
    small, big = 1_000, 1_000_000_000_000
    d2, (a, b, _) = _big_deal(world, [small, big], [1e8, 0.0])
    interest = 5_000_000_000  # due on the small tranche is 1,000 x 1e8 / 12: takes it all
    _remit_one(world, d2, 1, small + big, interest, 0)
    idx1 = interest * WAD // small
    assert idx1 > 2**80
    d2.tokens[0].transfer(b, 300, sender=a)
    assert tuple(d2.deal.checkpoint_of(0, b)) == (idx1, 0)
    _remit_one(world, d2, 2, small + big, interest, 0)
    idx2 = idx1 + interest * WAD // small
    d2.tokens[0].transfer(a, 100, sender=b)  # both sides checkpoint again above 2**80
    assert tuple(d2.deal.checkpoint_of(0, b)) == (idx2, 300 * (idx2 - idx1) // WAD)
    assert d2.claim(a, 0) == 1_000 * idx1 // WAD + 700 * (idx2 - idx1) // WAD
    assert d2.claim(b, 0) == 300 * (idx2 - idx1) // WAD
    assert d2.claimable(0, a) == 0 and d2.claimable(0, b) == 0


def test_claim_counters_spill_past_96_bits(world):
    """cash_claimed stays exact when a tranche's claim counter would pass 2**96."""
    face = 7 * 10**28
    d2, (a, _, _) = _big_deal(world, [face, face], [0.0, 0.0])
    _remit_one(world, d2, 1, 2 * face, 0, 2 * face)  # all principal back in one period
    paid = d2.claim(a)  # claim_all counts its total on one counter: 1.4e29 > 2**96
    assert paid == 2 * face and paid > 2**96
    assert d2.deal.cash_claimed() == 2 * face == d2.deal.cash_credited()
    assert d2.deal.cash_held() == 0


def test_changed_recipients_keep_what_they_were_owed(world):
    """Fees owed to a recipient stay its own after the timelock changes recipients."""
    from eth_abi import encode as abi_encode
    from eth_utils import function_signature_to_4byte_selector as selector

    d, tl, admin = world.d, world.d.timelock, world.admin
    world.remit()
    owed_old = int(d.deal.payee_owed(admin))
    assert owed_old > 0
    newfee, newres = boa.env.generate_address("newfee"), boa.env.generate_address("newres")
    payload = selector("set_recipients(address,address)") + abi_encode(["address", "address"], [newfee, newres])
    zero = b"\0" * 32
    delay = int(tl.get_minimum_delay())
    tl.schedule(d.deal.address, 0, payload, zero, zero, delay, sender=admin)
    boa.env.time_travel(seconds=delay)
    held = int(d.deal.cash_held())
    tl.execute(d.deal.address, 0, payload, zero, zero, sender=admin)
    assert int(d.deal.payee_owed(admin)) == owed_old and int(d.deal.cash_held()) == held
    assert d.deal.payee_owed(newfee) == 0 and d.deal.payee_owed(newres) == 0
    world.remit()  # the next period's residual goes to the new residual recipient
    new_owed = int(d.deal.payee_owed(newres))
    assert new_owed > 0 and int(d.deal.payee_owed(admin)) == owed_old
    assert int(d.deal.cash_held()) == held + 8_000_000_000
    before = int(d.settlement.balanceOf(admin))
    assert d.deal.claim_payee(sender=admin) == owed_old
    assert int(d.settlement.balanceOf(admin)) - before == owed_old
    assert d.deal.claim_payee(sender=admin) == 0
    assert d.deal.claim_payee(sender=newres) == new_owed
    assert int(d.deal.cash_held()) == held + 8_000_000_000 - owed_old - new_owed


def test_token_names_and_symbols_name_deal_and_class():
    """Integrators see "openmbs <DEAL> <class>" / "<initials>-<class>", within the
    contract's limits (50 and 16 characters), for every example deal."""
    from openmbs.chain import config_from_spec
    from openmbs.structuring import example_deal

    cfg = config_from_spec(example_deal("four_tranche"), loan_count=10)
    assert [(t.name, t.symbol) for t in cfg.tranches] == [
        (f"openmbs FOUR-TRANCHE {c}", f"FT-{c}") for c in cfg.exact.names
    ]
    for deal in ("senior_sub", "pac_io"):
        cfg = config_from_spec(example_deal(deal), loan_count=10)
        for t, c in zip(cfg.tranches, cfg.exact.names, strict=True):
            assert t.name == f"openmbs {deal.upper().replace('_', '-')} {c}" and len(t.name) <= 50
            assert t.symbol.endswith(f"-{c}") and len(t.symbol) <= 16
        assert len({t.symbol for t in cfg.tranches}) == len(cfg.tranches)
