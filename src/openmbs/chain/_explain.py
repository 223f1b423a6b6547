"""Why the oracle refuses a report: the bound, the reported value and the limit.

A refusal from the node carries the failing check's ``# dev:`` reason at best (a node
without tracing gives no reason at all). :func:`explain_rejection` reads the oracle's
state (its public views) and works the figure checks of
``RemittanceOracle.submit`` / ``_check_figures`` in the same order, returning the first
one the report fails, with both numbers. It explains; the contract decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openmbs.oracle import RemittanceReport

__all__ = ["BoundFailure", "explain_rejection", "first_failed_bound"]

WAD = 10**18


@dataclass(frozen=True)
class BoundFailure:
    """A check of the oracle a report fails: its name (the contract's ``# dev:``
    reason), the report's value and the limit (base units, or as named in ``what``)."""

    check: str
    what: str
    value: int
    limit: int

    def __str__(self) -> str:
        return f"{self.check}: {self.what} {self.value:,} vs limit {self.limit:,}"


def first_failed_bound(state: dict[str, int], r: RemittanceReport) -> BoundFailure | None:
    """The first figure check ``r`` fails against the oracle ``state`` (keys
    ``last_period``, ``last_ending_balance``, ``last_loan_count``, ``max_annual_rate``
    (WAD), ``max_index_change`` (WAD), ``last_index_rate`` (WAD), ``last_30``,
    ``last_60_plus``, ``unrecovered_losses``, ``max_arrears_months``, and
    ``outstanding_advances``, 0 when absent); ``None`` when
    every figure is within its bound (the refusal is then about the signatures, the
    deadline, the role or the cash transfer)."""
    s = state
    checks: list[tuple[str, str, int, int, bool]] = []

    def add(check: str, what: str, value: int, limit: int, ok: bool) -> None:
        checks.append((check, what, value, limit, ok))

    add("period out of order", "period", r.period, s["last_period"] + 1, r.period == s["last_period"] + 1)
    add("beginning balance != last ending balance", "beginning_balance", r.beginning_balance,
        s["last_ending_balance"], r.beginning_balance == s["last_ending_balance"])
    collections = r.collections()
    add("cash != collections", "cash", r.cash, collections, r.cash == collections)
    if r.subsequent_recoveries:
        cap = s["unrecovered_losses"] + r.losses
        add("subsequent recoveries above losses", "subsequent_recoveries", r.subsequent_recoveries, cap,
            r.subsequent_recoveries <= cap)
    if r.advances or r.advance_reimbursements:
        scheduled = r.interest + r.scheduled_principal
        add("advances above scheduled collections", "advances", r.advances, scheduled, r.advances <= scheduled)
        owed = s.get("outstanding_advances", 0) + r.advances
        add("reimbursements above advances outstanding", "advance_reimbursements", r.advance_reimbursements, owed,
            r.advance_reimbursements <= owed)
    add("reimbursements above liquidation proceeds", "liquidation_reimbursements", r.liquidation_reimbursements,
        r.recoveries, r.liquidation_reimbursements <= r.recoveries)
    add("liquidation reimbursements above reimbursements", "liquidation_reimbursements",
        r.liquidation_reimbursements, r.advance_reimbursements, r.liquidation_reimbursements <= r.advance_reimbursements)
    add("penalties above prepayments", "prepayment_penalties", r.prepayment_penalties, r.unscheduled_principal,
        r.prepayment_penalties <= r.unscheduled_principal)
    removed = r.scheduled_principal + r.unscheduled_principal + r.recoveries + r.losses
    add("principal above beginning balance", "principal + recoveries + losses", removed, r.beginning_balance,
        removed <= r.beginning_balance)
    rolled = r.beginning_balance - removed
    add("ending balance does not roll forward", "ending_balance", r.ending_balance, rolled, r.ending_balance == rolled)
    dq = r.delinquent_30 + r.delinquent_60 + r.delinquent_90_plus
    add("delinquencies above ending balance", "delinquent 30+60+90", dq, r.ending_balance, dq <= r.ending_balance)
    add("60-89 above last 30-59", "delinquent_60", r.delinquent_60, s["last_30"], r.delinquent_60 <= s["last_30"])
    liquidated = r.losses + r.recoveries
    add("liquidations above last 60+", "losses + recoveries", liquidated, s["last_60_plus"],
        liquidated <= s["last_60_plus"])
    add("90+ above last 60+ less liquidations", "delinquent_90_plus + liquidations", r.delinquent_90_plus + liquidated,
        s["last_60_plus"], r.delinquent_90_plus + liquidated <= s["last_60_plus"])
    if not all(c[4] for c in checks):
        return _first(checks)
    arrears = (s["last_30"] - r.delinquent_60) + s["max_arrears_months"] * (
        s["last_60_plus"] - r.delinquent_90_plus - liquidated
    )
    # interest x 12 <= (beginning balance + arrears) x max rate: both sides in base units
    limit = (r.beginning_balance + arrears) * s["max_annual_rate"] // WAD
    add("interest above balance x max rate", "interest x 12", r.interest * 12, limit,
        r.interest * 12 * WAD <= (r.beginning_balance + arrears) * s["max_annual_rate"])
    add("loan count grew", "loan_count", r.loan_count, s["last_loan_count"], r.loan_count <= s["last_loan_count"])
    band = s["max_index_change"]
    add("index moved more than the band", "index_rate (1e18)", r.index_rate,
        s["last_index_rate"] + band if r.index_rate > s["last_index_rate"] else max(s["last_index_rate"] - band, 0),
        abs(r.index_rate - s["last_index_rate"]) <= band)
    add("empty loan tape root", "loan_tape_root (nonzero)", int.from_bytes(r.loan_tape_root, "big"), 1,
        r.loan_tape_root != b"\x00" * 32)
    return _first(checks)


def _first(checks: list[tuple[str, str, int, int, bool]]) -> BoundFailure | None:
    for check, what, value, limit, ok in checks:
        if not ok:
            return BoundFailure(check, what, value, limit)
    return None


def oracle_state(oracle: Any) -> dict[str, int]:
    """The oracle's figures :func:`first_failed_bound` checks against (its public views)."""
    return {
        "last_period": int(oracle.last_period()),
        "last_ending_balance": int(oracle.last_ending_balance()),
        "last_loan_count": int(oracle.last_loan_count()),
        "max_annual_rate": int(oracle.max_annual_rate()),
        "max_index_change": int(oracle.max_index_change()),
        "last_index_rate": int(oracle.last_index_rate()),
        "last_30": int(oracle.last_delinquent_30()),
        "last_60_plus": int(oracle.last_seriously_delinquent()),
        "unrecovered_losses": int(oracle.unrecovered_losses()),
        "outstanding_advances": int(oracle.outstanding_advances()),
        "max_arrears_months": int(oracle.MAX_ARREARS_MONTHS()),
    }


def explain_rejection(client: Any, report: RemittanceReport) -> str:
    """One line naming the bound ``report`` breaks, the value and the limit (empty when
    its figures are within every bound)."""
    failure = first_failed_bound(oracle_state(client.oracle), report)
    return "" if failure is None else f"{failure} (period {report.period})"
