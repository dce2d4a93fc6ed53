"""Base-station precoding from the fed-back channel.

Received signal on subcarrier ``k`` for a unit-norm beam ``w``: ``y = h_k^H w s + z``
(``h_k`` is the row ``H[b, k, :]`` read as a column). MRT on the estimate: ``w = h_hat / ||h_hat||``.
Per-subband eigen-beamforming (3GPP style): one beam per subband of consecutive subcarriers, the
principal eigenvector of ``R_s = sum_{k in s} h_hat_k h_hat_k^H``.
"""

from __future__ import annotations

import numpy as np

from linksim.errors import LinksimInputError
from linksim.estimation import complex_normal
from linksim.transforms import abs2


def mrt(h_hat: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Per-subcarrier maximum-ratio transmission beams.

    Parameters
    ----------
    h_hat : [b, Nc, Nt] complex64
        Channel known at the BS.
    rng : numpy.random.Generator or None
        Where ``h_hat`` is zero on a subcarrier (no information) the BS has no preferred
        direction and transmits on an isotropically random unit beam drawn from ``rng``.

    Returns
    -------
    w : [b, Nc, Nt] complex64
        Unit-norm beams ``w = h_hat / ||h_hat||``.
    """
    norm = np.linalg.norm(h_hat, axis=-1, keepdims=True)
    empty = norm[..., 0] <= 1e-30
    w = np.divide(h_hat, norm, out=np.zeros_like(h_hat), where=norm > 1e-30)
    if np.any(empty):
        if rng is None:
            raise ValueError("h_hat has all-zero subcarriers: pass rng for random beams")
        r = complex_normal(rng, (int(empty.sum()), h_hat.shape[-1]))
        w[empty] = r / np.linalg.norm(r, axis=-1, keepdims=True)
    return w.astype(np.complex64)


def random_beams(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Isotropically random unit-norm beams ``[b, Nc, Nt]`` complex64 (the no-CSI baseline)."""
    r = complex_normal(rng, shape)
    return (r / np.linalg.norm(r, axis=-1, keepdims=True)).astype(np.complex64)


def beam_power(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Received power ``|h_k^H w_k|^2`` per sample and subcarrier, ``[b, Nc]`` float64."""
    inner = np.einsum("bkn,bkn->bk", h.conj(), w)
    return (inner.real.astype(np.float64) ** 2 + inner.imag.astype(np.float64) ** 2)


# -- subbands ----------------------------------------------------------------------------------
def subband_sizes(num_subcarriers: int, subband_size: int) -> np.ndarray:
    """Subcarriers per subband, ``[S]``: consecutive blocks of ``subband_size``, the last one
    shorter where ``subband_size`` does not divide ``Nc``."""
    if not isinstance(subband_size, int | np.integer) or not 1 <= subband_size <= num_subcarriers:
        raise LinksimInputError(f"subband_size must be an integer in 1..{num_subcarriers}, "
                                f"got {subband_size!r}")
    n = -(-num_subcarriers // subband_size)
    sizes = np.full(n, subband_size, np.int64)
    sizes[-1] = num_subcarriers - subband_size * (n - 1)
    return sizes


def subband_blocks(h: np.ndarray, subband_size: int) -> np.ndarray:
    """``[b, Nc, Nt]`` -> ``[b, S, subband_size, Nt]``, the last subband zero-padded."""
    b, nc, nt = h.shape
    s = len(subband_sizes(nc, subband_size))
    pad = s * subband_size - nc
    if pad:
        h = np.concatenate([h, np.zeros((b, pad, nt), h.dtype)], axis=1)
    return h.reshape(b, s, subband_size, nt)


def subband_principal_eigenvectors(h: np.ndarray, subband_size: int
                                   ) -> tuple[np.ndarray, np.ndarray]:
    """Principal eigenvector of each subband's covariance ``R_s = sum_{k in s} h_k h_k^H``.

    ``w^H R_s w = sum_{k in s} |h_k^H w|^2``, so the principal eigenvector ``v_s`` is the unit
    beam of largest subband-summed gain, and its eigenvalue is that gain. With a single-antenna UE
    ``R_s`` is a sum of ``n_s`` rank-1 terms (rank ``<= min(n_s, Nt)``); for ``n_s = 1`` the
    eigenvector is ``h_k / ||h_k||`` (MRT).

    Parameters
    ----------
    h : [b, Nc, Nt] complex
        Channels, space-frequency.
    subband_size : int
        Subcarriers per subband (see :func:`subband_sizes`).

    Returns
    -------
    v : [b, S, Nt] complex64
        Unit-norm eigenvectors (phase arbitrary); arbitrary unit vectors where ``R_s = 0``.
    energy : [b, S] float64
        ``sum_{k in s} ||h_k||^2`` (``trace R_s``), 0 marks an empty subband.
    """
    import torch

    blocks = subband_blocks(h, subband_size)  # [b, S, n, Nt]
    cov = np.matmul(blocks.transpose(0, 1, 3, 2), blocks.conj())  # R[n, m] = sum h[n] h[m]^*
    # PyTorch's batched LAPACK call: 2.4x faster than numpy.linalg.eigh on [250, 22, 32, 32]
    # complex64 (one thread; benchmarks/bench_sweep.py).
    vecs = torch.linalg.eigh(torch.from_numpy(np.ascontiguousarray(cov)))[1].numpy()
    energy = np.sum(abs2(blocks), axis=(2, 3), dtype=np.float64)
    return vecs[..., -1].astype(np.complex64), energy


def eigen_beamforming_subband(h_hat: np.ndarray, subband_size: int,
                              rng: np.random.Generator | None = None,
                              eigvecs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per-subband eigen-beamforming: the principal eigenvector of each subband's covariance,
    applied to every subcarrier of the subband.

    Parameters
    ----------
    h_hat : [b, Nc, Nt] complex
        Channel known at the BS.
    subband_size : int
        Subcarriers per subband; the last subband is shorter when it does not divide ``Nc``.
    rng : numpy.random.Generator or None
        Random unit beams for subbands where ``h_hat`` is all zero (as :func:`mrt`).
    eigvecs : (v [b, S, Nt], energy [b, S]) or None
        :func:`subband_principal_eigenvectors` of ``h_hat`` when already computed.

    Returns
    -------
    w : [b, Nc, Nt] complex64
        Unit-norm beams, constant over each subband. On perfect CSI they maximise the
        subband-summed gain ``sum_{k in s} |h_k^H w|^2`` over all unit vectors, so they beat any
        fixed beam per subband (e.g. the MRT beam of one subcarrier) and stay below
        per-subcarrier MRT.
    """
    v, energy = eigvecs if eigvecs is not None else subband_principal_eigenvectors(h_hat,
                                                                                   subband_size)
    v = v.copy()
    empty = energy <= 1e-60
    if np.any(empty):
        if rng is None:
            raise ValueError("h_hat has all-zero subbands: pass rng for random beams")
        v[empty] = random_beams((int(empty.sum()), 1, h_hat.shape[-1]), rng)[:, 0]
    sizes = subband_sizes(h_hat.shape[1], subband_size)
    return np.repeat(v, sizes, axis=1)
