"""Classical CSI compressors at a given payload in bits: the baselines of the neural codecs.

Three schemes, each a UE encoder that turns a CSI into a report of integer symbols, a fixed bit
layout for that report, and a BS decoder:

- :class:`TopK` keeps the ``K`` largest coefficients of the truncated angular-delay CSI
  ``h_ad [b, Na, Nt]``; values quantised in polar (amplitude, phase) or cartesian (re, im) form.
- :class:`PCA` projects the unit-norm CSI on the leading eigenvectors of the training set's
  (complex) correlation matrix, the Karhunen-Loeve transform, and quantises the coefficients with
  bits allocated by reverse water-filling.
- :class:`DFTCodebook` works in space-frequency ``h [b, Nc, Nt]``: ``L`` strongest orthogonal
  beams of an oversampled DFT grid (single-polarised ULA), chosen wideband, with quantised
  wideband amplitude and per-subband amplitude and phase, in the spirit of 3GPP Rel-15 Type II.

Every report starts with one float32 scale (32 bits) so that the BS rebuilds the channel itself,
not only its direction (NMSE needs it; the power-normalised neural codecs send the same 32 bits).
The bits are counted exactly: :meth:`Baseline.report_bits` counts the fields of a report, and
:meth:`Baseline.to_bits` / :meth:`Baseline.from_bits` build and parse the actual bitstream
(``compress(h, via_bits=True)`` goes through it, so the count is measured). Bit layouts and
formulas are in docs/baselines.md. Index sets are sent with the combinatorial number system,
``ceil(log2 C(N, K))`` bits for ``K`` of ``N`` positions (3GPP's combinatorial beam indicator).

The transforms follow :mod:`linksim.transforms`: an antenna phase progression
``exp(+j 2 pi n a / Nt)`` is angle bin ``a``, and the BS receives ``h_k^H w`` for beam ``w``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from functools import cache

import numpy as np
import scipy.fft
import scipy.optimize
import scipy.special

from linksim.errors import LinksimInputError
from linksim.precoding import subband_blocks, subband_sizes
from linksim.transforms import abs2

#: Bits of the float32 scale every report starts with.
SCALE_BITS = 32
#: 3 dB power steps in amplitude, the 3GPP Type II amplitude alphabet ``{1, sqrt(1/2), ...}``.
TYPE2_AMP_STEP_DB = 10.0 * math.log10(2.0)


# -- bit accounting ----------------------------------------------------------------------------
def index_bits(n: int) -> int:
    """Bits of one index in ``0 .. n-1``: ``ceil(log2 n)``."""
    return (n - 1).bit_length()


def combinatorial_bits(n: int, k: int) -> int:
    """Bits to send a ``k``-subset of ``n`` positions: ``ceil(log2 C(n, k))`` (0 if one subset)."""
    return (math.comb(n, k) - 1).bit_length()


def subset_rank(idx: np.ndarray) -> list[int]:
    """Rank of each row's subset in the combinatorial number system.

    Parameters
    ----------
    idx : [b, k] int
        Strictly increasing positions ``c_0 < ... < c_{k-1}`` per row.

    Returns
    -------
    list of b int
        ``r = sum_i C(c_i, i + 1)``, a bijection onto ``0 .. C(n, k) - 1`` (Python ints: they
        exceed 64 bits for large ``n``).
    """
    return [sum(math.comb(int(c), i + 1) for i, c in enumerate(row)) for row in idx]


def subset_unrank(ranks: list[int], n: int, k: int) -> np.ndarray:
    """Inverse of :func:`subset_rank`: ``b`` ranks -> ``[b, k]`` increasing positions in ``0..n-1``."""
    out = np.empty((len(ranks), k), np.int64)
    for row, r in enumerate(ranks):
        c = n - 1
        for i in range(k, 0, -1):  # largest c with C(c, i) <= r, scanning c downwards
            v = math.comb(c, i)
            while v > r:
                v = v * (c - i) // c  # C(c - 1, i)
                c -= 1
            out[row, i - 1] = c
            r -= v
            c -= 1
    return out


def uint_to_bits(x: np.ndarray, width: int) -> np.ndarray:
    """``[b, n]`` unsigned integers -> ``[b, n * width]`` bits (most significant first), uint8."""
    if width == 0:
        return np.zeros((x.shape[0], 0), np.uint8)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    bits = (x.astype(np.uint64)[..., None] >> shifts) & np.uint64(1)
    return bits.reshape(x.shape[0], -1).astype(np.uint8)


def bits_to_uint(bits: np.ndarray, width: int) -> np.ndarray:
    """Inverse of :func:`uint_to_bits`: ``[b, n * width]`` bits -> ``[b, n]`` int64."""
    if width == 0:
        return np.zeros((bits.shape[0], 0), np.int64)
    weights = np.uint64(1) << np.arange(width - 1, -1, -1, dtype=np.uint64)
    return (bits.reshape(bits.shape[0], -1, width).astype(np.uint64) * weights).sum(-1).astype(
        np.int64)


def float32_to_bits(x: np.ndarray) -> np.ndarray:
    """``[b]`` float -> ``[b, 32]`` bits of its float32 representation."""
    return uint_to_bits(np.ascontiguousarray(x, np.float32).view(np.uint32)[:, None], 32)


def bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """``[b, 32]`` bits -> ``[b]`` float32 (exact inverse of :func:`float32_to_bits`)."""
    return bits_to_uint(bits, 32)[:, 0].astype(np.uint32).view(np.float32)


def int_to_bits(r: int, width: int) -> np.ndarray:
    """One non-negative Python int -> ``[width]`` bits, most significant first."""
    if width == 0:
        return np.zeros(0, np.uint8)
    return np.frombuffer(format(r, f"0{width}b").encode(), np.uint8) - ord("0")


def bits_to_int(bits: np.ndarray) -> int:
    """Inverse of :func:`int_to_bits`."""
    return int("".join(map(str, bits.tolist())), 2) if bits.size else 0


class _Reader:
    """Reads consecutive fields from equal-length bitstreams ``[b, n]``."""

    def __init__(self, bits: np.ndarray):
        self.bits, self.pos = bits, 0

    def take(self, n: int) -> np.ndarray:
        out = self.bits[:, self.pos:self.pos + n]
        if out.shape[1] != n:
            raise LinksimInputError("bitstream: shorter than the report layout")
        self.pos += n
        return out

    def uint(self, count: int, width: int) -> np.ndarray:
        return bits_to_uint(self.take(count * width), width)

    def float32(self) -> np.ndarray:
        return bits_to_float32(self.take(32))

    def subset(self, n: int, k: int) -> np.ndarray:
        field = self.take(combinatorial_bits(n, k))
        return subset_unrank([bits_to_int(row) for row in field], n, k)


def _stack(stream: list[np.ndarray], name: str) -> np.ndarray:
    lengths = {s.size for s in stream}
    if len(lengths) != 1:
        raise LinksimInputError(f"{name}: reports of a fixed-length scheme differ in length")
    return np.stack(stream)


# -- scalar quantisers -------------------------------------------------------------------------
def quantise_uniform(x: np.ndarray, bits, lo, hi) -> np.ndarray:
    """Uniform midrise quantiser on ``[lo, hi]`` with ``2^bits`` cells; clips outside.

    ``bits``, ``lo``, ``hi`` broadcast against ``x``. Returns cell indices (int64).
    """
    levels = np.left_shift(1, np.asarray(bits, np.int64))
    width = np.asarray(hi, np.float64) - np.asarray(lo, np.float64)
    u = (x - lo) / np.where(width > 0, width, 1.0)
    return np.clip(np.floor(u * levels), 0, levels - 1).astype(np.int64)


def dequantise_uniform(q: np.ndarray, bits, lo, hi) -> np.ndarray:
    """Cell centres ``lo + (q + 1/2)(hi - lo) / 2^bits`` of :func:`quantise_uniform`."""
    levels = np.left_shift(1, np.asarray(bits, np.int64))
    return lo + (q + 0.5) * ((np.asarray(hi) - lo) / levels)


def quantise_phase(phase: np.ndarray, bits: int) -> np.ndarray:
    """Nearest point of the ``2^bits``-PSK alphabet ``2 pi q / 2^bits`` (radians in, int64 out)."""
    levels = 1 << bits
    return np.round(phase * (levels / (2 * np.pi))).astype(np.int64) % levels


def dequantise_phase(q: np.ndarray, bits: int) -> np.ndarray:
    """Phase ``2 pi q / 2^bits`` [rad] of :func:`quantise_phase`."""
    return q * (2 * np.pi / (1 << bits))


def amplitude_levels_db(bits: int, step_db: float, with_zero: bool) -> np.ndarray:
    """Amplitude alphabet ``10^(-i step_db / 20)``, ``i = 0, 1, ...``, largest first.

    With ``with_zero`` the last of the ``2^bits`` levels is 0 (3GPP's wideband amplitude has
    ``{1, sqrt(1/2), ..., sqrt(1/64), 0}`` for 3 bits and 3 dB steps).
    """
    n = 1 << bits
    levels = 10.0 ** (-np.arange(n) * step_db / 20.0)
    if with_zero:
        levels[-1] = 0.0
    return levels


def quantise_to_levels(u: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest (in linear amplitude, i.e. MSE) level of a descending alphabet."""
    asc = levels[::-1]
    mid = 0.5 * (asc[1:] + asc[:-1])
    return (len(levels) - 1 - np.searchsorted(mid, u)).astype(np.int64)


def quantise_midtread(x: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric midtread quantiser on [-1, 1]: ``2^bits - 1`` levels ``j / (2^(bits-1) - 1)``,
    ``|j| <= 2^(bits-1) - 1`` (0 included; code ``2^bits - 1`` unused); clips. Returns
    ``j + 2^(bits-1) - 1`` (int64, ``bits >= 2``)."""
    half = (1 << (bits - 1)) - 1
    return (np.clip(np.round(x * half), -half, half) + half).astype(np.int64)


def dequantise_midtread(q: np.ndarray, bits: int) -> np.ndarray:
    """Levels of :func:`quantise_midtread`."""
    half = (1 << (bits - 1)) - 1
    return (q - half) / half


@cache
def gaussian_uniform_quantiser(bits: int) -> tuple[float, float]:
    """MSE-optimal step of a ``2^bits``-cell uniform midrise quantiser for ``N(0, 1)``.

    Returns
    -------
    step : float
        Cell width (Max 1960: 1.596, 0.996, 0.586, 0.335 for 1 to 4 bits).
    mse : float
        Its mean squared error (0.3634, 0.1188, 0.0374, 0.0115 for 1 to 4 bits), computed in
        closed form per cell: ``int_a^b (x - c)^2 phi = [Phi - x phi]_a^b + 2 c [phi]_a^b +
        c^2 [Phi]_a^b``.
    """
    n = 1 << bits

    def mse(step: float) -> float:
        edges = (np.arange(n + 1) - n / 2) * step
        centres = 0.5 * (edges[1:] + edges[:-1])
        edges[0], edges[-1] = -np.inf, np.inf
        cdf = scipy.special.ndtr(edges)
        pdf = np.exp(-0.5 * np.nan_to_num(edges, posinf=60.0, neginf=-60.0) ** 2) / np.sqrt(
            2 * np.pi)
        xpdf = np.where(np.isfinite(edges), edges, 0.0) * pdf
        second = np.diff(cdf - xpdf)
        first = -np.diff(pdf)
        return float(np.sum(second - 2 * centres * first + centres ** 2 * np.diff(cdf)))

    res = scipy.optimize.minimize_scalar(mse, bounds=(0.5 / n, 16.0 / n), method="bounded",
                                         options={"xatol": 1e-6 / n})
    return float(res.x), float(res.fun)


# -- common interface --------------------------------------------------------------------------
class Baseline(ABC):
    """A classical compressor: UE ``encode`` -> report -> bits -> BS ``decode``.

    Attributes
    ----------
    name : str
        Label in results tables.
    domain : str
        ``"angular_delay"``: input and output are truncated angular-delay ``[b, Na, Nt]``;
        ``"space_frequency"``: ``[b, Nc, Nt]``.
    """

    name: str = "baseline"
    domain: str = "angular_delay"

    def fit(self, h_train: np.ndarray) -> Baseline:
        """Learn from training CSI (same domain as :meth:`compress`); no-op by default."""
        return self

    @property
    @abstractmethod
    def payload_bits(self) -> int:
        """Bits of the largest report (every report for the fixed-length schemes)."""

    @abstractmethod
    def encode(self, h: np.ndarray) -> dict[str, np.ndarray]:
        """UE side: CSI batch -> report (integer symbols and the float32 scale)."""

    @abstractmethod
    def decode(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """BS side: report -> reconstructed CSI batch (complex64)."""

    @abstractmethod
    def report_bits(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Bits of each report, counted field by field: ``[b]`` int64."""

    @abstractmethod
    def to_bits(self, report: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The bitstream of each report: ``b`` arrays of 0/1 (uint8)."""

    @abstractmethod
    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Parse bitstreams back to the report; exact inverse of :meth:`to_bits`."""

    def describe(self) -> dict:
        """Settings for a manifest."""
        return {"name": self.name, "payload_bits": self.payload_bits}

    def compress(self, h: np.ndarray, via_bits: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Encode, send and decode a batch.

        Parameters
        ----------
        h : complex array, shape per :attr:`domain`
            CSI at the UE.
        via_bits : bool
            Build the bitstream, parse it back and decode from it; ``bits_used`` is then the
            measured bitstream length. Slower (Python loops over the combinatorial indices);
            the default counts the same bits field by field.

        Returns
        -------
        h_hat : complex64, same shape as ``h``
            CSI rebuilt at the BS.
        bits_used : [b] int64
            Bits of each report.
        """
        report = self.encode(h)
        if via_bits:
            stream = self.to_bits(report)
            bits_used = np.array([s.size for s in stream], np.int64)
            report = self.from_bits(stream)
        else:
            bits_used = self.report_bits(report)
        return self.decode(report), bits_used


def _check_csi(h: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    if h.ndim != 3 or tuple(h.shape[1:]) != tuple(shape):
        raise LinksimInputError(f"{what}: expected CSI of shape [b, {shape[0]}, {shape[1]}], "
                                f"got {list(h.shape)}")
    return h


def _check_bits(name: str, value: int, lo: int, hi: int = 24) -> int:
    if not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise LinksimInputError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    return int(value)


# -- top-K in angular-delay --------------------------------------------------------------------
class TopK(Baseline):
    """The ``K`` largest angular-delay coefficients, positions and quantised values.

    Report: scale (float32), the position set (``ceil(log2 C(Na Nt, K))`` bits, combinatorial,
    or ``K ceil(log2(Na Nt))`` bits, one index each), and per kept coefficient, in increasing
    position order,

    - ``value_format="polar"``: amplitude relative to the largest kept one (the scale) on
      ``A`` bits, levels ``10^(-i amp_step_db / 20)`` for ``i = 0 .. 2^A - 2`` and 0; phase on
      ``2^P``-PSK;
    - ``value_format="cartesian"``: real and imaginary parts on ``A`` and ``P`` bits, each a
      symmetric midtread quantiser with ``2^B - 1`` levels ``j s / (2^(B-1) - 1)`` (0 included,
      one code unused); scale ``s`` = the largest kept ``|Re|`` or ``|Im|``.

    Both alphabets hold 0, so a kept coefficient never costs more error than dropping it would
    (a midrise alphabet without 0 lifts every small coefficient to the first level, which on
    sparse channels makes NMSE *grow* with ``K``). ``payload_bits = 32 + index bits + K (A + P)``.

    Parameters
    ----------
    k : int
        Kept coefficients, ``1 .. Na Nt``.
    shape : (Na, Nt)
        Truncated angular-delay shape.
    value_format : {"polar", "cartesian"}
    value_bits : (int, int)
        ``(A, P)``: amplitude and phase bits (polar, ``A >= 1``, ``P >= 1``) or real and
        imaginary bits (cartesian, each ``>= 2``).
    amp_step_db : float
        Amplitude step of the polar alphabet [dB].
    index_coding : {"combinatorial", "fixed"}
    """

    name = "topk"
    domain = "angular_delay"
    #: Settings :meth:`for_payload` tries on training data: (A, P) pairs and amplitude steps.
    TUNING_VALUE_BITS = tuple((a, p) for a in range(2, 11) for p in (a, a + 1))
    TUNING_STEPS_DB = (0.125, 0.25, 0.5, 1.0, 2.0, 3.0)

    def __init__(self, k: int, shape: tuple[int, int], value_format: str = "polar",
                 value_bits: tuple[int, int] = (4, 5), amp_step_db: float = 1.5,
                 index_coding: str = "combinatorial"):
        self.shape = (int(shape[0]), int(shape[1]))
        self.n = self.shape[0] * self.shape[1]
        if not isinstance(k, int | np.integer) or not 1 <= k <= self.n:
            raise LinksimInputError(f"topk: k must be an integer in 1..{self.n}, got {k!r}")
        if value_format not in ("polar", "cartesian"):
            raise LinksimInputError(
                f"topk: value_format must be 'polar' or 'cartesian', got {value_format!r}")
        if index_coding not in ("combinatorial", "fixed"):
            raise LinksimInputError(
                f"topk: index_coding must be 'combinatorial' or 'fixed', got {index_coding!r}")
        if len(value_bits) != 2:
            raise LinksimInputError(f"topk: value_bits must be a pair, got {value_bits!r}")
        if not (isinstance(amp_step_db, int | float) and amp_step_db > 0):
            raise LinksimInputError(f"topk: amp_step_db must be > 0, got {amp_step_db!r}")
        lo = 1 if value_format == "polar" else 2
        self.k = int(k)
        self.value_format = value_format
        self.value_bits = (_check_bits("topk: value_bits[0]", value_bits[0], lo),
                           _check_bits("topk: value_bits[1]", value_bits[1], lo))
        self.amp_step_db = float(amp_step_db)
        self.index_coding = index_coding
        self.amp_levels = amplitude_levels_db(self.value_bits[0], self.amp_step_db, True)

    @property
    def index_bits(self) -> int:
        """Bits of the position set."""
        if self.index_coding == "combinatorial":
            return combinatorial_bits(self.n, self.k)
        return self.k * index_bits(self.n)

    @property
    def payload_bits(self) -> int:
        return SCALE_BITS + self.index_bits + self.k * sum(self.value_bits)

    @classmethod
    def for_payload(cls, bits: int, shape: tuple[int, int], h_train: np.ndarray | None = None,
                    **options) -> TopK:
        """The largest ``K`` whose report fits in ``bits``.

        With ``h_train [N, Na, Nt]`` (and ``value_bits`` / ``amp_step_db`` not given) the value
        bits and amplitude step are chosen too: every pair of :attr:`TUNING_VALUE_BITS` (and,
        for polar values, every step of :attr:`TUNING_STEPS_DB`) with its largest ``K``, keeping
        the one of lowest NMSE on ``h_train``. Else the given settings are used.
        """
        n = int(shape[0]) * int(shape[1])
        if h_train is not None:
            grid_bits = ([options.pop("value_bits")] if "value_bits" in options
                         else cls.TUNING_VALUE_BITS)
            polar = options.get("value_format", "polar") == "polar"
            grid_steps = ([options.pop("amp_step_db")] if "amp_step_db" in options
                          else cls.TUNING_STEPS_DB if polar else [1.0])
            best, best_err = None, np.inf
            for vb in grid_bits:
                for step in grid_steps:
                    try:
                        cand = cls.for_payload(bits, shape, value_bits=vb, amp_step_db=step,
                                               **options)
                    except LinksimInputError:
                        continue
                    h_hat, _ = cand.compress(h_train)
                    err = float(np.mean(np.sum(abs2(h_train - h_hat), axis=(1, 2))
                                        / np.sum(abs2(h_train), axis=(1, 2))))
                    if err < best_err:
                        best, best_err = cand, err
            if best is None:
                raise LinksimInputError(f"topk: payload of {bits} bits is below one coefficient")
            return best
        def payload(k: int) -> int:
            return cls(k, shape, **options).payload_bits

        # payload(K) rises, then falls towards payload(N) as C(N, K) shrinks: if payload(N)
        # does not fit, the K that fit form a prefix 1 .. K_max (bisection)
        if payload(n) <= bits:
            return cls(n, shape, **options)
        if payload(1) > bits:
            raise LinksimInputError(f"topk: payload of {bits} bits is below one coefficient "
                                    f"({payload(1)} bits)")
        lo, hi = 1, n  # payload(lo) fits, payload(hi) does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if payload(mid) <= bits else (lo, mid)
        return cls(lo, shape, **options)

    def describe(self) -> dict:
        return {**super().describe(), "k": self.k, "value_format": self.value_format,
                "value_bits": list(self.value_bits), "amp_step_db": self.amp_step_db,
                "index_coding": self.index_coding}

    def encode(self, h_ad: np.ndarray) -> dict[str, np.ndarray]:
        """``[b, Na, Nt]`` -> report ``{scale [b], idx [b, K], q1 [b, K], q2 [b, K]}``."""
        x = _check_csi(h_ad, self.shape, "topk").reshape(h_ad.shape[0], self.n)
        if self.k < self.n:
            idx = np.argpartition(-abs2(x), self.k - 1, axis=1)[:, :self.k]
            idx.sort(axis=1)
        else:
            idx = np.broadcast_to(np.arange(self.n), x.shape).copy()
        v = np.take_along_axis(x, idx, axis=1)
        a_bits, p_bits = self.value_bits
        if self.value_format == "polar":
            amp = np.abs(v)
            scale = amp.max(axis=1).astype(np.float32)
            q1 = quantise_to_levels(amp / np.where(scale > 0, scale, 1.0)[:, None],
                                    self.amp_levels)
            q2 = quantise_phase(np.angle(v), p_bits)
        else:
            scale = np.maximum(np.abs(v.real), np.abs(v.imag)).max(axis=1).astype(np.float32)
            s = np.where(scale > 0, scale, 1.0)[:, None]
            q1 = quantise_midtread(v.real / s, a_bits)
            q2 = quantise_midtread(v.imag / s, p_bits)
        return {"scale": scale, "idx": idx, "q1": q1, "q2": q2}

    def decode(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Report -> ``[b, Na, Nt]`` complex64, zeros outside the kept positions."""
        a_bits, p_bits = self.value_bits
        s = report["scale"].astype(np.float64)[:, None]
        if self.value_format == "polar":
            v = (self.amp_levels[report["q1"]] * s
                 * np.exp(1j * dequantise_phase(report["q2"], p_bits)))
        else:
            v = s * (dequantise_midtread(report["q1"], a_bits)
                     + 1j * dequantise_midtread(report["q2"], p_bits))
        b = s.shape[0]
        out = np.zeros((b, self.n), np.complex64)
        np.put_along_axis(out, report["idx"], v.astype(np.complex64), axis=1)
        return out.reshape(b, *self.shape)

    def report_bits(self, report: dict[str, np.ndarray]) -> np.ndarray:
        b = report["scale"].shape[0]
        return np.full(b, SCALE_BITS + self.index_bits + report["q1"].shape[1] * sum(
            self.value_bits), np.int64)

    def to_bits(self, report: dict[str, np.ndarray]) -> list[np.ndarray]:
        a_bits, p_bits = self.value_bits
        if self.index_coding == "combinatorial":
            w = combinatorial_bits(self.n, self.k)
            pos = np.stack([int_to_bits(r, w) for r in subset_rank(report["idx"])]) if w else \
                np.zeros((len(report["idx"]), 0), np.uint8)
        else:
            pos = uint_to_bits(report["idx"], index_bits(self.n))
        values = np.concatenate([uint_to_bits(report["q1"], a_bits),
                                 uint_to_bits(report["q2"], p_bits)], axis=1)
        return list(np.concatenate([float32_to_bits(report["scale"]), pos, values], axis=1))

    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        rd = _Reader(_stack(stream, "topk"))
        scale = rd.float32()
        if self.index_coding == "combinatorial":
            idx = rd.subset(self.n, self.k)
        else:
            idx = rd.uint(self.k, index_bits(self.n))
        q1 = rd.uint(self.k, self.value_bits[0])
        q2 = rd.uint(self.k, self.value_bits[1])
        return {"scale": scale, "idx": idx, "q1": q1, "q2": q2}


# -- PCA / KLT ---------------------------------------------------------------------------------
def allocate_bits(eigenvalues: np.ndarray, budget: int, max_bits: int) -> np.ndarray:
    """Reverse water-filling in integer bits over complex KLT components.

    Each component's real and imaginary parts (variance ``lambda_j / 2`` each) get the same
    ``b_j`` bits, so one step costs 2 bits. The distortion model is the Gaussian optimal uniform
    quantiser, ``D_j(b) = lambda_j d(b)`` with ``d`` from :func:`gaussian_uniform_quantiser`;
    since ``d`` is convex the greedy choice of the largest marginal gains is optimal.

    Parameters
    ----------
    eigenvalues : [D] float
        Descending component variances ``lambda_j = E|c_j|^2``.
    budget : int
        Bits for the coefficients.
    max_bits : int
        Most bits per real value.

    Returns
    -------
    [D] int64
        ``b_j``, non-increasing in ``j``.
    """
    d = np.array([1.0] + [gaussian_uniform_quantiser(b)[1] for b in range(1, max_bits + 1)])
    gains = np.asarray(eigenvalues, np.float64)[:, None] * (d[:-1] - d[1:])[None, :]
    steps = min(budget // 2, gains.size)
    alloc = np.zeros(gains.shape[0], np.int64)
    if steps > 0:
        best = np.argpartition(-gains.ravel(), steps - 1)[:steps]
        np.add.at(alloc, best // max_bits, 1)
    return alloc


class PCA(Baseline):
    """Karhunen-Loeve transform of the unit-norm CSI, fitted on the training set.

    The CSI ``h_ad [b, Na, Nt]`` is flattened to ``x`` in ``C^D`` (``D = Na Nt``) and divided
    by its norm (sent as the float32 scale). The basis is the eigenvectors of the *complex*
    correlation ``R = E[x x^H]`` of the unit-norm training vectors (no mean removed: the channels
    have random phases, mean ~0). Coefficients ``c = U^H x`` of the kept components: real and
    imaginary parts uniform-quantised (midrise) with ``b_j`` bits each on ``[-r_j, r_j]``, or
    sent as float32 (``coeff_bits=None``). ``r_j`` starts from the Gaussian optimal uniform
    quantiser for variance ``lambda_j / 2``, scaled by the factor of :attr:`LOADING_FACTORS`
    (0.5 to 8) of least error on the training coefficients (one factor per bit depth).
    ``payload_bits = 32 + 2 sum_j b_j``.

    Parameters
    ----------
    n_components : int or None
        Kept components (all ``D`` if None). Ignored with ``budget_bits``.
    coeff_bits : int or None
        Bits per real value (1..16), the same for every component; None sends float32.
    budget_bits : int or None
        Fit picks components and per-component bits (:func:`allocate_bits`) for this payload.
    max_coeff_bits : int
        Cap per real value with ``budget_bits``.
    """

    name = "pca"
    domain = "angular_delay"
    #: Multiples of the Gaussian half range tried per component at fit time.
    LOADING_FACTORS = tuple(2.0 ** (np.arange(-4, 13) / 4))
    #: Training samples used to fit the quantiser ranges.
    RANGE_FIT_SAMPLES = 5000

    def __init__(self, n_components: int | None = None, coeff_bits: int | None = None,
                 budget_bits: int | None = None, max_coeff_bits: int = 16):
        if coeff_bits is not None:
            _check_bits("pca: coeff_bits", coeff_bits, 1, 16)
        if budget_bits is not None and (not isinstance(budget_bits, int | np.integer)
                                        or budget_bits <= SCALE_BITS + 2):
            raise LinksimInputError(f"pca: budget_bits must exceed {SCALE_BITS + 2}, "
                                    f"got {budget_bits!r}")
        if n_components is not None and (not isinstance(n_components, int | np.integer)
                                         or n_components < 1):
            raise LinksimInputError(f"pca: n_components must be a positive integer, "
                                    f"got {n_components!r}")
        self.n_components = n_components
        self.coeff_bits = coeff_bits
        self.budget_bits = budget_bits
        self.max_coeff_bits = _check_bits("pca: max_coeff_bits", max_coeff_bits, 1, 16)
        self.basis: np.ndarray | None = None
        self.eigenvalues: np.ndarray | None = None
        self.bits: np.ndarray | None = None  # [n] per component, 0 = float32

    @classmethod
    def for_payload(cls, bits: int, fixed_bits: int | None = None, **options) -> PCA:
        """A PCA whose fit allocates ``bits`` (see :func:`allocate_bits`); with ``fixed_bits``
        (1..16, or 32 for float32) instead the most components that fit at that many bits per
        real value each, ``n = (bits - 32) // (2 fixed_bits)`` (e.g. 16,416 bits at 32: 256
        complex components, the 512 real numbers of a CR 4 codeword), named ``pca_<B>b``
        (``pca_float``) in results."""
        if fixed_bits is None:
            return cls(budget_bits=int(bits), **options)
        fixed_bits = _check_bits("pca: fixed_bits", fixed_bits, 1, 32)
        if 16 < fixed_bits < 32:
            raise LinksimInputError(f"pca: fixed_bits must be 1..16 or 32, got {fixed_bits}")
        n = (int(bits) - SCALE_BITS) // (2 * fixed_bits)
        if n < 1:
            raise LinksimInputError(f"pca: {bits} bits hold no component at {fixed_bits} bits")
        pca = cls(n_components=n, coeff_bits=None if fixed_bits == 32 else fixed_bits,
                  **options)
        pca.name = "pca_float" if fixed_bits == 32 else f"pca_{fixed_bits}b"
        return pca

    @staticmethod
    def klt(h_train: np.ndarray, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition of the unit-norm training correlation ``E[x x^H]``.

        Parameters
        ----------
        h_train : [N, Na, Nt] complex
            Training CSI.

        Returns
        -------
        eigenvalues : [D] float64
            Descending, ``D = Na Nt``; they sum to 1.
        basis : [D, D] complex128
            Eigenvectors as columns, in the same order.
        """
        if h_train.ndim != 3 or h_train.shape[0] < 1:
            raise LinksimInputError(f"pca: training CSI must be [N, Na, Nt], got "
                                    f"{list(h_train.shape)}")
        d = h_train.shape[1] * h_train.shape[2]
        r = np.zeros((d, d), np.complex128)
        for start in range(0, h_train.shape[0], batch_size):
            x = PCA._unit(h_train[start:start + batch_size].reshape(-1, d))[0]
            r += (x.conj().T @ x).astype(np.complex128)
        lam, u = np.linalg.eigh(r / h_train.shape[0])
        return np.clip(lam[::-1], 0.0, None), u[:, ::-1]

    def fit(self, h_train: np.ndarray, klt: tuple[np.ndarray, np.ndarray] | None = None
            ) -> PCA:
        """Fit on ``h_train [N, Na, Nt]``: basis, bit allocation, quantiser ranges.

        ``klt`` reuses :meth:`klt` of the same ``h_train`` (several budgets, one
        decomposition).
        """
        lam, u = self.klt(h_train) if klt is None else klt
        self.shape = tuple(h_train.shape[1:])
        d = self.shape[0] * self.shape[1]
        if lam.shape != (d,) or u.shape != (d, d):
            raise LinksimInputError(f"pca: klt shapes {lam.shape}, {u.shape} do not match "
                                    f"D = {d}")
        if self.budget_bits is not None:
            alloc = allocate_bits(lam, self.budget_bits - SCALE_BITS, self.max_coeff_bits)
            n = max(int(np.count_nonzero(alloc)), 1)
            self.bits = np.maximum(alloc[:n], 1)
        else:
            n = d if self.n_components is None else min(self.n_components, d)
            self.bits = np.full(n, 0 if self.coeff_bits is None else self.coeff_bits, np.int64)
        self.eigenvalues = lam[:n]
        self.basis = np.ascontiguousarray(u[:, :n]).astype(np.complex64)
        self.half_range = None
        if np.any(self.bits > 0):
            sub = h_train[:self.RANGE_FIT_SAMPLES].reshape(-1, d)
            self.half_range = self._fit_ranges(self._unit(sub)[0].astype(np.complex64)
                                               @ self.basis.conj())
        return self

    def _fit_ranges(self, c: np.ndarray) -> np.ndarray:
        """Half ranges ``f r_gauss``: per bit depth, the factor ``f`` of
        :attr:`LOADING_FACTORS` of least squared error on the training coefficients
        ``c [N, n]``, pooled over the components of that depth (the coefficients of real
        channels are not Gaussian; one factor per component would overfit the tails of a small
        training set)."""
        base = self._gaussian_half_range()
        err = np.zeros((len(self.LOADING_FACTORS), base.size))
        for i, f in enumerate(self.LOADING_FACTORS):
            r = f * base
            for part in (c.real, c.imag):
                q = quantise_uniform(part, self.bits, -r, r)
                err[i] += np.sum((part - dequantise_uniform(q, self.bits, -r, r)) ** 2, axis=0)
        best = base.copy()
        for b in np.unique(self.bits):
            group = self.bits == b
            best[group] *= self.LOADING_FACTORS[int(np.argmin(err[:, group].sum(axis=1)))]
        return best

    @staticmethod
    def _unit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        norm = np.sqrt(np.sum(abs2(x), axis=-1, dtype=np.float64)).astype(np.float32)
        return x / np.where(norm > 0, norm, 1.0)[:, None], norm

    def _fitted(self) -> None:
        if self.basis is None:
            raise RuntimeError("PCA.fit must be called before use")

    @property
    def payload_bits(self) -> int:
        self._fitted()
        return SCALE_BITS + 2 * int(np.where(self.bits > 0, self.bits, 32).sum())

    def describe(self) -> dict:
        self._fitted()
        return {**super().describe(), "n_components": int(self.bits.size),
                "coeff_bits": self.bits.tolist()}

    def _gaussian_half_range(self) -> np.ndarray:
        """``2^(b-1) step(b) sqrt(lambda / 2)`` per component: the optimal uniform quantiser's
        half range for a Gaussian real or imaginary part."""
        steps = np.array([gaussian_uniform_quantiser(int(b))[0] if b > 0 else 0.0
                          for b in self.bits])
        return np.ldexp(steps, (self.bits - 1).astype(np.int32)) * np.sqrt(self.eigenvalues / 2)

    def _half_range(self) -> np.ndarray:
        return self.half_range

    def encode(self, h_ad: np.ndarray) -> dict[str, np.ndarray]:
        """``[b, Na, Nt]`` -> ``{scale [b], q_re [b, n], q_im [b, n]}`` (float32 bits where
        unquantised)."""
        self._fitted()
        _check_csi(h_ad, self.shape, "pca")
        x, norm = self._unit(h_ad.reshape(h_ad.shape[0], -1))
        c = x.astype(np.complex64) @ self.basis.conj()
        if np.all(self.bits == 0):
            return {"scale": norm, "q_re": c.real.astype(np.float32).view(np.uint32),
                    "q_im": c.imag.astype(np.float32).view(np.uint32)}
        r = self._half_range()
        return {"scale": norm, "q_re": quantise_uniform(c.real, self.bits, -r, r),
                "q_im": quantise_uniform(c.imag, self.bits, -r, r)}

    def decode(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Report -> ``[b, Na, Nt]`` complex64."""
        self._fitted()
        if np.all(self.bits == 0):
            c = (report["q_re"].astype(np.uint32).view(np.float32)
                 + 1j * report["q_im"].astype(np.uint32).view(np.float32))
        else:
            r = self._half_range()
            c = (dequantise_uniform(report["q_re"], self.bits, -r, r)
                 + 1j * dequantise_uniform(report["q_im"], self.bits, -r, r))
        x = (c.astype(np.complex64) @ self.basis.T) * report["scale"][:, None]
        return x.astype(np.complex64).reshape(-1, *self.shape)

    def report_bits(self, report: dict[str, np.ndarray]) -> np.ndarray:
        return np.full(report["scale"].shape[0], self.payload_bits, np.int64)

    def _widths(self) -> list[int]:
        return [int(b) if b > 0 else 32 for b in self.bits]

    def to_bits(self, report: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._fitted()
        parts = [float32_to_bits(report["scale"])]
        for j, w in enumerate(self._widths()):  # per component: width differs
            parts += [uint_to_bits(report["q_re"][:, j:j + 1], w),
                      uint_to_bits(report["q_im"][:, j:j + 1], w)]
        return list(np.concatenate(parts, axis=1))

    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        self._fitted()
        rd = _Reader(_stack(stream, "pca"))
        scale = rd.float32()
        re, im = [], []
        for w in self._widths():
            re.append(rd.uint(1, w))
            im.append(rd.uint(1, w))
        q_re, q_im = np.concatenate(re, axis=1), np.concatenate(im, axis=1)
        if np.all(self.bits == 0):
            q_re, q_im = q_re.astype(np.uint32), q_im.astype(np.uint32)
        return {"scale": scale, "q_re": q_re, "q_im": q_im}


# -- DFT beam codebook (Type II spirit) --------------------------------------------------------
def dft_beams(num_antennas: int, indices: np.ndarray, oversampling: int) -> np.ndarray:
    """Oversampled DFT beams ``b_m[n] = exp(j 2 pi n m / (O Nt)) / sqrt(Nt)``, unit norm.

    ``indices [...]`` -> ``[..., Nt]`` complex64. Beams ``m = O i + q``, ``i = 0 .. Nt-1``, of
    one rotation ``q`` are orthonormal; beam ``O a`` is angle bin ``a`` of
    :mod:`linksim.transforms`.
    """
    n = np.arange(num_antennas)
    phase = 2 * np.pi * np.asarray(indices)[..., None] * n / (oversampling * num_antennas)
    return (np.exp(1j * phase) / np.sqrt(num_antennas)).astype(np.complex64)


class DFTCodebook(Baseline):
    """``L`` oversampled DFT beams chosen wideband, per-subband amplitude and phase.

    In the spirit of 3GPP Rel-15 Type II for a single-polarised ULA of ``Nt`` antennas and
    oversampling ``O`` (``O1 = 4``):

    1. Subband means ``hbar_s = mean_{k in s} h_k`` (the least-squares constant per subband).
    2. Beam coefficients ``c_{s,m} = b_m^H hbar_s`` for all ``O Nt`` beams (zero-padded FFT).
       For each rotation ``q`` the ``L`` orthogonal beams of largest energy
       ``sum_s n_s |c_{s,m}|^2`` (``n_s`` subcarriers); the rotation with the most energy in its
       ``L`` beams wins. This maximises the energy the piecewise-constant reconstruction keeps.
    3. Wideband amplitude ``p_l = max_s |c_{s,l}| / A`` with ``A = max_{s,l} |c_{s,l}|`` (the
       float32 scale); the strongest beam (``p = 1``) is indicated and not sent; the others on
       ``wb_amp_bits`` with ``wb_amp_step_db`` steps and a zero level (3GPP: 3 bits, 3 dB).
    4. Per subband and beam with ``p_hat_l > 0``: amplitude ``|c_{s,l}| / (A p_hat_l)`` on
       ``sb_amp_bits`` (steps ``sb_amp_step_db``, no zero; 3GPP: 1 bit, ``{1, sqrt(1/2)}``) and
       phase on ``2^sb_phase_bits``-PSK (3GPP: 2 or 3 bits). Beams with ``p_hat = 0`` send
       nothing per subband, so reports vary in length.

    Unlike 3GPP, which normalises the strongest beam's coefficient to 1 in every subband (the
    subband's common phase and gain do not matter to a precoder), the strongest beam's subband
    amplitude and phase are sent too, so that the channel itself, not only its direction, is
    rebuilt (NMSE). The BS sets ``h_hat_k = sum_l c_hat_{s,l} b_{m_l}`` for every ``k`` in
    subband ``s``.

    Bits: ``32 + ceil(log2 O) + ceil(log2 C(Nt, L)) + ceil(log2 L) + (L - 1) wb_amp_bits
    + N_nz S (sb_amp_bits + sb_phase_bits)``, ``N_nz <= L`` beams with non-zero wideband
    amplitude; ``payload_bits`` is the worst case ``N_nz = L``.
    """

    name = "dft_codebook"
    domain = "space_frequency"

    def __init__(self, num_beams: int, num_antennas: int, num_subcarriers: int,
                 subband_size: int, oversampling: int = 4, wb_amp_bits: int = 3,
                 sb_amp_bits: int = 1, sb_phase_bits: int = 3,
                 wb_amp_step_db: float = TYPE2_AMP_STEP_DB,
                 sb_amp_step_db: float = TYPE2_AMP_STEP_DB):
        self.nt = _check_bits("dft_codebook: num_antennas", num_antennas, 1, 1 << 16)
        self.nc = _check_bits("dft_codebook: num_subcarriers", num_subcarriers, 1, 1 << 20)
        self.L = _check_bits("dft_codebook: num_beams", num_beams, 1, self.nt)
        self.sizes = subband_sizes(self.nc, subband_size)
        self.subband_size = int(subband_size)
        self.O = _check_bits("dft_codebook: oversampling", oversampling, 1, 64)
        self.wb_amp_bits = _check_bits("dft_codebook: wb_amp_bits", wb_amp_bits, 1)
        self.sb_amp_bits = _check_bits("dft_codebook: sb_amp_bits", sb_amp_bits, 0)
        self.sb_phase_bits = _check_bits("dft_codebook: sb_phase_bits", sb_phase_bits, 1)
        for name, step in (("wb_amp_step_db", wb_amp_step_db), ("sb_amp_step_db", sb_amp_step_db)):
            if not (isinstance(step, int | float) and step > 0):
                raise LinksimInputError(f"dft_codebook: {name} must be > 0, got {step!r}")
        self.wb_levels = amplitude_levels_db(self.wb_amp_bits, wb_amp_step_db, with_zero=True)
        self.sb_levels = amplitude_levels_db(self.sb_amp_bits, sb_amp_step_db, with_zero=False)
        self.steps_db = (float(wb_amp_step_db), float(sb_amp_step_db))

    @property
    def num_subbands(self) -> int:
        return len(self.sizes)

    def _header_bits(self) -> int:
        return (SCALE_BITS + index_bits(self.O) + combinatorial_bits(self.nt, self.L)
                + index_bits(self.L) + (self.L - 1) * self.wb_amp_bits)

    @property
    def _beam_bits(self) -> int:
        return self.num_subbands * (self.sb_amp_bits + self.sb_phase_bits)

    @property
    def payload_bits(self) -> int:
        return self._header_bits() + self.L * self._beam_bits

    @classmethod
    def for_payload(cls, bits: int, num_antennas: int, num_subcarriers: int, subband_size: int,
                    **options) -> DFTCodebook:
        """The largest ``L`` whose worst-case report fits in ``bits``."""
        best = None
        for n_beams in range(1, num_antennas + 1):
            cand = cls(n_beams, num_antennas, num_subcarriers, subband_size, **options)
            if cand.payload_bits <= bits:
                best = cand
        if best is None:
            raise LinksimInputError(f"dft_codebook: payload of {bits} bits is below one beam")
        return best

    def describe(self) -> dict:
        return {**super().describe(), "num_beams": self.L, "subband_size": self.subband_size,
                "oversampling": self.O, "wb_amp_bits": self.wb_amp_bits,
                "sb_amp_bits": self.sb_amp_bits, "sb_phase_bits": self.sb_phase_bits,
                "amp_steps_db": list(self.steps_db)}

    def encode(self, h: np.ndarray) -> dict[str, np.ndarray]:
        """``[b, Nc, Nt]`` -> report ``{scale, rot, beams [b, L], strongest, q_wb [b, L],
        q_amp [b, S, L], q_phase [b, S, L]}`` (``q_wb`` of the strongest beam is 0, not sent;
        subband symbols of beams with zero wideband amplitude are not sent)."""
        _check_csi(h, (self.nc, self.nt), "dft_codebook")
        b = h.shape[0]
        hbar = subband_blocks(h, self.subband_size).sum(axis=2) / self.sizes[:, None]
        c_all = scipy.fft.fft(hbar, n=self.O * self.nt, axis=-1) / np.sqrt(self.nt)
        c_all = c_all.reshape(b, self.num_subbands, self.nt, self.O)  # beam m = O i + q
        energy = np.einsum("s,bsiq->biq", self.sizes.astype(np.float64), abs2(c_all))
        top = -np.sort(-energy, axis=1)[:, :self.L].sum(axis=1)  # [b, O]
        # first rotation within 1e-6 of the best: with L = Nt every rotation is a complete
        # basis holding the same energy, and rounding alone must not pick the winner
        rot = np.argmax(top >= top.max(axis=1, keepdims=True) * (1 - 1e-6), axis=1)
        e_rot = np.take_along_axis(energy, rot[:, None, None], axis=2)[..., 0]  # [b, Nt]
        beams = np.sort(np.argpartition(-e_rot, self.L - 1, axis=1)[:, :self.L]
                        if self.L < self.nt else np.broadcast_to(np.arange(self.nt), (b, self.nt)),
                        axis=1)
        c_rot = np.take_along_axis(c_all, rot[:, None, None, None], axis=3)[..., 0]
        c = np.take_along_axis(c_rot, beams[:, None, :], axis=2)  # [b, S, L]
        amp = np.abs(c)
        wb = amp.max(axis=1)  # [b, L]
        strongest = np.argmax(wb, axis=1)
        scale = wb.max(axis=1).astype(np.float32)
        q_wb = quantise_to_levels(wb / np.where(scale > 0, scale, 1.0)[:, None], self.wb_levels)
        np.put_along_axis(q_wb, strongest[:, None], 0, axis=1)
        p_hat = self.wb_levels[q_wb] * scale[:, None]  # [b, L]
        rel = np.clip(amp / np.where(p_hat > 0, p_hat, 1.0)[:, None, :], 0.0, 1.0)
        q_amp = quantise_to_levels(rel, self.sb_levels)
        q_phase = quantise_phase(np.angle(c), self.sb_phase_bits)
        return {"scale": scale, "rot": rot, "beams": beams, "strongest": strongest, "q_wb": q_wb,
                "q_amp": q_amp, "q_phase": q_phase}

    def coefficients(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Dequantised beam coefficients ``c_hat [b, S, L]`` (0 for beams with ``p_hat = 0``)."""
        p_hat = self.wb_levels[report["q_wb"]] * report["scale"][:, None].astype(np.float64)
        return (p_hat[:, None, :] * self.sb_levels[report["q_amp"]]
                * np.exp(1j * dequantise_phase(report["q_phase"], self.sb_phase_bits)))

    def decode(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Report -> ``[b, Nc, Nt]`` complex64, constant over each subband."""
        m = self.O * report["beams"] + report["rot"][:, None]
        vecs = dft_beams(self.nt, m, self.O)  # [b, L, Nt]
        h_sb = np.einsum("bsl,bln->bsn", self.coefficients(report).astype(np.complex64), vecs)
        return np.repeat(h_sb, self.sizes, axis=1).astype(np.complex64)

    def report_bits(self, report: dict[str, np.ndarray]) -> np.ndarray:
        nonzero = np.count_nonzero(self.wb_levels[report["q_wb"]] > 0, axis=1)
        return self._header_bits() + nonzero.astype(np.int64) * self._beam_bits

    def to_bits(self, report: dict[str, np.ndarray]) -> list[np.ndarray]:
        b = report["scale"].shape[0]
        keep = np.ones((b, self.L), bool)
        np.put_along_axis(keep, report["strongest"][:, None], False, axis=1)
        wb_sent = report["q_wb"][keep].reshape(b, self.L - 1)
        w = combinatorial_bits(self.nt, self.L)
        beams = (np.stack([int_to_bits(r, w) for r in subset_rank(report["beams"])]) if w
                 else np.zeros((b, 0), np.uint8))
        head = np.concatenate([
            float32_to_bits(report["scale"]), uint_to_bits(report["rot"][:, None],
                                                           index_bits(self.O)),
            beams, uint_to_bits(report["strongest"][:, None], index_bits(self.L)),
            uint_to_bits(wb_sent, self.wb_amp_bits)], axis=1)
        # per beam (increasing beam order), per subband: amplitude then phase
        sb = np.concatenate([
            uint_to_bits(report["q_amp"].transpose(0, 2, 1).reshape(b, -1),
                         self.sb_amp_bits).reshape(b, self.L, self.num_subbands, self.sb_amp_bits),
            uint_to_bits(report["q_phase"].transpose(0, 2, 1).reshape(b, -1),
                         self.sb_phase_bits).reshape(b, self.L, self.num_subbands,
                                                     self.sb_phase_bits)],
            axis=3).reshape(b, self.L, self._beam_bits)
        nonzero = self.wb_levels[report["q_wb"]] > 0
        return [np.concatenate([head[i], sb[i][nonzero[i]].ravel()]) for i in range(b)]

    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        hb = self._header_bits()
        rd = _Reader(np.stack([s[:hb] for s in stream]))
        scale = rd.float32()
        rot = rd.uint(1, index_bits(self.O))[:, 0]
        beams = rd.subset(self.nt, self.L)
        strongest = rd.uint(1, index_bits(self.L))[:, 0]
        wb_sent = rd.uint(self.L - 1, self.wb_amp_bits)
        b = len(stream)
        keep = np.ones((b, self.L), bool)
        np.put_along_axis(keep, strongest[:, None], False, axis=1)
        q_wb = np.zeros((b, self.L), np.int64)
        q_wb[keep] = wb_sent.ravel()
        nonzero = self.wb_levels[q_wb] > 0
        per = self.sb_amp_bits + self.sb_phase_bits
        q_amp = np.zeros((b, self.L, self.num_subbands), np.int64)
        q_phase = np.zeros_like(q_amp)
        for i, s in enumerate(stream):
            n_nz = int(nonzero[i].sum())
            if s.size != hb + n_nz * self._beam_bits:
                raise LinksimInputError("dft_codebook: bitstream length does not match its "
                                        "wideband amplitudes")
            fields = s[hb:].reshape(n_nz * self.num_subbands, per)
            if self.sb_amp_bits:
                q_amp[i, nonzero[i]] = bits_to_uint(fields[:, :self.sb_amp_bits],
                                                    self.sb_amp_bits).reshape(n_nz, -1)
            q_phase[i, nonzero[i]] = bits_to_uint(fields[:, self.sb_amp_bits:],
                                                  self.sb_phase_bits).reshape(n_nz, -1)
        return {"scale": scale, "rot": rot, "beams": beams, "strongest": strongest,
                "q_wb": q_wb, "q_amp": q_amp.transpose(0, 2, 1),
                "q_phase": q_phase.transpose(0, 2, 1)}
