"""The simulator on a transition matrix estimated from the real 2007 Q3 Fannie Mae file:
simulated roll rates agree with the matrix within sampling error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from openmbs.collateral import generate_tape
from openmbs.servicing import LoanState, StateMachine, estimate_transitions, read_fannie_performance
from openmbs.sim import LoanSimulator, simulator_matrix

S = LoanState
LIVE = [S.CURRENT, S.D30, S.D60, S.D90, S.D120P]
#: a cell fails when it is more than Z binomial standard errors (plus half a count) from
#: the matrix: with about 60 cells tested, the chance that a correct simulator fails one
#: is below 60 x 6e-7 for a fresh seed; the seed is fixed, so the test is deterministic.
Z = 5.0


@pytest.fixture(scope="module")
def machine(shared_data: Path) -> StateMachine:
    h = read_fannie_performance(
        shared_data / "fannie_sflp_2007q3_acquisition.txt",
        shared_data / "fannie_sflp_2007q3_performance.txt",
    )
    return StateMachine(estimate_transitions(h, by=("age",)))


def test_simulated_roll_rates_match_the_estimated_matrix(machine: StateMachine) -> None:
    tape = generate_tape(20_000, seed=3).table
    i = tape.schema.get_field_index("delinquency_status")  # start every loan current
    tape = tape.set_column(i, "delinquency_status", pa.array(np.zeros(len(tape), np.int32)))
    months = 36
    tape = tape.filter(pc.greater(tape.column("remaining_term"), months))  # no maturities
    sim = LoanSimulator(
        tape, prepayment=0.0, default=None, severity=0.4, seed=11, transitions=machine
    )
    age0 = tape.column("loan_age").to_numpy()
    loans = sim.run(months, keep_loans=True).loans
    assert loans is not None
    rows = pc.cast(
        pa.chunked_array([c.indices for c in loans.column("loan_id").chunks]), pa.int64()
    ).to_numpy()
    period = loans.column("period").to_numpy().astype(np.int64)
    state = loans.column("state").to_numpy().astype(np.int64)
    grid = np.full((len(tape), months + 1), -1)
    grid[:, 0] = int(S.CURRENT)
    grid[rows, period] = state
    frm, to = grid[:, :-1], grid[:, 1:]
    bucket_age = age0[:, None] + np.arange(months)[None, :]  # age at the first month of the pair
    buckets = machine.buckets(frm.size, age=bucket_age.reshape(-1)).reshape(frm.shape)
    p = simulator_matrix(machine)
    checked = 0
    for b in np.unique(buckets):
        for s in LIVE:
            sel = (frm == s) & (to >= 0) & (buckets == b)
            n = int(sel.sum())
            if n < 400:
                continue
            counts = np.bincount(to[sel], minlength=len(S))
            for t in range(len(S)):
                q = p[b, s, t]
                err = Z * np.sqrt(q * (1 - q) / n) + 0.5 / n
                assert abs(counts[t] / n - q) <= err, (
                    machine.matrix.bucket(b),
                    s.name,
                    S(t).name,
                    n,
                    counts[t] / n,
                    q,
                )
                checked += 1
    assert checked >= 5 * len(S)  # several rows of several buckets were tested


def test_simulator_matrix_is_the_estimate_given_no_prepayment(machine: StateMachine) -> None:
    est = machine.matrix.filled()
    p = simulator_matrix(machine)
    for s in (S.D90, S.D120P):  # rows that neither prepay nor jump buckets keep the estimate
        keep = [t for t in range(len(S)) if t not in (S.PREPAID, S.REPURCHASED)]
        scale = 1.0 - est[:, s, S.PREPAID] - est[:, s, S.REPURCHASED]
        np.testing.assert_allclose(p[:, s, keep], est[:, s, keep] / scale[:, None], atol=1e-12)
