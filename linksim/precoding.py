"""Base-station precoding from the fed-back channel.

Received signal on subcarrier ``k`` for a unit-norm beam ``w``: ``y = h_k^H w s + z``
(``h_k`` is the row ``H[b, k, :]`` read as a column). MRT on the estimate: ``w = h_hat / ||h_hat||``.
"""

from __future__ import annotations

import numpy as np

from linksim.estimation import complex_normal


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
