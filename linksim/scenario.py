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
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from linksim.errors import LinksimInputError

# Field types: integers and booleans are strict (``true`` is not 1, ``2.5`` or ``"3"`` not an
# integer); every float is finite (the models forbid NaN and infinities, ``allow_inf_nan``)
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Float = Annotated[float, Strict()]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _unique(v: list | None) -> list | None:
    """A list in which a repeated entry would mean nothing (or crash a later stage): refused."""
    if v is None:
        return v
    seen = set()
    for x in v:
        if x in seen:
            raise ValueError(f"{x!r} is listed twice; give each value once")
        seen.add(x)
    return v


class UMaChannel(_Strict):
    """3GPP TR 38.901 UMa NLOS through Sionna (BS ULA, single-antenna UE)."""

    family: Literal["uma"] = "uma"
    carrier_frequency_hz: Float = Field(28e9, gt=0, description="carrier frequency [Hz]")
    num_subcarriers: Int = Field(1024, ge=1, description="Nc")
    subcarrier_spacing_hz: Float = Field(30e3, gt=0, description="subcarrier spacing [Hz]")
    bandwidth_hz: Float | None = Field(
        None, gt=0, description="Nc x subcarrier spacing [Hz]; when given it sets "
                                "subcarrier_spacing_hz (e.g. 20 MHz as in the CsiNet setting)")
    num_bs_antennas: Int = Field(32, ge=1, description="Nt, ULA at half wavelength")
    ue_speed_mps: Float = Field(0.0, ge=0, description="UE speed [m/s]")
    num_snapshots: Int = Field(
        1, ge=1, description="snapshots per drop T (a moving UE observed T times); sample "
                             "index = drop * T + snapshot; each n_* must be a multiple of T")
    snapshot_interval_s: Float = Field(5e-3, gt=0, description="time between snapshots [s]")
    bs_antenna_pattern: Literal["omni", "38.901"] = Field(
        "omni", description="BS element pattern: omni (as in the COST2100/CsiNet setting) or the "
                            "38.901 sector pattern")
    ue_orientation: Literal["upright", "random"] = Field(
        "upright", description="UE antenna orientation: upright, or Sionna's random drop (part of "
                               "the power then goes to the cross-polarisation)")
    n_train: Int = Field(8000, ge=0)
    n_val: Int = Field(1000, ge=0)
    n_test: Int = Field(2000, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _spacing_from_bandwidth(cls, data):
        if not isinstance(data, dict) or data.get("bandwidth_hz") is None:
            return data
        try:
            scs = float(data["bandwidth_hz"]) / int(data.get("num_subcarriers", 1024))
            given = data.get("subcarrier_spacing_hz")
            given = None if given is None else float(given)
        except (TypeError, ValueError, ZeroDivisionError):
            return data  # the field validators name the bad field
        if given is not None and abs(given - scs) > 1e-9 * abs(scs):
            raise ValueError(f"bandwidth_hz={data['bandwidth_hz']} and subcarrier_spacing_hz="
                             f"{given} disagree (bandwidth = num_subcarriers x spacing); "
                             "give only one of them")
        return {**data, "subcarrier_spacing_hz": scs}

    @model_validator(mode="after")
    def _consistent(self) -> UMaChannel:
        bw = self.num_subcarriers * self.subcarrier_spacing_hz
        if bw >= self.carrier_frequency_hz:
            raise ValueError(f"subcarrier_spacing_hz: the bandwidth Nc x spacing = {bw:g} Hz must "
                             f"be below carrier_frequency_hz = {self.carrier_frequency_hz:g}")
        for split in ("train", "val", "test"):
            n = getattr(self, f"n_{split}")
            if n % self.num_snapshots:
                raise ValueError(f"n_{split}={n} is not a multiple of num_snapshots="
                                 f"{self.num_snapshots} (a split holds whole snapshot series)")
        return self

    def generator_config(self) -> dict:
        """What determines the generated channels (the cache key, without split sizes).

        ``bandwidth_hz`` is carried by ``subcarrier_spacing_hz``; the snapshot fields are left
        out for ``num_snapshots == 1`` (single snapshots, as before they existed).
        """
        exclude = {"n_train", "n_val", "n_test", "bandwidth_hz"}
        if self.num_snapshots == 1:
            exclude |= {"num_snapshots", "snapshot_interval_s"}
        return self.model_dump(exclude=exclude)

    def has_split(self, split: str) -> bool:
        """Whether the ``split`` ("train", "val", "test") has at least one sample."""
        return getattr(self, f"n_{split}") >= 1


def _cost2100_environments() -> tuple[str, ...]:
    from linksim.channels.cost2100 import ENVIRONMENTS

    return tuple(ENVIRONMENTS)


class Cost2100Channel(_Strict):
    """COST 2100 (the CsiNet data's model), generated as truncated angular-delay channels.

    The stored ``num_delay_rows`` rows are the channel (see docs/scenarios.md); the energy lost
    to the truncation is recorded in the data set and the manifest.
    """

    family: Literal["cost2100"] = "cost2100"
    environment: str = Field(description="a linksim.channels.cost2100.ENVIRONMENTS name")
    num_bs_antennas: Int = Field(32, ge=1, description="Nt, ULA at half wavelength")
    num_subcarriers: Int = Field(1024, ge=1, description="Nc")
    bandwidth_hz: Float = Field(20e6, gt=0, description="bandwidth [Hz]")
    num_delay_rows: Int = Field(32, ge=1, description="delay rows stored (>= preprocessing Na)")
    n_train: Int = Field(8000, ge=0)
    n_val: Int = Field(1000, ge=0)
    n_test: Int = Field(2000, ge=1)

    @field_validator("environment")
    @classmethod
    def _known_environment(cls, v: str) -> str:
        names = _cost2100_environments()
        if v not in names:
            raise ValueError(f"unknown COST 2100 environment {v!r}; one of {', '.join(names)}")
        return v

    @model_validator(mode="after")
    def _rows_fit(self) -> Cost2100Channel:
        if self.num_delay_rows > self.num_subcarriers:
            raise ValueError(f"num_delay_rows={self.num_delay_rows} exceeds "
                             f"num_subcarriers={self.num_subcarriers}")
        return self

    def generator_config(self) -> dict:
        """What determines the generated channels (the cache key, without split sizes)."""
        return self.model_dump(exclude={"n_train", "n_val", "n_test"})

    def has_split(self, split: str) -> bool:
        return getattr(self, f"n_{split}") >= 1


class CsiNetMatChannel(_Strict):
    """The published CsiNet ``.mat`` files (32 x 32 truncated angular-delay, COST 2100).

    Paths are relative to the scenario file's folder, or absolute. The truncated channel is the
    channel; it is rebuilt on ``num_subcarriers`` subcarriers.
    """

    family: Literal["csinet_mat"] = "csinet_mat"
    train_file: Path | None = Field(None, description="training split (needed to train on it)")
    val_file: Path | None = Field(None, description="validation split (needed to train on it)")
    test_file: Path = Field(description="test split")
    key: str = Field("HT", description="MATLAB variable name")
    num_subcarriers: Int = Field(1024, ge=32, description="Nc of the rebuilt channel")

    #: Nt and Na of the CsiNet files.
    num_bs_antennas: ClassVar[int] = 32
    num_delay_rows: ClassVar[int] = 32

    @field_validator("train_file", "val_file", "test_file")
    @classmethod
    def _existing(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is None:
            return v
        base = (info.context or {}).get("base_dir")
        path = v if v.is_absolute() or base is None else Path(base) / v
        if not path.is_file():
            raise ValueError(f"file not found: {path}")
        return path

    def has_split(self, split: str) -> bool:
        return getattr(self, f"{split}_file") is not None


ChannelConfig = Annotated[UMaChannel | Cost2100Channel | CsiNetMatChannel,
                          Field(discriminator="family")]


class Preprocessing(_Strict):
    """How the UE turns the truncated angular-delay CSI into the codec input, and the decoder's
    output head (docs/conventions.md, "Codec input and output head").

    The defaults are the measured best at the common budget: unit-norm CSI, standardised to
    unit variance, a linear output head (no range floor). The papers' exact set-up
    ("paper-faithful") is ``{sample_normalization: none, output_head: sigmoid, scale: max}``.
    """

    num_delay_rows: Int = Field(32, ge=1, description="Na, delay rows kept after the 2-D DFT")
    sample_normalization: Literal["none", "power", "peak"] = Field(
        "power", description="per-sample scaling at the UE, its gain fed back as one float32 (32 "
                             "bits added to the payload): 'power' (unit Frobenius norm), 'peak' "
                             "(largest |re|, |im| = 1) or 'none'")
    output_head: Literal["linear", "sigmoid"] = Field(
        "linear", description="decoder output: 'linear' on standardised CSI (centred at 0, "
                              "nothing capped) or 'sigmoid' on CSI mapped into [0, 1] (the "
                              "papers'); a codec option output_head overrides it per codec")
    scale: Literal["auto", "max"] | Annotated[float, Field(gt=0, allow_inf_nan=False)] = Field(
        "auto", description="scale s fitted on the training set: 'max' (the largest |re|, |im|), "
                            "k for k x RMS, or 'auto' (1 x RMS for the linear head: unit "
                            "variance; 'max' for the sigmoid head)")

    @model_validator(mode="before")
    @classmethod
    def _legacy_power_normalization(cls, data):
        """``power_normalization: true | false`` (before sample_normalization existed) means
        ``sample_normalization: power | none``."""
        if not isinstance(data, dict) or "power_normalization" not in data:
            return data
        data = dict(data)
        flag = data.pop("power_normalization")
        if not isinstance(flag, bool):
            raise ValueError(  # noqa: TRY004 (pydantic reports ValueError as a field error)
                f"power_normalization must be true or false, got {flag!r}")
        if "sample_normalization" in data:
            raise ValueError("give sample_normalization or the older power_normalization, "
                             "not both")
        data["sample_normalization"] = "power" if flag else "none"
        return data

    def scale_rule(self, output_head: str | None = None) -> str | float:
        """The normaliser rule for a codec with ``output_head`` (default: this section's):
        ``"max"`` or a float ``k`` (``k x RMS``), with ``"auto"`` resolved."""
        head = output_head or self.output_head
        if self.scale == "auto":
            return 1.0 if head == "linear" else "max"
        return self.scale


class Estimation(_Strict):
    pilot_snr_db: list[Float] = Field(
        default_factory=lambda: [float(s) for s in range(-5, 45, 5)],
        description="pilot SNR sweep [dB]: per-element channel power over noise variance")
    pilot_length: Int | None = Field(None, ge=1, description="Tp >= Nt; null means Tp = Nt")
    noise_reference: Literal["per_sample", "dataset"] = "per_sample"

    @field_validator("pilot_snr_db")
    @classmethod
    def _non_empty(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("the SNR list is empty: give at least one pilot SNR in dB")
        return _unique(v)


class CodecSpec(_Strict):
    name: str
    compression_ratios: list[Int] = Field(default_factory=lambda: [4])
    options: dict = Field(default_factory=dict, description="extra constructor arguments")

    @field_validator("compression_ratios")
    @classmethod
    def _non_empty(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one compression ratio")
        return _unique(v)


def _no_entropy_without_quantiser(v: bool) -> bool:
    if v:
        raise ValueError("entropy coding needs a quantiser: use kind 'uniform' or 'mulaw' "
                         "with bits")
    return v


class IdealFeedback(_Strict):
    """Error-free float32 codeword (32 bits per entry)."""

    kind: Literal["ideal"] = "ideal"
    entropy_coding: Bool = False

    _entropy = field_validator("entropy_coding")(_no_entropy_without_quantiser)


class AwgnFeedback(_Strict):
    """Analog feedback: AWGN on the float codeword, at each SNR of the list (a sweep axis)."""

    kind: Literal["awgn"]
    snr_db: list[Float] = Field(
        min_length=1, description="feedback SNRs [dB]: codeword power over noise power")
    entropy_coding: Bool = False

    _entropy = field_validator("entropy_coding")(_no_entropy_without_quantiser)
    _snr_unique = field_validator("snr_db")(_unique)


class QuantizedFeedback(_Strict):
    """Digital feedback: B-bit uniform or mu-law quantisation, optional bit errors or entropy
    coding. ``bits: off`` (or 32) sends float32, which is the ideal link."""

    kind: Literal["uniform", "mulaw"]
    bits: Int | Literal["off"] = Field(description="bits per codeword entry, or 'off'")
    mu: Float = Field(255.0, gt=0, description="mu-law parameter (kind mulaw)")
    entropy_coding: Bool = Field(False, description="entropy-code the quantised symbols")
    ber: Float | None = Field(None, description="bit error probability on the quantised words")
    snr_db: list[Float] | None = Field(
        None, description="feedback SNRs Es/N0 [dB] (a sweep axis) setting the bit error "
                          "probability of hard-decision BPSK/QPSK")
    modulation: Literal["bpsk", "qpsk"] = "bpsk"

    _snr_unique = field_validator("snr_db")(_unique)

    @field_validator("bits")
    @classmethod
    def _bits(cls, v):
        if v != "off" and not 1 <= v <= 32:
            raise ValueError(f"bits must be in 1..32 or 'off', got {v}")
        return v

    @field_validator("ber")
    @classmethod
    def _ber(cls, v):
        if v is not None and not 0.0 <= v <= 0.5:
            raise ValueError(f"ber must be in [0, 0.5], got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> QuantizedFeedback:
        off = self.bits == "off" or self.bits == 32
        if self.ber is not None and self.snr_db:
            raise ValueError("give either ber or snr_db, not both")
        if off and (self.ber is not None or self.snr_db):
            raise ValueError("bit errors need a quantiser: set bits below 32")
        if self.entropy_coding:
            if off:
                raise ValueError("entropy coding needs a quantiser: set bits below 32")
            if self.bits > 16:
                raise ValueError(f"entropy coding supports up to 16 bits, got {self.bits}")
            if self.ber or self.snr_db:
                raise ValueError("entropy coding with bit errors is not modelled (one bit error "
                                 "desynchronises the decoder): drop ber/snr_db or entropy_coding")
        return self


FeedbackSpec = Annotated[IdealFeedback | AwgnFeedback | QuantizedFeedback,
                         Field(discriminator="kind")]


class TrainingFeedback(_Strict):
    """The feedback link modelled during training: quantisation-aware (straight-through) or
    AWGN on the codeword at a fixed SNR or at an SNR drawn per sample from a range."""

    kind: Literal["ideal", "uniform", "mulaw", "awgn"]
    bits: Int | None = Field(None, ge=1, le=31, description="quantiser bits (uniform, mulaw)")
    mu: Float = Field(255.0, gt=0)
    snr_db: Float | None = Field(None, description="fixed training SNR [dB] (awgn)")
    snr_db_range: tuple[Float, Float] | None = Field(
        None, description="[min, max] training SNR [dB], drawn per sample (awgn)")

    @model_validator(mode="after")
    def _consistent(self) -> TrainingFeedback:
        if self.kind in ("uniform", "mulaw") and self.bits is None:
            raise ValueError(f"kind {self.kind} needs bits")
        if self.kind == "awgn":
            if (self.snr_db is None) == (self.snr_db_range is None):
                raise ValueError("kind awgn needs exactly one of snr_db and snr_db_range")
            if self.snr_db_range is not None and self.snr_db_range[1] < self.snr_db_range[0]:
                raise ValueError("snr_db_range must be [min, max]")
        return self

    def label(self) -> str:
        """Short name in results and model directories, e.g. ``uniform4b``, ``awgn-5to40dB``."""
        if self.kind in ("uniform", "mulaw"):
            return f"{self.kind}{self.bits}b"
        if self.kind == "awgn":
            if self.snr_db is not None:
                return f"awgn{self.snr_db:g}dB"
            return f"awgn{self.snr_db_range[0]:g}to{self.snr_db_range[1]:g}dB"
        return "ideal"


class Mixture(_Strict):
    """A training set made of several data sets: their train (and val) splits concatenated."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="label in results")
    sets: list[str] = Field(min_length=2, description="data sets mixed")
    n_per_set: Int | None = Field(
        None, ge=1, description="first n training (and n/10 validation) samples of each set; "
                                "null takes them all")

    _sets_unique = field_validator("sets")(_unique)


class FineTune(_Strict):
    """Fine-tune every codec trained on ``base`` with a small amount of ``target`` data."""

    base: str = Field(description="a training set or mixture name")
    target: str = Field(description="data set whose first n_samples training CSI are used")
    n_samples: Int = Field(ge=1, description="target training samples used")
    epochs: Int = Field(5, ge=1)
    learning_rate: Float = Field(3e-4, gt=0, description="constant learning rate")

    def label(self) -> str:
        return f"{self.base}+ft-{self.target}{self.n_samples}"


class Training(_Strict):
    train_sets: list[str] = Field(min_length=1, description="data sets the codecs are trained on")
    epochs: Int = Field(20, ge=1)
    batch_size: Int = Field(200, ge=1)
    learning_rate: Float = Field(1e-3, gt=0, description="lr (peak lr for the cosine schedule)")
    schedule: Literal["constant", "cosine"] = "constant"
    lr_min: Float = Field(5e-5, ge=0)
    warmup_epochs: Int = Field(0, ge=0)
    pilot_snr_db: Float | None = Field(
        None, description="train on LS estimates at this SNR; null trains on perfect CSI")
    mixtures: list[Mixture] = Field(
        default_factory=list, description="extra training sets, each a mixture of data sets")
    fine_tune: list[FineTune] = Field(
        default_factory=list, description="fine-tuned variants of codecs trained on a base set")
    feedback: TrainingFeedback | list[TrainingFeedback] | None = Field(
        None, description="feedback link modelled in training (a list trains every codec once "
                          "per entry); null trains on the ideal link")
    stream: Bool = Field(
        False, description="train from disk: the train and val splits of each train_sets entry "
                           "are read, preprocessed and shuffled in blocks of stream_block "
                           "samples, never held whole (mixtures, fine-tuning and baselines stay "
                           "in memory); see docs/scenarios.md")
    stream_block: Int = Field(
        4096, ge=1, description="samples per block read from disk when stream is true (the "
                                "unit of shuffling and of memory)")

    _sets_unique = field_validator("train_sets")(_unique)

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        """Leave the streaming fields out of dumps while streaming is off, so that model cache
        keys (made from ``model_dump()``) of in-memory training stay those of before them."""
        data = handler(self)
        if not self.stream and isinstance(data, dict):
            data.pop("stream", None)
            data.pop("stream_block", None)
        return data

    def feedback_list(self) -> list[TrainingFeedback]:
        """The training links as a list (``[ideal]`` when none is set)."""
        if self.feedback is None:
            return [TrainingFeedback(kind="ideal")]
        return self.feedback if isinstance(self.feedback, list) else [self.feedback]


class BaselineSpec(_Strict):
    """A classical compressor evaluated beside the codecs (linksim.baselines), once per payload.

    ``topk``: largest-K angular-delay coefficients (values and indices quantised; value bits
    tuned on the first training set); ``pca``: KLT fitted on each training set, quantised
    coefficients; ``dft_codebook``: L strongest oversampled DFT beams with per-subband amplitude
    and phase (3GPP Type II style, single-polarised ULA; subband size from ``evaluation``);
    ``lasso``, ``tv``, ``omp``: compressive sensing, ``M = (payload - 32) / B`` random Gaussian
    measurements (B = 32 float32 by default, ``options: {measurement_bits: B}``), recovered by
    l1 (FISTA), total variation (TVAL3-like) or OMP, regularisation chosen on the first
    training set (linksim.compressive).
    """

    kind: Literal["topk", "pca", "dft_codebook", "lasso", "tv", "omp"]
    payload_bits: list[Int] = Field(min_length=1, description="bit budgets per CSI report")
    options: dict = Field(default_factory=dict, description="extra constructor arguments")

    @field_validator("payload_bits")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if min(v) < 1:
            raise ValueError(f"payload bits must be >= 1, got {min(v)}")
        return _unique(v)


class Evaluation(_Strict):
    test_sets: list[str] = Field(min_length=1, description="data sets every codec is tested on")
    downlink_snr_db: Float = Field(10.0, description="SNR for the spectral efficiency [dB]")
    subband_size: Int = Field(
        48, ge=1, description="subcarriers per subband: subband SGCS, eigen-beamforming, DFT "
                              "codebook (48 = 4 PRBs of 12 subcarriers)")
    feedback_pairing: Literal["all", "matched"] = Field(
        "all", description="evaluate every trained codec on every feedback link, or only on the "
                           "links matching its training link (same quantiser; AWGN; float)")
    batch_size: Int = Field(250, ge=1, description="samples per evaluation batch")

    _sets_unique = field_validator("test_sets")(_unique)


class Scenario(_Strict):
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

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        from linksim.codecs.base import check_compression_ratio, get_codec_class

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
