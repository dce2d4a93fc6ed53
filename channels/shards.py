"""Large splits in shards: generated as independent block ranges, then merged into one file.

A split of more than :data:`SHARD_SAMPLES` samples can be cut into shards
(:func:`shard_ranges`): consecutive ranges of samples whose bounds are multiples of the
family's generation block (:meth:`~linksim.channels.families.ChannelFamily.block_samples`: a
Sionna call for UMa, a task of ``COST2100_TASK`` samples for COST 2100), so that each is drawn
on its own with exactly the samples of the whole draw. :func:`generate_shard` writes one
shard into its own file beside the split's cache file (``.<split file>.shard-<lo>-<hi>``,
atomically, with the arrays' checksums), and :func:`merge_shards` copies the shards, in order,
into the split's cache file: the same cache key, arrays byte for byte, checksums and meta as
the split generated in one go (:func:`linksim.channels.dataset.generate_to_file`). The shards
are removed after the merge.

The run's Ray path submits one unit per shard, then one merge unit per split
(:func:`linksim.units.shard_unit`, :func:`linksim.units.merge_unit`), the ranges computed
once by the driver. A killed run's shard files
stay: a shard file exists only complete (atomic rename), and a rerun reuses it once its
checksums verify (a corrupt one is generated again). The cache
(:func:`linksim.channels.dataset.load_or_generate`) builds a split from its shards whenever
shard files of it are present (:func:`shards_present`), so a local rerun resumes from them too; a shard left beside a split that exists is a leftover for
:mod:`linksim.housekeeping`.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import h5py
from linksim.channels.dataset import (
    _settings,
    cache_lock,
    read_dataset,
    write_plan,
)
from linksim.channels.families import Block, family_for

from linksim.errors import DatasetError

#: Samples per shard, rounded up to a multiple of the family's generation block (10,000 UMa
#: samples at ``GENERATION_BATCH`` 1000; 10,240 COST 2100 samples at ``COST2100_TASK`` 256):
#: a minute or so of generation on one core. A split of at most one shard is never sharded.
SHARD_SAMPLES = 10_000


def shard_size(g: dict) -> int:
    """Samples per shard of generator config ``g``: :data:`SHARD_SAMPLES` rounded up to a
    multiple of the family's generation block."""
    block = family_for(g).block_samples(g, _settings())
    return max(1, -(-SHARD_SAMPLES // block)) * block


def shard_ranges(g: dict, n: int) -> list[tuple[int, int]]:
    """The shards of a split of ``n`` samples: ``[(lo, hi), ...]`` covering ``0:n`` in order;
    ``[(0, n)]`` (one shard, not sharded) when ``n`` fits in one or the family is not
    generated."""
    if not family_for(g).generated:
        return [(0, n)]
    size = shard_size(g)
    if n <= size:
        return [(0, n)]
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]


def shard_path(path: Path, lo: int, hi: int) -> Path:
    """The shard file of samples ``lo:hi`` of the split cache file ``path`` (hidden, and not
    ``*.h5``: it is no cache entry of its own)."""
    path = Path(path)
    return path.with_name(f".{path.name}.shard-{lo}-{hi}")


def _shard_ok(shard: Path, path: Path, lo: int, hi: int) -> bool:
    """Whether ``shard`` is a complete shard of samples ``lo:hi`` of ``path`` whose arrays
    match their checksums. A corrupt or foreign one is removed (and generated again)."""
    if not shard.is_file():
        return False
    try:
        with read_dataset(shard, lazy=True) as ds:
            ok = (ds.meta.get("shard") == {"of": path.name, "samples": [lo, hi]}
                  and len(ds) == hi - lo)
    except DatasetError as exc:
        warnings.warn(f"{exc}; generating the shard again", UserWarning, stacklevel=3)
        ok = False
    if not ok:
        shard.unlink(missing_ok=True)
    return ok


def generate_shard(g: dict, split: str, n: int, seed: int, path: Path, lo: int, hi: int,
                   progress: bool = False) -> tuple[Path, bool]:
    """Samples ``lo:hi`` of the split of ``n`` samples whose cache file is ``path``, into
    their shard file (:func:`shard_path`), unless a verified one is there.

    Returns
    -------
    (shard file, reused)
    """
    path, lo, hi = Path(path), int(lo), int(hi)
    shard = shard_path(path, lo, hi)
    with cache_lock(shard):
        if _shard_ok(shard, path, lo, hi):
            return shard, True
        plan = family_for(g).plan(g, n, seed, _settings(), progress, samples=(lo, hi))
        whole_meta = plan.meta
        plan = replace(plan, arrays={k: ((hi - lo, *shape[1:]), dtype)
                                     for k, (shape, dtype) in plan.arrays.items()},
                       meta=lambda: {**whole_meta(),
                                     "shard": {"of": path.name, "samples": [lo, hi]}})
        write_plan(plan, split, hi - lo, shard, offset=lo)
    return shard, False


def _read_shards(shards: list[tuple[int, int, Path]], names: list[str], rows: int
                 ) -> Iterator[Block]:
    """The per-sample arrays ``names`` of the shards ``(lo, hi, file)``, in order, ``rows``
    samples at a time: yields ``(start, {name: values of samples start:start + b})``."""
    for lo, hi, shard in shards:
        with h5py.File(shard, "r") as f:
            for i in range(0, hi - lo, rows):
                yield lo + i, {k: f[k][i:i + rows] for k in names}


def merge_shards(g: dict, split: str, n: int, seed: int, path: Path,
                 ranges: list[tuple[int, int]]) -> Path:
    """Write the split's cache file ``path`` from the shard files of ``ranges`` (all present
    and verified: :func:`generate_shard`), then remove them; the caller holds the split's
    lock."""
    family, settings = family_for(g), _settings()
    shards = [(lo, hi, shard_path(path, lo, hi)) for lo, hi in ranges]
    names = list(family.plan(g, n, seed, settings).arrays)
    source = _read_shards(shards, names, family.block_samples(g, settings))
    write_plan(family.plan(g, n, seed, settings, source=source), split, n, path)
    remove_shards([s for _, _, s in shards])
    return Path(path)


def remove_shards(shards: list[Path]) -> None:
    """Remove shard files and their lock files (once merged)."""
    for shard in shards:
        for p in (shard, shard.with_name(shard.name + ".lock")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def build_from_shards(g: dict, split: str, n: int, seed: int, path: Path,
                      ranges: list[tuple[int, int]], progress: bool = False) -> Path:
    """The split's cache file ``path`` from the shards of ``ranges``: the missing (or corrupt)
    ones generated here, in order, the others reused; the caller holds the split's lock."""
    if not ranges or ranges[0][0] != 0 or ranges[-1][1] != n or any(
            a[1] != b[0] for a, b in itertools.pairwise(ranges)):
        raise ValueError(f"shards {ranges} do not cover samples 0:{n} in order")
    for lo, hi in ranges:
        generate_shard(g, split, n, seed, path, lo, hi, progress)
    return merge_shards(g, split, n, seed, path, ranges)


def shards_present(g: dict, n: int, path: Path) -> list[tuple[int, int]]:
    """The shards of the split whose cache file is ``path`` when a shard file of them is there
    (a killed run's: the split is then built from them, :func:`build_from_shards`), else
    ``[]`` (the split is generated in one go)."""
    ranges = shard_ranges(g, n)
    if len(ranges) > 1 and any(shard_path(path, lo, hi).exists() for lo, hi in ranges):
        return ranges
    return []
