"""Behavioural models driven by market rates (prepayment), vectorised over paths.

:class:`RefiPrepaymentModel` turns paths of prevailing mortgage rates (for example from
:func:`openmbs.rates.mortgage_rate_paths`) and loan note rates and ages into CPR/SMM
arrays; :func:`calibrate_refi_model` fits its parameters to an observed CPR history.
See ``docs/risk.md``.
"""

from __future__ import annotations

from openmbs.behaviour.models._refi import (
    DEFAULT_SEASONALITY,
    FITTABLE_PARAMETERS,
    RefiCalibration,
    RefiPrepaymentModel,
    calibrate_refi_model,
)

__all__ = [
    "DEFAULT_SEASONALITY",
    "FITTABLE_PARAMETERS",
    "RefiCalibration",
    "RefiPrepaymentModel",
    "calibrate_refi_model",
]
