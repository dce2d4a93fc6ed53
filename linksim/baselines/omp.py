"""Orthogonal matching pursuit recovery of the compressive-sensing measurements to a sparsity
``K``, batched over samples."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from linksim.baselines.sensing import FLOAT_MEASUREMENT_BITS, CompressiveSensing, check_int
from linksim.errors import LinksimInputError


class OMP(CompressiveSensing):
    """Orthogonal matching pursuit, batched over samples.

    Atoms are the columns of ``A`` (``complex_groups=False``) or the column pairs
    ``(j, j + Na Nt)`` of one complex coefficient (``complex_groups=True``, picked together).
    Each step picks the atom of largest normalised correlation with the residual,
    ``|a_j^T r| / ||a_j||`` (pairs: the root sum of squares of the two), among those not yet
    picked, and projects ``y`` on the span of the picked columns: Gram-Schmidt with one
    re-orthogonalisation keeps ``A_S = Q R`` and the residual ``r = y - Q Q^T y``; the
    coefficients at the end are ``R^-1 Q^T y`` (the least squares on the support). Stops at
    ``K`` atoms, the sparsity, or earlier for a sample whose residual is below ``tol ||y||``.

    Parameters
    ----------
    shape, num_measurements, measurement_bits, seed, fit_samples
        See :class:`CompressiveSensing`.
    sparsity : int or None
        ``K`` atoms (``K`` real columns, or ``2 K`` with pairs, at most ``M``); None: chosen by
        :meth:`fit` from :meth:`default_grid` (up to ``M / 2`` real columns).
    complex_groups : bool
    tol : float
        Relative residual that stops a sample early (>= 0).
    """

    name = "omp"
    REG_NAME = "sparsity"
    #: Real columns tried by :meth:`fit`, as fractions of ``M``.
    SPARSITY_FRACTIONS = (1 / 64, 1 / 32, 1 / 16, 1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2)
    #: Samples per Gram-Schmidt block (the basis ``Q`` is ``[b, K, M]`` float64).
    CHUNK = 64

    def __init__(self, shape: tuple[int, int], num_measurements: int,
                 measurement_bits: int = FLOAT_MEASUREMENT_BITS, seed: int = 0,
                 sparsity: int | None = None, complex_groups: bool = False, tol: float = 1e-7,
                 fit_samples: int = CompressiveSensing.FIT_SAMPLES):
        super().__init__(shape, num_measurements, measurement_bits, seed, fit_samples)
        if not isinstance(complex_groups, bool | np.bool_):
            raise LinksimInputError(f"omp: complex_groups must be true or false, "
                                    f"got {complex_groups!r}")
        self.complex_groups = bool(complex_groups)
        self.width = 2 if self.complex_groups else 1
        self._given = sparsity is not None
        self.sparsity = None
        if sparsity is not None:
            self.sparsity = check_int("omp: sparsity", sparsity, 1, self.m // self.width)
        if (not isinstance(tol, int | float) or isinstance(tol, bool) or not math.isfinite(tol)
                or tol < 0):
            raise LinksimInputError(f"omp: tol must be a number >= 0, got {tol!r}")
        self.tol = float(tol)
        self._col_norm = np.sqrt(np.sum(self.matrix ** 2, axis=0))

    @property
    def regularisation(self):
        return self.sparsity

    def _set_regularisation(self, value) -> None:
        self.sparsity = int(value)

    def default_grid(self) -> list:
        cols = {max(round(f * self.m), 1) for f in self.SPARSITY_FRACTIONS}
        return sorted({max(c // self.width, 1) for c in cols})

    def _settings(self) -> dict:
        return {"complex_groups": self.complex_groups, "tol": self.tol}

    def pursuit(self, y: np.ndarray, k_max: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Greedy selection of ``k_max`` atoms for ``y [b, M]``.

        Returns
        -------
        support : [b, C] int64
            Picked columns in order, ``C = k_max`` (``2 k_max`` with pairs).
        r : [b, C, C] float64
            Upper-triangular ``R`` of ``A_S = Q R``.
        qty : [b, C] float64
            ``Q^T y``.
        used : [b] int64
            Columns actually picked (fewer where the residual vanished: the rest of ``R`` is
            the identity and of ``Q^T y`` zero).
        """
        a, w = self.matrix, self.width
        b, cols = y.shape[0], k_max * w
        q = np.zeros((b, cols, self.m))
        r_mat = np.zeros((b, cols, cols))
        r_mat[:, np.arange(cols), np.arange(cols)] = 1.0
        qty = np.zeros((b, cols))
        support = np.zeros((b, cols), np.int64)
        picked = np.zeros((b, self.n // w), bool)
        resid = y.astype(np.float64).copy()
        stop = self.tol * np.sqrt(np.sum(resid * resid, axis=1))
        active = np.ones(b, bool)
        used = np.zeros(b, np.int64)
        rows = np.arange(b)
        for step in range(k_max):
            active &= np.sqrt(np.sum(resid * resid, axis=1)) > stop
            if not active.any():
                break
            score = ((resid @ a) / self._col_norm) ** 2
            if w == 2:
                score = score[:, :self.d] + score[:, self.d:]
            score[picked] = -np.inf
            j = np.argmax(score, axis=1)
            picked[rows[active], j[active]] = True
            for part in range(w):
                c = step * w + part
                col = j + part * self.d
                atom = a[:, col].T  # [b, M]
                basis = q[:, :c]
                proj = (basis @ atom[:, :, None])[..., 0]
                v = atom - (proj[:, None, :] @ basis)[:, 0]
                proj2 = (basis @ v[:, :, None])[..., 0]  # re-orthogonalise
                v -= (proj2[:, None, :] @ basis)[:, 0]
                nv = np.sqrt(np.sum(v * v, axis=1))
                qc = v / np.where(nv > 0, nv, 1.0)[:, None]
                coef = np.einsum("bm,bm->b", qc, resid)
                # an atom in the span of the picked ones (never with c < M in general
                # position) ends the sample's pursuit, keeping the used columns a prefix
                active &= nv > 1e-9 * self._col_norm[col]
                act = active
                q[act, c] = qc[act]
                r_mat[act, :c, c] = (proj + proj2)[act]
                r_mat[act, c, c] = nv[act]
                qty[act, c] = coef[act]
                support[act, c] = col[act]
                resid[act] -= coef[act, None] * qc[act]
                used[act] += 1
        return support, r_mat, qty, used

    def coefficients(self, support: np.ndarray, r_mat: np.ndarray, qty: np.ndarray,
                     used: np.ndarray, k: int) -> np.ndarray:
        """``x_hat [b, N]`` from the first ``k`` atoms of :meth:`pursuit`."""
        c = k * self.width
        coef = np.linalg.solve(r_mat[:, :c, :c], qty[:, :c, None])[..., 0]
        coef[np.arange(c)[None, :] >= used[:, None]] = 0.0
        x = np.zeros((support.shape[0], self.n))
        # scatter-add: unused slots hold column 0 with coefficient 0 (picked columns differ)
        np.add.at(x, (np.arange(x.shape[0])[:, None], support[:, :c]), coef)
        return x

    def _solve_path(self, y: np.ndarray, values: Sequence
                    ) -> Iterator[tuple[int, np.ndarray]]:
        # one pursuit to the largest K gives every smaller K (its prefix)
        ks = [int(v) for v in values]
        outs = [np.zeros((y.shape[0], self.n)) for _ in ks]
        for s in range(0, y.shape[0], self.CHUNK):
            sl = slice(s, s + self.CHUNK)
            path = self.pursuit(y[sl], max(ks))
            for out, k in zip(outs, ks, strict=True):
                out[sl] = self.coefficients(*path, k)
        yield from enumerate(outs)
