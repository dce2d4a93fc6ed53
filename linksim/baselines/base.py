"""The common interface of the classical compressors: :class:`Baseline` (UE ``encode`` -> report ->
bits -> BS ``decode``) and the input checks they share.

Every report starts with one float32 scale (:data:`SCALE_BITS`) so that the BS rebuilds the
channel itself, not only its direction (NMSE needs it; the power-normalised neural codecs send the
same 32 bits).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from linksim.errors import LinksimInputError

#: Bits of the float32 scale every report starts with.
SCALE_BITS = 32


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


def check_csi(h: np.ndarray, shape: tuple[int, int], what: str) -> np.ndarray:
    """``h`` itself if it is ``[b, *shape]``, else :class:`LinksimInputError` naming ``what``."""
    if h.ndim != 3 or tuple(h.shape[1:]) != tuple(shape):
        raise LinksimInputError(f"{what}: expected CSI of shape [b, {shape[0]}, {shape[1]}], "
                                f"got {list(h.shape)}")
    return h


def check_bits(name: str, value: int, lo: int, hi: int = 24) -> int:
    """``value`` as an int if it is an integer in ``lo .. hi``, else :class:`LinksimInputError`
    naming ``name``."""
    if not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise LinksimInputError(f"{name} must be an integer in {lo}..{hi}, got {value!r}")
    return int(value)
