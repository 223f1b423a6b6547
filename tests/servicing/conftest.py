"""Fixtures of the servicing tests: the shared Fannie Mae files, the Freddie test file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def fannie_paths(shared_data: Path) -> tuple[Path, Path]:
    """The shared Fannie Mae acquisition and performance files (skips when absent)."""
    acq = shared_data / "fannie_sflp_2007q3_acquisition.txt"
    perf = shared_data / "fannie_sflp_2007q3_performance.txt"
    if not perf.exists() or not acq.exists():
        pytest.skip(f"shared Fannie Mae files not found in {shared_data}")
    return acq, perf


@pytest.fixture(scope="session")
def fannie(fannie_paths: tuple[Path, Path]) -> Any:
    """The shared Fannie Mae history, read once."""
    from openmbs.servicing import read_fannie_performance

    return read_fannie_performance(*fannie_paths)


@pytest.fixture(scope="session")
def freddie_sample() -> Path:
    """The Freddie Mac servicing file written from the 32-field layout for these tests."""
    return Path(__file__).parent / "data" / "freddie_servicing_sample.txt"


@pytest.fixture(scope="session")
def freddie_orig(shared_data: Path) -> Path:
    """The shared Freddie Mac origination sample (skips when absent)."""
    path = shared_data / "freddie_sflld_2020q1_orig_sample.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path
