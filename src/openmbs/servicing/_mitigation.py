"""Loss-mitigation rates estimated from a real loan history.

The simulator's loss mitigation (:class:`openmbs.sim.LossMitigation`) takes monthly
probabilities and terms; this module measures them on a :class:`LoanHistory`, with the
same definitions, so that ``openmbs demo --mitigation FILE`` runs on what the servicer
actually did rather than on assumptions:

* ``modification``: the share of loan-months 90 days or more past due (90, 120+,
  foreclosure) whose next month is a modification (the history's ``modification``
  column: the month a loan is first modified or its modified terms change). Term
  changes of a loan modified earlier while it is current (the rate steps of a step-rate
  modification) are not counted: the simulator modifies only seriously delinquent loans.
* ``rate_cut``: the mean cut of the note rate at those modifications (decimal a year;
  a modification that raises the rate counts as no cut); ``rate_floor``: the lowest note
  rate after one; ``term``: the median remaining term after one (months).
* ``short_sale``: the share of credit events (REO dispositions, short sales, third-party
  and note sales) that are short sales; ``third_party_sale``: the share of the others
  that are third-party or note sales, as the simulator draws them.
* ``short_sale_severity``, ``third_party_severity``: realised loss over the unpaid
  balance removed, averaged over the events of that outcome (the agency's loss
  definition, see docs/servicing.md); ``None`` where the history has no such event.
* ``forbearance`` (only where the file reports forbearance plans, Freddie Mac's borrower
  assistance code ``F``): the share of current months, not in a plan, followed by a
  month in one; ``forbearance_months``: the mean length of the plans that ended in the
  history. Fannie Mae's original layout has no such field: the estimate says so and
  leaves forbearance off.

Every rate comes with the counts behind it (:attr:`MitigationEstimate.counts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from openmbs.servicing._history import LoanHistory
from openmbs.servicing._states import LoanState

__all__ = ["MitigationEstimate", "estimate_loss_mitigation"]

_SERIOUS = (int(LoanState.D90), int(LoanState.D120P), int(LoanState.FORECLOSURE))
_SALES = (int(LoanState.THIRD_PARTY_SALE), int(LoanState.NOTE_SALE))
_REO = (int(LoanState.REO), int(LoanState.LIQUIDATED))


@dataclass(frozen=True)
class MitigationEstimate:
    """Loss-mitigation rates of a history and the counts behind them.

    Attributes
    ----------
    rates : dict
        The simulator's :class:`~openmbs.sim.LossMitigation` fields that the history
        gives (names and units as there); fields it does not give are absent.
    counts : dict
        The observations: ``serious_months`` (loan-months 90+ past due with a known
        next month), ``modifications`` (of them, followed by a modification),
        ``credit_events`` by outcome, ``current_months`` and ``forbearance_entries``
        (``None`` without a forbearance field), ``forbearance_plans_ended``.
    notes : tuple of str
        What the history could not say, in words.
    """

    agency: str
    source: str
    rates: dict[str, float | int | None]
    counts: dict[str, Any]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``openmbs model mitigation --out`` writes (``loss_mitigation``
        is what ``openmbs demo --mitigation`` reads)."""
        return {
            "performance": self.source,
            "agency": self.agency,
            "loss_mitigation": dict(self.rates),
            "counts": dict(self.counts),
            "notes": list(self.notes),
        }


def _share(num: int, den: int) -> float:
    return float(num) / float(den) if den else 0.0


def estimate_loss_mitigation(history: LoanHistory) -> MitigationEstimate:
    """Measure the loss-mitigation rates of ``history`` (see the module's definitions)."""
    m = history.months
    ids = m.column("loan_id").to_numpy(zero_copy_only=False)
    state = m.column("state").to_numpy().astype(np.int64)
    modification = m.column("modification").to_numpy(zero_copy_only=False).astype(bool)
    rate = m.column("note_rate").to_numpy(zero_copy_only=False).astype(np.float64)
    term = m.column("remaining_term").to_numpy(zero_copy_only=False)
    term = np.asarray(term, dtype=np.float64)
    # pairs of consecutive rows of one loan (the history is sorted by loan and month)
    same = np.zeros(len(ids), dtype=bool)
    if len(ids) > 1:
        same[1:] = ids[1:] == ids[:-1]
    prev_state = np.r_[-1, state[:-1]]
    prev_rate = np.r_[np.nan, rate[:-1]]
    known = state != int(LoanState.UNKNOWN)

    serious = same & np.isin(prev_state, _SERIOUS) & known
    mods = serious & modification
    n_serious, n_mods = int(serious.sum()), int(mods.sum())
    rates: dict[str, float | int | None] = {"modification": _share(n_mods, n_serious)}
    notes: list[str] = []
    if n_mods:
        before, after = prev_rate[mods], rate[mods]
        ok = np.isfinite(before) & np.isfinite(after)
        if ok.any():
            rates["rate_cut"] = float(np.mean(np.maximum(before[ok] - after[ok], 0.0)))
            rates["rate_floor"] = float(np.min(after[ok]))
        t = term[mods]
        t = t[np.isfinite(t)]
        if t.size:
            rates["term"] = int(np.median(t))
    else:
        notes.append(
            "no modification of a loan 90+ days past due: rate cut, floor and term not estimated"
        )

    # credit events and their severities
    ce = np.isin(state, (*_REO, int(LoanState.SHORT_SALE), *_SALES)) & ~m.column(
        "zero_balance_code"
    ).is_null().to_numpy(zero_copy_only=False)
    outcome = state[ce]
    loss = m.column("realised_loss").to_numpy(zero_copy_only=False).astype(np.float64)[ce]
    upb = m.column("upb").to_numpy(zero_copy_only=False).astype(np.float64)[ce]
    n_short = int((outcome == int(LoanState.SHORT_SALE)).sum())
    n_sale = int(np.isin(outcome, _SALES).sum())
    n_reo = int(np.isin(outcome, _REO).sum())
    rates["short_sale"] = _share(n_short, n_short + n_sale + n_reo)
    rates["third_party_sale"] = _share(n_sale, n_sale + n_reo)

    def severity(mask: npt.NDArray[np.bool_]) -> float | None:
        ok = mask & np.isfinite(loss) & np.isfinite(upb) & (upb > 0)
        if not ok.any():
            return None
        return float(np.clip(np.mean(loss[ok] / upb[ok]), 0.0, 1.0))

    rates["short_sale_severity"] = severity(outcome == int(LoanState.SHORT_SALE))
    rates["third_party_severity"] = severity(np.isin(outcome, _SALES))

    # forbearance plans, where the file reports them
    assistance = m.column("assistance").to_numpy(zero_copy_only=False).astype(str)
    in_plan = assistance == "F"
    n_current = n_entries = n_ended = None
    if in_plan.any():
        prev_plan = np.r_[False, in_plan[:-1]] & same
        cur = same & (prev_state == int(LoanState.CURRENT)) & ~prev_plan & known
        n_current, n_entries = int(cur.sum()), int((cur & in_plan).sum())
        rates["forbearance"] = _share(n_entries, n_current)
        # plans that ended inside the history: a plan month followed by a non-plan month
        starts = np.flatnonzero(in_plan & ~prev_plan)
        lengths = []
        for s in starts:
            e = s
            while e + 1 < len(ids) and same[e + 1] and in_plan[e + 1]:
                e += 1
            if e + 1 < len(ids) and same[e + 1]:
                lengths.append(e - s + 1)
        n_ended = len(lengths)
        if lengths:
            rates["forbearance_months"] = max(1, round(float(np.mean(lengths))))
        notes.append("forbearance_repay not estimated: the file does not say how a plan ended")
    else:
        rates["forbearance"] = 0.0
        notes.append(
            "no forbearance plan reported (Fannie Mae's original layout has no such field): forbearance off"
        )
    counts: dict[str, Any] = {
        "loan_months": len(ids),
        "serious_months": n_serious,
        "modifications": n_mods,
        "credit_events": {"reo": n_reo, "short_sale": n_short, "third_party_or_note_sale": n_sale},
        "current_months": n_current,
        "forbearance_entries": n_entries,
        "forbearance_plans_ended": n_ended,
    }
    return MitigationEstimate(
        agency=history.agency, source=history.source, rates=rates, counts=counts, notes=tuple(notes)
    )
