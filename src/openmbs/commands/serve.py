"""`openmbs serve`: the read-only web dashboard over an event store (``openmbs.web``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve_cmd(
    events: Annotated[
        Path, typer.Option("--events", help="Event store (events.duckdb of `openmbs demo`).")
    ],
    run: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help="The run's output folder: its loans/ files enable loan verification; "
            "closing.json gives class names and the asset's decimals.",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    decimals: Annotated[
        int,
        typer.Option(
            "--decimals", min=0, max=36, help="Settlement asset decimals when --run does not say."
        ),
    ] = 6,
) -> None:
    """Serve the dashboard: deals, classes, distributions, pool charts, wallets, loan proofs.

    The store is opened read-only for each request and closed after it, so an indexer
    in another process can write between requests (see docs/web.md).
    """
    import uvicorn

    from openmbs.web import create_app

    app = create_app(events, run=run, decimals=decimals)
    typer.echo(f"openmbs dashboard on http://{host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``openmbs serve`` to ``app``."""
    app.command("serve")(serve_cmd)
