"""The servicer bridge's servicing-cash columns: the report sums them; bad values are
refused naming the loan, period, field and value."""

from __future__ import annotations

import pyarrow as pa
import pytest

from openmbs.agents import SERVICING_FIELDS, record_columns, report_from_records
from openmbs.errors import InputError
from openmbs.sim import DelinquencyAssumptions, LoanSimulator, ServicingTerms


def _records(months: int = 12) -> list[pa.Table]:
    tape = pa.table({
        "loan_id": [f"L{i}" for i in range(60)], "current_balance": [100_000.0] * 60, "note_rate": [0.06] * 60,
        "servicing_fee": [0.0025] * 60, "remaining_term": [360] * 60, "loan_age": [0] * 60,
        "amortization_type": ["fixed"] * 60, "delinquency_status": [0] * 60,
    })  # fmt: skip
    sim = LoanSimulator(tape, prepayment=0.02, default=0.03, severity=0.3, lag=2, seed=4, advance="all",
                        delinquency=DelinquencyAssumptions(rate=0.05),
                        servicing=ServicingTerms(late_fee_rate=0.05, prepayment_penalty_term=36,
                                                 prepayment_penalty_pct=0.02))  # fmt: skip
    return [record_columns(sim.step().loans) for _ in range(months)]


def test_report_sums_the_servicing_columns() -> None:
    seen = dict.fromkeys(("advances", "advance_reimbursements", "liquidation_reimbursements",
                          "prepayment_penalties", "late_fees"), 0)  # fmt: skip
    for k, t in enumerate(_records(), start=1):
        assert set(SERVICING_FIELDS) <= set(t.column_names)
        rep = report_from_records(k, t, b"\1" * 32)
        col = {n: t.column(n).to_pylist() for n in (*SERVICING_FIELDS, "liquidated", "recovery")}
        assert rep.advances == sum(col["advanced"])
        assert rep.advance_reimbursements == sum(col["advance_reimbursed"])
        assert rep.liquidation_reimbursements == sum(
            b for b, liq in zip(col["advance_reimbursed"], col["liquidated"], strict=True) if liq
        )
        assert rep.prepayment_penalties == sum(col["prepayment_penalty"])
        assert rep.late_fees == sum(col["late_fee"])
        assert rep.cash == rep.collections() >= 0
        # scaled like every money field
        assert report_from_records(k, t, b"\1" * 32, unit_scale=1000).advances == 1000 * rep.advances
        for name in seen:
            seen[name] += getattr(rep, name)
    assert all(v > 0 for v in seen.values()), seen


def test_bad_servicing_values_name_loan_period_field_and_value() -> None:
    t = _records(1)[0]
    neg = t.set_column(t.column_names.index("late_fee"), "late_fee", pa.array([-3] + [0] * (t.num_rows - 1)))
    with pytest.raises(InputError, match=r"loan 'L0' period 1 field 'late_fee' value -3: negative"):
        report_from_records(1, neg, b"\1" * 32)
    rows = t.num_rows
    flags = [k == 0 for k in range(rows)]
    over = t.set_column(t.column_names.index("liquidated"), "liquidated", pa.array(flags))
    back = [int(t.column("recovery")[0].as_py()) + 1] + [0] * (rows - 1)
    over = over.set_column(over.column_names.index("advance_reimbursed"), "advance_reimbursed", pa.array(back))
    with pytest.raises(InputError, match=r"loan 'L0' period 1 field 'advance_reimbursed' value \d+: above the liquidation proceeds"):
        report_from_records(1, over, b"\1" * 32)
