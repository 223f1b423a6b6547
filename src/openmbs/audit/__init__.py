"""Audit of a lifecycle output folder: loan-level files, Merkle roots, reports, the
on-chain waterfall against the exact engine, token supplies and claims.

See ``docs/demo.md``.
"""

from __future__ import annotations

from openmbs.audit._audit import AuditCheck, AuditReport, audit, reconcile

__all__ = ["AuditCheck", "AuditReport", "audit", "reconcile"]
