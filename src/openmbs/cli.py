"""The ``openmbs`` command.

Each command group lives in its own module under :mod:`openmbs.commands` and exposes
``register(app)``; this module only assembles them. Heavy imports (numba, titanoboa)
happen inside the commands, so ``openmbs --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from openmbs import __version__
from openmbs.commands import COMMAND_MODULES
from openmbs.errors import OpenMBSError

__all__ = ["app", "main"]

app = typer.Typer(
    name="openmbs",
    help="Tokenized mortgage-backed securities: loan tapes, cash flows, deals, pricing, chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"openmbs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """openmbs command line."""


for _module in COMMAND_MODULES:
    _module.register(app)


def main() -> None:
    """Entry point: run the CLI; an openmbs error becomes a clear message and exit code 2.

    Usage errors (unknown option, bad value for a typed option) are handled by typer
    itself in standalone mode, with its usual message and exit code 2.
    """
    try:
        app()
    except OpenMBSError as exc:
        from rich.console import Console
        from rich.markup import escape

        # soft_wrap: the message keeps its own line breaks and is never re-wrapped to the
        # terminal width, so a long path does not split "row 2" across two lines.
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True
        )
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
