"""File-system helpers shared by every writer of caches and outputs."""

from __future__ import annotations

import os
import threading
from pathlib import Path

_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask (read by setting and restoring it, under a lock)."""
    with _lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def as_if_created_normally(path: str | os.PathLike) -> None:
    """Give a file or directory made by :mod:`tempfile` (mode 0600 / 0700, private) the mode
    that ``open()`` or ``mkdir()`` would have given it (0666 / 0777 less the umask), so that a
    cache or run directory shared by a group stays readable by it once renamed into place."""
    path = Path(path)
    base = 0o777 if path.is_dir() else 0o666
    os.chmod(path, base & ~current_umask())
