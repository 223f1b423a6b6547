"""Credit model: feature parsing, recovery of a known hazard, real outcome data, save/load."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from scipy import stats

from openmbs.errors import AssumptionError, DataIntegrityError, InputError
from openmbs.risk import (
    default_vectors,
    evaluate_scores,
    infer_features,
    load_credit_model,
    pd_to_mdr,
    read_loan_table,
    train_credit_model,
)

STATES = ["CA", "TX", "FL", "NY", "OH"]
STATE_EFFECT = {"CA": -0.3, "TX": 0.0, "FL": 0.4, "NY": -0.1, "OH": 0.2}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Native threads spin-wait on a shared machine; one thread is faster and stable."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _synthetic_loans(n: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """Loans whose default hazard is known: PD = logistic(linear index of the features).

    Features are written the way real files write them: the rate as a percent string,
    the term with a unit word, a categorical state, and missing DTI (whose true effect is
    the average DTI's, so a model that sees "missing" can still be right).
    """
    rng = np.random.default_rng(seed)
    fico = rng.normal(720, 45, n).round()
    ltv = rng.uniform(0.5, 0.97, n)
    dti = rng.uniform(0.1, 0.5, n)
    dti_missing = rng.random(n) < 0.08
    rate = rng.uniform(0.03, 0.08, n)
    term = rng.choice([180, 360], n, p=[0.3, 0.7])
    state = rng.choice(STATES, n)
    dti_used = np.where(dti_missing, 0.3, dti)
    index = (
        -2.6
        - 0.02 * (fico - 720)
        + 4.0 * (ltv - 0.8)
        + 3.0 * (dti_used - 0.3)
        + 25.0 * (rate - 0.055)
        + 0.4 * (term == 360)
        + np.array([STATE_EFFECT[s] for s in state])
    )
    pd_true = 1.0 / (1.0 + np.exp(-index))
    default = rng.random(n) < pd_true
    table = pa.table(
        {
            "loan_id": [f"L{i:06d}" for i in range(n)],
            "fico": fico.astype(int).astype(str),
            "ltv": ltv,
            "dti": [None if m else f"{d:.4f}" for d, m in zip(dti, dti_missing, strict=True)],
            "rate": [f"{100 * r:.3f}%" for r in rate],
            "term": [f" {t} months" for t in term],
            "state": state,
            "status": np.where(default, "default", "current"),
        }
    )
    return table, pd_true


def test_feature_kinds_and_parsing() -> None:
    t = pa.table(
        {
            "rate": ["10.5%", "3%", None, " 7.25 % "],
            "term": [" 36 months", "60 months", "1 month", "NA"],
            "zip": ["860xx", "309xx", "606xx", "917xx"],
            "amount": ["1000", "2500.5", "", "3"],
            "grade": ["A", "B", "A", "n/a"],
        }
    )
    specs = {s.name: s for s in infer_features(t)}
    assert (specs["rate"].kind, specs["rate"].n_missing) == ("percent", 1)
    assert (specs["term"].kind, specs["term"].unit) == ("unit", "months")
    assert specs["zip"].kind == "categorical"  # "860xx" is not 860 units of "xx"
    assert specs["amount"].kind == "numeric"
    assert (specs["grade"].kind, specs["grade"].n_unique) == ("categorical", 2)
    from openmbs.risk._features import feature_matrix

    x = feature_matrix(t, [specs["rate"], specs["term"], specs["grade"]])
    np.testing.assert_allclose(x[[0, 1, 3], 0].astype(float), [0.105, 0.03, 0.0725])
    assert np.isnan(float(x[2, 0]))
    np.testing.assert_allclose(x[:3, 1].astype(float), [36.0, 60.0, 1.0])
    assert np.isnan(float(x[3, 1])) and np.isnan(float(x[3, 2]))


def test_unparseable_value_at_predict_time_names_row_column_value() -> None:
    from openmbs.risk._features import FeatureSpec, feature_matrix

    t = pa.table({"rate": ["5%", "abc"]})
    with pytest.raises(InputError, match=r"row 2, column 'rate', value 'abc'"):
        feature_matrix(t, [FeatureSpec("rate", "percent", None, 0, 2)], file="x.csv")


def test_known_hazard_is_recovered(tmp_path: Path) -> None:
    train, _ = _synthetic_loans(8000, seed=1)
    path = tmp_path / "loans.csv"
    pcsv.write_csv(train, path)
    fresh, pd_true = _synthetic_loans(6000, seed=2)
    y_fresh = (np.asarray(fresh.column("status").to_pylist()) == "default").astype(int)
    true_auc = evaluate_scores(y_fresh, pd_true).auc

    result = train_credit_model(path, target="status", positive="default", seed=0, n_threads=1)
    kinds = {s.name: s.kind for s in result.inferred}
    assert kinds == {
        "loan_id": "identifier",
        "fico": "numeric",
        "ltv": "numeric",
        "dti": "numeric",
        "rate": "percent",
        "term": "unit",
        "state": "categorical",
    }
    assert result.dropped == ("loan_id",)
    # Tolerances: the logistic baseline has the true model's form, so it should match
    # the true AUC to sampling noise; boosted trees approximate the smooth index by
    # steps and lose a little more on 8,000 training loans.
    for model, tol in ((result.model, 0.025), (result.baseline_model, 0.01)):
        name = model.info.kind
        pd_hat = model.predict_pd(fresh)
        auc = evaluate_scores(y_fresh, pd_hat).auc
        # The true PD is the best possible ranking; a fitted model comes close to it.
        assert auc > true_auc - tol, (name, auc, true_auc)
        rho = stats.spearmanr(pd_hat, pd_true).statistic
        assert rho > 0.9, (name, rho)


def test_auc_and_ks_match_independent_statistics() -> None:
    rng = np.random.default_rng(5)
    y = rng.random(3000) < 0.2
    score = rng.normal(size=3000) + 0.8 * y
    ev = evaluate_scores(y.astype(int), score)
    u = stats.mannwhitneyu(score[y], score[~y]).statistic
    assert ev.auc == pytest.approx(u / (y.sum() * (~y).sum()), rel=1e-12)
    assert ev.ks == pytest.approx(stats.ks_2samp(score[y], score[~y]).statistic, abs=1e-12)
    assert sum(r.n for r in ev.calibration) == 3000
    assert [r.decile for r in ev.calibration] == list(range(1, 11))
    means = [r.mean_pd for r in ev.calibration]
    assert means == sorted(means)


def test_lending_club_real_outcomes(shared_data: Path) -> None:
    path = shared_data / "lendingclub_loanstats3a.csv"
    result = train_credit_model(
        path, target="loan_status", positive="Charged Off", seed=0, n_threads=1, max_rows=20000
    )
    kinds = {s.name: (s.kind, s.unit) for s in result.inferred}
    assert kinds["term"] == ("unit", "months")
    assert kinds["revol_util"] == ("percent", None)
    assert kinds["zip_code"] == ("categorical", None)
    assert kinds["emp_length"] == ("categorical", None)
    assert kinds["annual_inc"] == ("numeric", None)

    # What is achievable: the term alone ranks risk (60-month loans charge off more).
    # A model that sees the term and 14 more features must beat it on the same rows.
    table = read_loan_table(path)
    term = np.array([float(v.split()[0]) for v in table.column("term").to_pylist()])
    y = (np.array(table.column("loan_status").to_pylist()) == "Charged Off").astype(int)
    term_auc = evaluate_scores(y, term).auc
    assert term_auc > 0.55
    floor = max(0.6, term_auc)
    for ev in (result.evaluation, result.baseline):
        assert ev.auc > floor, (ev.auc, floor)
        assert ev.ks > 0.15
    # Calibration: the top decile defaults far more often than the bottom one.
    cal = result.evaluation.calibration
    assert cal[-1].observed_rate > 3 * cal[0].observed_rate


def test_freddie_feature_handling(shared_data: Path, tmp_path: Path) -> None:
    # No default outcome in the origination file: predict investor occupancy instead,
    # which exercises numeric, categorical, identifier, constant and empty columns.
    path = shared_data / "freddie_sflld_2020q1_orig_sample.csv"
    result = train_credit_model(
        path, target="occpy_sts", positive="I", model="logistic", seed=0, horizon_months=12
    )
    kinds = {s.name: s.kind for s in result.inferred}
    assert kinds["fico"] == "numeric"
    assert kinds["orig_int_rt"] == "numeric"
    assert kinds["mi_pct"] == "numeric"  # "000", "30", ...
    assert kinds["st"] == "categorical"
    assert kinds["loan_purpose"] == "categorical"
    assert kinds["seller_name"] == "categorical"
    assert kinds["flag_sc"] == "categorical"  # "Y" or blank: the blank is information
    assert kinds["id_loan"] == "identifier"
    assert kinds["ppmt_pnlty"] == "constant"
    assert kinds["id_loan_preharp"] == "empty"
    assert kinds["cd_msa"] == "numeric"  # 1,851 blanks are missing values
    assert {s.name: s.n_missing for s in result.inferred}["cd_msa"] == 1851
    # Left out: the loan id, the columns with one value, the empty columns.
    assert set(result.dropped) == {
        "id_loan",
        "ppmt_pnlty",
        "amrtzn_type",
        "flag_int_only",
        "id_loan_preharp",
        "ind_harp",
    }
    assert "occpy_sts" not in result.model.info.feature_names
    # ~7% investors; on ~2,400 held-out rows an AUC above 0.6 is many standard errors
    # above chance (0.5).
    assert result.evaluation.auc > 0.6

    vec = default_vectors(result.model, path)
    table = read_loan_table(path)
    assert len(vec) == table.num_rows
    np.testing.assert_allclose((1 - vec.mdr) ** 12, 1 - vec.pd, rtol=1e-12)
    np.testing.assert_allclose(1 - vec.cdr, (1 - vec.mdr) ** 12, rtol=1e-12)
    assert vec.mdr_matrix(5).shape == (table.num_rows, 5)


def test_bad_target_and_positive_value_errors(tmp_path: Path) -> None:
    t, _ = _synthetic_loans(200, seed=3)
    path = tmp_path / "tape.csv"
    pcsv.write_csv(t, path)
    with pytest.raises(InputError, match=r"tape\.csv.*column 'nope'"):
        train_credit_model(path, target="nope", positive="default")
    with pytest.raises(
        InputError, match=r"tape\.csv.*column 'status', value 'Default'.*'current', 'default'"
    ):
        train_credit_model(path, target="status", positive="Default")
    with pytest.raises(InputError, match=r"column 'missing_feature'"):
        train_credit_model(path, target="status", positive="default", features=["missing_feature"])


def test_save_load_roundtrip_and_refusals(tmp_path: Path) -> None:
    t, _ = _synthetic_loans(1500, seed=4)
    result = train_credit_model(
        t, target="status", positive="default", features=["fico", "rate", "state"]
    )
    d = result.model.save(tmp_path / "m")
    loaded = load_credit_model(d)
    assert loaded.info.feature_names == ("fico", "rate", "state")
    assert loaded.info.positive == "default"
    np.testing.assert_array_equal(loaded.predict_pd(t), result.model.predict_pd(t))

    meta = json.loads((d / "model.json").read_text())
    meta["versions"]["scikit-learn"] = "0.24.2"
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"scikit-learn.*0\.24\.2.*[Rr]etrain"):
        load_credit_model(d)

    result.model.save(d)
    (d / "model.pkl").write_bytes((d / "model.pkl").read_bytes() + b"x")
    with pytest.raises(DataIntegrityError, match="SHA-256"):
        load_credit_model(d)
    with pytest.raises(InputError, match="not found"):
        load_credit_model(tmp_path / "nowhere")


def test_pd_to_mdr_by_hand() -> None:
    # 1% a month for 12 months: survival 0.99**12, so PD = 1 - 0.99**12.
    assert float(pd_to_mdr(1 - 0.99**12, 12)) == pytest.approx(0.01, rel=1e-12)
    np.testing.assert_allclose(pd_to_mdr([0.0, 1.0], 60), [0.0, 1.0])
    with pytest.raises(AssumptionError):
        pd_to_mdr(1.2, 12)
    with pytest.raises(AssumptionError):
        pd_to_mdr(0.1, 0)


def test_default_vectors_for_a_canonical_tape() -> None:
    # A model on canonical-tape features applied to a LoanTape: one MDR per tape row.
    from openmbs.collateral import generate_tape

    tape = generate_tape(3000, seed=9)
    t = tape.table
    fico = np.asarray(t.column("credit_score").to_numpy(zero_copy_only=False), dtype=float)
    ltv = np.asarray(t.column("ltv").to_numpy(zero_copy_only=False), dtype=float)
    index = (
        -3.0
        - 0.015 * (np.nan_to_num(fico, nan=720) - 720)
        + 3.0 * (np.nan_to_num(ltv, nan=0.8) - 0.8)
    )
    rng = np.random.default_rng(1)
    outcome = np.where(rng.random(len(tape)) < 1 / (1 + np.exp(-index)), "D", "C")
    train = t.append_column("outcome", pa.array(outcome))
    result = train_credit_model(
        train, target="outcome", positive="D", features=["credit_score", "ltv", "occupancy"],
        horizon_months=24,
    )  # fmt: skip
    vec = default_vectors(result.model, tape)
    assert len(vec) == len(tape) and vec.horizon_months == 24
    assert vec.loan_id == tuple(t.column("loan_id").to_pylist())
    np.testing.assert_allclose(vec.mdr, 1 - (1 - vec.pd) ** (1 / 24), rtol=1e-12)
    # Riskier borrowers (lower score) get higher default rates on average.
    low = fico < np.nanmedian(fico)
    assert vec.mdr[low].mean() > vec.mdr[~low].mean()
