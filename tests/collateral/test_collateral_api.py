"""The public API of ``openmbs.collateral`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.collateral as collateral
from api_pin import check_public_api

PUBLIC = [
    "AS_OF",
    "CANONICAL_FIELDS",
    "CANONICAL_SCHEMA",
    "CATEGORY_VALUES",
    "CONFORMING_LIMIT",
    "REQUIRED_FIELDS",
    "US_STATE_CODES",
    "FieldSpec",
    "LoanTape",
    "PoolStats",
    "StratRow",
    "Stratification",
    "TapeBatch",
    "generate_tape",
    "iter_tape_batches",
    "pool_stats",
    "read_tape",
    "validate_table",
    "write_tape",
]

SIGNATURES = {
    "read_tape": "(path: 'str | os.PathLike[str]', *, format: 'str | None' = None, keep_good: 'bool' = False, rejects: 'str | os.PathLike[str] | None' = None, block_bytes: 'int' = 8388608) -> 'LoanTape'",
    "generate_tape": "(n_loans: 'int', *, seed: 'int') -> 'LoanTape'",
    "pool_stats": "(tape: 'LoanTape') -> 'PoolStats'",
    "write_tape": "(tape: 'LoanTape', path: 'str | os.PathLike[str]', *, format: 'str | None' = None) -> 'None'",
}


def test_collateral_public_api() -> None:
    check_public_api(collateral, PUBLIC, SIGNATURES)
