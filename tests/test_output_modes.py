"""Files written atomically (temporary file renamed into place) respect the umask.

``tempfile.mkstemp`` creates its file 0600; a tape or projection written through it
used to keep that mode, unlike every file written by a plain ``open()``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from openmbs._files import atomic_write, current_umask
from openmbs.behaviour import Prepayment
from openmbs.cashflow import project_pool, write_projection
from openmbs.collateral import generate_tape, write_tape


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_current_umask_reads_without_changing(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask


@pytest.mark.parametrize("name", ["tape.parquet", "tape.csv"])
def test_write_tape_mode_follows_umask(tmp_path: Path, umask: int, name: str) -> None:
    target = tmp_path / name
    write_tape(generate_tape(5, seed=1), target)
    assert _mode(target) == 0o666 & ~umask


@pytest.mark.parametrize("name", ["cf.csv", "cf.parquet", "cf.json"])
def test_write_projection_mode_follows_umask(tmp_path: Path, umask: int, name: str) -> None:
    cf = project_pool(balance=1e6, gross_coupon=0.065, net_coupon=0.06, original_term=360,
                      remaining_term=360, prepayment=Prepayment.cpr(0.06))
    target = write_projection(cf, tmp_path / name)
    assert _mode(target) == 0o666 & ~umask


def test_same_mode_as_plain_open(tmp_path: Path, umask: int) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    atomic_write(atomic, lambda tmp: tmp.write_text("x"))
    assert _mode(atomic) == _mode(plain)


def test_failed_write_leaves_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_text("old")

    def boom(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]
