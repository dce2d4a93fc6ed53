"""One run of a scenario: data -> training -> pilot-SNR sweep -> results, plots, manifest.

The chain per test batch (each stage is a module of its own)::

    H (channels) -> estimation.estimate_channel -> transforms.truncated_angular_delay
      -> Normalizer -> codec.encode (UE) -> feedback link -> codec.decode (BS) -> Normalizer^-1
      -> transforms.rebuild_space_frequency -> precoding.mrt -> metrics

Baselines in every run: ``perfect`` (the BS knows H), ``ls_uncompressed`` (the truncated LS
estimate fed back in float32) and ``no_feedback`` (H_hat = 0, random beam).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import filelock
import numpy as np
import pandas as pd

from channels.dataset import (
    AdDataset,
    CacheRepairWarning,
    CirDataset,
    cache_lock,
    default_cache_dir,
    load_csinet_split,
    load_or_generate,
    split_path,
)
from linksim import (
    housekeeping,
    plots,
    resources,
    transforms,
)
from linksim.codecs.base import OUTPUT_HEADS, Codec, get_codec_class
from linksim.errors import LinksimInputError
from linksim.feedback import (
    FeedbackLink,
    QuantizeSTE,
    feedback_matches,
    link_points,
    make_link,
    training_link,
)
from linksim.scenario import Scenario
from linksim.seeding import derive_seed, rng_for
from linksim.streaming import StreamedCsi, codec_inputs_range
from linksim.sweep import (  # noqa: F401  (re-exported: results format)
    RANGE_FLOOR_WARN_DB,
    RESULT_COLUMNS,
    read_per_sample,
    run_sweep,
    write_per_sample,
)
from linksim.training import TrainSettings


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine a run's numbers."""
    out = {"python": platform.python_version()}
    for pkg in ("linksim", "numpy", "scipy", "torch", "keras", "sionna-no-rt", "pandas",
                "h5py", "pydantic"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


@dataclass
class TrainedCodec:
    """A trained codec, the data set it was trained on and its fitted feedback links."""

    codec: Codec
    train_set: str
    links: list
    model_dir: Path
    from_cache: bool
    train_feedback: str = "ideal"


def make_links(specs, z_train: np.ndarray, trained_range: dict | None = None
               ) -> list[FeedbackLink]:
    """Every link point of the scenario's ``feedback`` list, fitted on the training codewords.

    ``trained_range`` (``{"law", "bits", "mu", "lo", "hi"}``, from quantisation-aware
    training) sets the range of the quantisers of the same law and resolution.
    """
    links = []
    for spec in specs:
        for snr in link_points(spec):
            link = make_link(spec, snr)
            q, rng = link.quantizer, None
            if (q is not None and trained_range is not None and q.law == trained_range["law"]
                    and q.bits == trained_range["bits"]
                    and (q.law == "uniform" or q.mu == trained_range["mu"])):
                rng = (trained_range["lo"], trained_range["hi"])
            links.append(link.fit(z_train, quantizer_range=rng))
    return links


def codec_inputs(ds: CirDataset, num_rows: int, batch_size: int, snr_db: float | None,
                 rng: np.random.Generator | None, pilot_length: int | None = None,
                 reference: str = "per_sample", limit: int | None = None) -> np.ndarray:
    """Real truncated angular-delay CSI ``[N, Na, Nt, 2]`` of a data set (not normalised).

    With ``snr_db`` set, the CSI is the LS estimate at that pilot SNR, else the true channel.
    ``limit`` keeps the first ``limit`` samples only. Reads ``ds`` in batches of
    ``batch_size`` samples (a lazy data set is never read whole);
    :func:`linksim.streaming.codec_inputs_range` for any range of samples.
    """
    n = len(ds) if limit is None else min(limit, len(ds))
    return codec_inputs_range(ds, 0, n, num_rows, batch_size, snr_db, rng, pilot_length,
                              reference)


def load_split(cfg, split: str, seed: int, cache_dir: Path, progress: bool = False,
               lazy: bool = False) -> tuple[CirDataset | AdDataset, Path, str]:
    """One split of a scenario data set: ``(dataset, file, "from cache" | "generated" |
    "loaded")``; generated families go through the cache (generated straight to disk),
    ``csinet_mat`` files are read. ``lazy`` keeps a generated split's arrays on disk
    (:func:`channels.dataset.read_dataset`); ``csinet_mat`` files are always read whole."""
    if cfg.family == "csinet_mat":
        path = getattr(cfg, f"{split}_file")
        return load_csinet_split(path, cfg.key, cfg.num_subcarriers, split), path, "loaded"
    size = getattr(cfg, f"n_{split}")
    ds, path, cached = load_or_generate(cfg.generator_config(), split, size, seed, cache_dir,
                                        progress=progress, lazy=lazy)
    return ds, path, "from cache" if cached else "generated"



def output_head_of(sc: Scenario, spec) -> str:
    """The output head a codec spec is built with: its ``output_head`` option, else
    ``preprocessing.output_head``; a plug-in whose constructor takes no ``output_head`` keeps
    its class's own."""
    cls = get_codec_class(spec.name)
    if not cls.accepts_output_head():
        return cls.default_output_head
    return spec.options.get("output_head", sc.preprocessing.output_head)


def build_codec(sc: Scenario, spec, cr: int) -> Codec:
    """The untrained codec of ``codecs[i]`` at compression ratio ``cr``: its class built with
    ``(cr, Na, Nt, **options)`` and the output head of :func:`output_head_of`."""
    cls = get_codec_class(spec.name)
    options = dict(spec.options)
    if cls.accepts_output_head():
        options["output_head"] = output_head_of(sc, spec)
    return cls(cr, sc.preprocessing.num_delay_rows, sc.num_bs_antennas, **options)


def check_codecs(sc: Scenario) -> None:
    """Build every codec x CR of the scenario as a run would, before any data: ``validate``
    and ``run`` refuse the same scenarios.

    Raises
    ------
    LinksimInputError
        A codec class that is abstract or not a :class:`Codec`, an option its constructor does
        not take, or a constructor that fails; the message names ``codecs[i]``.
    """
    import inspect

    for i, spec in enumerate(sc.codecs):
        cls = get_codec_class(spec.name)
        if not (isinstance(cls, type) and issubclass(cls, Codec)) or cls is Codec \
                or inspect.isabstract(cls):
            raise LinksimInputError(f"codecs[{i}].name: {spec.name!r} is not a concrete codec "
                                    "class (a subclass of linksim.codecs.base.Codec)")
        for cr in spec.compression_ratios:
            try:
                build_codec(sc, spec, cr)
            except LinksimInputError as exc:
                raise LinksimInputError(f"codecs[{i}] ({spec.name}, CR {cr}): {exc}") from exc
            except TypeError as exc:
                raise LinksimInputError(f"codecs[{i}].options: {spec.name} CR {cr} cannot be "
                                        f"built with these options ({exc})") from exc
            except Exception as exc:  # a plug-in's own constructor: reported, not swallowed
                raise LinksimInputError(f"codecs[{i}]: {spec.name} CR {cr} fails to build "
                                        f"({type(exc).__name__}: {exc})") from exc


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

class Run:
    """Executes a :class:`Scenario`; see the module docstring for the chain."""

    def __init__(self, scenario: Scenario, scenario_path: Path | None = None,
                 progress: bool = True, retrain: bool = False, echo=print, warn=None):
        self.sc = scenario
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

    # -- stage 1: channels --------------------------------------------------------------------
    def needed_splits(self) -> list[tuple[str, str, bool]]:
        """Every split the run loads, once: ``(data set, "train" | "val" | "test", on_disk)``;
        with ``training.stream`` the train/val splits of ``train_sets`` stay on disk (read
        block by block)."""
        tr = self.sc.training
        train_names = list(tr.train_sets) + [n for m in tr.mixtures for n in m.sets]
        train_names += [ft.target for ft in tr.fine_tune]
        need = [(n, split) for split in ("train", "val") for n in train_names if self.sc.codecs]
        need += [(n, "train") for n in tr.train_sets if self.sc.baselines]
        need += [(n, "test") for n in self.sc.evaluation.test_sets]
        on_disk = {(n, s) for n in tr.train_sets for s in ("train", "val")} if tr.stream else ()
        return [(n, s, (n, s) in on_disk) for n, s in dict.fromkeys(need)]

    def check_resources(self) -> dict:
        """Refuse up front a run whose data sets cannot fit in memory or in the cache
        (:func:`linksim.resources.check_resources`)."""
        splits = []
        for name, split, on_disk in self.needed_splits():
            cfg = self.sc.datasets[name]
            if cfg.family == "csinet_mat":
                continue
            seed = derive_seed(self.sc.seed, "dataset", name, split)
            n = getattr(cfg, f"n_{split}")
            cached = split_path(cfg.generator_config(), split, n, seed, self.cache_dir).exists()
            splits.append((name, split, cfg, n, on_disk, cached))
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

    # -- stage 2: codecs ----------------------------------------------------------------------
    def _model_key(self, spec, cr: int, train_set: str, train_fb, members: list[str] | None = None,
                   extra: dict | None = None) -> str:
        members = members or [train_set]
        training = self.sc.training.model_dump()
        for k in ("feedback", "mixtures", "fine_tune"):  # a model depends only on its own
            del training[k]
        if extra:
            training["extra"] = extra
        if train_fb.kind != "ideal":  # (ideal keeps the keys of models trained before the option)
            training["feedback"] = train_fb.model_dump()
        cfgs = [self.sc.datasets[m] for m in members]
        key = {
            "codec": spec.model_dump(), "cr": cr,
            "data": cfgs[0].model_dump() if len(cfgs) == 1 else [c.model_dump() for c in cfgs],
            "train_set": train_set, "training": training,
            "preprocessing": self.sc.preprocessing.model_dump(), "seed": self.sc.seed,
            "estimation": self.sc.estimation.model_dump(exclude={"pilot_snr_db"})}
        for cfg in cfgs:
            if cfg.family == "csinet_mat":  # a file named in the scenario may be replaced
                key.setdefault("data_files", []).extend(
                    [str(p), p.stat().st_size, p.stat().st_mtime_ns]
                    for p in (cfg.train_file, cfg.val_file))
        blob = json.dumps(key, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _inputs(self, name: str, split: str, limit: int | None = None, stream: bool = False
                ) -> np.ndarray | StreamedCsi:
        """Real codec inputs ``[N, Na, Nt, 2]`` of one split of a data set (LS estimates at
        ``training.pilot_snr_db`` when set), the first ``limit`` samples if given.

        With ``stream``, a :class:`~linksim.streaming.StreamedCsi` standing for them instead
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

    def _fit_links(self, tc: TrainedCodec, train_fb, x_train: np.ndarray) -> None:
        """Fit the scenario's feedback links on the codec's training codewords.

        ``x_train``: the real (not normalised) training inputs ``[N, Na, Nt, 2]``; under
        ``training.stream`` only the first block (``stream_block`` samples) of the training
        split, so the quantiser ranges and entropy models are fitted on those codewords.
        """
        sc = self.sc
        z_train = tc.codec.encode(tc.codec.ue_prepare(x_train)[0])
        qfile = tc.model_dir / "trained_quantizer.json"
        trained_range = json.loads(qfile.read_text()) if qfile.is_file() else None
        specs = [f for f in sc.feedback if sc.evaluation.feedback_pairing == "all"
                 or feedback_matches(train_fb, f)]
        tc.links = make_links(specs, z_train, trained_range)

    def _output_head(self, spec) -> str:
        """The output head a codec spec is built with (:func:`output_head_of`)."""
        return output_head_of(self.sc, spec)

    @staticmethod
    def _fit_normalizer(fit, rule, mode: str, label: str) -> transforms.Normalizer:
        """``fit(rule, mode)``, with a training set whose scale cannot be fitted reported as
        bad input (the field and the set named)."""
        try:
            return fit(rule, mode)
        except ValueError as exc:
            raise LinksimInputError(f"preprocessing.scale: cannot fit the normaliser on training "
                                    f"set {label!r} ({exc})") from exc

    def train_codecs(self, run_dir: Path) -> list[TrainedCodec]:
        """Train (or load from the model cache) every codec x CR x training link on every
        training set and mixture, then the fine-tuned variants."""
        t0 = time.perf_counter()
        sc, tr, pre = self.sc, self.sc.training, self.sc.preprocessing
        if not sc.codecs:
            self.timings["training_s"] = 0.0
            return []
        sources = [(n, [n], None) for n in tr.train_sets]
        sources += [(m.name, m.sets, m.n_per_set) for m in tr.mixtures]
        if tr.stream:
            own = [s.name for s in sc.codecs if get_codec_class(s.name).fit is not Codec.fit]
            if own:
                raise LinksimInputError(
                    f"training.stream: codec {own[0]} trains with its own loop on in-memory "
                    "arrays and cannot read its training data from disk; set stream: false")
        trained = []
        for i, (label, members, n_each) in enumerate(sources):
            if tr.stream and i < len(tr.train_sets):
                # from disk: one streaming pass fits the normaliser, training reads blocks;
                # the links are fitted on the first block's codewords
                src = {split: self._inputs(label, split, stream=True)
                       for split in ("train", "val")}

                def normalised(mode, rule, src=src, label=label):
                    norm = self._fit_normalizer(src["train"].fit_normalizer, rule, mode, label)
                    return norm, {k: v.with_normalizer(norm) for k, v in src.items()}

                x_links = src["train"].raw_block(0)
            else:
                limits = {"train": n_each,
                          "val": None if n_each is None else max(1, n_each // 10)}
                xs = {split: np.concatenate([self._inputs(m, split, limits[split])
                                             for m in members])
                      for split in ("train", "val")}
                unit = {k: transforms.sample_normalize(v, pre.sample_normalization)[0]
                        for k, v in xs.items()}

                def normalised(mode, rule, unit=unit, label=label):
                    norm = self._fit_normalizer(
                        lambda r, md: transforms.Normalizer.fit(unit["train"], r, md), rule,
                        mode, label)
                    return norm, {k: norm.forward(v) for k, v in unit.items()}

                x_links = xs["train"]
            by_mode: dict[tuple, tuple] = {}  # (mode, rule) -> (normaliser, inputs)
            for spec in sc.codecs:
                head = self._output_head(spec)
                key = (OUTPUT_HEADS[head][1], pre.scale_rule(head))
                if key not in by_mode:
                    by_mode[key] = normalised(*key)
                norm, xn = by_mode[key]
                for cr in spec.compression_ratios:
                    for train_fb in tr.feedback_list():
                        tc = self._train_one(spec, cr, label, train_fb, xn, norm, run_dir,
                                             members=members, n_each=n_each)
                        self._fit_links(tc, train_fb, x_links)
                        trained.append(tc)
            if tr.stream and i < len(tr.train_sets):
                for v in src.values():
                    v.close()  # frees the scratch files
        for ft in tr.fine_tune:
            xs = {"train": self._inputs(ft.target, "train", ft.n_samples),
                  "val": self._inputs(ft.target, "val")}
            for base in [t for t in trained if t.train_set == ft.base]:
                train_fb = next(f for f in tr.feedback_list()
                                if f.label() == base.train_feedback)
                tc = self._fine_tune(base, ft, train_fb, xs, run_dir)
                self._fit_links(tc, train_fb, xs["train"])
                trained.append(tc)
        self.timings["training_s"] = time.perf_counter() - t0
        return trained

    def _fine_tune(self, base: TrainedCodec, ft, train_fb, xs: dict, run_dir: Path
                   ) -> TrainedCodec:
        """Continue training ``base`` on ``ft.n_samples`` target samples (the base codec's
        normaliser is kept: the UE and BS do not re-fit scalings on the new data)."""
        sc = self.sc
        codec0 = base.codec
        label = ft.label()
        fb = "" if base.train_feedback == "ideal" else f"_{base.train_feedback}"
        tag = f"{codec0.name}_cr{codec0.compression_ratio}_{label}{fb}"
        spec = next(c for c in sc.codecs if get_codec_class(c.name).name == codec0.name)
        key = self._model_key(spec, codec0.compression_ratio, label, train_fb,
                              members=[ft.target], extra={"fine_tune": ft.model_dump(),
                                                          "base_model": base.model_dir.name})
        model_dir = self.cache_dir / "models" / f"{tag}-{key}"
        with cache_lock(model_dir):  # one run trains an entry; others wait, then load it
            if model_dir.exists() and not self.retrain:
                codec, cached = self._load_cached(model_dir), True
                self.echo(f"codec {tag}: loaded from {model_dir}")
            else:
                codec = Codec.load(base.model_dir)  # a fresh copy of the base model
                xn = {k: codec.ue_prepare(v)[0] for k, v in xs.items()}
                settings = TrainSettings(epochs=ft.epochs, batch_size=sc.training.batch_size,
                                         learning_rate=ft.learning_rate, schedule="constant",
                                         seed=derive_seed(sc.seed, "fine-tune", tag))
                link_layer = training_link(train_fb, seed=derive_seed(sc.seed, "train-link", tag))
                codec.fit(xn["train"], xn["val"], settings, progress=self.progress,
                          train_link=link_layer)
                self._save_model(codec, model_dir, link_layer)
                cached = False
                self.echo(f"codec {tag}: fine-tuned on {ft.n_samples} {ft.target} samples, best val "
                          f"MSE {min(r['val_loss'] for r in codec.history):.3e}")
        self._copy_to_run(model_dir, run_dir, tag, f"{codec.name} CR{codec.compression_ratio} "
                          f"{label}")
        return TrainedCodec(codec, label, [], model_dir, cached, base.train_feedback)

    @staticmethod
    def _save_model(codec: Codec, model_dir: Path, link_layer) -> None:
        """The model cache entry, complete before it becomes visible (one atomic rename)."""
        extras = {"history.json": json.dumps(codec.history)}
        if isinstance(link_layer, QuantizeSTE):
            lo, hi = link_layer.quantizer_range()
            extras["trained_quantizer.json"] = json.dumps(
                {"law": link_layer.law, "bits": link_layer.bits, "mu": link_layer.mu,
                 "lo": lo, "hi": hi})
        codec.save(model_dir, extra_files=extras)

    @staticmethod
    def _load_cached(model_dir: Path) -> Codec:
        """A model cache entry, or bad input naming the entry and how to clear it."""
        try:
            if not (model_dir / "history.json").is_file():
                raise LinksimInputError(f"{model_dir}: history.json is missing")
            return Codec.load(model_dir)
        except LinksimInputError as exc:
            raise LinksimInputError(
                f"corrupt or incomplete model cache entry {model_dir} ({exc}); remove it with "
                f"`rm -r '{model_dir}'` (or rerun with --retrain) to train it again") from exc

    @staticmethod
    def _copy_to_run(model_dir: Path, run_dir: Path, tag: str, title: str) -> None:
        history = json.loads((model_dir / "history.json").read_text())
        shutil.copytree(model_dir, run_dir / "models" / tag)
        pd.DataFrame(history).to_csv(run_dir / f"training_{tag}.csv", index=False)
        plots.plot_training_curve(history, run_dir / f"training_{tag}.png", title)

    def _train_one(self, spec, cr: int, train_set: str, train_fb, xn: dict, norm,
                   run_dir: Path, members: list[str] | None = None,
                   n_each: int | None = None) -> TrainedCodec:
        """Train one codec x CR on one training set with one training-time link (or load it from
        the model cache); copies the model and its training curve into the run directory.

        ``xn``: normalised ``{"train", "val"}`` inputs, arrays or (``training.stream``)
        :class:`~linksim.streaming.StreamedCsi` sources read from disk during training."""
        sc, tr = self.sc, self.sc.training
        cls = get_codec_class(spec.name)
        fb_label = train_fb.label()
        tag = f"{cls.name}_cr{cr}_{train_set}" + ("" if fb_label == "ideal" else f"_{fb_label}")
        key = self._model_key(spec, cr, train_set, train_fb, members,
                              {"n_per_set": n_each} if n_each else None)
        model_dir = self.cache_dir / "models" / f"{tag}-{key}"
        with cache_lock(model_dir):  # one run trains an entry; others wait, then load it
            if model_dir.exists() and not self.retrain:
                codec = self._load_cached(model_dir)
                cached = True
                self.echo(f"codec {tag}: loaded from {model_dir}")
            else:
                import keras

                keras.utils.set_random_seed(derive_seed(sc.seed, "init", tag))
                codec = build_codec(sc, spec, cr)
                codec.normalizer = norm
                codec.sample_normalization = sc.preprocessing.sample_normalization
                settings = TrainSettings(
                    epochs=tr.epochs, batch_size=tr.batch_size, learning_rate=tr.learning_rate,
                    schedule=tr.schedule, lr_min=tr.lr_min, warmup_epochs=tr.warmup_epochs,
                    seed=derive_seed(sc.seed, "train", tag))
                link_layer = training_link(train_fb, seed=derive_seed(sc.seed, "train-link", tag))
                ts = time.perf_counter()
                codec.fit(xn["train"], xn["val"], settings, progress=self.progress,
                          train_link=link_layer)
                rate = tr.epochs * len(xn["train"]) / (time.perf_counter() - ts)
                self._save_model(codec, model_dir, link_layer)
                cached = False
                self.echo(f"codec {tag}: trained, best val MSE "
                          f"{min(r['val_loss'] for r in codec.history):.3e} ({rate:.0f} samples/s)")
        self._copy_to_run(model_dir, run_dir, tag,
                          f"{spec.name} CR{cr} on {train_set}, trained on {fb_label}")
        return TrainedCodec(codec, train_set, [], model_dir, cached, fb_label)

    def fit_baselines(self) -> list:
        """Build the classical compressors of ``baselines:`` at each payload: PCA fitted on each
        training set; top-K's value bits and the compressive-sensing regularisation tuned on the
        first training set; the DFT codebook needs no data. Each gets ``train_set`` for the results ("-" for the DFT codebook)."""
        from linksim import baselines as classical
        from linksim import compressive

        sc, na = self.sc, self.sc.preprocessing.num_delay_rows
        if not sc.baselines:
            return []
        t0 = time.perf_counter()
        h_train = {}
        for name in sc.training.train_sets:
            x = self._inputs(name, "train")
            h_train[name] = transforms.real_to_complex(x)
        first = sc.training.train_sets[0]
        nc = {d.num_subcarriers for d in sc.datasets.values()}
        out = []
        for spec in sc.baselines:
            for bits in spec.payload_bits:
                opts = dict(spec.options)
                if spec.kind == "topk":
                    bl = classical.TopK.for_payload(bits, (na, sc.num_bs_antennas),
                                                    h_train=h_train[first][:1000], **opts)
                    bl.train_set = first
                    out.append(bl)
                elif spec.kind in compressive.SCHEMES:
                    bl = compressive.for_payload(
                        spec.kind, bits, (na, sc.num_bs_antennas),
                        derive_seed(sc.seed, "sensing-matrix", spec.kind, bits), **opts
                    ).fit(h_train[first])
                    bl.train_set = first
                    out.append(bl)
                elif spec.kind == "pca":
                    for name, h in h_train.items():
                        bl = classical.PCA.for_payload(bits, **opts).fit(h)
                        bl.train_set = name
                        out.append(bl)
                else:
                    if len(nc) > 1:
                        raise LinksimInputError("baselines: dft_codebook needs one "
                                                f"num_subcarriers for all data sets, got {nc}")
                    bl = classical.DFTCodebook.for_payload(
                        bits, sc.num_bs_antennas, next(iter(nc)), sc.evaluation.subband_size,
                        **opts)
                    bl.train_set = "-"
                    out.append(bl)
        self.timings["baselines_fit_s"] = time.perf_counter() - t0
        self.baseline_states = [{**bl.describe(), "train_set": bl.train_set} for bl in out]
        return out

    # -- stage 3: sweep -----------------------------------------------------------------------
    def sweep(self, trained: list[TrainedCodec], baselines: list | None = None) -> pd.DataFrame:
        """Evaluate every method on every test set at every pilot SNR (:mod:`linksim.sweep`)."""
        res = run_sweep(self.sc, self.datasets, trained, baselines or [],
                        progress=self.progress, warn=self.warn)
        self.per_sample, self.energy = res.per_sample, res.energy
        self.range_floors.update(res.range_floors)
        self.warnings.extend(res.warnings)
        self.timings["sweep_s"] = res.seconds
        return res.rows

    # -- the whole run ------------------------------------------------------------------------
    def execute(self) -> Path:
        """Run everything in a temporary directory and rename it into place at the end."""
        sc = self.sc
        out_root = Path(sc.output_dir)
        created_root = not out_root.exists()
        check_codecs(sc)
        self.check_resources()
        stale = housekeeping.stale_items(self.cache_dir, out_root)
        if stale:
            freed = housekeeping.prune(stale)
            self.echo(f"removed {len(stale)} leftovers of interrupted runs ({freed / 1e6:.1f} MB): "
                      + ", ".join(str(i.path) for i in stale))
        tmp, final, lock = reserve_run_dir(out_root, sc.name)
        try:
            t_all = time.perf_counter()
            self.load_data()
            trained = self.train_codecs(tmp)
            classical = self.fit_baselines()
            df = self.sweep(trained, classical)
            df.to_csv(tmp / "results.csv", index=False)
            write_per_sample(self.per_sample, tmp / "per_sample.h5")
            plots.plot_nmse_vs_snr(df, tmp / "nmse_vs_snr.png")
            plots.plot_bfgain_vs_snr(df, tmp / "bfgain_vs_snr.png", sc.num_bs_antennas)
            plots.plot_vs_feedback_snr(df, tmp / "nmse_vs_feedback_snr.png", sc.num_bs_antennas)
            plots.plot_nmse_vs_bits(df, tmp / "nmse_vs_bits.png")
            self.timings["total_s"] = time.perf_counter() - t_all
            manifest = self.manifest(trained)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            if self.scenario_path is not None:
                shutil.copy(self.scenario_path, tmp / "scenario.yaml")
            os.replace(tmp, final)
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


def codec_complexity(codec: Codec) -> dict[str, int]:
    """Parameters, MACs and weight bits at UE and BS (a codec's own ``complexity()`` if it has
    one, else :func:`linksim.complexity.complexity`)."""
    from linksim.complexity import complexity

    own = getattr(codec, "complexity", None)
    return own() if callable(own) else complexity(codec)


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: NMSE (AD) at the lowest, a middle and the highest SNR (each once: one or two
    SNR points give one or two columns); other metrics at the highest."""
    snrs = sorted(df["pilot_snr_db"].unique())
    pick = sorted({snrs[0], snrs[len(snrs) // 2], snrs[-1]})
    keys = ["codec", "compression_ratio", "train_feedback", "feedback", "feedback_snr_db",
            "train_set", "test_set", "payload_bits"]
    d = df.copy()
    d[keys] = d[keys].astype(object).fillna("-")
    table = d.pivot_table(index=keys, columns="pilot_snr_db", values="nmse_ad_db",
                          aggfunc="first", sort=False)[pick]
    table.columns = [f"NMSE_ad@{s:g}dB" for s in pick]
    top = d[d["pilot_snr_db"] == snrs[-1]].set_index(keys)
    for col, name in (("nmse_sf_db", f"NMSE_sf@{snrs[-1]:g}"), ("rho", "rho"),
                      ("sgcs_subband", "SGCS_sb"), ("bf_gain_db", "BFgain_dB"),
                      ("bf_gain_eigen_db", "BFgain_eig_dB"), ("se_bps_hz", "SE"),
                      ("measured_bits", "sent"), ("range_floor_db", "floor_dB")):
        if col in top:
            table[name] = top[col]
    return table.reset_index().rename(columns={"payload_bits": "bits"})
