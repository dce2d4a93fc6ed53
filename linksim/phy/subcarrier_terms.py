"""Per-subcarrier terms of the sweep's metric set: ``|h_hat_k^H h_k|^2`` and ``||h_hat_k||^2``
of a reconstruction against the true channel of a :class:`linksim.phy.metrics.ChannelReference`
(cosine similarity, MRT gain, SGCS and rate all follow from them,
:func:`linksim.phy.metrics.link_metrics`).

Two exact routes: from the space-frequency channels (rebuild the reconstruction, one inner
product and one norm per subcarrier), and, where the true channel is the rebuild of its ``Na``
kept delay rows (every COST2100-style sample), from the ``Na x Na`` Gram matrices of those rows
and two ``Nc``-point FFTs, without rebuilding anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from linksim.phy import transforms
from linksim.phy.transforms import abs2

if TYPE_CHECKING:
    from linksim.phy.metrics import ChannelReference


#: Samples whose rebuilt space-frequency channel (``Nc Nt`` complex64 each) is formed at a time
#: by :func:`link_metrics`: 8 x 1,024 x 32 entries (2 MiB) stay in cache between the FFT and the
#: inner products that read it.
CACHE_SAMPLES = 8


def _self_dot(x: np.ndarray) -> np.ndarray:
    """``||x_k||^2`` over the last axis of a complex64 ``[b, Nc, Nt]``, ``[b, Nc]`` float64."""
    r = x.view(np.float32)
    return np.einsum("bkn,bkn->bk", r, r).astype(np.float64)


def _subcarrier_terms(ref: ChannelReference, sl: slice, h_ad_hat: np.ndarray | None,
                      h_hat: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``|h_hat_k^H h_k|^2`` and ``||h_hat_k||^2`` ``[n, Nc]`` float64 of samples ``sl``, with
    ``h_hat`` the zero-filled rebuild of ``h_ad_hat [b, Na, Nt]`` when given: from the Gram
    matrices of the kept rows where the true channel is their rebuild
    (:func:`_subcarrier_terms_ad`), else from the space-frequency channels
    (:func:`_subcarrier_terms_sf`)."""
    nc = ref.h.shape[1]
    if h_ad_hat is None:
        return _subcarrier_terms_sf(ref, np.arange(sl.start, sl.stop), lambda p: h_hat[p])
    idx = np.arange(sl.start, sl.stop)
    exact = ref.exact[sl]
    u2, nh = np.empty((len(idx), nc)), np.empty((len(idx), nc))
    if exact.any():
        u2[exact], nh[exact] = _subcarrier_terms_ad(ref.h_ad[idx[exact]], h_ad_hat[idx[exact]],
                                                    nc)
    if not exact.all():
        u2[~exact], nh[~exact] = _subcarrier_terms_sf(
            ref, idx[~exact],
            lambda p: transforms.rebuild_space_frequency(h_ad_hat[p], nc, workers=1))
    return u2, nh


def _subcarrier_terms_sf(ref: ChannelReference, idx: np.ndarray, rebuild
                         ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_subcarrier_terms` of samples ``idx [n]`` from the space-frequency reconstruction
    ``rebuild(idx_part) -> [m, Nc, Nt]`` complex64, formed :data:`CACHE_SAMPLES` samples at a
    time: one inner product and one norm per subcarrier."""
    u2, nh = [], []
    # consecutive samples (the usual case): slices, so that the channel rows are views
    run = len(idx) > 0 and idx[-1] - idx[0] + 1 == len(idx)
    for s in range(0, len(idx), CACHE_SAMPLES):
        p = (slice(idx[0] + s, idx[0] + min(s + CACHE_SAMPLES, len(idx))) if run
             else idx[s:s + CACHE_SAMPLES])
        hh = rebuild(p)
        hv = hh.view(np.float32)
        u_re = np.einsum("bkn,bkn->bk", hv, ref._h_re[p]).astype(np.float64)
        u_im = np.einsum("bkn,bkn->bk", hv, ref._h_im[p]).astype(np.float64)
        u2.append(u_re * u_re + u_im * u_im)
        nh.append(_self_dot(hh))
    if not u2:
        nc = ref.h.shape[1]
        return np.empty((0, nc)), np.empty((0, nc))
    return np.concatenate(u2), np.concatenate(nh)


def _subcarrier_terms_ad(h_ad: np.ndarray, h_ad_hat: np.ndarray, num_subcarriers: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_subcarrier_terms` where the true channel is the rebuild of its ``Na`` kept rows,
    without rebuilding either channel.

    With ``g_d`` (``g_hat_d``) the kept delay rows of ``h_ad [n, Na, Nt]`` (``h_ad_hat``), both
    channels are ``h_k = Nc^-1/2 sum_d g_d e^{-j 2 pi k d / Nc}`` after a unitary DFT over the
    antennas, which keeps inner products. So ``h_hat_k^H h_k = Nc^-1 sum_l c_l
    e^{-j 2 pi k l / Nc}``: the length-``Nc`` DFT of the lag sums ``c_l = sum_{d - d' = l}
    g_hat_d'^H g_d`` of the ``Na x Na`` Gram matrix, and ``||h_hat_k||^2`` likewise from the
    Gram matrix of ``h_ad_hat`` with itself. Per sample that is two ``Na^3`` products and two
    ``Nc``-point FFTs instead of ``Nt`` zero-padded ``Nc``-point FFTs and ``Nc`` inner products
    (8x less arithmetic at ``Nc`` 1,024, ``Na = Nt = 32``); the FFTs run in float64.

    Returns
    -------
    u2, nh : [n, Nc] float64
        ``|h_hat_k^H h_k|^2`` and ``||h_hat_k||^2``.
    """
    import scipy.fft

    n, na, _ = h_ad.shape
    a = np.conj(np.ascontiguousarray(h_ad_hat, dtype=np.complex64))
    gram = np.empty((n, 2, na, na), np.complex64)
    # [d', d] = g_hat_d'^H g_d, rows d' reversed so that the lag d - d' is an anti-diagonal
    np.matmul(a[:, ::-1], np.swapaxes(h_ad, -1, -2), out=gram[:, 0])
    np.matmul(a[:, ::-1], np.swapaxes(np.conj(a), -1, -2), out=gram[:, 1])
    lags = _lag_sums(gram)                                       # [n, 2, 2 Na - 1], lag + Na - 1
    c = np.zeros((n, 2, num_subcarriers), np.complex128)
    c[..., :na] = lags[..., na - 1:]                             # lags 0 .. Na - 1
    c[..., num_subcarriers - na + 1:] = lags[..., :na - 1]       # lags -(Na - 1) .. -1
    spec = scipy.fft.fft(c, axis=-1, overwrite_x=True, workers=1)
    spec *= 1.0 / num_subcarriers
    return abs2(spec[:, 0]).astype(np.float64, copy=False), spec[:, 1].real.copy()


def _lag_sums(m: np.ndarray) -> np.ndarray:
    """Anti-diagonal sums of square matrices ``m [..., r, r]``: ``[..., 2 r - 1]``, entry ``i + j``
    summing ``m[..., i, j]`` (rows padded by ``r`` zeros and read back with a stride of
    ``2 r - 1``, so that row ``i`` shifts ``i`` places)."""
    r = m.shape[-1]
    padded = np.zeros(m.shape[:-1] + (2 * r,), m.dtype)
    padded[..., :r] = m
    flat = padded.reshape(m.shape[:-2] + (2 * r * r,))[..., :r * (2 * r - 1)]
    return flat.reshape(m.shape[:-2] + (r, 2 * r - 1)).sum(axis=-2)
