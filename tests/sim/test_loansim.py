"""Tests of the loan-level monthly performance simulator (openmbs.sim)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import openmbs.sim as sim_pkg
from openmbs.behaviour import Default, Prepayment
from openmbs.errors import AssumptionError, DataIntegrityError, TapeError
from openmbs.sim import (
    POOL_PERIOD_COLUMNS,
    STATUS_CURRENT,
    STATUS_DEFAULTED,
    STATUS_LIQUIDATED,
    STATUS_MATURED,
    STATUS_PREPAID,
    DelinquencyAssumptions,
    LoanSimulator,
)

NO_DQ = DelinquencyAssumptions(rate=0.0)
NO_DQ_NO_CURT = DelinquencyAssumptions(rate=0.0, curtailment_share=0.0)


def make_tape(n: int, seed: int = 0, *, term: tuple[int, int] = (300, 361)) -> pa.Table:
    """A synthetic tape in the canonical columns the simulator reads."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "loan_id": [f"L{i:06d}" for i in range(n)],
            "current_balance": rng.uniform(50_000, 600_000, n).round(2),
            "original_balance": rng.uniform(50_000, 600_000, n).round(2),
            "note_rate": rng.uniform(0.03, 0.08, n).round(5),
            "servicing_fee": np.full(n, 0.0025),
            "original_term": np.full(n, 360, dtype=np.int32),
            "remaining_term": rng.integers(term[0], term[1], n).astype(np.int32),
            "loan_age": rng.integers(0, 60, n).astype(np.int32),
            "amortization_type": ["fixed"] * n,
            "delinquency_status": np.zeros(n, dtype=np.int32),
        }
    )


def loan_index(loans: pa.Table) -> np.ndarray:
    """Row of the tape of each record (the dictionary indices of ``loan_id``)."""
    col = loans.column("loan_id")
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    return np.concatenate([c.indices.to_numpy() for c in chunks])


def check_conservation(loans: pa.Table) -> None:
    d = {c: loans.column(c).to_numpy() for c in loans.column_names if c != "loan_id"}
    lhs = d["balance_begin"] - d["scheduled_principal"] - d["prepaid_principal"] - d["default_writeoff"]
    assert np.array_equal(lhs, d["balance_end"])
    assert np.array_equal(d["loss"] + d["recovery"], d["default_writeoff"])
    assert np.array_equal(d["interest"] - d["net_interest"], d["servicing_fee"])
    for c in (
        "scheduled_principal",
        "prepaid_principal",
        "curtailment",
        "interest",
        "net_interest",
        "servicing_fee",
        "loss",
        "recovery",
        "balance_end",
    ):
        assert d[c].min() >= 0, c
    assert np.all(d["curtailment"] <= d["prepaid_principal"])


def test_public_api() -> None:
    def isort_key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert sim_pkg.__all__ == sorted(sim_pkg.__all__, key=isort_key)
    assert set(sim_pkg.__all__) >= {"LoanSimulator", "PeriodRecords", "PoolPeriod"}


@pytest.mark.parametrize("advance", [False, True, "principal"])
def test_conservation_per_loan_and_pool_sums(advance: bool | str) -> None:
    tape = make_tape(2000, seed=1)
    dq = DelinquencyAssumptions(rate=0.03, cure=(0.5, 0.3, 0.2))
    sim = LoanSimulator(
        tape,
        prepayment=0.02,
        default=0.01,
        severity=0.4,
        lag=4,
        seed=7,
        advance=advance,
        delinquency=dq,
    )
    seen_status: set[int] = set()
    for _ in range(40):
        rec = sim.step()
        check_conservation(rec.loans)
        # pool aggregates are the sums of the loan records
        for col in (
            "balance_begin",
            "scheduled_principal",
            "prepaid_principal",
            "curtailment",
            "interest",
            "net_interest",
            "servicing_fee",
            "advanced_principal",
            "advanced_interest",
            "default_writeoff",
            "loss",
            "recovery",
            "balance_end",
        ):
            assert getattr(rec.pool, col) == pc.sum(rec.loans.column(col)).as_py() or (
                getattr(rec.pool, col) == 0 and rec.loans.num_rows == 0
            ), col
        assert rec.pool.loan_count == rec.loans.num_rows
        bal_end = rec.loans.column("balance_end").to_numpy()
        dlq = rec.loans.column("delinquency").to_numpy()
        assert rec.pool.delinquent_30_balance == int(bal_end[dlq == 1].sum())
        assert rec.pool.delinquent_90_plus_balance == int(bal_end[dlq == 3].sum())
        status = rec.loans.column("status").to_numpy()
        assert rec.pool.foreclosure_balance == int(bal_end[status == STATUS_DEFAULTED].sum())
        seen_status |= set(status.tolist())
        if advance == "principal":
            assert rec.pool.advanced_principal > 0 == rec.pool.advanced_interest
        elif advance:
            assert rec.pool.advanced_interest > 0
        else:
            assert rec.pool.advanced_interest == 0 == rec.pool.advanced_principal
    assert {STATUS_CURRENT, 1, STATUS_DEFAULTED, STATUS_LIQUIDATED, STATUS_PREPAID} <= seen_status
    # total balance is conserved over the run: begin = paid + written off + remaining
    assert sim.balances.sum() >= 0


def amortization_schedule(balance_units: int, annual_rate: float, term: int) -> list[int]:
    """Ending balances of a level-payment loan, by the textbook formula, rounded as stated:
    payment rounded once; each month's interest rounded; last month pays all."""
    r = annual_rate / 12
    payment = round(balance_units * r / (1 - (1 + r) ** -term)) if r else round(balance_units / term)
    out = []
    b = balance_units
    for month in range(1, term + 1):
        interest = round(b * r)
        principal = b if month == term else min(max(payment - interest, 0), b)
        b -= principal
        out.append(b)
    return out


def test_textbook_payment() -> None:
    # $100,000 at 6% over 360 months: the textbook payment is $599.55.
    tape = pa.table(
        {
            "loan_id": ["a"],
            "current_balance": [100_000.0],
            "note_rate": [0.06],
            "remaining_term": [360],
            "loan_age": [0],
            "amortization_type": ["fixed"],
            "delinquency_status": [0],
        }
    )
    sim = LoanSimulator(tape, decimals=2, delinquency=NO_DQ)
    rec = sim.step()
    assert rec.pool.interest == 50_000  # $500.00
    assert rec.pool.interest + rec.pool.scheduled_principal == 59_955  # $599.55
    res = sim.run()
    assert sim.done and sim.period == 360
    total = rec.pool.scheduled_principal + pc.sum(res.pool.column("scheduled_principal")).as_py()
    assert total == 10_000_000


def test_zero_rates_follow_amortization_schedule() -> None:
    tape = make_tape(300, seed=2, term=(1, 60))
    sim = LoanSimulator(tape, prepayment=0.0, default=0.0, seed=3, delinquency=NO_DQ)
    res = sim.run(keep_loans=True)
    assert res.loans is not None
    units = np.rint(tape.column("current_balance").to_numpy() * 1e6).astype(np.int64)
    rates = tape.column("note_rate").to_numpy()
    terms = tape.column("remaining_term").to_numpy()
    loans = res.loans
    ids = loans.column("loan_id").cast(pa.string()).to_numpy(zero_copy_only=False)
    ends = loans.column("balance_end").to_numpy()
    periods = loans.column("period").to_numpy()
    status = loans.column("status").to_numpy()
    for i in range(0, 300, 7):
        lid = f"L{i:06d}"
        mine = ids == lid
        expected = amortization_schedule(int(units[i]), float(rates[i]), int(terms[i]))
        assert ends[mine].tolist() == expected
        assert periods[mine].tolist() == list(range(1, int(terms[i]) + 1))
        assert status[mine][-1] == STATUS_MATURED
    assert int(loans.column("prepaid_principal").to_numpy().sum()) == 0


def test_curing_delinquencies_catch_up_to_the_schedule() -> None:
    # With no prepayment and no default, a loan that misses payments and reinstates
    # pays every missed installment: once current again it is back on its schedule.
    tape = make_tape(400, seed=4, term=(20, 40))
    dq = DelinquencyAssumptions(rate=0.15, cure=(0.4, 0.4, 0.4), curtailment_share=0.0)
    sim = LoanSimulator(tape, seed=5, delinquency=dq)
    res = sim.run(keep_loans=True)
    assert res.loans is not None
    loans = res.loans
    units = np.rint(tape.column("current_balance").to_numpy() * 1e6).astype(np.int64)
    rates = tape.column("note_rate").to_numpy()
    terms = tape.column("remaining_term").to_numpy()
    idx = loan_index(loans)
    per = loans.column("period").to_numpy()
    status = loans.column("status").to_numpy()
    dlq = loans.column("delinquency").to_numpy()
    ends = loans.column("balance_end").to_numpy()
    assert (dlq > 0).sum() > 100  # delinquencies happened
    checked = 0
    for i in range(400):
        sched = amortization_schedule(int(units[i]), float(rates[i]), int(terms[i]))
        mine = idx == i
        for p, st, d, e in zip(per[mine], status[mine], dlq[mine], ends[mine], strict=True):
            if st == STATUS_CURRENT:
                assert e == sched[p - 1]
            elif 0 < d < 3:
                # d installments missed: the balance is the one after installment p - d
                paid = p - d
                assert e == (sched[paid - 1] if paid >= 1 else units[i])
                checked += 1
    assert checked > 50
    assert int(loans.column("default_writeoff").to_numpy().sum()) == 0


def binomial_bound(p: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Expected value and 4-sigma half-width of a sum of independent Bernoulli(p_i) x w_i."""
    w = np.ones_like(p) if weights is None else weights
    mean = float((p * w).sum())
    sd = math.sqrt(float((w * w * p * (1 - p)).sum()))
    return mean, 4 * sd


def test_realised_mdr_and_smm_match_assumed_within_binomial_error() -> None:
    n = 20_000
    tape = make_tape(n, seed=6)
    smm, mdr = 0.015, 0.004
    sim = LoanSimulator(
        tape, prepayment=smm, default=mdr, severity=0.3, lag=3, seed=11, delinquency=NO_DQ_NO_CURT
    )
    for _ in range(4):
        rec = sim.step()
        pool, loans = rec.pool, rec.loans
        dflag = loans.column("default_flag").to_numpy(zero_copy_only=False)
        b0 = loans.column("balance_begin").to_numpy().astype(np.float64)
        sched = loans.column("scheduled_principal").to_numpy()
        # Loans current at the start are the ones that paid or defaulted this month
        # (no curing delinquencies here; earlier defaults pay nothing).
        current = (sched > 0) | dflag
        assert pool.performing_count_begin == int(current.sum())
        # each current loan defaults with probability MDR: by count and by balance
        mean, tol = binomial_bound(np.full(int(current.sum()), mdr))
        assert abs(pool.new_default_count - mean) < tol
        mean, tol = binomial_bound(np.full(int(current.sum()), mdr), b0[current])
        assert abs(pool.new_default_balance - mean) < tol
        # each paying loan prepays in full with probability SMM: by count and balance
        paying = sched > 0
        after = (b0 - sched)[paying]
        mean, tol = binomial_bound(np.full(int(paying.sum()), smm))
        assert abs(pool.prepaid_in_full_count - mean) < tol
        mean, tol = binomial_bound(np.full(int(paying.sum()), smm), after)
        assert abs(pool.prepaid_principal - mean) < tol
        assert pool.prepayment_base == int(after.sum())
        assert pool.curtailment == 0


def test_realised_rates_with_curtailments_delinquency_and_behaviour_objects() -> None:
    n = 20_000
    tape = make_tape(n, seed=8)
    prepay = Prepayment.psa(300)
    default = Default.sda(2000)
    dq = DelinquencyAssumptions(rate=0.02, curtailment_share=0.25, curtailment_rate=0.1)
    sim = LoanSimulator(
        tape, prepayment=prepay, default=default, severity=0.3, lag=2, seed=12, delinquency=dq
    )
    ages = tape.column("loan_age").to_numpy().astype(np.int64)
    rems = tape.column("remaining_term").to_numpy().astype(np.int64)
    current_at_start = np.ones(n, dtype=bool)  # the tape has no delinquent loan
    for k in range(1, 4):
        rec = sim.step()
        loans = rec.loans
        i = loan_index(loans)
        # the assumed rates of each loan this period, from the behaviour objects
        smm_by_age = {int(a): prepay.smm_vector(int(a), k)[k - 1] for a in np.unique(ages)}
        mdr_by_age = {
            (int(a), int(r)): default.mdr_vector(int(a), k, int(r), lag=2)[k - 1]
            for a, r in {(int(a), int(r)) for a, r in zip(ages, rems, strict=True)}
        }
        smm_i = np.array([smm_by_age[int(a)] for a in ages[i]])
        mdr_i = np.array([mdr_by_age[int(a), int(r)] for a, r in zip(ages[i], rems[i], strict=True)])
        status = loans.column("status").to_numpy()
        dflag = loans.column("default_flag").to_numpy(zero_copy_only=False)
        dlq = loans.column("delinquency").to_numpy()
        b0 = loans.column("balance_begin").to_numpy().astype(np.float64)
        sched = loans.column("scheduled_principal").to_numpy()
        was_current = current_at_start[i]
        assert rec.pool.performing_balance_begin == int(b0[was_current].sum())
        # defaults, balance-weighted, against each loan's own MDR
        mean, tol = binomial_bound(mdr_i[was_current], b0[was_current])
        assert abs(rec.pool.new_default_balance - mean) < tol
        # unscheduled principal: E = SMM x (balance after scheduled principal) for the
        # paying loans; variance of the two-point mixture (full prepayment or curtailment).
        paying = was_current & ~dflag & ~(dlq == 1)
        a = (b0 - sched)[paying]
        s = dq.curtailment_share
        p = smm_i[paying]
        pf = (1 - s) * p
        q = s * p / (1 - pf)
        pcur = np.maximum(dq.curtailment_rate, q)
        frac = q / pcur
        second = pf + (1 - pf) * pcur * frac**2
        var = float((a * a * (second - p * p)).sum())
        got = rec.pool.prepaid_principal
        expected = float((p * a).sum())
        assert abs(got - expected) < 4 * math.sqrt(var) + int(paying.sum())  # + floor units
        assert rec.pool.prepayment_base == int(a.sum())
        assert rec.pool.curtailment > 0
        current_at_start = np.zeros(n, dtype=bool)
        current_at_start[i] = status == STATUS_CURRENT


@pytest.mark.parametrize("lag", [0, 1, 5])
def test_liquidation_exactly_lag_months_after_default(lag: int) -> None:
    tape = make_tape(3000, seed=9)
    sev = 0.37
    sim = LoanSimulator(tape, prepayment=0.01, default=0.02, severity=sev, lag=lag, seed=13)
    res = sim.run(30, keep_loans=True)
    assert res.loans is not None
    loans = res.loans
    idx = loan_index(loans)
    per = loans.column("period").to_numpy()
    dflag = loans.column("default_flag").to_numpy(zero_copy_only=False)
    lflag = loans.column("liquidation_flag").to_numpy(zero_copy_only=False)
    b0 = loans.column("balance_begin").to_numpy()
    loss = loans.column("loss").to_numpy()
    rec_ = loans.column("recovery").to_numpy()
    status = loans.column("status").to_numpy()
    dlq = loans.column("delinquency").to_numpy()
    default_at = {int(i): int(p) for i, p in zip(idx[dflag], per[dflag], strict=True)}
    default_bal = {int(i): int(b) for i, b in zip(idx[dflag], b0[dflag], strict=True)}
    assert len(default_at) > 100
    liq_at = {int(i): int(p) for i, p in zip(idx[lflag], per[lflag], strict=True)}
    for i, d in default_at.items():
        if d + lag <= 30:
            assert liq_at[i] == d + lag
        else:
            assert i not in liq_at
    assert set(liq_at) <= set(default_at)
    for j in np.flatnonzero(lflag):
        i = int(idx[j])
        # no advancing: the balance is frozen from default to liquidation
        assert b0[j] == default_bal[i]
        assert loss[j] == round(sev * default_bal[i])
        assert rec_[j] == default_bal[i] - loss[j]
        assert status[j] == STATUS_LIQUIDATED
    # between default and liquidation: defaulted, months past due counting up to 90+
    for j in np.flatnonzero(~lflag & np.isin(idx, list(default_at))):
        i = int(idx[j])
        if per[j] >= default_at[i]:
            assert status[j] == STATUS_DEFAULTED
            assert dlq[j] == min(per[j] - default_at[i] + 1, 3)
            assert loans.column("interest")[int(j)].as_py() == 0


def test_advancing_keeps_defaulted_loans_on_schedule_until_liquidation() -> None:
    tape = make_tape(500, seed=10, term=(40, 80))
    sim = LoanSimulator(tape, default=0.03, severity=0.5, lag=6, seed=14, advance=True, delinquency=NO_DQ)
    res = sim.run(keep_loans=True)
    assert res.loans is not None
    loans = res.loans
    units = np.rint(tape.column("current_balance").to_numpy() * 1e6).astype(np.int64)
    rates = tape.column("note_rate").to_numpy()
    terms = tape.column("remaining_term").to_numpy()
    idx = loan_index(loans)
    per = loans.column("period").to_numpy()
    b0 = loans.column("balance_begin").to_numpy()
    ends = loans.column("balance_end").to_numpy()
    lflag = loans.column("liquidation_flag").to_numpy(zero_copy_only=False)
    adv = loans.column("advanced_principal").to_numpy()
    assert adv.sum() > 0 and lflag.sum() > 10
    schedules = [
        amortization_schedule(int(units[i]), float(rates[i]), int(terms[i])) for i in range(500)
    ]
    for j in range(loans.num_rows):
        i = idx[j]
        sched = schedules[i]
        if lflag[j]:
            p = per[j]
            assert b0[j] == (sched[p - 2] if p >= 2 else units[i])
        else:
            assert ends[j] == sched[per[j] - 1]


def test_rates_by_age_array_and_callable() -> None:
    tape = make_tape(1000, seed=15)
    ages = tape.column("loan_age").to_numpy()
    smm_by_age = np.zeros(200)
    smm_by_age[30] = 1.0  # everyone aged 30 at the start of a month prepays in full
    sim = LoanSimulator(tape, prepayment=smm_by_age, seed=1, delinquency=NO_DQ_NO_CURT)
    rec = sim.step()
    prepaid = rec.loans.column("status").to_numpy() == STATUS_PREPAID
    assert np.array_equal(prepaid, ages == 30)
    sim2 = LoanSimulator(
        tape,
        default=lambda age: np.where(age >= 50, 1.0, 0.0),
        seed=1,
        delinquency=NO_DQ_NO_CURT,
    )
    rec2 = sim2.step()
    assert np.array_equal(rec2.loans.column("default_flag").to_numpy(zero_copy_only=False), ages >= 50)


def test_determinism_and_seed_sensitivity() -> None:
    tape = make_tape(1500, seed=16)
    kw = {"prepayment": 0.02, "default": 0.01, "severity": 0.3, "lag": 2}
    a = LoanSimulator(tape, seed=42, **kw).run(24, keep_loans=True)
    b = LoanSimulator(tape, seed=42, **kw).run(24, keep_loans=True)
    c = LoanSimulator(tape, seed=43, **kw).run(24, keep_loans=True)
    assert a.pool.equals(b.pool)
    assert a.loans is not None and b.loans is not None and c.loans is not None
    assert a.loans.equals(b.loans)
    assert not a.pool.equals(c.pool)
    assert a.pool.column_names == list(POOL_PERIOD_COLUMNS)


def test_resume_from_saved_state_gives_the_same_future(tmp_path: Path) -> None:
    tape = make_tape(1500, seed=17)
    kw = {"prepayment": Prepayment.psa(200), "default": Default.sda(300), "severity": 0.3, "lag": 4}
    full = LoanSimulator(tape, seed=5, **kw)
    first = [full.step() for _ in range(7)]
    full.save_state(tmp_path / "state.npz")
    future = [full.step() for _ in range(10)]
    again = LoanSimulator(tape, seed=999, **kw)  # seed is replaced by the saved state
    again.load_state(tmp_path / "state.npz")
    assert again.period == 7
    resumed = [again.step() for _ in range(10)]
    for x, y in zip(future, resumed, strict=True):
        assert x.pool == y.pool
        assert x.loans.equals(y.loans)
    assert first[0].period == 1
    # a state of another tape is refused
    other = LoanSimulator(make_tape(1500, seed=18), seed=5, **kw)
    with pytest.raises(DataIntegrityError, match="another tape"):
        other.load_state(tmp_path / "state.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a state")
    with pytest.raises(DataIntegrityError, match=r"junk\.npz"):
        other.load_state(tmp_path / "junk.npz")


def test_bad_inputs_are_rejected_with_location() -> None:
    tape = make_tape(10, seed=19)
    bad = tape.set_column(
        tape.column_names.index("note_rate"),
        "note_rate",
        pa.array([0.05] * 4 + [-0.01] + [0.05] * 5),
    )
    with pytest.raises(TapeError, match=r"row 5.*note_rate.*-0\.01"):
        LoanSimulator(bad)
    with pytest.raises(TapeError, match="loan_age"):
        LoanSimulator(tape.drop(["loan_age"]))
    with pytest.raises(AssumptionError, match="smm"):
        LoanSimulator(tape, prepayment=1.5)
    with pytest.raises(AssumptionError, match="mdr"):
        LoanSimulator(tape, default=np.array([0.1, -0.2]))
    with pytest.raises(AssumptionError, match="severity"):
        LoanSimulator(tape, severity=2.0)
    with pytest.raises(AssumptionError, match="lag"):
        LoanSimulator(tape, lag=-1)
    with pytest.raises(AssumptionError, match="cure"):
        DelinquencyAssumptions(cure=(0.5, 0.5, 1.5))


def test_net_rate_and_interest_only() -> None:
    tape = pa.table(
        {
            "loan_id": ["io", "fx"],
            "current_balance": [120_000.0, 120_000.0],
            "note_rate": [0.06, 0.06],
            "net_rate": [0.05, None],
            "servicing_fee": [None, 0.0025],
            "remaining_term": [3, 3],
            "loan_age": [10, 10],
            "amortization_type": ["interest_only", "fixed"],
            "delinquency_status": [0, 0],
        }
    )
    sim = LoanSimulator(tape, decimals=2, delinquency=NO_DQ)
    r1 = sim.step().loans.to_pylist()
    assert r1[0]["scheduled_principal"] == 0
    assert r1[0]["interest"] == 60_000 and r1[0]["net_interest"] == 50_000
    assert r1[1]["net_interest"] == 57_500 and r1[1]["servicing_fee"] == 2_500
    sim.step()
    r3 = sim.step().loans.to_pylist()
    assert r3[0]["scheduled_principal"] == 12_000_000  # balloon at maturity
    assert r3[0]["status"] == STATUS_MATURED and r3[1]["status"] == STATUS_MATURED
    assert sim.done


def test_matches_the_plain_python_per_loan_loop_of_the_benchmark() -> None:
    """Differential test: the benchmark's baseline applies the same monthly rules one
    loan at a time in plain Python; fed the same draws, the totals are identical."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_loansim.py"
    spec = importlib.util.spec_from_file_location("bench_loansim_for_test", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tape = bench.make_tape(80, seed=21)
    _, by_loop = bench.python_loop(tape, seed=22)
    _, by_sim = bench.simulate(tape, seed=22)
    assert by_loop == by_sim
    assert by_sim["loss"] > 0 and by_sim["prepaid_principal"] > 0


def test_accepts_a_generated_loan_tape() -> None:
    collateral = pytest.importorskip("openmbs.collateral")
    tape = collateral.generate_tape(300, seed=3)
    sim = LoanSimulator(tape, prepayment=Prepayment.psa(150), default=Default.sda(100), seed=1)
    rec = sim.step()
    check_conservation(rec.loans)
    units = np.rint(tape.table.column("current_balance").to_numpy() * 1e6).astype(np.int64)
    assert rec.pool.balance_begin == int(units[units > 0].sum())


def _one_loan(**kw: object) -> LoanSimulator:
    tape = pa.table({"loan_id": ["a"], "current_balance": [100_000.0], "note_rate": [0.06],
                     "remaining_term": [12], "loan_age": [0], "amortization_type": ["fixed"],
                     "delinquency_status": [0]})
    return LoanSimulator(tape, decimals=2, seed=3, **kw)  # type: ignore[arg-type]


# Level payment of 10,000,000 cents at 0.5% a month over 12 months, rounded once:
# 10,000,000 x 0.005 / (1 - 1.005^-12) = 860,664.297 -> 860,664; month 1 interest
# 10,000,000 x 0.005 = 50,000, scheduled principal 810,664, balance 9,189,336; month 2
# interest round(9,189,336 x 0.005) = 45,947, principal 814,717, balance 8,374,619;
# month 3 interest round(8,374,619 x 0.005) = 41,873, principal 818,791.
PRINCIPAL_1, PRINCIPAL_2, PRINCIPAL_3 = 810_664, 814_717, 818_791
INTEREST_1, INTEREST_2 = 50_000, 45_947


def test_principal_advancing_amortizes_defaults_and_loses_their_interest() -> None:
    # MDR 100%: the loan defaults in month 1 and is liquidated in month 4 (lag 3); the
    # servicer advances its scheduled principal in months 1-3, never its interest
    sim = _one_loan(default=1.0, severity=0.25, lag=3, advance="principal",
                    delinquency=NO_DQ)
    recs = [sim.step() for _ in range(4)]
    for rec, prin in zip(recs[:3], (PRINCIPAL_1, PRINCIPAL_2, PRINCIPAL_3), strict=True):
        assert rec.pool.scheduled_principal == prin == rec.pool.advanced_principal
        assert rec.pool.interest == 0 == rec.pool.advanced_interest == rec.pool.net_interest
    # liquidated at the amortized balance; loss = 25% of the balance at default
    bal = 10_000_000 - PRINCIPAL_1 - PRINCIPAL_2 - PRINCIPAL_3
    assert recs[3].pool.default_writeoff == bal
    assert recs[3].pool.loss == 2_500_000
    assert recs[3].pool.recovery == bal - 2_500_000
    assert recs[3].pool.interest == 0


def test_principal_advancing_reinstatement_pays_the_missed_interest() -> None:
    # delinquent in month 1 for sure (rate 1), cures in month 2 for sure (cure 1)
    dq = DelinquencyAssumptions(rate=1.0, cure=(1.0, 1.0, 1.0), curtailment_share=0.0)
    p = _one_loan(advance="principal", delinquency=dq)
    a = _one_loan(advance="all", delinquency=dq)
    p1, a1 = p.step(), a.step()
    assert p1.pool.advanced_principal == PRINCIPAL_1 == a1.pool.advanced_principal
    assert (p1.pool.interest, p1.pool.advanced_interest) == (0, 0)
    assert (a1.pool.interest, a1.pool.advanced_interest) == (INTEREST_1, INTEREST_1)
    p2, a2 = p.step(), a.step()
    # the borrower pays this month's installment and, with principal-only advancing,
    # the interest of the missed one (the advanced principal goes back to the servicer)
    assert p2.pool.scheduled_principal == PRINCIPAL_2 == a2.pool.scheduled_principal
    assert p2.pool.interest == INTEREST_2 + INTEREST_1
    assert a2.pool.interest == INTEREST_2


def test_advance_spellings() -> None:
    assert _one_loan(advance=True).advance == "all"
    assert _one_loan(advance=False).advance == "none"
    assert _one_loan().advance == "none"
    with pytest.raises(AssumptionError, match="'sometimes'"):
        _one_loan(advance="sometimes")
