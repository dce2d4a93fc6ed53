"""CSI-INR's fixed parts (:mod:`linksim.codecs.csiinr`): grid coordinates, Fourier features, the
unitary space-frequency <-> angular-delay transform and the per-sample fitting loss.

Nothing here is trained; the functions work on NumPy arrays or (``ops``) on Keras tensors.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops


def coordinate_grid(num_rows: int, num_antennas: int) -> np.ndarray:
    """Grid coordinates ``c = (i / Na, j / Nt)`` of all CSI entries, row-major.

    Returns
    -------
    [Na Nt, 2] float32
        Entry ``i Nt + j`` is ``(i / Na, j / Nt)``, in ``[0, 1)``.
    """
    i, j = np.meshgrid(np.arange(num_rows) / num_rows, np.arange(num_antennas) / num_antennas,
                       indexing="ij")
    return np.stack([i.ravel(), j.ravel()], axis=-1).astype(np.float32)


def fourier_features(coords, b_matrix):
    """Seed eq. (10): ``kappa(c) = [cos(2 pi B c), sin(2 pi B c)]``.

    Parameters
    ----------
    coords : [P, 2]
        Coordinates.
    b_matrix : [F, 2]
        Frequencies, cycles per unit coordinate.

    Returns
    -------
    [P, 2F]
        Features in [-1, 1].
    """
    phase = 2.0 * math.pi * ops.matmul(coords, ops.transpose(b_matrix))
    return ops.concatenate([ops.cos(phase), ops.sin(phase)], axis=-1)


def draw_fourier_matrix(num_fourier: int, sigma_b: float, seed: int) -> np.ndarray:
    """``B [F, 2]`` float32, i.i.d. ``N(0, sigma_b^2)`` from ``numpy.random.default_rng(seed)``."""
    return (sigma_b * np.random.default_rng(seed).standard_normal((num_fourier, 2))
            ).astype(np.float32)


def unitary_dft(n: int, sign: int) -> np.ndarray:
    """``[n, n]`` complex128 matrix ``exp(sign j 2 pi r c / n) / sqrt(n)`` (row r, column c)."""
    r = np.arange(n)
    return np.exp(sign * 2j * np.pi * np.outer(r, r) / n) / np.sqrt(n)


def sf_to_ad_matrices(num_rows: int, num_antennas: int) -> tuple[np.ndarray, np.ndarray]:
    """The unitary map space-frequency ``g [Na, Nt]`` -> angular-delay ``h_ad = R g C``.

    ``R = F_Na^H`` is the inverse DFT over the ``Na`` frequency samples (as
    :func:`linksim.phy.transforms.to_angular_delay` does over the subcarriers) and ``C = F_Nt`` the
    DFT over the antennas, ``C[n, a] = exp(-j 2 pi a n / Nt) / sqrt(Nt)``.

    Returns
    -------
    R : [Na, Na] complex128
    C : [Nt, Nt] complex128
    """
    return unitary_dft(num_rows, +1), unitary_dft(num_antennas, -1)


def ad_to_sf(h_ad: np.ndarray) -> np.ndarray:
    """Truncated angular-delay ``[b, Na, Nt]`` -> ``g = R^H h_ad C^H``, complex128."""
    r, c = sf_to_ad_matrices(h_ad.shape[-2], h_ad.shape[-1])
    return r.conj().T @ h_ad @ c.conj().T


def complex_sandwich(left, right, x):
    """``left @ x @ right`` for complex matrices as (real, imag) pairs; ``x`` is ``[b, m, n, 2]``."""
    (lr, li), (rr, ri) = ((ops.convert_to_tensor(a), ops.convert_to_tensor(b))
                          for a, b in (left, right))
    xr, xi = x[..., 0], x[..., 1]
    ur = ops.einsum("mk,bkn->bmn", lr, xr) - ops.einsum("mk,bkn->bmn", li, xi)
    ui = ops.einsum("mk,bkn->bmn", lr, xi) + ops.einsum("mk,bkn->bmn", li, xr)
    vr = ops.einsum("bmn,na->bma", ur, rr) - ops.einsum("bmn,na->bma", ui, ri)
    vi = ops.einsum("bmn,na->bma", ur, ri) + ops.einsum("bmn,na->bma", ui, rr)
    return ops.stack([vr, vi], axis=-1)


def fitting_loss(o, y):
    """Per-sample fitting loss, the mean of ``(o - y)^2`` over all but the first axis.

    Parameters
    ----------
    o, y : [b, P, 2]
        Network output and target, in the network's domain and unit-RMS units.

    Returns
    -------
    [b]
        The loss of each sample (``~1`` for an all-zero output).
    """
    return ops.mean(ops.square(o - y), axis=(1, 2))

