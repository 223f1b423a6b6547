"""`openmbs query ...`: tables from the event store (``openmbs.indexer`` queries)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

query_app = typer.Typer(
    help="Query a deal's indexed events (DuckDB) as tables.", no_args_is_help=True
)

_DB = typer.Option("--db", help="Event store (events.duckdb of `openmbs demo`).")


def _open(db: Path) -> Any:
    from openmbs.errors import InputError
    from openmbs.indexer import EventStore

    if not db.exists():
        raise InputError(f"file {str(db)!r}: no such event store")
    return EventStore(db, read_only=True)


def _print(table: Any, title: str, limit: int | None, as_json: bool = False) -> None:
    if as_json:
        rows = table.to_pylist() if limit is None else table.slice(0, limit).to_pylist()
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    limit = _TABLE_ROWS if limit is None else limit

    out = Table(title=f"{title} ({table.num_rows} rows)")
    for name in table.column_names:
        out.add_column(name, justify="right")
    for row in table.slice(0, limit).to_pylist():
        out.add_row(
            *(
                "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
                for v in row.values()
            )
        )
    Console().print(out)
    if table.num_rows > limit:
        typer.echo(f"... {table.num_rows - limit} more rows (use --limit)")


#: Rows printed in a table when --limit is not given (--json prints them all).
_TABLE_ROWS = 50

_LIMIT = typer.Option(
    "--limit", min=1, help=f"Rows to print (default: {_TABLE_ROWS} in the table, all with --json)."
)
_JSON = typer.Option(
    "--json",
    help="Print the rows as one JSON array of objects (column: value); integers stay "
    "exact, values JSON cannot hold (dates, decimals) are strings.",
)


@query_app.command("tranche-payments")
def tranche_payments_cmd(
    db: Annotated[Path, _DB],
    tranche: Annotated[
        int | None, typer.Option("--tranche", help="Only this tranche index.")
    ] = None,
    limit: Annotated[int | None, _LIMIT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Per tranche and period: interest, principal, loss, balance and running totals."""
    from openmbs.indexer import tranche_payments

    with _open(db) as store:
        _print(tranche_payments(store, tranche=tranche), "tranche payments", limit, as_json)


@query_app.command("holders")
def holders_cmd(
    db: Annotated[Path, _DB],
    limit: Annotated[int | None, _LIMIT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Per token and holder: received, sent and balance."""
    from openmbs.indexer import holder_positions

    with _open(db) as store:
        _print(holder_positions(store), "holder positions", limit, as_json)


@query_app.command("claims")
def claims_cmd(
    db: Annotated[Path, _DB],
    holder: Annotated[
        str | None, typer.Option("--holder", help="Only this holder address.")
    ] = None,
    limit: Annotated[int | None, _LIMIT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Per holder and tranche: number and total of claims."""
    from openmbs.indexer import holder_claims

    with _open(db) as store:
        _print(holder_claims(store, holder=holder), "claims", limit, as_json)


@query_app.command("pool-performance")
def pool_performance_cmd(
    db: Annotated[Path, _DB],
    limit: Annotated[int | None, _LIMIT] = None,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Per period: the reports' pool figures, realised SMM/CPR, MDR/CDR, delinquency shares."""
    from openmbs.indexer import pool_performance

    with _open(db) as store:
        _print(pool_performance(store), "pool performance", limit, as_json)


@query_app.command("export-parquet")
def export_parquet_cmd(
    db: Annotated[Path, _DB],
    out: Annotated[Path, typer.Argument(help="Folder to write <table>.parquet files into (created).")],
) -> None:
    """Every table of the event store as Parquet, readable by any DuckDB version, pyarrow
    and pandas (uint256 as decimal128(38,0) when it fits; see docs/indexer.md)."""
    from openmbs.indexer import export_parquet

    with _open(db) as store:
        files = export_parquet(store, out)
    typer.echo(f"{len(files)} table(s) written to {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(query_app, name="query")
