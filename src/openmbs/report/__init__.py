"""HTML report of a lifecycle run (plots inlined, no network) and ``summary.json``.

See ``docs/demo.md``.
"""

from __future__ import annotations

from openmbs.report._html import pool_series, write_report, write_summary

__all__ = ["pool_series", "write_report", "write_summary"]
