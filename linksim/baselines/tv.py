"""Total-variation recovery of the compressive-sensing measurements (TVAL3-like):
``min_x TV(x) + (mu / 2) ||A x - y||^2`` over the ``[Na, Nt]`` images of the real and imaginary
parts, by ADMM, batched over samples (CsiNet's TVAL3 row)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.fft

from linksim.baselines.sensing import (
    FLOAT_MEASUREMENT_BITS,
    CompressiveSensing,
    check_int,
    check_positive,
)
from linksim.errors import LinksimInputError


def image_gradient(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Forward differences of the real and imaginary images (zero past the last row / column).

    ``x [b, N]`` (layout of :class:`CompressiveSensing`) -> ``[b, 2 (re, im), 2 (delay, angle),
    Na, Nt]``.
    """
    na, nt = shape
    img = x.reshape(x.shape[0], 2, na, nt)
    g = np.zeros((x.shape[0], 2, 2, na, nt), x.dtype)
    g[:, :, 0, :-1, :] = img[:, :, 1:, :] - img[:, :, :-1, :]
    g[:, :, 1, :, :-1] = img[:, :, :, 1:] - img[:, :, :, :-1]
    return g


def image_gradient_adjoint(g: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Adjoint of :func:`image_gradient` (minus the divergence): ``[b, 2, 2, Na, Nt]`` ->
    ``[b, N]``."""
    na, nt = shape
    out = np.zeros((g.shape[0], 2, na, nt), g.dtype)
    out[:, :, :-1, :] -= g[:, :, 0, :-1, :]
    out[:, :, 1:, :] += g[:, :, 0, :-1, :]
    out[:, :, :, :-1] -= g[:, :, 1, :, :-1]
    out[:, :, :, 1:] += g[:, :, 1, :, :-1]
    return out.reshape(g.shape[0], 2 * na * nt)


def _laplacian_1d(n: int) -> np.ndarray:
    """``D^T D`` of the 1-D forward difference with a zero last entry (Neumann), ``[n, n]``."""
    d = np.diff(np.eye(n), axis=0)  # [n - 1, n]
    return d.T @ d


def gradient_gram(shape: tuple[int, int]) -> np.ndarray:
    """``D^T D`` of :func:`image_gradient` as a dense ``[N, N]`` matrix (block diagonal in the
    real and imaginary images, each ``L_Na (x) I + I (x) L_Nt``)."""
    na, nt = shape
    lap = np.kron(_laplacian_1d(na), np.eye(nt)) + np.kron(np.eye(na), _laplacian_1d(nt))
    z = np.zeros_like(lap)
    return np.block([[lap, z], [z, lap]])


class TotalVariation(CompressiveSensing):
    """TVAL3-like: ``min_x TV(x) + (mu / 2) ||A x - y||^2`` by ADMM, batched over samples.

    ``TV`` is the isotropic total variation of the ``[Na, Nt]`` images (forward differences over
    delay and angle, none past the last row or column): ``coupling="separate"`` sums
    ``sqrt(dv^2 + dh^2)`` over the pixels of the real and of the imaginary image separately;
    ``"joint"`` takes ``sqrt(dv_re^2 + dh_re^2 + dv_im^2 + dh_im^2)`` per pixel (complex
    gradient modulus). Since the UE sends ``A x / ||x||``, ``mu`` acts on unit-norm vectors.

    ADMM on ``z = D x`` with penalty ``beta`` (scaled dual ``u``)::

        x <- P^-1 (mu A^T y + beta D^T (z - u)),   P = mu A^T A + beta D^T D
        z <- shrink(rho D x + (1 - rho) z + u, 1 / beta)      (isotropic, over-relaxed)
        u <- u + rho D x + (1 - rho) z_old - z

    starting from the regularised least squares ``x = mu P^-1 A^T y``, ``z = D x``, ``u = 0``.
    ``A`` and ``D`` are shared by all samples, so ``P^-1`` is prepared once per ``mu``:

    - ``x_step="dense"``: the ``[N, N]`` inverse; the ``x``-step is one ``[b, N] x [N, N]``
      product.
    - ``x_step="dct"``: ``D^T D`` is diagonalised by the 2-D DCT-II of each image (eigenvalues
      ``4 sin^2(pi k / 2 Na) + 4 sin^2(pi l / 2 Nt)``). With ``E`` the two constant images
      (unit norm), ``Q = beta D^T D + beta E E^T`` is invertible by DCT, and
      ``P = Q + U S U^T`` with ``U = [A^T, E]``, ``S = diag(mu I_M, -beta I_2)``; Woodbury
      gives ``P^-1 v = Q^-1 v - G K^-1 G^T v``, ``G = Q^-1 U [N, M + 2]``,
      ``K = S^-1 + U^T G``: two DCTs and two ``[b, N] x [N, M + 2]`` products per step, in
      float64 (the two terms cancel in the directions ``mu A^T A`` stiffens).
    - ``"auto"``: ``"dct"`` when ``2 (M + 2) <= N``, else ``"dense"``.

    Parameters
    ----------
    shape, num_measurements, measurement_bits, seed, fit_samples
        See :class:`CompressiveSensing`.
    mu : float or None
        Fidelity weight (> 0); None: chosen by :meth:`fit` from :attr:`MU_GRID`.
    iterations : int
        ADMM iterations (:attr:`DEFAULT_ITERATIONS`).
    coupling : {"separate", "joint"}
    beta : float
        ADMM penalty (> 0). The default 100 converges to 0.05 dB in 50 iterations at 16 x 16
        and 32 x 32 for every ``mu`` of the grid (the unit-norm scale fixes its range).
    relaxation : float
        Over-relaxation ``rho`` in (0, 2).
    x_step : {"auto", "dense", "dct"}
    """

    name = "tv"
    REG_NAME = "mu"
    #: ``mu`` grid of :meth:`fit` (half decades, 0.1 .. 1e6; searched from decades).
    MU_GRID = tuple(float(v) for v in np.round(10.0 ** (np.arange(-2, 13) / 2), 6))
    SEARCH_STRIDE = 2
    #: Default ADMM iterations (with ``beta = 100``: within 0.05 dB of 500 iterations on
    #: COST2100 channels).
    DEFAULT_ITERATIONS = 100
    DEFAULT_BETA = 100.0
    DEFAULT_RELAXATION = 1.6

    def __init__(self, shape: tuple[int, int], num_measurements: int,
                 measurement_bits: int = FLOAT_MEASUREMENT_BITS, seed: int = 0,
                 mu: float | None = None, iterations: int = DEFAULT_ITERATIONS,
                 coupling: str = "separate", beta: float = DEFAULT_BETA,
                 relaxation: float = DEFAULT_RELAXATION, x_step: str = "auto",
                 fit_samples: int = CompressiveSensing.FIT_SAMPLES):
        super().__init__(shape, num_measurements, measurement_bits, seed, fit_samples)
        self._given = mu is not None
        self.mu = None if mu is None else check_positive("tv: mu", mu)
        self.iterations = check_int("tv: iterations", iterations, 1)
        if coupling not in ("separate", "joint"):
            raise LinksimInputError(f"tv: coupling must be 'separate' or 'joint', "
                                    f"got {coupling!r}")
        self.coupling = coupling
        self.beta = check_positive("tv: beta", beta)
        self.relaxation = check_positive("tv: relaxation", relaxation)
        if self.relaxation >= 2:
            raise LinksimInputError(f"tv: relaxation must be in (0, 2), got {relaxation!r}")
        if x_step not in ("auto", "dense", "dct"):
            raise LinksimInputError(f"tv: x_step must be 'auto', 'dense' or 'dct', "
                                    f"got {x_step!r}")
        if x_step == "auto":
            x_step = "dct" if 2 * (self.m + 2) <= self.n else "dense"
        self.x_step = x_step
        self._cache: tuple | None = None

    @property
    def regularisation(self):
        return self.mu

    def _set_regularisation(self, value) -> None:
        self.mu = float(value)

    def default_grid(self) -> list:
        return list(self.MU_GRID)

    def _settings(self) -> dict:
        return {"iterations": self.iterations, "coupling": self.coupling,
                "beta": self.beta, "relaxation": self.relaxation, "x_step": self.x_step}

    # -- x-step ---------------------------------------------------------------------------------
    def _q_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``Q = beta (D^T D + E E^T)`` on the 2-D DCT basis, ``[Na, Nt]``."""
        na, nt = self.shape
        lam = (4 * np.sin(np.pi * np.arange(na) / (2 * na))[:, None] ** 2
               + 4 * np.sin(np.pi * np.arange(nt) / (2 * nt))[None, :] ** 2)
        lam[0, 0] = 1.0  # the constant image: E E^T
        return self.beta * lam

    def _q_solve(self, v: np.ndarray, q_eig: np.ndarray) -> np.ndarray:
        """``Q^-1 v`` for rows ``v [b, N]`` (2-D DCT-II of each image, divide, inverse)."""
        img = v.reshape(v.shape[0], 2, *self.shape)
        c = scipy.fft.dctn(img, type=2, norm="ortho", axes=(-2, -1))
        c /= q_eig.astype(c.dtype)
        out = scipy.fft.idctn(c, type=2, norm="ortho", axes=(-2, -1), overwrite_x=True)
        return out.reshape(v.shape[0], self.n)

    def _operators(self, mu: float) -> tuple:
        """The prepared ``P^-1`` of one ``mu``: ``("dense", P^-1)`` (float32) or ``("dct", Q
        eigenvalues, G^T, K^-1 G^T)`` (float64: the two terms of the Woodbury form cancel in
        the directions that ``mu A^T A`` stiffens, by a factor up to ``~mu / beta``)."""
        if self._cache is not None and self._cache[0] == mu:
            return self._cache[1]
        a = self.matrix
        if self.x_step == "dense":
            p = mu * (a.T @ a) + self.beta * gradient_gram(self.shape)
            p_inv = np.linalg.inv(p)
            ops = ("dense", (0.5 * (p_inv + p_inv.T)).astype(np.float32))
        else:
            q_eig = self._q_eigenvalues()
            const = np.zeros((2, self.n))
            const[0, :self.d] = const[1, self.d:] = 1.0 / math.sqrt(self.d)
            u_t = np.concatenate([a, const])  # U^T [M + 2, N]
            g_t = self._q_solve(u_t, q_eig)  # G^T = U^T Q^-1
            s_inv = np.concatenate([np.full(self.m, 1.0 / mu), np.full(2, -1.0 / self.beta)])
            k = np.diag(s_inv) + u_t @ g_t.T
            h_t = np.linalg.solve(0.5 * (k + k.T), g_t)  # K^-1 G^T
            ops = ("dct", q_eig, g_t, h_t)
        self._cache = (mu, ops)
        return ops

    def solve_p(self, v: np.ndarray, mu: float) -> np.ndarray:
        """``P^-1 v`` for rows ``v [b, N]`` (float32 in, float32 out; float64 inside for
        ``x_step="dct"``)."""
        ops = self._operators(mu)
        if ops[0] == "dense":
            return v @ ops[1]
        _, q_eig, g_t, h_t = ops
        v = v.astype(np.float64)
        return (self._q_solve(v, q_eig) - (v @ g_t.T) @ h_t).astype(np.float32)

    # -- ADMM -----------------------------------------------------------------------------------
    def _shrink(self, v: np.ndarray, thr: float) -> np.ndarray:
        """Isotropic soft threshold of ``[b, 2, 2, Na, Nt]`` gradients."""
        axes = (2,) if self.coupling == "separate" else (1, 2)
        mag = np.sqrt(np.sum(v * v, axis=axes, keepdims=True))
        return v * np.maximum(1 - thr / np.maximum(mag, np.finfo(v.dtype).tiny), 0)

    def admm(self, y: np.ndarray, mu: float, iterations: int | None = None) -> np.ndarray:
        """ADMM, float32 arithmetic: ``y [b, M]`` -> ``x_hat [b, N]`` float64."""
        beta = np.float32(self.beta)
        rho = np.float32(self.relaxation)
        x0 = np.float32(mu) * self.solve_p(y.astype(np.float32) @ self._a32, mu)
        x = x0
        z = image_gradient(x, self.shape)
        u = np.zeros_like(z)
        thr = 1.0 / self.beta
        for _ in range(self.iterations if iterations is None else iterations):
            x = x0 + beta * self.solve_p(image_gradient_adjoint(z - u, self.shape), mu)
            v = rho * image_gradient(x, self.shape) + (1 - rho) * z + u
            z_new = self._shrink(v, thr)
            u = v - z_new
            z = z_new
        return x.astype(np.float64)

    def _solve_path(self, y: np.ndarray, values: Sequence
                    ) -> Iterator[tuple[int, np.ndarray]]:
        for i, mu in enumerate(values):
            yield i, self.admm(y, float(mu))
