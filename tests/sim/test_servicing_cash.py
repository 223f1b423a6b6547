"""Servicing cash in the loan simulator: advance stops, reimbursements, late fees and
prepayment penalties (openmbs.sim._servicing_cash, docs/simulation.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from openmbs.errors import AssumptionError, TapeError
from openmbs.servicing import RECORD_SCHEMA
from openmbs.sim import LOAN_RECORD_SCHEMA, DelinquencyAssumptions, LoanSimulator, ServicingTerms

NO_DQ = DelinquencyAssumptions(rate=0.0, curtailment_share=0.0)


def tape(n: int = 1, **extra: list[object]) -> pa.Table:
    cols: dict[str, list[object]] = {
        "loan_id": [f"L{i}" for i in range(n)],
        "current_balance": [100_000.0 + 1000 * i for i in range(n)],
        "note_rate": [0.06] * n,
        "servicing_fee": [0.0025] * n,
        "remaining_term": [360] * n,
        "loan_age": [0] * n,
        "amortization_type": ["fixed"] * n,
        "delinquency_status": [0] * n,
    }
    cols.update(extra)
    return pa.table(cols)


def run(sim: LoanSimulator, months: int) -> list[dict[str, list[int]]]:
    return [sim.step().loans.to_pydict() for _ in range(months)]


def col(rows: list[dict[str, list[int]]], name: str, loan: int = 0) -> list[int]:
    return [int(r[name][loan]) if loan < len(r[name]) else 0 for r in rows]


def net_advanced(r: dict[str, list[int]], i: int) -> int:
    adv_i = r["advanced_interest"][i]
    return int(r["advanced_principal"][i] + (r["net_interest"][i] if adv_i > 0 else 0))


def test_schemas_agree_and_end_with_the_new_columns() -> None:
    # a real history's records are the simulator's columns, then its own ones
    assert list(RECORD_SCHEMA)[: len(LOAN_RECORD_SCHEMA)] == list(LOAN_RECORD_SCHEMA)
    names = LOAN_RECORD_SCHEMA.names
    at = names.index("liquidation_flag")
    assert names[at + 1 : at + 4] == ["advance_reimbursed", "prepayment_penalty", "late_fee"]


def test_default_terms_keep_the_path_and_fingerprint() -> None:
    a = LoanSimulator(tape(20), default=0.02, severity=0.3, lag=3, seed=5, advance="all")
    b = LoanSimulator(
        tape(20), default=0.02, severity=0.3, lag=3, seed=5, advance="all", servicing=ServicingTerms()
    )
    assert a._fingerprint == b._fingerprint
    for _ in range(12):
        ra, rb = a.step().loans, b.step().loans
        assert ra.equals(rb)
    on = LoanSimulator(tape(20), seed=5, servicing=ServicingTerms(late_fee_rate=0.05))
    assert on._fingerprint != a._fingerprint


@pytest.mark.parametrize("mode", ["all", "principal"])
def test_liquidation_proceeds_repay_the_advances_first(mode: str) -> None:
    sim = LoanSimulator(tape(), default=1.0, severity=0.3, lag=4, advance=mode, delinquency=NO_DQ)
    rows = run(sim, 5)
    liq = rows[-1]
    assert liq["liquidation_flag"] == [True]
    advanced = sum(net_advanced(r, 0) for r in rows)
    assert advanced > 0
    # every row before the liquidation advanced and reimbursed nothing
    assert col(rows[:-1], "advance_reimbursed") == [0, 0, 0, 0]
    assert liq["advance_reimbursed"][0] == min(advanced, liq["recovery"][0])
    # the balance identity still holds on every row
    for r in rows:
        out = r["scheduled_principal"][0] + r["prepaid_principal"][0] + r["recovery"][0] + r["loss"][0]
        assert r["balance_begin"][0] - out == r["balance_end"][0]


def test_unrecovered_advances_are_the_servicers_loss() -> None:
    # severity 1: nothing recovered, nothing reimbursed
    sim = LoanSimulator(tape(), default=1.0, severity=1.0, lag=3, advance="all", delinquency=NO_DQ)
    rows = run(sim, 4)
    assert rows[-1]["recovery"] == [0] and rows[-1]["advance_reimbursed"] == [0]
    assert int(sim._adv_out[0]) == 0


def test_reinstatement_repays_the_advanced_installments() -> None:
    # every current loan misses a payment; every delinquent one cures the next month
    dl = DelinquencyAssumptions(rate=1.0, cure=(1.0, 1.0, 1.0), curtailment_share=0.0)
    sim = LoanSimulator(tape(3), advance="all", delinquency=dl)
    rows = run(sim, 6)
    for i in range(3):
        for k in range(1, 6):
            prev, cur = rows[k - 1], rows[k]
            if prev["delinquency"][i] == 1 and cur["delinquency"][i] == 0:  # cured in month k
                assert cur["advance_reimbursed"][i] == net_advanced(prev, i) > 0
            else:
                assert cur["advance_reimbursed"][i] == 0


def test_stop_at_n_days_then_the_cure_pays_the_pool_what_was_not_advanced() -> None:
    # three missed installments, then a cure: with a 60-day stop, the first two are
    # advanced, the third is missed; the cure repays the servicer the two and pays
    # the pool the third (and the current one)
    dl = DelinquencyAssumptions(rate=1.0, cure=(0.0, 0.0, 1.0), curtailment_share=0.0)
    stop = ServicingTerms(advance_stop_days=60)
    sim = LoanSimulator(tape(), advance="all", delinquency=dl, servicing=stop)
    rows = run(sim, 4)
    assert col(rows, "delinquency") == [1, 2, 3, 0]
    adv = [net_advanced(r, 0) for r in rows]
    assert adv[0] > 0 and adv[1] > 0 and adv[2] == 0
    assert rows[3]["advance_reimbursed"][0] == adv[0] + adv[1]
    # the balance amortised on schedule while advanced, stood still when not, and the
    # cure collected two installments of principal
    free = LoanSimulator(tape(), delinquency=NO_DQ)
    sched = col(run(free, 4), "scheduled_principal")
    got = col(rows, "scheduled_principal")
    assert got[0] == sched[0] and got[1] == sched[1] and got[2] == 0
    assert got[3] == sched[2] + sched[3]


def test_stop_at_default_and_non_recoverable() -> None:
    at_default = ServicingTerms(advance_stop_at_default=True)
    sim = LoanSimulator(tape(), default=1.0, severity=0.3, lag=3, advance="all", delinquency=NO_DQ,
                        servicing=at_default)  # fmt: skip
    assert all(net_advanced(r, 0) == 0 for r in run(sim, 3))
    # severity 0.999: the first advance already exceeds the estimated proceeds
    nr = ServicingTerms(advance_recoverable_only=True)
    sim = LoanSimulator(tape(), default=1.0, severity=0.999, lag=3, advance="all", delinquency=NO_DQ,
                        servicing=nr)  # fmt: skip
    assert all(net_advanced(r, 0) == 0 for r in run(sim, 3))
    sim = LoanSimulator(tape(), default=1.0, severity=0.3, lag=3, advance="all", delinquency=NO_DQ,
                        servicing=nr)  # fmt: skip
    assert all(net_advanced(r, 0) > 0 for r in run(sim, 2))


def test_late_fees_after_the_grace_period() -> None:
    dl = DelinquencyAssumptions(rate=1.0, cure=(0.0, 0.0, 1.0), curtailment_share=0.0)
    fees = ServicingTerms(late_fee_rate=0.05)
    sim = LoanSimulator(tape(), advance="all", delinquency=dl, servicing=fees)
    rows = run(sim, 4)
    payment = int(sim._payment[0])
    expect = round(0.05 * payment)
    assert col(rows, "late_fee") == [expect, expect, expect, 0]
    # a 45-day grace period spares the first missed installment (30 days late)
    sim = LoanSimulator(tape(), advance="all", delinquency=dl,
                        servicing=ServicingTerms(late_fee_rate=0.05, late_fee_grace_days=45))  # fmt: skip
    assert col(run(sim, 4), "late_fee") == [0, expect, expect, 0]


def test_prepayment_penalties_hard_soft_and_term() -> None:
    t = tape(
        4,
        prepayment_penalty_flag=["Y", "Y", "N", "Y"],
        prepayment_penalty_type=["hard", "soft", "hard", "hard"],
        prepayment_penalty_term=[36, 36, 36, 0],
        prepayment_penalty_pct=[0.02, 0.02, 0.02, 0.02],
    )
    # every loan pays a curtailment (no full prepayment): only the hard one pays
    curt = DelinquencyAssumptions(rate=0.0, curtailment_share=1.0, curtailment_rate=1.0)
    sim = LoanSimulator(t, prepayment=0.01, delinquency=curt)
    r = sim.step().loans.to_pydict()
    assert r["prepaid_principal"][0] > 0
    assert r["prepayment_penalty"] == [round(0.02 * r["prepaid_principal"][0]), 0, 0, 0]
    # full prepayments: hard and soft both pay; the flag N and the expired term do not
    sim = LoanSimulator(t, prepayment=1.0, delinquency=NO_DQ)
    r = sim.step().loans.to_pydict()
    want = [round(0.02 * r["prepaid_principal"][i]) for i in range(2)] + [0, 0]
    assert r["prepayment_penalty"] == want and want[0] > 0
    # past the term, nothing
    old = tape(1, loan_age=[40], prepayment_penalty_term=[36], prepayment_penalty_pct=[0.02])
    r = LoanSimulator(old, prepayment=1.0, delinquency=NO_DQ).step().loans.to_pydict()
    assert r["prepaid_principal"][0] > 0 and r["prepayment_penalty"] == [0]
    # terms from ServicingTerms when the tape has none
    terms = ServicingTerms(prepayment_penalty_term=12, prepayment_penalty_pct=0.01)
    r = LoanSimulator(tape(), prepayment=1.0, delinquency=NO_DQ, servicing=terms).step().loans.to_pydict()
    assert r["prepayment_penalty"] == [round(0.01 * r["prepaid_principal"][0])]


def test_bad_penalty_cells_name_row_field_and_value() -> None:
    with pytest.raises(TapeError, match=r"row 2.*prepayment_penalty_type.*'firm'"):
        LoanSimulator(tape(2, prepayment_penalty_type=["hard", "firm"]))
    with pytest.raises(TapeError, match=r"row 1.*prepayment_penalty_pct.*1.5"):
        LoanSimulator(tape(1, prepayment_penalty_pct=[1.5]))
    with pytest.raises(TapeError, match=r"prepayment_penalty_flag.*'maybe'"):
        LoanSimulator(tape(1, prepayment_penalty_flag=["maybe"]))
    with pytest.raises(AssumptionError, match="advance_stop_days"):
        ServicingTerms(advance_stop_days=-1)
    with pytest.raises(AssumptionError, match="late_fee_rate"):
        ServicingTerms(late_fee_rate=2.0)


def test_advances_are_conserved_over_a_pool_run() -> None:
    # per loan: advances made = reimbursed + still outstanding + lost at liquidation
    dl = DelinquencyAssumptions(rate=0.05)
    sim = LoanSimulator(tape(200), default=0.01, severity=0.99, lag=4, advance="all", delinquency=dl,
                        seed=3, servicing=ServicingTerms(advance_stop_days=90))  # fmt: skip
    running: dict[str, int] = {}
    made = reimbursed = lost = 0
    for _ in range(36):
        loans = sim.step().loans.to_pydict()
        for i, lid in enumerate(loans["loan_id"]):
            adv = net_advanced(loans, i)
            back = loans["advance_reimbursed"][i]
            made += adv
            reimbursed += back
            running[lid] = running.get(lid, 0) + adv - back
            assert running[lid] >= 0
            if loans["liquidation_flag"][i]:
                assert back <= loans["recovery"][i]
                lost += running.pop(lid)
    assert made > 0 and reimbursed > 0 and lost > 0
    outstanding = {f"L{i}": int(v) for i, v in enumerate(sim._adv_out) if v}
    assert {k: v for k, v in running.items() if v} == outstanding
    assert made == reimbursed + sum(outstanding.values()) + lost


def test_state_round_trip_keeps_outstanding_advances(tmp_path: Path) -> None:
    dl = DelinquencyAssumptions(rate=0.2)
    kw = dict(default=0.01, severity=0.4, lag=4, advance="all", delinquency=dl, seed=9,
              servicing=ServicingTerms(advance_stop_days=60))  # fmt: skip
    a = LoanSimulator(tape(50), **kw)  # type: ignore[arg-type]
    run(a, 6)
    a.save_state(tmp_path / "s.npz")
    b = LoanSimulator(tape(50), **kw)  # type: ignore[arg-type]
    b.load_state(tmp_path / "s.npz")
    assert np.array_equal(a._adv_out, b._adv_out) and np.array_equal(a._unadv, b._unadv)
    assert a.step().loans.equals(b.step().loans)
