"""Attacks on the remittance oracle, its governance and the loan-tape tree; each fails.

Every test is an attacker's move against the deal of ``conftest.world`` (or a second
deal deployed here); the assertion is that the move is refused with the contract's
``# dev:`` reason and that nothing was applied.
"""

from __future__ import annotations

import re

import boa
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as selector

from openmbs.chain import deploy_deal
from openmbs.errors import RemittanceRejected

ZERO = b"\0" * 32
LOANS = 10  # conftest: the deal's loans at cut-off
POOL_UNITS = 1_000_000_000_000  # conftest.POOL
SERIOUS = 100_000_000_000  # conftest.SERIOUS_AT_CUTOFF


def _rejected(world, report, sigs, match: str) -> None:
    period, held = world.d.deal.last_period(), world.d.deal.cash_held()
    with pytest.raises(RemittanceRejected, match=re.escape(match)):
        world.d.remit(report, sigs)
    assert world.d.deal.last_period() == period and world.d.deal.cash_held() == held


def _as_timelock(world):
    return boa.env.prank(str(world.d.timelock.address))


# ------------------------------------------------------------------ finding 1: quorum bounds


def test_attestor_set_cannot_grow_past_what_submit_accepts(world):
    """A 33rd attestor would let the timelock set a quorum no submission can reach."""
    o = world.d.oracle
    with _as_timelock(world):
        for i in range(32 - int(o.attestor_count())):
            o.set_attestor(boa.env.generate_address(f"a{i}"), True)
        assert o.attestor_count() == 32
        with boa.reverts(dev="too many attestors"):
            o.set_attestor(boa.env.generate_address("a33"), True)
        with boa.reverts(dev="bad quorum"):
            o.set_quorum(33)
        o.set_quorum(32)  # the largest quorum a submission can meet
    assert o.quorum() == 32


def test_quorum_of_256_cannot_wrap_to_zero(world):
    """The attack: grow the set to 256 and set quorum 256, which packed into 8 bits is 0,
    then submit a report with no signature at all."""
    o = world.d.oracle
    with _as_timelock(world), pytest.raises(boa.BoaError):
        for i in range(256 - int(o.attestor_count())):
            o.set_attestor(boa.env.generate_address(f"w{i}"), True)
        o.set_quorum(256)
    assert o.quorum() == 3
    r = world.report()
    _rejected(world, r, [], "below quorum")


@pytest.mark.parametrize("quorum", [0, 6, 33, 256])
def test_constructor_refuses_an_unreachable_quorum(world, quorum):
    keys = [k.address for k in world.keys]
    with boa.reverts(dev="bad quorum"):
        _deploy_oracle(world, keys, quorum)


def test_removing_an_attestor_keeps_quorum_reachable(world):
    o = world.d.oracle
    with _as_timelock(world):
        o.set_quorum(5)
        with boa.reverts(dev="quorum unreachable"):
            o.set_attestor(world.keys[0].address, False)


def _deploy_oracle(world, attestors, quorum):
    from openmbs.chain import deployer

    return deployer("RemittanceOracle").deploy(
        world.d.deal.address, world.admin, attestors, quorum, LOANS, 10**17, 0, 10**16, [0, 0, 0]
    )


# ------------------------------------------------------------------ finding 5: timelock roles


@pytest.fixture(scope="module")
def other(world, chain):
    """A second live deal on the real waterfall with the same attestor keys and a
    guardian of its own (built as ``conftest._build`` builds the first)."""
    TRANCHES = chain.TRANCHES
    keys = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]
    admin = boa.env.generate_address("admin-2")
    guardian = boa.env.generate_address("guardian-2")
    cfg = chain.exact_config("second_deal", TRANCHES, pool=chain.POOL, loans=LOANS,
                             minimum_subscription=1_000_000,
                             initial_delinquent=(0, 0, chain.SERIOUS_AT_CUTOFF))
    d = deploy_deal(cfg, attestors=[k.address for k in keys], admin=admin, guardian=guardian)
    investors = chain.close_with_one_investor_per_tranche(d, admin, "investor2-")
    w = type(world)(d=d, admin=admin, investors=investors, keys=keys)
    w.guardian = guardian  # type: ignore[attr-defined]
    return w


def test_guardian_cancels_a_malicious_queued_change(other):
    """The admin key (proposer) queues a change of waterfall to an address it controls;
    the guardian, a different key, cancels it before it can execute."""
    d, tl, admin, guardian = other.d, other.d.timelock, other.admin, other.guardian
    payload = selector("set_waterfall(address)") + abi_encode(["address"], [admin])
    delay = int(tl.get_minimum_delay())
    tl.schedule(d.deal.address, 0, payload, ZERO, ZERO, delay, sender=admin)
    op = tl.hash_operation(d.deal.address, 0, payload, ZERO, ZERO)
    tl.cancel(op, sender=guardian)
    boa.env.time_travel(seconds=delay)
    with pytest.raises(boa.BoaError):
        tl.execute(d.deal.address, 0, payload, ZERO, ZERO, sender=admin)
    assert str(d.deal.waterfall()) != str(admin)


def test_guardian_cannot_schedule_or_execute(other):
    d, tl, admin, guardian = other.d, other.d.timelock, other.admin, other.guardian
    payload = selector("set_quorum(uint256)") + abi_encode(["uint256"], [1])
    delay = int(tl.get_minimum_delay())
    with boa.reverts("access_control: account is missing role"):
        tl.schedule(d.oracle.address, 0, payload, ZERO, ZERO, delay, sender=guardian)
    tl.schedule(d.oracle.address, 0, payload, ZERO, ZERO, delay, sender=admin)
    boa.env.time_travel(seconds=delay)
    with boa.reverts("access_control: account is missing role"):
        tl.execute(d.oracle.address, 0, payload, ZERO, ZERO, sender=guardian)
    assert d.oracle.quorum() == 3


# ------------------------------------------------------------------ replays across deals


def test_report_signed_for_one_deal_is_refused_by_the_other(world, other):
    """Same attestor keys on two live deals: the first deal's attested report, replayed
    to the second deal's oracle, is refused (the digest binds the oracle's address)."""
    r = world.report()
    sigs = world.sign(r)
    _rejected(other, r, sigs, "signer is not an attestor")
    world.d.remit(r, sigs)  # the genuine deal takes it
    assert world.d.deal.last_period() == 1 and other.d.deal.last_period() == 0


def test_removed_attestors_signature_is_refused_after_the_timelock_executes(world):
    d, tl, admin = world.d, world.d.timelock, world.admin
    gone = world.keys[0]
    payload = selector("set_attestor(address,bool)") + abi_encode(["address", "bool"], [gone.address, False])
    delay = int(tl.get_minimum_delay())
    tl.schedule(d.oracle.address, 0, payload, ZERO, ZERO, delay, sender=admin)
    r = world.report()
    boa.env.time_travel(seconds=delay)
    tl.execute(d.oracle.address, 0, payload, ZERO, ZERO, sender=admin)
    assert not d.oracle.is_attestor(gone.address)
    _rejected(world, r, world.sign(r, 3), "signer is not an attestor")  # keys 0, 1, 2
    sigs = [s for s in world.sign(r, 4) if s.signer != gone.address]  # keys 1, 2, 3
    world.d.remit(r, sigs)
    assert world.d.deal.last_period() == 1


# ------------------------------------------------------------------ finding 4: leaves vs nodes


def _tape(n: int, period: int = 1):
    from openmbs.oracle import LoanRecord

    return [
        LoanRecord(loan_id=f"L{i:04d}", period=period, beginning_balance=100_000 + i,
                   scheduled_principal=1_000, prepaid_principal=0, interest_paid=400,
                   ending_balance=99_000 + i)
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [2, 5, 8])
def test_internal_node_does_not_verify_as_a_loan(world, n):
    """The attack: present an internal node of the tape's tree (the hash of two leaves)
    as if it were a loan, with the rest of the proof. Real records still verify."""
    from eth_utils import keccak

    from openmbs.oracle import MerkleTree

    recs = _tape(n)
    tree = MerkleTree([r.leaf() for r in recs])
    world.remit(world.report(root=tree.root))
    o = world.d.oracle
    node = tree._levels[1][0]  # keccak(sorted(leaf 0, leaf 1))
    assert not o.verify_loan(1, node, tree.proof(0)[1:])
    for i, r in enumerate(recs):
        assert o.verify_loan(1, r.record_hash(), tree.proof(i))
        assert bytes(o.loan_leaf(r.as_tuple())) == r.leaf() == keccak(r.record_hash())
    assert not o.verify_loan(1, recs[0].leaf(), tree.proof(0))  # a leaf is not a record hash


# ------------------------------------------------------------------ finding 3: deadlines


def test_expired_attestation_is_refused(world):
    """The attack: hold on to a quorum's signatures over a report and submit it later
    (after the attestors learned something, or at a moment of the servicer's choice)."""
    r = world.report()
    now = int(boa.env.evm.patch.timestamp)
    sigs = world.sign(r, deadline=now + 600)
    boa.env.time_travel(seconds=601)
    _rejected(world, r, sigs, "attestation expired")
    fresh = world.sign(r, deadline=int(boa.env.evm.patch.timestamp))  # the last valid second
    world.d.remit(r, fresh)
    assert world.d.deal.last_period() == 1


def test_deadline_is_part_of_the_signed_data(world):
    """Stretching the deadline of signed attestations changes the digest: the signatures
    recover to other addresses."""
    import dataclasses

    r = world.report()
    now = int(boa.env.evm.patch.timestamp)
    sigs = world.sign(r, deadline=now + 600)
    stretched = [dataclasses.replace(a, deadline=now + 10**6) for a in sigs]
    _rejected(world, r, stretched, "signer is not an attestor")


def test_attestations_with_different_deadlines_are_refused_before_sending(world):
    from openmbs.errors import InputError

    r = world.report()
    now = int(boa.env.evm.patch.timestamp)
    a = world.sign(r, n=2, deadline=now + 600)
    b = world.sign(r, n=3, deadline=now + 700)
    with pytest.raises(InputError, match="deadline"):
        world.d.remit(r, [*a, b[2]])


# ------------------------------------------------------------------ finding 2: figures the pool cannot produce


def _with(report, **kw):
    import dataclasses

    return dataclasses.replace(report, **kw)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        # a month's 60-89 bucket can only come from last month's 30-59 (deployed: none)
        ({"delinquent_60": 1}, "60-89 above last 30-59"),
        # 90+ only from last month's 60-89 and 90+ (trips a delinquency trigger at will)
        ({"delinquent_90_plus": SERIOUS + 1}, "90+ above last 60+ less liquidations"),
        # a write-off of loans that were never reported seriously delinquent
        ({"losses": SERIOUS + 1}, "liquidations above last 60+"),
        ({"recoveries": SERIOUS + 1}, "liquidations above last 60+"),
        ({"losses": SERIOUS // 2, "recoveries": SERIOUS // 2 + 1}, "liquidations above last 60+"),
        # a liquidated loan counted again as 90+
        ({"losses": SERIOUS // 2, "delinquent_90_plus": SERIOUS // 2 + 1},
         "90+ above last 60+ less liquidations"),
        # the index of every floater moved at will
        ({"index_rate": 10**17}, "index moved more than the band"),
    ],
)
def test_figures_the_pool_cannot_produce_are_refused(world, kw, reason):
    """Period 1 of the conftest deal: nothing 30-59 days delinquent at cut-off, 90+
    balance ``SERIOUS`` (``conftest.SERIOUS_AT_CUTOFF``), index 0, band 1%."""
    kw = dict(kw)
    base = world.report(losses=kw.pop("losses", 0), recoveries=kw.pop("recoveries", 0))
    r = _with(base, **kw)
    _rejected(world, r, world.sign(r), reason)
    # the same figures within the bounds pass
    if "losses" in kw or "recoveries" in kw or reason.startswith("liquidations"):
        return
    ok = _with(base, **{k: (v - 1 if k == "delinquent_90_plus" else 0) for k, v in kw.items()})
    world.d.remit(ok, world.sign(ok))


def test_delinquency_rolls_one_bucket_a_month_and_cures_are_free(world):
    """30 -> 60 -> 90+ -> liquidated, one bucket a month; a cure may empty any bucket."""
    d30 = 5_000_000_000
    steps = [
        dict(delinquent_30=d30),
        dict(delinquent_60=d30 - 1_000),  # last month's 30-59, a little amortised
        dict(delinquent_90_plus=d30 - 2_000),
    ]
    for kw in steps:
        r = _with(world.report(), **kw)
        world.d.remit(r, world.sign(r))
    # liquidate part of the 90+ balance, keep the rest in 90+: within last 60+
    losses, recov = 1_000_000_000, 2_000_000_000
    r = _with(world.report(losses=losses, recoveries=recov), delinquent_90_plus=d30 - 2_000 - losses - recov)
    world.d.remit(r, world.sign(r))
    # ... but not more than the 90+ balance last reported
    r = _with(world.report(losses=1, recoveries=d30 - 2_000 - losses - recov), delinquent_90_plus=0)
    _rejected(world, r, world.sign(r), "liquidations above last 60+")
    r = _with(world.report(), delinquent_30=0, delinquent_60=0, delinquent_90_plus=0)  # all cure
    world.d.remit(r, world.sign(r))
    assert world.d.deal.last_period() == 5


@pytest.fixture(scope="module")
def bounded(world, chain):
    """A deal on the real waterfall deployed from its pool: interest bounded by the
    pool's highest net rate plus the stated tolerance, delinquent balances at cut-off,
    an initial index and a band."""
    from openmbs.chain import rate_bound

    admin = boa.env.generate_address("admin-3")
    cfg = chain.exact_config("bounded_deal", chain.TRANCHES, pool=chain.POOL, loans=LOANS,
                             minimum_subscription=1_000_000, max_annual_rate=rate_bound(0.06),
                             initial_delinquent=(0, 0, 20_000_000_000), initial_index_rate=0.05,
                             max_index_change=0.005)
    d = deploy_deal(cfg, attestors=[k.address for k in world.keys], admin=admin)
    investors = chain.close_with_one_investor_per_tranche(d, admin, "investor3-")
    return type(world)(d=d, admin=admin, investors=investors, keys=world.keys)


def test_interest_is_bounded_by_the_pools_net_rate(bounded):
    """Principal relabelled as interest: 7% a year on a pool whose highest net rate is 6%
    (bound 6% + 0.25%), in a month where no loan leaves delinquency (the cut-off's 90+
    balance stays 90+ days late, so no missed installment can be paid)."""
    o = bounded.d.oracle
    assert o.max_annual_rate() == 625 * 10**14
    month = POOL_UNITS * 7 // 100 // 12
    r = _with(bounded.report(interest=month), index_rate=5 * 10**16, delinquent_90_plus=20_000_000_000)
    _rejected(bounded, r, bounded.sign(r), "interest above balance x max rate")
    ok = _with(bounded.report(interest=POOL_UNITS * 6 // 100 // 12), index_rate=5 * 10**16,
               delinquent_90_plus=20_000_000_000)
    bounded.d.remit(ok, bounded.sign(ok))


def test_cutoff_delinquency_and_index_band_come_from_deployment(bounded):
    o = bounded.d.oracle
    assert o.last_index_rate() == 5 * 10**16 and o.max_index_change() == 5 * 10**15
    assert (o.last_delinquent_30(), o.last_seriously_delinquent()) == (0, 20_000_000_000)
    jump = _with(bounded.report(), index_rate=5 * 10**16 + 5 * 10**15 + 1)
    _rejected(bounded, jump, bounded.sign(jump), "index moved more than the band")
    # period 1 liquidates loans 90+ at cut-off, the index moves by the whole band
    r = _with(bounded.report(losses=5_000_000_000, recoveries=15_000_000_000), index_rate=55 * 10**15)
    bounded.d.remit(r, bounded.sign(r))
    down = _with(bounded.report(losses=1), index_rate=5 * 10**16)
    _rejected(bounded, down, bounded.sign(down), "liquidations above last 60+")
    down = _with(bounded.report(), index_rate=5 * 10**16)
    bounded.d.remit(down, bounded.sign(down))
    assert o.last_index_rate() == 5 * 10**16


def test_subsequent_recoveries_stay_within_unrecovered_losses(bounded):
    r = _with(bounded.report(losses=5_000_000_000), index_rate=5 * 10**16)
    bounded.d.remit(r, bounded.sign(r))
    more = _with(bounded.report(), index_rate=5 * 10**16, subsequent_recoveries=5_000_000_001)
    more = _with(more, cash=more.cash + 5_000_000_001)
    _rejected(bounded, more, bounded.sign(more), "subsequent recoveries above losses")





def test_deployment_bounds_come_from_the_tape():
    """config_from_spec puts the tape's highest net rate (+ RATE_TOLERANCE) and its
    cut-off delinquency into the config; nonsense is refused with the field named."""
    from openmbs.chain import RATE_TOLERANCE, config_from_spec
    from openmbs.commands.chain import _cutoff_delinquency
    from openmbs.errors import InputError
    from openmbs.structuring import example_deal

    cfg = config_from_spec(example_deal("four_tranche"), loan_count=10, max_net_rate=0.0725,
                           initial_delinquent=(3, 2, 1))
    assert cfg.max_annual_rate == pytest.approx(0.0725 + RATE_TOLERANCE)
    assert cfg.initial_delinquent == (3, 2, 1)
    with pytest.raises(InputError, match="initial_delinquent"):
        dataclasses_replace(cfg, initial_delinquent=(0, 0, cfg.initial_pool_balance + 1))
    with pytest.raises(InputError, match="max_index_change"):
        dataclasses_replace(cfg, max_index_change=2.0)
    assert _cutoff_delinquency("1, 2,3") == (1, 2, 3)
    with pytest.raises(InputError, match="delinquent-at-cutoff"):
        _cutoff_delinquency("1,2")


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_lifecycle_on_chain_needs_a_liquidation_lag_the_oracle_accepts():
    """A loan defaults 30 days delinquent and rolls one bucket a month; with a lag under
    two months it would be liquidated before it was ever reported 60+ (a loss the
    oracle refuses), so the lifecycle refuses the run up front (off chain it may run)."""
    from openmbs.errors import InputError
    from openmbs.sim import LifecycleConfig

    for lag in (0, 1):
        with pytest.raises(InputError, match="--lag"):
            LifecycleConfig(lag=lag)
        assert LifecycleConfig(lag=lag, chain=False).lag == lag
    assert LifecycleConfig(lag=2).lag == 2


def test_reinstated_loans_pay_their_arrears_within_the_bound(bounded):
    """Without advancing, a loan that reinstates (or pays off) pays the interest of every
    installment it missed. The interest bound grows by MAX_ARREARS_MONTHS months of
    interest on the balance that left the 60+ buckets, and one month on what left 30-59
    days, and by nothing more: with no loan leaving delinquency, principal relabelled as
    interest is still refused (test_interest_is_bounded_by_the_pools_net_rate)."""
    o = bounded.d.oracle
    rate = int(o.max_annual_rate())
    months = int(o.MAX_ARREARS_MONTHS())
    serious = 20_000_000_000
    # period 1: the 90+ balance at cut-off stays 90+ days late and pays nothing
    r1 = _with(bounded.report(interest=POOL_UNITS * 6 // 100 // 12), index_rate=5 * 10**16,
               delinquent_90_plus=serious)
    bounded.d.remit(r1, bounded.sign(r1))
    # period 2: it reinstates, paying this month's and twelve missed installments' interest
    beg = int(o.last_ending_balance())
    arrears = serious * 6 // 100 // 12 * 12
    r2 = _with(bounded.report(interest=beg * 6 // 100 // 12 + arrears), index_rate=5 * 10**16)
    # at the edge of the bound: one unit more is refused, the bound itself accepted
    cap = (beg + months * serious) * rate // (12 * 10**18)
    assert r2.interest <= cap
    over = _with(bounded.report(interest=cap + 1), index_rate=5 * 10**16)
    _rejected(bounded, over, bounded.sign(over), "interest above balance x max rate")
    edge = _with(bounded.report(interest=cap), index_rate=5 * 10**16)
    with boa.env.anchor():
        bounded.d.remit(edge, bounded.sign(edge))
    bounded.d.remit(r2, bounded.sign(r2))
    assert int(o.last_period()) == 2
