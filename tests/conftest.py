"""Shared fixtures: where the real public loan data lives, and hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# rich wraps console output to the terminal width (80 columns when output is captured).
# Tests look for phrases next to paths under pytest's temporary folder, whose length
# depends on the machine; one fixed, wide width keeps such phrases on one line everywhere.
os.environ["COLUMNS"] = "200"

#: ``../shared/data`` beside the checkout (override with OPENMBS_SHARED_DATA).
SHARED_DATA = Path(os.environ.get("OPENMBS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real public loan-level files; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real loan data folder not found at {SHARED_DATA} (see shared/data/README.md)")
    return SHARED_DATA
