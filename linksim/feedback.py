"""The feedback link between the UE encoder and the BS decoder.

A link maps codewords ``z [b, M]`` float32 to what the BS receives, and counts payload bits.
``fit`` sees the training codewords once (e.g. to set a quantiser's range).
"""

from __future__ import annotations

import numpy as np

FLOAT_BITS = 32


class IdealLink:
    """Error-free float32 feedback: the BS receives the codeword exactly; 32 bits per entry."""

    name = "ideal"

    def fit(self, z_train: np.ndarray) -> IdealLink:
        """Nothing to fit; returns self."""
        return self

    def transmit(self, z: np.ndarray) -> np.ndarray:
        """``[b, M]`` -> ``[b, M]``, unchanged."""
        return z

    def payload_bits(self, codeword_length: int) -> int:
        """Bits per CSI report: ``32 M``."""
        return FLOAT_BITS * codeword_length

    def state(self) -> dict:
        return {"kind": self.name}


class UniformQuantizer:
    """Uniform B-bit scalar quantisation of every codeword entry (ACRNet eq. 12).

    ACRNet squashes the codeword into (0, 1) with a sigmoid and sends ``floor(x 2^B)``. Codecs
    trained without a bounded output (CsiNet's linear FC) need a range instead: ``fit`` takes the
    range ``[lo, hi]`` of the training codewords, entries are clipped to it, mapped affinely to
    [0, 1), sent as ``q = min(floor(u 2^B), 2^B - 1)`` and rebuilt at the cell centre
    ``(q + 0.5) / 2^B``. Payload ``N_fb = B M`` bits (ACRNet eq. 13: ``2 Na Nt eta B``).
    """

    def __init__(self, bits: int, lo: float | None = None, hi: float | None = None):
        if not 1 <= bits <= 32:
            raise ValueError(f"bits must be in 1..32, got {bits}")
        self.bits = int(bits)
        self.lo, self.hi = lo, hi

    @property
    def name(self) -> str:
        return f"uniform{self.bits}b"

    def fit(self, z_train: np.ndarray) -> UniformQuantizer:
        """Set ``[lo, hi]`` to the min and max of the training codewords ``[N, M]``."""
        self.lo, self.hi = float(np.min(z_train)), float(np.max(z_train))
        if not self.hi > self.lo:
            self.hi = self.lo + 1.0
        return self

    def quantise(self, z: np.ndarray) -> np.ndarray:
        """``[b, M]`` float -> integer symbols ``[b, M]`` in ``0 .. 2^B - 1`` (int64)."""
        if self.lo is None:
            raise RuntimeError("UniformQuantizer.fit must be called before use")
        levels = 2 ** self.bits
        u = np.clip((z - self.lo) / (self.hi - self.lo), 0.0, 1.0)
        return np.minimum(np.floor(u * levels), levels - 1).astype(np.int64)

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        """Integer symbols ``[b, M]`` -> float32 cell centres ``[b, M]``."""
        levels = 2 ** self.bits
        return (self.lo + (q + 0.5) / levels * (self.hi - self.lo)).astype(np.float32)

    def transmit(self, z: np.ndarray) -> np.ndarray:
        """Quantise then dequantise: what the BS decoder receives, ``[b, M]`` float32."""
        return self.dequantise(self.quantise(z))

    def payload_bits(self, codeword_length: int) -> int:
        """Bits per CSI report: ``B M``."""
        return self.bits * codeword_length

    def state(self) -> dict:
        return {"kind": "uniform", "bits": self.bits, "lo": self.lo, "hi": self.hi}
