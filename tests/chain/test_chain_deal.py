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
    # interest due = face x coupon / 12, in tranche order from 5,000.000000 collected:
    #   A 600,000 x 4% / 12 = 2,000 ; B 200,000 x 5% / 12 = 833.333333 ;
    #   M 120,000 x 7% / 12 = 700 ; J 80,000 x 10% / 12 = 666.666666
    due = [2_000_000_000, 833_333_333, 700_000_000, 666_666_666]
    st = d.tranches()
    for i in range(4):
        assert st[i].interest_index == due[i] * WAD // int(d.deal.original_face(i))
    # principal 3,000 all to A (sequential)
    assert st[0].balance == 600_000_000_000 - 3_000_000_000
    assert [s.balance for s in st[1:]] == [200_000_000_000, 120_000_000_000, 80_000_000_000]
    assert st[0].factor == (597_000_000_000 * WAD) // 600_000_000_000
    # residual = 5,000 - sum(due) = 800.000001
    assert d.deal.payee_owed(world.admin) == 5_000_000_000 - sum(due)
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
    st = d.tranches()
    assert st[3].balance == 0  # J 80,000 wiped
    assert st[2].balance == 120_000_000_000 - 10_000_000_000
    assert st[3].loss_index == WAD
    assert st[2].loss_index == 10_000_000_000 * WAD // 120_000_000_000
    assert d.deal.waterfall_state(0) == 90_000_000_000


def test_claim_all_and_claim_while_paused(world):
    d = world.d
    world.remit()
    x = world.investors[1]
    d.deal.pause(sender=world.admin)
    owed = d.claimable(1, x)
    assert owed > 0
    assert d.claim(x) == owed  # claimAll works while paused
    with boa.reverts("pausable: contract is paused"):
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
