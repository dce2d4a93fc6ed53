"""One run of a scenario: data -> models -> sweep -> results, plots, manifest.

The stages, each in a module of its own (``docs/architecture.md``):

1. :mod:`linksim.data` (:class:`~linksim.data.DataStage`): the splits a run needs, loaded or
   generated once, and the codecs' inputs;
2. :mod:`linksim.zoo` (:class:`~linksim.zoo.ModelZoo`): codecs built, trained or loaded from the
   model cache, fine-tuned, their feedback links fitted; the classical compressors fitted;
3. :mod:`linksim.sweep`: every method on every test set at every pilot SNR, the chain per test
   batch being ``H -> estimation -> truncation -> codec / compressor -> feedback link ->
   rebuild -> metrics.link_metrics``.

This module ties them together: :class:`Run` reserves the run directory, runs the stages,
writes ``results.csv``, ``per_sample.h5``, the plots and ``manifest.json``, and renames the
directory into place only when everything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import filelock
import numpy as np
import pandas as pd

from linksim import (
    housekeeping,
    plots,
    units,
)
from linksim.channels.dataset import (
    CirDataset,
    default_cache_dir,
)
from linksim.data import DataStage, codec_inputs, drawn_on_gpu, load_split  # noqa: F401
from linksim.errors import LinksimInputError
from linksim.executor import LocalExecutor, Unit
from linksim.learning.device import current_device, on_training_device
from linksim.scenario import Scenario
from linksim.summary import generalization_matrix, summary_table  # noqa: F401
from linksim.sweep import (  # noqa: F401  (re-exported: results format)
    RANGE_FLOOR_WARN_DB,
    RESULT_COLUMNS,
    method_count,
    read_per_sample,
    run_sweep,
    write_per_sample,
)
from linksim.tr38843 import stage as tr38843_stage
from linksim.versions import package_versions
from linksim.zoo import (  # noqa: F401  (re-exported)
    ModelZoo,
    TrainedCodec,
    build_codec,
    check_codecs,
    codec_complexity,
    make_links,
    output_head_of,
)


def _drop_lock(lock: filelock.FileLock) -> None:
    """Release a run's lock and delete its file (the run directory is final or gone)."""
    lock.release()
    with contextlib.suppress(OSError):
        Path(lock.lock_file).unlink()

def reserve_run_dir(out_root: Path, name: str) -> tuple[Path, Path, filelock.FileLock]:
    """Create this run's hidden working directory ``out_root/.NAME-STAMP[-k].partial`` and
    return it with the name it will be renamed to when the run completes, and the held lock
    that marks it as in progress (:func:`linksim.housekeeping.run_lock`; release it, then
    delete its file, once the directory is renamed or removed).

    The working directory is created atomically (``mkdir``), so two runs started in the same
    second, even in two processes, get different names (``-1``, ``-2``, ...).

    Raises
    ------
    LinksimInputError
        ``output_dir`` is a file, cannot be created, is not writable, or the run directory's
        name is too long for the file system; the path is named and nothing is left behind.
    """
    created = not out_root.exists()
    try:
        if out_root.exists() and not out_root.is_dir():
            raise LinksimInputError(f"output_dir: {out_root} exists and is not a directory")
        out_root.mkdir(parents=True, exist_ok=True)
        if not os.access(out_root, os.W_OK | os.X_OK):
            raise LinksimInputError(f"output_dir: {out_root} is not writable")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        for k in range(10_000):
            final = out_root / (f"{name}-{stamp}" + (f"-{k}" if k else ""))
            tmp = out_root / f".{final.name}.partial"
            if final.exists():
                continue
            lock = housekeeping.run_lock(final)
            try:  # the lock first: a directory without its held lock is a leftover
                lock.acquire(timeout=0)
            except filelock.Timeout:
                continue
            try:
                tmp.mkdir()
            except FileExistsError:
                lock.release()
                continue
            except BaseException:
                lock.release()
                raise
            return tmp, final, lock
        raise LinksimInputError(f"output_dir: no free run directory name in {out_root}")
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                out_root.rmdir()
        raise LinksimInputError(f"output_dir: cannot create a run directory in {out_root} "
                                f"({exc.strerror or exc})") from exc
    except LinksimInputError:
        if created:
            with contextlib.suppress(OSError):
                out_root.rmdir()
        raise
class Run(DataStage, ModelZoo):
    """Executes a :class:`Scenario`; see the module docstring for the chain."""

    def __init__(self, scenario: Scenario, scenario_path: Path | None = None,
                 progress: bool = True, retrain: bool = False, echo=print, warn=None,
                 executor=None, unit_threads: int = 1):
        self.sc = scenario
        #: Where the units run (:mod:`linksim.executor`); the default runs everything here.
        self.executor = executor or LocalExecutor()
        #: CPU threads each unit may use on an executor other than the local one.
        self.unit_threads = unit_threads
        #: Units computed and reused (from the caches), by kind: the manifest's ``units``.
        self.units: dict[str, dict[str, int]] = {}
        #: Sweep cache file of each sweep unit (test set, or test set x SNR chunk;
        #: :func:`linksim.units.chunk_path`), set by the sweep
        #: and removed once the run directory is in place.
        self.chunk_files: dict[str, Path] = {}
        self.scenario_path = scenario_path
        self.progress = progress
        self.retrain = retrain
        self.echo = echo
        self.cache_dir = Path(scenario.cache_dir) if scenario.cache_dir else default_cache_dir()
        self.timings: dict[str, float] = {}
        self.datasets: dict[tuple[str, str], CirDataset] = {}
        self.dataset_files: dict[str, dict] = {}
        self.energy: dict[str, dict] = {}
        self.per_sample: dict[int, dict[str, np.ndarray]] = {}
        self.baseline_states: list[dict] = []
        #: Range floor [dB] per model directory name and test set.
        self.range_floors: dict[str, dict[str, float]] = {}
        #: Warnings of the run (also printed through ``warn`` and kept in the manifest).
        self.warnings: list[str] = []
        self.warn = warn or (lambda msg: echo(f"WARNING: {msg}"))
    # -- stage 3: sweep -----------------------------------------------------------------------
    def sweep(self, trained: list[TrainedCodec], baselines: list | None = None) -> pd.DataFrame:
        """Evaluate every method on every test set at every pilot SNR (:mod:`linksim.sweep`),
        one unit per test set (or test set x SNR chunk x method chunk,
        ``execution.sweep_snrs_per_unit`` and ``sweep_methods_per_unit``); the
        units a killed run finished are read back from the sweep
        cache (:mod:`linksim.units`) instead of being evaluated again."""
        t0 = time.perf_counter()
        chunks = units.sweep_chunks(self.sc, method_count(trained, baselines or []))
        labels = [c.label for c in chunks]
        self.chunk_files = {c.label: units.chunk_path(self, c, trained) for c in chunks}
        parts = {label: units.load_chunk(p) for label, p in self.chunk_files.items()}
        for label in labels:
            if parts[label] is not None:
                self.echo(f"sweep {label}: finished by an earlier, interrupted run "
                          f"({self.chunk_files[label]})")
                for msg in parts[label].warnings:
                    self.warn(msg)
        todo = [c for c in chunks if parts[c.label] is None]
        if isinstance(self.executor, LocalExecutor):
            for c in todo:
                parts[c.label] = run_sweep(
                    self.sc, self.datasets, trained, baselines or [], progress=self.progress,
                    warn=self.warn, test_sets=[c.test_set],
                    snr_points=None if c.snrs is None else list(c.snrs), methods=c.methods)
                units.save_chunk(self.chunk_files[c.label], parts[c.label])
        else:
            done = self.executor.map(
                [Unit("sweep", c.label, units.sweep_unit, (self.sc, str(self.cache_dir), c),
                      threads=self.unit_threads) for c in todo],
                progress=self.progress, desc="sweep")
            for c, res in zip(todo, done, strict=True):
                units.save_chunk(self.chunk_files[c.label], res)
                for msg in res.warnings:
                    self.warn(msg)
                parts[c.label] = res
        self.units["sweep"] = {"computed": len(todo), "reused": len(labels) - len(todo)}
        res = units.merge_sweeps([parts[label] for label in labels])
        res.seconds = time.perf_counter() - t0
        self.per_sample, self.energy = res.per_sample, res.energy
        self.range_floors.update(res.range_floors)
        self.warnings.extend(res.warnings)
        self.timings["sweep_s"] = res.seconds
        return res.rows

    # -- the whole run ------------------------------------------------------------------------
    @on_training_device
    def execute(self) -> Path:
        """Run everything in a temporary directory and rename it into place at the end."""
        sc = self.sc
        out_root = Path(sc.output_dir)
        created_root = not out_root.exists()
        check_codecs(sc)
        self.check_generation_devices()
        self.check_resources()
        stale = housekeeping.stale_items(self.cache_dir, out_root)
        if stale:
            freed = housekeeping.prune(stale)
            self.echo(f"removed {len(stale)} leftovers of interrupted runs ({freed / 1e6:.1f} MB): "
                      + ", ".join(str(i.path) for i in stale))
        tmp, final, lock = reserve_run_dir(out_root, sc.name)
        try:
            t_all = time.perf_counter()
            if not isinstance(self.executor, LocalExecutor):
                self.run_units_remotely()
            self.load_data()
            self.units.setdefault("data", {
                "computed": sum(not f["from_cache"] for f in self.dataset_files.values()),
                "reused": sum(f["from_cache"] for f in self.dataset_files.values())})
            if sc.tr38843 is not None:
                trained, df = [], tr38843_stage.run_stage(self, tmp)
            else:
                trained, df = self.link_stages(tmp)
            self.timings["total_s"] = time.perf_counter() - t_all
            manifest = self.manifest(trained)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            if self.scenario_path is not None:
                shutil.copy(self.scenario_path, tmp / "scenario.yaml")
            os.replace(tmp, final)
            units.drop_chunks(list(self.chunk_files.values()))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            _drop_lock(lock)
            if created_root:
                with contextlib.suppress(OSError):
                    out_root.rmdir()  # we created it for this run and it is empty
            raise
        finally:
            self.close()
        _drop_lock(lock)
        self.results = df
        return final

    def link_stages(self, tmp: Path) -> tuple[list[TrainedCodec], pd.DataFrame]:
        """The full-channel run: train the codecs, fit the classical compressors, sweep; write
        ``results.csv``, ``per_sample.h5``, the plots and the generalization matrix to ``tmp``."""
        sc = self.sc
        trained = self.train_codecs(tmp)
        self.units.setdefault("train", {
            "computed": sum(not t.from_cache for t in trained),
            "reused": sum(t.from_cache for t in trained)})
        classical = self.fit_baselines()
        df = self.sweep(trained, classical)
        df.to_csv(tmp / "results.csv", index=False)
        write_per_sample(self.per_sample, tmp / "per_sample.h5")
        plots.plot_nmse_vs_snr(df, tmp / "nmse_vs_snr.png")
        plots.plot_bfgain_vs_snr(df, tmp / "bfgain_vs_snr.png", sc.num_bs_antennas)
        plots.plot_vs_feedback_snr(df, tmp / "nmse_vs_feedback_snr.png", sc.num_bs_antennas)
        plots.plot_nmse_vs_bits(df, tmp / "nmse_vs_bits.png")
        matrix = generalization_matrix(df)
        if not matrix.empty:
            matrix.to_csv(tmp / "generalization.csv", index=False)
            plots.plot_generalization_vs_snr(df, tmp / "generalization_vs_snr.png")
        return trained, df

    def run_units_remotely(self) -> None:
        """Generate the missing data splits (a large one as shards, then merged), then train the missing models (fine-tunes after
        their bases) as units on :attr:`executor`; the run then loads them from the caches."""
        sc, cache = self.sc, str(self.cache_dir)
        t0 = time.perf_counter()
        splits = self.needed_splits()
        missing = [(name, split) for name, split, _ in splits if not self.is_cached(name, split)]
        ranges = {(name, split): units.split_shards(sc, name, split) for name, split in missing}

        def gpus(name: str) -> float:  # a split drawn on a GPU reserves one
            return 1.0 if drawn_on_gpu(sc.datasets[name]) else 0.0

        shards = [Unit("data", f"{name}/{split}[{lo}:{hi}]", units.shard_unit,
                       (sc, cache, name, split, lo, hi), threads=self.unit_threads,
                       gpus=gpus(name))
                  for (name, split), rs in ranges.items() for lo, hi in rs]
        self.executor.map(shards, progress=self.progress, desc="data shards")
        data = [Unit("data", f"{name}/{split}", units.merge_unit, (sc, cache, name, split, rs),
                     threads=self.unit_threads, gpus=gpus(name)) if rs else
                Unit("data", f"{name}/{split}", units.data_unit, (sc, cache, name, split),
                     threads=self.unit_threads, gpus=gpus(name))
                for (name, split), rs in ranges.items()]
        self.executor.map(data, progress=self.progress, desc="data")  # sharded: the merges
        self.units["data"] = {"computed": len(data), "reused": len(splits) - len(data),
                              "shards": len(shards)}
        plan = self.model_plan()
        todo = [(tag, base) for tag, model_dir, base in plan
                if self.retrain or not model_dir.exists()]
        gpus = 1.0 if current_device().type == "cuda" else 0.0  # inside execute's placement
        for wave in ([t for t in todo if t[1] is None], [t for t in todo if t[1] is not None]):
            self.executor.map(
                [Unit("train", tag, units.train_unit,
                      (sc, cache, [tag] if base is None else [base, tag], self.retrain),
                      threads=self.unit_threads, gpus=gpus) for tag, base in wave],
                progress=self.progress, desc="training")
        self.units["train"] = {"computed": len(todo), "reused": len(plan) - len(todo)}
        self.retrain = False  # trained above: the run loads them
        self.timings["units_s"] = time.perf_counter() - t0

    def close(self) -> None:
        """Close the data sets opened lazily (``training.stream``); eager ones hold no file."""
        for ds in self.datasets.values():
            close = getattr(ds, "close", None)
            if close is not None:
                close()

    def manifest(self, trained: list[TrainedCodec]) -> dict:
        """Everything needed to reproduce and audit the run."""
        import torch

        return {
            "scenario": self.sc.model_dump(mode="json"),
            "seed": self.sc.seed,
            "created_utc": datetime.now(UTC).isoformat(),
            "versions": package_versions(),
            "platform": {"machine": platform.machine(), "system": platform.system(),
                         "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()},
            "timings_s": self.timings,
            "executor": self.executor.name,
            "training_device": str(current_device()),
            "units": self.units,
            "datasets": self.dataset_files,
            "truncation_energy_kept": self.energy,
            "warnings": self.warnings,
            "baselines": self.baseline_states,
            "codecs": [{"name": t.codec.name, "compression_ratio": t.codec.compression_ratio,
                        "train_set": t.train_set, "train_feedback": t.train_feedback,
                        "codeword_length": t.codec.codeword_length,
                        **codec_complexity(t.codec),
                        "normalizer_scale": t.codec.normalizer.scale,
                        "normalizer_mode": t.codec.normalizer.mode,
                        "output_head": t.codec.output_head,
                        "sample_normalization": t.codec.sample_normalization,
                        "range_floor_db": self.range_floors.get(t.model_dir.name, {}),
                        "model_cache": str(t.model_dir), "loaded_from_cache": t.from_cache,
                        "feedback": [link.state() for link in t.links]} for t in trained],
        }
