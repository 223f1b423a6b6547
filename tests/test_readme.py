"""The README's shell examples run as written.

Every fenced ``sh`` / ``bash`` block of README.md runs in a fresh temporary folder with
``bash -e -o pipefail``, in this checkout's environment (``.venv`` in the folder is this
Python's environment, so ``source .venv/bin/activate`` works; ``../shared`` is the
shared folder beside the checkout, or the parent of ``$OPENMBS_SHARED_DATA``, and a block
that reads it skips when it is absent). A
block that uses ``ETH_RPC_URL`` runs against a fresh anvil node started here (from the
npm registry; skipped only when npm is absent). Only a block preceded by
``<!-- readme-test: skip (REASON) -->`` is skipped, with its reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: ``../shared`` beside the checkout (its ``data`` folder: override with OPENMBS_SHARED_DATA).
SHARED = Path(os.environ.get("OPENMBS_SHARED_DATA", REPO.parent / "shared" / "data")).parent
_FENCE = re.compile(
    r"(?:<!--\s*readme-test:\s*skip\s*\((?P<skip>[^)]*)\)\s*-->\s*\n)?```(?P<lang>sh|bash)\n(?P<body>.*?)\n```",
    re.S,
)


def _blocks() -> list[tuple[str, str, str | None]]:
    text = README.read_text()
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start("body"))
        heading = [h for h in re.findall(r"^## (.+)$", text[: m.start()], re.M)][-1:] or ["top"]
        out.append((f"line{line}-{heading[0].split(':')[0].replace(' ', '_')}", m.group("body"), m.group("skip")))
    return out


BLOCKS = _blocks()


def test_the_readme_has_shell_examples() -> None:
    assert len(BLOCKS) >= 3
    assert any("openmbs chain deploy" in body for _, body, _ in BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize(("body", "skip"), [(b, s) for _, b, s in BLOCKS], ids=[i for i, _, _ in BLOCKS])
def test_readme_block_runs_as_written(body: str, skip: str | None, tmp_path: Path) -> None:
    if skip is not None:
        pytest.skip(f"marked in README.md: {skip}")
    if "../shared/" in body and not SHARED.is_dir():
        pytest.skip(f"the block reads the shared data folder {SHARED}, which is absent")
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.prefix))
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENMBS_", "ETH_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    node = None
    if "ETH_RPC_URL" in body:
        from openmbs.chain._anvil import find_anvil, install_anvil, start_anvil

        if find_anvil() is None and shutil.which("npm") is None:
            pytest.skip("npm is not installed: cannot install anvil from the npm registry")
        node = start_anvil(find_anvil() or install_anvil())
        env["ETH_RPC_URL"] = node.url
    try:
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", body],
            cwd=work, env=env, capture_output=True, text=True, timeout=1800,
        )
    finally:
        if node is not None:
            node.stop()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
