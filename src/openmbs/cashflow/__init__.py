"""The SIFMA cash-flow engine: pool and loan-level projections under assumptions.

Rates are decimals. Column definitions follow the SIFMA Standard Formulas' default
cash-flow section (SF-18/19); see ``docs/cashflow.md``.
"""

from __future__ import annotations

from openmbs.cashflow._advance import ADVANCE_MODES, AdvanceMode, advance_code, advance_mode
from openmbs.cashflow._io import OUTPUT_FORMATS, projection_table, write_projection
from openmbs.cashflow._project import (
    project_loans,
    project_pool,
    project_tape,
    repline_arrays,
    tape_arrays,
)
from openmbs.cashflow._result import PROJECTION_COLUMNS, PoolCashflows, ProjectionTotals

__all__ = [
    "ADVANCE_MODES",
    "OUTPUT_FORMATS",
    "PROJECTION_COLUMNS",
    "AdvanceMode",
    "PoolCashflows",
    "ProjectionTotals",
    "advance_code",
    "advance_mode",
    "project_loans",
    "project_pool",
    "project_tape",
    "projection_table",
    "repline_arrays",
    "tape_arrays",
    "write_projection",
]
