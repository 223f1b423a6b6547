"""`openmbs demo` (interim): generate a pool, project it, write the monthly table.

Until the end-to-end demo (tape -> deal -> chain -> report) exists, this shows the
collateral and cash-flow halves working together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the outputs (created if missing).")
    ] = Path("demo-out"),
    loans: Annotated[
        int, typer.Option("--loans", min=1, help="Number of loans in the generated pool.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated pool.")] = 7,
) -> None:
    """Generate a pool, project it at 150 PSA / 100 SDA / 35% severity / 6-month lag."""
    from openmbs.behaviour import Default, Prepayment
    from openmbs.cashflow import project_tape, write_projection
    from openmbs.collateral import generate_tape
    from openmbs.commands.project import print_summary

    out.mkdir(parents=True, exist_ok=True)
    tape = generate_tape(loans, seed=seed)
    prepayment = Prepayment.psa(150)
    default = Default.sda(100)
    cf = project_tape(tape, prepayment=prepayment, default=default, severity=0.35, lag=6)
    print_summary(
        cf,
        f"Demo pool: {len(tape):,} generated loans (seed {seed})",
        "150 PSA, 100 SDA, severity 35%, lag 6 months, P&I advanced",
    )
    target = write_projection(cf, out / "projection.csv")
    typer.echo(f"wrote {cf.n_periods} periods to {target}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("demo")(demo)
