"""The scenario's sections other than the data sets: preprocessing, estimation, codecs, feedback,
training, baselines and evaluation (:mod:`linksim.scenario` assembles them), and the strict field
types every section is made of.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_serializer,
    model_validator,
)

from linksim.learning.device import parse_device

# Field types: integers and booleans are strict (``true`` is not 1, ``2.5`` or ``"3"`` not an
# integer); every float is finite (the models forbid NaN and infinities, ``allow_inf_nan``)
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Float = Annotated[float, Strict()]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def unique(v: list | None) -> list | None:
    """A list in which a repeated entry would mean nothing (or crash a later stage): refused."""
    if v is None:
        return v
    seen = set()
    for x in v:
        if x in seen:
            raise ValueError(f"{x!r} is listed twice; give each value once")
        seen.add(x)
    return v


def non_empty_unique(message: str):
    """A validator of a list that must hold at least one entry (else ``message``), each once."""

    def check(v: list) -> list:
        if not v:
            raise ValueError(message)
        return unique(v)

    return check



class Preprocessing(StrictModel):
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


class Estimation(StrictModel):
    pilot_snr_db: list[Float] = Field(
        default_factory=lambda: [float(s) for s in range(-5, 45, 5)],
        description="pilot SNR sweep [dB]: per-element channel power over noise variance")
    pilot_length: Int | None = Field(None, ge=1, description="Tp >= Nt; null means Tp = Nt")
    noise_reference: Literal["per_sample", "dataset"] = "per_sample"

    _snrs = field_validator("pilot_snr_db")(
        non_empty_unique("the SNR list is empty: give at least one pilot SNR in dB"))


class CodecSpec(StrictModel):
    name: str
    compression_ratios: list[Int] = Field(default_factory=lambda: [4])
    options: dict = Field(default_factory=dict, description="extra constructor arguments")

    _crs = field_validator("compression_ratios")(
        non_empty_unique("give at least one compression ratio"))


def _no_entropy_without_quantiser(v: bool) -> bool:
    if v:
        raise ValueError("entropy coding needs a quantiser: use kind 'uniform' or 'mulaw' "
                         "with bits")
    return v


class IdealFeedback(StrictModel):
    """Error-free float32 codeword (32 bits per entry)."""

    kind: Literal["ideal"] = "ideal"
    entropy_coding: Bool = False

    _entropy = field_validator("entropy_coding")(_no_entropy_without_quantiser)


class AwgnFeedback(StrictModel):
    """Analog feedback: AWGN on the float codeword, at each SNR of the list (a sweep axis)."""

    kind: Literal["awgn"]
    snr_db: list[Float] = Field(
        min_length=1, description="feedback SNRs [dB]: codeword power over noise power")
    entropy_coding: Bool = False

    _entropy = field_validator("entropy_coding")(_no_entropy_without_quantiser)
    _snr_unique = field_validator("snr_db")(unique)


class QuantizedFeedback(StrictModel):
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

    _snr_unique = field_validator("snr_db")(unique)

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


class TrainingFeedback(StrictModel):
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


class Mixture(StrictModel):
    """A training set made of several data sets: their train (and val) splits concatenated."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="label in results")
    sets: list[str] = Field(min_length=2, description="data sets mixed")
    n_per_set: Int | None = Field(
        None, ge=1, description="first n training (and n/10 validation) samples of each set; "
                                "null takes them all")

    _sets_unique = field_validator("sets")(unique)


class FineTune(StrictModel):
    """Fine-tune every codec trained on ``base`` with a small amount of ``target`` data."""

    base: str = Field(description="a training set or mixture name")
    target: str = Field(description="data set whose first n_samples training CSI are used")
    n_samples: Int = Field(ge=1, description="target training samples used")
    epochs: Int = Field(5, ge=1)
    learning_rate: Float = Field(3e-4, gt=0, description="constant learning rate")

    def label(self) -> str:
        return f"{self.base}+ft-{self.target}{self.n_samples}"


class Training(StrictModel):
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
    device: str = Field(
        "auto", description="where training, meta-learning and the codecs run: 'auto' (a CUDA "
                            "GPU when PyTorch sees one, else the CPU), 'cpu', 'cuda' or "
                            "'cuda:N'; not part of model cache keys (docs/devices.md)")

    _sets_unique = field_validator("train_sets")(unique)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        parse_device(v)  # the syntax only: whether the GPU exists is checked when a run starts
        return v

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


class BaselineSpec(StrictModel):
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
        return unique(v)


class Evaluation(StrictModel):
    test_sets: list[str] = Field(min_length=1, description="data sets every codec is tested on")
    downlink_snr_db: Float = Field(10.0, description="SNR for the spectral efficiency [dB]")
    subband_size: Int = Field(
        48, ge=1, description="subcarriers per subband: subband SGCS, eigen-beamforming, DFT "
                              "codebook (48 = 4 PRBs of 12 subcarriers)")
    feedback_pairing: Literal["all", "matched"] = Field(
        "all", description="evaluate every trained codec on every feedback link, or only on the "
                           "links matching its training link (same quantiser; AWGN; float)")
    batch_size: Int = Field(250, ge=1, description="samples per evaluation batch")

    _sets_unique = field_validator("test_sets")(unique)


class Execution(StrictModel):
    """Where the run's units execute (``docs/scale-out.md``). The command line's
    ``--executor``, ``--address`` and ``--unit-threads`` override these."""

    executor: Literal["local", "ray"] = Field(
        "local", description="local: every unit in this process; ray: units as Ray tasks")
    address: str | None = Field(
        None, description="Ray head to join (host:port, ray://host:port or auto); none: start "
                          "a local Ray instance")
    unit_threads: Int = Field(1, ge=1, description="CPU threads per unit on Ray")
    sweep_snrs_per_unit: Int | None = Field(
        None, ge=1, description="pilot SNR points per sweep unit (test set x SNR chunk); none: "
                                "one sweep unit per test set. The rows do not depend on it")
    sweep_methods_per_unit: Int | None = Field(
        None, ge=1, description="methods (LS, codec links, classical compressors) per sweep "
                                "unit (test set x SNR chunk x method chunk); none: all methods "
                                "in one unit. The rows do not depend on it")

    @model_validator(mode="after")
    def _address_needs_ray(self) -> Execution:
        if self.address is not None and self.executor != "ray":
            raise ValueError("address: only meaningful with executor: ray")
        return self
