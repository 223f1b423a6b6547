"""One lifecycle run on the embedded chain that reaches its clean-up call, with losses:
the folder the report and statement tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmbs.sim import LifecycleConfig

#: 40 loans at 800% PSA and 300% SDA: the clean-up call comes in period 42 or so, after
#: liquidations with losses; about 15 seconds.
CLEANUP_RUN = LifecycleConfig(
    loans=40, months=360, investors=2, psa=800, sda=300, severity=0.4, seed=5
)


@pytest.fixture(scope="session")
def cleanup_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from openmbs.sim import run_lifecycle

    out = tmp_path_factory.mktemp("cleanup-run")
    result = run_lifecycle(out, CLEANUP_RUN)
    assert result.reconciled, [c for c in result.checks if not c.ok]
    return out
