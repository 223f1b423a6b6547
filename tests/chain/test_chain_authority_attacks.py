"""Authority attacks: a role holder, a former governance or the deployer tries what its
role does not allow; in each test the attempt fails and changes nothing.

The authority model (docs/chain.md, "Authority model"): every power over a deal is a
snekmate ``access_control`` role; the parameter setters check ``DEFAULT_ADMIN_ROLE``,
which only the timelock holds. Calls sent ``sender=timelock.address`` stand for
operations the timelock executed after its delay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boa
import pytest

MISSING_ROLE = "access_control: account is missing role"


def _dev_reason(exc: Any) -> str | None:
    """The ``# dev:`` reason of the innermost failing contract line that has one."""
    for frame in exc.stack_trace:
        dev = getattr(frame, "dev_reason", None)
        if dev is not None:
            return str(dev.reason_str)
    return None


def _setters(d: Any, to: str) -> list[tuple[str, Callable[[str], Any]]]:
    """Every parameter setter of the deal and the oracle, as (name, call(sender))."""
    return [
        ("oracle.set_quorum", lambda s: d.oracle.set_quorum(1, sender=s)),
        ("oracle.set_attestor", lambda s: d.oracle.set_attestor(to, True, sender=s)),
        ("oracle.set_bounds", lambda s: d.oracle.set_bounds(10**18, 10**18, sender=s)),
        ("deal.set_waterfall", lambda s: d.deal.set_waterfall(to, sender=s)),
        ("deal.set_recipients", lambda s: d.deal.set_recipients(to, to, sender=s)),
    ]


def _parameters(d: Any) -> tuple[Any, ...]:
    o, deal = d.oracle, d.deal
    return (o.quorum(), o.attestor_count(), o.max_annual_rate(), o.max_index_change(),
            deal.waterfall(), deal.fee_recipient(), deal.residual_recipient())


def test_governance_that_renounced_admin_keeps_no_setter_power(world):
    """The timelock renounces DEFAULT_ADMIN_ROLE on both contracts (the events say
    governance is gone): it must not be able to change a parameter any more."""
    d = world.d
    tl = d.timelock.address
    mallory = world.holder("mallory")
    for c in (d.deal, d.oracle):
        c.renounceRole(c.DEFAULT_ADMIN_ROLE(), tl, sender=tl)
        assert not c.hasRole(c.DEFAULT_ADMIN_ROLE(), tl)
    before = _parameters(d)
    for name, call in _setters(d, mallory):
        with pytest.raises(boa.BoaError, match=MISSING_ROLE):
            call(tl)
        assert _parameters(d) == before, name


def test_admin_role_handed_over_moves_setter_power_with_it(world):
    """Governance migrates: the timelock grants DEFAULT_ADMIN_ROLE to a new governor
    and revokes its own. The old timelock is refused; the new governor may set."""
    d = world.d
    tl = d.timelock.address
    new_gov = boa.env.generate_address("new_governance")
    for c in (d.deal, d.oracle):
        c.grantRole(c.DEFAULT_ADMIN_ROLE(), new_gov, sender=tl)
        c.revokeRole(c.DEFAULT_ADMIN_ROLE(), tl, sender=tl)
    before = _parameters(d)
    for _name, call in _setters(d, new_gov):
        with pytest.raises(boa.BoaError, match=MISSING_ROLE):
            call(tl)
    assert _parameters(d) == before
    d.oracle.set_bounds(10**18, 10**17, sender=new_gov)
    assert d.oracle.max_index_change() == 10**17
    d.deal.set_recipients(new_gov, new_gov, sender=new_gov)
    assert d.deal.fee_recipient() == new_gov


def test_each_role_holder_is_refused_outside_its_role(world):
    """Separate keys for each role: the guardian, the compliance officer and the
    servicer, and the deployer, can neither set parameters nor grant roles nor do
    each other's work."""
    d = world.d
    tl = d.timelock.address
    guardian, officer, servicer = (boa.env.generate_address(n) for n in ("guardian", "officer", "servicer"))
    d.deal.grantRole(d.deal.GUARDIAN_ROLE(), guardian, sender=tl)
    d.deal.grantRole(d.deal.COMPLIANCE_ROLE(), officer, sender=tl)
    # SERVICER_ROLE is the ServicerBond's to grant (appoint_backup): the timelock cannot
    with pytest.raises(boa.BoaError, match=MISSING_ROLE):
        d.oracle.grantRole(d.oracle.SERVICER_ROLE(), servicer, sender=tl)
    d.oracle.grantRole(d.oracle.SERVICER_ROLE(), servicer, sender=d.bond.address)
    deployer = world.admin  # deployed the contracts; holds no admin role after
    assert not d.deal.hasRole(d.deal.DEFAULT_ADMIN_ROLE(), deployer)
    assert not d.oracle.hasRole(d.oracle.DEFAULT_ADMIN_ROLE(), deployer)
    victim = world.investors[0]
    before = _parameters(d)
    for who in (guardian, officer, servicer, deployer):
        for name, call in _setters(d, who):
            with pytest.raises(boa.BoaError, match=MISSING_ROLE):
                call(who)
            assert _parameters(d) == before, (who, name)
        for c, role in ((d.deal, d.deal.GUARDIAN_ROLE()), (d.deal, d.deal.DEFAULT_ADMIN_ROLE()),
                        (d.oracle, d.oracle.SERVICER_ROLE())):
            with pytest.raises(boa.BoaError, match=MISSING_ROLE):
                c.grantRole(role, who, sender=who)
    for who in (officer, servicer):  # only the guardian pauses
        with pytest.raises(boa.BoaError, match=MISSING_ROLE):
            d.deal.pause(sender=who)
    for who in (guardian, servicer):  # only the compliance officer freezes and lists
        with pytest.raises(boa.BoaError, match=MISSING_ROLE):
            d.deal.set_frozen(victim, True, sender=who)
        with pytest.raises(boa.BoaError, match=MISSING_ROLE):
            d.deal.set_allowed([victim], 0, sender=who)
    assert not d.deal.frozen(victim) and not d.deal.paused()
    with pytest.raises(boa.BoaError, match="already configured"):
        d.deal.configure([t.address for t in d.tokens], victim, victim, victim, sender=deployer)


def test_pause_reverts_carry_dev_reasons(world):
    """Every refusal caused by the pause says so with a `# dev:` reason, like the
    deal's other checks (not a library's revert string)."""
    d = world.d
    guardian, x = world.admin, world.investors[0]
    with pytest.raises(boa.BoaError) as e:
        d.deal.unpause(sender=guardian)
    assert _dev_reason(e.value) == "not paused"
    d.deal.pause(sender=guardian)
    with pytest.raises(boa.BoaError) as e:
        d.deal.pause(sender=guardian)
    assert _dev_reason(e.value) == "paused"
    with pytest.raises(boa.BoaError) as e:
        d.tokens[0].transfer(world.investors[1], 1, sender=x)
    assert _dev_reason(e.value) == "paused"
    r = world.report()
    sigs = world.sign(r)
    d.settlement.approve(d.oracle.address, r.cash, sender=d.servicer)
    with pytest.raises(boa.BoaError) as e:
        d.oracle.submit(r.as_tuple(), sigs[0].deadline, [a.as_tuple() for a in sigs], sender=d.servicer)
    assert _dev_reason(e.value) == "paused"
    assert d.deal.last_period() == 0
