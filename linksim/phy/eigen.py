"""Eigenvector CSI (3GPP TR 38.843 style): the precoders a multi-antenna UE reports per subband.

For a UE with ``Nr`` receive antennas and a BS with ``Nt`` ports, the channel on subcarrier
``k`` is ``H_k [Nr, Nt]`` (``y = H_k x + z``). Arrays hold it as linksim holds every channel
(:mod:`linksim.phy.precoding`): ``h[b, k, r, :]`` is the vector ``h_{k,r}`` with
``y_r = h_{k,r}^H x``, i.e. ``H_k = conj(h[b, k])``. The transmit covariance of subband ``s`` is

    R_s = sum_{k in s} H_k^H H_k                                       [Nt, Nt], Hermitian, PSD

and the UE reports its top-``L`` eigenvectors ``V_s = [v_s1 ... v_sL]`` (``L`` = rank, the
number of layers), the precoder that maximises the subband-summed received power of ``L``
orthogonal layers. The BS precodes layer ``l`` with the reconstruction ``v_hat_sl``. With a
single-antenna UE (``Nr = 1``) ``R_s`` is :func:`linksim.phy.precoding.subband_principal_eigenvectors`'
covariance and ``L = 1`` its principal eigenvector.

Eigenvectors are defined up to a phase; a codec that learns them needs one representative.
**Phase convention** (:func:`fix_phase`): each eigenvector is rotated so that its entry of
largest magnitude is real and positive (the first such entry on ties to within 1e-6 relative).
This is continuous wherever the largest entry is unique and makes the report a function of
``R_s``. The KPI, SGCS per layer, is blind to the phase.

SGCS per layer ``l`` (the TR's intermediate KPI), per sample and subband:

    SGCS_sl = |v_hat_sl^H v_sl|^2 / (||v_hat_sl||^2 ||v_sl||^2)          in [0, 1]

reported as its mean over samples and subbands (and as a CDF over samples).
"""

from __future__ import annotations

import numpy as np

from linksim.errors import LinksimInputError
from linksim.phy.precoding import subband_sizes
from linksim.phy.transforms import abs2


def subband_covariance(h: np.ndarray, subband_size: int) -> np.ndarray:
    """Transmit covariance per subband, ``R_s = sum_{k in s} H_k^H H_k``.

    Parameters
    ----------
    h : [b, Nc, Nr, Nt] complex
        Space-frequency channels (``Nr`` receive antennas, ``Nt`` BS ports), ``H_k = conj(h[:, k])``.
    subband_size : int
        Subcarriers per subband; the last subband is shorter when it does not divide ``Nc``
        (:func:`linksim.phy.precoding.subband_sizes`).

    Returns
    -------
    [b, S, Nt, Nt] complex128
        Hermitian positive semi-definite, accumulated in double precision.
    """
    if h.ndim != 4:
        raise ValueError(f"h must be [b, Nc, Nr, Nt], got shape {h.shape}")
    b, nc, nr, nt = h.shape
    sizes = subband_sizes(nc, subband_size)
    pad = len(sizes) * subband_size - nc
    hh = h.astype(np.complex128, copy=False)
    if pad:
        hh = np.concatenate([hh, np.zeros((b, pad, nr, nt), hh.dtype)], axis=1)
    blocks = hh.reshape(b, len(sizes), subband_size * nr, nt)  # rows h_{k,r}: (subcarrier, rx)
    # R[n, m] = sum_{k, r} h_{k,r}[n] conj(h_{k,r}[m]) = sum_k (H_k^H H_k)[n, m]
    return np.matmul(blocks.transpose(0, 1, 3, 2), blocks.conj())


def fix_phase(v: np.ndarray) -> np.ndarray:
    """Rotate each eigenvector (the second-to-last axis of ``v [..., Nt, L]``) so that its
    entry of largest magnitude is real and positive (the first on ties to 1e-6 relative).
    A zero vector stays zero. Returns a new array of ``v``'s dtype."""
    mag = np.abs(v)
    peak = mag.max(axis=-2, keepdims=True)
    first = np.argmax(mag >= peak * (1 - 1e-6), axis=-2)[..., None, :]  # [..., 1, L]
    ref = np.take_along_axis(v, first, axis=-2)
    rot = np.where(np.abs(ref) > 0, ref.conj() / np.where(np.abs(ref) > 0, np.abs(ref), 1), 1)
    return (v * rot).astype(v.dtype, copy=False)


def subband_eigenvectors(h: np.ndarray, subband_size: int, num_layers: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``L`` eigenvectors of each subband's transmit covariance, phase-fixed.

    Parameters
    ----------
    h : [b, Nc, Nr, Nt] complex
        Space-frequency channels.
    subband_size : int
        Subcarriers per subband.
    num_layers : int
        ``L``, the rank reported, ``1 <= L <= min(Nr * subband_size, Nt)`` (rank of ``R_s``
        at most; 3GPP ranks 1-4 need ``L <= Nr``).

    Returns
    -------
    v : [b, S, Nt, L] complex64
        Unit-norm eigenvectors in decreasing eigenvalue order, columns orthonormal, each
        rotated by :func:`fix_phase`.
    eigenvalues : [b, S, L] float64
        The matching eigenvalues of ``R_s`` (received power of each layer summed over the
        subband, in channel power units), decreasing; >= 0.

    Raises
    ------
    LinksimInputError
        ``num_layers`` outside ``1..min(Nr, Nt)``.
    """
    import torch

    nr, nt = h.shape[-2:]
    if not isinstance(num_layers, int | np.integer) or not 1 <= num_layers <= min(nr, nt):
        raise LinksimInputError(f"num_layers (rank) must be an integer in 1..min(Nr, Nt) = "
                                f"{min(nr, nt)}, got {num_layers!r}")
    cov = subband_covariance(h, subband_size)
    w, vecs = torch.linalg.eigh(torch.from_numpy(np.ascontiguousarray(cov)))  # ascending
    w, vecs = w.numpy()[..., ::-1][..., :num_layers], vecs.numpy()[..., ::-1][..., :num_layers]
    return fix_phase(vecs).astype(np.complex64), np.maximum(w, 0.0)


def sgcs_per_layer(v: np.ndarray, v_hat: np.ndarray) -> np.ndarray:
    """SGCS of each layer: ``|v_hat_l^H v_l|^2 / (||v_hat_l||^2 ||v_l||^2)``.

    Parameters
    ----------
    v, v_hat : [..., Nt, L] complex
        True and reported eigenvectors (any norm and phase).

    Returns
    -------
    [..., L] float64
        In [0, 1]; 0 where either vector is zero (no direction known).
    """
    if v.shape != v_hat.shape:
        raise ValueError(f"v and v_hat differ in shape: {v.shape} vs {v_hat.shape}")
    inner = np.einsum("...nl,...nl->...l", v_hat.conj(), v)
    num = inner.real.astype(np.float64) ** 2 + inner.imag.astype(np.float64) ** 2
    den = (np.sum(abs2(v), axis=-2, dtype=np.float64)
           * np.sum(abs2(v_hat), axis=-2, dtype=np.float64))
    return np.where(den > 1e-60, num / np.where(den > 1e-60, den, 1.0), 0.0)


def eigenvector_nmse(v: np.ndarray, v_hat: np.ndarray) -> np.ndarray:
    """NMSE of the reported eigenvectors per sample, ``sum ||V_hat - V||^2 / sum ||V||^2`` over
    subbands and layers, after rotating each ``v_hat_l`` onto ``v_l``'s phase (the phase is
    not information). ``v, v_hat [b, S, Nt, L]``; returns ``[b]`` float64."""
    inner = np.einsum("...nl,...nl->...l", v_hat.conj(), v)
    rot = np.where(np.abs(inner) > 0, inner / np.where(np.abs(inner) > 0, np.abs(inner), 1), 1)
    err = abs2(v_hat * rot[..., None, :] - v).astype(np.float64)
    ref = abs2(v).astype(np.float64)
    return err.sum(axis=(1, 2, 3)) / np.maximum(ref.sum(axis=(1, 2, 3)), 1e-300)
