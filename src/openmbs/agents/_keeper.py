"""A keeper that watches a deal's triggers from the figures the chain publishes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from openmbs.structuring import WAD, ExactDeal

__all__ = ["TriggerEvent", "TriggerKeeper"]

_T_OC, _T_IC, _T_CUMLOSS, _T_DELINQ = 1, 2, 3, 4
_F_IO = 1
_NAMES = {
    _T_OC: "overcollateralization",
    _T_IC: "interest_coverage",
    _T_CUMLOSS: "cumulative_loss",
    _T_DELINQ: "delinquency_60",
}


@dataclass(frozen=True)
class TriggerEvent:
    """A trigger changing state: ``tripped`` True when it starts failing, False when it cures."""

    period: int
    name: str
    test: str
    tripped: bool
    value: float
    threshold: float

    def message(self) -> str:
        verb = "TRIPPED" if self.tripped else "cured"
        return f"period {self.period}: trigger {self.name!r} ({self.test}) {verb}: value {self.value:.6f} vs threshold {self.threshold:.6f}"


@dataclass
class TriggerKeeper:
    """Evaluates the deal's trigger tests each period from published figures.

    The keeper sees what anyone can read from the chain: each accepted report
    (beginning and ending pool balance, losses, subsequent recoveries, 60+ day
    delinquencies) and the tranche balances before the period. It applies the tests
    of the deal spec with the integer comparisons of the exact engine (``a / b < t``
    as ``a * WAD < t * b``), at the same dates: over-collateralisation fails when
    ``pool_beg * WAD < threshold * (balance of the test class and its seniors)``, pool
    and classes both as of the beginning of the period; cumulative loss (net of
    subsequent recoveries, never below 0) when ``cum_loss * WAD > threshold *
    pool_original``; 60+ delinquency when ``delinquent_60_plus * WAD > threshold *
    pool_end``. The
    interest-coverage test needs the deal's fee arithmetic and is not watched (it is
    reported as such in ``unwatched``).
    """

    deal: ExactDeal
    cum_loss: int = 0
    failing: dict[int, bool] = field(default_factory=dict)
    events: list[TriggerEvent] = field(default_factory=list)

    @property
    def unwatched(self) -> list[str]:
        return [
            self.deal.trigger_names[k] if k < len(self.deal.trigger_names) else str(k)
            for k in range(self.deal.n_triggers)
            if self.deal.trig_test[k] == _T_IC
        ]

    def observe(
        self,
        period: int,
        *,
        pool_beg: int,
        pool_end: int,
        losses: int,
        delinquent_60_plus: int,
        tranche_balances: Sequence[int],
        subsequent_recoveries: int = 0,
    ) -> list[TriggerEvent]:
        """Feed one accepted period; returns the triggers that changed state."""
        d = self.deal
        self.cum_loss = max(self.cum_loss + losses - subsequent_recoveries, 0)
        out: list[TriggerEvent] = []
        for k in range(d.n_triggers):
            test, thr = d.trig_test[k], d.trig_threshold[k]
            if test == _T_OC:
                rank = d.priority[d.trig_ref[k]]
                den = sum(
                    int(b)
                    for i, b in enumerate(tranche_balances)
                    if d.priority[i] <= rank and d.flags[i] & _F_IO == 0
                )
                fail = den > 0 and pool_beg * WAD < thr * den
                value = pool_beg / den if den else float("inf")
            elif test == _T_CUMLOSS:
                fail = self.cum_loss * WAD > thr * d.pool_original
                value = self.cum_loss / d.pool_original
            elif test == _T_DELINQ:
                fail = delinquent_60_plus * WAD > thr * pool_end
                value = delinquent_60_plus / pool_end if pool_end else 0.0
            else:
                continue
            if fail != self.failing.get(k, False):
                name = d.trigger_names[k] if k < len(d.trigger_names) else f"trigger{k}"
                ev = TriggerEvent(period, name, _NAMES.get(test, str(test)), fail, value, thr / WAD)
                out.append(ev)
                self.events.append(ev)
            self.failing[k] = fail
        return out
