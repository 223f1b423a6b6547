"""The public API of openmbs.cashflow changes only on purpose."""

from __future__ import annotations

import openmbs.cashflow as cashflow


def test_public_names() -> None:
    assert cashflow.__all__ == sorted(cashflow.__all__)
    assert set(cashflow.__all__) == {
        "ADVANCE_MODES", "OUTPUT_FORMATS", "PROJECTION_COLUMNS", "PoolCashflows",
        "advance_mode", "project_loans",
        "project_pool", "project_tape", "projection_table", "write_projection",
    }
