"""Downlink pilot transmission and least-squares channel estimation at the UE.

The model of seed 001, section II: on every subcarrier the BS sends orthogonal pilots
``X in C^{Nt x Tp}`` with ``Tp >= Nt`` and ``X X^H = I``; the single-antenna UE receives
``Y = H_k X + Z`` and forms the LS estimate ``H_hat_k = Y X^H = H_k + Z X^H``.

SNR convention: ``SNR = P_H / sigma^2``, where ``P_H`` is the mean per-element channel power
``mean_{k,n} |H[k, n]|^2`` and ``sigma^2`` the variance of each complex noise sample of ``Z``.
Because ``X X^H = I``, the estimation error ``Z X^H`` is white with variance ``sigma^2`` per
element, so the LS NMSE is exactly ``1 / SNR``. It stays white with the same variance in any
unitary basis of the ``Nc x Nt`` grid, the angular-delay one included, whatever ``X`` and ``Tp``:
:func:`awgn` draws it there directly (what the sweep does, :class:`linksim.sweep.Estimate`:
``Na Nt`` draws per sample for the kept rows instead of ``2 Nc Tp`` for the pilots).

Noise reference (``reference``):

- ``"per_sample"`` (default): ``P_H`` is each sample's own channel power, so every sample is
  estimated at exactly the nominal SNR and the mean of per-sample NMSE equals ``1/SNR``.
- ``"dataset"``: one ``P_H`` for the whole batch (its mean power). Samples with weak channels then
  see a lower SNR; on Rayleigh-like channels the mean per-sample NMSE reads ~0.6 dB above
  ``1/SNR`` (Jensen's inequality).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NoiseReference = Literal["per_sample", "dataset"]


def pilot_matrix(num_tx_antennas: int, pilot_length: int | None = None) -> np.ndarray:
    """Orthogonal pilot matrix built from the rows of a unitary DFT.

    Parameters
    ----------
    num_tx_antennas : int
        ``Nt``, number of BS antennas (ports).
    pilot_length : int or None
        ``Tp >= Nt`` pilot symbols per subcarrier; ``None`` means ``Tp = Nt``.

    Returns
    -------
    X : [Nt, Tp] complex64
        Pilot matrix with ``X X^H = I_Nt`` (the first ``Nt`` rows of the unitary ``Tp``-point DFT).
    """
    tp = num_tx_antennas if pilot_length is None else int(pilot_length)
    if tp < num_tx_antennas:
        raise ValueError(f"pilot_length Tp={tp} must be >= Nt={num_tx_antennas}")
    n = np.arange(num_tx_antennas)[:, None]
    t = np.arange(tp)[None, :]
    return (np.exp(-2j * np.pi * n * t / tp) / np.sqrt(tp)).astype(np.complex64)


def noise_variance(h: np.ndarray, snr_db: float,
                   reference: NoiseReference = "per_sample") -> np.ndarray:
    """Noise variance per complex sample that realises the given pilot SNR.

    Parameters
    ----------
    h : [b, Nc, Nt] complex
        True channels.
    snr_db : float
        Pilot SNR in dB, ``10 log10(P_H / sigma^2)``.
    reference : {"per_sample", "dataset"}
        Whose channel power ``P_H`` defines the SNR (see the module docstring).

    Returns
    -------
    sigma2 : [b] float64
        Noise variance for each sample (all equal for ``"dataset"``).
    """
    return noise_variance_of_power(np.mean(np.abs(h) ** 2, axis=(1, 2), dtype=np.float64),
                                   snr_db, reference)


def noise_variance_of_power(power: np.ndarray, snr_db: float,
                            reference: NoiseReference = "per_sample") -> np.ndarray:
    """:func:`noise_variance` from each sample's mean per-element channel power ``P_H [b]``
    (float64); returns ``sigma2 [b]`` float64."""
    if reference == "dataset":
        power = np.full_like(power, power.mean())
    elif reference != "per_sample":
        raise ValueError(f"unknown noise reference {reference!r}")
    return power / 10.0 ** (snr_db / 10.0)


def complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Circularly-symmetric complex Gaussian samples of unit variance, complex64."""
    z = rng.standard_normal((*shape, 2), dtype=np.float32)
    z *= np.float32(np.sqrt(0.5))
    return z.view(np.complex64)[..., 0]


def awgn(rng: np.random.Generator, shape: tuple[int, ...], sigma2: np.ndarray) -> np.ndarray:
    """White ``CN(0, sigma2)`` noise, one variance per channel sample: the pilot noise ``Z``, or
    the LS estimation error ``Z X^H`` drawn directly (equal in distribution to
    ``estimate_channel(h, ...) - h`` for orthogonal pilots and any ``Tp``, and to any unitary
    transform of it over the ``Nc x Nt`` grid, e.g. its angular-delay form).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the noise.
    shape : tuple
        ``(b, ...)``, e.g. ``(b, Na, Nt)`` for the kept angular-delay rows.
    sigma2 : [b] float
        Noise variance per complex sample, per channel sample (:func:`noise_variance`).

    Returns
    -------
    [*shape] complex64
    """
    e = complex_normal(rng, shape)
    e *= np.sqrt(sigma2).astype(np.float32).reshape(-1, *(1,) * (len(shape) - 1))
    return e


def receive_pilots(h: np.ndarray, x: np.ndarray, sigma2: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Received pilots ``Y = H_k X + Z`` on every subcarrier.

    Parameters
    ----------
    h : [b, Nc, Nt] complex64
        Channels (row ``h[b, k]`` is the 1 x Nt channel of subcarrier ``k``).
    x : [Nt, Tp] complex64
        Pilot matrix.
    sigma2 : [b] float
        Noise variance per complex sample, per channel sample.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    y : [b, Nc, Tp] complex64
    """
    b, nc, nt = h.shape
    y = (h.reshape(b * nc, nt) @ x).reshape(b, nc, x.shape[-1])  # one GEMM for the batch
    return y + awgn(rng, y.shape, sigma2)


def ls_estimate(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Least-squares estimate ``H_hat_k = Y X^+ = Y X^H (X X^H)^{-1}``.

    Parameters
    ----------
    y : [b, Nc, Tp] complex64
        Received pilots.
    x : [Nt, Tp] complex64
        Pilot matrix.

    Returns
    -------
    h_hat : [b, Nc, Nt] complex64
    """
    x_pinv = x.conj().T @ np.linalg.inv(x @ x.conj().T)
    b, nc, tp = y.shape
    h_hat = y.reshape(b * nc, tp) @ x_pinv.astype(np.complex64)  # one GEMM for the batch
    return h_hat.reshape(b, nc, -1).astype(np.complex64, copy=False)


def estimate_channel(h: np.ndarray, snr_db: float, rng: np.random.Generator, *,
                     pilot_length: int | None = None,
                     reference: NoiseReference = "per_sample") -> np.ndarray:
    """Pilots, AWGN at ``snr_db`` and LS estimation in one call.

    Parameters
    ----------
    h : [b, Nc, Nt] complex64
        True channels.
    snr_db : float
        Pilot SNR in dB (see the module docstring for the definition).
    rng : numpy.random.Generator
        Source of the noise.
    pilot_length : int or None
        ``Tp``; ``None`` means ``Tp = Nt``.
    reference : {"per_sample", "dataset"}
        Noise reference.

    Returns
    -------
    h_hat : [b, Nc, Nt] complex64
        LS estimate; ``E||h_hat - h||^2 / ||h||^2 = 10^(-snr_db/10)``.
    """
    x = pilot_matrix(h.shape[-1], pilot_length)
    y = receive_pilots(h, x, noise_variance(h, snr_db, reference), rng)
    return ls_estimate(y, x)
