"""`openmbs replay`: a real pool's history on chain, month by month, reconciled.

The agency's acquisition and performance files -> the pool at a cut-off month -> the
deal sized to it -> the demo's machinery (attested Merkle-committed remittances,
waterfall, claims, indexer, audit, report). See ``docs/replay.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def replay_cmd(
    acquisition: Annotated[
        Path,
        typer.Option(
            "--acquisition", help="Acquisition (Fannie Mae) or origination (Freddie Mac) file."
        ),
    ],
    performance: Annotated[
        Path, typer.Option("--performance", help="Monthly performance file of the same loans.")
    ],
    deal: Annotated[
        str, typer.Option("--deal", help="Example deal name or deal TOML file (sized to the pool).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the outputs (created if missing).")
    ] = Path("replay-out"),
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff",
            help="Cut-off month YYYY-MM (default: the first month every loan is in the file).",
        ),
    ] = None,
    psa: Annotated[
        float,
        typer.Option(
            "--psa", min=0, help="Model prepayment speed, percent of PSA (150 = 150% PSA)."
        ),
    ] = 150.0,
    sda: Annotated[
        float, typer.Option("--sda", min=0, help="Model default speed, percent of SDA.")
    ] = 100.0,
    severity: Annotated[
        float,
        typer.Option("--severity", min=0, max=100, help="Model loss severity, percent (35 = 35%)."),
    ] = 35.0,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Discard an earlier run in --out.")
    ] = False,
) -> None:
    """Replay a real pool's actual history on the embedded chain and reconcile it.

    The model (--psa, --sda, --severity) is what the report compares the realised CPR,
    CDR and severity with. Exits 1 if any reconciliation check fails.
    """
    from openmbs.sim import replay

    lines: list[str] = []
    result = replay(
        out, acquisition=acquisition, performance=performance, deal=deal, cutoff=cutoff, fresh=fresh,
        log=lines.append, psa=psa, sda=sda, severity=severity / 100.0,
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    typer.echo(
        f"{deal}: {summary['first_period']} to {summary['last_period']} ({result.periods} months); "
        f"prepaid {summary['prepaid_loans']}, liquidated {summary['liquidated_loans']} loans; "
        f"losses {summary['pool_losses'] / 1e6:,.2f}, recoveries {summary['pool_recoveries'] / 1e6:,.2f}"
    )
    for what in ("cpr", "cdr", "severity"):
        typer.echo(
            f"  {what:<8} realised {100 * summary['realised'][what]:6.2f}%  model {100 * summary['model'][what]:6.2f}%"
        )
    for line in lines:
        typer.echo(f"  {line}")
    for c in result.checks:
        typer.echo(f"  [{'ok' if c.ok else 'MISMATCH'}] {c.name}: {c.detail}")
    typer.echo(
        f"{'reconciled' if result.reconciled else 'NOT reconciled'}; report: {out / 'report.html'}"
    )
    if any(not c.ok for c in result.checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("replay")(replay_cmd)
