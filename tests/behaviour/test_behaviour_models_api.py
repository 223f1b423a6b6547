"""The public API of ``openmbs.behaviour.models`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.behaviour.models as behaviour_models
from api_pin import check_public_api

PUBLIC = [
    "DEFAULT_SEASONALITY",
    "FITTABLE_PARAMETERS",
    "RefiCalibration",
    "RefiPrepaymentModel",
    "calibrate_refi_model",
]

SIGNATURES = {
    "calibrate_refi_model": "(observed_cpr: 'npt.ArrayLike', mortgage_rates: 'npt.ArrayLike', *, note_rate: 'npt.ArrayLike', loan_age: 'npt.ArrayLike', start_month: 'int' = 1, initial_exposure: 'npt.ArrayLike' = 0.0, fit: 'Sequence[str]' = ('turnover_cpr', 'refi_max_cpr', 'refi_center', 'refi_width', 'burnout'), initial: 'RefiPrepaymentModel | None' = None) -> 'RefiCalibration'",
}


def test_behaviour_models_public_api() -> None:
    check_public_api(behaviour_models, PUBLIC, SIGNATURES)
