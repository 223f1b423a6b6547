"""Loan states in the lifecycle: ``openmbs model transitions --out`` -> ``openmbs demo
--transitions``, on chain, reconciled; the loan files carry the state."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from openmbs.cli import app
from openmbs.errors import InputError
from openmbs.servicing import LoanState, StateMachine, estimate_transitions, read_fannie_performance
from openmbs.sim import LifecycleConfig, loans_path, run_lifecycle

S = LoanState


@pytest.fixture(scope="module")
def matrix_file(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    acq = shared_data / "fannie_sflp_2007q3_acquisition.txt"
    perf = shared_data / "fannie_sflp_2007q3_performance.txt"
    out = tmp_path_factory.mktemp("m") / "roll-rates.json"
    res = CliRunner().invoke(
        app,
        ["model", "transitions", "--performance", str(perf), "--acquisition", str(acq),
         "--by", "age", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    # the file holds the estimate, count for count
    est = estimate_transitions(read_fannie_performance(acq, perf), by=("age",))
    assert np.array_equal(StateMachine.read(out).matrix.counts, est.counts)
    return out


def test_demo_on_the_estimated_matrix_reconciles_on_chain(
    matrix_file: Path, tmp_path: Path
) -> None:
    cfg = LifecycleConfig(
        loans=200, months=24, investors=5, seed=2, psa=200, transitions=str(matrix_file)
    )
    res = run_lifecycle(tmp_path / "r", cfg)
    bad = [c for c in res.checks if not c.ok]
    assert not bad, bad
    assert res.reconciled
    states = np.concatenate(
        [
            pq.read_table(loans_path(tmp_path / "r", k)).column("state").to_numpy()
            for k in range(1, 25)
        ]
    )
    assert {int(S.CURRENT), int(S.D30), int(S.D60)} <= set(states.tolist())
    # the audit re-executes the run from its recorded configuration (matrix file included)
    from openmbs.audit import audit

    rep = audit(tmp_path / "r")
    assert rep.ok, rep.mismatches
    assert not rep.not_checked
    # the run differs from the assumption model's (same seed, same tape)
    ref = run_lifecycle(tmp_path / "a", LifecycleConfig(loans=200, months=24, investors=5, seed=2,
                                                        psa=200, chain=False), write_outputs=False)  # fmt: skip
    assert ref.periods == 24
    a = pq.read_table(loans_path(tmp_path / "a", 24)).column("ending_balance").to_numpy().sum()
    b = pq.read_table(loans_path(tmp_path / "r", 24)).column("ending_balance").to_numpy().sum()
    assert a != b


def test_demo_refuses_a_bad_matrix_file_before_writing(tmp_path: Path) -> None:
    bad = tmp_path / "m.json"
    bad.write_text(
        json.dumps({"states": ["CURRENT", "LATE"], "by": [], "labels": {}, "buckets": []})
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["demo", "--transitions", str(bad), "--out", str(out), "--no-chain"]
    )
    assert isinstance(res.exception, InputError), res.output
    assert str(bad) in str(res.exception) and "field 'states', value 'LATE': unknown state" in str(
        res.exception
    )
    assert not out.exists()


def test_stressed_matrix_with_every_credit_event_reconciles_on_chain(tmp_path: Path) -> None:
    """A hand-made stressed matrix: foreclosures, REO liquidations, short and third-party
    sales all happen, and the oracle accepts every month."""
    import numpy as np

    from openmbs.servicing import TransitionMatrix

    n = len(S)
    c = np.zeros((1, n, n), np.int64)
    c[0, S.CURRENT, [S.CURRENT, S.D30, S.PREPAID]] = [930, 50, 20]
    c[0, S.D30, [S.CURRENT, S.D30, S.D60]] = [30, 20, 50]
    c[0, S.D60, [S.CURRENT, S.D30, S.D60, S.D90]] = [10, 10, 30, 50]
    c[0, S.D90, [S.CURRENT, S.D60, S.D90, S.D120P, S.SHORT_SALE]] = [5, 5, 10, 70, 10]
    c[0, S.D120P, [S.CURRENT, S.D90, S.D120P, S.FORECLOSURE, S.SHORT_SALE]] = [3, 2, 50, 40, 5]
    c[0, S.FORECLOSURE, [S.CURRENT, S.FORECLOSURE, S.REO, S.THIRD_PARTY_SALE]] = [2, 60, 28, 10]
    f = tmp_path / "stress.json"
    f.write_text(json.dumps(TransitionMatrix(by=(), labels=(), counts=c).to_dict()))
    cfg = LifecycleConfig(loans=200, months=36, investors=5, seed=4, transitions=str(f))
    res = run_lifecycle(tmp_path / "r", cfg)
    bad = [x for x in res.checks if not x.ok]
    assert not bad, bad
    assert res.reconciled
    states = np.concatenate(
        [
            pq.read_table(loans_path(tmp_path / "r", k)).column("state").to_numpy()
            for k in range(1, 37)
        ]
    )
    for s in (S.FORECLOSURE, S.REO, S.LIQUIDATED, S.SHORT_SALE, S.THIRD_PARTY_SALE):
        assert int(s) in set(states.tolist()), s.name
