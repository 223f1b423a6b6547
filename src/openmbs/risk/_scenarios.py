"""Scenario grids: prepayment x default x severity x rate shift over a deal, in parallel.

Every scenario is computed independently and deterministically (the cash-flow kernel is
run single-threaded inside a task, so its sums do not depend on the thread count), so
the results agree whether the grid runs in this process, on a local process pool or on
a Dask cluster, and however it is cut into chunks.

Local worker processes are started once and kept for later grids in the same Python
process (shut down at exit): starting one costs its imports (NumPy, SciPy, PyArrow,
numba) and loading the compiled kernels from numba's on-disk cache, which each worker
does once, in its initializer, by evaluating a two-scenario warm-up grid.
"""

from __future__ import annotations

import atexit
import itertools
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as cf_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import advance_mode, project_loans
from openmbs.errors import ConvergenceError, InputError
from openmbs.pricing import analyze, price_from_yield
from openmbs.structuring import collections_from_projection, run_waterfall

if TYPE_CHECKING:
    from openmbs.pricing import PoolLines
    from openmbs.structuring import DealSpec

__all__ = [
    "SCENARIO_COLUMNS",
    "SUMMARY_MEASURES",
    "ScenarioGrid",
    "ScenarioResults",
    "run_scenarios",
]

FloatArray = npt.NDArray[np.float64]

#: Columns of :attr:`ScenarioResults.table`, one row per scenario and tranche.
SCENARIO_COLUMNS = (
    "scenario",
    "psa",
    "cdr",
    "severity",
    "shift_bp",
    "tranche",
    "yield",
    "wal",
    "modified_duration",
    "loss",
    "price_at_shift",
    "first_period",
    "last_period",
)


#: Measures :meth:`ScenarioResults.summary` reduces over the scenarios.
SUMMARY_MEASURES = ("yield", "wal", "loss", "price_at_shift")


@dataclass(frozen=True)
class ScenarioGrid:
    """The axes of a grid; scenarios are their Cartesian product.

    Attributes
    ----------
    psa : tuple of float
        Prepayment speeds, percent of PSA (100 = 100% PSA): a speed, not a rate.
    cdr : tuple of float
        Constant default rates, annual decimals (0.02 = 2% CDR).
    severity : tuple of float
        Loss severities, decimals of the defaulted balance (0.35 = 35%).
    shift_bp : tuple of float
        Parallel rate shifts, basis points.

    Rates are decimals, as everywhere in the Python API (docs/architecture.md,
    "Units"); :meth:`parse` reads the command line's market units (percent).

    Scenario ``i`` is the ``i``-th element of ``itertools.product(psa, cdr, severity,
    shift_bp)`` (the last axis varies fastest).
    """

    psa: tuple[float, ...] = (100.0,)
    cdr: tuple[float, ...] = (0.0,)
    severity: tuple[float, ...] = (0.0,)
    shift_bp: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        for name, lo, hi, unit in (
            ("psa", 0.0, 100_000.0, "percent of PSA"),
            ("cdr", 0.0, 1.0, "a decimal: 0.02 is 2% CDR"),
            ("severity", 0.0, 1.0, "a decimal: 0.35 is 35%"),
            ("shift_bp", -5_000.0, 5_000.0, "basis points"),
        ):
            values = tuple(float(v) for v in getattr(self, name))
            if not values:
                raise InputError(f"scenario grid: {name} needs at least one value")
            for v in values:
                if not (math.isfinite(v) and lo <= v <= hi):
                    raise InputError(
                        f"scenario grid: {name} value {v!r} is outside [{lo:g}, {hi:g}] ({unit})"
                    )
            object.__setattr__(self, name, values)

    @classmethod
    def parse(cls, *, psa: str, cdr: str = "0", severity: str = "0", shift_bp: str = "0") -> ScenarioGrid:
        """From comma-separated lists in the command line's market units: PSA speeds,
        CDRs and severities in percent (``cdr="0,2"`` is 0% and 2% CDR), shifts in bp.

        >>> ScenarioGrid.parse(psa="100,300", cdr="0,2", severity="35").cdr
        (0.0, 0.02)
        """

        def nums(text: str, flag: str, scale: float = 1.0) -> tuple[float, ...]:
            out = []
            for item in (x.strip() for x in text.split(",")):
                if not item:
                    continue
                try:
                    number = float(item)
                except ValueError:
                    raise InputError(f"--{flag}: {item!r} is not a number (in {text!r})") from None
                if scale != 1.0 and math.isfinite(number) and not 0.0 <= number <= 100.0:
                    raise InputError(f"--{flag} {item}: must be a percent between 0 and 100")
                out.append(number / scale)
            return tuple(out)

        return cls(nums(psa, "psa"), nums(cdr, "cdr", 100.0), nums(severity, "severity", 100.0),
                   nums(shift_bp, "shift-bp"))

    def scenarios(self) -> FloatArray:
        """``(n, 4)`` array of (psa, cdr, severity, shift_bp) rows."""
        rows = list(itertools.product(self.psa, self.cdr, self.severity, self.shift_bp))
        return np.array(rows, dtype=np.float64).reshape(-1, 4)

    def __len__(self) -> int:
        return len(self.psa) * len(self.cdr) * len(self.severity) * len(self.shift_bp)


@dataclass(frozen=True, eq=False)
class ScenarioResults:
    """Tranche yield, WAL and loss per scenario.

    Attributes
    ----------
    table : pyarrow.Table
        One row per scenario and tranche (:data:`SCENARIO_COLUMNS`): ``yield`` the
        bond-equivalent yield at the price (decimal), ``wal`` in years, ``loss`` the
        write-downs as a fraction of the tranche face, ``price_at_shift`` the price per
        100 at the yield moved by ``shift_bp``; NaN where not defined: ``yield``,
        ``modified_duration`` and ``price_at_shift`` are NaN where no yield gives the price
        (the yield solver's :class:`~openmbs.errors.ConvergenceError`: the tranche's cash
        is worth less than the price even at the floor yield, or more even at the cap),
        ``price_at_shift`` also where the moved yield is at or below -200%.
    tranches : tuple of str
    n_scenarios : int
    backend : str
        ``"local"`` (in this process), ``"processes"`` or ``"dask"``.
    workers : int
    """

    table: pa.Table
    tranches: tuple[str, ...]
    n_scenarios: int
    backend: str
    workers: int

    def column(self, name: str) -> FloatArray:
        """A numeric column shaped ``(n_scenarios, n_tranches)``."""
        values = np.asarray(self.table.column(name).to_numpy(zero_copy_only=False), dtype=float)
        return values.reshape(self.n_scenarios, len(self.tranches))

    def summary(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """Each tranche's minimum, median and maximum of :data:`SUMMARY_MEASURES` over
        the scenarios, NaNs left out (``None`` where every scenario is NaN); units as in
        :attr:`table` (decimals, years, price per 100).

        ``summary()[tranche][measure]`` is ``{"min": .., "median": .., "max": ..}``; the
        median of an even count is the mean of the two middle values.
        """
        out: dict[str, dict[str, dict[str, float | None]]] = {}
        for i, name in enumerate(self.tranches):
            per: dict[str, dict[str, float | None]] = {}
            for measure in SUMMARY_MEASURES:
                values = self.column(measure)[:, i]
                finite = values[np.isfinite(values)]
                if finite.size == 0:
                    per[measure] = {"min": None, "median": None, "max": None}
                else:
                    per[measure] = {
                        "min": float(finite.min()),
                        "median": float(np.median(finite)),
                        "max": float(finite.max()),
                    }
            out[name] = per
        return out

    def identical_to(self, other: ScenarioResults) -> bool:
        """Whether both tables hold the same values, element by element (NaN == NaN)."""
        if self.table.column_names != other.table.column_names:
            return False
        if self.table.num_rows != other.table.num_rows:
            return False
        for name in self.table.column_names:
            a = self.table.column(name).to_numpy(zero_copy_only=False)
            b = other.table.column(name).to_numpy(zero_copy_only=False)
            if a.dtype.kind == "f":
                if not np.array_equal(a, b, equal_nan=True):
                    return False
            elif not np.array_equal(a, b):
                return False
        return True

    def matches(self, other: ScenarioResults, *, rtol: float = 1e-9) -> bool:
        """Whether both tables agree element by element to ``rtol`` (NaN == NaN).

        Backends split the grid into different chunks, and numpy's vectorised
        elementwise functions may round the last bit of an element differently
        depending on where it falls in an array (SIMD lanes vs the scalar tail), so
        tables from different backends agree to rounding, not always to the bit.
        """
        if self.table.column_names != other.table.column_names:
            return False
        if self.table.num_rows != other.table.num_rows:
            return False
        for name in self.table.column_names:
            a = self.table.column(name).to_numpy(zero_copy_only=False)
            b = other.table.column(name).to_numpy(zero_copy_only=False)
            if a.dtype.kind == "f":
                if not np.allclose(a, b, rtol=rtol, atol=0.0, equal_nan=True):
                    return False
            elif not np.array_equal(a, b):
                return False
        return True

    def write(self, path: str) -> None:
        """Write the table as Parquet (atomically: a temporary file, then renamed)."""
        tmp = f"{path}.tmp-{os.getpid()}"
        pq.write_table(self.table, tmp)
        os.replace(tmp, path)


@dataclass(frozen=True)
class _Job:
    deal: Any
    pool: Any
    price: float
    lag: int
    index_rate: float
    advance: str = "principal"


#: A no-default and a default scenario: evaluating both loads every kernel a chunk uses.
_WARM_ROWS = ((100.0, 0.0, 0.0, 0.0), (100.0, 0.01, 0.30, 0.0))


def _warm_worker(job: _Job) -> None:
    """Worker initializer: import everything and load the numba kernels once."""
    _run_chunk(job, np.array(_WARM_ROWS, dtype=np.float64))


_EXECUTORS: dict[int, Any] = {}


def _executor(n_workers: int, job: _Job) -> Any:
    """The kept process pool of ``n_workers`` workers (started and warmed on first use)."""
    ex = _EXECUTORS.get(n_workers)
    if ex is not None and not getattr(ex, "_broken", False):
        return ex
    ex = ProcessPoolExecutor(
        n_workers, mp_context=mp.get_context("spawn"), initializer=_warm_worker, initargs=(job,)
    )
    _EXECUTORS[n_workers] = ex
    return ex


@atexit.register
def _shutdown_executors() -> None:
    """Stop the kept worker processes (at exit, or to free them earlier)."""
    while _EXECUTORS:
        _, ex = _EXECUTORS.popitem()
        ex.shutdown(wait=True, cancel_futures=True)


def _run_chunk(job: _Job, rows: FloatArray) -> dict[str, FloatArray]:
    """Evaluate a chunk of scenarios (a top-level function: it runs in worker processes)."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # per-scenario results independent of the thread count
    try:
        return _evaluate(job, rows)
    finally:
        numba.set_num_threads(threads)


def _evaluate(job: _Job, rows: FloatArray) -> dict[str, FloatArray]:
    deal, pool = job.deal, job.pool
    projections = []
    for psa, cdr, sev, _ in rows:
        projections.append(
            project_loans(
                pool.balance, pool.gross_coupon, pool.net_coupon, pool.remaining_term,
                pool.loan_age,
                prepayment=Prepayment.psa(float(psa)),
                default=Default.cdr(float(cdr)) if cdr > 0 else None,
                severity=float(sev),
                lag=job.lag,
                advance=advance_mode(job.advance),
            )
        )
    coll = collections_from_projection(
        projections,
        servicing_in_net_rate=deal.pool.servicing_in_net_rate,
        cleanup_call=deal.cleanup_call,
    )
    index = job.index_rate + rows[:, 3:4] / 10_000.0  # the floater index moves with the shift
    coll = replace(coll, index_rate=np.broadcast_to(index, coll.interest.shape).copy())
    res = run_waterfall(deal, coll, keep="cashflows")
    ip, pp, wd = res.table("interest_paid"), res.table("principal_paid"), res.table("writedown")
    n, nt = rows.shape[0], len(res.names)
    out = {k: np.full((n, nt), np.nan) for k in
           ("yield", "wal", "modified_duration", "loss", "price_at_shift", "first", "last")}
    delay = float(deal.payment_delay_days)
    for k in range(n):
        for i in range(nt):
            face = float(res.face[i])
            prin = pp[k, :, i]
            cash = ip[k, :, i] + prin
            has = np.nonzero(prin > 0)[0]
            out["first"][k, i] = has[0] + 1 if has.size else 0
            out["last"][k, i] = has[-1] + 1 if has.size else 0
            if face <= 0:
                continue
            out["loss"][k, i] = float(wd[k, :, i].sum()) / face
            if float(prin.sum()) > 0:
                t = np.arange(1, prin.size + 1) + delay / 30.0
                out["wal"][k, i] = float((t * prin).sum() / (12.0 * prin.sum()))
            if float(cash.sum()) <= 0:
                continue
            try:
                a = analyze(cash, prin, face, price=job.price, delay_days=delay)
            except ConvergenceError:  # no yield gives the price: NaN (ScenarioResults)
                continue
            y = float(a.yield_)
            out["yield"][k, i] = y
            out["modified_duration"][k, i] = float(a.modified_duration)
            shifted = y + rows[k, 3] / 10_000.0
            if shifted > -2.0:  # a bond-equivalent yield is > -200%; NaN below
                out["price_at_shift"][k, i] = float(
                    price_from_yield(cash, face, shifted, delay_days=delay)
                )
    out["names"] = np.array(res.names, dtype=object)
    return out


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def run_scenarios(
    deal: DealSpec,
    pool: PoolLines,
    grid: ScenarioGrid,
    *,
    price: float,
    lag: int = 0,
    advance: str | bool = "principal",
    index_rate: float = 0.0,
    workers: int | None = None,
    dask_address: str | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ScenarioResults:
    """Run every scenario of ``grid`` on ``deal`` and ``pool``, in parallel.

    Parameters
    ----------
    deal : DealSpec
        The deal (percent-sized tranches are resized to the pool balance).
    pool : PoolLines
        Rep lines of the pool (:meth:`openmbs.pricing.PoolLines.generic` or
        :meth:`~openmbs.pricing.PoolLines.from_tape`).
    grid : ScenarioGrid
        PSA speeds (percent of PSA), CDRs and severities (decimals) and rate shifts
        (bp).
    price : float
        Price per 100 of face at which each tranche's yield is computed.
    lag : int
        Months from default to liquidation.
    advance : {"principal", "all", "none"}, default "principal"
        What the servicer advances on defaulted loans, as in
        :func:`openmbs.cashflow.project_pool` (``True``/``False``: ``"all"``/``"none"``).
    index_rate : float
        Floater index before the shift, decimal.
    workers : int, optional
        Local worker processes (default: every core); 1 runs in this process. The
        processes are started (and warmed) on first use and kept for later calls.
    dask_address : str, optional
        A Dask scheduler (``tcp://HOST:PORT``): the chunks run on that cluster instead.
    chunk_size : int, optional
        Scenarios per task (default: about four tasks per worker, 8 to 256 scenarios).
    progress : callable, optional
        Called with the number of scenarios just finished, after every chunk.

    Returns
    -------
    ScenarioResults

    Notes
    -----
    A scenario projects the pool (SIFMA Standard Formulas, PSA prepayment, constant CDR
    with the severity and lag) and runs the float waterfall; yields are bond-equivalent
    at the price with the deal's payment delay (:func:`openmbs.pricing.analyze`); the
    rate shift moves the floater index and gives the price at the shifted yield.
    """
    if workers is not None and workers < 1:
        raise InputError(f"workers {workers!r}: must be >= 1")
    if not (math.isfinite(price) and price > 0):
        raise InputError(f"price {price!r}: must be a price per 100 > 0")
    if lag < 0:
        raise InputError(f"lag {lag!r}: must be >= 0 months")
    rows = grid.scenarios()
    n = rows.shape[0]
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    size = chunk_size or min(256, max(8, math.ceil(n / (4 * n_workers))))
    if size < 1:
        raise InputError(f"chunk_size {chunk_size!r}: must be >= 1")
    spans = _chunks(n, size)
    job = _Job(deal, pool, float(price), int(lag), float(index_rate), advance_mode(advance))
    parts: list[dict[str, FloatArray] | None] = [None] * len(spans)

    def done(j: int, part: dict[str, FloatArray]) -> None:
        parts[j] = part
        if progress is not None:
            progress(spans[j][1] - spans[j][0])

    if dask_address is not None:
        # distributed is needed only with a cluster (and loads in a second): imported here
        from distributed import Client, as_completed

        backend = "dask"
        with Client(dask_address, set_as_default=False) as client:  # type: ignore[no-untyped-call]
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            job_f = client.scatter(job, broadcast=True)
            futures = [client.submit(_run_chunk, job_f, rows[lo:hi], pure=False)
                       for lo, hi in spans]
            index = {f.key: j for j, f in enumerate(futures)}
            for fut in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
                done(index[fut.key], fut.result())
    elif n_workers == 1:
        backend = "local"
        for j, (lo, hi) in enumerate(spans):
            done(j, _run_chunk(job, rows[lo:hi]))
    else:
        backend = "processes"
        ex = _executor(n_workers, job)
        try:
            fmap = {ex.submit(_run_chunk, job, rows[lo:hi]): j for j, (lo, hi) in enumerate(spans)}
            for fut in cf_completed(fmap):
                done(fmap[fut], fut.result())
        except BrokenProcessPool:
            _EXECUTORS.pop(n_workers, None)
            raise
    return _assemble(rows, parts, backend, n_workers)


def _assemble(
    rows: FloatArray, parts: Sequence[dict[str, FloatArray] | None], backend: str, workers: int
) -> ScenarioResults:
    ready = [p for p in parts if p is not None]
    names = tuple(str(x) for x in ready[0]["names"])
    nt = len(names)
    n = rows.shape[0]

    def cat(key: str) -> FloatArray:
        return np.concatenate([p[key] for p in ready], axis=0).reshape(-1)

    rep = np.repeat(np.arange(n), nt)
    table = pa.table(
        {
            "scenario": pa.array(rep, pa.int64()),
            "psa": pa.array(rows[rep, 0]),
            "cdr": pa.array(rows[rep, 1]),
            "severity": pa.array(rows[rep, 2]),
            "shift_bp": pa.array(rows[rep, 3]),
            "tranche": pa.array(list(names) * n, pa.string()),
            "yield": pa.array(cat("yield")),
            "wal": pa.array(cat("wal")),
            "modified_duration": pa.array(cat("modified_duration")),
            "loss": pa.array(cat("loss")),
            "price_at_shift": pa.array(cat("price_at_shift")),
            "first_period": pa.array(cat("first").astype(np.int64)),
            "last_period": pa.array(cat("last").astype(np.int64)),
        }
    )
    return ScenarioResults(table, names, n, backend, workers)
