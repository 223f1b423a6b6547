"""Tape projections: generated tapes, real pool disclosure data, column fallbacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_loans, project_tape
from openmbs.errors import InputError


def test_generated_tape_loan_level_equals_arrays() -> None:
    from openmbs.collateral import generate_tape

    tape = generate_tape(200, seed=4)
    t = tape.table
    kw = {"prepayment": Prepayment.psa(150), "default": Default.sda(100), "severity": 0.35,
          "lag": 6}
    cf = project_tape(tape, **kw)  # type: ignore[arg-type]
    bal = t.column("current_balance").to_numpy()
    gross = t.column("note_rate").to_numpy()
    net = t.column("net_rate").to_numpy(zero_copy_only=False)
    arr = project_loans(bal, gross, net, t.column("remaining_term").to_numpy(),
                        t.column("loan_age").to_numpy(), **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(cf.cash_flow, arr.cash_flow, rtol=1e-12)
    assert cf.original_balance == pytest.approx(bal.sum())
    rep = project_tape(tape, method="repline", **kw)  # type: ignore[arg-type]
    # rep lines approximate the loan level closely on total cash
    assert rep.cash_flow.sum() == pytest.approx(cf.cash_flow.sum(), rel=2e-3)


def test_real_umbs_pool(shared_data: Path) -> None:
    from openmbs.collateral import read_tape

    tape = read_tape(shared_data / "freddie_umbs_U90133_loans.txt")
    cf = project_tape(tape, prepayment=Prepayment.cpr(0.08), default=Default.cdr(0.005),
                      severity=0.3, lag=12, advance=False)
    # the disclosure's current UPB sum (shared/data/README.md)
    assert cf.original_balance == pytest.approx(37_849_356.11, abs=0.01)
    paid = np.cumsum(cf.principal + cf.loss)
    np.testing.assert_allclose(paid + cf.performing_balance + cf.foreclosure_balance,
                               cf.original_balance, rtol=1e-9)
    assert cf.factor[-1] == pytest.approx(0.0, abs=1e-9)


def test_net_rate_fallbacks() -> None:
    base = {"current_balance": [100.0, 100.0, 100.0], "note_rate": [0.06, 0.06, 0.06],
            "remaining_term": pa.array([12, 12, 12], pa.int32()),
            "loan_age": pa.array([0, 0, 0], pa.int32())}
    table = pa.table({**base, "net_rate": pa.array([0.055, None, None], pa.float64()),
                      "servicing_fee": pa.array([None, 0.0025, None], pa.float64())})
    cf = project_tape(table, prepayment=Prepayment.cpr(0.0))
    # month 1 fees: 100 * 0.005/12 + 100 * 0.0025/12 + 0 (no net rate, no fee)
    assert cf.servicing_fee[0] == pytest.approx(100 * 0.0075 / 12)


def test_zero_balance_loans_skipped_and_empty_tape_refused() -> None:
    table = pa.table({"current_balance": [0.0, 50.0], "note_rate": [0.05, 0.05],
                      "remaining_term": pa.array([10, 10], pa.int32()),
                      "loan_age": pa.array([5, 5], pa.int32())})
    assert project_tape(table, prepayment=Prepayment.cpr(0.1)).original_balance == 50.0
    with pytest.raises(InputError, match="no loan"):
        project_tape(table.slice(0, 1), prepayment=Prepayment.cpr(0.1))
    with pytest.raises(InputError, match="'loan_age'"):
        project_tape(table.drop_columns(["loan_age"]), prepayment=Prepayment.cpr(0.1))
    with pytest.raises(InputError, match="method"):
        project_tape(table, prepayment=Prepayment.cpr(0.1), method="pool")  # type: ignore[arg-type]


def test_bad_loan_named_in_error() -> None:
    with pytest.raises(InputError, match=r"loan 1: gross_coupon .* got 6\.5"):
        project_loans([1.0, 2.0], [0.05, 6.5], [0.05, 0.06], [10, 10], [0, 0],
                      prepayment=Prepayment.cpr(0.0))
