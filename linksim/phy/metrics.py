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

import functools

import numpy as np

from linksim.phy import transforms
from linksim.phy.precoding import beam_power, subband_principal_eigenvectors
from linksim.phy.subcarrier_terms import (  # noqa: F401  (CACHE_SAMPLES re-exported)
    CACHE_SAMPLES,
    _self_dot,
    _subcarrier_terms,
    _subcarrier_terms_ad,
)
from linksim.phy.transforms import abs2


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


# -- the sweep's metric set: what is shared per batch, then one call per method ---------------
class ChannelReference:
    """The true channels of one batch and everything about them that every method's metrics
    share, computed once (one delay transform, one eigendecomposition per subband).

    Parameters
    ----------
    h : [b, Nc, Nt] complex64
        True channels, space-frequency.
    num_rows : int
        ``Na``, the delay rows the codecs keep.
    subband_size : int
        Subcarriers per subband (SGCS and eigen-beamforming).
    downlink_snr_db : float
        ``rho_dl`` of the spectral efficiency.

    Attributes
    ----------
    h_ad : [b, Na, Nt] complex64
        Truncated angular-delay channel (:func:`linksim.phy.transforms.truncated_angular_delay`).
    energy, energy_ad, tail : [b] float64
        ``||H||^2``, the part of it inside the ``Na`` kept delay rows and the part outside.
    hn2 : [b, Nc] float64
        ``||h_k||^2``.
    v, cov : [b, S, Nt] complex64, [b, S, Nt, Nt] complex64
        Principal eigenvector and covariance ``sum_{k in s} h_k h_k^H`` per subband.
    """

    def __init__(self, h: np.ndarray, num_rows: int, subband_size: int, downlink_snr_db: float):
        from linksim.phy import precoding

        self.h = np.ascontiguousarray(h, dtype=np.complex64)
        self.num_rows, self.subband_size = num_rows, subband_size
        self.downlink_snr_db = downlink_snr_db
        _, nc, nt = h.shape
        self.basis = precoding.subband_basis(nc, num_rows, subband_size)
        (self.tail, self.h_ad, self.hn2, self._h_im, self.cov, self.v,
         self.v_energy) = over_samples(self._part, len(h))
        self.energy_ad = np.sum(abs2(self.h_ad), axis=(1, 2), dtype=np.float64)
        self.energy = self.hn2.sum(axis=-1)
        #: [b] bool: the channel is the rebuild of its ``Na`` kept rows (no energy outside them)
        self.exact = _rebuilt(self.tail, self.energy)
        self.p_elem = self.hn2.mean(axis=-1) / nt
        # h and -j h as real [b, Nc, 2 Nt]: Re and Im of h_hat_k^H h_k are real dot products
        self._h_re = self.h.view(np.float32)

    def _part(self, sl: slice) -> tuple[np.ndarray, ...]:
        """The per-sample work on samples ``sl`` (one thread of :func:`over_samples`)."""
        import scipy.fft


        h = self.h[sl]
        h_d = scipy.fft.ifft(h, axis=-2, norm="ortho", workers=1)
        tail = np.sum(abs2(h_d[:, self.num_rows:]), axis=(1, 2), dtype=np.float64)
        h_ad = scipy.fft.fft(h_d[:, :self.num_rows], axis=-1, norm="ortho",
                             workers=1).astype(np.complex64)
        h_im = (-1j * h).astype(np.complex64).view(np.float32)
        hn2 = _self_dot(h)
        return (tail, h_ad, hn2, h_im,
                *self._subbands(h, h_ad, _rebuilt(tail, hn2.sum(axis=-1))))

    def _subbands(self, h: np.ndarray, h_ad: np.ndarray, exact: np.ndarray
                  ) -> tuple[np.ndarray, ...]:
        """Covariance ``[n, S, Nt, Nt]``, principal eigenvector ``[n, S, Nt]`` complex64 and
        energy ``[n, S]`` float64 of each subband of ``h [n, Nc, Nt]``; from the ``r x Nt``
        blocks of :class:`linksim.phy.precoding.SubbandBasis` where ``exact [n]`` (no energy
        outside the ``Na`` kept delay rows: the channel is the rebuild of ``h_ad``), from the
        ``Nt x Nt`` covariances elsewhere."""
        from linksim.phy import precoding

        n, nt, s = len(h), h.shape[-1], self.basis.num_subbands
        cov = np.empty((n, s, nt, nt), np.complex64)
        v, energy = np.empty((n, s, nt), np.complex64), np.empty((n, s))
        if exact.any():
            b = np.ascontiguousarray(precoding.subband_blocks_ad(h_ad[exact], self.basis))
            cov[exact] = np.matmul(np.swapaxes(b, -1, -2), b.conj())
            v[exact], energy[exact] = precoding.principal_eigenvectors_of_gram(b)
        if not exact.all():
            cov[~exact] = precoding.subband_covariances(h[~exact], self.subband_size)
            v[~exact], energy[~exact] = precoding.principal_eigenvectors_hermitian(cov[~exact])
        return cov, v, energy


#: A true channel whose energy outside the ``Na`` kept delay rows is at most this fraction of
#: its energy is taken as the rebuild of those rows (:meth:`ChannelReference._subbands`): the
#: cross terms of what is dropped are below 1e-6 of the covariances, far under the 1e-4 to
#: which the metrics are checked. float32 rounding of a rebuilt channel leaves ~1e-14.
TAIL_EXACT = 1e-12


def _rebuilt(tail: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """``[b]`` bool: the channel is the rebuild of its ``Na`` kept rows (energy outside them at
    most :data:`TAIL_EXACT` of the whole)."""
    return tail <= TAIL_EXACT * energy


def threads() -> int:
    """Threads of the sweep's metric set: :data:`linksim.phy.transforms.FFT_WORKERS` (-1: all
    cores)."""
    import os

    if transforms.FFT_WORKERS < 0:
        return os.cpu_count() or 1
    return max(1, transforms.FFT_WORKERS)


#: Largest part of a batch that :func:`over_samples` hands to a thread at once: the subband
#: blocks of 64 samples (``[64, S, r, Nt]`` complex64, 2.2 MB at 22 subbands, rank 6 and 32
#: antennas) stay in cache between the steps that read them.
PART_SAMPLES = 64


@functools.lru_cache(maxsize=4)
def _pool(workers: int):
    """A thread pool of ``workers`` threads, kept for the life of the process (starting threads
    and finding the BLAS libraries cost ~10 ms a call, ~30 calls per sweep batch)."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import ThreadpoolController

    return ThreadPoolExecutor(workers, thread_name_prefix="linksim-metrics"), ThreadpoolController()


def over_samples(fn, n: int) -> tuple[np.ndarray, ...]:
    """``fn(slice)`` on parts of a batch of ``n`` samples, on :func:`threads` threads (BLAS
    and FFTs single-threaded inside each, so that they do not compete), its output arrays
    concatenated along the sample axis. ``fn`` returns a tuple of arrays ``[len(slice), ...]``
    and must not draw random numbers (the order of its calls is not fixed)."""
    workers = min(threads(), n)
    size = -(-n // max(2 * workers, -(-n // PART_SAMPLES)))
    parts = [slice(s, min(s + size, n)) for s in range(0, n, size)]
    if workers == 1:
        results = [fn(p) for p in parts]
    else:
        pool, controller = _pool(workers)
        with controller.limit(limits=1, user_api="blas"):
            results = list(pool.map(fn, parts))
    return tuple(np.concatenate(r) for r in zip(*results, strict=True))


def link_metrics(ref: ChannelReference, *, h_ad_hat: np.ndarray | None = None,
                 h_hat: np.ndarray | None = None, rng: np.random.Generator | None = None
                 ) -> dict[str, np.ndarray]:
    """Every per-sample metric of one method on one batch, from its reconstruction.

    Give ``h_ad_hat`` (``[b, Na, Nt]``: the codecs, LS and the angular-delay compressors; the
    space-frequency channel is its zero-filled rebuild) or ``h_hat`` (``[b, Nc, Nt]``: methods
    that reconstruct in space-frequency; ``h_ad_hat`` is then its truncation unless given).
    The same numbers as :func:`nmse_per_sample`, :func:`cosine_similarity`,
    :func:`beamforming_terms` of per-subcarrier MRT and the subband SGCS and eigen-beamforming
    gain (:mod:`linksim.phy.precoding`), computed with less work:

    - ``nmse_sf`` from the angular-delay error plus the truncation tail (Parseval);
    - ``rho`` and the MRT gain ``|h_hat_k^H h_k|^2 / ||h_hat_k||^2`` from one inner product and
      one norm per subcarrier (no beams formed);
    - the subband eigenvectors of an angular-delay reconstruction from ``r x r`` problems
      (:func:`linksim.phy.precoding.subband_principal_eigenvectors_ad`), and the eigen-beamforming
      gain as ``v_s^H R_s v_s`` with the true covariances of ``ref``.

    ``rng`` draws the random beams where the reconstruction is zero (as :func:`precoding.mrt`
    and :func:`precoding.eigen_beamforming_subband`, in the same order).

    Returns
    -------
    dict of [b] float64
        ``nmse_ad``, ``nmse_sf``, ``rho``, ``beam_power``, ``element_power``, ``channel_power``,
        ``sgcs``, ``se``, ``sgcs_subband``, ``beam_power_eigen``.
    """
    return _finish_link_metrics(ref, _link_terms(ref, h_ad_hat=h_ad_hat, h_hat=h_hat), rng)


def _link_terms(ref: ChannelReference, *, h_ad_hat: np.ndarray | None = None,
                h_hat: np.ndarray | None = None) -> dict:
    """The deterministic part of :func:`link_metrics` (no random draws, so it runs on the
    :func:`over_samples` threads): ``nmse_ad``, ``nmse_sf`` ``[b]``, ``u2``
    (``|h_hat_k^H h_k|^2``) and ``nh`` (``||h_hat_k||^2``) ``[b, Nc]`` float64, the
    reconstruction's subband eigenvectors ``v [b, S, Nt]`` complex64, their energies and
    subband-summed gains on the true channel ``energy, gain_eigen [b, S]`` float64."""
    from linksim.phy import precoding

    perfect = h_hat is ref.h
    if h_ad_hat is None:
        if h_hat is None:
            raise ValueError("give h_ad_hat or h_hat")
        h_ad_hat = ref.h_ad if perfect else transforms.truncated_angular_delay(h_hat,
                                                                               ref.num_rows)
    err_ad = np.sum(abs2(ref.h_ad - h_ad_hat), axis=(1, 2), dtype=np.float64)
    out = {"nmse_ad": err_ad / ref.energy_ad}
    from_ad = h_hat is None
    if from_ad:
        out["nmse_sf"] = (err_ad + ref.tail) / ref.energy
    else:
        h_hat = np.ascontiguousarray(h_hat, dtype=np.complex64)
        out["nmse_sf"] = nmse_per_sample(ref.h, h_hat)

    def part(sl: slice) -> tuple[np.ndarray, ...]:
        # per subcarrier: |u|^2 = |h_hat_k^H h_k|^2 and ||h_hat_k||^2; the subband eigenvectors
        u2, nh = _subcarrier_terms(ref, sl, h_ad_hat if from_ad else None, h_hat)
        if perfect:
            return u2, nh, ref.v[sl], ref.v_energy[sl]
        if from_ad:
            return u2, nh, *precoding.subband_principal_eigenvectors_ad(h_ad_hat[sl], ref.basis)
        return u2, nh, *precoding.principal_eigenvectors_hermitian(
            precoding.subband_covariances(h_hat[sl], ref.subband_size))

    out["u2"], out["nh"], out["v"], out["energy"] = over_samples(part, len(ref.h))
    out["gain_eigen"] = _quadratic_forms(ref.cov, out["v"])
    return out


def _quadratic_forms(cov: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``v_s^H R_s v_s`` of ``cov [b, S, Nt, Nt]`` and ``v [b, S, Nt]`` complex64: ``[b, S]``
    float64 (the subband-summed gain of beam ``v_s``)."""
    q = np.matmul(cov, v[..., None])[..., 0]
    return np.sum((np.conj(v) * q).real, axis=-1, dtype=np.float64)


def _finish_link_metrics(ref: ChannelReference, terms: dict, rng: np.random.Generator | None
                         ) -> dict[str, np.ndarray]:
    """:func:`link_metrics` from :func:`_link_terms`: the random beams where the reconstruction
    is zero (drawn from ``rng``) and the per-sample metrics."""
    from linksim.phy import precoding

    nc = ref.h.shape[1]
    u2, nh, v, energy = terms["u2"], terms["nh"], terms["v"], terms["energy"]
    out = {"nmse_ad": terms["nmse_ad"], "nmse_sf": terms["nmse_sf"]}
    den = np.sqrt(nh * ref.hn2)
    out["rho"] = np.divide(np.sqrt(u2), den, out=np.zeros_like(den), where=den > 0).mean(-1)
    # MRT w = h_hat / ||h_hat||: |h^H w|^2 = |u|^2 / ||h_hat||^2; a random beam where h_hat = 0
    empty = np.sqrt(nh) <= 1e-30
    g = np.divide(u2, nh, out=np.zeros_like(u2), where=~empty)
    if np.any(empty):
        g[empty] = _random_beam_gain(ref, empty, rng)
    snr = 10.0 ** (ref.downlink_snr_db / 10.0)
    out.update({
        "beam_power": g.mean(axis=-1),
        "element_power": ref.p_elem,
        "channel_power": ref.hn2.mean(axis=-1),
        "sgcs": np.divide(g, ref.hn2, out=np.zeros_like(g), where=ref.hn2 > 0).mean(axis=-1),
        "se": np.log2(1.0 + snr * g / ref.p_elem[:, None]).mean(axis=-1),
    })
    # SGCS of the reconstruction's subband eigenvectors against the true ones, eigen-BF gain
    out["sgcs_subband"] = sgcs_of_eigenvectors(ref.v, v, energy).mean(axis=-1)
    empty = energy <= 1e-60
    gain = terms["gain_eigen"]
    if np.any(empty):
        gain = gain.copy()
        w = precoding.random_beams((int(empty.sum()), 1, v.shape[-1]), rng)[:, 0]
        gain[empty] = _quadratic_forms(ref.cov[empty][:, None], w[:, None])[:, 0]
    out["beam_power_eigen"] = gain.sum(axis=-1) / nc
    return out


def _random_beam_gain(ref: ChannelReference, empty: np.ndarray, rng: np.random.Generator
                      ) -> np.ndarray:
    """``|h_k^H w_k|^2`` ``[m]`` float64 on the ``m`` subcarriers where ``empty [b, Nc]`` is
    set, for isotropically random unit beams ``w_k`` drawn from ``rng`` as
    :func:`linksim.phy.precoding.random_beams` draws them (same draws): ``|h_k^H r_k|^2 /
    ||r_k||^2`` with real dot products on float32 views, no beam or channel copy formed where
    every subcarrier is empty (the no-feedback row)."""
    from linksim.phy.estimation import complex_normal

    nt = ref.h.shape[-1]
    r = complex_normal(rng, (int(empty.sum()), nt)).view(np.float32)
    h_re, h_im = (x.reshape(-1, 2 * nt) for x in (ref._h_re, ref._h_im))
    if not empty.all():
        h_re, h_im = h_re[empty.ravel()], h_im[empty.ravel()]
    u_re = np.einsum("kn,kn->k", r, h_re).astype(np.float64)
    u_im = np.einsum("kn,kn->k", r, h_im).astype(np.float64)
    return (u_re * u_re + u_im * u_im) / np.einsum("kn,kn->k", r, r).astype(np.float64)


def link_metrics_reference(h: np.ndarray, h_ad: np.ndarray, h_ad_hat: np.ndarray,
                           h_hat: np.ndarray | None, rng: np.random.Generator | None,
                           subband_size: int, downlink_snr_db: float) -> dict[str, np.ndarray]:
    """:func:`link_metrics` straight from the definitions, the slow way: rebuild the
    space-frequency channel, form MRT and eigen-beamforming beams, ``eigh`` of every subband
    covariance (what the sweep computed until 2026-12-03). Kept as the reference that tests and
    ``benchmarks/bench_sweep.py`` compare the fast metric set with.

    ``h [b, Nc, Nt]``, ``h_ad [b, Na, Nt]``: true channel and its truncation; ``h_ad_hat`` the
    reconstruction, ``h_hat`` its space-frequency form (``None``: the zero-filled rebuild).
    """
    from linksim.phy import precoding

    if h_hat is None:
        h_hat = transforms.rebuild_space_frequency(h_ad_hat, h.shape[1])
    out = {"nmse_ad": nmse_per_sample(h_ad, h_ad_hat), "nmse_sf": nmse_per_sample(h, h_hat),
           "rho": cosine_similarity(h, h_hat)}
    out.update(beamforming_terms(h, precoding.mrt(h_hat, rng), downlink_snr_db))
    eig = subband_principal_eigenvectors(h_hat, subband_size)
    v_true = subband_principal_eigenvectors(h, subband_size)[0]
    out["sgcs_subband"] = sgcs_of_eigenvectors(v_true, *eig).mean(axis=-1)
    w_eig = precoding.eigen_beamforming_subband(h_hat, subband_size, rng, eigvecs=eig)
    out["beam_power_eigen"] = beam_power(h, w_eig).mean(axis=-1)
    return out
