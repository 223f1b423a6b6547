"""`openmbs tape` commands: validate, stats, generate, convert loan tapes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from openmbs.commands._output import console as stdout_console
from openmbs.errors import TapeError, TapeValidationError

# The tape readers load pyarrow and numpy (about a second): each command imports
# openmbs.collateral when it runs, so that `openmbs --help` does not wait for them.

_FORMAT_HELP = (
    "Input format: canonical-csv, parquet, freddie-sflld, freddie-sflld-csv, "
    "umbs-disclosure (default: detected from the file)."
)


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{x * 100:.3f}%"


def _num(x: float, fmt: str = ",.2f") -> str:
    return "-" if math.isnan(x) else format(x, fmt)


def validate(
    file: Annotated[Path, typer.Argument(help="The loan tape to check.")],
    format: Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)] = None,
    keep_good: Annotated[
        bool,
        typer.Option(
            "--keep-good", help="Keep valid rows; write invalid rows unchanged to --rejects."
        ),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects", help="Rejects file (default: <name>.rejects<suffix> beside FILE)."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: file, format, ok, valid_loans, rejected_rows, "
            "problem_count, problems (file, row, field, value, reason), rejects. "
            "Exit codes as without --json.",
        ),
    ] = False,
) -> None:
    """Read and validate a tape; every problem is listed with its row, field and value."""
    from openmbs.collateral import read_tape  # heavy: see the module's note

    if as_json:
        try:
            tape = read_tape(file, format=format, keep_good=keep_good, rejects=rejects)
        except TapeError as exc:
            problems = exc.problems if isinstance(exc, TapeValidationError) else [exc.problem]
            typer.echo(_validation_json(file, None, None, problems, None))
            raise typer.Exit(2) from None
        target = None
        if tape.rejected:
            target = rejects or file.with_name(f"{file.stem}.rejects{file.suffix}")
        typer.echo(_validation_json(file, tape.format, len(tape), list(tape.rejected), target))
        return
    tape = read_tape(file, format=format, keep_good=keep_good, rejects=rejects)
    bad_rows = len({p.row for p in tape.rejected})
    typer.echo(f"{file}: {len(tape)} valid loans ({tape.format})")
    if keep_good and bad_rows:
        target = rejects or file.with_name(f"{file.stem}.rejects{file.suffix}")
        typer.echo(f"{bad_rows} rejected row(s) written to {target}:")
        for p in tape.rejected[:20]:
            typer.echo(f"  {p}")
        if len(tape.rejected) > 20:
            typer.echo(f"  ... and {len(tape.rejected) - 20} more")


def _validation_json(
    file: Path, fmt: str | None, valid: int | None, problems: list[Any], rejects: Path | None
) -> str:
    """The ``tape validate --json`` object (``valid``/``fmt`` None: the tape was refused)."""
    return json.dumps(
        {
            "file": str(file),
            "format": fmt,
            "ok": valid is not None and not problems,
            "valid_loans": valid,
            "rejected_rows": len({q.row for q in problems if q.row is not None}),
            "problem_count": len(problems),
            "problems": [
                {"file": q.file, "row": q.row, "field": q.field, "value": q.value, "reason": q.reason}
                for q in problems
            ],
            "rejects": None if rejects is None else str(rejects),
        },
        indent=2,
        default=str,
    )


def stats(
    file: Annotated[Path, typer.Argument(help="The loan tape.")],
    format: Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
) -> None:
    """Pool statistics: balances, WAC, WAM, WALA, credit, stratifications, concentrations.

    --json gives rates (WAC, LTV, DTI, shares) as decimals; the tables show percent.
    """
    from openmbs.collateral import pool_stats, read_tape  # heavy: see the module's note

    ps = pool_stats(read_tape(file, format=format))
    if as_json:
        typer.echo(json.dumps(ps.to_dict(), indent=2))
        return
    console = stdout_console()
    summary = Table(title=f"Pool summary: {file.name}", show_header=False)
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("loans", f"{ps.loan_count:,}"),
        ("current balance", _num(ps.current_balance)),
        ("original balance", _num(ps.original_balance)),
        ("average balance", _num(ps.average_balance)),
        ("WAC", _pct(ps.wac)),
        ("net WAC", _pct(ps.net_wac)),
        ("WAM (months)", _num(ps.wam, ".1f")),
        ("WALA (months)", _num(ps.wala, ".1f")),
        ("WA original term (months)", _num(ps.wa_original_term, ".1f")),
        ("WA credit score", _num(ps.wa_credit_score, ".0f")),
        ("WA LTV", _pct(ps.wa_ltv)),
        ("WA CLTV", _pct(ps.wa_cltv)),
        ("WA DTI", _pct(ps.wa_dti)),
    ]
    for k, v in rows:
        summary.add_row(k, v)
    console.print(summary)
    missing = {k: v for k, v in ps.excluded.items() if v}
    if missing:
        console.print(
            "loans left out of averages (field missing): "
            + ", ".join(f"{k} {v}" for k, v in missing.items())
        )
    groups: list[tuple[str, Any]] = [(s.name, s.rows) for s in ps.stratifications.values()]
    groups += [("top servicers", ps.top_servicers), ("top zip3", ps.top_zip3)]
    for name, strat_rows in groups:
        t = Table(title=f"by {name}")
        for col in ("bucket", "loans", "balance", "% balance", "WAC"):
            t.add_column(col, justify="left" if col == "bucket" else "right")
        for r in strat_rows:
            t.add_row(r.label, f"{r.count:,}", _num(r.balance), _pct(r.balance_share), _pct(r.wac))
        console.print(t)


def generate(
    loans: Annotated[int, typer.Option("--loans", min=0, help="Number of loans.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same tape).")],
    out: Annotated[Path, typer.Option("--out", help="Output file, .csv or .parquet.")],
) -> None:
    """Write a seeded synthetic tape (distributions in docs/collateral.md)."""
    from openmbs.collateral import generate_tape, write_tape  # heavy: see the module's note

    write_tape(generate_tape(loans, seed=seed), out)
    typer.echo(f"wrote {loans:,} loans to {out}")


def convert(
    src: Annotated[Path, typer.Argument(help="Input tape.")],
    dst: Annotated[Path, typer.Argument(help="Output tape, .csv or .parquet (canonical).")],
    format: Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)] = None,
) -> None:
    """Read any supported tape, validate it, and write it as canonical CSV or Parquet."""
    from openmbs.collateral import read_tape, write_tape  # heavy: see the module's note

    tape = read_tape(src, format=format)
    write_tape(tape, dst)
    typer.echo(f"wrote {len(tape):,} loans to {dst}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    sub = typer.Typer(
        name="tape", help="Loan tapes: validate, stats, generate, convert.", no_args_is_help=True
    )
    sub.command("validate")(validate)
    sub.command("stats")(stats)
    sub.command("generate")(generate)
    sub.command("convert")(convert)
    app.add_typer(sub, name="tape")
