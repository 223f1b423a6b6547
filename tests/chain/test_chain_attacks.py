"""Attacks on the deal; in each test the attack fails."""

from __future__ import annotations

import boa
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as selector

from openmbs.chain import deployer
from openmbs.errors import RemittanceRejected
from openmbs.oracle import Attestation, attest

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _rejected(world, report, sigs, match):
    period, held = world.d.deal.last_period(), world.d.deal.cash_held()
    with pytest.raises(RemittanceRejected, match=match):
        world.d.remit(report, sigs)
    assert world.d.deal.last_period() == period and world.d.deal.cash_held() == held


# ------------------------------------------------------------------ signatures

def test_forged_signature_rejected(world):
    r = world.report()
    outsider = Account.from_key(b"\x99" * 32)
    sigs = attest(r, [k.key for k in world.keys[:2]] + [outsider.key],
                  chain_id=world.d.chain_id(), verifying_contract=world.d.oracle.address)
    _rejected(world, r, sigs, "signer is not an attestor")


def test_duplicate_signature_rejected(world):
    r = world.report()
    s = world.sign(r, 2)
    _rejected(world, r, [s[0], s[0], s[1]], "signers not sorted and unique")


def test_unsorted_signatures_rejected(world):
    r = world.report()
    s = world.sign(r, 3)
    _rejected(world, r, [s[1], s[0], s[2]], "signers not sorted and unique")


def test_malleable_signature_rejected(world):
    r = world.report()
    s = world.sign(r, 3)
    high_s = SECP256K1_N - int.from_bytes(s[0].s, "big")
    twin = Attestation(s[0].signer, 55 - s[0].v, s[0].r, high_s.to_bytes(32, "big"), s[0].deadline)
    _rejected(world, r, [twin, s[1], s[2]], "invalid signature `s` value")


def test_under_quorum_rejected(world):
    r = world.report()
    _rejected(world, r, world.sign(r, 2), "below quorum")


def test_signature_replayed_on_another_period_rejected(world):
    r1 = world.remit()
    sigs = world.sign(r1, 3)
    # the same report again: the period is used
    _rejected(world, r1, sigs, "period out of order")
    # the same figures relabelled period 2, with period 1's signatures
    r2 = world.report(sched=r1.scheduled_principal, unsched=r1.unscheduled_principal, interest=r1.interest)
    _rejected(world, r2, sigs, "signer is not an attestor")


def test_signature_for_another_contract_or_chain_rejected(world):
    r = world.report()
    keys = [k.key for k in world.keys[:3]]
    other = attest(r, keys, chain_id=world.d.chain_id(), verifying_contract=str(world.d.deal.address))
    _rejected(world, r, other, "signer is not an attestor")
    other_chain = attest(r, keys, chain_id=world.d.chain_id() + 1, verifying_contract=world.d.oracle.address)
    _rejected(world, r, other_chain, "signer is not an attestor")
    world.d.remit(r, world.sign(r))  # the genuine ones pass
    assert world.d.deal.last_period() == 1


# ------------------------------------------------------------------ figures and cash

def test_report_whose_cash_is_short_rejected(world):
    r = world.report()
    short = world.report(cash=r.cash - 1)
    _rejected(world, short, world.sign(short), "cash != collections")
    # a servicer without the cash cannot deposit it
    poor = world.holder("poor-servicer")
    # (SERVICER_ROLE is the ServicerBond's to grant: docs/chain.md, "Servicer bond")
    world.d.oracle.grantRole(world.d.oracle.SERVICER_ROLE(), poor, sender=world.d.bond.address)
    with pytest.raises(RemittanceRejected):
        world.d.remit(r, world.sign(r), sender=poor)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"beginning": 10**12 + 1}, "beginning balance != last ending balance"),
        ({"interest": 10**12 // 12 * 3}, "interest above balance x max rate"),
        ({"sched": 10**12, "unsched": 1}, "principal above beginning balance"),
        ({"loan_count": 11}, "loan count grew"),
        ({"period": 2}, "period out of order"),
        ({"root": b"\0" * 32}, "empty loan tape root"),
    ],
)
def test_out_of_bounds_reports_rejected(world, kw, reason):
    r = world.report(**kw)
    _rejected(world, r, world.sign(r), reason)


# ------------------------------------------------------------------ reentrancy and donations

def test_reentrancy_through_malicious_token_fails(world, exact_config):
    from openmbs.chain import TrancheConfig, deploy_deal

    admin = world.admin
    evil = deployer("MaliciousToken").deploy(sender=admin)
    cfg = exact_config("evil", (TrancheConfig("X", "X", 1_000_000_000, 0.05),), pool=1_000_000_000,
                       loans=10, quorum=1, n_attestors=1)
    d = deploy_deal(cfg, attestors=[world.keys[0].address], admin=admin, settlement=evil.address)
    d.allow([admin, evil.address], 2**40)
    evil.mint(admin, 10**15)
    d.subscribe(admin, 0, 1_000_000_000)
    d.close()
    d.settle(admin)
    d.tokens[0].transfer(evil.address, 400_000_000, sender=admin)  # the attacker holds 40%
    from openmbs.oracle import RemittanceReport
    r = RemittanceReport(1, 10_000_000, 0, 5_000_000, 0, 0, 1_000_000_000, 990_000_000, 10,
                         0, 0, 0, 0, 15_000_000, b"\x01" * 32)
    # re-entering the oracle during the servicer's deposit fails
    evil.arm(d.oracle.address, b"")  # any call into the locked oracle
    d.remit(r, attest(r, [world.keys[0].key], chain_id=d.chain_id(), verifying_contract=d.oracle.address))
    assert evil.reentry_attempts() == 1 and evil.reentry_successes() == 0
    # re-entering claim during the claim's payment fails; the attacker is paid once
    owed = d.claimable(0, evil.address)
    assert owed > 0
    claim = selector("claim(uint256)") + abi_encode(["uint256"], [0])
    evil.arm(d.deal.address, claim)
    before = evil.balanceOf(evil.address)
    evil.call_as_token(d.deal.address, claim)
    assert evil.reentry_attempts() == 2 and evil.reentry_successes() == 0
    assert evil.balanceOf(evil.address) - before == owed
    assert d.claimable(0, evil.address) == 0


def test_donation_does_not_change_accounting(world):
    d = world.d
    world.remit()
    a = world.investors[0]
    owed, held = d.claimable(0, a), int(d.deal.cash_held())
    d.settlement.transfer(d.deal.address, 12_345_678_901, sender=world.admin)
    d.settlement.transfer(d.oracle.address, 1_000, sender=world.admin)
    assert d.claimable(0, a) == owed and d.deal.cash_held() == held
    world.remit()  # the receipt check measures the delta, so a donation does not break it
    assert d.deal.cash_held() == held + 8_000_000_000


# ------------------------------------------------------------------ transfer rules

def test_frozen_or_expired_holder_cannot_move_tokens(world):
    d, tok = world.d, world.d.tokens[1]
    owner, spender, to = world.investors[1], world.holder("spender"), world.holder("to")
    tok.approve(spender, 10**12, sender=owner)
    d.deal.set_frozen(owner, True, sender=world.admin)
    with pytest.raises(boa.BoaError, match="holder frozen"):
        tok.transfer(to, 1, sender=owner)
    with pytest.raises(boa.BoaError, match="holder frozen"):
        tok.transferFrom(owner, to, 1, sender=spender)
    d.deal.set_frozen(owner, False, sender=world.admin)
    # a frozen receiver cannot receive either
    d.deal.set_frozen(to, True, sender=world.admin)
    with pytest.raises(boa.BoaError, match="holder frozen"):
        tok.transfer(to, 1, sender=owner)
    d.deal.set_frozen(to, False, sender=world.admin)
    # expiry
    now = boa.env.evm.patch.timestamp
    d.allow([owner], now + 100)
    tok.transfer(to, 1, sender=owner)
    boa.env.time_travel(seconds=101)
    with pytest.raises(boa.BoaError, match="holder not allowed"):
        tok.transfer(to, 1, sender=owner)
    with pytest.raises(boa.BoaError, match="holder not allowed"):
        tok.transferFrom(owner, to, 1, sender=spender)
    # a receiver never allowlisted
    stranger = boa.env.generate_address()
    with pytest.raises(boa.BoaError, match="holder not allowed"):
        tok.transfer(stranger, 1, sender=to)


def _permit_sig(key, tok, spender, value, nonce, deadline):
    data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {"name": tok.name(), "version": "1", "chainId": boa.env.evm.patch.chain_id,
                   "verifyingContract": str(tok.address)},
        "message": {"owner": Account.from_key(key).address, "spender": spender, "value": value,
                    "nonce": nonce, "deadline": deadline},
    }
    s = Account.sign_typed_data(key, full_message=data)
    return s.v, s.r.to_bytes(32, "big"), s.s.to_bytes(32, "big")


def test_permit_path_respects_freeze(world):
    d, tok = world.d, world.d.tokens[2]
    key = b"\x31" * 32
    owner = Account.from_key(key).address
    d.allow([owner], 2**40)
    tok.transfer(owner, 1_000_000, sender=world.investors[2])
    spender, to = world.holder("pspender"), world.holder("pto")
    deadline = boa.env.evm.patch.timestamp + 3600
    v, r, s = _permit_sig(key, tok, spender, 500_000, 0, deadline)
    tok.permit(owner, spender, 500_000, deadline, v, r, s, sender=spender)
    assert tok.allowance(owner, spender) == 500_000
    d.deal.set_frozen(owner, True, sender=world.admin)
    with pytest.raises(boa.BoaError, match="holder frozen"):
        tok.transferFrom(owner, to, 1, sender=spender)
    v, r, s = _permit_sig(key, tok, spender, 900_000, 1, deadline)
    with pytest.raises(boa.BoaError, match="holder frozen"):
        tok.permit(owner, spender, 900_000, deadline, v, r, s, sender=spender)
    d.deal.set_frozen(owner, False, sender=world.admin)
    tok.transferFrom(owner, to, 500_000, sender=spender)
    assert tok.balanceOf(to) == 500_000
    # a replayed permit fails (nonce used)
    v, r, s = _permit_sig(key, tok, spender, 500_000, 0, deadline)
    with pytest.raises(boa.BoaError, match="invalid permit signature"):
        tok.permit(owner, spender, 500_000, deadline, v, r, s, sender=spender)


# ------------------------------------------------------------------ claims around transfers, dust

def test_claim_front_running_around_a_transfer(world):
    d = world.d
    a, b = world.investors[0], world.holder("buyer")
    world.remit()
    owed = d.claimable(0, a)
    bal = d.tokens[0].balanceOf(a)
    with boa.env.anchor():  # order 1: the buyer claims right after the transfer
        d.tokens[0].transfer(b, bal, sender=a)
        assert d.claim(b, 0) == 0
        assert d.claim(a, 0) == owed
    with boa.env.anchor():  # order 2: the seller claims first, then transfers
        assert d.claim(a, 0) == owed
        d.tokens[0].transfer(b, bal, sender=a)
        assert d.claim(b, 0) == 0 and d.claim(a, 0) == 0
    # after the next period the buyer earns on the whole position
    d.tokens[0].transfer(b, bal, sender=a)
    world.remit()
    idx = int(d.deal.interest_index(0)) + int(d.deal.principal_index(0))
    ck, _ = d.deal.checkpoint_of(0, b)
    assert d.claim(b, 0) == bal * (idx - ck) // 10**18
    assert d.claim(a, 0) == owed


def test_dust_extraction_yields_nothing_extra(world):
    d, tok = world.d, world.d.tokens[3]
    honest, x, y = world.investors[3], world.holder("x"), world.holder("y")
    tok.transfer(x, 7, sender=honest)  # attacker splits a tiny position over two accounts
    got = 0
    for _ in range(3):
        world.remit()
        for _ in range(5):
            for src, dst in ((x, y), (y, x)):
                amt = tok.balanceOf(src)
                if amt:
                    tok.transfer(dst, amt, sender=src)
                got += d.claim(src, 3) + d.claim(dst, 3)
    idx = int(d.deal.interest_index(3)) + int(d.deal.principal_index(3))
    assert got <= 7 * idx // 10**18  # never more than an untouched 7-unit position earns


# ------------------------------------------------------------------ authority

def test_unauthorised_mint_pause_and_parameter_changes(world):
    d = world.d
    mallory = world.holder("mallory")
    with pytest.raises(boa.BoaError, match="only minter"):
        d.tokens[0].mint(mallory, 1, sender=mallory)
    with pytest.raises(boa.BoaError, match="minting finished"):
        d.tokens[0].mint(mallory, 1, sender=d.issuance.address)
    with pytest.raises(boa.BoaError, match="missing role"):
        d.deal.pause(sender=mallory)
    with pytest.raises(boa.BoaError, match="missing role"):
        d.deal.set_frozen(world.investors[0], True, sender=mallory)
    with pytest.raises(boa.BoaError, match="missing role"):
        d.deal.grantRole(d.deal.GUARDIAN_ROLE(), mallory, sender=mallory)
    for call in (
        lambda s: d.oracle.set_quorum(1, sender=s),
        lambda s: d.oracle.set_attestor(mallory, True, sender=s),
        lambda s: d.oracle.set_bounds(10**18, 10**18, sender=s),
        lambda s: d.deal.set_waterfall(mallory, sender=s),
        lambda s: d.deal.set_recipients(mallory, mallory, sender=s),
    ):
        for who in (mallory, world.admin):  # not even the admin EOA: only DEFAULT_ADMIN_ROLE (the timelock)
            with pytest.raises(boa.BoaError, match="missing role"):
                call(who)
    with pytest.raises(boa.BoaError, match="only oracle"):
        d.deal.distribute(world.report().as_tuple(), sender=mallory)
    with pytest.raises(boa.BoaError, match="missing role"):
        d.oracle.submit(world.report().as_tuple(), 2**40, [], sender=mallory)


def test_timelock_queue_execute_cancel(world):
    d, tl, admin = world.d, world.d.timelock, world.admin
    payload = selector("set_quorum(uint256)") + abi_encode(["uint256"], [4])
    zero = b"\0" * 32
    delay = int(tl.get_minimum_delay())
    tl.schedule(d.oracle.address, 0, payload, zero, zero, delay, sender=admin)
    with pytest.raises(boa.BoaError):
        tl.execute(d.oracle.address, 0, payload, zero, zero, sender=admin)  # too early
    boa.env.time_travel(seconds=delay)
    tl.execute(d.oracle.address, 0, payload, zero, zero, sender=admin)
    assert d.oracle.quorum() == 4
    r = world.report()
    _rejected(world, r, world.sign(r, 3), "below quorum")
    salt = b"\x01" * 32
    tl.schedule(d.deal.address, 0, selector("set_waterfall(address)") + abi_encode(["address"], [admin]),
                zero, salt, delay, sender=admin)
    op = tl.hash_operation(d.deal.address, 0, selector("set_waterfall(address)") + abi_encode(["address"], [admin]), zero, salt)
    tl.cancel(op, sender=admin)
    boa.env.time_travel(seconds=delay)
    with pytest.raises(boa.BoaError):
        tl.execute(d.deal.address, 0, selector("set_waterfall(address)") + abi_encode(["address"], [admin]), zero, salt, sender=admin)
    mallory = world.holder("m2")
    with pytest.raises(boa.BoaError, match="missing role"):
        tl.schedule(d.oracle.address, 0, payload, zero, salt, delay, sender=mallory)


# ------------------------------------------------------------------ checkpoints held by the tokens


def test_only_the_deal_settles_a_holder(world):
    """`take` moves a holder's checkpoint and hands over what it is owed: a caller
    other than the deal (the holder itself, a stranger) is refused."""
    d = world.d
    world.remit()
    a = world.investors[0]
    owed = d.claimable(0, a)
    idx = int(d.deal.interest_index(0)) + int(d.deal.principal_index(0))
    for who in (a, world.holder("mallory-take"), d.issuance.address):
        with pytest.raises(boa.BoaError, match="only deal"):
            d.tokens[0].take(a, idx + 10**30, sender=who)
    assert d.claimable(0, a) == owed and d.claim(a, 0) == owed


def test_transfer_inside_a_claim_fails(world, exact_config):
    """While the deal pays a claim, a tranche transfer (re-entered from the payment)
    cannot run: the transfer hook is a view of the locked deal."""
    from openmbs.chain import TrancheConfig, deploy_deal
    from openmbs.oracle import RemittanceReport

    admin = world.admin
    evil = deployer("MaliciousToken").deploy(sender=admin)
    cfg = exact_config("evil2", (TrancheConfig("X", "X", 1_000_000_000, 0.05),), pool=1_000_000_000,
                       loans=10, quorum=1, n_attestors=1)
    d = deploy_deal(cfg, attestors=[world.keys[0].address], admin=admin, settlement=evil.address)
    d.allow([admin, evil.address], 2**40)
    evil.mint(admin, 10**15)
    d.subscribe(admin, 0, 1_000_000_000)
    d.close()
    d.settle(admin)
    d.tokens[0].transfer(evil.address, 400_000_000, sender=admin)
    r = RemittanceReport(1, 10_000_000, 0, 5_000_000, 0, 0, 1_000_000_000, 990_000_000, 10,
                         0, 0, 0, 0, 15_000_000, b"\x01" * 32)
    d.remit(r, attest(r, [world.keys[0].key], chain_id=d.chain_id(), verifying_contract=d.oracle.address))
    owed = d.claimable(0, evil.address)
    # during the claim's payment the attacker moves its tokens to a fresh account
    move = selector("transfer(address,uint256)") + abi_encode(["address", "uint256"], [admin, 400_000_000])
    evil.arm(d.tokens[0].address, move)
    claim = selector("claim(uint256)") + abi_encode(["uint256"], [0])
    evil.call_as_token(d.deal.address, claim)
    assert evil.reentry_attempts() == 1 and evil.reentry_successes() == 0
    assert d.tokens[0].balanceOf(evil.address) == 400_000_000
    assert d.claimable(0, evil.address) == 0 and owed > 0


def test_self_transfer_and_zero_transfer_change_nothing(world):
    d, tok = world.d, world.d.tokens[0]
    a = world.investors[0]
    world.remit()
    owed, bal = d.claimable(0, a), tok.balanceOf(a)
    tok.transfer(a, bal // 3, sender=a)
    tok.transfer(world.investors[1], 0, sender=a)
    assert tok.balanceOf(a) == bal and d.claimable(0, a) == owed
    with pytest.raises(boa.BoaError, match="exceeds balance"):
        tok.transfer(world.investors[1], bal + 1, sender=a)
    assert d.claim(a, 0) == owed
