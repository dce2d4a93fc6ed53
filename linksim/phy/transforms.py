"""Space-frequency <-> truncated angular-delay transforms and the codec input format.

Convention (one place for it): the channel in space-frequency is ``H[b, k, n]`` with ``k`` over
``Nc`` subcarriers (ascending frequency) and ``n`` over ``Nt`` BS antennas. The angular-delay
channel is the unitary 2-D DFT

    H_ad[m, a] = 1/sqrt(Nc Nt) * sum_k sum_n H[k, n] exp(+j 2 pi m k / Nc) exp(-j 2 pi a n / Nt),

i.e. ``H_ad = F_d H F_a^H`` with ``F_d`` the unitary inverse DFT over subcarriers (so a path of
delay ``tau`` lands in row ``m = tau * Nc * scs`` for a frequency response
``exp(-j 2 pi f_k tau)``) and ``F_a^H`` a unitary DFT over antennas (an antenna phase progression
``exp(+j 2 pi n a0 / Nt)`` lands in column ``a0``). Only the first ``Na`` delay rows are kept.

The codec sees real/imag split channels-last ``[b, Na, Nt, 2]`` float32, optionally scaled per
sample at the UE (:func:`sample_normalize`, the gain fed back), then mapped by one scale fitted on
the training set (:class:`Normalizer`): centred at 0 for a linear decoder output (the default), or
CsiNet-style into [0, 1] around 0.5 for a sigmoid output (paper-faithful).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

#: Threads for the FFTs (scipy.fft's ``workers``; -1 = all cores).
FFT_WORKERS = -1


def abs2(x: np.ndarray) -> np.ndarray:
    """``|x|^2`` elementwise, without the square root of ``np.abs``."""
    return x.real * x.real + x.imag * x.imag


def to_angular_delay(h: np.ndarray) -> np.ndarray:
    """Space-frequency ``[b, Nc, Nt]`` -> angular-delay ``[b, Nc, Nt]`` (unitary, complex64)."""
    h_ad = scipy.fft.ifft(h, axis=-2, norm="ortho", workers=FFT_WORKERS)
    h_ad = scipy.fft.fft(h_ad, axis=-1, norm="ortho", workers=FFT_WORKERS, overwrite_x=True)
    return h_ad.astype(np.complex64, copy=False)


def to_space_frequency(h_ad: np.ndarray) -> np.ndarray:
    """Angular-delay ``[b, Nc, Nt]`` -> space-frequency ``[b, Nc, Nt]``; exact inverse."""
    h = scipy.fft.ifft(h_ad, axis=-1, norm="ortho", workers=FFT_WORKERS)
    h = scipy.fft.fft(h, axis=-2, norm="ortho", workers=FFT_WORKERS, overwrite_x=True)
    return h.astype(np.complex64, copy=False)


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
    """``[b, Nc, Nt]`` space-frequency -> ``[b, Na, Nt]`` truncated angular-delay, complex64.

    Equals ``truncate(to_angular_delay(h), Na)``; only the kept delay rows are transformed
    over the antennas.
    """
    h_d = scipy.fft.ifft(h, axis=-2, norm="ortho", workers=FFT_WORKERS)[..., :num_rows, :]
    h_ad = scipy.fft.fft(h_d, axis=-1, norm="ortho", workers=FFT_WORKERS)
    return h_ad.astype(np.complex64, copy=False)


def rebuild_space_frequency(h_ad_trunc: np.ndarray, num_subcarriers: int,
                            workers: int | None = None) -> np.ndarray:
    """BS side: zero-fill ``[b, Na, Nt]`` to ``Nc`` rows and go back to space-frequency.

    Equals ``to_space_frequency(zero_fill(h_ad_trunc, Nc))``; the FFT pads the zeros itself.
    ``workers``: FFT threads (``None``: :data:`FFT_WORKERS`).
    """
    workers = FFT_WORKERS if workers is None else workers
    h = scipy.fft.ifft(h_ad_trunc, axis=-1, norm="ortho", workers=workers)
    h = scipy.fft.fft(h, n=num_subcarriers, axis=-2, workers=workers, overwrite_x=True)
    h *= np.float32(1.0 / np.sqrt(num_subcarriers))
    return h.astype(np.complex64, copy=False)


def energy_kept(h: np.ndarray, num_rows: int) -> np.ndarray:
    """Fraction of each sample's energy inside the first ``Na`` delay rows, ``[b]`` float64."""
    kept = np.sum(abs2(truncated_angular_delay(h, num_rows)), axis=(1, 2), dtype=np.float64)
    total = np.sum(abs2(h), axis=(1, 2), dtype=np.float64)  # unitary transform: same energy
    return kept / total


def complex_to_real(h: np.ndarray) -> np.ndarray:
    """``[b, Na, Nt]`` complex -> ``[b, Na, Nt, 2]`` float32 (real, imag channels-last)."""
    return np.stack([h.real, h.imag], axis=-1).astype(np.float32)


def real_to_complex(x: np.ndarray) -> np.ndarray:
    """``[b, Na, Nt, 2]`` float -> ``[b, Na, Nt]`` complex64; exact inverse of the above."""
    return (x[..., 0] + 1j * x[..., 1]).astype(np.complex64)


#: Per-sample scalings at the UE (``preprocessing.sample_normalization``); each sends its
#: per-sample gain as one float32 beside the codeword.
SAMPLE_NORMALIZATIONS = ("none", "power", "peak")


def unit_power(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample power normalisation at the UE.

    Parameters
    ----------
    x : [b, Na, Nt, 2] float
        Real truncated angular-delay CSI.

    Returns
    -------
    x_unit : [b, Na, Nt, 2] float32
        Each sample divided by its Frobenius norm (all-zero samples stay zero).
    gain : [b] float32
        The norms, fed back as side information so the BS can undo the scaling.
    """
    gain = np.sqrt(np.sum(x.astype(np.float64) ** 2, axis=(1, 2, 3))).astype(np.float32)
    return _divide(x, gain), gain


def unit_peak(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample peak normalisation at the UE, ``[b, Na, Nt, 2] -> ([b, Na, Nt, 2], [b])``
    float32 as :func:`unit_power`, with each sample divided by its largest absolute real or
    imaginary part (the gain fed back), so that every entry lies in [-1, 1]."""
    gain = np.max(np.abs(x), axis=(1, 2, 3)).astype(np.float32)
    return _divide(x, gain), gain


def _divide(x: np.ndarray, gain: np.ndarray) -> np.ndarray:
    safe = np.where(gain > 0, gain, 1.0).astype(np.float32)
    return (x / safe[:, None, None, None]).astype(np.float32)


def sample_normalize(x: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """The UE's per-sample scaling ``how`` (one of :data:`SAMPLE_NORMALIZATIONS`).

    ``[b, Na, Nt, 2]`` -> (scaled ``[b, Na, Nt, 2]`` float32, gain ``[b]`` float32); ``"none"``
    returns ``x`` as float32 and unit gains.
    """
    if how == "power":
        return unit_power(x)
    if how == "peak":
        return unit_peak(x)
    if how == "none":
        return np.asarray(x, np.float32), np.ones(len(x), np.float32)
    raise ValueError(f"unknown sample normalisation {how!r}; one of {SAMPLE_NORMALIZATIONS}")


#: Modes of :class:`Normalizer`, by the decoder output they serve.
NORMALIZER_MODES = ("unit_interval", "standard")


@dataclass(frozen=True)
class Normalizer:
    """The codec-domain scaling of the real CSI, fitted on the training set.

    Two modes, one per kind of decoder output:

    - ``"unit_interval"`` (CsiNet, for a sigmoid output): ``x_n = 0.5 + x / (2 s)``, so
      ``|x| <= s`` lies in [0, 1] around 0.5 and larger entries cannot be output;
    - ``"standard"`` (for a linear output): ``x_n = x / s``, centred at 0, nothing capped.

    ``s`` is fitted by one of two rules:

    - ``"max"``: the largest absolute real or imaginary part of the training set;
    - a number ``k``: ``s = k * RMS`` of the training entries (``k = 1`` in the standard mode
      gives unit variance; ``k`` in the unit-interval mode gives a standard deviation of
      ``1 / (2k)`` around 0.5).

    Either map is affine, so :meth:`inverse` is exact whatever the data. Mode and scale are
    stored with the trained codec.
    """

    scale: float
    mode: str = "unit_interval"

    def __post_init__(self):
        if self.mode not in NORMALIZER_MODES:
            raise ValueError(f"unknown normaliser mode {self.mode!r}; one of {NORMALIZER_MODES}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"the normaliser scale must be finite and positive, got "
                             f"{self.scale!r}")

    @property
    def center(self) -> float:
        """``x_n`` of the zero CSI: 0.5 (unit interval) or 0 (standard)."""
        return 0.5 if self.mode == "unit_interval" else 0.0

    @classmethod
    def fit(cls, x: np.ndarray, rule: str | float = "max", mode: str = "unit_interval"
            ) -> Normalizer:
        """Fit on training data ``[b, Na, Nt, 2]`` (real, not yet normalised): :meth:`fit_stream`
        of the one block ``x``."""
        return cls.fit_stream((x,), rule, mode)

    @classmethod
    def fit_stream(cls, blocks, rule: str | float = "max", mode: str = "unit_interval"
                   ) -> Normalizer:
        """:meth:`fit` in one pass over the training data given in blocks.

        Parameters
        ----------
        blocks : iterable of [b, Na, Nt, 2] float
            The training data, block by block (real, not yet normalised).
        rule : "max" or float
            As in :meth:`fit`.
        mode : "unit_interval" or "standard"
            The map (see the class docstring).

        Returns
        -------
        Normalizer
            With ``"max"`` exactly :meth:`fit` of the concatenated blocks; with ``k x RMS``
            equal to float64 rounding (the sum of squares is accumulated per block, in float64,
            instead of over the whole array; ~1e-15 relative).

        Raises
        ------
        ValueError
            The training data are all zero or not finite (no scale can be fitted).
        """
        peak, sq, count, finite = 0.0, 0.0, 0, True
        for x in blocks:
            if rule == "max":
                if x.size:
                    m = float(np.max(np.abs(x)))
                    finite = finite and np.isfinite(m)
                    peak = max(peak, m)
            else:
                sq += float(np.sum(x.astype(np.float64) ** 2))
                count += x.size
        if rule == "max":
            scale = peak if finite else float("nan")
        else:
            scale = float(rule) * float(np.sqrt(sq / count)) if count else float("nan")
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError("cannot fit the normaliser: training data is all zero or not finite")
        return cls(scale, mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``[..., 2]`` real -> normalised, float32."""
        if self.mode == "standard":
            return (x / self.scale).astype(np.float32)
        return (0.5 + x / (2.0 * self.scale)).astype(np.float32)

    def inverse(self, x_n: np.ndarray) -> np.ndarray:
        """Normalised -> real ``[..., 2]``, float32; exact inverse of :meth:`forward`."""
        if self.mode == "standard":
            return (x_n * self.scale).astype(np.float32)
        return ((x_n - 0.5) * (2.0 * self.scale)).astype(np.float32)
