"""The public API of ``openmbs.errors`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.errors as errors
from api_pin import check_public_api

PUBLIC = [
    "AssumptionError",
    "ChainError",
    "ConvergenceError",
    "DataIntegrityError",
    "InputError",
    "ModelError",
    "OpenMBSError",
    "Problem",
    "RemittanceRejected",
    "SpecError",
    "TapeError",
    "TapeValidationError",
]

SIGNATURES = {
    "Problem": "(file: 'str | None', row: 'int | None', field: 'str | None', value: 'Any', reason: 'str') -> None",
}


def test_errors_public_api() -> None:
    check_public_api(errors, PUBLIC, SIGNATURES)


def test_errors_hierarchy_is_the_one_drawn_in_the_module_docstring() -> None:
    parent = {
        "InputError": "OpenMBSError",
        "TapeError": "InputError",
        "TapeValidationError": "TapeError",
        "SpecError": "InputError",
        "AssumptionError": "InputError",
        "ModelError": "OpenMBSError",
        "ConvergenceError": "ModelError",
        "ChainError": "OpenMBSError",
        "RemittanceRejected": "ChainError",
        "DataIntegrityError": "OpenMBSError",
    }
    for child, base in parent.items():
        cls = getattr(errors, child)
        assert getattr(errors, base) in cls.__bases__, (child, base, cls.__bases__)
        assert child in (errors.__doc__ or ""), f"{child} is missing from the drawn tree"
    assert issubclass(errors.InputError, ValueError)  # callers may catch ValueError
