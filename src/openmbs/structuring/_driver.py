"""Drivers of the exact engine: collections to remittances, and whole-deal runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from openmbs.errors import InputError
from openmbs.structuring._exact import (
    WAD,
    ExactDeal,
    ExactPeriodResult,
    ExactRemittance,
    ExactState,
    apply_period,
    initial_state,
)
from openmbs.structuring._waterfall import Collections

__all__ = ["exact_remittance", "remittances_from_collections", "run_exact"]


def remittances_from_collections(
    collections: Collections, decimals: int, *, scenario: int = 0
) -> list[ExactRemittance]:
    """One scenario of float collections as integer remittances.

    Amounts are rounded to the nearest base unit; the ending balance is rebuilt as
    ``beginning - scheduled - prepaid - recoveries - losses`` (floored at 0) so that
    the integer pool balance is continuous; the index rate is rounded to WAD.
    """
    c = collections
    k = scenario
    scale: int = 10**decimals

    def units(x: float) -> int:
        return max(round(float(x) * scale), 0)

    out = []
    beg = units(c.beginning_balance[k, 0])
    for t in range(c.n_periods):
        sched = units(c.scheduled_principal[k, t])
        prep = units(c.prepaid_principal[k, t])
        rec = units(c.recoveries[k, t])
        loss = units(c.losses[k, t])
        end = units(c.ending_balance[k, t])
        if float(c.ending_balance[k, t]) <= 0.0:
            end = 0
        out.append(
            ExactRemittance(
                period=t + 1,
                interest=units(c.interest[k, t]),
                scheduled_principal=sched,
                prepaid_principal=prep,
                recoveries=rec,
                realized_losses=loss,
                beginning_balance=beg,
                ending_balance=end,
                delinquent_60=units(c.delinquent_60[k, t]),
                index_rate=max(round(float(c.index_rate[k, t]) * WAD), 0),
                subsequent_recoveries=units(c.subsequent_recoveries[k, t]),
            )
        )
        beg = end
    return out


def run_exact(
    deal: ExactDeal, remittances: Sequence[ExactRemittance], state: ExactState | None = None
) -> tuple[ExactState, list[ExactPeriodResult]]:
    """Apply every remittance in turn from ``state`` (closing state by default)."""
    s = initial_state(deal) if state is None else state
    results = []
    for rem in remittances:
        s, r = apply_period(deal, s, rem)
        results.append(r)
    return s, results


def exact_arrays(results: Sequence[ExactPeriodResult], field: str) -> np.ndarray:  # type: ignore[type-arg]
    """A per-tranche field of exact results as an int64-safe object array (periods x tranches)."""
    return np.array([getattr(r, field) for r in results], dtype=object)


def exact_remittance(report: Any, *, other_income: int = 0) -> ExactRemittance:
    """The exact engine's remittance of an oracle report (``openmbs.oracle.RemittanceReport``
    or anything with its fields): the mapping the lifecycle and the audit both use.

    ``other_income`` (base units) is what the deal distributed with the report beside
    the servicer's cash: late-report penalties the servicer's bond paid in
    (``Deal.OtherIncomeDistributed``; docs/chain.md, "Servicer bond"). It is part of the
    period's available interest, as ``Deal.distribute`` passes it to the waterfall;
    read it from the chain (``DealClient.other_income_pending`` before the submission,
    or the event), never recompute it.

    ``delinquent_60`` of the exact engine is the 60+ day balance: the report's 60-day
    plus 90+-day buckets. Advances reimbursed out of liquidation proceeds are taken
    before the waterfall: ``recoveries - liquidation_reimbursements`` reach it and
    ``losses + liquidation_reimbursements`` is what the deal lost (docs/chain.md,
    "Advances and penalties"); prepayment penalties pass as they are.
    """
    if other_income < 0:
        raise InputError(f"period {report.period}: field 'other_income' value {other_income}: need >= 0")
    taken = int(getattr(report, "liquidation_reimbursements", 0))
    return ExactRemittance(
        period=report.period,
        interest=report.interest + other_income,
        scheduled_principal=report.scheduled_principal,
        prepaid_principal=report.unscheduled_principal,
        recoveries=report.recoveries - taken,
        realized_losses=report.losses + taken,
        beginning_balance=report.beginning_balance,
        ending_balance=report.ending_balance,
        delinquent_60=report.delinquent_60 + report.delinquent_90_plus,
        index_rate=report.index_rate,
        subsequent_recoveries=int(getattr(report, "subsequent_recoveries", 0)),
        prepayment_penalties=int(getattr(report, "prepayment_penalties", 0)),
    )
