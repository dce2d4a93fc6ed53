"""KPIs of eigenvector CSI: SGCS per layer (mean and CDF points), eigenvector NMSE and a
link-level throughput proxy (post-MMSE SINR rate of the reported precoder).

Throughput proxy
----------------
Per subband ``s`` the BS precodes with the reported eigenvectors ``W_s [Nt, L]`` (columns
normalised, equal power ``1/L`` per layer). On subcarrier ``k`` of the subband the UE sees
``H_k [Nr, Nt]`` and, with an MMSE receiver, layer ``l`` gets

    sinr_l = 1 / [(I_L + (snr / L) W^H H_k^H H_k W)^{-1}]_{ll} - 1

(the MMSE-SINR identity). The rate is ``sum_l log2(1 + sinr_l)`` bit/s/Hz averaged over the
subcarriers of all subbands. ``snr`` is the total transmit power over the noise power per
receive antenna, for channels as given; :func:`normalise_channels` scales each sample to
``mean_k ||H_k||_F^2 = Nr Nt`` (unit mean gain per antenna pair), which the study applies.
"""

from __future__ import annotations

import numpy as np

from linksim.phy.eigen import eigenvector_nmse, sgcs_per_layer
from linksim.phy.precoding import subband_sizes

#: Percentiles of the per-sample SGCS reported as CDF points.
CDF_POINTS = (5, 10, 50)


def sgcs_summary(v: np.ndarray, v_hat: np.ndarray) -> dict[str, float]:
    """SGCS per layer of ``v_hat`` against ``v`` (both ``[b, S, Nt, L]`` complex).

    Returns
    -------
    dict
        ``sgcs_l{l}``: mean over samples and subbands (layer ``l`` from 1); ``sgcs_l{l}_p{q}``:
        the ``q``-th percentile over samples of the per-sample subband mean (CDF points
        :data:`CDF_POINTS`); ``sgcs_mean``: mean over layers; ``eigen_nmse_db``: 10 log10 of the
        mean :func:`linksim.phy.eigen.eigenvector_nmse`.
    """
    sg = sgcs_per_layer(v, v_hat)  # [b, S, L]
    per_sample = sg.mean(axis=1)  # [b, L]
    out = {}
    for layer in range(sg.shape[-1]):
        out[f"sgcs_l{layer + 1}"] = float(per_sample[:, layer].mean())
        for q in CDF_POINTS:
            out[f"sgcs_l{layer + 1}_p{q}"] = float(np.percentile(per_sample[:, layer], q))
    out["sgcs_mean"] = float(sg.mean())
    out["eigen_nmse_db"] = float(10 * np.log10(max(eigenvector_nmse(v, v_hat).mean(), 1e-30)))
    return out


def normalise_channels(h: np.ndarray) -> np.ndarray:
    """Scale each sample of ``h [b, Nc, Nr, Nt]`` to ``mean_k ||H_k||_F^2 = Nr Nt``
    (complex64; an all-zero sample stays zero)."""
    p = np.mean(np.sum(np.abs(h.astype(np.complex128)) ** 2, axis=(2, 3)), axis=1)  # [b]
    scale = np.sqrt(h.shape[2] * h.shape[3] / np.where(p > 0, p, 1.0))
    return (h * scale[:, None, None, None]).astype(np.complex64)


def mmse_sinr(hmat: np.ndarray, w: np.ndarray, snr: float) -> np.ndarray:
    """Post-MMSE SINR per layer.

    Parameters
    ----------
    hmat : [..., Nr, Nt] complex
        Channel matrices ``H`` (``y = H x + n``).
    w : [..., Nt, L] complex
        Precoders (broadcast against ``hmat``); columns are normalised here (zero stays zero).
    snr : float
        Total transmit power / noise power (linear), split equally over the ``L`` layers.

    Returns
    -------
    [..., L] float64, >= 0.
    """
    w = w / np.maximum(np.linalg.norm(w, axis=-2, keepdims=True), 1e-300)
    g = np.matmul(hmat.astype(np.complex128), w.astype(np.complex128))  # [..., Nr, L]
    nl = w.shape[-1]
    a = np.eye(nl) + (snr / nl) * np.matmul(np.conj(np.swapaxes(g, -1, -2)), g)
    diag = np.real(np.diagonal(np.linalg.inv(a), axis1=-2, axis2=-1))
    return np.maximum(1.0 / diag - 1.0, 0.0)


def precoded_rate(h: np.ndarray, w: np.ndarray, subband_size: int, snr: float,
                  chunk: int = 256) -> np.ndarray:
    """Rate (bit/s/Hz) per sample of per-subband precoders on a channel.

    Parameters
    ----------
    h : [b, Nc, Nr, Nt] complex
        Channels in linksim's storage convention, ``H_k = conj(h[:, k])``.
    w : [b, S, Nt, L] complex
        Reported precoders per subband (``S`` = subbands of ``subband_size`` subcarriers).
    subband_size : int
        Subcarriers per subband (the last may be shorter).
    snr : float
        Linear SNR (see the module docstring).

    Returns
    -------
    [b] float64: ``mean_k sum_l log2(1 + sinr_{k,l})``.
    """
    sizes = subband_sizes(h.shape[1], subband_size)
    if len(sizes) != w.shape[1]:
        raise ValueError(f"w has {w.shape[1]} subbands, the channel {len(sizes)}")
    sb = np.repeat(np.arange(len(sizes)), sizes)  # subcarrier -> subband
    out = np.empty(h.shape[0])
    for i in range(0, h.shape[0], chunk):
        hk = np.conj(h[i:i + chunk])  # [c, Nc, Nr, Nt]
        sinr = mmse_sinr(hk, w[i:i + chunk][:, sb], snr)  # [c, Nc, L]
        out[i:i + chunk] = np.log2(1.0 + sinr).sum(axis=-1).mean(axis=-1)
    return out
