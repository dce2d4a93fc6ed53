"""The frequency side of the COST 2100 generator: the baseband subcarrier grid, the direct
frequency response of per-element paths, and the type-1 non-uniform FFT that turns a group of
paths into delay rows and total energy. Part of :mod:`linksim.channels.cost2100`.

Frequency grid and angular-delay convention
-------------------------------------------
Baseband subcarriers ``f_k = (k - Nc // 2) df``, ``df = bandwidth / Nc`` (the grid of
``linksim.channels.uma.subcarrier_frequencies``), ``H[k, n] = sum_p g[n, p] exp(-j 2 pi f_k tau[n, p])``
and the truncated angular-delay matrix of ``linksim.phy.transforms`` (``H_ad = F_d H F_a^H``, first
``Na`` rows). :func:`~linksim.channels.cost2100.generate_cost2100_ad` gets them without evaluating the ``Nc`` tones path by
path: per (sample, element) a type-1 non-uniform FFT spreads every path's coefficient (``g_p``
times the carrier phase ``exp(-j 2 pi f_c tau_abs)``) onto a periodic ``2 Nc``-point delay grid
(spacing half a delay bin) with the exponential-of-semicircle kernel
``exp(beta (sqrt(1 - s^2) - 1))`` (width :data:`NUFFT_WIDTH` = 7, ``beta = 2.3 * 7``); one
``2 Nc``-point FFT, divided by the kernel's transform, gives the ``Nc`` tones. Their sum of
squares is the total energy (the denominator of ``energy_kept``, Parseval) and an ``Nc``-point
inverse FFT gives the delay rows, of which the first ``Na`` are kept. Work per (sample, element):
``7 P`` kernel values and scatter-adds plus the two FFTs, instead of ``Na P`` for closed-form
Dirichlet-kernel rows and ``P^2`` for the pair sum of the energy. Float32 throughout; against a
float64 direct evaluation the relative error of the rows is ~7e-7 and of the energy ~4e-7
(tests/test_cost2100.py). Each (element, sample) group is transformed from its own paths
only, in a fixed order, so a group's result does not depend on which other groups share the
call (the chunking of :mod:`linksim.channels.cost2100`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

#: Width (grid points) and shape of the kernel of the non-uniform FFT (2x oversampled grid;
#: measured relative error of the delay rows and of the total energy ~5e-7).
NUFFT_WIDTH = 7
NUFFT_BETA = 2.30 * NUFFT_WIDTH


def baseband_grid(num_subcarriers: int, bandwidth_hz: float) -> tuple[float, float]:
    """First subcarrier and spacing [Hz] of ``linksim.channels.uma.subcarrier_frequencies(Nc, B / Nc)``.

    ``f_k = f_0 + k df``, ``df = B / Nc``, ``f_0 = -(Nc // 2) df``.
    """
    nc = int(num_subcarriers)
    if nc < 1:
        raise ValueError("num_subcarriers must be >= 1")
    df = float(bandwidth_hz) / nc
    return -(nc // 2) * df, df


def frequency_response(g: np.ndarray, tau: np.ndarray, frequencies_hz: np.ndarray) -> np.ndarray:
    """Space-frequency channel from per-element paths (reference route; builds all tones).

    ``H[b, k, e] = sum_p g[b, e, p] exp(-j 2 pi f_k tau[b, e, p])``, through
    ``linksim.channels.uma.frequency_response`` (phases formed in float64 and wrapped).

    Parameters
    ----------
    g : [B, Nt, P] complex
    tau : [B, Nt, P] float [s]
    frequencies_hz : [Nc] float

    Returns
    -------
    h : [B, Nc, Nt] complex64
    """
    from linksim.channels.uma import frequency_response as fr

    b, nt, p = g.shape
    h = fr(g.reshape(b * nt, 1, p), tau.reshape(b * nt, p), frequencies_hz)  # [B*Nt, Nc, 1]
    return np.ascontiguousarray(h[..., 0].reshape(b, nt, -1).transpose(0, 2, 1))


_DECONV_CACHE: dict[int, np.ndarray] = {}


def _nufft_deconvolution(nc: int) -> np.ndarray:
    """``1 / Phi(k)`` of the spreading kernel at the ``Nc`` centred frequencies, in FFT order.

    ``Phi(omega) = int phi(s) cos(omega s) ds`` (grid units) at ``omega = pi k / Nc`` (the grid
    spacing is half a delay bin), ``k = 0 .. Nc - Nc//2 - 1, -(Nc//2) .. -1``, by Gauss-Legendre
    quadrature.

    Returns
    -------
    psi : [Nc] float32
    """
    if nc not in _DECONV_CACHE:
        w = NUFFT_WIDTH
        x, wq = np.polynomial.legendre.leggauss(4 * w + 40)
        phi = np.exp(NUFFT_BETA * (np.sqrt(1.0 - x**2) - 1.0))
        k = np.fft.fftfreq(nc, 1.0 / nc)
        hat = (w / 2.0) * np.sum(np.cos((np.pi * k / nc)[:, None] * (x * (w / 2.0))[None, :])
                                 * (wq * phi)[None, :], axis=1)
        _DECONV_CACHE[nc] = (1.0 / hat).astype(np.float32)
    return _DECONV_CACHE[nc]


def coefficients(cycles: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """``amp exp(-j 2 pi cycles)`` as complex64 (phase wrapped in float64 first).

    Parameters
    ----------
    cycles : [...] float64
        Phase [cycles].
    amp : [...] complex
        Amplitudes (broadcast against ``cycles``).

    Returns
    -------
    c : [...] complex64
    """
    ph = cycles - np.rint(cycles)
    ph = ((-2.0 * np.pi) * ph).astype(np.float32)
    c = np.empty(ph.shape, np.complex64)
    c.real = np.cos(ph)
    c.imag = np.sin(ph)
    c *= amp.astype(np.complex64)
    return c


def spectrum(t: np.ndarray, c: np.ndarray, gsize: np.ndarray, nc: int) -> np.ndarray:
    """``G[g, k] = sum_r c_r exp(-j 2 pi k t_r / Nc)`` per group, by a type-1 NUFFT.

    Each row is spread onto a periodic ``2 Nc``-point grid (spacing half a delay bin) with the
    exponential-of-semicircle kernel ``phi(s) = exp(beta (sqrt(1 - s^2) - 1))`` of width
    :data:`NUFFT_WIDTH`; the grid is Fourier transformed, the ``Nc`` centred frequencies are kept
    and divided by the kernel's transform. Float32 (relative error ~5e-7). Each group's output
    depends only on its own rows, in order (``np.add.at`` is sequential).

    Parameters
    ----------
    t : [R] float64
        Delays in bins; rows sorted by group.
    c : [R] complex64
        Coefficients ``c_r``.
    gsize : [G] int
        Rows per group.
    nc : int
        ``Nc``.

    Returns
    -------
    G : [G, Nc] complex64
        At ``k = 0 .. Nc - Nc//2 - 1, -(Nc//2) .. -1`` (FFT order).
    """
    w = NUFFT_WIDTH
    ng = gsize.size
    nf = 2 * nc
    nfp = nf + w  # w overflow points, folded back below (periodic grid)
    u = 2.0 * t
    l0 = np.ceil(u - w / 2.0)
    s = ((l0 - u) * (2.0 / w)).astype(np.float32)  # [-1, -1 + 2/w)
    s = np.add.outer(np.arange(w, dtype=np.float32) * np.float32(2.0 / w), s)  # [w, R]
    np.multiply(s, s, out=s)
    np.subtract(np.float32(1.0), s, out=s)
    np.maximum(s, np.float32(0.0), out=s)
    np.sqrt(s, out=s)
    np.multiply(s, np.float32(NUFFT_BETA), out=s)
    np.subtract(s, np.float32(NUFFT_BETA), out=s)
    phi = np.exp(s, out=s)
    wrapped = l0 - nf * np.floor(l0 / nf)  # periodic grid, in [0, nf)
    base = np.repeat(np.arange(ng) * nfp, gsize) + wrapped.astype(np.int64)
    grid = np.zeros((ng, nfp), np.complex64)
    np.add.at(grid.reshape(-1), np.add.outer(np.arange(w), base).reshape(-1),
              (phi * c).reshape(-1))  # 1-D: numpy's fast path
    grid[:, :w] += grid[:, nf:]
    spec = scipy.fft.fft(grid[:, :nf], axis=1, workers=1, overwrite_x=True)
    kpos = nc - nc // 2
    out = np.empty((ng, nc), np.complex64)
    out[:, :kpos] = spec[:, :kpos]
    out[:, kpos:] = spec[:, nf - nc // 2:]
    out *= _nufft_deconvolution(nc)
    return out


def rows_energy(spec: np.ndarray, num_rows: int, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``Na`` rows of the unitary delay transform and the total energy, per group.

    Parameters
    ----------
    spec : [G, Nc] complex64
        Tones ``H_k`` at ``k = k' + Nc//2`` for the centred ``k'`` in FFT order
        (:func:`spectrum`); overwritten.
    num_rows, nc : int
        ``Na``, ``Nc``.

    Returns
    -------
    h : [G, Na] complex128
        ``(1/sqrt(Nc)) sum_k H_k exp(+j 2 pi k m / Nc)`` for ``m < Na``:
        ``exp(+j 2 pi (Nc//2) m / Nc) sqrt(Nc) ifft(spec)[m]``.
    e : [G] float64
        ``sum_k |H_k|^2``.
    """
    v = spec.view(np.float32)
    e = np.sum(v * v, axis=1, dtype=np.float64)
    m = np.arange(num_rows)
    pref = math.sqrt(nc) * np.exp(2j * np.pi * ((nc // 2) * m % nc) / nc)
    h = scipy.fft.ifft(spec, axis=1, workers=1, overwrite_x=True)[:, :num_rows] * pref
    return h, e


def to_angular(h_d: np.ndarray, nt: int, n: int) -> np.ndarray:
    """``[Nt*n, Na]`` (element-major groups) -> ``[n, Na, Nt]`` angular-delay, complex64."""
    h = h_d.reshape(nt, n, -1).transpose(1, 2, 0)
    return np.fft.fft(h, axis=-1, norm="ortho").astype(np.complex64)


def kept_fraction(h_d: np.ndarray, e: np.ndarray, nt: int, n: int) -> np.ndarray:
    """Energy kept per sample, ``[n]`` float32: energy of the kept rows ``h_d [Nt*n, Na]``
    (element-major groups) over the groups' total energies ``e [Nt*n]`` (0 where there is none).

    Summed per group first, then over elements: the summation order does not depend on ``n``.
    """
    kept = np.sum(np.sum(h_d.real**2 + h_d.imag**2, axis=1).reshape(nt, n), axis=0)
    total = np.sum(e.reshape(nt, n), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, kept / total, 0.0).astype(np.float32)

