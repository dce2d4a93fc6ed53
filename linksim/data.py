"""Stage 1, channels: the splits a run needs, loaded or generated once, and the codecs' inputs.

``Run`` (:mod:`linksim.pipeline`) inherits :class:`DataStage`; the functions work alone.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from linksim import (
    resources,
)
from linksim.channels.dataset import (
    AdDataset,
    CacheRepairWarning,
    CirDataset,
    load_or_generate,
    split_path,
)
from linksim.channels.families import family_for
from linksim.errors import LinksimInputError
from linksim.learning.streaming import StreamedCsi, codec_inputs_range
from linksim.seeding import derive_seed, rng_for
from linksim.sweep import (  # noqa: F401  (re-exported: results format)
    RANGE_FLOOR_WARN_DB,
    RESULT_COLUMNS,
    read_per_sample,
    run_sweep,
    write_per_sample,
)


def codec_inputs(ds: CirDataset, num_rows: int, batch_size: int, snr_db: float | None,
                 rng: np.random.Generator | None, pilot_length: int | None = None,
                 reference: str = "per_sample", limit: int | None = None) -> np.ndarray:
    """Real truncated angular-delay CSI ``[N, Na, Nt, 2]`` of a data set (not normalised).

    With ``snr_db`` set, the CSI is the LS estimate at that pilot SNR, else the true channel.
    ``limit`` keeps the first ``limit`` samples only. Reads ``ds`` in batches of
    ``batch_size`` samples (a lazy data set is never read whole);
    :func:`linksim.learning.streaming.codec_inputs_range` for any range of samples.
    """
    n = len(ds) if limit is None else min(limit, len(ds))
    return codec_inputs_range(ds, 0, n, num_rows, batch_size, snr_db, rng, pilot_length,
                              reference)


def load_split(cfg, split: str, seed: int, cache_dir: Path, progress: bool = False,
               lazy: bool = False) -> tuple[CirDataset | AdDataset, Path, str]:
    """One split of a scenario data set: ``(dataset, file, "from cache" | "generated" |
    "loaded")``; generated families go through the cache (generated straight to disk),
    ``csinet_mat`` files are read. ``lazy`` keeps a generated split's arrays on disk
    (:func:`linksim.channels.dataset.read_dataset`); ``csinet_mat`` files are always read whole."""
    family = family_for(cfg)
    if not family.generated:
        ds, path = family.read_split(cfg, split)
        return ds, path, "loaded"
    size = getattr(cfg, f"n_{split}")
    ds, path, cached = load_or_generate(cfg.generator_config(), split, size, seed, cache_dir,
                                        progress=progress, lazy=lazy)
    return ds, path, "from cache" if cached else "generated"




def drawn_on_gpu(cfg) -> bool:
    """Whether scenario data set ``cfg`` is generated on a CUDA GPU (``generation_device``)."""
    return getattr(cfg, "generation_device", "cpu") == "cuda"


class DataStage:
    """Loading the data sets of a scenario (mixed into :class:`linksim.pipeline.Run`)."""

    # -- stage 1: channels --------------------------------------------------------------------
    def needed_splits(self) -> list[tuple[str, str, bool]]:
        """Every split the run loads, once: ``(data set, "train" | "val" | "test", on_disk)``;
        with ``training.stream`` the train/val splits of ``train_sets`` stay on disk (read
        block by block)."""
        if self.sc.tr38843 is not None:  # the study reads train and test of each set it uses
            from linksim.tr38843.stage import needed_splits

            return [(n, s, False) for n, s in needed_splits(self.sc.tr38843)]
        tr = self.sc.training
        train_names = list(tr.train_sets) + [n for m in tr.mixtures for n in m.sets]
        train_names += [ft.target for ft in tr.fine_tune]
        need = [(n, split) for split in ("train", "val") for n in train_names if self.sc.codecs]
        need += [(n, "train") for n in tr.train_sets if self.sc.baselines]
        need += [(n, "test") for n in self.sc.evaluation.test_sets]
        on_disk = {(n, s) for n in tr.train_sets for s in ("train", "val")} if tr.stream else ()
        return [(n, s, (n, s) in on_disk) for n, s in dict.fromkeys(need)]

    def is_cached(self, name: str, split: str) -> bool:
        """Whether split ``split`` of data set ``name`` is already in the data cache (a
        ``csinet_mat`` file is never generated, so it counts as cached)."""
        cfg = self.sc.datasets[name]
        if cfg.family == "csinet_mat":
            return True
        seed = derive_seed(self.sc.seed, "dataset", name, split)
        n = getattr(cfg, f"n_{split}")
        return split_path(cfg.generator_config(), split, n, seed, self.cache_dir).exists()

    def check_generation_devices(self) -> None:
        """Refuse up front a run that must generate a split on a GPU PyTorch does not see
        (``datasets.<name>.generation_device: cuda``; a split already cached needs none).

        Raises
        ------
        LinksimInputError
            Naming the field.
        """
        import torch

        for name, split, _ in self.needed_splits():
            if (drawn_on_gpu(self.sc.datasets[name]) and not torch.cuda.is_available()
                    and not self.is_cached(name, split)):
                raise LinksimInputError(
                    f"datasets.{name}.generation_device: 'cuda' asked for to generate its "
                    f"{split} split, but PyTorch sees no CUDA GPU (torch {torch.__version__}, "
                    f"built for CUDA {torch.version.cuda or 'none'}); use cpu, or install "
                    "PyTorch's CUDA build (docs/devices.md)")

    def check_resources(self) -> dict:
        """Refuse up front a run whose data sets cannot fit in memory or in the cache
        (:func:`linksim.resources.check_resources`)."""
        splits = []
        for name, split, on_disk in self.needed_splits():
            cfg = self.sc.datasets[name]
            if not family_for(cfg).generated:
                continue
            n = getattr(cfg, f"n_{split}")
            splits.append((name, split, cfg, n, on_disk, self.is_cached(name, split)))
        return resources.check_resources(splits, self.sc.preprocessing.num_delay_rows,
                                         self.cache_dir)

    def load_data(self) -> None:
        """Generate or load every split the scenario needs."""
        t0 = time.perf_counter()
        for name, split, on_disk in self.needed_splits():
            cfg = self.sc.datasets[name]
            seed = derive_seed(self.sc.seed, "dataset", name, split)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CacheRepairWarning)
                ds, path, how = load_split(cfg, split, seed, self.cache_dir,
                                           progress=self.progress, lazy=on_disk)
            for w in caught:
                if issubclass(w.category, CacheRepairWarning):
                    self.warnings.append(str(w.message))
                    self.warn(str(w.message))
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            self.echo(f"data  {name}/{split}: {len(ds)} channels {how} ({path})")
            self.datasets[(name, split)] = ds
            self.dataset_files[f"{name}/{split}"] = {
                "path": str(path), "from_cache": how == "from cache", "seed": seed, "n": len(ds),
                "family": cfg.family, "notes": ds.meta.get("notes", [])}
            if isinstance(ds, AdDataset):
                kept = ds.energy_kept[np.isfinite(ds.energy_kept)]
                self.dataset_files[f"{name}/{split}"]["generator_energy_kept_mean"] = (
                    float(kept.mean()) if kept.size else None)
        self.timings["data_s"] = time.perf_counter() - t0

    def _inputs(self, name: str, split: str, limit: int | None = None, stream: bool = False
                ) -> np.ndarray | StreamedCsi:
        """Real codec inputs ``[N, Na, Nt, 2]`` of one split of a data set (LS estimates at
        ``training.pilot_snr_db`` when set), the first ``limit`` samples if given.

        With ``stream``, a :class:`~linksim.learning.streaming.StreamedCsi` standing for them instead
        (blocks of ``training.stream_block`` samples, unit power when
        ``preprocessing.sample_normalization``, no normaliser yet; the pilot noise of block ``i``
        from ``rng_for(seed, "train-pilots", name, split, "block", i)``, so the inputs differ
        from the in-memory ones, drawn from one generator over the split, when
        ``pilot_snr_db`` is set, and equal them otherwise). Its codec inputs are computed by
        the first pass and kept in an anonymous scratch file in the cache directory until the
        source is closed.
        """
        sc, tr = self.sc, self.sc.training
        ds = self.datasets[(name, split)]
        if stream:
            return StreamedCsi(
                ds, sc.preprocessing.num_delay_rows, block=tr.stream_block,
                batch_size=sc.evaluation.batch_size, snr_db=tr.pilot_snr_db, seed=sc.seed,
                labels=("train-pilots", name, split), pilot_length=sc.estimation.pilot_length,
                reference=sc.estimation.noise_reference,
                sample_normalization=sc.preprocessing.sample_normalization, limit=limit,
                scratch_dir=self.cache_dir)
        rng = rng_for(sc.seed, "train-pilots", name, split)
        return codec_inputs(ds, sc.preprocessing.num_delay_rows,
                            sc.evaluation.batch_size, tr.pilot_snr_db, rng,
                            sc.estimation.pilot_length, sc.estimation.noise_reference, limit)

