"""CLI command groups. Each module exposes ``register(app: typer.Typer) -> None``.

Add a module here when it adds commands; the order is the order of ``openmbs --help``.
"""

from __future__ import annotations

from types import ModuleType

from openmbs.commands import (
    audit,
    chain,
    deal,
    demo,
    index,
    model,
    offering,
    price,
    project,
    query,
    replay,
    report,
    risk,
    sale,
    serve,
    servicer,
    tape,
)

__all__ = ["COMMAND_MODULES"]

COMMAND_MODULES: tuple[ModuleType, ...] = (
    demo, tape, project, price, deal, model, risk, chain, offering, servicer, sale, audit, query,
    replay, report, index, serve,
)
