"""A run cut into independent units, and the sweep's resume cache.

Units (run by an executor of :mod:`linksim.executor`):

* **data**: generating one split of one data set into the data cache
  (:func:`data_unit`); a split of more than one shard
  (:data:`linksim.channels.shards.SHARD_SAMPLES`) is generated as one unit per shard
  (:func:`shard_unit`, :func:`split_shards`), then one unit merges them into the split's
  cache file (:func:`merge_unit`);
* **train**: training one model (codec x CR x training set x training link) into the model
  cache (:func:`train_unit`); a fine-tune runs after its base, in a second wave;
* **sweep**: evaluating every method on one test set at every pilot SNR, or at a chunk of
  ``execution.sweep_snrs_per_unit`` of them (:func:`sweep_unit`, :func:`sweep_chunks`).

Data and models were already cached by a key of everything that determines them. A sweep unit's
result is cached too, as ``<cache>/sweep/<run name>-<test set>-<key>.pkl`` (:func:`chunk_path`),
where the key covers the scenario, the models and data files it used and the source code of
linksim. A run that is killed keeps the sweep units it finished, and a rerun of the same
scenario redoes only the others; a run that completes removes its sweep entries, so a later run
evaluates afresh (as it always did). Every unit's draws come from its own named random streams,
so a unit's result does not depend on where, or in which order, it ran.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from linksim.fsutil import atomic_path
from linksim.seeding import derive_seed
from linksim.sweep import RESULT_COLUMNS, SweepResult


# -- the units: module-level functions of picklable arguments, for any executor --------------
def _quiet(*_args, **_kwargs) -> None:
    """A unit's own messages are not shown: the run reports what it loads afterwards."""


def _worker_run(sc, cache_dir: str, retrain: bool = False):
    """A :class:`~linksim.pipeline.Run` of ``sc`` inside a unit, on the run's cache."""
    from linksim.pipeline import Run

    run = Run(sc, progress=False, retrain=retrain, echo=_quiet, warn=_quiet)
    run.cache_dir = Path(cache_dir)
    return run


def _split_seed(sc, name: str, split: str) -> int:
    """The seed of split ``split`` of data set ``name`` (as :class:`~linksim.pipeline.Run`
    draws it)."""
    return derive_seed(sc.seed, "dataset", name, split)


def split_shards(sc, name: str, split: str) -> list[tuple[int, int]]:
    """The shards ``[(lo, hi), ...]`` of split ``split`` of data set ``name``; empty when the
    split is generated in one unit (one shard or less, or read from files)."""
    from linksim.channels.families import family_for
    from linksim.channels.shards import shard_ranges

    cfg = sc.datasets[name]
    if not family_for(cfg).generated:
        return []
    ranges = shard_ranges(cfg.generator_config(), getattr(cfg, f"n_{split}"))
    return ranges if len(ranges) > 1 else []


def shard_unit(sc, cache_dir: str, name: str, split: str, lo: int, hi: int) -> str:
    """Generate samples ``lo:hi`` of split ``split`` of data set ``name`` into their shard
    file beside the split's cache file (a verified one there is kept); returns its path."""
    from linksim.channels.shards import generate_shard

    g, n, seed, path = _split_file(sc, cache_dir, name, split)
    return str(generate_shard(g, split, n, seed, path, lo, hi)[0])


def merge_unit(sc, cache_dir: str, name: str, split: str,
               ranges: list[tuple[int, int]]) -> str:
    """Merge the shards ``ranges`` of split ``split`` of data set ``name`` (any missing one
    generated here) into the split's cache file, unless it is there; returns its path."""
    from linksim.channels.dataset import cache_lock
    from linksim.channels.shards import build_from_shards

    g, n, seed, path = _split_file(sc, cache_dir, name, split)
    with cache_lock(path):
        if not path.exists():
            build_from_shards(g, split, n, seed, path, [tuple(r) for r in ranges])
    return str(path)


def _split_file(sc, cache_dir: str, name: str, split: str) -> tuple[dict, int, int, Path]:
    """``(generator config, samples, seed, cache file)`` of a generated split."""
    from linksim.channels.dataset import split_path

    cfg = sc.datasets[name]
    g, n, seed = cfg.generator_config(), getattr(cfg, f"n_{split}"), _split_seed(sc, name, split)
    return g, n, seed, split_path(g, split, n, seed, Path(cache_dir))


def data_unit(sc, cache_dir: str, name: str, split: str) -> str:
    """Generate split ``split`` of data set ``name`` into the data cache (or find it there);
    returns the file's path."""
    from linksim.data import load_split

    cfg = sc.datasets[name]
    seed = _split_seed(sc, name, split)
    ds, path, _ = load_split(cfg, split, seed, Path(cache_dir), lazy=True)
    close = getattr(ds, "close", None)
    if close is not None:
        close()
    return str(path)


def train_unit(sc, cache_dir: str, tags: list[str], retrain: bool = False) -> list[str]:
    """Train the models ``tags`` (:meth:`~linksim.zoo.ModelZoo.model_plan`) into the model
    cache; a fine-tune's base among ``tags`` is loaded from the cache."""
    from linksim.learning.device import placed_on, resolve_device

    run = _worker_run(sc, cache_dir, retrain)
    try:
        run.load_data()
        with tempfile.TemporaryDirectory() as tmp, placed_on(resolve_device(sc.training.device)):
            run.train_codecs(Path(tmp), only=set(tags))
    finally:
        run.close()
    return tags


def sweep_chunks(sc) -> list[tuple[str, tuple[float, ...] | None]]:
    """The sweep units of scenario ``sc``, in the order of the whole sweep's rows: ``(test set,
    SNR points)``, with ``None`` for all points (``execution.sweep_snrs_per_unit`` unset) or
    consecutive chunks of that many points."""
    k = sc.execution.sweep_snrs_per_unit
    snrs = list(sc.estimation.pilot_snr_db)
    if k is None or k >= len(snrs):
        return [(t, None) for t in sc.evaluation.test_sets]
    return [(t, tuple(snrs[i:i + k])) for t in sc.evaluation.test_sets
            for i in range(0, len(snrs), k)]


def chunk_label(test_set: str, snrs: tuple[float, ...] | None) -> str:
    """A sweep unit's name: the test set, plus its SNR points when it has a chunk of them."""
    return test_set if snrs is None else f"{test_set}@{','.join(f'{s:g}' for s in snrs)}dB"


def sweep_unit(sc, cache_dir: str, test_set: str,
               snrs: tuple[float, ...] | None = None) -> SweepResult:
    """Every method on test set ``test_set`` at every pilot SNR (or at ``snrs``), the models and
    data read from the caches (:func:`linksim.sweep.run_sweep` restricted to one test set and
    SNR chunk)."""
    from linksim.sweep import run_sweep

    run = _worker_run(sc, cache_dir)
    try:
        run.load_data()
        with tempfile.TemporaryDirectory() as tmp:
            trained = run.train_codecs(Path(tmp))
        classical = run.fit_baselines()
        return run_sweep(sc, run.datasets, trained, classical, test_sets=[test_set],
                         snr_points=None if snrs is None else list(snrs))
    finally:
        run.close()


# -- the sweep's resume cache ---------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 (16 hex digits) of the source of linksim and its channel generators: a sweep
    entry made by other code is never reused."""
    import linksim
    import linksim.channels

    h = hashlib.sha256()
    for root in (Path(linksim.__file__).parent, Path(linksim.channels.__file__).parent):
        for path in sorted(root.rglob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def chunk_path(run, test_set: str, trained: list,
               snrs: tuple[float, ...] | None = None) -> Path:
    """Cache file of the sweep unit of ``test_set`` in ``run`` (after its data, models and
    classical compressors are in place): keyed by the scenario (less its name and output
    directory), the model cache entries and data files the unit reads, the classical
    compressors' states, the package versions and the source code."""
    from linksim.versions import package_versions

    scenario = run.sc.model_dump(mode="json", exclude={"name", "output_dir", "execution"})
    key = {"scenario": scenario, "test_set": test_set, **({} if snrs is None else {"snrs": snrs}),
           "models": [tc.model_dir.name for tc in trained],
           "data": {k: v["path"] for k, v in sorted(run.dataset_files.items())},
           "baselines": run.baseline_states,
           "versions": package_versions(), "code": code_digest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    chunk = "" if snrs is None else f"-{len(snrs)}snr"
    return run.cache_dir / "sweep" / f"{run.sc.name}-{test_set}{chunk}-{digest[:16]}.pkl"


def save_chunk(path: Path, res: SweepResult) -> None:
    """Write a sweep unit's result (atomically: a killed write leaves no entry)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(res, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_chunk(path: Path) -> SweepResult | None:
    """A finished sweep unit's result, or None when there is none. An unreadable entry is
    removed (and the unit redone) rather than trusted."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            res = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as exc:
        path.unlink(missing_ok=True)
        import warnings

        warnings.warn(f"sweep cache entry {path} unreadable ({exc}); evaluating it again",
                      stacklevel=2)
        return None
    if not isinstance(res, SweepResult):
        path.unlink(missing_ok=True)
        return None
    return res


def drop_chunks(paths: list[Path]) -> None:
    """Remove a completed run's sweep entries."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def merge_sweeps(parts: list[SweepResult]) -> SweepResult:
    """One result from the sweep units' results, in the order given (the rows of the whole
    sweep, row indices of the per-sample metrics shifted to match)."""
    out = SweepResult(pd.DataFrame(columns=RESULT_COLUMNS))
    frames = []
    offset = 0
    for part in parts:
        frames.append(part.rows)
        out.per_sample.update({offset + i: v for i, v in part.per_sample.items()})
        offset += len(part.rows)
        out.energy.update(part.energy)
        for model, floors in part.range_floors.items():
            out.range_floors.setdefault(model, {}).update(floors)
        # the chunks of one test set warn alike (range floors): each message once
        out.warnings.extend(w for w in part.warnings if w not in out.warnings)
        out.seconds += part.seconds
    if frames:
        out.rows = pd.concat(frames, ignore_index=True).reindex(columns=RESULT_COLUMNS)
    return out


def per_sample_equal(a: dict[int, dict[str, np.ndarray]],
                     b: dict[int, dict[str, np.ndarray]]) -> bool:
    """Whether two per-sample metric sets are identical (tests)."""
    return a.keys() == b.keys() and all(
        a[i].keys() == b[i].keys() and all(np.array_equal(a[i][k], b[i][k]) for k in a[i])
        for i in a)
