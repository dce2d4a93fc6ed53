"""Top-K in angular-delay: the ``K`` largest coefficients of ``h_ad [b, Na, Nt]``, their
positions (combinatorial or fixed-width indices) and quantised values (polar or cartesian)."""

from __future__ import annotations

import numpy as np

from linksim.baselines.base import SCALE_BITS, Baseline, check_bits, check_csi
from linksim.errors import LinksimInputError
from linksim.phy.bits import (
    BitReader,
    amplitude_levels_db,
    combinatorial_bits,
    dequantise_midtread,
    dequantise_phase,
    float32_to_bits,
    index_bits,
    quantise_midtread,
    quantise_phase,
    quantise_to_levels,
    stack_streams,
    subset_to_bits,
    uint_to_bits,
)
from linksim.phy.transforms import abs2


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
        self.value_bits = (check_bits("topk: value_bits[0]", value_bits[0], lo),
                           check_bits("topk: value_bits[1]", value_bits[1], lo))
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
        x = check_csi(h_ad, self.shape, "topk").reshape(h_ad.shape[0], self.n)
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
            pos = subset_to_bits(report["idx"], self.n)
        else:
            pos = uint_to_bits(report["idx"], index_bits(self.n))
        values = np.concatenate([uint_to_bits(report["q1"], a_bits),
                                 uint_to_bits(report["q2"], p_bits)], axis=1)
        return list(np.concatenate([float32_to_bits(report["scale"]), pos, values], axis=1))

    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        rd = BitReader(stack_streams(stream, "topk"))
        scale = rd.float32()
        if self.index_coding == "combinatorial":
            idx = rd.subset(self.n, self.k)
        else:
            idx = rd.uint(self.k, index_bits(self.n))
        q1 = rd.uint(self.k, self.value_bits[0])
        q2 = rd.uint(self.k, self.value_bits[1])
        return {"scale": scale, "idx": idx, "q1": q1, "q2": q2}
