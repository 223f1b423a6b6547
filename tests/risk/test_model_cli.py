"""`openmbs model train/predict` on a small synthetic loan file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from typer.testing import CliRunner

from openmbs.cli import app

OPENMBS = Path(sys.executable).with_name("openmbs")


@pytest.fixture(scope="module")
def loans_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 1500
    fico = rng.normal(720, 45, n).round()
    util = rng.uniform(0, 1, n)
    grade = rng.choice(["A", "B", "C"], n)
    index = -2.0 - 0.02 * (fico - 720) + 1.5 * (util - 0.5) + np.where(grade == "C", 0.7, 0.0)
    y = rng.random(n) < 1 / (1 + np.exp(-index))
    t = pa.table(
        {
            "loan_id": [f"L{i}" for i in range(n)],
            "fico": fico.astype(int),
            "util": [f"{100 * u:.1f}%" for u in util],
            "grade": grade,
            "status": np.where(y, "Charged Off", "Fully Paid"),
        }
    )
    path = tmp_path_factory.mktemp("cli") / "loans.csv"
    pcsv.write_csv(t, path)
    return path


def test_train_json_and_predict(loans_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    model_dir = tmp_path / "model"
    res = runner.invoke(
        app,
        [
            "model", "train", "--data", str(loans_csv), "--target", "status",
            "--positive", "Charged Off", "--out", str(model_dir), "--threads", "1",
            "--horizon", "36", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert 0.5 < doc["auc"] <= 1.0 and 0.0 < doc["ks"] <= 1.0
    assert doc["baseline"]["auc"] == doc["baseline_auc"]
    assert doc["model"] == "gbm" and doc["n_test"] == 375
    assert {f["name"]: f["kind"] for f in doc["features"]} == {
        "fico": "numeric",
        "util": "percent",
        "grade": "categorical",
    }
    assert [f["name"] for f in doc["dropped"]] == ["loan_id"]
    assert (model_dir / "model.pkl").is_file() and (model_dir / "model.json").is_file()

    out = tmp_path / "scores.csv"
    res = runner.invoke(
        app, ["model", "predict", "--model", str(model_dir), "--data", str(loans_csv),
              "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    scores = pcsv.read_csv(out)
    assert scores.column_names == ["row", "loan_id", "pd", "mdr", "cdr"]
    assert scores.num_rows == 1500
    pd_ = np.asarray(scores.column("pd"))
    mdr = np.asarray(scores.column("mdr"))
    np.testing.assert_allclose((1 - mdr) ** 36, 1 - pd_, rtol=1e-9)


def test_train_human_output(loans_csv: Path) -> None:
    res = CliRunner().invoke(
        app,
        ["model", "train", "--data", str(loans_csv), "--target", "status", "--positive",
         "Charged Off", "--model", "logistic", "--features", "fico,util", "--threads", "1"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "AUC" in res.output and "Calibration" in res.output and "percent" in res.output


def test_bad_positive_value_is_a_clean_error(loans_csv: Path) -> None:
    proc = subprocess.run(
        [str(OPENMBS), "model", "train", "--data", str(loans_csv), "--target", "status",
         "--positive", "Default"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "loans.csv" in proc.stderr and "'status'" in proc.stderr and "'Default'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_predict_with_a_missing_model_folder(tmp_path: Path, loans_csv: Path) -> None:
    from openmbs.errors import InputError

    res = CliRunner().invoke(
        app,
        ["model", "predict", "--model", str(tmp_path / "none"), "--data", str(loans_csv),
         "--out", str(tmp_path / "s.csv")],
    )  # fmt: skip
    assert isinstance(res.exception, InputError)
    assert "not found" in str(res.exception)
    assert not (tmp_path / "s.csv").exists()
