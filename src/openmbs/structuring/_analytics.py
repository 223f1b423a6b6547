"""From pool projections to the waterfall's inputs and outputs: collections, tables,
breakevens. Tranche analytics (yield, duration) are priced in :mod:`openmbs.pricing`."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from openmbs.behaviour import Default
from openmbs.errors import ConvergenceError, InputError
from openmbs.structuring._exact import ExactDeal
from openmbs.structuring._spec import DealSpec
from openmbs.structuring._waterfall import Collections, WaterfallResult, run_waterfall

if TYPE_CHECKING:
    from openmbs.cashflow import PoolCashflows

__all__ = [
    "BALANCE_NOISE",
    "breakeven_cdr",
    "breakeven_sda",
    "collections_from_projection",
    "period_table",
    "pool_balance_rows",
    "write_table",
]

FloatArray = npt.NDArray[np.float64]

#: Rounding noise of a projected balance, as a fraction of the original balance: the
#: engine's balances and flows agree to far better than this (``docs/cashflow.md``), and
#: anything below it is noise, never a balance.
BALANCE_NOISE = 1e-9


def _clean_noise(a: FloatArray, name: str, tol: float) -> None:
    """Set ``a``'s negative rounding noise (down to ``-tol``) to zero, in place; refuse
    anything more negative, naming the projection, the period and the value."""
    if a.size and float(a.min()) < -tol:
        k, t = np.unravel_index(int(a.argmin()), a.shape)
        raise InputError(
            f"projection {k + 1}, period {t + 1}: {name} {float(a[k, t])!r} is negative "
            f"(beyond rounding noise of {tol:.3g})"
        )
    a[a < 0.0] = 0.0


def pool_balance_rows(
    sched: FloatArray,
    prep: FloatArray,
    rec: FloatArray,
    loss: FloatArray,
    end: FloatArray,
    fcl: FloatArray,
    original_balance: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """The waterfall's pool balance rows from a projection, continuous to the bit.

    Parameters
    ----------
    sched, prep, rec, loss : float64[n_scenarios, n_periods]
        Scheduled principal (with advanced amortization), prepaid principal,
        recoveries and losses of each period, currency units, all >= 0.
    end, fcl : float64[n_scenarios, n_periods]
        The projection's ending balance (performing + foreclosure) and foreclosure
        balance (the 60+ delinquent balance), currency units.
    original_balance : float
        Pool balance at the start of period 1.

    Returns
    -------
    beginning, ending, delinquent, scheduled : float64[n_scenarios, n_periods]
        ``ending`` is ``end`` with negative rounding noise set to zero;
        ``beginning(1) = original_balance`` and ``beginning(t + 1) = ending(t)``
        exactly; ``delinquent`` is ``fcl`` cleaned the same way (zero where the pool is);
        ``scheduled`` is the balance change not explained by the other flows (below).

    Raises
    ------
    InputError
        When a balance is negative beyond rounding noise (the message names the
        projection, period and value).

    Notes
    -----
    The pool balance is the SIFMA performing plus foreclosure balance (SF-18), kept as
    projected: a balance is never cut to zero while the pool still pays (a PO would be
    written down with no loss and the tail cash would go to the residual). The
    projection's flows explain its balance change only to rounding, while a class that
    takes all principal follows ``beginning - principal - losses``; the scheduled
    principal is therefore taken as ``beginning - ending - prepaid - recoveries -
    losses`` wherever that differs from the projected one by rounding noise (at most
    ``BALANCE_NOISE x original_balance``), so that the pool's flows and balances agree
    to the last bits of each period's balance, however small the pool has become.
    Negative balances within the noise (a foreclosure pipeline emptied by adding and
    removing the same defaults) are zero; beyond it they are an error.
    """
    orig = float(original_balance)
    tol = BALANCE_NOISE * max(orig, 1.0)
    for name, a in (("ending balance", end), ("foreclosure balance", fcl)):
        if a.size and float(a.min()) < -tol:
            k, t = np.unravel_index(int(a.argmin()), a.shape)
            raise InputError(
                f"projection {k + 1}, period {t + 1}: {name} {float(a[k, t])!r} is negative "
                f"(beyond rounding noise of {tol:.3g} on an original balance of {orig!r})"
            )
    out = np.maximum(end, 0.0)
    dq = np.maximum(fcl, 0.0)
    dq[out == 0.0] = 0.0  # no balance, nothing delinquent
    beg = np.empty_like(out)
    beg[:, 0] = orig
    beg[:, 1:] = out[:, :-1]
    derived = (((beg - out) - prep) - rec) - loss
    close = np.abs(derived - sched) <= tol
    sched_out = np.where(close, np.maximum(derived, 0.0), sched)
    return beg, out, dq, sched_out


def collections_from_projection(
    cf: PoolCashflows | Sequence[PoolCashflows],
    *,
    servicing_in_net_rate: bool = True,
    cleanup_call: float = 0.0,
    index_rate: float | npt.ArrayLike = 0.0,
) -> Collections:
    """Map pool projections to waterfall collections (one scenario per projection).

    Parameters
    ----------
    cf : PoolCashflows or sequence of them
        Projections of the same pool (same original balance and number of periods).
    servicing_in_net_rate : bool, default True
        Use ``net_interest`` (True) or gross ``actual_interest`` (a servicing fee is
        then paid in the waterfall).
    cleanup_call : float, default 0
        Pool factor at or below which the clean-up call is exercised: in that period the
        remaining balance is bought at par (added to prepaid principal) and later
        periods are zero. 0 disables it.
    index_rate : float or array, default 0
        Floater index (decimal), constant or per period.

    Returns
    -------
    Collections

    Notes
    -----
    Pool balance = performing + foreclosure balance (SIFMA default section), so
    ``beginning - ending = scheduled + prepaid + recoveries + losses`` with
    ``scheduled = principal - voluntary_prepayment - recovery`` (actual amortisation
    plus amortisation advanced on defaulted loans). The balance rows come from
    the projection by :func:`pool_balance_rows`: ``beginning(t + 1) = ending(t)``
    exactly, no balance is cut to zero while the pool pays, rounding noise is cleaned
    and real negative balances are an error. The 60+
    delinquent balance is the foreclosure pipeline (defaulted, not yet liquidated).
    """
    items = [cf] if not isinstance(cf, Sequence) else list(cf)
    if not items:
        raise InputError("collections_from_projection needs at least one projection")
    n = items[0].n_periods
    orig = float(items[0].original_balance)
    for p in items:
        if p.n_periods != n or abs(float(p.original_balance) - orig) > 1e-6 * max(orig, 1.0):
            raise InputError("projections of one run must share balance and length")
    interest = np.array([p.net_interest if servicing_in_net_rate else p.actual_interest
                         for p in items], dtype=np.float64).reshape(len(items), n)
    prep = np.array([p.voluntary_prepayment for p in items], dtype=np.float64).reshape(-1, n)
    rec = np.array([p.recovery for p in items], dtype=np.float64).reshape(-1, n)
    loss = np.array([p.loss for p in items], dtype=np.float64).reshape(-1, n)
    prin = np.array([p.principal for p in items], dtype=np.float64).reshape(-1, n)
    fcl = np.array([p.foreclosure_balance for p in items], dtype=np.float64).reshape(-1, n)
    perf = np.array([p.performing_balance for p in items], dtype=np.float64).reshape(-1, n)
    noise = BALANCE_NOISE * max(orig, 1.0)
    for name, a in (("net_interest" if servicing_in_net_rate else "actual_interest", interest),
                    ("voluntary_prepayment", prep), ("recovery", rec), ("loss", loss)):
        _clean_noise(a, name, noise)
    beg, end, dq, sched = pool_balance_rows(
        np.maximum(prin - prep - rec, 0.0), prep, rec, loss, perf + fcl, fcl, orig
    )
    if cleanup_call > 0:
        for j in range(len(items)):
            hit = np.nonzero(end[j] <= cleanup_call * orig)[0]
            if hit.size:
                k = int(hit[0])
                prep[j, k] += end[j, k]
                end[j, k] = 0.0
                for a in (interest, prep, rec, loss, sched, dq, end, beg):
                    a[j, k + 1 :] = 0.0
                dq[j, k] = 0.0
    rows = {
        "interest": interest,
        "scheduled_principal": sched,
        "prepaid_principal": prep,
        "recoveries": rec,
        "losses": loss,
        "beginning_balance": beg,
        "ending_balance": end,
        "delinquent_60": dq,
    }
    return Collections.from_arrays(
        original_balance=orig,
        index_rate=index_rate,  # type: ignore[arg-type]
        **rows,  # type: ignore[arg-type]
    )


def period_table(result: WaterfallResult, *, scenario: int = 0) -> dict[str, FloatArray | list[str]]:
    """The long period x tranche table of one scenario (columns of equal length).

    Columns: period, tranche, beginning_balance, interest_due, interest_paid,
    interest_shortfall, principal_paid, writedown, ending_balance, factor; and per
    period (repeated on each tranche row): fees, reserve_balance, reserve_draw,
    reserve_deposit, residual_paid, triggers (bit mask of failing tests).
    """
    T = result.table("interest_paid").shape[1]
    n = len(result.names)
    per = np.repeat(np.arange(1, T + 1), n)
    cols: dict[str, Any] = {"period": per, "tranche": list(result.names) * T}
    for k in (
        "beginning_balance",
        "interest_due",
        "interest_paid",
        "interest_shortfall",
        "principal_paid",
        "writedown",
        "ending_balance",
    ):
        cols[k] = result.table(k)[scenario].reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["factor"] = (
            result.table("ending_balance")[scenario] / np.where(result.face > 0, result.face, np.nan)
        ).reshape(-1)
    cols["fees"] = np.repeat(result.table("fees_paid")[scenario].sum(axis=1), n)
    for k in ("reserve_balance", "reserve_draw", "reserve_deposit", "residual_paid"):
        cols[k] = np.repeat(result.table(k)[scenario], n)
    trig = result.table("trigger_failing")[scenario]
    mask = np.zeros(T, dtype=np.int64)
    for j in range(trig.shape[1]):
        mask |= (trig[:, j] > 0).astype(np.int64) << j
    cols["triggers"] = np.repeat(mask, n)
    return cols


def _first_loss(
    deal: DealSpec | ExactDeal,
    project: Callable[[Default], PoolCashflows],
    default: Default,
    tranche: str,
    cleanup_call: float,
    servicing_in_net_rate: bool,
    threshold: float,
) -> bool:
    c = collections_from_projection(
        project(default), cleanup_call=cleanup_call, servicing_in_net_rate=servicing_in_net_rate
    )
    res = run_waterfall(deal, c, keep="summary")
    return bool(res.summary.writedown[0, res.tranche(tranche)] >= threshold)


def _bisect(test: Callable[[float], bool], lo: float, hi: float, tol: float) -> float:
    if test(lo):
        return lo
    if not test(hi):
        raise ConvergenceError(f"no loss to the tranche even at {hi!r}: no breakeven below it")
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if test(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _deal_flags(deal: DealSpec | ExactDeal) -> tuple[float, bool, float]:
    if isinstance(deal, DealSpec):
        return deal.cleanup_call, deal.pool.servicing_in_net_rate, 10.0 ** (-deal.asset.decimals)
    return deal.cleanup_wad / 1e18, True, 10.0 ** (-deal.decimals)


def breakeven_cdr(
    deal: DealSpec | ExactDeal,
    project: Callable[[Default], PoolCashflows],
    tranche: str,
    *,
    hi: float = 1.0,
    tol: float = 1e-5,
) -> float:
    """The smallest CDR (decimal) at which ``tranche`` takes its first unit of loss.

    ``project(default)`` returns the pool projection under a :class:`Default`
    assumption (the prepayment, severity and lag are fixed inside it). Bisection on
    ``[0, hi]`` to ``tol``; losses are assumed to grow with the CDR.

    Raises
    ------
    ConvergenceError
        When the tranche takes no loss even at ``hi``.
    """
    cleanup, net, unit = _deal_flags(deal)

    def test(x: float) -> bool:
        return _first_loss(deal, project, Default.cdr(x), tranche, cleanup, net, unit)

    return _bisect(test, 0.0, hi, tol)


def breakeven_sda(
    deal: DealSpec | ExactDeal,
    project: Callable[[Default], PoolCashflows],
    tranche: str,
    *,
    hi: float = 5000.0,
    tol: float = 0.5,
) -> float:
    """The smallest SDA speed (percent, 100 = 100% SDA) at which ``tranche`` takes its
    first unit of loss (bisection, as :func:`breakeven_cdr`)."""
    cleanup, net, unit = _deal_flags(deal)

    def test(x: float) -> bool:
        return _first_loss(deal, project, Default.sda(x), tranche, cleanup, net, unit)

    return _bisect(test, 0.0, hi, tol)


def write_table(columns: dict[str, Any], path: str) -> None:
    """Write a column table to ``.csv``, ``.parquet`` or ``.json`` (records), by suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet", ".json"):
        raise InputError(f"output file {path!r}: use a .csv, .parquet or .json suffix")
    table = pa.table({k: (list(v) if isinstance(v, list) else np.asarray(v)) for k, v in columns.items()})
    tmp = p.with_name(p.name + ".tmp")
    if suffix == ".csv":
        pacsv.write_csv(table, tmp)
    elif suffix == ".parquet":
        pq.write_table(table, tmp)
    else:
        rows = table.to_pylist()
        for r in rows:
            for k, v in r.items():
                if isinstance(v, float) and not math.isfinite(v):
                    r[k] = None
        tmp.write_text(json.dumps(rows, indent=None), encoding="utf-8")
    tmp.replace(p)
