"""Prospectus decrement tables: percent of original class balance outstanding at each
anniversary, and weighted average lives, at constant PSA speeds.

Conventions (as agency REMIC prospectus supplements state them):

* The collateral is the deal's rep lines, each projected on its own at each constant
  PSA speed, no defaults (a ``[[pool.pricing]]`` override replaces the rep lines at
  its speed: prospectuses run 0% PSA on a worst-case coupon and term).
* Rows: the distribution date in the closing month of each following year (the
  anniversaries), until every class is retired at every speed. The figure is the
  class balance after that date's distribution (a Z class's includes its accretion,
  so it can exceed 100; an IO strip's is its notional) over its original balance, in
  percent, rounded to the nearest whole percent; ``*`` marks a balance above 0 and
  below 0.5%.
* Weighted average life (years): each distribution date's NET REDUCTION of the class
  balance, if any (accretion is not principal paid: a period that accretes reduces
  nothing), times the years from the settlement (closing) date to that distribution
  date, summed and divided by the sum of the net reductions. Years are counted 30/360
  (US bond basis). Distribution date ``k`` is ``first_payment_date`` plus ``k - 1``
  months.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openmbs.errors import InputError
from openmbs.structuring._spec import DealSpec
from openmbs.structuring._wal import distribution_dates, years_30_360
from openmbs.structuring._waterfall import run_waterfall

__all__ = ["DecrementTable", "decrement_table", "distribution_dates", "years_30_360"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class DecrementTable:
    """Percent of original balance outstanding and WAL, per speed and class.

    ``percent`` is ``(n_speeds, n_dates, n_classes)`` (not rounded; ``row`` formats
    it); ``dates`` the anniversary distribution dates; ``wal`` ``(n_speeds,
    n_classes)`` in years (``nan`` for a class with no net reduction).
    """

    deal: str
    names: tuple[str, ...]
    psa: tuple[float, ...]
    dates: tuple[dt.date, ...]
    percent: FloatArray
    wal: FloatArray

    def cell(self, speed: int, date: int, cls: int) -> str:
        """A table cell as prospectuses print it: whole percent, ``*`` for (0, 0.5)."""
        p = float(self.percent[speed, date, cls])
        if 0.0 < p < 0.5:
            return "*"
        return f"{int(np.floor(p + 0.5)):d}"  # half up, as printed tables do

    def as_dict(self) -> dict[str, object]:
        return {
            "deal": self.deal,
            "psa": list(self.psa),
            "dates": [d.isoformat() for d in self.dates],
            "classes": {
                name: {
                    "percent": [[self.cell(s, k, i) for s in range(len(self.psa))] for k in range(len(self.dates))],
                    "wal": [None if not np.isfinite(self.wal[s, i]) else float(self.wal[s, i])
                            for s in range(len(self.psa))],
                }
                for i, name in enumerate(self.names)
            },
        }


def decrement_table(spec: DealSpec, psa: Sequence[float]) -> DecrementTable:
    """The deal's decrement table and WALs at constant PSA speeds.

    Parameters
    ----------
    spec : DealSpec
        The deal; its pool (rep lines, or ``balance``/``wac``/``net_coupon``/``term``/
        ``age``) is the collateral.
    psa : sequence of float
        Speeds in percent of PSA (``100``).

    Returns
    -------
    DecrementTable

    Notes
    -----
    The conventions are in the module docstring (settlement-date WAL on net
    reductions of class balance).

    Examples
    --------
    >>> from openmbs.structuring import decrement_table, example_deal
    >>> t = decrement_table(example_deal("four_tranche"), [0, 100])
    >>> t.cell(0, 0, 0), round(float(t.wal[1, 0]), 2) < round(float(t.wal[0, 0]), 2)
    ('99', True)
    """
    from openmbs.structuring._schedule import collateral_collections

    speeds = tuple(float(s) for s in psa)
    if not speeds:
        raise InputError("decrement_table needs at least one PSA speed")
    for s in speeds:
        if not np.isfinite(s) or s < 0:
            raise InputError(f"PSA speed {s!r} must be a number >= 0")
    coll = collateral_collections(spec.pool, speeds)
    res = run_waterfall(spec, coll, keep=("ending_balance",))
    end = res.table("ending_balance")
    face = res.face
    dates = distribution_dates(spec, coll.n_periods)
    wal = res.average_life()
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * end / np.where(face > 0, face, np.nan)[None, None, :]
    rows = []
    for k, d in enumerate(dates):
        if d.month == spec.closing_date.month and d > spec.closing_date:
            rows.append(k)
            if np.all(end[:, k, :] <= 0.0):
                break
    return DecrementTable(
        deal=spec.name,
        names=res.names,
        psa=speeds,
        dates=tuple(dates[k] for k in rows),
        percent=np.nan_to_num(pct[:, rows, :], nan=0.0),
        wal=wal,
    )
