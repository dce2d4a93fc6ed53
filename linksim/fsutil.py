"""File-system helpers shared by every writer of caches and outputs."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file name beside ``path`` to write to; renamed onto ``path`` when the block
    exits normally, deleted when it raises or is interrupted.

    The one temp-file-then-rename of every writer: readers see the old file or the whole new
    one, never a half-written one, and nothing is left behind on failure. The file exists (empty)
    when the block starts; ``suffix`` keeps an extension that a writer may need (``np.savez``
    appends ``.npz`` to any other name). The renamed file gets the mode ``open()`` would have
    given it (:func:`as_if_created_normally`). The parent directory is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        as_if_created_normally(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A new, empty temporary directory beside ``path`` to fill; it takes the place of ``path``
    when the block exits normally (a directory already there is removed first), and is removed
    with its content when the block raises or is interrupted.

    The directory counterpart of :func:`atomic_path`: readers see the old directory or the
    whole new one, never a half-written one (only for the instant between the removal and the
    rename, none). ``suffix`` ends the temporary name (``.partial``, say). The directory gets
    the mode ``mkdir()`` would have given it (:func:`as_if_created_normally`); the parent
    directory is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent))
    try:
        yield tmp
        as_if_created_normally(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
