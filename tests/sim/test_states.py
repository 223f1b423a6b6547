"""Loan states in the simulator (openmbs.sim._states): invariants, balance identity,
determinism, modifications, forbearance and the transition-matrix file's bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from openmbs.behaviour import Default, Prepayment
from openmbs.collateral import generate_tape
from openmbs.errors import AssumptionError, InputError
from openmbs.servicing import LoanState, StateMachine, TransitionMatrix
from openmbs.sim import DelinquencyAssumptions, LoanSimulator, LossMitigation, simulator_matrix

S = LoanState
N = len(LoanState)
TERMINAL = {
    int(s) for s in (S.LIQUIDATED, S.PREPAID, S.SHORT_SALE, S.THIRD_PARTY_SALE, S.NOTE_SALE)
}
MITIGATION = LossMitigation(
    modification=0.08, forbearance=0.005, short_sale=0.2, third_party_sale=0.25,
    short_sale_severity=0.2, third_party_severity=0.25, reo_months=1,
)  # fmt: skip


def _matrix() -> TransitionMatrix:
    """A small hand-made matrix with every kind of transition (one bucket)."""
    c = np.zeros((1, N, N), np.int64)
    c[0, S.CURRENT, [S.CURRENT, S.D30, S.PREPAID, S.REO]] = [9400, 300, 290, 10]
    c[0, S.D30, [S.CURRENT, S.D30, S.D60, S.D120P]] = [40, 25, 30, 5]
    c[0, S.D60, [S.CURRENT, S.D30, S.D60, S.D90, S.D120P]] = [10, 10, 30, 45, 5]
    c[0, S.D90, [S.CURRENT, S.D90, S.D120P, S.FORECLOSURE]] = [5, 10, 70, 15]
    c[0, S.D120P, [S.CURRENT, S.D120P, S.FORECLOSURE, S.REO, S.SHORT_SALE]] = [3, 70, 15, 8, 4]
    c[0, S.FORECLOSURE, [S.CURRENT, S.FORECLOSURE, S.REO, S.THIRD_PARTY_SALE]] = [2, 80, 12, 6]
    return TransitionMatrix(by=(), labels=(), counts=c)


def _sims(adv: str = "none", seed: int = 5, n: int = 3000) -> dict[str, LoanSimulator]:
    tape = generate_tape(n, seed=2)
    return {
        "assumption": LoanSimulator(
            tape, prepayment=Prepayment.psa(150), default=Default.sda(400), severity=0.4,
            lag=8, seed=seed, advance=adv, mitigation=MITIGATION,  # type: ignore[arg-type]
        ),
        "matrix": LoanSimulator(
            tape, prepayment=Prepayment.psa(150), default=None, severity=0.4, seed=seed,
            advance=adv, mitigation=MITIGATION, transitions=_matrix(),  # type: ignore[arg-type]
        ),
    }  # fmt: skip


def _records(sim: LoanSimulator, months: int) -> pa.Table:
    loans = sim.run(months, keep_loans=True).loans
    assert loans is not None
    return loans


def _col(t: pa.Table, name: str) -> Any:
    return t.column(name).to_numpy()


def _previous_state(t: pa.Table, column: str = "state") -> tuple[Any, Any]:
    """(``column`` of the loan's previous record or -1, this record's)."""
    rows = pa.compute.cast(
        pa.chunked_array([c.indices for c in t.column("loan_id").chunks]), pa.int64()
    ).to_numpy()
    period = _col(t, "period").astype(np.int64)
    state = _col(t, column).astype(np.int64)
    order = np.lexsort((period, rows))
    prev = np.full(len(state), -1)
    same = rows[order][1:] == rows[order][:-1]
    prev[order[1:][same]] = state[order][:-1][same]
    return prev, state


@pytest.mark.parametrize("driver", ["assumption", "matrix"])
@pytest.mark.parametrize("adv", ["none", "principal", "all"])
def test_balance_identity_and_state_invariants(driver: str, adv: str) -> None:
    t = _records(_sims(adv)[driver], 150)
    c = {n: _col(t, n).astype(np.int64) for n in (
        "balance_begin", "scheduled_principal", "prepaid_principal", "default_writeoff",
        "balance_end", "loss", "recovery", "interest", "net_interest", "servicing_fee",
    )}  # fmt: skip
    # the balance identity, exactly, in every record
    assert np.array_equal(
        c["balance_begin"]
        - c["scheduled_principal"]
        - c["prepaid_principal"]
        - c["default_writeoff"],
        c["balance_end"],
    )
    assert np.array_equal(c["loss"] + c["recovery"], c["default_writeoff"])
    assert np.array_equal(c["interest"] - c["net_interest"], c["servicing_fee"])
    for n in c:
        assert c[n].min() >= 0, n
    prev, state = _previous_state(t)
    # every state of the set is reached
    seen = set(np.unique(state).tolist())
    want = {S.CURRENT, S.D30, S.D60, S.D90, S.D120P, S.FORECLOSURE, S.REO, S.LIQUIDATED,
            S.PREPAID, S.SHORT_SALE, S.THIRD_PARTY_SALE}  # fmt: skip
    assert {int(s) for s in want} <= seen, sorted(seen)
    # no transition out of a terminal state: a loan has no record after one
    assert not np.isin(prev, list(TERMINAL)).any()
    # a loan leaves with a zero balance exactly in a terminal state
    assert np.array_equal(np.isin(state, list(TERMINAL)), c["balance_end"] == 0)
    # credit losses only through foreclosure, REO, short sale or third-party sale ...
    credit = c["default_writeoff"] > 0
    assert set(np.unique(state[credit]).tolist()) <= {
        int(S.LIQUIDATED), int(S.SHORT_SALE), int(S.THIRD_PARTY_SALE),
    }  # fmt: skip
    liq = state == S.LIQUIDATED
    assert np.isin(prev[liq], [int(S.FORECLOSURE), int(S.REO)]).all()
    tps = state == S.THIRD_PARTY_SALE
    assert np.isin(
        prev[tps], [int(S.FORECLOSURE)] + ([int(S.D120P), int(S.D90)] if driver == "matrix" else [])
    ).all()
    assert np.isin(
        prev[state == S.REO], [int(S.FORECLOSURE), int(S.REO), int(S.D90), int(S.D120P)]
    ).all()
    # ... and on loans reported 60+ days past due the month before (the oracle's rule)
    assert (prev[credit] >= int(S.D60)).all()
    # delinquency rolls at most one bucket a month
    live_prev = (prev >= 0) & (prev <= int(S.D120P)) & (state <= int(S.D120P))
    assert (state[live_prev] <= prev[live_prev] + 1).all()
    # the reported buckets follow the oracle's roll rule, loan by loan: 60-89 only out of
    # last month's 30-59, 90+ and liquidations only out of last month's 60+
    prev_dq, dq = _previous_state(t, "delinquency")
    first = prev_dq < 0
    assert (prev_dq[(dq == 2) & ~first] == 1).all()
    assert (prev_dq[((dq == 3) | credit) & ~first] >= 2).all()
    live = ~np.isin(state, list(TERMINAL))
    if driver == "assumption":  # months past due, as the states say
        assert np.array_equal(dq[live], np.minimum(np.where(state[live] > 4, 3, state[live]), 3))
    else:  # deepened or lagged by at most one bucket
        months = np.minimum(np.where(state[live] > 4, 3, state[live]), 3)
        assert (np.abs(dq[live] - months) <= 1).all()
        assert (dq[live] == months).mean() > 0.9
    # defaulted = foreclosure onwards (matrix) / SIFMA default onwards (assumption)
    status = _col(t, "status")
    if driver == "matrix":
        assert np.array_equal(status == 2, np.isin(state, [int(S.FORECLOSURE), int(S.REO)]))


def test_assumption_model_path_of_a_default() -> None:
    """lag 6: the default month is 30 days, then 60, 90, 120+, foreclosure, REO, and the
    liquidation month is LIQUIDATED at the simulator's severity."""
    tape = pa.table({"loan_id": ["a"], "current_balance": [100_000.0], "note_rate": [0.06],
                     "remaining_term": [360], "loan_age": [0], "amortization_type": ["fixed"],
                     "delinquency_status": [0]})  # fmt: skip
    sim = LoanSimulator(tape, default=[1.0, 0.0], severity=0.3, lag=6,
                        delinquency=DelinquencyAssumptions(rate=0.0))  # fmt: skip
    t = _records(sim, 7)
    assert _col(t, "state").tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert _col(t, "delinquency").tolist() == [1, 2, 3, 3, 3, 3, 0]
    assert _col(t, "loss").tolist()[-1] == 30_000_000_000


@pytest.mark.parametrize(("outcome", "state", "severity"), [
    (LossMitigation(short_sale=1.0, short_sale_severity=0.1), S.SHORT_SALE, 0.1),
    (LossMitigation(third_party_sale=1.0, third_party_severity=0.2), S.THIRD_PARTY_SALE, 0.2),
])  # fmt: skip
def test_assumption_model_outcomes_and_severities(
    outcome: LossMitigation, state: S, severity: float
) -> None:
    tape = pa.table({"loan_id": ["a"], "current_balance": [100_000.0], "note_rate": [0.06],
                     "remaining_term": [360], "loan_age": [0], "amortization_type": ["fixed"],
                     "delinquency_status": [0]})  # fmt: skip
    sim = LoanSimulator(tape, default=[1.0, 0.0], severity=0.3, lag=6, mitigation=outcome,
                        delinquency=DelinquencyAssumptions(rate=0.0))  # fmt: skip
    t = _records(sim, 7)
    assert _col(t, "state").tolist()[-1] == state
    assert _col(t, "loss").tolist()[-1] == round(severity * 100_000 * 10**6)


def test_modification_reamortises() -> None:
    """A loan 90 days past due is modified: its rate is cut, its term extended, and it
    pays the level payment of its balance on the new terms to the month."""
    tape = pa.table({"loan_id": ["a"], "current_balance": [200_000.0], "note_rate": [0.07],
                     "remaining_term": [300], "loan_age": [60], "amortization_type": ["fixed"],
                     "delinquency_status": [3]})  # fmt: skip
    mit = LossMitigation(modification=1.0, rate_cut=0.02, term=400)
    sim = LoanSimulator(tape, mitigation=mit, delinquency=DelinquencyAssumptions(
        rate=0.0, cure=(0.0, 0.0, 0.0), curtailment_share=0.0))  # fmt: skip
    first = sim.step().loans
    assert _col(first, "state").tolist() == [S.CURRENT]
    assert _col(first, "scheduled_principal").tolist() == [0]  # nothing paid that month
    b = 200_000 * 10**6
    r = 0.05 / 12
    payment = round(b * r / (1 - (1 + r) ** -400))
    rest = _records(sim, 500)
    sched, interest = _col(rest, "scheduled_principal"), _col(rest, "interest")
    assert interest[0] == round(b * r)
    assert sched[0] + interest[0] == payment
    assert (sched[:-1] + interest[:-1] == payment).all()  # level to the last month
    assert len(rest) == 400 and sim.done  # the new term
    assert _col(rest, "state").tolist()[-1] == S.PREPAID and _col(rest, "status").tolist()[-1] == 5


def test_forbearance_plan_suspends_then_repays_or_defers() -> None:
    tape = generate_tape(4000, seed=9).table
    i = tape.schema.get_field_index("delinquency_status")
    tape = tape.set_column(i, "delinquency_status", pa.array(np.zeros(len(tape), np.int32)))
    mit = LossMitigation(forbearance=0.02, forbearance_months=4, forbearance_repay=0.5)
    sim = LoanSimulator(tape, mitigation=mit, delinquency=DelinquencyAssumptions(rate=0.0), seed=2)
    t = _records(sim, 24)
    prev, state = _previous_state(t)
    # with no other delinquency, every 30-day loan is in a plan: it rolls 30, 60, 90, 120+
    # and after 4 missed months it is current again (repaid or deferred)
    assert (state[prev == S.D30] == S.D60).all()
    assert (state[prev == S.D90] == S.D120P).all()
    assert (state[prev == S.D120P] == S.CURRENT).all()
    assert (prev == S.D120P).sum() > 100
    paid = _col(t, "scheduled_principal")[prev == S.D120P]
    assert (paid > 0).any() and (paid == 0).any()  # some reinstate, some defer
    assert not (_col(t, "default_writeoff") > 0).any()


@pytest.mark.parametrize("driver", ["assumption", "matrix"])
def test_same_seed_same_records_and_resume(driver: str, tmp_path: Path) -> None:
    a = _records(_sims()[driver], 40)
    b = _records(_sims()[driver], 40)
    assert a.equals(b)
    assert not a.equals(_records(_sims(seed=6)[driver], 40))
    first = _sims()[driver]
    first.run(20)
    first.save_state(tmp_path / "s.npz")
    second = _sims()[driver]
    second.load_state(tmp_path / "s.npz")
    rest = second.run(20, keep_loans=True).loans
    assert rest is not None
    tail = a.filter(pa.compute.greater(a.column("period"), 20))
    assert rest.equals(tail)


def test_simulator_matrix_folds_prepayment_and_keeps_other_cells() -> None:
    m = _matrix()
    p = simulator_matrix(StateMachine(m))[0]
    est = m.probabilities[0]
    assert np.allclose(p[: S.FORECLOSURE + 1].sum(axis=1), 1.0)
    assert p[S.CURRENT, S.PREPAID] == 0.0
    # CURRENT -> D30 given no prepayment; CURRENT -> REO rolls to D30
    assert p[S.CURRENT, S.D30] == pytest.approx(
        (est[S.CURRENT, S.D30] + est[S.CURRENT, S.REO]) / (1 - est[S.CURRENT, S.PREPAID])
    )
    assert p[S.D30, S.D60] == pytest.approx(est[S.D30, S.D60] + est[S.D30, S.D120P])
    np.testing.assert_allclose(p[S.D90], est[S.D90])  # nothing folded, nothing redirected
    np.testing.assert_allclose(p[S.D120P], est[S.D120P])


def test_transitions_exclude_default_assumption() -> None:
    with pytest.raises(AssumptionError, match="transition matrix gives the defaults"):
        LoanSimulator(generate_tape(5, seed=1), default=0.01, transitions=_matrix())
    with pytest.raises(AssumptionError, match="modification must be a decimal"):
        LossMitigation(modification=1.5)


# --------------------------------------------------------------------------- matrix files


def _doc() -> dict[str, Any]:
    return {"performance": "x", "agency": "fannie", **_matrix().to_dict()}


def _write(tmp_path: Path, doc: Any) -> Path:
    p = tmp_path / "m.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def test_matrix_file_round_trip(tmp_path: Path) -> None:
    sm = StateMachine.read(_write(tmp_path, _doc()))
    assert np.array_equal(sm.matrix.counts, _matrix().counts)
    sim = LoanSimulator(
        generate_tape(50, seed=1), default=None, transitions=_write(tmp_path, _doc())
    )
    assert sim.transitions is not None


def test_matrix_file_bad_input(tmp_path: Path) -> None:
    p = _write(tmp_path, "{not json")
    with pytest.raises(InputError, match=r"m\.json.*line 1"):
        StateMachine.read(p)

    doc = _doc()
    doc["buckets"][0]["from"]["D30"]["probabilities"]["D60"] = (
        0.3  # sums to 1, disagrees with the counts
    )
    doc["buckets"][0]["from"]["D30"]["probabilities"]["CURRENT"] = 0.4
    doc["buckets"][0]["from"]["D30"]["probabilities"]["D30"] = 0.25
    doc["buckets"][0]["from"]["D30"]["probabilities"]["D120P"] = 0.05
    doc["buckets"][0]["from"]["D30"]["counts"] = {"CURRENT": 40, "D30": 25, "D60": 50, "D120P": 5}
    doc["buckets"][0]["from"]["D30"]["observations"] = 120
    p = _write(tmp_path, doc)
    with pytest.raises(InputError) as e:
        StateMachine.read(p)
    msg = str(e.value)
    assert "m.json" in msg and "buckets[0].from.D30" in msg and "'probabilities.CURRENT'" in msg

    doc = _doc()
    row = doc["buckets"][0]["from"]["D60"]["probabilities"]
    row["D90"] = row["D90"] + 0.1  # the row no longer sums to 1
    with pytest.raises(
        InputError,
        match=r"row buckets\[0\]\.from\.D60, field 'probabilities', value 1\.1.*must sum to 1",
    ):
        StateMachine.read(_write(tmp_path, doc))

    doc = _doc()
    doc["buckets"][0]["from"]["D60"]["observations"] = 1000
    with pytest.raises(
        InputError, match=r"from\.D60, field 'counts', value 100: .*observations say 1000"
    ):
        StateMachine.read(_write(tmp_path, doc))

    doc = _doc()
    doc["buckets"][0]["from"]["D30"]["counts"]["DEFAULTISH"] = 0
    with pytest.raises(
        InputError,
        match=r"row buckets\[0\]\.from\.D30, field 'counts.DEFAULTISH', value 'DEFAULTISH': unknown state",
    ):
        StateMachine.read(_write(tmp_path, doc))

    doc = _doc()
    doc["buckets"][0]["from"]["LATE"] = doc["buckets"][0]["from"].pop("D30")
    with pytest.raises(
        InputError, match=r"row buckets\[0\]\.from\.LATE, field 'from', value 'LATE': unknown state"
    ):
        StateMachine.read(_write(tmp_path, doc))

    doc = _doc()
    doc["states"][3] = "NINETY"
    with pytest.raises(InputError, match=r"field 'states', value 'NINETY': unknown state"):
        StateMachine.read(_write(tmp_path, doc))

    doc = _doc()
    doc["buckets"][0]["from"]["D90"]["counts"]["D90"] = -1
    with pytest.raises(InputError, match=r"from\.D90, field 'counts.D90', value -1"):
        StateMachine.read(_write(tmp_path, doc))


# --------------------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LIVE = [S.CURRENT, S.D30, S.D60, S.D90, S.D120P, S.FORECLOSURE]
_TARGETS = [*_LIVE, S.REO, S.PREPAID, S.SHORT_SALE, S.THIRD_PARTY_SALE, S.NOTE_SALE, S.REPURCHASED]


@st.composite
def _random_matrix(draw: Any) -> TransitionMatrix:
    c = np.zeros((1, N, N), np.int64)
    for s in _LIVE:
        for t in _TARGETS:
            c[0, s, t] = draw(st.integers(0, 60 if t == s else 12))
    return TransitionMatrix(by=(), labels=(), counts=c)


@settings(max_examples=25, deadline=None)
@given(
    matrix=_random_matrix(),
    mod=st.floats(0, 0.5),
    fb=st.floats(0, 0.1),
    reo=st.integers(0, 3),
    adv=st.sampled_from(["none", "principal", "all"]),
    seed=st.integers(0, 2**16),
)
def test_matrix_driver_properties(
    matrix: TransitionMatrix, mod: float, fb: float, reo: int, adv: str, seed: int
) -> None:
    """Any matrix, any loss mitigation: balances roll forward exactly, nothing negative,
    no record after a terminal state, losses only from 60+ days, reported buckets that
    the oracle accepts."""
    mit = LossMitigation(modification=mod, forbearance=fb, reo_months=reo, short_sale_severity=0.1)
    sim = LoanSimulator(generate_tape(60, seed=seed % 7), prepayment=0.01, default=None,
                        severity=0.5, seed=seed, advance=adv, mitigation=mit,  # type: ignore[arg-type]
                        transitions=matrix)  # fmt: skip
    t = _records(sim, 48)
    c = {n: _col(t, n).astype(np.int64) for n in (
        "balance_begin", "scheduled_principal", "prepaid_principal", "default_writeoff",
        "balance_end", "loss", "recovery",
    )}  # fmt: skip
    assert np.array_equal(
        c["balance_begin"]
        - c["scheduled_principal"]
        - c["prepaid_principal"]
        - c["default_writeoff"],
        c["balance_end"],
    )
    assert np.array_equal(c["loss"] + c["recovery"], c["default_writeoff"])
    assert min(int(v.min()) for v in c.values()) >= 0
    prev, state = _previous_state(t)
    assert not np.isin(prev, list(TERMINAL)).any()
    credit = c["default_writeoff"] > 0
    first = prev < 0  # the first month's "last" is the tape's delinquency
    assert (prev[credit & ~first] >= int(S.D60)).all(), (prev[credit], state[credit])
    prev_dq, dq = _previous_state(t, "delinquency")
    assert (prev_dq[(dq == 2) & ~first] == 1).all()
    assert (prev_dq[((dq == 3) | credit) & ~first] >= 2).all()
