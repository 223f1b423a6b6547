"""Attacks on the primary offering (Issuance): every way closing can be blocked leaves
the investors a way out; the seller is paid by pull; each class is sold at its
offering price; hostile settlement tokens (USDC-style blacklist, fee on transfer,
re-entrant) cannot create or lock cash; extreme faces close; the real waterfall
distributes and holders claim with cash conserved to the unit."""

from __future__ import annotations

import boa
import pytest
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector as selector

from openmbs.chain import DealConfig, TrancheConfig, deploy_deal, deployer
from openmbs.errors import ChainError, InputError, SpecError
from openmbs.oracle import RemittanceReport, attest

WAD = 10**18
FAR = 2**40
FACES = (600_000_000, 400_000_000)


def _deal(world, *, token=None, faces=FACES, prices=None, reserve=0, seller=None, minimum=0):
    """A two-class deal on the test waterfall (one attestor), offering open."""
    prices = prices or [WAD] * len(faces)
    cfg = DealConfig(
        name="offer",
        tranches=tuple(TrancheConfig(f"C{i}", f"C{i}", f, 0.05, p) for i, (f, p) in enumerate(zip(faces, prices, strict=True))),
        initial_pool_balance=sum(faces),
        initial_loan_count=10,
        quorum=1,
        n_attestors=1,
        reserve_initial=reserve,
        minimum_subscription=minimum,
    )
    return deploy_deal(cfg, attestors=[world.keys[0].address], admin=world.admin,
                       settlement=None if token is None else str(token.address), seller=seller,
                       test_waterfall=True)


def _investors(d, world, n=2, tag="inv"):
    invs = [boa.env.generate_address(f"{tag}{i}") for i in range(n)]
    d.allow([*invs, world.admin], FAR)
    return invs


def _fill(d, world, invs):
    """Investor i subscribes all of class i (paying its price); returns the costs."""
    costs = []
    for i, inv in enumerate(invs):
        face = int(d.deal.original_face(i))
        cost = d.subscription_cost(i, face)
        d.settlement.mint(inv, cost, sender=world.admin)
        assert d.subscribe(inv, i, face) == cost
        costs.append(cost)
    return costs


def _past_deadline(d):
    boa.env.time_travel(seconds=int(d.issuance.close_deadline()) - boa.env.evm.patch.timestamp + 1)


def _remit(world, d, period, beginning, interest, principal):
    r = RemittanceReport(period, principal, 0, interest, 0, 0, beginning, beginning - principal, 10,
                         0, 0, 0, 0, interest + principal, b"\x01" * 32)
    d.settlement.mint(world.admin, r.cash, sender=world.admin)
    d.remit(r, attest(r, [world.keys[0].key], chain_id=d.chain_id(), verifying_contract=d.oracle.address),
            sender=world.admin)


def _escrow_empty(d):
    assert int(d.issuance.escrow_held()) == 0
    assert int(d.settlement.balanceOf(d.issuance.address)) == 0


# ------------------------------------------------------------------ a way out (finding 2)


def test_guardian_pause_cannot_lock_a_full_offering(world):
    """Fully subscribed, then paused for good: past the deadline anyone fails it while
    paused and every investor withdraws while paused."""
    d = _deal(world)
    invs = _investors(d, world)
    costs = _fill(d, world, invs)
    d.deal.pause(sender=world.admin)
    with pytest.raises(boa.BoaError, match="paused"):
        d.close()
    with pytest.raises(boa.BoaError, match="window still open"):
        d.fail(sender=invs[0])
    boa.env.time_travel(seconds=d.config.offering_seconds + 1)
    with pytest.raises(boa.BoaError, match="fully subscribed: close instead"):
        d.fail(sender=invs[0])  # before the deadline a full offering can only close
    _past_deadline(d)
    stranger = boa.env.generate_address("anyone")
    d.fail(sender=stranger)
    assert d.issuance.state() == 2 and d.deal.paused()
    for inv, cost in zip(invs, costs, strict=True):
        assert d.withdraw(inv) == cost
        assert d.settlement.balanceOf(inv) == cost
    _escrow_empty(d)


def test_close_after_the_deadline_is_refused(world):
    d = _deal(world)
    invs = _investors(d, world)
    _fill(d, world, invs)
    _past_deadline(d)
    with pytest.raises(boa.BoaError, match="past the close deadline"):
        d.close()
    d.fail()
    assert d.withdraw(invs[1]) == FACES[1]


def test_settlement_token_blacklisting_the_deal_cannot_lock_deposits(world):
    """The settlement asset blocks the deal (USDC-style): closing cannot fund the
    reserve, so it reverts; past the deadline the offering fails and investors are
    refunded what they paid."""
    token = deployer("BlacklistToken").deploy("Black USD", "bUSD", sender=world.admin)
    d = _deal(world, token=token, reserve=50_000_000)
    invs = _investors(d, world)
    costs = _fill(d, world, invs)
    token.blacklist(d.deal.address, True, sender=world.admin)
    with pytest.raises(boa.BoaError, match="reserve funding failed"):
        d.close()
    _past_deadline(d)
    d.fail(sender=invs[1])
    assert [d.withdraw(inv) for inv in invs] == costs
    _escrow_empty(d)
    assert not d.deal.closed() and d.tokens[0].totalSupply() == 0


def test_blacklisted_seller_cannot_block_closing(world):
    """The seller is paid by pull: a blacklisted seller does not stop closing, and
    names another receiver for its proceeds."""
    token = deployer("BlacklistToken").deploy("Black USD", "bUSD", sender=world.admin)
    seller = boa.env.generate_address("seller")
    d = _deal(world, token=token, reserve=50_000_000, seller=seller)
    invs = _investors(d, world)
    costs = _fill(d, world, invs)
    token.blacklist(seller, True, sender=world.admin)
    d.close(sender=invs[0])
    assert d.deal.closed() and int(d.deal.reserve_balance()) == 50_000_000
    owed = sum(costs) - 50_000_000
    assert int(d.issuance.seller_owed()) == owed == int(d.issuance.escrow_held())
    with pytest.raises(boa.BoaError, match="only seller"):
        d.issuance.withdraw_proceeds(invs[0], sender=invs[0])
    with pytest.raises(boa.BoaError, match="payment failed"):
        d.withdraw_proceeds(sender=seller)
    other = boa.env.generate_address("seller-other")
    assert d.withdraw_proceeds(other, sender=seller) == owed
    assert token.balanceOf(other) == owed
    assert d.withdraw_proceeds(other, sender=seller) == 0
    _escrow_empty(d)
    for inv in invs:
        d.settle(inv)
    assert [d.tokens[i].balanceOf(inv) for i, inv in enumerate(invs)] == list(FACES)


def test_reserve_above_proceeds_is_refused_at_construction(world):
    """The contract checks what the Python config checks: a reserve the proceeds
    cannot fund is refused when the escrow is deployed (prices included)."""
    admin = world.admin
    token = deployer("MockSettlementToken").deploy("m", "m", sender=admin)
    now = boa.env.evm.patch.timestamp

    def make(reserve):
        return deployer("Deal").deploy(token.address, list(FACES), sum(FACES), reserve, admin, admin, admin,
                                       admin, admin, sender=admin)

    deal = make(sum(FACES) + 1)
    with boa.reverts(dev="reserve above proceeds"):
        deployer("Issuance").deploy(deal.address, admin, now, now + 10, now + 20, 0, [WAD, WAD], sender=admin)
    # at par the whole face would fund it, at 90 the proceeds cannot
    deal = make(sum(FACES) - 1)
    deployer("Issuance").deploy(deal.address, admin, now, now + 10, now + 20, 0, [WAD, WAD], sender=admin)
    with boa.reverts(dev="reserve above proceeds"):
        deployer("Issuance").deploy(deal.address, admin, now, now + 10, now + 20, 0, [WAD, 9 * WAD // 10],
                                    sender=admin)
    for args, reason in (
        ((now, now + 10, now + 10, 0, [WAD, WAD]), "close deadline not after the window"),
        ((now, now, now + 10, 0, [WAD, WAD]), "empty window"),
        ((now, now + 10, now + 20, 0, [WAD]), "one price per tranche"),
        ((now, now + 10, now + 20, 0, [WAD, 0]), "price out of range"),
        ((now, now + 10, now + 20, 0, [WAD, 10 * WAD + 1]), "price out of range"),
    ):
        with boa.reverts(dev=reason):
            deployer("Issuance").deploy(deal.address, admin, *args, sender=admin)
    with pytest.raises(InputError, match="reserve_initial"):
        DealConfig(name="x", tranches=(TrancheConfig("X", "X", 100, 0.0, WAD // 2),), initial_pool_balance=100,
                   initial_loan_count=1, reserve_initial=51)


def test_escrow_accepts_no_deposit_unless_the_deal_is_wired_to_it(world):
    """Deposits into an escrow the deal was not configured with (so `close` could
    never mint) are refused before any cash moves."""
    admin = world.admin
    d = _deal(world)
    inv = _investors(d, world, 1, "wire")[0]
    now = boa.env.evm.patch.timestamp
    stray = deployer("Issuance").deploy(d.deal.address, admin, now, now + 100, now + 200, 0, [WAD, WAD],
                                        sender=admin)
    d.settlement.mint(inv, 10**9, sender=admin)
    d.settlement.approve(stray.address, 10**9, sender=inv)
    with boa.reverts(dev="deal not configured with this escrow"):
        stray.subscribe(0, 1_000_000, sender=inv)
    with boa.reverts(dev="deal not configured with this escrow"):
        stray.check_wiring(sender=inv)
    assert d.settlement.balanceOf(inv) == 10**9 and not stray.wired()
    assert d.issuance.wired()  # deploy_deal checked the real escrow's wiring
    # a deal configured with the escrow but a token minted by someone else
    token = deployer("MockSettlementToken").deploy("m", "m", sender=admin)
    deal = deployer("Deal").deploy(token.address, [1_000_000], 1_000_000, 0, admin, admin, admin, admin, admin,
                                   sender=admin)
    iss = deployer("Issuance").deploy(deal.address, admin, now, now + 100, now + 200, 0, [WAD], sender=admin)
    tok = deployer("TrancheToken").deploy("T", "T", deal.address, admin, 0, 1_000_000, sender=admin)
    # (a waterfall of the deal's build: configure checks its bound)
    waterfall = deployer("SequentialTestWaterfall").deploy([0], [1_000_000], deal.address, sender=admin)
    deal.configure([tok.address], iss.address, admin, waterfall.address, sender=admin)
    deal.set_allowed([inv], FAR, sender=admin)
    token.mint(inv, 1_000_000, sender=admin)
    token.approve(iss.address, 1_000_000, sender=inv)
    with boa.reverts(dev="token not minted by this escrow"):
        iss.subscribe(0, 1_000_000, sender=inv)
    assert token.balanceOf(inv) == 1_000_000 and int(iss.escrow_held()) == 0


def test_failed_offering_before_the_deadline_still_needs_a_short_class(world):
    d = _deal(world)
    invs = _investors(d, world)
    d.settlement.mint(invs[0], FACES[0], sender=world.admin)
    d.subscribe(invs[0], 0, FACES[0])
    with pytest.raises(boa.BoaError, match="window still open"):
        d.fail()
    boa.env.time_travel(seconds=d.config.offering_seconds + 1)
    d.fail()
    with pytest.raises(boa.BoaError, match="offering not open"):
        d.close()
    assert d.withdraw(invs[0]) == FACES[0] and d.withdraw(invs[0]) == 0
    _escrow_empty(d)


# ------------------------------------------------------------------ offering prices (finding 3)


def test_io_class_is_sold_at_its_offering_price(world):
    """pac_io: the IO strip is sold at 3.00 per 100 of notional, not at par; the seller
    receives what the buyers paid (the pool, not twice the pool)."""
    from openmbs.chain import config_from_spec
    from openmbs.structuring import example_deal

    spec = example_deal("pac_io")
    cfg = config_from_spec(spec, loan_count=100, quorum=1, n_attestors=1)
    names = list(cfg.exact.names)
    io = names.index("IO")
    assert cfg.tranches[io].offering_price_wad == 3 * 10**16
    assert [t.offering_price_wad for i, t in enumerate(cfg.tranches) if i != io] == [WAD] * (len(names) - 1)
    seller = boa.env.generate_address("pac-seller")
    d = deploy_deal(cfg, attestors=[world.keys[0].address], admin=world.admin, seller=seller)
    # the tokens say which deal and class they are
    assert [(t.name(), t.symbol()) for t in d.tokens] == [(f"openmbs PAC-IO {n}", f"PI-{n}") for n in names]
    invs = _investors(d, world, len(names), "pac")
    paid = []
    for i, inv in enumerate(invs):
        face = int(d.deal.original_face(i))
        # two subscriptions each: each rounds up, in the deal's favour
        first = face // 3
        cost = d.subscription_cost(i, first) + d.subscription_cost(i, face - first)
        d.settlement.mint(inv, cost, sender=world.admin)
        d.settlement.approve(d.issuance.address, cost, sender=inv)
        d.issuance.subscribe(i, first, sender=inv)
        d.issuance.subscribe(i, face - first, sender=inv)
        assert int(d.issuance.deposit_of(inv, i)) == face and int(d.issuance.paid_of(inv, i)) == cost
        assert d.settlement.balanceOf(inv) == 0
        paid.append(cost)
    notional = int(d.deal.original_face(io))
    assert -(-notional * 3 // 100) <= paid[io] <= -(-notional * 3 // 100) + 1
    pool = cfg.initial_pool_balance
    d.close(sender=invs[0])
    assert d.withdraw_proceeds(sender=seller) == sum(paid) - cfg.reserve_initial
    assert sum(paid) < pool * 104 // 100  # not 2 x pool
    for i, inv in enumerate(invs):
        assert d.settle(inv) == int(d.deal.original_face(i))
    _escrow_empty(d)


def test_pac_io_prices_are_the_classes_values_at_the_stated_yields():
    """The prices in pac_io.toml are what its comment says: the IO at 7% and 150% PSA
    is worth about 3.00 per 100 of notional (not 100), the face classes about par."""
    from openmbs.behaviour import Default, Prepayment
    from openmbs.cashflow import project_pool
    from openmbs.pricing import price_at_yield
    from openmbs.structuring import collections_from_projection, example_deal

    spec = example_deal("pac_io")
    p = spec.pool
    cf = project_pool(balance=p.balance, gross_coupon=p.wac, net_coupon=p.net_coupon, original_term=p.term,
                      remaining_term=p.term, loan_age=0, prepayment=Prepayment.psa(150),
                      default=Default.cdr(0.0), severity=0.0, lag=0)
    c = collections_from_projection(cf)
    io = price_at_yield(spec, c, "IO", 0.07, delay_days=spec.payment_delay_days)
    assert abs(io - 3.0055) < 0.005
    listed = {t.name: t.offering_price for t in spec.tranches}
    assert abs(listed["IO"] - io) / io < 0.01
    for name in ("PAC", "SUP"):
        assert listed[name] is None  # par
        assert abs(price_at_yield(spec, c, name, 0.05, delay_days=spec.payment_delay_days) - 100) < 0.5
    with pytest.raises(InputError, match="unknown tranche"):
        price_at_yield(spec, c, "Z", 0.07)


def test_refund_returns_the_cash_paid_not_the_face(world):
    d = _deal(world, prices=[WAD * 101 // 100, WAD * 37 // 1000])
    invs = _investors(d, world)
    costs = []
    for i, inv in enumerate(invs):
        amount = 123_456_789 + i
        cost = d.subscription_cost(i, amount)
        assert cost == -(-amount * [101 * WAD // 100, 37 * WAD // 1000][i] // WAD)
        d.settlement.mint(inv, cost, sender=world.admin)
        d.subscribe(inv, i, amount)
        costs.append(cost)
    _past_deadline(d)
    d.fail()
    assert [d.withdraw(inv) for inv in invs] == costs
    _escrow_empty(d)


def test_io_strip_without_an_offering_price_cannot_be_offered():
    """The analytics need no offering price; deploying an offering does, and an IO strip
    has no par to fall back on (its notional is not what it is worth)."""
    import tomllib

    from openmbs.chain import config_from_spec
    from openmbs.structuring import example_deal_path, parse_deal

    data = tomllib.loads(example_deal_path("pac_io").read_text())
    for t in data["tranches"]:
        t.pop("offering_price", None)
    spec = parse_deal(data, file="pac_io.toml")  # fine for the analytics
    with pytest.raises(SpecError, match="offering_price") as err:
        config_from_spec(spec, loan_count=1)
    io = next(t["name"] for t in data["tranches"] if "notional" in t)
    assert f"tranches[{io}].offering_price" in str(err.value) and "pac_io.toml" in str(err.value)
    data["tranches"][0]["offering_price"] = 0
    with pytest.raises(SpecError, match="offering_price"):
        parse_deal(data, file="pac_io.toml")


def test_config_from_exact_refuses_par_for_an_io_strip():
    from openmbs.chain import config_from_exact
    from openmbs.structuring import compile_exact, example_deal

    exact = compile_exact(example_deal("pac_io"))
    with pytest.raises(InputError, match="IO strip needs an offering price"):
        config_from_exact(exact, name="pac_io", loan_count=1)
    with pytest.raises(InputError, match="one price per tranche"):
        config_from_exact(exact, name="pac_io", loan_count=1, offering_price_wad=[WAD])


# ------------------------------------------------------------------ hostile settlement tokens


def test_fee_on_transfer_token_deposit_is_refused(world):
    token = deployer("FeeOnTransferToken").deploy("Fee USD", "fUSD", sender=world.admin)
    d = _deal(world, token=token)
    inv = _investors(d, world, 1, "fee")[0]
    token.set_fee(10, sender=world.admin)  # 0.1%
    token.mint(inv, FACES[0], sender=world.admin)
    token.approve(d.issuance.address, FACES[0], sender=inv)
    with pytest.raises(boa.BoaError, match="deposit short"):
        d.issuance.subscribe(0, FACES[0], sender=inv)
    assert token.balanceOf(inv) == FACES[0] and int(d.issuance.escrow_held()) == 0


def test_fee_switched_on_after_subscription_cannot_lock_deposits(world):
    """The fee is switched on after the offering fills: funding the reserve arrives
    short, closing reverts, and past the deadline the investors are refunded (the
    token takes its fee on the refund; the escrow's books empty exactly)."""
    token = deployer("FeeOnTransferToken").deploy("Fee USD", "fUSD", sender=world.admin)
    d = _deal(world, token=token, reserve=10_000_000)
    invs = _investors(d, world)
    costs = _fill(d, world, invs)
    token.set_fee(100, sender=world.admin)  # 1%
    with pytest.raises(boa.BoaError, match="reserve not funded"):
        d.close()
    _past_deadline(d)
    d.fail()
    for inv, cost in zip(invs, costs, strict=True):
        assert d.withdraw(inv) == cost
        assert token.balanceOf(inv) == cost - cost // 100
    _escrow_empty(d)


def test_fee_on_transfer_claims_keep_the_deal_books_exact(world):
    """Closed with the fee off; the fee comes on before the claims: the holder gets
    the claim less the token's fee, the deal's books fall by exactly the claim."""
    token = deployer("FeeOnTransferToken").deploy("Fee USD", "fUSD", sender=world.admin)
    d = _deal(world, token=token)
    invs = _investors(d, world)
    _fill(d, world, invs)
    d.close()
    for inv in invs:
        d.settle(inv)
    _remit(world, d, 1, sum(FACES), 4_000_000, 10_000_000)
    token.set_fee(50, sender=world.admin)
    owed = d.claimable(0, invs[0])
    assert d.claim(invs[0]) == owed > 0
    assert token.balanceOf(invs[0]) == owed - owed * 50 // 10_000
    assert int(d.deal.cash_held()) == int(token.balanceOf(d.deal.address))


def test_blacklisted_investor_and_the_others(world):
    """A blacklisted investor cannot take cash (the token refuses it) but blocks no
    one else: subscriptions, closing, settlement, claims and refunds of the others go
    on; unblocked, it is paid in full."""
    token = deployer("BlacklistToken").deploy("Black USD", "bUSD", sender=world.admin)
    d = _deal(world, token=token)
    invs = _investors(d, world)
    _fill(d, world, invs)
    token.blacklist(invs[0], True, sender=world.admin)
    d.close()
    for inv in invs:
        d.settle(inv)  # tranche tokens are not the blacklisted asset
    _remit(world, d, 1, sum(FACES), 4_000_000, 10_000_000)
    owed = d.claimable(0, invs[0])
    with pytest.raises(ChainError, match="transfer failed"):
        d.claim(invs[0], 0)
    owed1 = d.claimable(1, invs[1])
    assert d.claim(invs[1]) == owed1 > 0
    token.blacklist(invs[0], False, sender=world.admin)
    assert d.claim(invs[0], 0) == owed
    assert int(d.deal.cash_held()) == int(token.balanceOf(d.deal.address))


def test_blacklisted_investor_refund_does_not_block_others(world):
    token = deployer("BlacklistToken").deploy("Black USD", "bUSD", sender=world.admin)
    d = _deal(world, token=token)
    invs = _investors(d, world)
    sanctioned = _investors(d, world, 1, "sanctioned")[0]
    token.mint(sanctioned, FACES[0], sender=world.admin)
    token.approve(d.issuance.address, FACES[0], sender=sanctioned)
    token.blacklist(sanctioned, True, sender=world.admin)
    with pytest.raises(boa.BoaError, match="deposit failed"):
        d.issuance.subscribe(0, FACES[0], sender=sanctioned)  # the token refuses its deposit
    assert int(d.issuance.escrow_held()) == 0 and int(d.issuance.subscribed(0)) == 0
    costs = _fill(d, world, invs)
    token.blacklist(invs[0], True, sender=world.admin)
    _past_deadline(d)
    d.fail()
    with pytest.raises(boa.BoaError, match="refund failed"):
        d.withdraw(invs[0])
    assert d.withdraw(invs[1]) == costs[1]
    token.blacklist(invs[0], False, sender=world.admin)
    assert d.withdraw(invs[0]) == costs[0]
    _escrow_empty(d)


# ------------------------------------------------------------------ reentrancy


def _evil_deal(world, *, short=False):
    evil = deployer("MaliciousToken").deploy(sender=world.admin)
    d = _deal(world, token=evil, faces=(1_000_000_000,), seller=str(evil.address))
    d.allow([world.admin, str(evil.address)], FAR)
    evil.mint(evil.address, 10**15)
    approve = selector("approve(address,uint256)") + abi_encode(["address", "uint256"], [str(d.issuance.address), 2**255])
    evil.call_as_token(evil.address, approve)
    amount = 600_000_000 if short else 1_000_000_000
    evil.call_as_token(d.issuance.address, selector("subscribe(uint256,uint256)") + abi_encode(["uint256", "uint256"], [0, amount]))
    return evil, d


def test_reentrancy_into_withdraw_fails(world):
    evil, d = _evil_deal(world, short=True)
    boa.env.time_travel(seconds=d.config.offering_seconds + 1)
    d.fail()
    call = selector("withdraw()")
    evil.arm(d.issuance.address, call)
    before = evil.balanceOf(evil.address)
    evil.call_as_token(d.issuance.address, call)
    assert evil.reentry_attempts() == 1 and evil.reentry_successes() == 0
    assert evil.balanceOf(evil.address) - before == 600_000_000
    _escrow_empty(d)


def test_reentrancy_into_withdraw_proceeds_claim_payee_and_claim_all_fails(world):
    evil, d = _evil_deal(world)
    d.issuance.close(sender=world.admin)
    wp = selector("withdraw_proceeds(address)") + abi_encode(["address"], [str(evil.address)])
    evil.arm(d.issuance.address, wp)
    before = evil.balanceOf(evil.address)
    evil.call_as_token(d.issuance.address, wp)
    assert evil.reentry_attempts() == 1 and evil.reentry_successes() == 0
    assert evil.balanceOf(evil.address) - before == 1_000_000_000
    evil.call_as_token(d.issuance.address, selector("settle()"))  # the evil token holds all the class
    evil.mint(world.admin, 10**12)
    r = RemittanceReport(1, 10_000_000, 0, 9_000_000, 0, 0, 1_000_000_000, 990_000_000, 10,
                         0, 0, 0, 0, 19_000_000, b"\x01" * 32)
    d.remit(r, attest(r, [world.keys[0].key], chain_id=d.chain_id(), verifying_contract=d.oracle.address),
            sender=world.admin)
    held = int(d.deal.cash_held())
    payee = int(d.deal.payee_owed(evil.address))
    assert payee > 0  # the residual (the evil token is the seller, so fee and residual recipient)
    cp = selector("claim_payee()")
    evil.arm(d.deal.address, cp)
    before = evil.balanceOf(evil.address)
    evil.call_as_token(d.deal.address, cp)
    assert evil.reentry_attempts() == 2 and evil.reentry_successes() == 0
    assert evil.balanceOf(evil.address) - before == payee
    owed = d.claimable(0, evil.address)
    ca = selector("claim_all()")
    evil.arm(d.deal.address, ca)
    before = evil.balanceOf(evil.address)
    evil.call_as_token(d.deal.address, ca)
    assert evil.reentry_attempts() == 3 and evil.reentry_successes() == 0
    assert evil.balanceOf(evil.address) - before == owed > 0
    assert int(d.deal.cash_held()) == held - payee - owed == int(evil.balanceOf(d.deal.address))


# ------------------------------------------------------------------ extreme faces


def test_extreme_faces_close_settle_and_claim(world, chain):
    """A class of 2**96 - 1 units and a class of 1 unit (at the highest price) go
    through subscription, closing, settlement, a remittance and claims, on the REAL
    waterfall (a sequential two-class deal whose faces are set in the compiled deal:
    a spec's decimal balances cannot state 2**96 - 1 units exactly)."""
    import dataclasses

    big, tiny = 2**96 - 1, 1
    small = tuple(TrancheConfig(f"C{i}", f"C{i}", 10**6, 0.05) for i in range(2))
    cfg = chain.exact_config("offer", small, pool=2 * 10**6, loans=10, quorum=1, n_attestors=1)
    exact = dataclasses.replace(cfg.exact, face=(big, tiny), pool_original=big + tiny)
    tranches = tuple(TrancheConfig(f"C{i}", f"C{i}", f, 0.05, p)
                     for i, (f, p) in enumerate(zip((big, tiny), (WAD, 10 * WAD), strict=True)))
    cfg = dataclasses.replace(cfg, exact=exact, tranches=tranches, initial_pool_balance=big + tiny)
    d = deploy_deal(cfg, attestors=[world.keys[0].address], admin=world.admin)
    invs = _investors(d, world)
    costs = _fill(d, world, invs)
    assert costs == [big, 10]
    d.close()
    for inv in invs:
        d.settle(inv)
    assert d.tokens[0].balanceOf(invs[0]) == big and d.tokens[1].balanceOf(invs[1]) == 1
    interest, principal = 10**24, 10**25
    _remit(world, d, 1, big + tiny, interest, principal)
    idx = [int(d.deal.interest_index(t)) + int(d.deal.principal_index(t)) for t in range(2)]
    paid = d.claim(invs[0]) + d.claim(invs[1])
    assert paid == big * idx[0] // WAD + tiny * idx[1] // WAD > 0
    # each index is floored (the remainder carried to the next period): less than one
    # index unit (face / 1e18 units of cash) per index stays in the deal as dust
    assert 0 <= int(d.deal.cash_credited()) - paid <= 2 * (big // WAD + 1) + 2
    assert int(d.deal.cash_held()) == int(d.settlement.balanceOf(d.deal.address))


# ------------------------------------------------------------------ the real waterfall


def test_real_waterfall_remittances_and_claims_conserve_cash(world):
    """four_tranche on the REAL ExactWaterfall: staggered settlement, a transfer,
    remittances and claims; every unit paid in is claimed, owed to payees, in the
    reserve, or rounding dust of at most one unit per holder and tranche."""
    from openmbs.chain import config_from_spec
    from openmbs.structuring import example_deal

    cfg = config_from_spec(example_deal("four_tranche"), loan_count=100, quorum=1, n_attestors=1)
    admin = world.admin
    d = deploy_deal(cfg, attestors=[world.keys[0].address], admin=admin)
    n = len(cfg.tranches)
    invs = _investors(d, world, 2 * n, "real")
    for i in range(n):
        face = int(d.deal.original_face(i))
        for inv, amount in ((invs[2 * i], face // 3), (invs[2 * i + 1], face - face // 3)):
            d.settlement.mint(inv, d.subscription_cost(i, amount), sender=admin)
            d.subscribe(inv, i, amount)
    d.close()
    for inv in invs[::2]:
        d.settle(inv)
    balance = cfg.initial_pool_balance
    deal_in = int(d.settlement.balanceOf(d.deal.address))  # the reserve deposit
    paid_in = 0
    buyer = _investors(d, world, 1, "real-buyer")[0]
    for period in range(1, 7):
        interest, principal = balance * 55 // 12_000, balance // 50
        _remit(world, d, period, balance, interest, principal)
        paid_in += interest + principal
        balance -= principal
        if period == 2:
            for inv in invs[1::2]:
                d.settle(inv)
        if period == 3:
            d.tokens[0].transfer(buyer, int(d.tokens[0].balanceOf(invs[0])) // 2, sender=invs[0])
        if period % 2 == 0:
            for inv in invs[: n]:
                d.claim(inv)
    holders = [*invs, buyer]
    for h in holders:
        d.claim(h)
    payees = int(d.deal.payee_owed(admin))
    d.deal.claim_payee(sender=admin)
    credited, claimed = int(d.deal.cash_credited()), int(d.deal.cash_claimed())
    dust = credited - claimed
    assert 0 <= dust <= len(holders) * n
    assert int(d.deal.cash_held()) == dust + int(d.deal.reserve_balance())
    assert int(d.settlement.balanceOf(d.deal.address)) == int(d.deal.cash_held())
    assert deal_in + paid_in == claimed + payees + int(d.deal.cash_held())
    assert all(d.claimable(t, h) == 0 for t in range(n) for h in [*holders, d.issuance.address])
