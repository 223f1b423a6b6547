"""The public API of ``openmbs.report`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.report as report
from api_pin import check_public_api

PUBLIC = [
    "SECTIONS",
    "DistributionStatement",
    "loan_file",
    "period_statements",
    "pool_series",
    "statement_csv_rows",
    "statement_from_csv_rows",
    "write_report",
    "write_statements",
    "write_summary",
]

SIGNATURES = {
    "write_report": "(out: 'Path', result: 'Any', audit_checks: 'Sequence[Any]', extra: 'Mapping[str, Any] | None' = None) -> 'Path'",
    "write_summary": "(out: 'Path', result: 'Any', audit_checks: 'Sequence[Any]', extra: 'Mapping[str, Any] | None' = None) -> 'Path'",
}


def test_report_public_api() -> None:
    check_public_api(report, PUBLIC, SIGNATURES)
