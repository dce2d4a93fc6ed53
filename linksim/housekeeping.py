"""Leftovers of interrupted runs: find and remove what a killed process left behind.

Every piece of work in progress is announced by a held lock (:mod:`filelock`):

- a run's working directory ``OUTPUT/.NAME-STAMP.partial`` by ``OUTPUT/.NAME-STAMP.lock``,
  held from before the directory is created until after it is renamed into place;
- a cache entry's temporary file (``CACHE/.ENTRY.XXXX.tmp``) or model directory
  (``CACHE/models/.ENTRY.XXXX``) by the entry's lock ``ENTRY.lock``, held while it is built.

A data split's shard file (``CACHE/.SPLIT.h5.shard-LO-HI``, :mod:`linksim.channels.shards`)
is complete when it exists; it is kept for a rerun to reuse while its split is missing, and
is a leftover once the split's file exists (a merge killed before it removed it).

An item whose lock can be taken at once has no live owner: its process was killed (``kill
-9``, power loss) before it could clean up. :func:`stale_items` lists such items and
:func:`prune` removes them; ``linksim run`` prunes its own cache and output directory when it
starts, and ``linksim cache`` lists or prunes them by hand.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import filelock


@dataclass(frozen=True)
class StaleItem:
    """A leftover: ``path`` (file or directory), what it was, and its size in bytes."""

    path: Path
    kind: str
    size: int
    lock: Path | None = None  # its own lock file, removed with it


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _unowned(lock_path: Path) -> bool:
    """Whether nobody holds the lock at ``lock_path`` (taken and released at once; a lock
    file that does not exist is held by nobody, and is not created by asking)."""
    if not lock_path.is_file():
        return True
    lock = filelock.FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return False
    lock.release()
    return True


def run_lock(run_dir: Path) -> filelock.FileLock:
    """The lock announcing a run in progress in ``OUTPUT/.NAME-STAMP.partial`` (``run_dir``
    is the final name ``OUTPUT/NAME-STAMP``)."""
    return filelock.FileLock(run_dir.with_name(f".{run_dir.name}.lock"), mode=0o666)


def stale_items(cache_dir: Path | None = None, output_dir: Path | None = None
                ) -> list[StaleItem]:
    """The leftovers of killed processes in a channel cache and a run output directory."""
    found = []
    if output_dir is not None and Path(output_dir).is_dir():
        for p in sorted(Path(output_dir).glob(".*.partial")):
            final = p.name[1:-len(".partial")]
            lock = p.with_name(f".{final}.lock")
            if _unowned(lock):
                found.append(StaleItem(p, "unfinished run directory", _size(p), lock))
    if cache_dir is not None and Path(cache_dir).is_dir():
        cache_dir = Path(cache_dir)
        for p in sorted(cache_dir.glob(".*.tmp")):
            entry = p.name[1:-len(".tmp")].rsplit(".", 1)[0]
            if _unowned(cache_dir / f"{entry}.lock"):
                found.append(StaleItem(p, "unfinished cache file", _size(p)))
        found += _merged_shards(cache_dir)
        models = cache_dir / "models"
        if models.is_dir():
            for p in sorted(models.glob(".*")):
                if p.is_dir():
                    entry = p.name[1:].rsplit(".", 1)[0]
                    if _unowned(models / f"{entry}.lock"):
                        found.append(StaleItem(p, "unfinished model directory", _size(p)))
    return found


_SHARD = re.compile(r"\.(?P<split>.+)\.shard-\d+-\d+")


def _merged_shards(cache_dir: Path) -> list[StaleItem]:
    """Shard files of splits whose cache file exists, nobody writing them."""
    found = []
    for p in sorted(cache_dir.glob(".*.shard-*")):
        m = _SHARD.fullmatch(p.name)
        lock = p.with_name(p.name + ".lock")
        if m and (cache_dir / m["split"]).is_file() and _unowned(lock):
            found.append(StaleItem(p, "merged data shard", _size(p), lock))
    return found


def prune(items: list[StaleItem]) -> int:
    """Remove ``items`` (from :func:`stale_items`); returns the bytes freed."""
    freed = 0
    for item in items:
        if item.path.is_dir():
            shutil.rmtree(item.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                item.path.unlink()
        if item.lock is not None:
            with contextlib.suppress(FileNotFoundError):
                item.lock.unlink()
        freed += item.size
    return freed
