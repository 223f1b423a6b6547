from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
if not SHARED.is_dir():  # a worktree under /work/wt: the shared folder is beside the main repo
    SHARED = Path("/work/shared/data")
ACQ = SHARED / "fannie_sflp_2007q3_acquisition.txt"
PERF = SHARED / "fannie_sflp_2007q3_performance.txt"
FREDDIE_ORIG = SHARED / "freddie_sflld_2020q1_orig_sample.csv"
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def fannie_paths() -> tuple[Path, Path]:
    if not PERF.exists() or not ACQ.exists():
        pytest.skip(f"shared Fannie Mae files not found in {SHARED}")
    return ACQ, PERF


@pytest.fixture(scope="session")
def fannie(fannie_paths: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    from openmbs.servicing import read_fannie_performance

    return read_fannie_performance(*fannie_paths)
