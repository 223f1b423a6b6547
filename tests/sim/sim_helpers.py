"""Helpers shared by the lifecycle tests (embedded chain and anvil)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@contextlib.contextmanager
def tampered_reports(change: Callable[[Any], Any]) -> Iterator[None]:
    """Inside the block, each period's report goes through ``change`` as the servicer
    bridge builds it (before it is signed), so a test can make the oracle reject a period
    without a hook in the public API."""
    from openmbs.agents import ServicerBridge

    build = ServicerBridge.build

    def tampered(self: ServicerBridge, period: int, records: Any) -> Any:
        sp = build(self, period, records)
        return dataclasses.replace(sp, report=change(sp.report))

    with pytest.MonkeyPatch.context() as m:
        m.setattr(ServicerBridge, "build", tampered)
        yield
