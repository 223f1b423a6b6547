"""`openmbs audit DIR`: recompute a lifecycle output folder and report every mismatch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def audit_cmd(
    folder: Annotated[Path, typer.Argument(help="Output folder of `openmbs demo`.")],
    rpc: Annotated[
        str | None,
        typer.Option("--rpc", help="JSON-RPC URL of the node the deal lives on (with --deal)."),
    ] = None,
    deal: Annotated[
        str | None, typer.Option("--deal", help="Address of the deal's Deal contract (with --rpc).")
    ] = None,
    files_only: Annotated[
        bool,
        typer.Option(
            "--files-only",
            help="Check the folder against itself only (no chain, no re-execution); "
            "checks that need the chain are listed as not checked.",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: ok, folder, checks (name, ok, skipped, anchor, "
            "detail, mismatches) and not_checked. Exit codes as without --json.",
        ),
    ] = False,
) -> None:
    """Check loan leaves, Merkle roots, report sums, the waterfall, token supplies and
    claims against the chain.

    The chain is read from a node (--rpc URL --deal ADDRESS) or, for a run on the
    embedded EVM, re-executed from the folder's configuration. Each line names the
    anchor of its check. Exits 1 if any check fails or could not run (missing evidence
    fails, unless --files-only narrows the audit), printing each mismatch with its
    period, loan or tranche.
    """
    from openmbs.audit import audit
    from openmbs.errors import InputError

    if not folder.is_dir():
        raise InputError(f"folder {str(folder)!r}: not a directory")
    rep = audit(folder, rpc=rpc, deal=deal, files_only=files_only)
    if as_json:
        doc = {
            "ok": rep.ok,
            "folder": str(rep.folder),
            "checks": [
                {
                    "name": c.name,
                    "ok": c.ok,
                    "skipped": c.skipped,
                    "anchor": c.anchor,
                    "detail": c.detail,
                    "mismatches": list(c.mismatches),
                }
                for c in rep.checks
            ],
            "not_checked": rep.not_checked,
        }
        typer.echo(json.dumps(doc, indent=2))
        if not rep.ok:
            raise typer.Exit(1)
        return
    for c in rep.checks:
        mark = ("skip" if c.ok else "FAIL") if c.skipped else ("ok" if c.ok else "FAIL")
        typer.echo(f"[{mark:>4}] {c.name} [{c.anchor}]: {c.detail}")
        for m in c.mismatches:
            typer.echo(f"         {m}")
    if rep.not_checked:
        typer.echo("not checked: " + "; ".join(rep.not_checked))
    failed = sum(1 for c in rep.checks if not c.ok)
    typer.echo("audit passed" if rep.ok else f"audit FAILED: {failed} check(s)")
    if not rep.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("audit")(audit_cmd)
