"""The public API of openmbs.collateral changes only on purpose."""

from __future__ import annotations

import openmbs.collateral as collateral


def test_public_names() -> None:
    # isort-style order (constants, classes, functions), as ruff RUF022 keeps it
    def key(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert collateral.__all__ == sorted(collateral.__all__, key=key)
    assert set(collateral.__all__) == {
        "AS_OF",
        "CANONICAL_FIELDS",
        "CANONICAL_SCHEMA",
        "CATEGORY_VALUES",
        "CONFORMING_LIMIT",
        "FieldSpec",
        "LoanTape",
        "PoolStats",
        "REQUIRED_FIELDS",
        "StratRow",
        "Stratification",
        "TapeBatch",
        "US_STATE_CODES",
        "generate_tape",
        "iter_tape_batches",
        "pool_stats",
        "read_tape",
        "validate_table",
        "write_tape",
    }
    for name in collateral.__all__:
        assert getattr(collateral, name) is not None
