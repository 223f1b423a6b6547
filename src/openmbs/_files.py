"""Writing files atomically, with the permissions a plain ``open()`` would give.

A file written to a temporary name and renamed into place is never seen half-written,
but :func:`tempfile.mkstemp` creates it with mode ``0o600`` whatever the umask: a tape,
projection or model written that way would be unreadable to the group and the world
where every other output is readable. :func:`atomic_write` gives the final file mode
``0o666 & ~umask``, as ``open(path, "w")`` does.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "current_umask", "default_file_mode"]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting and
    restoring it (``os.umask`` has no read-only form), under a lock so two threads of
    this process never see the temporary value through this function.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open(path, "w")`` gives a new file."""
    return 0o666 & ~current_umask()


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Write ``target`` through a temporary file in its folder, then rename it into place.

    ``write`` receives the temporary path and fills it. The final file has mode
    ``0o666 & ~umask`` (see the module docstring). On any failure the temporary file is
    removed and ``target`` is left as it was. The folder must exist.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, default_file_mode())
        finally:
            os.close(fd)
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(target: Path, text: str) -> None:
    """:func:`atomic_write` of ``text`` (UTF-8)."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    atomic_write(target, write)
