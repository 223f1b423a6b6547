"""Generic-pool options shared by commands that price a pool or a deal's pool.

``openmbs price oas`` and ``openmbs risk scenarios`` take the same pool flags; their
values are turned into a pool by :func:`openmbs.commands.oas.pool_from_flags`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["POOL_PANEL", "AgeOpt", "BalanceOpt", "NetCouponOpt", "TapeOpt", "TermOpt", "WacOpt"]

POOL_PANEL = "Pool (generic, or --tape; default: the deal's pool)"

TapeOpt = Annotated[
    Path | None, typer.Option("--tape", help="Loan tape file.", rich_help_panel=POOL_PANEL)
]
BalanceOpt = Annotated[
    float | None,
    typer.Option("--balance", help="Current pool balance.", rich_help_panel=POOL_PANEL),
]
WacOpt = Annotated[
    float | None, typer.Option("--wac", help="Gross WAC, percent.", rich_help_panel=POOL_PANEL)
]
NetCouponOpt = Annotated[
    float | None,
    typer.Option("--net-coupon", help="Net coupon, percent.", rich_help_panel=POOL_PANEL),
]
TermOpt = Annotated[
    int | None, typer.Option("--term", help="Original term, months.", rich_help_panel=POOL_PANEL)
]
AgeOpt = Annotated[
    int | None, typer.Option("--age", help="Loan age, months.", rich_help_panel=POOL_PANEL)
]
