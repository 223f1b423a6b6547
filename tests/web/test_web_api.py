"""The public API of ``openmbs.web``: it changes only on purpose."""

from __future__ import annotations

import inspect

import openmbs.web as web


def test_web_public_names() -> None:
    assert web.__all__ == sorted(web.__all__)
    assert web.__all__ == [
        "ClassRow",
        "Deal",
        "LoanCheck",
        "Position",
        "Series",
        "StoreBusy",
        "check_address",
        "create_app",
        "deal_classes",
        "deals",
        "distributions",
        "find_deal",
        "fmt_units",
        "line_chart",
        "onchain_root",
        "verify_loan",
        "wallet_positions",
    ]


def test_create_app_signature() -> None:
    assert str(inspect.signature(web.create_app)) == (
        "(events: 'str | Path | None' = None, *, store: 'EventStore | None' = None, "
        "run: 'str | Path | None' = None, decimals: 'int' = 6, lock_wait: 'float' = 2.0) "
        "-> 'Starlette'"
    )
