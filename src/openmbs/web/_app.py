"""The dashboard: a Starlette (ASGI) app rendering HTML pages from the event store.

Reading while an indexer writes
-------------------------------
DuckDB lets one process hold a database file for writing, and while it does, no other
process can open the file, not even read-only (and a reader's open file keeps a writer
out the same way). So the dashboard never keeps the file open: each request opens it
read-only (:func:`openmbs.indexer.open_untrusted`: no external access from SQL, schema
checked), reads, and closes it. A writer that opens the store per batch (the lifecycle
indexes at the end of each run; ``Indexer`` commits one transaction per batch) and a
dashboard that opens it per request take turns; when the file is held, a request waits
up to ``lock_wait`` seconds and then answers 503 with ``Retry-After`` (the page reloads
itself). An indexer that must hold the file for a long time runs in the dashboard's own
process instead: pass its open :class:`~openmbs.indexer.EventStore` as ``store=`` and
each request reads through a cursor of that connection, which sees every committed
batch (DuckDB's MVCC within one process). See ``docs/web.md``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from openmbs.errors import DataIntegrityError, InputError, OpenMBSError
from openmbs.indexer import EventStore, open_untrusted, pool_performance
from openmbs.report import period_statements
from openmbs.web._data import (
    Deal,
    check_address,
    deal_classes,
    deals,
    distributions,
    find_deal,
    verify_loan,
    wallet_positions,
)
from openmbs.web._svg import Series, line_chart

__all__ = ["StoreBusy", "create_app"]


class StoreBusy(OpenMBSError):
    """The event store file is held by a writer in another process."""


class _NotFound(InputError):
    """A page for something the store does not hold (answered with 404)."""


def _is_lock(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


@dataclass(frozen=True)
class _Settings:
    events: Path | None
    store: EventStore | None
    run: Path | None
    decimals: int
    lock_wait: float


@contextmanager
def _connect(s: _Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read connection: a cursor of the in-process store, or the file
    opened read-only (waiting up to ``lock_wait`` seconds while a writer holds it)."""
    if s.store is not None:
        cur = s.store.con.cursor()
        try:
            yield cur
        finally:
            cur.close()
        return
    assert s.events is not None  # one of the two is set by create_app
    deadline = time.monotonic() + s.lock_wait
    while True:
        try:
            con = open_untrusted(s.events)
            break
        except InputError as exc:
            if not _is_lock(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    f"event store {str(s.events)!r} is held by a writer (another process "
                    f"has it open); retry in a moment ({exc.__cause__})"
                ) from exc
            time.sleep(0.05)
    try:
        yield con
    finally:
        con.close()


def fmt_units(value: int | None, decimals: int) -> str:
    """Base units as an exact decimal with thousands separators (``1234500`` with 6
    decimals -> ``1.234500``)."""
    if value is None:
        return ""
    v = int(value)
    sign = "-" if v < 0 else ""
    v = abs(v)
    if decimals == 0:
        return f"{sign}{v:,}"
    q, r = divmod(v, 10**decimals)
    return f"{sign}{q:,}.{r:0{decimals}d}"


def _pct(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value * 100:.{digits}f}%"


def _read_decimals(run: Path | None, default: int) -> int:
    if run is None:
        return default
    closing = run / "closing.json"
    if not closing.is_file():
        return default
    try:
        spec = json.loads(closing.read_text())
        return int(spec["deal_spec"]["asset"]["decimals"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"file {str(closing)!r}: field 'deal_spec.asset.decimals' not readable ({exc})"
        ) from exc


def _class_names(run: Path | None, count: int) -> list[str]:
    names = [f"class {i}" for i in range(count)]
    if run is None or not (run / "closing.json").is_file():
        return names
    try:
        spec = json.loads((run / "closing.json").read_text())
        given = [str(t["name"]) for t in spec["deal_spec"]["tranches"]]
    except (ValueError, KeyError, TypeError):
        return names
    return given if len(given) == count else names


def create_app(
    events: str | Path | None = None,
    *,
    store: EventStore | None = None,
    run: str | Path | None = None,
    decimals: int = 6,
    lock_wait: float = 2.0,
) -> Starlette:
    """The dashboard app over an event store file (``events``) or an open store
    (``store=``, for an indexer running in the same process).

    Parameters
    ----------
    events : path, optional
        The event store file (``events.duckdb`` of a run); opened read-only per request.
    store : EventStore, optional
        An open store written in this process; requests read through its cursors.
    run : path, optional
        The run's output folder: its ``loans/period=NNNN/part-0.parquet`` files make loan
        verification possible, and ``closing.json`` gives the class names and the
        settlement asset's decimals.
    decimals : int, default 6
        Decimals of the settlement asset when ``run`` does not say.
    lock_wait : float, default 2.0
        Seconds a request waits for a writer to release the file before a 503.

    Raises
    ------
    InputError
        When neither or both of ``events`` and ``store`` are given, or a path does
        not exist.
    """
    if (events is None) == (store is None):
        raise InputError("give the event store as a file (events) or an open store (store=), one of them")
    ev = None if events is None else Path(events)
    if ev is not None and not ev.is_file():
        raise InputError(f"file {str(ev)!r}: no such event store")
    rd = None if run is None else Path(run)
    if rd is not None and not rd.is_dir():
        raise InputError(f"folder {str(rd)!r}: no such run folder")
    settings = _Settings(ev, store, rd, _read_decimals(rd, decimals), lock_wait)
    env = Environment(
        loader=PackageLoader("openmbs.web", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["units"] = lambda v: fmt_units(v, settings.decimals)
    env.filters["pct"] = _pct

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("source", str(ev) if ev is not None else "in-process store")
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status)

    def guarded(fn: Callable[[Request, duckdb.DuckDBPyConnection], Response]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            try:
                with _connect(settings) as con:
                    return fn(request, con)
            except StoreBusy as exc:
                r = page("error.html", 503, title="Store busy", message=str(exc), refresh=2)
                r.headers["Retry-After"] = "2"
                return r
            except _NotFound as exc:
                return page("error.html", 404, title="Not found", message=str(exc))
            except InputError as exc:
                return page("error.html", 400, title="Bad request", message=str(exc))
            except DataIntegrityError as exc:
                return page("error.html", 500, title="Event store does not reconcile", message=str(exc))

        return handler

    def deal_of(con: duckdb.DuckDBPyConnection, request: Request) -> Deal:
        raw = str(request.path_params["address"])
        addr = check_address(raw, field="deal")
        d = find_deal(con, addr)
        if d is None:
            raise _NotFound(f"field 'deal' value {raw!r}: no deal at that address in the event store")
        return d

    def cursor_block(con: duckdb.DuckDBPyConnection) -> int | None:
        row = con.execute("SELECT max(last_block) FROM cursor").fetchall()
        return None if row[0][0] is None else int(row[0][0])

    def home(request: Request, con: duckdb.DuckDBPyConnection) -> Response:
        return page("deals.html", deals=deals(con), block=cursor_block(con), title="Deals")

    def deal_page(request: Request, con: duckdb.DuckDBPyConnection) -> Response:
        d = deal_of(con, request)
        classes = deal_classes(con, d)
        return page(
            "deal.html",
            deal=d,
            classes=classes,
            names=_class_names(settings.run, len(classes)),
            block=cursor_block(con),
            title=f"Deal {d.address}",
        )

    def dist_page(request: Request, con: duckdb.DuckDBPyConnection) -> Response:
        d = deal_of(con, request)
        rows = distributions(con, d)
        return page(
            "distributions.html",
            deal=d,
            rows=rows,
            statements=settings.run is not None,
            names=_class_names(settings.run, len(d.tokens)),
            block=cursor_block(con),
            title=f"Distributions of {d.address}",
        )

    def statement_page(request: Request, con: duckdb.DuckDBPyConnection) -> Response:
        d = deal_of(con, request)
        raw = str(request.path_params["period"])
        try:
            period = int(raw)
        except ValueError:
            raise InputError(f"field 'period' value {raw!r}: not a whole number") from None
        if settings.run is None:
            raise InputError(
                "distribution statements need the run folder (closing.json, loans/): start "
                "`openmbs serve` with --run DIR"
            )
        statements = period_statements(con, deal=settings.run, loans_dir=settings.run / "loans")
        at = [k for k, st in enumerate(statements) if st.period == period]
        if not at:
            raise _NotFound(
                f"field 'period' value {period}: deal {d.address} has no distribution statement "
                f"for that period (periods 1..{len(statements)})"
            )
        st = statements[at[0]]
        if request.query_params.get("format") == "json":
            return JSONResponse(st.as_dict())
        return HTMLResponse(st.to_html(statements[: at[0]]))

    def perf_page(request: Request, con: duckdb.DuckDBPyConnection) -> Response:
        d = deal_of(con, request)
        perf = pool_performance(con).to_pylist()
        scale = 10.0**settings.decimals
        x = [float(r["period"]) for r in perf]

        def col(name: str, f: float = 1.0) -> list[float | None]:
            return [None if r.get(name) is None else float(r[name]) * f for r in perf]

        charts = []
        if perf:
            charts = [
                line_chart(
                    "Pool balance",
                    x,
                    [Series("ending balance", col("ending_balance", 1e-6 / scale))],
                    x_title="Period (months)",
                    y_title="Balance (millions of currency units)",
                ),
                line_chart(
                    "Prepayment and default rates (annualised)",
                    x,
                    [Series("CPR", col("cpr", 100)), Series("CDR", col("cdr", 100))],
                    x_title="Period (months)",
                    y_title="Rate (% a year)",
                ),
                line_chart(
                    "Delinquency",
                    x,
                    [
                        Series("30 days", col("dq30", 100)),
                        Series("60 days", col("dq60", 100)),
                        Series("90+ days", col("dq90_plus", 100)),
                    ],
                    x_title="Period (months)",
                    y_title="Delinquent balance (% of pool)",
                ),
                line_chart(
                    "Cumulative realised loss",
                    x,
                    [Series("realised", col("cumulative_loss", 1e-6 / scale))]
                    + (
                        [Series("projected", col("projected_cumulative_loss", 1e-6 / scale))]
                        if "projected_cumulative_loss" in (perf[0] if perf else {})
                        else []
                    ),
                    x_title="Period (months)",
                    y_title="Loss (millions of currency units)",
                ),
            ]
        return page(
            "performance.html",
            deal=d,
            charts=charts,
            rows=perf,
            block=cursor_block(con),
            title=f"Pool performance of {d.address}",
        )

    def wallet_page(request: Request, con: duckdb.DuckDBPyConnection) -> Response:
        raw = request.query_params.get("address")
        if raw is None or raw.strip() == "":
            return page("wallet.html", address=None, results=[], block=cursor_block(con), title="Wallet")
        addr = check_address(raw, field="address")
        results = []
        for d in deals(con):
            positions = wallet_positions(con, d, addr)
            if positions:
                results.append((d, positions, _class_names(settings.run, len(d.tokens))))
        return page(
            "wallet.html", address=addr, results=results, block=cursor_block(con), title=f"Wallet {addr}"
        )

    def verify_page(request: Request, con: duckdb.DuckDBPyConnection) -> Response:
        d = deal_of(con, request)
        q = request.query_params
        loan, period_text, proof_text = q.get("loan"), q.get("period"), q.get("proof")
        ctx: dict[str, Any] = {
            "deal": d,
            "run": settings.run,
            "loan": loan or "",
            "period": period_text or "",
            "check": None,
            "title": f"Verify a loan of {d.address}",
            "block": cursor_block(con),
        }
        if not loan and not period_text:
            return page("verify.html", **ctx)
        if settings.run is None:
            raise InputError("loan verification needs the run folder: start `openmbs serve` with --run DIR")
        if not loan:
            raise InputError("field 'loan' value '': enter a loan id")
        try:
            period = int(str(period_text))
        except ValueError:
            raise InputError(f"field 'period' value {period_text!r}: not a whole number") from None
        proof = None
        if proof_text is not None and proof_text.strip():
            proof = [p for p in proof_text.replace(",", " ").split() if p]
        try:
            ctx["check"] = verify_loan(con, d, settings.run, loan, period, proof=proof)
        except InputError as exc:
            if "no such loan" in str(exc):
                raise _NotFound(str(exc)) from exc
            raise
        return page("verify.html", **ctx)

    def not_found(request: Request, exc: Exception) -> Response:
        return page("error.html", 404, title="Not found", message=f"no page at {request.url.path!r}")

    routes = [
        Route("/", guarded(home)),
        Route("/wallet", guarded(wallet_page)),
        Route("/deal/{address}", guarded(deal_page)),
        Route("/deal/{address}/distributions", guarded(dist_page)),
        Route("/deal/{address}/statements/{period}", guarded(statement_page)),
        Route("/deal/{address}/performance", guarded(perf_page)),
        Route("/deal/{address}/verify", guarded(verify_page)),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})
