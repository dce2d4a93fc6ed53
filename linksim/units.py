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
  ``execution.sweep_snrs_per_unit`` of them, for every method or a chunk of
  ``execution.sweep_methods_per_unit`` of them (:func:`sweep_unit`, :func:`sweep_chunks`).

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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SweepChunk:
    """One sweep unit: test set ``test_set`` at the pilot SNRs ``snrs`` (``None``: all) for
    the methods ``methods = (lo, hi)`` of :func:`linksim.sweep.methods_of`'s list (``None``:
    all, with ``perfect`` and ``no_feedback``)."""

    test_set: str
    snrs: tuple[float, ...] | None = None
    methods: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """The unit's name: the test set, plus its SNR points and methods when it has a chunk
        of them (``uma@0,20dB#m0-3``: methods 0 to 3)."""
        out = self.test_set
        if self.snrs is not None:
            out += f"@{','.join(f'{s:g}' for s in self.snrs)}dB"
        if self.methods is not None:
            out += f"#m{self.methods[0]}-{self.methods[1] - 1}"
        return out


def sweep_chunks(sc, num_methods: int) -> list[SweepChunk]:
    """The sweep units of scenario ``sc`` whose sweep evaluates ``num_methods`` methods
    (:func:`linksim.sweep.methods_of`), in the order of the whole sweep: per test set, chunks
    of ``execution.sweep_snrs_per_unit`` consecutive pilot SNRs (unset: all), each cut into
    chunks of ``execution.sweep_methods_per_unit`` consecutive methods (unset: all)."""
    k, j = sc.execution.sweep_snrs_per_unit, sc.execution.sweep_methods_per_unit
    snrs = list(sc.estimation.pilot_snr_db)
    snr_chunks = ([None] if k is None or k >= len(snrs)
                  else [tuple(snrs[i:i + k]) for i in range(0, len(snrs), k)])
    method_chunks = ([None] if j is None or j >= num_methods
                     else [(i, min(i + j, num_methods)) for i in range(0, num_methods, j)])
    return [SweepChunk(t, c, m) for t in sc.evaluation.test_sets for c in snr_chunks
            for m in method_chunks]


def sweep_unit(sc, cache_dir: str, chunk: SweepChunk) -> SweepResult:
    """Every method of ``chunk`` on its test set at its pilot SNRs, the models and data read
    from the caches (:func:`linksim.sweep.run_sweep` restricted to the chunk)."""
    from linksim.sweep import run_sweep

    run = _worker_run(sc, cache_dir)
    try:
        run.load_data()
        with tempfile.TemporaryDirectory() as tmp:
            trained = run.train_codecs(Path(tmp))
        classical = run.fit_baselines()
        return run_sweep(sc, run.datasets, trained, classical, test_sets=[chunk.test_set],
                         snr_points=None if chunk.snrs is None else list(chunk.snrs),
                         methods=chunk.methods)
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


def chunk_path(run, chunk: SweepChunk, trained: list) -> Path:
    """Cache file of the sweep unit ``chunk`` in ``run`` (after its data, models and
    classical compressors are in place): keyed by the scenario (less its name and output
    directory), the chunk, the model cache entries and data files the unit reads, the classical
    compressors' states, the package versions and the source code."""
    from linksim.versions import package_versions

    scenario = run.sc.model_dump(mode="json", exclude={"name", "output_dir", "execution"})
    test_set, snrs = chunk.test_set, chunk.snrs
    key = {"scenario": scenario, "test_set": test_set, **({} if snrs is None else {"snrs": snrs}),
           **({} if chunk.methods is None else {"methods": chunk.methods}),
           "models": [tc.model_dir.name for tc in trained],
           "data": {k: v["path"] for k, v in sorted(run.dataset_files.items())},
           "baselines": run.baseline_states,
           "versions": package_versions(), "code": code_digest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    part = ("" if snrs is None else f"-{len(snrs)}snr") + (
        "" if chunk.methods is None else f"-m{chunk.methods[0]}")
    return run.cache_dir / "sweep" / f"{run.sc.name}-{test_set}{part}-{digest[:16]}.pkl"


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
    """One result from the sweep units' results: the rows of the whole sweep, in its order
    (each row's :attr:`SweepResult.order`: test set, SNR point, method), the row indices of the
    per-sample metrics moved to match."""
    out = SweepResult(pd.DataFrame(columns=RESULT_COLUMNS))
    frames, per_sample = [], []
    for part in parts:
        frames.append(part.rows)
        per_sample += [part.per_sample[i] for i in range(len(part.rows))]
        out.order += part.order
        out.energy.update(part.energy)
        for model, floors in part.range_floors.items():
            out.range_floors.setdefault(model, {}).update(floors)
        # the chunks of one test set warn alike (range floors): each message once
        out.warnings.extend(w for w in part.warnings if w not in out.warnings)
        out.seconds += part.seconds
    if frames:
        # a chunk without codec rows has all-NaN label columns: re-infer as the whole sweep does
        rows = pd.concat(frames, ignore_index=True).reindex(columns=RESULT_COLUMNS).infer_objects()
        place = sorted(range(len(rows)), key=out.order.__getitem__)  # stable: ties keep order
        out.rows = rows.iloc[place].reset_index(drop=True)
        out.order = [out.order[i] for i in place]
        out.per_sample = {new: per_sample[old] for new, old in enumerate(place)}
    return out


def per_sample_equal(a: dict[int, dict[str, np.ndarray]],
                     b: dict[int, dict[str, np.ndarray]]) -> bool:
    """Whether two per-sample metric sets are identical (tests)."""
    return a.keys() == b.keys() and all(
        a[i].keys() == b[i].keys() and all(np.array_equal(a[i][k], b[i][k]) for k in a[i])
        for i in a)
