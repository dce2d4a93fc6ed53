"""Synthetic dual-polarised channels for the TR 38.843 tests: a few DFT-beam paths."""

from __future__ import annotations

import numpy as np


def dft_beam(n1: int, n2: int, o1: int, o2: int, m1: int, m2: int) -> np.ndarray:
    """Unit-norm 2-D DFT beam ``[N1 N2]``, port ``p = n1 N2 + n2``."""
    a = np.exp(2j * np.pi * m1 * np.arange(n1) / (o1 * n1))
    b = np.exp(2j * np.pi * m2 * np.arange(n2) / (o2 * n2))
    return np.kron(a, b) / np.sqrt(n1 * n2)


def multipath_channels(n: int, nc: int, nr: int, n1: int, n2: int, paths: int, seed: int,
                       o1: int = 4, o2: int = 4, beam_range: int = 4, delay_spread: float = 0.05
                       ) -> np.ndarray:
    """``h [n, nc, nr, 2 N1 N2]`` complex64 in linksim's convention (``H_k = conj(h[:, k])``):
    ``H_k = sum_p g_p a_p b_p^H e^{-j 2 pi k tau_p}`` with ``b_p = pol_p (x) DFT beam``,
    ``a_p`` random receive responses. ``beam_range`` limits the beam indices (a scenario)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, nc, nr, 2 * n1 * n2), np.complex128)
    k = np.arange(nc)
    for i in range(n):
        for _ in range(paths):
            m1 = rng.integers(0, beam_range * o1) % (o1 * n1)
            m2 = rng.integers(0, o2 * n2) if n2 > 1 else 0
            pol = (rng.standard_normal(2) + 1j * rng.standard_normal(2)) / 2
            b = np.kron(pol, dft_beam(n1, n2, o1, o2, m1, m2))
            a = (rng.standard_normal(nr) + 1j * rng.standard_normal(nr)) / np.sqrt(2)
            tau = rng.uniform(0, delay_spread)
            g = (rng.standard_normal() + 1j * rng.standard_normal()) / np.sqrt(2 * paths)
            hk = g * np.exp(-2j * np.pi * k * tau)[:, None, None] * a[:, None] * b.conj()
            out[i] += np.conj(hk)  # stored as conj(H_k)
    return out.astype(np.complex64)
