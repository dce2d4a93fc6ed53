"""LASSO recovery of the compressive-sensing measurements: ``min_x 0.5 ||y - A x||^2 + lam P(x)``
by FISTA with restart and continuation, batched over samples (CsiNet's LASSO row)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from linksim.baselines.sensing import (
    FLOAT_MEASUREMENT_BITS,
    CompressiveSensing,
    check_int,
    check_positive,
)
from linksim.errors import LinksimInputError


class Lasso(CompressiveSensing):
    """``min_x 0.5 ||y - A x||^2 + lam P(x)`` by FISTA, batched over samples.

    ``P`` is the l1 norm of the real vector (``penalty="l1"``, the CsiNet paper's LASSO) or the
    sum of the moduli of the complex coefficients (``penalty="complex"``, group l1 over each
    (re, im) pair). ``lam = alpha * lam_max(y)`` per sample, ``lam_max`` the smallest value
    with the zero solution: ``||A^T y||_inf`` (l1) or the largest pair norm of ``A^T y``
    (complex), so ``alpha`` in (0, 1) is scale-free. Step ``1 / L``, ``L = ||A||_2^2``;
    O'Donoghue & Candes' gradient restart of the momentum, per sample; starts from 0.

    Parameters
    ----------
    shape, num_measurements, measurement_bits, seed, fit_samples
        See :class:`CompressiveSensing`.
    alpha : float or None
        Relative regularisation in (0, 1); None: chosen by :meth:`fit` from :attr:`ALPHA_GRID`.
    iterations : int
        FISTA iterations from a cold start (:attr:`DEFAULT_ITERATIONS`), with continuation: the
        threshold falls geometrically from ``lam_max`` to ``lam`` over the first half.
    path_iterations : int
        Iterations per further value in a regularisation path (:meth:`sweep`, :meth:`fit`):
        the values are solved from the largest down, each warm-started from the previous
        solution (continuation from its ``lam``); the first gets ``iterations``.
    penalty : {"l1", "complex"}
    """

    name = "lasso"
    REG_NAME = "alpha"
    #: ``alpha`` grid of :meth:`fit`: quarter decades 1e-5 .. 0.56, then 0.75 and 0.9 (at
    #: CR 32-64 the best LASSO is nearly the zero solution, ``alpha`` close to 1).
    ALPHA_GRID = tuple(float(v) for v in np.round(10.0 ** (np.arange(-20, 0) / 4), 12)) + (
        0.75, 0.9)
    #: Default FISTA iterations (cold start with continuation: within 0.1 dB of the converged
    #: NMSE on COST2100 channels at CR 4 to 32 for alpha >= 3e-4).
    DEFAULT_ITERATIONS = 400
    #: Default iterations per further value of a warm-started path (quarter-decade steps).
    DEFAULT_PATH_ITERATIONS = 60
    #: Fraction of the iterations over which the threshold falls to its target (continuation).
    CONTINUATION = 0.5

    def __init__(self, shape: tuple[int, int], num_measurements: int,
                 measurement_bits: int = FLOAT_MEASUREMENT_BITS, seed: int = 0,
                 alpha: float | None = None, iterations: int = DEFAULT_ITERATIONS,
                 path_iterations: int = DEFAULT_PATH_ITERATIONS, penalty: str = "l1",
                 fit_samples: int = CompressiveSensing.FIT_SAMPLES):
        super().__init__(shape, num_measurements, measurement_bits, seed, fit_samples)
        self._given = alpha is not None
        self.alpha = None
        if alpha is not None:
            self.alpha = check_positive("lasso: alpha", alpha)
            if self.alpha >= 1:
                raise LinksimInputError(f"lasso: alpha must be below 1 (alpha = 1 gives the zero "
                                        f"solution), got {alpha!r}")
        self.iterations = check_int("lasso: iterations", iterations, 1)
        self.path_iterations = check_int("lasso: path_iterations", path_iterations, 1)
        if penalty not in ("l1", "complex"):
            raise LinksimInputError(f"lasso: penalty must be 'l1' or 'complex', got {penalty!r}")
        self.penalty = penalty
        self._lipschitz: float | None = None

    @property
    def lipschitz(self) -> float:
        """``L = ||A||_2^2``, the largest eigenvalue of ``A A^T`` (computed once, on first
        use)."""
        if self._lipschitz is None:
            self._lipschitz = float(np.linalg.eigvalsh(self.matrix @ self.matrix.T)[-1])
        return self._lipschitz

    @property
    def regularisation(self):
        return self.alpha

    def _set_regularisation(self, value) -> None:
        self.alpha = float(value)

    def default_grid(self) -> list:
        return list(self.ALPHA_GRID)

    def _settings(self) -> dict:
        return {"iterations": self.iterations, "path_iterations": self.path_iterations,
                "penalty": self.penalty}

    def _group_norm(self, v: np.ndarray) -> np.ndarray:
        """Modulus of each (re, im) pair of ``[b, N]`` -> ``[b, N / 2]``."""
        return np.sqrt(v[:, :self.d] ** 2 + v[:, self.d:] ** 2)

    def _prox(self, v: np.ndarray, thr: np.ndarray) -> np.ndarray:
        """Proximal map of ``thr P`` (``thr [b, 1]``)."""
        if self.penalty == "l1":
            return np.sign(v) * np.maximum(np.abs(v) - thr, 0)
        mag = self._group_norm(v)
        shrink = np.maximum(1 - thr / np.maximum(mag, np.finfo(v.dtype).tiny), 0)
        return v * np.concatenate([shrink, shrink], axis=1)

    def lam_max(self, y: np.ndarray) -> np.ndarray:
        """``[b, M]`` -> ``[b]``: the smallest ``lam`` whose solution is 0."""
        aty = y @ self.matrix
        if self.penalty == "l1":
            return np.abs(aty).max(axis=1)
        return self._group_norm(aty).max(axis=1)

    def fista(self, y: np.ndarray, lam: np.ndarray, x0: np.ndarray | None = None,
              lam_start: np.ndarray | None = None, iterations: int | None = None
              ) -> np.ndarray:
        """FISTA with restart and continuation, float32 arithmetic.

        Parameters
        ----------
        y : [b, M] float
            Measurements.
        lam : [b] float
            Absolute regularisation per sample.
        x0 : [b, N] float or None
            Start (0 if None).
        lam_start : [b] float or None
            Continuation: the threshold falls geometrically from ``lam_start`` to ``lam`` over
            the first :attr:`CONTINUATION` of the iterations (``lam_max`` for a cold start;
            none if None).
        iterations : int or None
            Default :attr:`iterations`.

        Returns
        -------
        [b, N] float64
        """
        a = self._a32
        b = y.shape[0]
        y32 = y.astype(np.float32)
        aty = y32 @ a
        inv_l = np.float32(1.0 / self.lipschitz)
        lam = np.asarray(lam, np.float64)
        iterations = self.iterations if iterations is None else iterations
        n_cont = int(self.CONTINUATION * iterations)
        if lam_start is None or n_cont == 0:
            ratio = np.ones(b)
        else:
            ratio = np.maximum(np.asarray(lam_start, np.float64) / np.where(lam > 0, lam, 1.0),
                               1.0)
        x = np.zeros((b, self.n), np.float32) if x0 is None else x0.astype(np.float32)
        z = x.copy()
        t = np.ones(b)
        for it in range(iterations):
            frac = max(1.0 - it / n_cont, 0.0) if n_cont else 0.0
            thr = (lam * ratio ** frac / self.lipschitz).astype(np.float32)[:, None]
            # gradient of 0.5 ||A z - y||^2 is A^T A z - A^T y
            x_new = self._prox(z - inv_l * ((z @ a.T) @ a - aty), thr)
            step = x_new - x
            restart = np.einsum("bn,bn->b", z - x_new, step) > 0
            t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            mom = np.where(restart, 0.0, (t - 1) / t_new).astype(np.float32)
            t = np.where(restart, 1.0, t_new)
            z = x_new + mom[:, None] * step
            x = x_new
        return x.astype(np.float64)

    def _solve_path(self, y: np.ndarray, values: Sequence
                    ) -> Iterator[tuple[int, np.ndarray]]:
        # warm start along decreasing alpha (the path of LASSO solutions is continuous)
        lmax = self.lam_max(y)
        order = np.argsort(-np.asarray(values, np.float64), kind="stable")
        x, start, its = None, lmax, self.iterations
        for i in order:
            x = self.fista(y, values[i] * lmax, x0=x, lam_start=start, iterations=its)
            yield int(i), x
            start, its = values[i] * lmax, self.path_iterations
