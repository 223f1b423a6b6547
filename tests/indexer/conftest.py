"""Fixtures of the indexer tests."""

from __future__ import annotations

import pytest
from indexer_helpers import Scenario, run_scenario


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    """Events emitted by the fixture contract in titanoboa, with what was emitted."""
    return run_scenario()
