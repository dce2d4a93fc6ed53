"""eType II encoder and decoder: beam selection, spatial-domain coefficients, the frequency-domain
basis, coefficient quantisation, and the report of :mod:`linksim.etype2.params` built from and
turned back into per-subband precoders. The conventions (port order, coefficient rows, remapped
FD indices) and the UE's choices are in :mod:`linksim.etype2`.
"""

from __future__ import annotations

import math

import numpy as np

from linksim.errors import LinksimInputError
from linksim.etype2.params import (
    DIFF_AMPLITUDES,
    N_PSK,
    REF_AMPLITUDES,
    ETypeIIReport,
    _check_int,
    _params,
    max_nonzero,
    num_fd_basis,
)

# --------------------------------------------------------------------------- building blocks


def beam_vectors(m1: np.ndarray, m2: np.ndarray, n1: int, n2: int, o1: int, o2: int
                 ) -> np.ndarray:
    """Unit-norm oversampled 2-D DFT beams.

    Parameters
    ----------
    m1, m2 : [...] int
        Beam indices in ``0..O1N1-1`` and ``0..O2N2-1`` (broadcast together).

    Returns
    -------
    [..., N1 N2] complex128
        Entry ``p = n1' N2 + n2'`` is
        ``exp(j 2 pi (m1 n1'/(O1 N1) + m2 n2'/(O2 N2))) / sqrt(N1 N2)``.
    """
    m1, m2 = np.broadcast_arrays(np.asarray(m1), np.asarray(m2))
    a1 = np.exp(2j * np.pi * m1[..., None] * np.arange(n1) / (o1 * n1))  # [..., N1]
    a2 = np.exp(2j * np.pi * m2[..., None] * np.arange(n2) / (o2 * n2))  # [..., N2]
    return (a1[..., :, None] * a2[..., None, :]).reshape(*m1.shape, n1 * n2) / math.sqrt(n1 * n2)


def _group_beams(q1, q2, k, n1: int, n2: int, o1: int, o2: int) -> np.ndarray:
    """Beams ``k = N1 k2 + k1`` of rotation ``(q1, q2)``; broadcasting; ``[..., N1N2]``."""
    k = np.asarray(k)
    return beam_vectors(o1 * (k % n1) + np.asarray(q1), o2 * (k // n1) + np.asarray(q2),
                        n1, n2, o1, o2)


def select_beams(v: np.ndarray, n1: int, n2: int, o1: int, o2: int, num_beams: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and ``L`` orthogonal beams capturing the most energy of ``v``.

    Parameters
    ----------
    v : [b, N3, 2 N1 N2, v] complex
        Eigenvectors.
    num_beams : int
        ``L``.

    Returns
    -------
    q : [b, 2] int64
        ``(q1, q2)``.
    beams : [b, L] int64
        Orthogonal beam indices ``k``, ascending.
    """
    b, n3, _, nl = v.shape
    nn = n1 * n2
    q1, q2 = np.meshgrid(np.arange(o1), np.arange(o2), indexing="ij")  # [O1, O2]
    grid = _group_beams(q1.reshape(-1, 1), q2.reshape(-1, 1), np.arange(nn), n1, n2, o1, o2)
    # grid [Q, N1N2 (beam k), N1N2 (port)]; energy of v on each beam, both polarisations
    vv = v.reshape(b, n3, 2, nn, nl)
    proj = np.matmul(grid.reshape(-1, nn).conj(), vv)  # [b, N3, 2, Q*N1N2, v]
    energy = (proj.real ** 2 + proj.imag ** 2).sum(axis=(1, 2, 4)).reshape(b, o1 * o2, nn)
    top = np.sort(energy, axis=-1)[..., ::-1][..., :num_beams].sum(axis=-1)  # [b, Q]
    # ties (e.g. L beams spanning a whole dimension) go to the rotation with the strongest beam
    near_best = top >= top.max(axis=-1, keepdims=True) * (1 - 1e-9)
    best = np.argmax(np.where(near_best, energy.max(axis=-1), -1.0), axis=-1)  # [b]
    chosen = np.argsort(-energy[np.arange(b), best], axis=-1, kind="stable")[:, :num_beams]
    q = np.stack([best // o2, best % o2], axis=-1)
    return q.astype(np.int64), np.sort(chosen, axis=-1).astype(np.int64)


def spatial_basis(q: np.ndarray, beams: np.ndarray, n1: int, n2: int, o1: int, o2: int
                  ) -> np.ndarray:
    """``B [b, N1N2, L]`` complex128, orthonormal columns, from the report's ``q`` and ``beams``."""
    vec = _group_beams(q[:, :1], q[:, 1:], beams, n1, n2, o1, o2)  # [b, L, N1N2]
    return vec.transpose(0, 2, 1)


def sd_coefficients(v: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Per-subband coefficients on the ``2L`` beams, ``W_1^H v``.

    ``v [b, N3, 2N1N2, v]``, ``basis [b, N1N2, L]`` -> ``[b, v, 2L, N3]`` complex128 (rows
    ``0..L-1`` polarisation 0), each subband rotated so that the layer's wideband strongest beam
    has a real non-negative coefficient (removes the eigenvectors' arbitrary per-subband phase).
    """
    b, n3, nt, nl = v.shape
    nn = nt // 2
    vv = v.reshape(b, n3, 2, nn, nl).astype(np.complex128)
    c = np.einsum("bpi,btspl->blsit", basis.conj(), vv)  # [b, v, 2, L, N3]
    c = c.reshape(b, nl, -1, n3)
    ref = np.argmax((np.abs(c) ** 2).sum(axis=-1), axis=-1)  # [b, v]
    ref_c = np.take_along_axis(c, ref[..., None, None], axis=2)  # [b, v, 1, N3]
    mag = np.abs(ref_c)
    rot = np.where(mag > 0, ref_c.conj() / np.where(mag > 0, mag, 1), 1)
    return c * rot


def select_fd_basis(x: np.ndarray, mv: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remap and choose the FD basis of every layer.

    Parameters
    ----------
    x : [b, v, 2L, N3] complex
        Delay-domain coefficients, ``c_t = sum_n x_n exp(j 2 pi t n / N3)``.
    mv : int
        ``M_v``.

    Returns
    -------
    shift : [b, v] int64
        Delay ``n*`` of the strongest coefficient; remapped index ``n' = (n - n*) mod N3``.
    taps : [b, v, M_v] int64
        Remapped indices chosen, ascending (``taps[..., 0] = 0``).
    m_initial : [b] int64
        Common window start when ``N3 > 19`` (0 otherwise).
    """
    b, nl, _, n3 = x.shape
    mag2 = np.abs(x) ** 2
    shift = np.argmax(mag2.reshape(b, nl, -1), axis=-1) % n3  # strongest coefficient's tap
    idx = (np.arange(n3) + shift[..., None]) % n3  # [b, v, N3]: remapped n' -> original n
    energy = np.take_along_axis(mag2.sum(axis=2), idx, axis=-1)  # [b, v, N3], remapped
    energy[..., 0] = np.inf  # tap 0 (the strongest) is always in
    if n3 <= 19:
        taps = np.argsort(-energy, axis=-1, kind="stable")[..., :mv]
        return shift, np.sort(taps, axis=-1), np.zeros(b, np.int64)
    starts = np.arange(-2 * mv + 1, 1)  # M_initial candidates
    window = (starts[:, None] + np.arange(2 * mv)) % n3  # [C, 2Mv]
    dup = np.zeros(window.shape, bool)  # a window longer than N3 repeats taps
    for ci, w in enumerate(window):
        _, first = np.unique(w, return_index=True)
        dup[ci] = True
        dup[ci, first] = False
    e_win = np.where(dup, -np.inf, energy[..., window])  # [b, v, C, 2Mv]
    order = np.argsort(-e_win, axis=-1, kind="stable")[..., :mv]
    picked = np.take_along_axis(e_win, order, axis=-1)
    score = np.where(np.isfinite(picked), picked, 0.0).sum(axis=-1).sum(axis=1)  # [b, C]
    best = np.argmax(score, axis=-1)  # [b]
    order_best = order[np.arange(b), :, best]  # [b, v, Mv]
    taps = np.take_along_axis(window[best][:, None, :].repeat(nl, axis=1), order_best, axis=-1)
    return shift, np.sort(taps, axis=-1), starts[best].astype(np.int64)


def _quantise_ref(a: np.ndarray) -> np.ndarray:
    """Nearest reference-amplitude index (in dB), 1..15."""
    with np.errstate(divide="ignore"):
        k = np.rint(15 + 4 * np.log2(np.maximum(a, 1e-300)))
    return np.clip(k, 1, 15).astype(np.int64)


def _quantise_diff(ratio: np.ndarray) -> np.ndarray:
    """Nearest differential-amplitude index (in dB), 0..7."""
    with np.errstate(divide="ignore"):
        k = np.rint(7 + 2 * np.log2(np.maximum(ratio, 1e-300)))
    return np.clip(k, 0, 7).astype(np.int64)


def quantise_coefficients(xs: np.ndarray, k0: int, num_beams: int) -> dict[str, np.ndarray]:
    """Bitmap, strongest coefficient and quantised amplitudes/phases.

    Parameters
    ----------
    xs : [b, v, 2L, M_v] complex
        Selected coefficients, FD column 0 holding the strongest coefficient.
    k0 : int
        ``K0`` (per layer; ``2 K0`` over layers).
    num_beams : int
        ``L``.

    Returns
    -------
    dict
        ``bitmap [b, v, 2L, M_v] bool``, ``strongest [b, v]``, ``k1 [b, v, 2]``,
        ``k2 [b, v, 2L, M_v]``, ``c [b, v, 2L, M_v]`` (int64).
    """
    b, nl, rows, mv = xs.shape
    mag = np.abs(xs)
    strongest = np.argmax(mag[..., 0], axis=-1)  # [b, v], at f = 0 by construction
    ref = np.take_along_axis(xs[..., 0], strongest[..., None], axis=-1)[..., None]
    xn = xs / np.where(ref != 0, ref, 1.0)  # an all-zero layer stays zero
    is_star = np.zeros(xs.shape, bool)
    np.put_along_axis(is_star[..., 0], strongest[..., None], True, axis=-1)
    # K0 per layer (the strongest first), then 2 K0 over the layers by raw magnitude
    score = np.where(is_star, np.inf, mag).reshape(b, nl, -1)
    rank_in_layer = np.argsort(np.argsort(-score, axis=-1, kind="stable"), axis=-1)
    keep = rank_in_layer < min(k0, rows * mv)
    flat = np.where(keep, score, -1.0).reshape(b, -1)
    rank_all = np.argsort(np.argsort(-flat, axis=-1, kind="stable"), axis=-1)
    keep = (keep.reshape(b, -1) & (rank_all < 2 * k0)).reshape(xs.shape)
    # reference amplitude of each polarisation (1 for the strongest's)
    amag = np.abs(xn)
    pol_max = np.where(keep, amag, 0.0).reshape(b, nl, 2, num_beams * mv).max(axis=-1)
    k1 = _quantise_ref(pol_max)
    np.put_along_axis(k1, (strongest // num_beams)[..., None], 15, axis=-1)
    p1 = REF_AMPLITUDES[k1].repeat(num_beams, axis=-1)[..., None]  # [b, v, 2L, 1]
    # leave out what quantises nearer to 0 than to the smallest level
    keep &= (amag >= p1 * DIFF_AMPLITUDES[0] / 2) | is_star
    k2 = np.where(keep, _quantise_diff(amag / p1), 0)
    c = np.where(keep, np.rint(np.angle(xn) * N_PSK / (2 * np.pi)).astype(np.int64) % N_PSK, 0)
    k2[is_star], c[is_star] = 7, 0
    return {"bitmap": keep, "strongest": strongest.astype(np.int64), "k1": k1,
            "k2": k2.astype(np.int64), "c": c.astype(np.int64)}


def dequantise_coefficients(report: ETypeIIReport) -> np.ndarray:
    """``W~_2`` of every layer, ``[b, v, 2L, M_v]`` complex128 (zeros outside the bitmap)."""
    num_beams = report.beams.shape[1]
    p1 = REF_AMPLITUDES[report.k1].repeat(num_beams, axis=-1)[..., None]
    x = p1 * DIFF_AMPLITUDES[report.k2] * np.exp(2j * np.pi * report.c / N_PSK)
    return np.where(report.bitmap, x, 0.0)


# --------------------------------------------------------------------------- encoder / decoder


def encode(v: np.ndarray, n1: int, n2: int, o1: int, o2: int, param_combination: int,
           r: int = 1, strict: bool = True) -> ETypeIIReport:
    """eType II report of per-subband eigenvectors.

    Parameters
    ----------
    v : [b, N3, 2 N1 N2, v] complex
        Per-PMI-subband precoders (any norm and per-subband phase), first ``N1 N2`` ports
        polarisation 0.
    n1, n2, o1, o2 : int
        Panel dimensions and oversampling factors.
    param_combination : int
        paramCombination-r16, 1..8.
    r : int
        numberOfPMI-SubbandsPerCQI-Subband (1 or 2): ``M_v = ceil(p_v N3 / R)``.
    strict : bool
        Enforce the configuration bars of 38.214 5.2.2.2.5 (see :func:`payload_bits`).

    Returns
    -------
    ETypeIIReport

    Raises
    ------
    LinksimInputError
        Wrong shape or port count of ``v``, non-finite entries, or a configuration outside the
        spec (the message names the field).
    """
    n1, n2 = _check_int("n1", n1, 1), _check_int("n2", n2, 1)
    o1, o2 = _check_int("o1", o1, 1), _check_int("o2", o2, 1)
    v = np.asarray(v)
    if v.ndim != 4:
        raise LinksimInputError(f"v must be [b, N3, Nt, rank], got shape {v.shape}")
    b, n3, nt, nl = v.shape
    if nt != 2 * n1 * n2:
        raise LinksimInputError(f"v has {nt} ports (axis 2) but 2*N1*N2 = {2 * n1 * n2} "
                                f"for n1={n1}, n2={n2}")
    if b == 0 or n3 == 0:
        raise LinksimInputError(f"v must have at least one sample and subband, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise LinksimInputError("v has non-finite entries")
    big_l, _, _ = _params(param_combination, nl, n1, n2, n3, r, strict)
    mv = num_fd_basis(param_combination, n3, nl, r)
    k0 = max_nonzero(param_combination, n3, r)

    q, beams = select_beams(v, n1, n2, o1, o2, big_l)
    coef = sd_coefficients(v, spatial_basis(q, beams, n1, n2, o1, o2))  # [b, v, 2L, N3]
    x = np.fft.fft(coef, axis=-1) / n3  # c_t = sum_n x_n exp(+j 2 pi t n / N3)
    shift, taps, m_initial = select_fd_basis(x, mv)
    orig = (taps + shift[..., None]) % n3  # [b, v, Mv] original delay indices
    xs = np.take_along_axis(x, orig[:, :, None, :], axis=-1)  # [b, v, 2L, Mv]
    fields = quantise_coefficients(xs, k0, big_l)
    return ETypeIIReport(n1=n1, n2=n2, o1=o1, o2=o2, n3=n3,
                         param_combination=int(param_combination), r=r, q=q, beams=beams,
                         m_initial=m_initial, fd_basis=taps.astype(np.int64), **fields)


def decode(report: ETypeIIReport) -> np.ndarray:
    """Reconstruct the precoders of a report.

    Returns
    -------
    v_hat : [b, N3, 2 N1 N2, v] complex128
        Unit norm per subband and layer (a column whose coefficients are all zero stays zero).
    """
    n3, nn = report.n3, report.n1 * report.n2
    x = dequantise_coefficients(report)  # [b, v, 2L, Mv]
    y = np.exp(2j * np.pi * np.arange(n3)[:, None] * report.fd_basis[..., None, :] / n3)
    coef = np.einsum("blif,bltf->btil", x, y)  # [b, N3, 2L, v]
    basis = spatial_basis(report.q, report.beams, report.n1, report.n2, report.o1, report.o2)
    big_l = basis.shape[-1]
    b, _, _, nl = coef.shape
    v_hat = np.empty((b, n3, 2 * nn, nl), np.complex128)
    v_hat[:, :, :nn] = np.einsum("bpi,btil->btpl", basis, coef[:, :, :big_l])
    v_hat[:, :, nn:] = np.einsum("bpi,btil->btpl", basis, coef[:, :, big_l:])
    norm = np.linalg.norm(v_hat, axis=2, keepdims=True)
    return v_hat / np.where(norm > 0, norm, 1.0)


def compress(v: np.ndarray, n1: int, n2: int, o1: int, o2: int, param_combination: int,
             r: int = 1, strict: bool = True) -> tuple[np.ndarray, ETypeIIReport]:
    """``decode(encode(v, ...))`` and the report: ``(v_hat [b, N3, Nt, v], report)``."""
    report = encode(v, n1, n2, o1, o2, param_combination, r=r, strict=strict)
    return decode(report), report
