"""The public names of the packages of the main job change only on purpose."""

from __future__ import annotations

import openmbs.agents as agents
import openmbs.audit as audit
import openmbs.report as report


def test_public_api() -> None:
    assert agents.__all__ == [
        "RECORD_FIELDS", "AttestorSet", "LoanTree", "ServicerBridge", "ServicerPeriod", "TriggerEvent", "TriggerKeeper",
        "keccak256", "leaf_array", "leaves", "loan_records", "record_columns", "report_from_records",
    ]  # fmt: skip
    assert audit.__all__ == [
        "ANCHOR_FILES", "ANCHOR_REEXECUTED", "ANCHOR_RPC", "ANCHOR_RUN", "AuditCheck", "AuditReport", "ReconCheck", "audit", "reconcile",
    ]  # fmt: skip
    assert report.__all__ == [
        "SECTIONS", "DistributionStatement", "loan_file", "period_statements", "pool_series", "statement_csv_rows",
        "statement_from_csv_rows", "write_report", "write_statements", "write_summary",
    ]  # fmt: skip
    for mod in (agents, audit, report):
        for name in mod.__all__:
            assert hasattr(mod, name), (mod.__name__, name)
