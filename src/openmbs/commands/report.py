"""`openmbs report statement`: per-period distribution statements of a run (HTML, CSV,
JSON) from its event store (``openmbs.report.period_statements``). See ``docs/report.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

report_app = typer.Typer(
    help="Investor reports of a deal: distribution statements.", no_args_is_help=True
)


@report_app.command("statement")
def statement_cmd(
    events: Annotated[
        Path, typer.Option("--events", help="Event store (events.duckdb of `openmbs demo`).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for period=NNNN.html/.csv/.json and index.html/.json (created).",
        ),
    ] = None,
    period: Annotated[
        int | None, typer.Option("--period", min=1, help="Only this period (default: all).")
    ] = None,
    deal: Annotated[
        Path | None,
        typer.Option(
            "--deal",
            help="Run folder or its closing.json (default: the folder holding --events).",
        ),
    ] = None,
    loans: Annotated[
        Path | None,
        typer.Option(
            "--loans", help="Folder of the loan-level files (default: loans/ of the run folder)."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the statement (with --period) or a JSON array of every statement; "
            "money in integer base units, rates as decimals, null where not modelled.",
        ),
    ] = False,
) -> None:
    """Distribution statements as a trustee publishes them: dates, classes, pool,
    delinquency, credit enhancement, triggers, CPR/CDR/severity and the chain evidence."""
    from openmbs.errors import InputError
    from openmbs.report import period_statements, write_statements

    if out is None and not as_json:
        raise InputError("openmbs report statement: give --out DIR, --json, or both")
    if not events.is_file():
        raise InputError(f"file {str(events)!r}: no such event store (--events)")
    statements = period_statements(events, deal=deal, loans_dir=loans)
    chosen = statements
    if period is not None:
        chosen = [s for s in statements if s.period == period]
        if not chosen:
            raise InputError(
                f"--period value {period}: the event store {str(events)!r} holds periods "
                f"1..{len(statements)}"
            )
    if out is not None:
        written = write_statements(
            statements, out, periods=None if period is None else [period]
        )
        if not as_json:
            typer.echo(
                f"{len(chosen)} statement(s) of {chosen[0].deal if chosen else '?'}: "
                f"{len(written)} files in {out}; index: {out / 'index.html'}"
            )
    if as_json:
        doc = chosen[0].as_dict() if period is not None else [s.as_dict() for s in chosen]
        typer.echo(json.dumps(doc, indent=1))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(report_app, name="report")
