"""``python -m openmbs`` runs the same command as the ``openmbs`` script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "openmbs", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )


def test_python_m_openmbs_help() -> None:
    res = _run("--help")
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout and "openmbs" in res.stdout


def test_python_m_openmbs_version() -> None:
    from openmbs import __version__

    res = _run("--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"openmbs {__version__}"
