"""The public API of ``openmbs.audit`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.audit as audit
from api_pin import check_public_api

PUBLIC = [
    "ANCHOR_FILES",
    "ANCHOR_REEXECUTED",
    "ANCHOR_RPC",
    "ANCHOR_RUN",
    "AuditCheck",
    "AuditReport",
    "ReconCheck",
    "audit",
    "reconcile",
]

SIGNATURES = {
    "audit": "(folder: 'str | Path', *, rpc: 'str | None' = None, deal: 'str | None' = None, files_only: 'bool' = False) -> 'AuditReport'",
    "reconcile": "(folder: 'str | Path', *, exact: 'Any', results: 'Sequence[Any]', reports: 'Sequence[Any]', client: 'Any | None', audit_report: 'AuditReport | None' = None, other_income: 'Sequence[int]' = ()) -> 'list[Any]'",
}


def test_audit_public_api() -> None:
    check_public_api(audit, PUBLIC, SIGNATURES)
