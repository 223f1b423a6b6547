"""The public names of openmbs.risk and openmbs.behaviour.models change only on purpose."""

from __future__ import annotations

import openmbs.behaviour.models as models
import openmbs.risk as risk


def test_risk_public_api() -> None:
    assert risk.__all__ == [
        "SCENARIO_COLUMNS",
        "CalibrationRow",
        "CreditModel",
        "CreditModelInfo",
        "DefaultVectors",
        "Evaluation",
        "FeatureSpec",
        "HullWhite",
        "HullWhitePaths",
        "ScenarioGrid",
        "ScenarioResults",
        "TrainResult",
        "default_vectors",
        "evaluate_scores",
        "infer_features",
        "load_credit_model",
        "mortgage_rate_paths",
        "pd_to_mdr",
        "read_loan_table",
        "run_scenarios",
        "train_credit_model",
    ]
    assert all(hasattr(risk, n) for n in risk.__all__)


def test_behaviour_models_public_api() -> None:
    assert models.__all__ == [
        "DEFAULT_SEASONALITY",
        "FITTABLE_PARAMETERS",
        "RefiCalibration",
        "RefiPrepaymentModel",
        "calibrate_refi_model",
    ]
    assert all(hasattr(models, n) for n in models.__all__)
