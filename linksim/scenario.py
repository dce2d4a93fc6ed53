"""The scenario schema: one YAML file is the single source of a run's configuration.

Validated by pydantic; unknown keys are errors. Layout (see docs/scenarios.md)::

    name: uma_28ghz
    seed: 1
    output_dir: runs
    datasets:                 # named channel data sets (any family), each with its splits
      uma28: {family: uma, carrier_frequency_hz: 28.0e9, ..., n_train: 8000, n_val: 1000, n_test: 2000}
    preprocessing: {num_delay_rows: 32}
    estimation: {pilot_snr_db: [-5, 0, ..., 40], pilot_length: 32, noise_reference: per_sample}
    codecs: [{name: csinet, compression_ratios: [4]}]
    feedback: [{kind: ideal}, {kind: uniform, bits: 6}, {kind: awgn, snr_db: [0, 10, 20]}]
    training: {train_sets: [uma28], epochs: 20, batch_size: 200, learning_rate: 1.0e-3}
    evaluation: {test_sets: [uma28], downlink_snr_db: 10}

Results are one row per codec x CR x feedback (x feedback SNR) x train set x test set x pilot SNR.

The section models live in :mod:`linksim.scenario_datasets` (the channel families) and
:mod:`linksim.scenario_sections` (the other sections); this module assembles them into
:class:`Scenario`, reads the YAML file, and re-exports every section model.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from linksim.errors import LinksimInputError
from linksim.scenario_datasets import (  # noqa: F401  (re-exported)
    ChannelConfig,
    Cost2100Channel,
    CsiNetMatChannel,
    UMaChannel,
)
from linksim.scenario_sections import (  # noqa: F401  (re-exported)
    AwgnFeedback,
    BaselineSpec,
    Bool,
    CodecSpec,
    Estimation,
    Evaluation,
    Execution,
    FeedbackSpec,
    FineTune,
    Float,
    IdealFeedback,
    Int,
    Mixture,
    Preprocessing,
    QuantizedFeedback,
    StrictModel,
    Training,
    TrainingFeedback,
)
from linksim.tr38843 import stage as tr38843_stage
from linksim.tr38843.config import StudyConfig


class Scenario(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    seed: Int = Field(0, ge=0)
    output_dir: Path = Path("runs")
    cache_dir: Path | None = Field(None, description="channel cache; default ~/.cache/linksim")
    datasets: dict[str, ChannelConfig] = Field(min_length=1)
    preprocessing: Preprocessing = Preprocessing()
    estimation: Estimation = Estimation()
    codecs: list[CodecSpec] = Field(default_factory=list)
    feedback: list[FeedbackSpec] = Field(default_factory=lambda: [IdealFeedback()])
    baselines: list[BaselineSpec] = Field(
        default_factory=list, description="classical compressors at given payloads")
    training: Training
    evaluation: Evaluation
    execution: Execution = Execution()
    tr38843: StudyConfig | None = Field(
        None, description="the TR 38.843-style eigenvector-CSI study (docs/tr38843.md); in place "
                          "of the codec zoo and SNR sweep")

    @model_validator(mode="before")
    @classmethod
    def _study_sets(cls, data):
        return tr38843_stage.scenario_defaults(data)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        from linksim.codecs.base import check_compression_ratio, get_codec_class

        if self.tr38843 is not None:
            tr38843_stage.check_scenario(self)
            return self
        for field, names in (("training.train_sets", self.training.train_sets),
                             ("evaluation.test_sets", self.evaluation.test_sets)):
            for n in names:
                if n not in self.datasets:
                    raise ValueError(f"{field}: unknown data set {n!r}; "
                                     f"defined: {', '.join(self.datasets)}")
        mixture_names = [m.name for m in self.training.mixtures]
        for i, m in enumerate(self.training.mixtures):
            if m.name in self.datasets:
                raise ValueError(f"training.mixtures[{i}].name: {m.name!r} is a data set name")
            for n in m.sets:
                if n not in self.datasets:
                    raise ValueError(f"training.mixtures[{i}].sets: unknown data set {n!r}")
        for i, ft in enumerate(self.training.fine_tune):
            if ft.base not in self.training.train_sets + mixture_names:
                raise ValueError(f"training.fine_tune[{i}].base: {ft.base!r} is not a training "
                                 "set or mixture")
            if ft.target not in self.datasets:
                raise ValueError(f"training.fine_tune[{i}].target: unknown data set {ft.target!r}")
            n_train = getattr(self.datasets[ft.target], "n_train", None)
            if n_train is not None and ft.n_samples > n_train:
                raise ValueError(f"training.fine_tune[{i}].n_samples: {ft.n_samples} exceeds "
                                 f"datasets.{ft.target}.n_train={n_train}")
        needs_training = set(self.training.train_sets)
        needs_training |= {n for m in self.training.mixtures for n in m.sets}
        needs_training |= {ft.target for ft in self.training.fine_tune}
        for n in sorted(needs_training):
            if not (self.datasets[n].has_split("train") and self.datasets[n].has_split("val")):
                what = ("train_file and val_file" if self.datasets[n].family == "csinet_mat"
                        else "n_train >= 1 and n_val >= 1")
                raise ValueError(f"datasets.{n}: a training set needs {what}")
        for name, d in self.datasets.items():
            if getattr(d, "num_ue_antennas", 1) > 1:  # the TR 38.843 study reads these splits
                raise ValueError(f"datasets.{name}.num_ue_antennas: {d.num_ue_antennas} UE "
                                 "antennas give channels [N, Nc, Nr, Nt]; the full-channel link "
                                 "of a scenario run (codecs, estimation, precoding) needs 1")
        nts = {d.num_bs_antennas for d in self.datasets.values()}
        if len(nts) > 1:
            raise ValueError(f"datasets: all data sets need the same num_bs_antennas, got {nts}")
        na = self.preprocessing.num_delay_rows
        for name, d in self.datasets.items():
            if na > d.num_subcarriers:
                raise ValueError(f"preprocessing.num_delay_rows: Na={na} exceeds "
                                 f"datasets.{name}.num_subcarriers={d.num_subcarriers}")
            stored = getattr(d, "num_delay_rows", None)
            if stored is not None and na > stored:
                raise ValueError(f"preprocessing.num_delay_rows: Na={na} exceeds the "
                                 f"{stored} delay rows stored by datasets.{name} "
                                 f"({d.family}); raise datasets.{name}.num_delay_rows or lower Na")
            if (self.estimation.pilot_length is not None
                    and self.estimation.pilot_length < d.num_bs_antennas):
                raise ValueError(f"estimation.pilot_length: Tp={self.estimation.pilot_length} "
                                 f"must be >= Nt={d.num_bs_antennas}")
        nt = nts.pop()
        for i, spec in enumerate(self.baselines):
            if spec.kind in ("lasso", "tv", "omp"):
                b = spec.options.get("measurement_bits", 32)
                if not isinstance(b, int) or isinstance(b, bool) or not (1 <= b <= 16 or b == 32):
                    raise ValueError(f"baselines[{i}].options.measurement_bits: 1..16 or 32, "
                                     f"got {b!r}")
                for bits in spec.payload_bits:
                    m = (bits - 32) // b
                    if not 1 <= m <= 2 * na * nt:
                        raise ValueError(
                            f"baselines[{i}].payload_bits: {bits} bits hold {m} measurements "
                            f"of {b} bits after the 32-bit scale; {spec.kind} needs 1..2 Na Nt "
                            f"= {2 * na * nt}")
        for i, spec in enumerate(self.codecs):
            try:
                get_codec_class(spec.name)
            except LinksimInputError as exc:
                raise ValueError(f"codecs[{i}].name: {exc}") from None
            for cr in spec.compression_ratios:
                try:
                    check_compression_ratio(cr, na, nt)
                except ValueError as exc:
                    raise ValueError(f"codecs[{i}].compression_ratios: {exc}") from None
        return self

    @property
    def num_bs_antennas(self) -> int:
        return next(iter(self.datasets.values())).num_bs_antennas


def _format_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid scenario"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {loc or '<top>'}: {msg}")
    return "\n".join(lines)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (the plain
    loader silently keeps the last value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Relative data file paths (``csinet_mat``) are resolved against the file's folder.

    Raises
    ------
    LinksimInputError
        Missing or unreadable file, invalid YAML, or a field that fails validation; the message
        names the file and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LinksimInputError(f"{path}: cannot read scenario file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise LinksimInputError(f"{path}: not a text (UTF-8) file, byte {exc.start}: is this a "
                                "scenario YAML file?") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise LinksimInputError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise LinksimInputError(f"{path}: a scenario must be a YAML mapping")
    try:
        return Scenario.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise LinksimInputError(_format_error(path, exc)) from exc
