"""`openmbs audit DIR`: recompute a lifecycle output folder and report every mismatch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def audit_cmd(
    folder: Annotated[Path, typer.Argument(help="Output folder of `openmbs demo`.")],
) -> None:
    """Check loan leaves, Merkle roots, report sums, the waterfall, token supplies and claims.

    Exits 1 if any check fails, printing each mismatch with its period, loan or tranche.
    """
    from openmbs.audit import audit
    from openmbs.errors import InputError

    if not folder.is_dir():
        raise InputError(f"folder {str(folder)!r}: not a directory")
    rep = audit(folder)
    for c in rep.checks:
        mark = "skip" if c.skipped else ("ok" if c.ok else "FAIL")
        typer.echo(f"[{mark:>4}] {c.name}: {c.detail}")
        for m in c.mismatches:
            typer.echo(f"         {m}")
    failed = sum(1 for c in rep.checks if not c.ok)
    typer.echo("audit passed" if rep.ok else f"audit FAILED: {failed} check(s)")
    if not rep.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("audit")(audit_cmd)
