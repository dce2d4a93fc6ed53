"""Up-front size guard: will a scenario's data sets fit in memory and in the cache?

Estimates, made from the scenario alone before any work, of the bytes each split takes in the
channel cache (disk) and while a run holds it (memory). They are rough (within a small factor)
but they turn ``n_train: 1000000000000`` into one message with exit code 2 instead of a run
that allocates memory until it is killed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from linksim.errors import LinksimInputError

#: Float32 copies of a split's codec inputs ``[N, Na, Nt, 2]`` a run may hold at once (inputs,
#: normalised inputs, estimates).
INPUT_COPIES = 3


def split_disk_bytes(cfg, n: int) -> int:
    """Bytes of ``n`` generated samples of data set ``cfg`` in the channel cache, as its family
    counts them (:meth:`linksim.channels.families.ChannelFamily.cached_bytes_per_sample`; 0 for
    a family whose files are given)."""
    from linksim.channels.families import family_for

    return n * family_for(cfg).cached_bytes_per_sample(cfg)


def split_memory_bytes(cfg, n: int, num_rows: int, on_disk: bool) -> int:
    """Bytes a run holds for ``n`` samples of ``cfg`` (the stored channels unless streamed from
    disk, plus :data:`INPUT_COPIES` float32 copies of the codec inputs, which a streamed split
    keeps in a scratch file instead)."""
    if on_disk:
        return 0
    stored = split_disk_bytes(cfg, n) or n * cfg.num_delay_rows * cfg.num_bs_antennas * 8
    return stored + INPUT_COPIES * n * num_rows * cfg.num_bs_antennas * 2 * 4


def memory_available() -> int | None:
    """Available memory in bytes (``MemAvailable`` of ``/proc/meminfo``; else the physical
    memory; None where neither can be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def disk_free(path: Path) -> int | None:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _human(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if b < 1000 or unit == "PB":
            return f"{b:.3g} {unit}"
        b /= 1000
    return f"{b:.3g} PB"


def check_resources(splits, num_rows: int, cache_dir: Path,
                    memory: int | None = None, free: int | None = None) -> dict:
    """Refuse a run whose data sets cannot fit.

    Parameters
    ----------
    splits : iterable of (name, split, cfg, n, on_disk, cached)
        Every split the run loads: data set name, "train" | "val" | "test", its scenario
        config, its size, whether it is streamed from disk, whether it is already cached.
    num_rows : int
        Na, delay rows of the codec inputs.
    cache_dir : Path
        The channel cache (where new splits are generated).
    memory, free : int, optional
        Available memory and free cache disk [bytes]; measured when not given.

    Returns
    -------
    dict
        ``{"memory_bytes", "disk_bytes", "memory_available", "disk_free"}`` (the estimates).

    Raises
    ------
    LinksimInputError
        The estimate exceeds 90 % of the available memory or of the free disk; the message
        names the largest split's ``datasets.<name>.n_<split>`` and what each needs.
    """
    splits = list(splits)
    mem = {(s[0], s[1]): split_memory_bytes(s[2], s[3], num_rows, s[4]) for s in splits}
    disk = {(s[0], s[1]): 0 if s[5] else split_disk_bytes(s[2], s[3]) for s in splits}
    memory = memory_available() if memory is None else memory
    free = disk_free(cache_dir) if free is None else free
    need_mem, need_disk = sum(mem.values()), sum(disk.values())
    if memory is not None and need_mem > 0.9 * memory:
        name, split = max(mem, key=mem.get)
        raise LinksimInputError(
            f"datasets.{name}.n_{split}: the run's data sets need about {_human(need_mem)} of "
            f"memory ({name}/{split} alone {_human(mem[name, split])}); {_human(memory)} is "
            "available. Use fewer samples, or training.stream: true for the training splits")
    if free is not None and need_disk > 0.9 * free:
        name, split = max(disk, key=disk.get)
        raise LinksimInputError(
            f"datasets.{name}.n_{split}: generating the data sets needs about "
            f"{_human(need_disk)} in the cache {cache_dir} ({name}/{split} alone "
            f"{_human(disk[name, split])}); {_human(free)} is free. Use fewer samples or "
            "another cache_dir")
    return {"memory_bytes": need_mem, "disk_bytes": need_disk, "memory_available": memory,
            "disk_free": free}
