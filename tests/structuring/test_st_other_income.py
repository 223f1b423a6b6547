"""``exact_remittance(report, other_income=...)``: other income the deal distributes
beside the servicer's cash (late-report penalties paid by the servicer's bond) is part
of the period's available interest, as ``Deal.distribute`` hands it to the waterfall."""

from __future__ import annotations

import dataclasses

import pytest

from openmbs.errors import InputError
from openmbs.oracle import RemittanceReport
from openmbs.structuring import (
    apply_period,
    compile_exact,
    exact_remittance,
    example_deal,
    initial_state,
)

POOL = 100_000_000_000


def _report() -> RemittanceReport:
    r = RemittanceReport(
        period=1, scheduled_principal=100_000_000, unscheduled_principal=200_000_000, interest=500_000_000,
        recoveries=0, losses=0, beginning_balance=POOL, ending_balance=POOL - 300_000_000, loan_count=10,
        delinquent_30=0, delinquent_60=0, delinquent_90_plus=0, index_rate=0, cash=0, loan_tape_root=b"\x01" * 32,
    )  # fmt: skip
    return dataclasses.replace(r, cash=r.collections())


def test_other_income_is_available_interest() -> None:
    r = _report()
    base, more = exact_remittance(r), exact_remittance(r, other_income=12_345)
    assert more.interest == base.interest + 12_345 == r.interest + 12_345
    assert dataclasses.replace(more, interest=base.interest) == base  # nothing else moves


def test_the_engine_distributes_it_and_its_cash_in_grows_by_it() -> None:
    spec = example_deal("senior_sub")
    ex = compile_exact(spec)
    pool = ex.pool_original
    r = dataclasses.replace(_report(), beginning_balance=pool, ending_balance=pool - 300_000_000)
    s0 = initial_state(ex)
    _, without = apply_period(ex, s0, exact_remittance(r))
    _, with_it = apply_period(ex, s0, exact_remittance(r, other_income=1_000_000))
    assert with_it.cash_in - without.cash_in == 1_000_000
    out = lambda res: sum(res.interest_paid) + sum(res.fees_paid) + res.residual_paid  # noqa: E731
    assert out(with_it) > out(without)
    assert sum(with_it.principal_paid) == sum(without.principal_paid)


def test_negative_other_income_is_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match="period 1: field 'other_income' value -1"):
        exact_remittance(_report(), other_income=-1)
