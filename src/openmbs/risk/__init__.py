"""Risk: credit (default) models on loan-level data and interest-rate models.

- Credit models: :func:`train_credit_model` fits a gradient-boosting or logistic PD model
  on any loan-level table, :func:`load_credit_model` reads a saved one, and
  :func:`default_vectors` turns a tape into loan-level monthly default rates.
- Rate models: :class:`HullWhite` (one factor, fitted exactly to an initial zero curve)
  simulates short-rate paths, discount factors and mortgage-rate paths.
- Scenario grids: :func:`run_scenarios` runs prepayment x default x severity x rate
  shift grids over a deal, on local processes or a Dask cluster.

See ``docs/risk.md``.
"""

from __future__ import annotations

from openmbs.rates import HullWhite, HullWhitePaths, mortgage_rate_paths
from openmbs.risk._credit import (
    CalibrationRow,
    CreditModel,
    CreditModelInfo,
    DefaultVectors,
    Evaluation,
    TrainResult,
    default_vectors,
    evaluate_scores,
    load_credit_model,
    pd_to_mdr,
    train_credit_model,
)
from openmbs.risk._features import FeatureSpec, infer_features, read_loan_table
from openmbs.risk._scenarios import (
    SCENARIO_COLUMNS,
    SUMMARY_MEASURES,
    ScenarioGrid,
    ScenarioResults,
    run_scenarios,
)

__all__ = [
    "SCENARIO_COLUMNS",
    "SUMMARY_MEASURES",
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
