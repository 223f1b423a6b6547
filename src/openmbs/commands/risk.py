"""`openmbs risk`: scenario grids over a deal, on local cores or a Dask cluster."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from openmbs.commands._output import print_table
from openmbs.commands._pool_options import (
    DEFAULT_ADVANCE,
    AdvanceOpt,
    AgeOpt,
    BalanceOpt,
    NetCouponOpt,
    NoAdvanceOpt,
    TapeOpt,
    TermOpt,
    WacOpt,
    advance_from_flags,
    decimal_warning_help,
    percent_list_callback,
)
from openmbs.commands.oas import deal_from_arg, pool_from_flags

if TYPE_CHECKING:
    from openmbs.risk import ScenarioResults

__all__ = ["register", "risk_app"]

risk_app = typer.Typer(
    name="risk",
    help="Risk: scenario grids (prepayment x default x severity x rate shift).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@risk_app.command("scenarios")
def scenarios(
    deal: Annotated[str, typer.Option("--deal", help="Deal spec (TOML) or shipped example name.")],
    price: Annotated[float, typer.Option("--price", help="Price per 100 of tranche face.")],
    psa: Annotated[str, typer.Option("--psa", help="PSA speeds, e.g. 100,200,300.")] = "100",
    cdr: Annotated[
        str,
        typer.Option("--cdr", help="CDRs, percent, e.g. 0,1,2" + decimal_warning_help("cdr") + ".",
                     callback=percent_list_callback("cdr")),
    ] = "0",
    severity: Annotated[
        str,
        typer.Option("--severity",
                     help="Loss severities, percent, e.g. 30,40" + decimal_warning_help("severity")
                     + ".", callback=percent_list_callback("severity")),
    ] = "0",
    shift_bp: Annotated[
        str, typer.Option("--shift-bp", help="Rate shifts, bp, e.g. -100,0,100.")
    ] = "0",
    lag: Annotated[int, typer.Option("--lag", help="Months from default to liquidation.")] = 0,
    advance: AdvanceOpt = DEFAULT_ADVANCE,
    no_advance: NoAdvanceOpt = False,
    tape: TapeOpt = None,
    balance: BalanceOpt = None,
    wac: WacOpt = None,
    net_coupon: NetCouponOpt = None,
    term: TermOpt = None,
    age: AgeOpt = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Local worker processes (default: every core)."),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option("--dask", help="Dask scheduler address tcp://HOST:PORT (runs there)."),
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option("--chunk-size", help="Scenarios per task.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the full table (Parquet).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Tranche yield, WAL, loss and price at the shifted yield over a grid of scenarios.

    Every combination of --psa, --cdr (percent), --severity (percent) and --shift-bp is
    projected (SIFMA Standard Formulas) and run through the waterfall. Yields are
    bond-equivalent at --price; the shift moves the floater index and gives the price at
    the shifted yield. The table shows rates in percent; --json and --out carry decimals.
    Results do not depend on --workers or --dask.
    """
    # numba, scipy and pyarrow load with the analytics (about a second): imported here,
    # when the command runs, so that `openmbs --help` does not wait for them
    from openmbs.risk import ScenarioGrid, run_scenarios

    spec = deal_from_arg(deal)
    pool, label = pool_from_flags(
        tape=tape, balance=balance, wac=wac, net_coupon=net_coupon, term=term, age=age, deal=spec
    )
    grid = ScenarioGrid.parse(psa=psa, cdr=cdr, severity=severity, shift_bp=shift_bp)
    adv = advance_from_flags(advance, no_advance)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=Console(stderr=True), disable=as_json,
    ) as bar:
        task = bar.add_task("scenarios", total=len(grid))
        res = run_scenarios(
            spec, pool, grid, price=price, lag=lag, advance=adv, workers=workers,
            dask_address=dask,
            chunk_size=chunk_size, progress=lambda k: bar.advance(task, k),
        )
    if out is not None:
        res.write(str(out))
    if as_json:
        typer.echo(json.dumps({
            "deal": spec.name, "pool": label, "price": price, "n_scenarios": res.n_scenarios,
            "grid": {"psa": grid.psa, "cdr": grid.cdr, "severity": grid.severity,
                     "shift_bp": grid.shift_bp},
            "backend": res.backend, "workers": res.workers,
            "out": str(out) if out is not None else None, "tranches": res.summary(),
        }))
        return
    _print_grid(res, grid.scenarios(), title=f"{spec.name}: {res.n_scenarios} scenarios on "
                f"{label} at price {price:g} ({res.backend}, {res.workers} workers)", out=out)


#: Scenario rows printed; the rest are in --out.
_SHOWN = 40


def _fmt(v: float, spec: str) -> str:
    return "-" if not math.isfinite(v) else format(v, spec)


def _print_grid(res: ScenarioResults, rows: Any, *, title: str, out: Path | None) -> None:
    """The first scenarios: the axes, then each tranche's yield, WAL, loss and the price
    at the shifted yield (rates in percent, as every human table)."""
    t = Table(title=title)
    for col in ("PSA", "CDR %", "sev %", "shift bp"):
        t.add_column(col, justify="right")
    for name in res.tranches:
        t.add_column(f"{name} yld % / WAL / loss % / px@shift", justify="right")
    y, w, loss = res.column("yield"), res.column("wal"), res.column("loss")
    px = res.column("price_at_shift")
    show = min(res.n_scenarios, _SHOWN)
    for k in range(show):
        psa, cdr, sev, shift = (float(v) for v in rows[k])
        cells = [f"{psa:g}", f"{100 * cdr:g}", f"{100 * sev:g}", f"{shift:g}"]
        for i in range(len(res.tranches)):
            cells.append(f"{_fmt(100 * y[k, i], '.3f')} / {_fmt(w[k, i], '.2f')} / "
                         f"{_fmt(100 * loss[k, i], '.2f')} / {_fmt(px[k, i], '.4f')}")
        t.add_row(*cells)
    lines: list[Any] = [t]
    if show < res.n_scenarios:
        lines.append(f"... {res.n_scenarios - show} more scenarios"
                     + (f" in {out}" if out is not None else " (use --out FILE.parquet)"))
    print_table(*lines)


def register(app: typer.Typer) -> None:
    """Add ``openmbs risk``."""
    app.add_typer(risk_app, name="risk")
