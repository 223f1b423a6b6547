"""Human output of the commands: rich tables that stay whole when stdout is piped.

On a terminal, tables fit the terminal as rich lays them out. When stdout is not a
terminal (``openmbs ... | less``, ``> file``, a test runner), rich would lay them out
for 80 columns: cells wrapped over several lines and values cut to ``…``. There the
console is as wide as :data:`PIPE_WIDTH`, so each row is one line and no value is cut.

Units (docs/architecture.md, "Units"): human tables show rates in percent, with ``%``
in the column title or the cell; JSON, CSV and Parquet carry decimals.
"""

from __future__ import annotations

from rich.console import Console, RenderableType

__all__ = ["PIPE_WIDTH", "console", "print_table"]

#: Width of the console when stdout is not a terminal: wider than any table printed.
PIPE_WIDTH = 1000


def console() -> Console:
    """The stdout console: the terminal's own width, or :data:`PIPE_WIDTH` when piped."""
    out = Console()
    if out.is_terminal:
        return out
    return Console(width=PIPE_WIDTH, soft_wrap=True)


def print_table(*renderables: RenderableType) -> None:
    """Print tables (or text) on stdout through :func:`console`."""
    out = console()
    for r in renderables:
        out.print(r)
