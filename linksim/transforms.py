"""Space-frequency <-> truncated angular-delay transforms and the codec input format.

Convention (one place for it): the channel in space-frequency is ``H[b, k, n]`` with ``k`` over
``Nc`` subcarriers (ascending frequency) and ``n`` over ``Nt`` BS antennas. The angular-delay
channel is the unitary 2-D DFT

    H_ad[m, a] = 1/sqrt(Nc Nt) * sum_k sum_n H[k, n] exp(+j 2 pi m k / Nc) exp(-j 2 pi a n / Nt),

i.e. ``H_ad = F_d H F_a^H`` with ``F_d`` the unitary inverse DFT over subcarriers (so a path of
delay ``tau`` lands in row ``m = tau * Nc * scs`` for a frequency response
``exp(-j 2 pi f_k tau)``) and ``F_a^H`` a unitary DFT over antennas (an antenna phase progression
``exp(+j 2 pi n a0 / Nt)`` lands in column ``a0``). Only the first ``Na`` delay rows are kept.

The codec sees real/imag split channels-last ``[b, Na, Nt, 2]`` float32, scaled CsiNet-style into
[0, 1] around 0.5 with one scale fitted on the training set (:class:`Normalizer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def to_angular_delay(h: np.ndarray) -> np.ndarray:
    """Space-frequency ``[b, Nc, Nt]`` -> angular-delay ``[b, Nc, Nt]`` (unitary, complex64)."""
    h_ad = np.fft.ifft(h, axis=-2, norm="ortho")
    h_ad = np.fft.fft(h_ad, axis=-1, norm="ortho")
    return h_ad.astype(np.complex64)


def to_space_frequency(h_ad: np.ndarray) -> np.ndarray:
    """Angular-delay ``[b, Nc, Nt]`` -> space-frequency ``[b, Nc, Nt]``; exact inverse."""
    h = np.fft.ifft(h_ad, axis=-1, norm="ortho")
    h = np.fft.fft(h, axis=-2, norm="ortho")
    return h.astype(np.complex64)


def truncate(h_ad: np.ndarray, num_rows: int) -> np.ndarray:
    """Keep the first ``Na`` delay rows: ``[b, Nc, Nt]`` -> ``[b, Na, Nt]``."""
    if num_rows > h_ad.shape[-2]:
        raise ValueError(f"cannot keep Na={num_rows} rows of {h_ad.shape[-2]} subcarriers")
    return h_ad[..., :num_rows, :]


def zero_fill(h_ad_trunc: np.ndarray, num_subcarriers: int) -> np.ndarray:
    """Inverse of :func:`truncate`: pad ``[b, Na, Nt]`` with zero rows to ``[b, Nc, Nt]``."""
    b, na, nt = h_ad_trunc.shape
    out = np.zeros((b, num_subcarriers, nt), dtype=np.complex64)
    out[:, :na] = h_ad_trunc
    return out


def truncated_angular_delay(h: np.ndarray, num_rows: int) -> np.ndarray:
    """``[b, Nc, Nt]`` space-frequency -> ``[b, Na, Nt]`` truncated angular-delay, complex64."""
    return truncate(to_angular_delay(h), num_rows)


def rebuild_space_frequency(h_ad_trunc: np.ndarray, num_subcarriers: int) -> np.ndarray:
    """BS side: zero-fill ``[b, Na, Nt]`` to ``Nc`` rows and go back to space-frequency."""
    return to_space_frequency(zero_fill(h_ad_trunc, num_subcarriers))


def energy_kept(h: np.ndarray, num_rows: int) -> np.ndarray:
    """Fraction of each sample's energy inside the first ``Na`` delay rows, ``[b]`` float64."""
    h_ad = to_angular_delay(h)
    kept = np.sum(np.abs(h_ad[:, :num_rows]) ** 2, axis=(1, 2), dtype=np.float64)
    total = np.sum(np.abs(h_ad) ** 2, axis=(1, 2), dtype=np.float64)
    return kept / total


def complex_to_real(h: np.ndarray) -> np.ndarray:
    """``[b, Na, Nt]`` complex -> ``[b, Na, Nt, 2]`` float32 (real, imag channels-last)."""
    return np.stack([h.real, h.imag], axis=-1).astype(np.float32)


def real_to_complex(x: np.ndarray) -> np.ndarray:
    """``[b, Na, Nt, 2]`` float -> ``[b, Na, Nt]`` complex64; exact inverse of the above."""
    return (x[..., 0] + 1j * x[..., 1]).astype(np.complex64)


@dataclass(frozen=True)
class Normalizer:
    """CsiNet-style scaling ``x_n = 0.5 + x / (2 s)`` into [0, 1] around 0.5.

    The scale ``s`` is the largest absolute real or imaginary part in the training set, so the
    training set lies in [0, 1] exactly; other data may fall slightly outside, the map stays
    affine and exactly invertible. The scale is stored with the trained codec.
    """

    scale: float

    @classmethod
    def fit(cls, x: np.ndarray) -> "Normalizer":
        """Fit on training data ``[b, Na, Nt, 2]`` (real, not yet normalised)."""
        scale = float(np.max(np.abs(x)))
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError("cannot fit the normaliser: training data is all zero or not finite")
        return cls(scale)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``[..., 2]`` real -> normalised, float32."""
        return (0.5 + x / (2.0 * self.scale)).astype(np.float32)

    def inverse(self, x_n: np.ndarray) -> np.ndarray:
        """Normalised -> real ``[..., 2]``, float32; exact inverse of :meth:`forward`."""
        return ((x_n - 0.5) * (2.0 * self.scale)).astype(np.float32)
