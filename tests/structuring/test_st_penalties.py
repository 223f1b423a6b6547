"""Servicing cash in the exact engine: prepayment penalties to the deal's named class
or the residual, advances reimbursed out of liquidation proceeds taken before the
waterfall (docs/chain.md, "Advances and penalties")."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from structuring_helpers import build_deal, rem

from openmbs.errors import SpecError
from openmbs.oracle import RemittanceReport
from openmbs.structuring import compile_exact, exact_remittance
from openmbs.structuring._exact import apply_period, initial_state

TRANCHES: list[dict[str, Any]] = [
    {"name": "A", "balance": 700_000.0, "rate": 0.04, "priority": 1},
    {"name": "B", "remainder": True, "rate": 0.05, "priority": 2},
    {"name": "P", "balance": 100.0, "coupon": "none", "priority": 3},
]
TOP: dict[str, Any] = {"pool": {"balance": 1_000_000.0}}


def _run(spec: Any, penalties: int) -> Any:
    deal = compile_exact(spec)
    pool = deal.pool_original
    r = dataclasses.replace(
        rem(1, interest=pool // 200, sched=pool // 360, prepaid=pool // 50, beg=pool),
        prepayment_penalties=penalties,
    )
    return apply_period(deal, initial_state(deal), r)


@pytest.mark.parametrize(("target", "where"), [(None, "residual"), ("residual", "residual"), ("P", 2), ("B", 1)])
def test_penalties_go_to_the_named_class_or_the_residual(target: str | None, where: Any) -> None:
    top = dict(TOP) if target is None else {**TOP, "prepayment_penalties": target}
    spec = build_deal(TRANCHES, **top)
    _, base = _run(spec, 0)
    _, got = _run(spec, 1_234)
    assert got.cash_in == base.cash_in + 1_234
    for r in (base, got):
        assert r.cash_in == r.cash_out + r.reserve_deposit - r.reserve_draw - r.reserve_release + r.dust_change
    extra_residual = got.residual_paid - base.residual_paid
    extra_interest = [g - b for g, b in zip(got.interest_paid, base.interest_paid, strict=True)]
    if where == "residual":
        assert extra_residual == 1_234 and extra_interest == [0, 0, 0]
    else:
        assert extra_residual == 0 and extra_interest == [1_234 if i == where else 0 for i in range(3)]
    # nothing else moves: principal, losses, balances
    assert got.principal_paid == base.principal_paid and got.ending_balance == base.ending_balance


def test_unknown_penalty_class_names_the_field_and_value() -> None:
    with pytest.raises(SpecError, match=r"prepayment_penalties.*'Q'"):
        build_deal(TRANCHES, **TOP, prepayment_penalties="Q")


def test_liquidation_reimbursements_are_taken_before_the_waterfall() -> None:
    """The report's gross proceeds less the advances repaid out of them reach the
    waterfall; the deal's realised loss includes them; the pool still rolls forward."""
    report = RemittanceReport(
        period=1, scheduled_principal=1_000, unscheduled_principal=2_000, interest=5_000, recoveries=60_000,
        losses=40_000, beginning_balance=1_000_000, ending_balance=897_000, loan_count=10, delinquent_30=0,
        delinquent_60=0, delinquent_90_plus=0, index_rate=0, cash=0, loan_tape_root=b"\1" * 32,
        advances=3_000, advance_reimbursements=7_000, liquidation_reimbursements=6_000, prepayment_penalties=20,
        late_fees=99,
    )  # fmt: skip
    assert report.collections() == 5_000 + 1_000 + 2_000 + 60_000 - 6_000 + 20
    r = exact_remittance(report)
    assert (r.recoveries, r.realized_losses, r.prepayment_penalties) == (54_000, 46_000, 20)
    assert r.beginning_balance - r.scheduled_principal - r.prepaid_principal - r.recoveries - r.realized_losses == (
        r.ending_balance
    )
    # the engine's cash in is the servicer's deposit
    spec = build_deal(TRANCHES, **{**TOP, "pool": {"balance": 1_000_000.0}})
    deal = dataclasses.replace(compile_exact(spec), pool_original=1_000_000)
    _, res = apply_period(deal, initial_state(deal), r)
    assert res.cash_in == report.collections()
