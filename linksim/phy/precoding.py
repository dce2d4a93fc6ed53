"""Base-station precoding from the fed-back channel.

Received signal on subcarrier ``k`` for a unit-norm beam ``w``: ``y = h_k^H w s + z``
(``h_k`` is the row ``H[b, k, :]`` read as a column). MRT on the estimate: ``w = h_hat / ||h_hat||``.
Per-subband eigen-beamforming (3GPP style): one beam per subband of consecutive subcarriers, the
principal eigenvector of ``R_s = sum_{k in s} h_hat_k h_hat_k^H``.
"""

from __future__ import annotations

import functools

import numpy as np

from linksim.errors import LinksimInputError
from linksim.phy.estimation import complex_normal
from linksim.phy.transforms import abs2


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
        w[empty] = random_beams((int(empty.sum()), 1, h_hat.shape[-1]), rng)[:, 0]
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


def subband_covariances(h: np.ndarray, subband_size: int) -> np.ndarray:
    """``R_s = sum_{k in s} h_k h_k^H`` of each subband: ``[b, Nc, Nt]`` -> ``[b, S, Nt, Nt]``
    complex64 (``R[n, m] = sum_k h_k[n] conj(h_k[m])``)."""
    blocks = subband_blocks(h, subband_size)  # [b, S, n, Nt]
    return np.matmul(blocks.transpose(0, 1, 3, 2), blocks.conj())


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

    cov = subband_covariances(h, subband_size)
    # the definition, by full eigendecompositions (PyTorch's batched LAPACK call: 2.4x
    # numpy.linalg.eigh on one thread); the sweep uses principal_eigenvectors_hermitian
    vecs = torch.linalg.eigh(torch.from_numpy(np.ascontiguousarray(cov)))[1].numpy()
    energy = np.sum(abs2(subband_blocks(h, subband_size)), axis=(2, 3), dtype=np.float64)
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


# -- fast subband eigenvectors of a truncated angular-delay channel ---------------------------
class SubbandBasis:
    """Exact low-dimensional form of each subband of a channel with ``Na`` delay taps.

    A channel rebuilt from ``Na`` delay rows is ``H_s = F_s C`` on subband ``s``: ``F_s``
    ``[n_s, Na]`` the rows of the unitary DFT (``exp(-j 2 pi k d / Nc) / sqrt(Nc)``) and ``C``
    ``[Na, Nt]`` the space-delay taps. With the SVD ``F_s = P S V^H``,
    ``R_s = sum_k h_k h_k^H`` equals the covariance of the ``r x Nt`` block ``B_s = S_r V_r^H C``,
    where ``r`` keeps the singular values with ``sigma^2 / sigma_1^2 > tol``. A subband is short
    against the delay spread (time-bandwidth product ``n_s Na / Nc``, 1.5 for 48 of 1,024
    subcarriers and 32 taps), so ``r`` is small (6 there) and the principal eigenvector comes from
    an ``r x r`` problem instead of an ``Nt x Nt`` one; what is dropped is below ``tol`` of the
    subband's energy (``1e-7``, float32's resolution of it: ``sigma_7^2 / sigma_1^2`` is
    ``1.1e-8`` there).

    Attributes
    ----------
    m : [S * r, Na] complex64
        The stacked ``S_r V_r^H`` of all subbands (zero rows pad subbands with fewer terms).
    rank : int
        ``r``.
    """

    def __init__(self, num_subcarriers: int, num_rows: int, subband_size: int,
                 tol: float = 1e-7):
        sizes = subband_sizes(num_subcarriers, subband_size)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        blocks = []
        for k0, n in zip(starts, sizes, strict=True):
            k = np.arange(k0, k0 + n)[:, None]
            f = np.exp(-2j * np.pi * k * np.arange(num_rows)[None] / num_subcarriers)
            _, s, vh = np.linalg.svd(f / np.sqrt(num_subcarriers), full_matrices=False)
            keep = int(np.sum(s ** 2 > tol * s[0] ** 2))
            blocks.append(s[:keep, None] * vh[:keep])
        self.rank = max(len(b) for b in blocks)
        m = np.zeros((len(sizes), self.rank, num_rows), np.complex128)
        for i, b in enumerate(blocks):
            m[i, :len(b)] = b
        self.num_subbands = len(sizes)
        self.m = m.reshape(-1, num_rows).astype(np.complex64)


@functools.lru_cache(maxsize=8)
def subband_basis(num_subcarriers: int, num_rows: int, subband_size: int) -> SubbandBasis:
    """:class:`SubbandBasis`, built once per grid (an SVD per subband)."""
    return SubbandBasis(num_subcarriers, num_rows, subband_size)


def principal_eigenvectors_hermitian(k: np.ndarray, squarings: int = 2, iterations: int = 6,
                                     tol: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Principal eigenvector of a batch of Hermitian PSD matrices ``K [..., n, n]``.

    Power iteration on ``K`` (normalised to unit trace) squared ``squarings`` times, from the
    column of ``K^(2^squarings)`` where ``K`` has its largest diagonal entry (``iterations``
    steps: ``K^(2^squarings * iterations)``). Where the eigen-residual ``||K x - lambda x|| / lambda`` is still above ``tol`` (close top
    eigenvalues), ``numpy.linalg.eigh`` of ``K`` decides, so the result is an eigenvector to
    ``tol`` either way. Much cheaper than ``eigh`` of every matrix, and free of the
    thread-oversubscription stalls of a batched LAPACK call on a busy machine.

    Returns
    -------
    x : [..., n] complex64
        Unit-norm principal eigenvectors (phase arbitrary; ``e_1`` where ``K = 0``).
    trace : [...] float64
        ``trace K``.
    """
    k = np.asarray(k, dtype=np.complex64)
    trace = np.trace(k, axis1=-2, axis2=-1).real.astype(np.float64)
    k = k / np.where(trace > 0, trace, 1.0).astype(np.float32)[..., None, None]
    kp = k
    for _ in range(squarings):
        kp = np.matmul(kp, kp)
    # one rescale for all squarings: at unit trace every eigenvalue of K is <= 1, so the
    # squarings cannot overflow; dividing by trace K^(2^q) keeps the top one in [1/n, 1]
    kp /= np.maximum(np.trace(kp, axis1=-2, axis2=-1).real, 1e-30)[..., None, None]
    # start from the column of largest diagonal: never orthogonal to the range of K
    col = np.argmax(np.diagonal(k, axis1=-2, axis2=-1).real, axis=-1)
    x = np.take_along_axis(kp, col[..., None, None], axis=-1)
    for i in range(iterations):
        x = np.matmul(kp, x)
        if i % 3 == 2 or i == iterations - 1:  # three steps shrink x by at most n^-3
            x /= np.maximum(np.sqrt(np.sum(abs2(x), axis=-2, keepdims=True)), 1e-30)
    kx = np.matmul(k, x)
    lam = np.sum((np.conj(x) * kx).real, axis=(-2, -1))
    res = np.sqrt(np.sum(abs2(kx - lam[..., None, None] * x), axis=(-2, -1)))
    # at unit trace the top eigenvalue is at least 1 / n: below it, x is not the top one
    slow = ((res > tol * np.maximum(lam, 1e-30)) | (lam < (1 - 1e-3) / k.shape[-1])) & (trace > 0)
    if np.any(slow):
        x[slow, :, 0] = np.linalg.eigh(k[slow].astype(np.complex128))[1][..., -1]
    x = x[..., 0]
    x[trace <= 0] = 0.0
    x[trace <= 0, 0] = 1.0
    return x, trace


def principal_eigenvectors_of_gram(b: np.ndarray, **options) -> tuple[np.ndarray, np.ndarray]:
    """Principal eigenvector of ``R = B^T conj(B)`` for a batch of small ``B [..., r, Nt]``.

    ``R`` is the covariance ``sum_k h_k h_k^H`` of the rows ``h_k^T`` of ``B``; its principal
    eigenvector is ``v = B^T conj(x)`` normalised, with ``x`` the principal eigenvector of the
    ``r x r`` matrix ``K = B B^H`` (:func:`principal_eigenvectors_hermitian`, ``options``
    passed on).

    Returns
    -------
    v : [..., Nt] complex64
        Unit-norm principal eigenvectors of ``R`` (phase arbitrary; ``e_1`` where ``B = 0``).
    energy : [...] float64
        ``trace R``.
    """
    b = np.ascontiguousarray(b, dtype=np.complex64)
    x, energy = principal_eigenvectors_hermitian(
        np.matmul(b, np.conj(np.swapaxes(b, -1, -2))), **options)
    v = np.matmul(np.conj(x)[..., None, :], b)[..., 0, :]
    norm = np.sqrt(np.sum(abs2(v), axis=-1, keepdims=True))
    v = np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)
    v[energy <= 0, 0] = 1.0
    return v, energy


def subband_principal_eigenvectors_ad(h_ad_trunc: np.ndarray, basis: SubbandBasis
                                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`subband_principal_eigenvectors` of ``rebuild_space_frequency(h_ad_trunc)``
    without rebuilding it: from the ``r x Nt`` blocks of :class:`SubbandBasis`.

    Parameters
    ----------
    h_ad_trunc : [b, Na, Nt] complex
        Truncated angular-delay channel (the codec's output domain).
    basis : SubbandBasis
        Of the same ``Nc``, ``Na`` and subband size.

    Returns
    -------
    v : [b, S, Nt] complex64
        Unit-norm principal eigenvectors (phase arbitrary).
    energy : [b, S] float64
        ``trace R_s``, 0 marks an empty subband.
    """
    # rows of B_s are an orthonormal recombination of the subband's rows h_k^T: same R_s
    return principal_eigenvectors_of_gram(subband_blocks_ad(h_ad_trunc, basis))


def subband_blocks_ad(h_ad_trunc: np.ndarray, basis: SubbandBasis) -> np.ndarray:
    """The ``r x Nt`` blocks ``B_s = S_r V_r^H C`` of :class:`SubbandBasis` (``C`` the
    space-delay taps of ``h_ad_trunc [b, Na, Nt]``): ``[b, S, r, Nt]`` complex64, with
    ``B_s^T conj(B_s) = R_s`` the subband covariance of the rebuilt channel."""
    import scipy.fft

    n, na, nt = h_ad_trunc.shape
    c = scipy.fft.ifft(h_ad_trunc, axis=-1, norm="ortho").astype(np.complex64)  # space-delay
    # one GEMM for all samples: [S r, Na] @ [Na, b Nt]
    b = basis.m @ c.transpose(1, 0, 2).reshape(na, n * nt)
    return b.reshape(basis.num_subbands, basis.rank, n, nt).transpose(2, 0, 1, 3)
