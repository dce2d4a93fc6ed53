"""Link metrics: NMSE, cosine similarity, beamforming gain, spectral efficiency.

All functions take arrays of a batch and return *per-sample* values, so that a sweep can
concatenate batches and keep distributions; :func:`summarise` reduces them to the reported
numbers. Definitions (see docs/conventions.md):

- NMSE per sample ``||H - H_hat||^2 / ||H||^2``; reported as ``10 log10(mean_b NMSE_b)`` (the
  seeds' E{.}: linear mean over samples, then dB). Computed in the truncated angular-delay domain
  (``nmse_ad``, the papers' number; the reference is the *true* truncated channel) and in the
  full space-frequency domain (``nmse_sf``, what precoding sees; includes truncation loss).
- Cosine similarity ``rho = mean_k |h_hat_k^H h_k| / (||h_hat_k|| ||h_k||)`` over all ``Nc``
  subcarriers, then averaged over samples (0 where ``h_hat_k = 0``).
- Beamforming gain ``G = E|h^H w|^2 / E[||h||^2 / Nt]`` (expectations over samples and
  subcarriers): ``10 log10(Nt)`` dB for MRT on perfect CSI, ~0 dB for a random beam.
  ``bf_gain_loss_db`` is the gap to MRT on perfect CSI; ``sgcs = E[|h^H w|^2 / ||h||^2]`` is
  the normalised gain (the rank-1 squared generalised cosine similarity).
- Spectral efficiency at downlink SNR ``rho_dl``:
  ``SE = mean_{b,k} log2(1 + rho_dl |h^H w|^2 / P_b)`` with ``P_b`` each sample's mean
  per-element channel power (so ``rho_dl`` is the SNR of a single-antenna link, per sample).
- Subband SGCS (3GPP style), per sample and subband ``s``:
  ``|v_hat_s^H v_s|^2 / (||v_hat_s||^2 ||v_s||^2)`` with ``v_s`` (``v_hat_s``) the principal
  eigenvector of ``sum_{k in s} h_k h_k^H`` of the true (fed-back) channel.
"""

from __future__ import annotations

import numpy as np

from linksim.precoding import beam_power, subband_principal_eigenvectors
from linksim.transforms import abs2


def nmse_per_sample(h: np.ndarray, h_hat: np.ndarray) -> np.ndarray:
    """``||h - h_hat||^2 / ||h||^2`` per sample, over all non-batch axes; ``[b]`` float64."""
    axes = tuple(range(1, h.ndim))
    err = np.sum(abs2(h - h_hat), axis=axes, dtype=np.float64)
    ref = np.sum(abs2(h), axis=axes, dtype=np.float64)
    return err / ref


def cosine_similarity(h: np.ndarray, h_hat: np.ndarray) -> np.ndarray:
    """Per-sample mean over subcarriers of ``|h_hat_k^H h_k| / (||h_hat_k|| ||h_k||)``; ``[b]``.

    Parameters
    ----------
    h, h_hat : [b, Nc, Nt] complex
        True and reconstructed space-frequency channels.
    """
    inner = np.abs(np.einsum("bkn,bkn->bk", h_hat.conj(), h)).astype(np.float64)
    norms = np.sqrt(np.sum(abs2(h_hat), axis=-1, dtype=np.float64)
                    * np.sum(abs2(h), axis=-1, dtype=np.float64))
    rho = np.divide(inner, norms, out=np.zeros_like(inner), where=norms > 0)
    return rho.mean(axis=-1)


def beamforming_terms(h: np.ndarray, w: np.ndarray, downlink_snr_db: float) -> dict[str, np.ndarray]:
    """Per-sample terms of the beamforming metrics.

    Parameters
    ----------
    h : [b, Nc, Nt] complex
        True channels.
    w : [b, Nc, Nt] complex
        Unit-norm beams used by the BS.
    downlink_snr_db : float
        ``rho_dl`` in dB for the spectral efficiency.

    Returns
    -------
    dict of [b] float64 arrays
        ``beam_power`` (mean_k |h^H w|^2), ``element_power`` (mean_k ||h||^2 / Nt),
        ``channel_power`` (mean_k ||h||^2), ``sgcs`` (mean_k |h^H w|^2/||h||^2), ``se`` (b/s/Hz).
    """
    g = beam_power(h, w)
    hn2 = np.sum(abs2(h), axis=-1, dtype=np.float64)
    nt = h.shape[-1]
    p_elem = hn2.mean(axis=-1) / nt
    snr = 10.0 ** (downlink_snr_db / 10.0)
    se = np.log2(1.0 + snr * g / p_elem[:, None]).mean(axis=-1)
    sgcs = np.divide(g, hn2, out=np.zeros_like(g), where=hn2 > 0).mean(axis=-1)
    return {
        "beam_power": g.mean(axis=-1),
        "element_power": p_elem,
        "channel_power": hn2.mean(axis=-1),
        "sgcs": sgcs,
        "se": se,
    }


def to_db(x: float) -> float:
    """``10 log10(x)``; ``-inf`` for 0."""
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(x))


def summarise(per_sample: dict[str, np.ndarray]) -> dict[str, float]:
    """Reduce concatenated per-sample metrics to the reported numbers.

    Parameters
    ----------
    per_sample : dict of [N] arrays
        Keys ``nmse_ad``, ``nmse_sf``, ``rho`` and those of :func:`beamforming_terms`;
        optionally ``sgcs_subband`` (per-sample mean of :func:`sgcs_subband`) and
        ``beam_power_eigen`` (``beam_power`` of per-subband eigen-beamforming).

    Returns
    -------
    dict
        ``nmse_ad_db``, ``nmse_sf_db``, ``rho``, ``bf_gain_db``, ``bf_gain_loss_db``, ``sgcs``,
        ``se_bps_hz``, ``sgcs_subband``, ``bf_gain_eigen_db`` (NaN without their inputs),
        ``n_samples``.
    """
    bp = per_sample["beam_power"].sum()
    return {
        "nmse_ad_db": to_db(per_sample["nmse_ad"].mean()),
        "nmse_sf_db": to_db(per_sample["nmse_sf"].mean()),
        "rho": float(per_sample["rho"].mean()),
        "bf_gain_db": to_db(bp / per_sample["element_power"].sum()),
        "bf_gain_loss_db": to_db(per_sample["channel_power"].sum() / bp),
        "sgcs": float(per_sample["sgcs"].mean()),
        "se_bps_hz": float(per_sample["se"].mean()),
        "sgcs_subband": (float(per_sample["sgcs_subband"].mean())
                         if "sgcs_subband" in per_sample else float("nan")),
        "bf_gain_eigen_db": (to_db(per_sample["beam_power_eigen"].sum()
                                   / per_sample["element_power"].sum())
                             if "beam_power_eigen" in per_sample else float("nan")),
        "n_samples": int(per_sample["nmse_ad"].size),
    }


def sgcs_subband(h: np.ndarray, h_hat: np.ndarray, subband_size: int) -> np.ndarray:
    """Squared generalised cosine similarity of the dominant eigenvector per subband.

    3GPP style: ``v_s`` is the principal eigenvector of ``R_s = sum_{k in s} h_k h_k^H`` (the
    beam of largest subband-summed gain), ``v_hat_s`` the same from ``h_hat``, and
    ``SGCS_s = |v_hat_s^H v_s|^2 / (||v_hat_s||^2 ||v_s||^2)`` in [0, 1], blind to the phase of
    either vector. With a single-antenna UE ``R_s`` is a sum of ``n_s`` rank-1 terms, not a
    MIMO covariance; for ``subband_size = 1`` the SGCS is ``rho_k^2`` of
    :func:`cosine_similarity`. A random ``h_hat`` gives ``1 / Nt`` on average.

    Parameters
    ----------
    h, h_hat : [b, Nc, Nt] complex
        True and reconstructed space-frequency channels.
    subband_size : int
        Subcarriers per subband; the last subband is shorter when it does not divide ``Nc``.

    Returns
    -------
    [b, S] float64
        SGCS per sample and subband; 0 where ``h_hat`` is all zero on the subband (the BS knows
        no direction).
    """
    if h.shape != h_hat.shape:
        raise ValueError(f"h and h_hat differ in shape: {h.shape} vs {h_hat.shape}")
    v, _ = subband_principal_eigenvectors(h, subband_size)
    return sgcs_of_eigenvectors(v, *subband_principal_eigenvectors(h_hat, subband_size))


def sgcs_of_eigenvectors(v: np.ndarray, v_hat: np.ndarray, energy_hat: np.ndarray) -> np.ndarray:
    """:func:`sgcs_subband` from precomputed principal eigenvectors ``v, v_hat [b, S, Nt]`` and
    the energy of ``h_hat`` per subband ``[b, S]``; returns ``[b, S]`` float64."""
    inner = np.einsum("bsn,bsn->bs", v_hat.conj(), v)
    num = inner.real.astype(np.float64) ** 2 + inner.imag.astype(np.float64) ** 2
    den = (np.sum(abs2(v), axis=-1, dtype=np.float64)
           * np.sum(abs2(v_hat), axis=-1, dtype=np.float64))
    return np.where(energy_hat > 1e-60, num / den, 0.0)
