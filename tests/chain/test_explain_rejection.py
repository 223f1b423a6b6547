"""`openmbs.chain.explain_rejection` names the check the oracle refuses with.

For each way a report breaks a figure bound, the contract's refusal (its ``# dev:``
reason) and the explanation worked in Python from the oracle's views must name the same
check; the explanation adds the value and the limit, which are checked here by hand.
A report the oracle accepts gets no explanation.
"""

from __future__ import annotations

import dataclasses

import pytest

from openmbs.chain import explain_rejection, first_failed_bound
from openmbs.chain._explain import oracle_state
from openmbs.errors import RemittanceRejected

WAD = 10**18


def _cases(world):  # (name, report) pairs, each breaking one bound of the first period
    r = world.report()
    beg = r.beginning_balance
    yield "period out of order", dataclasses.replace(r, period=r.period + 1), (r.period + 1, r.period)
    yield "beginning balance != last ending balance", world.report(beginning=beg - 1), (beg - 1, beg)
    yield "cash != collections", dataclasses.replace(r, cash=r.cash + 7), (r.cash + 7, r.cash)
    big = dataclasses.replace(r, ending_balance=r.ending_balance + 1)
    yield "ending balance does not roll forward", big, (r.ending_balance + 1, r.ending_balance)
    yield "loan count grew", dataclasses.replace(r, loan_count=r.loan_count + 1), (r.loan_count + 1, r.loan_count)
    st = oracle_state(world.d.oracle)
    arrears = st["last_30"] + st["max_arrears_months"] * st["last_60_plus"]
    limit = (beg + arrears) * st["max_annual_rate"] // WAD
    hot = world.report(interest=limit // 12 + 1)
    yield "interest above balance x max rate", hot, (hot.interest * 12, limit)
    yield "empty loan tape root", world.report(root=b"\0" * 32), (0, 1)


def test_the_explanation_names_the_contract_s_check_with_value_and_limit(world):
    cases = list(_cases(world))
    assert len(cases) == 7
    for name, report, (value, limit) in cases:
        with pytest.raises(RemittanceRejected) as info:
            world.d.remit(report, world.sign(report))
        assert name in info.value.reason, (name, info.value.reason)
        failure = first_failed_bound(oracle_state(world.d.oracle), report)
        assert failure is not None and failure.check == name
        assert (failure.value, failure.limit) == (value, limit), name
        assert explain_rejection(world.d, report).startswith(f"{name}: ")


def test_an_acceptable_report_has_no_explanation(world):
    report = world.report()
    assert explain_rejection(world.d, report) == ""
    world.remit(report)


def _servicing(world, **kw):
    r = dataclasses.replace(world.report(), **kw)
    return dataclasses.replace(r, cash=r.collections())


def test_servicing_cash_bounds_are_explained(world):
    """Each servicing-cash bound of the oracle (docs/chain.md, "Advances and
    penalties"), named with its value and limit, as the contract names it."""
    r = world.report()
    cases = [
        ("advances above scheduled collections", _servicing(world, advances=r.interest + r.scheduled_principal + 1),
         (r.interest + r.scheduled_principal + 1, r.interest + r.scheduled_principal)),
        ("reimbursements above advances outstanding", _servicing(world, advances=5, advance_reimbursements=6), (6, 5)),
        ("reimbursements above liquidation proceeds",
         _servicing(world, advances=5, advance_reimbursements=5, liquidation_reimbursements=1), (1, 0)),
        ("penalties above prepayments", _servicing(world, prepayment_penalties=r.unscheduled_principal + 1),
         (r.unscheduled_principal + 1, r.unscheduled_principal)),
    ]
    for name, report, (value, limit) in cases:
        with pytest.raises(RemittanceRejected) as info:
            world.d.remit(report, world.sign(report))
        assert name in info.value.reason, (name, info.value.reason)
        failure = first_failed_bound(oracle_state(world.d.oracle), report)
        assert failure is not None and failure.check == name
        assert (failure.value, failure.limit) == (value, limit), name
