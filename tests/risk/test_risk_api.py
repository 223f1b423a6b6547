"""The public API of ``openmbs.risk`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.risk as risk
from api_pin import check_public_api

PUBLIC = [
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

SIGNATURES = {
    "run_scenarios": "(deal: 'DealSpec', pool: 'PoolLines', grid: 'ScenarioGrid', *, price: 'float', lag: 'int' = 0, advance: 'str | bool' = 'principal', index_rate: 'float' = 0.0, workers: 'int | None' = None, dask_address: 'str | None' = None, chunk_size: 'int | None' = None, progress: 'Callable[[int], None] | None' = None) -> 'ScenarioResults'",
    "ScenarioGrid.parse": "(*, psa: 'str', cdr: 'str' = '0', severity: 'str' = '0', shift_bp: 'str' = '0') -> 'ScenarioGrid'",
    "train_credit_model": "(data: 'str | Path | pa.Table | Any', *, target: 'str', positive: 'str', features: 'Sequence[str] | None' = None, model: 'ModelKind' = 'gbm', test_size: 'float' = 0.25, seed: 'int' = 0, max_rows: 'int | None' = None, horizon_months: 'int | None' = None, n_threads: 'int | None' = None) -> 'TrainResult'",
}


def test_risk_public_api() -> None:
    check_public_api(risk, PUBLIC, SIGNATURES)
