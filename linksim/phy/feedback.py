"""The feedback link between the UE encoder and the BS decoder.

A link maps codewords ``z [b, M]`` (float32) to what the BS decoder receives, and counts the bits
sent for every CSI report. It is composed of up to three stages (see docs/feedback.md)::

    analog:   z -> z + n                                    (AWGN at a feedback SNR)
    digital:  z -> quantiser (uniform | mu-law, B bits) -> symbols q
                -> [bit errors on the B-bit words (a BER, or BPSK/QPSK hard decisions at an SNR)]
                -> [entropy coding of q with a symbol model fitted on the training codewords]
                -> dequantiser -> z_hat

Payload per CSI is reported twice: the formula ``N_fb = B M`` (``2 Na Nt eta B`` of ACRNet
eq. 13, ``eta = 1 / CR``), and the bits actually sent (the length of the entropy-coded bytes, or
``B M`` for fixed-length words). ``B = 32`` or ``"off"`` is the ideal float32 link. The quantiser
(:class:`linksim.phy.bits.Quantizer`) and the fixed-length words (:func:`linksim.phy.bits.pack_words`)
are those of :mod:`linksim.phy.bits`, shared with the classical baselines.

Two Keras layers model the link during training: :class:`QuantizeSTE` (quantisation-aware
training with a straight-through gradient) and :class:`FeedbackNoise` (AWGN on the codeword at a
fixed SNR or an SNR drawn per sample from a range).

Conventions:

- Quantiser range ``[lo, hi]``: the min and max of the training codewords (``fit``), or the range
  tracked by :class:`QuantizeSTE` during quantisation-aware training. Entries are clipped to it.
- Feedback SNR of the analog link: per sample, the codeword's mean power ``mean_j z_j^2`` over the
  noise variance (the CLLWCsiNet convention: "noise power" relative to the signal).
- Feedback SNR of the digital link: ``Es/N0`` of one channel symbol. BPSK: bit error probability
  ``Q(sqrt(2 Es/N0))``; Gray-mapped QPSK: ``Q(sqrt(Es/N0))`` per bit. Bits of a quantised symbol
  are its natural binary code; bit errors hit every bit independently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops
from scipy.special import erfc

from linksim.phy.bits import Quantizer, pack_words, unpack_words

FLOAT_BITS = 32
#: Largest quantiser resolution that is entropy coded (alphabet of 2^16 symbols).
MAX_ENTROPY_BITS = 16


# -- bit errors -------------------------------------------------------------------------------
def q_function(x: np.ndarray | float) -> np.ndarray | float:
    """Gaussian tail probability ``Q(x) = erfc(x / sqrt 2) / 2``."""
    return 0.5 * erfc(np.asarray(x, np.float64) / math.sqrt(2.0))


def hard_decision_ber(snr_db: float, modulation: str) -> float:
    """Bit error probability of BPSK or Gray-mapped QPSK with hard decisions at ``Es/N0`` [dB]."""
    snr = 10.0 ** (snr_db / 10.0)
    if modulation == "bpsk":
        return float(q_function(math.sqrt(2.0 * snr)))
    if modulation == "qpsk":
        return float(q_function(math.sqrt(snr)))
    raise ValueError(f"modulation must be 'bpsk' or 'qpsk', got {modulation!r}")


def flip_bits(q: np.ndarray, bits: int, ber: float, rng: np.random.Generator) -> np.ndarray:
    """Flip every bit of the ``bits``-bit words ``q [b, M]`` independently with probability ``ber``.

    Returns the received symbols ``[b, M]`` int64. Draw ``i`` of a word (``rng.random``, shape
    ``[b, M, bits]``) decides the bit of weight ``2^i``.
    """
    if ber <= 0.0:
        return q
    weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    flips = rng.random(q.shape + (bits,)) < ber
    return q ^ (flips.astype(np.int64) @ weights)


# -- entropy coding ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    """One entropy-coded CSI report: ``raw`` flag, payload bytes, and the bits it costs on the
    link (1 flag bit + ``8 len(payload)`` coded, or 1 + ``B M`` raw)."""

    raw: bool
    payload: bytes
    bits: int


class EntropyCoder:
    """Lossless coding of quantised codewords, one message per CSI report.

    A memoryless categorical model over the ``2^B`` symbols is fitted on the training symbols
    (counts + 1, so that unseen symbols stay codable) and shared by UE and BS. Each report is
    coded with asymmetric numeral systems (``constriction.stream.stack.AnsCoder``) into 32-bit
    words. A one-bit flag heads every report: when the coded words would be longer than the
    fixed-length code (``B M`` bits: short codewords, where the ANS state's final words are a
    large overhead, or symbols the model finds unlikely) the report is sent raw instead, so a
    report never costs more than ``B M + 1`` bits. The bits counted are the flag plus the
    payload actually produced (:attr:`Report.bits`).

    Parameters
    ----------
    bits : int
        Quantiser resolution ``B`` (alphabet ``2^B``), at most :data:`MAX_ENTROPY_BITS`.
    """

    def __init__(self, bits: int):
        if not 1 <= bits <= MAX_ENTROPY_BITS:
            raise ValueError(f"entropy coding supports 1..{MAX_ENTROPY_BITS} bits, got {bits}")
        self.bits = int(bits)
        self.probabilities: np.ndarray | None = None
        self._model = None

    def fit(self, q_train: np.ndarray) -> EntropyCoder:
        """Fit the symbol probabilities ``[2^B]`` on training symbols (any shape)."""
        counts = np.bincount(np.ravel(q_train), minlength=2 ** self.bits).astype(np.float64)
        self.probabilities = (counts + 1.0) / (counts.sum() + counts.size)
        self._model = None
        return self

    @property
    def model(self):
        if self.probabilities is None:
            raise RuntimeError("EntropyCoder.fit must be called before use")
        if self._model is None:
            import constriction

            self._model = constriction.stream.model.Categorical(self.probabilities,
                                                                perfect=False)
        return self._model

    def encode(self, q: np.ndarray) -> list[Report]:
        """Symbols ``[b, M]`` -> one :class:`Report` per CSI report (ANS-coded, or raw when that
        is shorter)."""
        import constriction

        q = np.asarray(q, np.int64)
        raw_bits = self.bits * q.shape[-1]
        raw = pack_words(q, self.bits)
        out = []
        for row, raw_row in zip(q.astype(np.int32), raw):
            coder = constriction.stream.stack.AnsCoder()
            coder.encode_reverse(row, self.model)
            coded = coder.get_compressed().tobytes()
            if 8 * len(coded) < raw_bits:
                out.append(Report(False, coded, 1 + 8 * len(coded)))
            else:
                out.append(Report(True, raw_row, 1 + raw_bits))
        return out

    def decode(self, reports: list[Report], codeword_length: int) -> np.ndarray:
        """Reports -> symbols ``[b, M]`` int64 (exactly those encoded)."""
        import constriction

        out = np.empty((len(reports), codeword_length), np.int64)
        for i, rep in enumerate(reports):
            if rep.raw:
                out[i] = unpack_words(rep.payload, self.bits, codeword_length)
            else:
                words = np.frombuffer(rep.payload, np.uint32).copy()
                out[i] = constriction.stream.stack.AnsCoder(words).decode(self.model,
                                                                          codeword_length)
        return out

    def information_bits(self, q: np.ndarray) -> np.ndarray:
        """Ideal code length ``-sum log2 p(q)`` per report, ``[b]`` float64 (for comparison)."""
        return -np.log2(self.probabilities[q]).sum(axis=-1)

    def state(self) -> dict:
        return {"bits": self.bits, "model": "categorical (training counts + 1)",
                "coder": "constriction AnsCoder, 32-bit words; 1 flag bit per report, raw "
                         "B-bit words when shorter"}


# -- the link ---------------------------------------------------------------------------------
class FeedbackLink:
    """A feedback link: ideal, analog AWGN, or digital (quantiser, bit errors, entropy coding).

    Parameters
    ----------
    quantizer : Quantizer or None
        ``None``: the codeword is sent as float32 (ideal or analog).
    awgn_snr_db : float or None
        Analog link: AWGN on the float codeword at this per-sample SNR [dB].
    ber : float
        Bit error probability on the quantised words (digital link).
    entropy_coding : bool
        Entropy-code the quantised symbols (digital link without bit errors).
    feedback_snr_db : float or None
        The feedback SNR of this link point, reported in the results (AWGN, or the SNR that
        set ``ber``).
    label : str or None
        Name in the results; built from the stages when None.
    """

    def __init__(self, quantizer: Quantizer | None = None, awgn_snr_db: float | None = None,
                 ber: float = 0.0, entropy_coding: bool = False,
                 feedback_snr_db: float | None = None, label: str | None = None):
        if quantizer is None and (ber > 0 or entropy_coding):
            raise ValueError("bit errors and entropy coding need a quantiser")
        if quantizer is not None and awgn_snr_db is not None:
            raise ValueError("AWGN is an analog link; it does not combine with a quantiser")
        if not 0.0 <= ber <= 0.5:
            raise ValueError(f"ber must be in [0, 0.5], got {ber}")
        if entropy_coding and ber > 0:
            raise ValueError("entropy coding with bit errors is not modelled (one error "
                             "desynchronises the decoder)")
        self.quantizer = quantizer
        self.awgn_snr_db = awgn_snr_db
        self.ber = float(ber)
        self.entropy = EntropyCoder(quantizer.bits) if entropy_coding else None
        self.feedback_snr_db = feedback_snr_db if feedback_snr_db is not None else awgn_snr_db
        self._label = label

    @property
    def name(self) -> str:
        if self._label:
            return self._label
        if self.quantizer is None:
            return "ideal" if self.awgn_snr_db is None else "awgn"
        q = self.quantizer
        name = f"{q.law}{q.bits}b"
        if self.entropy is not None:
            name += "+ec"
        if self.ber > 0 or self.feedback_snr_db is not None:
            name += "+biterr"
        return name

    @property
    def is_ideal(self) -> bool:
        return self.quantizer is None and self.awgn_snr_db is None

    def fit(self, z_train: np.ndarray, quantizer_range: tuple[float, float] | None = None
            ) -> FeedbackLink:
        """Fit the quantiser range (or take ``quantizer_range``) and the entropy model."""
        if self.quantizer is not None:
            if quantizer_range is None:
                self.quantizer.fit(z_train)
            else:
                self.quantizer.lo, self.quantizer.hi = (float(v) for v in quantizer_range)
            if self.entropy is not None:
                self.entropy.fit(self.quantizer.quantise(z_train))
        return self

    def transmit(self, z: np.ndarray, rng: np.random.Generator | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Send codewords ``z [b, M]``.

        Returns
        -------
        z_rx : [b, M] float32
            What the BS decoder receives.
        bits : [b] float64
            Bits sent per CSI report (measured from the coded bytes under entropy coding).
        """
        z = np.asarray(z, np.float32)
        b, m = z.shape
        if self.quantizer is None:
            bits = np.full(b, float(FLOAT_BITS * m))
            if self.awgn_snr_db is None:
                return z, bits
            if rng is None:
                raise ValueError("an AWGN link needs rng")
            power = np.mean(np.square(z, dtype=np.float64), axis=-1, keepdims=True)
            sigma = np.sqrt(power * 10.0 ** (-self.awgn_snr_db / 10.0))
            return (z + sigma * rng.standard_normal(z.shape)).astype(np.float32), bits
        q = self.quantizer.quantise(z)
        if self.entropy is not None:
            reports = self.entropy.encode(q)
            bits = np.array([float(r.bits) for r in reports])
            q = self.entropy.decode(reports, m)
        else:
            bits = np.full(b, float(self.quantizer.bits * m))
        if self.ber > 0:
            if rng is None:
                raise ValueError("a link with bit errors needs rng")
            q = flip_bits(q, self.quantizer.bits, self.ber, rng)
        return self.quantizer.dequantise(q), bits

    def payload_bits(self, codeword_length: int) -> int:
        """Formula payload per CSI report: ``B M`` (``32 M`` for float codewords)."""
        per_entry = FLOAT_BITS if self.quantizer is None else self.quantizer.bits
        return per_entry * codeword_length

    def state(self) -> dict:
        out = {"name": self.name, "kind": ("digital" if self.quantizer is not None
                                           else "ideal" if self.is_ideal else "awgn")}
        if self.quantizer is not None:
            out["quantizer"] = self.quantizer.state()
            out["ber"] = self.ber
            out["entropy_coding"] = None if self.entropy is None else self.entropy.state()
        if self.feedback_snr_db is not None:
            out["feedback_snr_db"] = self.feedback_snr_db
        return out


def link_points(spec) -> list[float | None]:
    """The feedback SNRs [dB] a scenario link spec is evaluated at (``[None]`` if no SNR)."""
    snrs = getattr(spec, "snr_db", None)
    return [None] if not snrs else [float(s) for s in snrs]


def feedback_matches(train_spec, spec) -> bool:
    """Whether a scenario link ``spec`` is the link a codec trained with ``train_spec`` expects:
    the same quantiser law and bits, AWGN for AWGN training, the float link for ideal training."""
    if train_spec.kind == "ideal":
        return spec.kind == "ideal" or (spec.kind in ("uniform", "mulaw")
                                        and spec.bits in ("off", FLOAT_BITS))
    if train_spec.kind == "awgn":
        return spec.kind == "awgn"
    return (spec.kind == train_spec.kind and spec.bits == train_spec.bits
            and (spec.kind == "uniform" or spec.mu == train_spec.mu))


def make_link(spec, feedback_snr_db: float | None = None) -> FeedbackLink:
    """Build one link point from a scenario ``feedback`` entry (see linksim.scenario)."""
    if spec.kind == "ideal":
        return FeedbackLink()
    if spec.kind == "awgn":
        return FeedbackLink(awgn_snr_db=feedback_snr_db)
    if spec.bits == "off" or spec.bits == FLOAT_BITS:
        return FeedbackLink(label="float32 (bits off)")
    quantizer = Quantizer(spec.bits, law=spec.kind, mu=getattr(spec, "mu", 255.0))
    ber = spec.ber or 0.0
    if feedback_snr_db is not None:
        ber = hard_decision_ber(feedback_snr_db, spec.modulation)
    return FeedbackLink(quantizer, ber=ber, entropy_coding=spec.entropy_coding,
                        feedback_snr_db=feedback_snr_db)


# -- training-time layers -----------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="linksim")
class QuantizeSTE(keras.layers.Layer):
    """Fake quantisation of the codeword for quantisation-aware training.

    Forward: ``z -> dequantise(quantise(z))`` of a :class:`Quantizer` (uniform or mu-law, B
    bits) whose range ``[lo, hi]`` tracks the batch min and max by an exponential moving average
    in training (momentum ``momentum``; the first batch sets it). Backward: the straight-through
    estimator, ``dL/dz = dL/dz_hat`` inside the range and 0 where the entry was clipped.

    Parameters
    ----------
    bits : int
    law : {"uniform", "mulaw"}
    mu : float
    momentum : float
        EMA momentum of the range per training step.
    """

    def __init__(self, bits: int, law: str = "uniform", mu: float = 255.0,
                 momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        Quantizer(bits, law, mu)  # validates
        self.bits, self.law, self.mu, self.momentum = int(bits), law, float(mu), float(momentum)
        self.lo = self.add_weight(shape=(), initializer="zeros", trainable=False, name="lo")
        self.hi = self.add_weight(shape=(), initializer="ones", trainable=False, name="hi")
        self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

    def _fake_quant(self, z, lo, hi):
        levels = float(2 ** self.bits)
        u = ops.clip((z - lo) / (hi - lo), 0.0, 1.0)
        log_mu = math.log1p(self.mu)
        if self.law == "mulaw":
            s = 2.0 * u - 1.0
            u = 0.5 * (ops.sign(s) * ops.log1p(self.mu * ops.abs(s)) / log_mu + 1.0)
        k = ops.minimum(ops.floor(u * levels), levels - 1.0)
        if self.law == "mulaw":
            def edge(j):
                s = 2.0 * j / levels - 1.0
                return 0.5 * (ops.sign(s) * ops.expm1(ops.abs(s) * log_mu) / self.mu + 1.0)

            v = 0.5 * (edge(k) + edge(k + 1.0))
        else:
            v = (k + 0.5) / levels
        return lo + v * (hi - lo)

    def call(self, z, training=False):
        """``[b, M]`` codewords -> fake-quantised codewords ``[b, M]``."""
        if training:
            zmin, zmax = ops.stop_gradient(ops.min(z)), ops.stop_gradient(ops.max(z))
            first = ops.equal(self.seen, 0.0)
            m = self.momentum
            self.lo.assign(ops.where(first, zmin, m * self.lo + (1.0 - m) * zmin))
            self.hi.assign(ops.where(first, zmax, m * self.hi + (1.0 - m) * zmax))
            self.seen.assign(self.seen + 1.0)
        lo = ops.convert_to_tensor(self.lo)
        hi = ops.maximum(ops.convert_to_tensor(self.hi), lo + 1e-6)
        zq = self._fake_quant(z, lo, hi)
        inside = ops.cast(ops.logical_and(z >= lo, z <= hi), z.dtype)
        return inside * (z + ops.stop_gradient(zq - z)) + (1.0 - inside) * ops.stop_gradient(zq)

    def compute_output_shape(self, input_shape):
        return input_shape

    def quantizer_range(self) -> tuple[float, float]:
        """The trained range ``(lo, hi)``, to set the evaluation quantiser to."""
        lo = float(keras.ops.convert_to_numpy(self.lo))
        return lo, max(float(keras.ops.convert_to_numpy(self.hi)), lo + 1e-6)

    def get_config(self):
        return {**super().get_config(), "bits": self.bits, "law": self.law, "mu": self.mu,
                "momentum": self.momentum}


@keras.saving.register_keras_serializable(package="linksim")
class FeedbackNoise(keras.layers.Layer):
    """AWGN on the codeword in training: ``z + sigma n`` with a per-sample SNR.

    ``sigma^2 = mean_j z_j^2 / 10^(snr / 10)`` per sample (no gradient through ``sigma``); the SNR
    [dB] is ``snr_db_min`` when the range is a point, else drawn per sample uniformly in
    ``[snr_db_min, snr_db_max]``. Identity outside training.
    """

    def __init__(self, snr_db_min: float, snr_db_max: float | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.snr_db_min = float(snr_db_min)
        self.snr_db_max = float(snr_db_min if snr_db_max is None else snr_db_max)
        if self.snr_db_max < self.snr_db_min:
            raise ValueError("snr_db_max must be >= snr_db_min")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, z, training=False):
        if not training:
            return z
        b = ops.shape(z)[0]
        snr_db = keras.random.uniform((b, 1), self.snr_db_min, self.snr_db_max,
                                      seed=self.seed_generator)
        power = ops.stop_gradient(ops.mean(ops.square(z), axis=-1, keepdims=True))
        sigma = ops.sqrt(power * ops.power(10.0, -snr_db / 10.0))
        return z + sigma * keras.random.normal(ops.shape(z), seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "snr_db_min": self.snr_db_min,
                "snr_db_max": self.snr_db_max, "seed": self.seed}


def training_link(spec, seed: int | None = None) -> keras.layers.Layer | None:
    """The Keras layer modelling a scenario's ``training.feedback`` (None: ideal)."""
    if spec is None or spec.kind == "ideal":
        return None
    if spec.kind == "awgn":
        lo, hi = (spec.snr_db, spec.snr_db) if spec.snr_db is not None else spec.snr_db_range
        seed = None if seed is None else seed % 2**31  # Keras seeds are int32
        return FeedbackNoise(lo, hi, seed=seed, name="feedback_noise")
    return QuantizeSTE(spec.bits, law=spec.kind, mu=spec.mu, name="feedback_quantizer")
