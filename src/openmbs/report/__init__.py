"""Reports of a lifecycle run: the HTML report and ``summary.json``, and the per-period
distribution statements (HTML, CSV, JSON) a trustee publishes.

See ``docs/demo.md`` and ``docs/report.md``.
"""

from __future__ import annotations

from openmbs.report._html import pool_series, write_report, write_summary
from openmbs.report._statement import (
    SECTIONS,
    DistributionStatement,
    loan_file,
    period_statements,
    statement_csv_rows,
    statement_from_csv_rows,
    write_statements,
)

__all__ = [
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
