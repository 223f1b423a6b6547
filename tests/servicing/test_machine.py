"""The loan state machine driven by the matrix estimated from the real Fannie Mae file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from openmbs.errors import InputError
from openmbs.servicing import TERMINAL_STATES, LoanState, StateMachine, estimate_transitions


def test_step_frequencies_match_the_estimated_rows(fannie: Any) -> None:
    m = estimate_transitions(fannie, by=("age",))
    sm = StateMachine(m)
    b = m.bucket_index(age="13-24")
    p = m.filled()[b]
    rng = np.random.default_rng(7)
    n = 200_000
    for s in (LoanState.CURRENT, LoanState.D30, LoanState.D120P):
        nxt = sm.step(np.full(n, s, np.int8), rng=rng, buckets=np.full(n, b))
        freq = np.bincount(nxt, minlength=len(LoanState)) / n
        se = np.sqrt(p[s] * (1 - p[s]) / n)
        assert np.all(np.abs(freq - p[s]) <= 5 * se + 1e-12), (s, freq, p[s])


def test_terminal_states_absorb_and_buckets_follow_the_estimator(fannie: Any) -> None:
    m = estimate_transitions(fannie, by=("age", "fico"))
    sm = StateMachine(m)
    term = np.array([int(s) for s in TERMINAL_STATES] * 100, np.int8)
    assert (sm.step(term, rng=np.random.default_rng(0)) == term).all()
    b = sm.buckets(3, age=[5, 30, 100], fico=[800, 600, np.nan])
    assert [m.bucket(int(i)) for i in b] == [
        ("0-12", "740+"),
        ("25-36", "<620"),
        ("61+", "unknown"),
    ]
    occ = sm.occupancy(np.eye(len(LoanState))[LoanState.CURRENT], 24, bucket=int(b[0]))
    np.testing.assert_allclose(occ.sum(axis=1), 1.0, atol=1e-12)
    assert (np.diff(occ[:, LoanState.PREPAID]) >= -1e-15).all()  # absorbing: never falls


def test_bad_states(fannie: Any) -> None:
    sm = StateMachine(estimate_transitions(fannie, by=()))
    with pytest.raises(InputError, match="not a LoanState"):
        sm.step(np.array([99]), rng=np.random.default_rng(0))
    with pytest.raises(InputError, match="bucket index"):
        sm.step(np.array([0]), rng=np.random.default_rng(0), buckets=np.array([3]))
