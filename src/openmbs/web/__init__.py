"""Read-only web dashboard over the event store (``openmbs serve``).

Server-rendered HTML pages (Starlette, Jinja2 templates, SVG charts drawn on the
server) for a run's deals, classes, distributions, pool performance, a wallet's
positions and claimable cash, and the Merkle verification of a loan's record against
the root accepted on chain. See ``docs/web.md``.
"""

from __future__ import annotations

from openmbs.web._app import StoreBusy, create_app, fmt_units
from openmbs.web._data import (
    ClassRow,
    Deal,
    LoanCheck,
    Position,
    check_address,
    deal_classes,
    deals,
    distributions,
    find_deal,
    onchain_root,
    verify_loan,
    wallet_positions,
)
from openmbs.web._svg import Series, line_chart

__all__ = [
    "ClassRow",
    "Deal",
    "LoanCheck",
    "Position",
    "Series",
    "StoreBusy",
    "check_address",
    "create_app",
    "deal_classes",
    "deals",
    "distributions",
    "find_deal",
    "fmt_units",
    "line_chart",
    "onchain_root",
    "verify_loan",
    "wallet_positions",
]
