"""Helpers for the structuring tests: small deals built from dicts, exact runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from openmbs.structuring import DealSpec, ExactRemittance, parse_deal


def build_deal(tranches: list[dict[str, Any]], **top: Any) -> DealSpec:
    """A deal in whole currency units (decimals = 0) unless ``asset`` says otherwise."""
    data: dict[str, Any] = {
        "name": "t",
        "closing_date": "2026-01-29",
        "first_payment_date": "2026-02-25",
        "asset": {"symbol": "USD", "decimals": 0},
        "tranches": tranches,
    }
    data.update(top)
    data["closing_date"] = dt.date.fromisoformat(str(data["closing_date"]))
    data["first_payment_date"] = dt.date.fromisoformat(str(data["first_payment_date"]))
    return parse_deal(data)


def rem(
    period: int,
    *,
    interest: int = 0,
    sched: int = 0,
    prepaid: int = 0,
    recoveries: int = 0,
    losses: int = 0,
    beg: int,
    end: int | None = None,
    delinquent: int = 0,
    index: int = 0,
    subsequent: int = 0,
) -> ExactRemittance:
    """A remittance; ``end`` defaults to ``beg`` less principal and losses."""
    if end is None:
        end = beg - sched - prepaid - recoveries - losses
    return ExactRemittance(
        period=period,
        interest=interest,
        scheduled_principal=sched,
        prepaid_principal=prepaid,
        recoveries=recoveries,
        realized_losses=losses,
        beginning_balance=beg,
        ending_balance=end,
        delinquent_60=delinquent,
        index_rate=index,
        subsequent_recoveries=subsequent,
    )
