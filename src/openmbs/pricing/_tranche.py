"""Tranche analytics: WAL, window, yield and duration of each class of a waterfall run.

Moved from ``openmbs.structuring`` (``_analytics.py``): both inputs -- the waterfall
(:mod:`openmbs.structuring`) and the price/yield measures (this package) -- sit below
them, so structuring no longer imports pricing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from openmbs.errors import ConvergenceError
from openmbs.pricing._measures import analyze
from openmbs.structuring import Collections, DealSpec, ExactDeal, WaterfallResult, run_waterfall

__all__ = ["TrancheAnalytics", "price_yield_table", "tranche_analytics"]


@dataclass(frozen=True)
class TrancheAnalytics:
    """One tranche's measures in one scenario.

    ``wal`` in years, the prospectus WAL (from the settlement date to each distribution
    date, on net reductions of class balance:
    :meth:`openmbs.structuring.WaterfallResult.average_life`); ``first`` and
    ``last`` the principal window (periods, 0 if no principal); ``yield_`` the
    bond-equivalent yield at ``price`` (decimal; ``nan`` without a price, and ``nan``
    when no yield gives the price, the yield solver's
    :class:`~openmbs.errors.ConvergenceError`); ``modified_duration`` in years (``nan``
    with the yield); money in currency units.
    """

    name: str
    face: float
    wal: float
    first: int
    last: int
    price: float
    yield_: float
    modified_duration: float
    interest: float
    principal: float
    loss: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields, NaN as ``None``; the yield (a decimal) under ``"yield"``,
        the key every JSON output uses (docs/architecture.md, "Units")."""
        return {
            ("yield" if k == "yield_" else k): (
                None if isinstance(v, float) and not math.isfinite(v) else v
            )
            for k, v in self.__dict__.items()
        }


def tranche_analytics(
    result: WaterfallResult,
    *,
    price: float | None = None,
    delay_days: float = 0.0,
    scenario: int = 0,
) -> list[TrancheAnalytics]:
    """WAL, principal window, yield at ``price``, modified duration and loss per tranche.

    Uses :func:`openmbs.pricing.analyze` (bond-equivalent yield, 30/360 timing, the
    given payment delay) on the tranche's interest + principal. Where no yield gives
    ``price`` (``analyze`` raises :class:`~openmbs.errors.ConvergenceError`: the cash is
    worth less than the price even at the floor yield, or more even at the cap), the
    tranche's ``yield_`` and ``modified_duration`` are ``nan``; any other error
    propagates. The WAL is the prospectus one whatever the price and delay.
    """
    ip = result.table("interest_paid")[scenario]
    pp = result.table("principal_paid")[scenario]
    wd = result.table("writedown")[scenario]
    wals = result.average_life()[scenario]
    out = []
    for i, name in enumerate(result.names):
        face = float(result.face[i])
        cash = ip[:, i] + pp[:, i]
        prin = pp[:, i]
        tot_p = float(prin.sum())
        has = np.nonzero(prin > 0)[0]
        first = int(has[0]) + 1 if has.size else 0
        last = int(has[-1]) + 1 if has.size else 0
        wal = float(wals[i])
        y = md = math.nan
        if price is not None and face > 0 and float(cash.sum()) > 0:
            try:
                a = analyze(cash, prin, face, price=price, delay_days=delay_days)
            except ConvergenceError:  # no yield gives the price: nan, as documented
                a = None
            if a is not None:
                y = float(a.yield_)
                md = float(a.modified_duration)
        out.append(
            TrancheAnalytics(
                name=name,
                face=face,
                wal=wal,
                first=first,
                last=last,
                price=math.nan if price is None else float(price),
                yield_=y,
                modified_duration=md,
                interest=float(ip[:, i].sum()),
                principal=tot_p,
                loss=float(wd[:, i].sum()),
            )
        )
    return out



def price_yield_table(
    deal: DealSpec | ExactDeal,
    collections: Collections,
    tranche: str,
    prices: Sequence[float],
    *,
    delay_days: float = 0.0,
) -> list[list[TrancheAnalytics]]:
    """Yield, WAL and modified duration of one tranche for each price (rows) and each
    scenario of ``collections`` (columns, e.g. one per PSA speed)."""
    res = run_waterfall(deal, collections, keep="cashflows")
    i = res.tranche(tranche)
    table = []
    for p in prices:
        row = []
        for k in range(collections.n_scenarios):
            row.append(tranche_analytics(res, price=p, delay_days=delay_days, scenario=k)[i])
        table.append(row)
    return table


