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
    """Entry point: run the CLI, turning openmbs errors into a clear message and exit 2."""
    try:
        app(standalone_mode=False)
    except OpenMBSError as exc:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
