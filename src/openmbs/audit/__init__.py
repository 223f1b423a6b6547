"""Audit of a lifecycle output folder: loan-level files, Merkle roots, reports, the
on-chain waterfall against the exact engine, token supplies and claims, anchored to the
chain (read over JSON-RPC, or an embedded run re-executed).

See ``docs/demo.md``.
"""

from __future__ import annotations

from openmbs.audit._audit import (
    ANCHOR_FILES,
    ANCHOR_REEXECUTED,
    ANCHOR_RPC,
    ANCHOR_RUN,
    AuditCheck,
    AuditReport,
    ReconCheck,
    audit,
    reconcile,
)

__all__ = [
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
