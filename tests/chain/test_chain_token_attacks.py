"""Attacks on the tranche tokens' transfer paths and on settlement out of the escrow.

Each test is the attacker's (or the unlucky investor's) sequence; it passes when the
attack fails: an investor who settles late, or is frozen and unfrozen, still receives
every unit distributed on their tokens since closing; a spender that may not hold
cannot move tokens; zero-amount and self transfers cannot move a checkpoint.
"""

from __future__ import annotations

from typing import Any

import boa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

WAD = 10**18
FAR_FUTURE = 2**40  # allowlisted until then (as the chain conftest)
A_FACE, B_FACE = 600_000_000_000, 400_000_000_000


@pytest.fixture
def primary(_primary: Any) -> Any:
    """The module's deal, its chain AND the exact engine beside it rolled back after
    each test."""
    with _primary.anchor():
        yield _primary


@pytest.fixture(scope="module")
def _primary(world: Any, chain: Any) -> Any:
    """A closed two-tranche deal whose investors have NOT settled yet.

    Investors 0 and 1 each subscribed half of A, investor 2 all of B. Built once per
    module (before the per-test anchor), so each test starts from the same state.
    """
    from openmbs.chain import TrancheConfig, deploy_deal

    admin = world.admin
    tranches = (TrancheConfig("Senior A", "A", A_FACE, 0.04), TrancheConfig("Junior B", "B", B_FACE, 0.07))
    cfg = chain.exact_config("primary", tranches, pool=A_FACE + B_FACE, loans=10)
    d = deploy_deal(cfg, attestors=[k.address for k in world.keys], admin=admin)
    investors = [boa.env.generate_address(f"primary{i}") for i in range(3)]
    d.allow([*investors, admin], chain.FAR_FUTURE)
    for inv, t, amount in ((investors[0], 0, A_FACE // 2), (investors[1], 0, A_FACE // 2), (investors[2], 1, B_FACE)):
        d.settlement.mint(inv, d.issuance.cost_of(t, amount) if hasattr(d.issuance, "cost_of") else amount,
                          sender=admin)
        d.subscribe(inv, t, amount)
    d.close()
    d.settlement.mint(admin, 10**15, sender=admin)
    return chain.World(d=d, admin=admin, investors=investors, keys=world.keys)


def _cash_index(d, t: int) -> int:
    return int(d.deal.interest_index(t)) + int(d.deal.principal_index(t))


def _claims_fit_in_cash(d, holders) -> None:
    """What every holder (and the escrow, for the unsettled) could claim, plus what was
    claimed, never exceeds the cash credited to the tranches."""
    owed = sum(d.claimable(t, h) for t in range(len(d.tokens)) for h in [*holders, d.issuance.address])
    assert owed + int(d.deal.cash_claimed()) <= int(d.deal.cash_credited())


# ------------------------------------------------------------------ late settlement (finding 1)


@pytest.mark.parametrize("periods", [1, 3, 12])
def test_late_settlement_receives_every_distribution(primary, periods):
    """Investor 0 settles before the first remittance, investor 1 (same face) after
    `periods` remittances: both receive the same cash, to the unit."""
    d = primary.d
    early, late = primary.investors[0], primary.investors[1]
    d.settle(early)
    for _ in range(periods):
        primary.remit()
    _claims_fit_in_cash(d, primary.investors)
    assert d.settle(late) == A_FACE // 2
    _claims_fit_in_cash(d, primary.investors)
    expected = (A_FACE // 2) * _cash_index(d, 0) // WAD
    assert expected > 0
    assert d.claim(late, 0) == expected
    assert d.claim(early, 0) == expected
    _claims_fit_in_cash(d, primary.investors)


def test_late_settlement_between_claims_and_transfers(primary):
    """The late investor's carried accrual survives its own later transfers and claims."""
    d = primary.d
    early, late, b = primary.investors
    d.settle(early)
    d.settle(b)
    primary.remit()
    primary.remit()
    got_early = d.claim(early, 0)
    d.settle(late)
    buyer = primary.holder("late-buyer")
    d.tokens[0].transfer(buyer, A_FACE // 6, sender=late)  # checkpoints late with its carried cash
    assert d.claim(late, 0) == got_early
    primary.remit()
    idx = _cash_index(d, 0)
    total_early = got_early + d.claim(early, 0)
    total_late = got_early + d.claim(late, 0) + d.claim(buyer, 0)
    assert total_early == (A_FACE // 2) * idx // WAD
    assert total_late >= total_early - 1  # one extra rounding at the transfer's checkpoint
    _claims_fit_in_cash(d, [*primary.investors, buyer])


def test_late_settlement_into_an_existing_position(primary):
    """An investor who already bought some of the class on the market settles late:
    its settled tokens are credited everything since closing (rounded down once), its
    bought tokens keep their own checkpoint."""
    d = primary.d
    early, late = primary.investors[0], primary.investors[1]
    d.settle(early)
    primary.remit()
    primary.remit()
    bought = 12_345_678_901
    i2 = _cash_index(d, 0)
    d.tokens[0].transfer(late, bought, sender=early)
    primary.remit()
    i3 = _cash_index(d, 0)
    d.settle(late)
    assert tuple(d.deal.checkpoint_of(0, late)) == (i3, bought * (i3 - i2) // WAD + (A_FACE // 2) * i3 // WAD)
    primary.remit()
    i4 = _cash_index(d, 0)
    got = d.claim(late, 0)
    assert got == bought * (i3 - i2) // WAD + (A_FACE // 2) * i3 // WAD + (A_FACE // 2 + bought) * (i4 - i3) // WAD
    exact = (A_FACE // 2) * i4 // WAD + bought * (i4 - i2) // WAD
    assert exact - 2 <= got <= exact
    _claims_fit_in_cash(d, [*primary.investors])


def test_frozen_then_unfrozen_investor_receives_everything_since_closing(primary):
    d, admin = primary.d, primary.admin
    early, late = primary.investors[0], primary.investors[1]
    d.settle(early)
    d.deal.set_frozen(late, True, sender=admin)
    for _ in range(3):
        primary.remit()
    with pytest.raises(boa.BoaError, match="holder frozen"):
        d.issuance.settle(sender=late)
    primary.remit()
    d.deal.set_frozen(late, False, sender=admin)
    assert d.settle(late) == A_FACE // 2
    expected = (A_FACE // 2) * _cash_index(d, 0) // WAD
    assert d.claim(late) == expected == d.claim(early)


def test_delisted_then_relisted_investor_receives_everything_since_closing(primary):
    d, admin = primary.d, primary.admin
    early, late = primary.investors[0], primary.investors[1]
    d.settle(early)
    d.deal.set_allowed([late], 0, sender=admin)
    primary.remit()
    with pytest.raises(boa.BoaError, match="holder not allowed"):
        d.issuance.settle(sender=late)
    primary.remit()
    d.allow([late], FAR_FUTURE)
    d.settle(late)
    assert d.claim(late, 0) == d.claim(early, 0) == (A_FACE // 2) * _cash_index(d, 0) // WAD


def test_escrow_cannot_be_frozen_or_delisted(primary):
    d, admin = primary.d, primary.admin
    escrow = d.issuance.address
    with pytest.raises(boa.BoaError, match="the escrow is always allowed"):
        d.deal.set_frozen(escrow, True, sender=admin)
    with pytest.raises(boa.BoaError, match="the escrow is always allowed"):
        d.deal.set_allowed([primary.investors[0], escrow], 0, sender=admin)
    assert not d.deal.frozen(escrow) and d.deal.allowed_until(escrow) == 2**64 - 1
    primary.remit()
    d.settle(primary.investors[1])
    assert d.claim(primary.investors[1], 0) == (A_FACE // 2) * _cash_index(d, 0) // WAD


def test_nothing_transfers_into_the_escrow(primary):
    """A holder cannot park tokens in the escrow (where accrual is carried to whoever
    settles next)."""
    d = primary.d
    early = primary.investors[0]
    d.settle(early)
    primary.remit()
    with pytest.raises(boa.BoaError, match="transfer to the escrow"):
        d.tokens[0].transfer(d.issuance.address, 1, sender=early)
    spender = primary.holder("escrow-spender")
    d.tokens[0].approve(spender, 10, sender=early)
    with pytest.raises(boa.BoaError, match="transfer to the escrow"):
        d.tokens[0].transferFrom(early, d.issuance.address, 1, sender=spender)


def test_cash_conserved_with_staggered_settlement(primary):
    """Settlements spread over periods: every claim fits in the cash credited at every
    step, and at the end what is left in the deal is rounding dust only."""
    d = primary.d
    a0, a1, b = primary.investors
    held0 = int(d.settlement.balanceOf(d.deal.address))
    primary.remit()
    d.settle(b)
    _claims_fit_in_cash(d, primary.investors)
    primary.remit()
    d.settle(a0)
    d.claim(b)
    _claims_fit_in_cash(d, primary.investors)
    primary.remit()
    d.settle(a1)
    _claims_fit_in_cash(d, primary.investors)
    for h in primary.investors:
        d.claim(h)
    credited, claimed = int(d.deal.cash_credited()), int(d.deal.cash_claimed())
    assert 0 <= credited - claimed <= 3  # one unit of rounding per holder at most
    assert int(d.settlement.balanceOf(d.deal.address)) - held0 == int(d.deal.cash_held())
    assert d.claimable(0, d.issuance.address) == 0 and d.tokens[0].balanceOf(d.issuance.address) == 0


# ------------------------------------------------------------------ spender and checkpoints (finding 4)


def test_frozen_spender_cannot_move_tokens(world):
    d, tok = world.d, world.d.tokens[1]
    owner, spender, to = world.investors[1], world.holder("frozen-spender"), world.holder("fs-to")
    tok.approve(spender, 10**9, sender=owner)
    d.deal.set_frozen(spender, True, sender=world.admin)
    with pytest.raises(boa.BoaError, match="spender frozen"):
        tok.transferFrom(owner, to, 1, sender=spender)
    d.deal.set_frozen(spender, False, sender=world.admin)
    tok.transferFrom(owner, to, 1, sender=spender)
    assert tok.balanceOf(to) == 1


def test_delisted_spender_cannot_move_tokens(world):
    d, tok = world.d, world.d.tokens[1]
    owner, to = world.investors[1], world.holder("dl-to")
    stranger = boa.env.generate_address("never-listed-spender")
    tok.approve(stranger, 10**9, sender=owner)
    with pytest.raises(boa.BoaError, match="spender not allowed"):
        tok.transferFrom(owner, to, 1, sender=stranger)
    expiring = world.holder("expiring-spender")
    d.allow([expiring], boa.env.evm.patch.timestamp + 10)
    tok.approve(expiring, 10**9, sender=owner)
    tok.transferFrom(owner, to, 1, sender=expiring)
    boa.env.time_travel(seconds=11)
    with pytest.raises(boa.BoaError, match="spender not allowed"):
        tok.transferFrom(owner, to, 1, sender=expiring)


def _transfer_logs(tok):
    return [e for e in tok.get_logs() if type(e).__name__ == "Transfer" or "Transfer" in str(e)]


def test_zero_and_self_transfers_do_not_move_checkpoints(world):
    """`transferFrom(victim, victim, 0)` with no allowance, a self transfer and a zero
    transfer run the checks and emit Transfer but leave every checkpoint where it was."""
    d, tok = world.d, world.d.tokens[0]
    victim, twin = world.investors[0], world.holder("twin")
    tok.transfer(twin, tok.balanceOf(victim) // 2, sender=victim)  # equal positions, same checkpoint
    griefer = world.holder("griefer")
    for _ in range(4):
        world.remit()
        ck = tuple(d.deal.checkpoint_of(0, victim))
        tok.transferFrom(victim, victim, 0, sender=griefer)
        assert len(_transfer_logs(tok)) == 1
        assert tuple(d.deal.checkpoint_of(0, victim)) == ck
        tok.transfer(victim, 12_345, sender=victim)
        assert tuple(d.deal.checkpoint_of(0, victim)) == ck
        tok.transfer(griefer, 0, sender=victim)
        assert tuple(d.deal.checkpoint_of(0, victim)) == ck
        assert tuple(d.deal.checkpoint_of(0, griefer)) == (0, 0)
    # the victim ends with exactly what the untouched twin earned
    assert d.claim(victim, 0) == d.claim(twin, 0)
    assert tok.allowance(victim, griefer) == 0


def test_zero_transfer_still_runs_the_checks(world):
    d, tok = world.d, world.d.tokens[0]
    a = world.investors[0]
    stranger = boa.env.generate_address("zero-stranger")
    with pytest.raises(boa.BoaError, match="holder not allowed"):
        tok.transfer(stranger, 0, sender=a)
    with pytest.raises(boa.BoaError, match="spender not allowed"):
        tok.transferFrom(a, a, 0, sender=stranger)
    d.deal.pause(sender=world.admin)
    with pytest.raises(boa.BoaError, match="paused"):
        tok.transfer(a, 0, sender=a)


# ------------------------------------------------------------------ a random schedule (property)

_step = st.one_of(
    st.just(("remit", 0)),
    st.tuples(st.just("settle"), st.integers(0, 2)),
    st.tuples(st.just("claim"), st.integers(0, 2)),
    st.tuples(st.just("freeze"), st.integers(0, 2)),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, min_size=1, max_size=14))
@example(steps=[("settle", 0), ("remit", 0), ("remit", 0), ("claim", 2), ("remit", 0), ("settle", 1), ("remit", 0),
                ("claim", 1), ("claim", 2), ("remit", 0), ("claim", 2)])
def test_random_settlement_schedules_pay_every_unit_once(primary, steps):
    """Remittances, settlements, claims, freezes and unfreezes in any order: every claim
    equals an exact model (an investor who settles takes the escrow's checkpoint, the
    index at closing, and accrues as any holder since), the claims never exceed the
    cash credited, and at the end each investor has received its face x the final
    index, less at most one unit per claim it made on the way."""
    d, admin = primary.d, primary.admin
    faces = {0: (0, A_FACE // 2), 1: (0, A_FACE // 2), 2: (1, B_FACE)}
    with primary.anchor():
        settled, frozen = [False] * 3, [False] * 3
        owed, ck, got = [0] * 3, [0] * 3, [0] * 3
        for op, j in steps:
            inv = primary.investors[j]
            t, face = faces[j]
            idx = _cash_index(d, t)
            if op == "remit":
                primary.remit()
            elif op == "freeze":
                frozen[j] = not frozen[j]
                d.deal.set_frozen(inv, frozen[j], sender=admin)
            elif op == "settle":
                if frozen[j] and not settled[j]:
                    with pytest.raises(boa.BoaError, match="holder frozen"):
                        d.issuance.settle(sender=inv)
                    continue
                d.settle(inv)
                if not settled[j]:
                    # a new holder takes the escrow's checkpoint (closing: index 0)
                    owed[j], ck[j], settled[j] = 0, 0, True
            else:
                paid = d.claim(inv, t)
                expect = owed[j] + face * (idx - ck[j]) // WAD if settled[j] else 0
                assert paid == expect
                got[j] += paid
                owed[j], ck[j] = 0, idx if settled[j] else 0
            _claims_fit_in_cash(d, primary.investors)
        for j, inv in enumerate(primary.investors):
            if frozen[j]:
                d.deal.set_frozen(inv, False, sender=admin)
            d.settle(inv)
            got[j] += d.claim(inv)
        for j in range(3):
            t, face = faces[j]
            final = face * _cash_index(d, t) // WAD
            # each claim floors once: never more than the untouched position, at most
            # one unit less per intermediate claim
            assert final - sum(1 for op, k in steps if op == "claim" and k == j) <= got[j] <= final
        assert int(d.deal.cash_claimed()) <= int(d.deal.cash_credited())


# ------------------------------------------------------------------ ERC-20 events and the minter


def _events(logs: list[Any], name: str) -> list[tuple[Any, ...]]:
    """The arguments of the ``name`` events among boa's decoded ``logs``."""
    return [tuple(e)[1:] for e in logs if type(e).__name__ == name]


def test_the_logs_name_the_minter_and_show_its_power_end(world):
    """An indexer rebuilding the minter set from the token's events finds the escrow,
    then nobody once minting is finished; never the deployer (which holds no power)."""
    from openmbs.chain import deployer

    d = world.d
    minter, dep = boa.env.generate_address("escrow"), boa.env.generate_address("deployer")
    tok = deployer("TrancheToken").deploy("openmbs TEST A", "TS-A", d.deal.address, minter, 0, 1_000, sender=dep)
    deploy_logs = tok.get_logs()
    assert _events(deploy_logs, "RoleMinterChanged") == [(minter, True)]
    assert not _events(deploy_logs, "OwnershipTransferred")
    assert tok.is_minter(minter) and not tok.is_minter(dep)
    with pytest.raises(boa.BoaError, match="only minter"):
        tok.mint(dep, 1, sender=dep)
    tok.mint(minter, 1_000, sender=minter)
    assert _events(tok.get_logs(), "Transfer") == [("0x" + "00" * 20, minter, 1_000)]
    tok.finish_minting(sender=minter)
    logs = tok.get_logs()
    assert _events(logs, "RoleMinterChanged") == [(minter, False)]
    assert _events(logs, "MintingFinished") == [(1_000,)]
    assert not tok.is_minter(minter)
    with pytest.raises(boa.BoaError, match="minting finished"):
        tok.mint(minter, 0, sender=minter)
    assert tok.totalSupply() == 1_000 and tok.name() == "openmbs TEST A" and tok.symbol() == "TS-A"


def test_approval_events_and_allowance_limits(world):
    """ERC-20: `approve` emits Approval; `transferFrom` emits Transfer and spends the
    allowance (never more than it; an unlimited one stays unlimited); a spender
    cannot be the zero address."""
    d, tok = world.d, world.d.tokens[0]
    owner, spender, to = world.investors[0], world.holder("spender"), world.holder("to")
    tok.approve(spender, 700, sender=owner)
    assert _events(tok.get_logs(), "Approval") == [(owner, spender, 700)]
    with pytest.raises(boa.BoaError, match="insufficient allowance"):
        tok.transferFrom(owner, to, 701, sender=spender)
    tok.transferFrom(owner, to, 300, sender=spender)
    logs = tok.get_logs()
    assert _events(logs, "Transfer") == [(owner, to, 300)]
    assert tok.allowance(owner, spender) == 400 and tok.balanceOf(to) == 300
    tok.approve(spender, 2**256 - 1, sender=owner)
    tok.transferFrom(owner, to, 500, sender=spender)
    assert tok.allowance(owner, spender) == 2**256 - 1
    with pytest.raises(boa.BoaError, match="approve to the zero address"):
        tok.approve("0x" + "00" * 20, 1, sender=owner)
    assert d.deal.claimable(0, to) == 0  # nothing distributed yet: no cash moved with the tokens
