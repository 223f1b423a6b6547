"""The public API of ``openmbs.cashflow`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.cashflow as cashflow
from api_pin import check_public_api

PUBLIC = [
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

SIGNATURES = {
    "project_pool": "(*, balance: 'float', gross_coupon: 'float', net_coupon: 'float', original_term: 'int', remaining_term: 'int', loan_age: 'int | None' = None, prepayment: 'Prepayment', default: 'Default | None' = None, severity: 'float' = 0.0, lag: 'int' = 0, advance: 'AdvanceMode | bool' = 'principal', n_periods: 'int | None' = None) -> 'PoolCashflows'",
    "project_tape": '(tape: \'LoanTape | Any\', *, prepayment: \'Prepayment\', default: \'Default | None\' = None, severity: \'float\' = 0.0, lag: \'int\' = 0, advance: \'AdvanceMode | bool\' = \'principal\', method: "Literal[\'loan\', \'repline\']" = \'loan\') -> \'PoolCashflows\'',
    "project_loans": "(balance: 'npt.ArrayLike', gross_coupon: 'npt.ArrayLike', net_coupon: 'npt.ArrayLike', remaining_term: 'npt.ArrayLike', loan_age: 'npt.ArrayLike', *, prepayment: 'Prepayment', default: 'Default | None' = None, severity: 'float' = 0.0, lag: 'int' = 0, advance: 'AdvanceMode | bool' = 'principal', n_periods: 'int | None' = None) -> 'PoolCashflows'",
    "write_projection": "(cf: 'PoolCashflows', path: 'str | os.PathLike[str]') -> 'Path'",
}


def test_cashflow_public_api() -> None:
    check_public_api(cashflow, PUBLIC, SIGNATURES)


def test_docstring_examples_run() -> None:
    import doctest

    import openmbs.cashflow._result as result

    outcome = doctest.testmod(result, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.attempted > 0 and outcome.failed == 0
