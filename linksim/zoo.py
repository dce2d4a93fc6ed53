"""Stage 2, the model zoo: building codecs, training and fine-tuning them, their cache keys and
cache entries, their feedback links, and fitting the classical compressors.

``Run`` (:mod:`linksim.pipeline`) inherits :class:`ModelZoo`; the functions work alone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from linksim import plots
from linksim.channels.dataset import (
    cache_lock,
)
from linksim.codecs.base import OUTPUT_HEADS, Codec, get_codec_class
from linksim.errors import LinksimInputError
from linksim.learning.device import built_on_cpu
from linksim.learning.training import TrainSettings
from linksim.phy import transforms
from linksim.phy.feedback import (
    FeedbackLink,
    QuantizeSTE,
    feedback_matches,
    link_points,
    make_link,
    training_link,
)
from linksim.scenario import Scenario
from linksim.seeding import derive_seed
from linksim.sweep import (  # noqa: F401  (re-exported: results format)
    RANGE_FLOOR_WARN_DB,
    RESULT_COLUMNS,
    read_per_sample,
    run_sweep,
    write_per_sample,
)


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


def codec_complexity(codec: Codec) -> dict[str, int]:
    """Parameters, MACs and weight bits at UE and BS (a codec's own ``complexity()`` if it has
    one, else :func:`linksim.complexity.complexity`)."""
    from linksim.complexity import complexity

    own = getattr(codec, "complexity", None)
    return own() if callable(own) else complexity(codec)


class ModelZoo:
    """Training, caching and fitting of everything the sweep evaluates (mixed into
    :class:`linksim.pipeline.Run`)."""

    # -- stage 2: codecs ----------------------------------------------------------------------
    def _model_key(self, spec, cr: int, train_set: str, train_fb, members: list[str] | None = None,
                   extra: dict | None = None) -> str:
        members = members or [train_set]
        training = self.sc.training.model_dump()
        for k in ("feedback", "mixtures", "fine_tune"):  # a model depends only on its own
            del training[k]
        del training["device"]  # where it trains, not what (docs/devices.md)
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

    def _sources(self) -> list[tuple[str, list[str], int | None]]:
        """What codecs train on: ``(label, member data sets, samples per member or None)`` for
        each training set, then each mixture."""
        tr = self.sc.training
        return ([(n, [n], None) for n in tr.train_sets]
                + [(m.name, m.sets, m.n_per_set) for m in tr.mixtures])

    def _model_dir(self, spec, cr: int, label: str, train_fb, members: list[str],
                   n_each: int | None) -> tuple[str, Path]:
        """The tag and model cache directory of one codec x CR trained on one source."""
        fb_label = train_fb.label()
        tag = (f"{get_codec_class(spec.name).name}_cr{cr}_{label}"
               + ("" if fb_label == "ideal" else f"_{fb_label}"))
        key = self._model_key(spec, cr, label, train_fb, members,
                              {"n_per_set": n_each} if n_each else None)
        return tag, self.cache_dir / "models" / f"{tag}-{key}"

    def _spec_of(self, codec: Codec):
        """The scenario's ``codecs:`` entry that built ``codec``."""
        return next(c for c in self.sc.codecs if get_codec_class(c.name).name == codec.name)

    def _fine_tune_dir(self, spec, cr: int, base_dir: Path, train_fb, ft) -> tuple[str, Path]:
        """The tag and model cache directory of a fine-tuned model, from its base's entry."""
        fb = "" if train_fb.label() == "ideal" else f"_{train_fb.label()}"
        tag = f"{get_codec_class(spec.name).name}_cr{cr}_{ft.label()}{fb}"
        key = self._model_key(spec, cr, ft.label(), train_fb, members=[ft.target],
                              extra={"fine_tune": ft.model_dump(), "base_model": base_dir.name})
        return tag, self.cache_dir / "models" / f"{tag}-{key}"

    def model_plan(self) -> list[tuple[str, Path, str | None]]:
        """Every model the run trains, in training order, without training anything:
        ``(tag, model cache directory, tag of the base model for a fine-tune or None)``. The
        units of :mod:`linksim.units` are cut from it."""
        sc, tr = self.sc, self.sc.training
        plan, bases = [], []
        for label, members, n_each in self._sources():
            for spec in sc.codecs:
                for cr in spec.compression_ratios:
                    for train_fb in tr.feedback_list():
                        tag, model_dir = self._model_dir(spec, cr, label, train_fb, members,
                                                         n_each)
                        plan.append((tag, model_dir, None))
                        bases.append((label, spec, cr, train_fb, tag, model_dir))
        for ft in tr.fine_tune:
            for label, spec, cr, train_fb, base_tag, base_dir in bases:
                if label == ft.base:
                    tag, model_dir = self._fine_tune_dir(spec, cr, base_dir, train_fb, ft)
                    plan.append((tag, model_dir, base_tag))
        return plan

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

    def train_codecs(self, run_dir: Path, only: set[str] | None = None) -> list[TrainedCodec]:
        """Train (or load from the model cache) every codec x CR x training link on every
        training set and mixture, then the fine-tuned variants.

        ``only``: the tags (:meth:`model_plan`) to train or load, the others skipped (a
        training unit of :mod:`linksim.units`; a fine-tune's base must be among them)."""
        t0 = time.perf_counter()
        sc, tr, pre = self.sc, self.sc.training, self.sc.preprocessing
        if not sc.codecs:
            self.timings["training_s"] = 0.0
            return []
        sources = self._sources()
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
                        if only is not None and self._model_dir(
                                spec, cr, label, train_fb, members, n_each)[0] not in only:
                            continue
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
                if only is not None and self._fine_tune_dir(
                        self._spec_of(base.codec), base.codec.compression_ratio, base.model_dir,
                        train_fb, ft)[0] not in only:
                    continue
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
        tag, model_dir = self._fine_tune_dir(self._spec_of(codec0), codec0.compression_ratio,
                                             base.model_dir, train_fb, ft)
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
        :class:`~linksim.learning.streaming.StreamedCsi` sources read from disk during training."""
        sc, tr = self.sc, self.sc.training
        fb_label = train_fb.label()
        tag, model_dir = self._model_dir(spec, cr, train_set, train_fb, members or [train_set],
                                         n_each)
        with cache_lock(model_dir):  # one run trains an entry; others wait, then load it
            if model_dir.exists() and not self.retrain:
                codec = self._load_cached(model_dir)
                cached = True
                self.echo(f"codec {tag}: loaded from {model_dir}")
            else:
                import keras

                keras.utils.set_random_seed(derive_seed(sc.seed, "init", tag))
                codec = built_on_cpu(lambda: build_codec(sc, spec, cr))  # same init everywhere
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
        from linksim.baselines import compressive

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

