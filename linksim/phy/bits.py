"""Bits and scalar quantisers: how a CSI report becomes bits, shared by the feedback link
(:mod:`linksim.phy.feedback`) and the classical baselines (:mod:`linksim.baselines`).

One bit order everywhere: an integer field of ``w`` bits is its natural binary code, most
significant bit first (:func:`uint_to_bits`); the fields of a report follow each other in report
order; a bitstream goes into bytes 8 bits at a time, its first bit in the most significant
position of the first byte, the last byte zero-padded (:func:`pack_words`, ``np.packbits``).

One uniform quantiser: :func:`quantise_uniform` (midrise, ``2^B`` cells on ``[lo, hi]``,
clipped) and :func:`dequantise_uniform` (cell centres), used by the PCA and compressive-sensing
baselines and by the feedback link's :class:`Quantizer`, on the codeword range (uniform law) or
on the mu-law companded axis. (The training-time ``linksim.phy.feedback.QuantizeSTE`` computes the
same cells in Keras ops, on tensors.)

Index sets are sent with the combinatorial number system, ``ceil(log2 C(N, K))`` bits for ``K``
of ``N`` positions (3GPP's combinatorial beam indicator).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import scipy.optimize
import scipy.special

from linksim.errors import LinksimInputError


# -- bit accounting --------------------------------------------------------------------------------
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


# -- fields <-> bits -------------------------------------------------------------------------------
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


def subset_to_bits(idx: np.ndarray, n: int) -> np.ndarray:
    """``[b, k]`` increasing positions in ``0 .. n-1`` -> ``[b, ceil(log2 C(n, k))]`` bits of
    their rank (:func:`subset_rank`), most significant first, uint8."""
    width = combinatorial_bits(n, idx.shape[1])
    if width == 0:
        return np.zeros((len(idx), 0), np.uint8)
    return np.stack([int_to_bits(r, width) for r in subset_rank(idx)])


class BitReader:
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
        """``count`` fields of ``width`` bits -> ``[b, count]`` int64 (zeros for ``width = 0``,
        an index into a set of one)."""
        if width == 0:
            return np.zeros((self.bits.shape[0], count), np.int64)
        return bits_to_uint(self.take(count * width), width)

    def float32(self) -> np.ndarray:
        return bits_to_float32(self.take(32))

    def subset(self, n: int, k: int) -> np.ndarray:
        """Inverse of :func:`subset_to_bits`: ``[b, k]`` positions of a ``k``-subset of ``n``."""
        field = self.take(combinatorial_bits(n, k))
        return subset_unrank([bits_to_int(row) for row in field], n, k)


def stack_streams(stream: list[np.ndarray], name: str) -> np.ndarray:
    """``b`` bitstreams of one length -> ``[b, n]``; ``name`` labels the error if their
    lengths differ."""
    lengths = {s.size for s in stream}
    if len(lengths) != 1:
        raise LinksimInputError(f"{name}: reports of a fixed-length scheme differ in length")
    return np.stack(stream)


# -- bytes -----------------------------------------------------------------------------------------
def pack_words(q: np.ndarray, bits: int) -> list[bytes]:
    """Fixed-length code: symbols ``[b, M]`` (``bits``-bit words, :func:`uint_to_bits`) -> one
    byte string of ``ceil(bits M / 8)`` bytes per row."""
    packed = np.packbits(uint_to_bits(np.asarray(q, np.int64), bits), axis=-1)
    return [row.tobytes() for row in packed]


def unpack_words(payload: bytes, bits: int, codeword_length: int) -> np.ndarray:
    """Inverse of :func:`pack_words` for one row: ``[M]`` int64."""
    stream = np.unpackbits(np.frombuffer(payload, np.uint8), count=bits * codeword_length)
    return bits_to_uint(stream[None, :], bits)[0]


# -- scalar quantisers -----------------------------------------------------------------------------
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


# -- companding and the feedback link's quantiser --------------------------------------------------
def mu_law_compress(u: np.ndarray, mu: float) -> np.ndarray:
    """``sign(u) ln(1 + mu |u|) / ln(1 + mu)`` for ``u`` in [-1, 1]; same shape."""
    return np.sign(u) * np.log1p(mu * np.abs(u)) / np.log1p(mu)


def mu_law_expand(y: np.ndarray, mu: float) -> np.ndarray:
    """Inverse of :func:`mu_law_compress`: ``sign(y) ((1 + mu)^|y| - 1) / mu``; same shape."""
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


class Quantizer:
    """Scalar B-bit quantisation of every codeword entry, uniform or mu-law.

    Uniform (ACRNet eq. 12 after an affine map of the range to [0, 1)): :func:`quantise_uniform`
    on ``[lo, hi]``, ``u = (z - lo) / (hi - lo)`` clipped to [0, 1], ``q = min(floor(u 2^B),
    2^B - 1)``, rebuilt at the cell centre ``lo + (q + 0.5) (hi - lo) / 2^B``. Mu-law: the range
    is mapped to [-1, 1], companded by :func:`mu_law_compress` and quantised uniformly on
    [-1, 1]; the cells (expanded back) are fine
    near the middle of the range and coarse at its ends, and the reconstruction is the midpoint
    of the cell, so every entry is rebuilt within half its cell's width.

    Parameters
    ----------
    bits : int
        ``B`` in 1..31 (32 is the float32 link: use :class:`FeedbackLink` without a quantiser).
    law : {"uniform", "mulaw"}
    mu : float
        Mu-law parameter (255 is the G.711 value).
    lo, hi : float or None
        Range; set by :meth:`fit` when None.
    """

    def __init__(self, bits: int, law: str = "uniform", mu: float = 255.0,
                 lo: float | None = None, hi: float | None = None):
        if not 1 <= int(bits) <= 31:
            raise ValueError(f"quantiser bits must be in 1..31, got {bits}")
        if law not in ("uniform", "mulaw"):
            raise ValueError(f"quantiser law must be 'uniform' or 'mulaw', got {law!r}")
        if law == "mulaw" and not mu > 0:
            raise ValueError(f"mu-law needs mu > 0, got {mu}")
        self.bits, self.law, self.mu = int(bits), law, float(mu)
        self.lo, self.hi = lo, hi

    @property
    def levels(self) -> int:
        return 2 ** self.bits

    def fit(self, z_train: np.ndarray) -> Quantizer:
        """Set ``[lo, hi]`` to the min and max of the training codewords ``[N, M]``."""
        self.lo, self.hi = float(np.min(z_train)), float(np.max(z_train))
        if not self.hi > self.lo:
            self.hi = self.lo + 1.0
        return self

    def _unit(self, z: np.ndarray) -> np.ndarray:
        """Codeword -> position in [0, 1] on the quantiser's (companded) axis."""
        if self.lo is None:
            raise RuntimeError("Quantizer.fit must be called before use")
        u = np.clip((np.asarray(z, np.float64) - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        if self.law == "mulaw":
            u = 0.5 * (mu_law_compress(2.0 * u - 1.0, self.mu) + 1.0)
        return u

    def quantise(self, z: np.ndarray) -> np.ndarray:
        """``[b, M]`` float -> integer symbols ``[b, M]`` in ``0 .. 2^B - 1`` (int64)."""
        return quantise_uniform(self._unit(z), self.bits, 0.0, 1.0)

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        """Integer symbols ``[b, M]`` -> float32 reconstruction ``[b, M]`` (cell centres)."""
        if self.law == "uniform":
            return dequantise_uniform(np.asarray(q, np.float64), self.bits, self.lo,
                                      self.hi).astype(np.float32)
        q = np.asarray(q, np.float64)
        u = 0.5 * (self.cell_edge(q) + self.cell_edge(q + 1.0))
        return (self.lo + u * (self.hi - self.lo)).astype(np.float32)

    def cell_edge(self, k: np.ndarray) -> np.ndarray:
        """Lower edge of cell ``k`` (``k = 2^B``: the top of the range) as a fraction of the
        range, same shape as ``k``."""
        u = np.asarray(k, np.float64) / self.levels
        if self.law == "mulaw":
            u = 0.5 * (mu_law_expand(2.0 * u - 1.0, self.mu) + 1.0)
        return u

    def max_error(self) -> float:
        """Largest reconstruction error inside the range: half the widest cell (an end cell;
        all cells are equal for the uniform law)."""
        edges = self.cell_edge(np.array([0, 1, self.levels - 1, self.levels]))
        return float(max(edges[1] - edges[0], edges[3] - edges[2]) / 2 * (self.hi - self.lo))

    def state(self) -> dict:
        out = {"law": self.law, "bits": self.bits, "lo": self.lo, "hi": self.hi}
        if self.law == "mulaw":
            out["mu"] = self.mu
        return out
