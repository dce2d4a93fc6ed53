"""PCA / Karhunen-Loeve transform of the unit-norm angular-delay CSI, fitted on the training set,
with bits allocated over the components by reverse water-filling (:func:`allocate_bits`)."""

from __future__ import annotations

import numpy as np

from linksim.baselines.base import SCALE_BITS, Baseline, check_bits, check_csi
from linksim.errors import LinksimInputError
from linksim.phy.bits import (
    BitReader,
    dequantise_uniform,
    float32_to_bits,
    gaussian_uniform_quantiser,
    quantise_uniform,
    stack_streams,
    uint_to_bits,
)
from linksim.phy.transforms import abs2


def allocate_bits(eigenvalues: np.ndarray, budget: int, max_bits: int) -> np.ndarray:
    """Reverse water-filling in integer bits over complex KLT components.

    Each component's real and imaginary parts (variance ``lambda_j / 2`` each) get the same
    ``b_j`` bits, so one step costs 2 bits. The distortion model is the Gaussian optimal uniform
    quantiser, ``D_j(b) = lambda_j d(b)`` with ``d`` from :func:`gaussian_uniform_quantiser`;
    since ``d`` is convex the greedy choice of the largest marginal gains is optimal.

    Parameters
    ----------
    eigenvalues : [D] float
        Descending component variances ``lambda_j = E|c_j|^2``.
    budget : int
        Bits for the coefficients.
    max_bits : int
        Most bits per real value.

    Returns
    -------
    [D] int64
        ``b_j``, non-increasing in ``j``.
    """
    d = np.array([1.0] + [gaussian_uniform_quantiser(b)[1] for b in range(1, max_bits + 1)])
    gains = np.asarray(eigenvalues, np.float64)[:, None] * (d[:-1] - d[1:])[None, :]
    steps = min(budget // 2, gains.size)
    alloc = np.zeros(gains.shape[0], np.int64)
    if steps > 0:
        best = np.argpartition(-gains.ravel(), steps - 1)[:steps]
        np.add.at(alloc, best // max_bits, 1)
    return alloc


class PCA(Baseline):
    """Karhunen-Loeve transform of the unit-norm CSI, fitted on the training set.

    The CSI ``h_ad [b, Na, Nt]`` is flattened to ``x`` in ``C^D`` (``D = Na Nt``) and divided
    by its norm (sent as the float32 scale). The basis is the eigenvectors of the *complex*
    correlation ``R = E[x x^H]`` of the unit-norm training vectors (no mean removed: the channels
    have random phases, mean ~0). Coefficients ``c = U^H x`` of the kept components: real and
    imaginary parts uniform-quantised (midrise) with ``b_j`` bits each on ``[-r_j, r_j]``, or
    sent as float32 (``coeff_bits=None``). ``r_j`` starts from the Gaussian optimal uniform
    quantiser for variance ``lambda_j / 2``, scaled by the factor of :attr:`LOADING_FACTORS`
    (0.5 to 8) of least error on the training coefficients (one factor per bit depth).
    ``payload_bits = 32 + 2 sum_j b_j``.

    Parameters
    ----------
    n_components : int or None
        Kept components (all ``D`` if None). Ignored with ``budget_bits``.
    coeff_bits : int or None
        Bits per real value (1..16), the same for every component; None sends float32.
    budget_bits : int or None
        Fit picks components and per-component bits (:func:`allocate_bits`) for this payload.
    max_coeff_bits : int
        Cap per real value with ``budget_bits``.
    """

    name = "pca"
    domain = "angular_delay"
    #: Multiples of the Gaussian half range tried per component at fit time.
    LOADING_FACTORS = tuple(2.0 ** (np.arange(-4, 13) / 4))
    #: Training samples used to fit the quantiser ranges.
    RANGE_FIT_SAMPLES = 5000

    def __init__(self, n_components: int | None = None, coeff_bits: int | None = None,
                 budget_bits: int | None = None, max_coeff_bits: int = 16):
        if coeff_bits is not None:
            check_bits("pca: coeff_bits", coeff_bits, 1, 16)
        if budget_bits is not None and (not isinstance(budget_bits, int | np.integer)
                                        or budget_bits <= SCALE_BITS + 2):
            raise LinksimInputError(f"pca: budget_bits must exceed {SCALE_BITS + 2}, "
                                    f"got {budget_bits!r}")
        if n_components is not None and (not isinstance(n_components, int | np.integer)
                                         or n_components < 1):
            raise LinksimInputError(f"pca: n_components must be a positive integer, "
                                    f"got {n_components!r}")
        self.n_components = n_components
        self.coeff_bits = coeff_bits
        self.budget_bits = budget_bits
        self.max_coeff_bits = check_bits("pca: max_coeff_bits", max_coeff_bits, 1, 16)
        self.basis: np.ndarray | None = None
        self.eigenvalues: np.ndarray | None = None
        self.bits: np.ndarray | None = None  # [n] per component, 0 = float32

    @classmethod
    def for_payload(cls, bits: int, fixed_bits: int | None = None, **options) -> PCA:
        """A PCA whose fit allocates ``bits`` (see :func:`allocate_bits`); with ``fixed_bits``
        (1..16, or 32 for float32) instead the most components that fit at that many bits per
        real value each, ``n = (bits - 32) // (2 fixed_bits)`` (e.g. 16,416 bits at 32: 256
        complex components, the 512 real numbers of a CR 4 codeword), named ``pca_<B>b``
        (``pca_float``) in results."""
        if fixed_bits is None:
            return cls(budget_bits=int(bits), **options)
        fixed_bits = check_bits("pca: fixed_bits", fixed_bits, 1, 32)
        if 16 < fixed_bits < 32:
            raise LinksimInputError(f"pca: fixed_bits must be 1..16 or 32, got {fixed_bits}")
        n = (int(bits) - SCALE_BITS) // (2 * fixed_bits)
        if n < 1:
            raise LinksimInputError(f"pca: {bits} bits hold no component at {fixed_bits} bits")
        pca = cls(n_components=n, coeff_bits=None if fixed_bits == 32 else fixed_bits,
                  **options)
        pca.name = "pca_float" if fixed_bits == 32 else f"pca_{fixed_bits}b"
        return pca

    @staticmethod
    def klt(h_train: np.ndarray, batch_size: int = 2000) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition of the unit-norm training correlation ``E[x x^H]``.

        Parameters
        ----------
        h_train : [N, Na, Nt] complex
            Training CSI.

        Returns
        -------
        eigenvalues : [D] float64
            Descending, ``D = Na Nt``; they sum to 1.
        basis : [D, D] complex128
            Eigenvectors as columns, in the same order.
        """
        if h_train.ndim != 3 or h_train.shape[0] < 1:
            raise LinksimInputError(f"pca: training CSI must be [N, Na, Nt], got "
                                    f"{list(h_train.shape)}")
        d = h_train.shape[1] * h_train.shape[2]
        r = np.zeros((d, d), np.complex128)
        for start in range(0, h_train.shape[0], batch_size):
            x = PCA._unit(h_train[start:start + batch_size].reshape(-1, d))[0]
            r += (x.conj().T @ x).astype(np.complex128)
        lam, u = np.linalg.eigh(r / h_train.shape[0])
        return np.clip(lam[::-1], 0.0, None), u[:, ::-1]

    def fit(self, h_train: np.ndarray, klt: tuple[np.ndarray, np.ndarray] | None = None
            ) -> PCA:
        """Fit on ``h_train [N, Na, Nt]``: basis, bit allocation, quantiser ranges.

        ``klt`` reuses :meth:`klt` of the same ``h_train`` (several budgets, one
        decomposition).
        """
        lam, u = self.klt(h_train) if klt is None else klt
        self.shape = tuple(h_train.shape[1:])
        d = self.shape[0] * self.shape[1]
        if lam.shape != (d,) or u.shape != (d, d):
            raise LinksimInputError(f"pca: klt shapes {lam.shape}, {u.shape} do not match "
                                    f"D = {d}")
        if self.budget_bits is not None:
            alloc = allocate_bits(lam, self.budget_bits - SCALE_BITS, self.max_coeff_bits)
            n = max(int(np.count_nonzero(alloc)), 1)
            self.bits = np.maximum(alloc[:n], 1)
        else:
            n = d if self.n_components is None else min(self.n_components, d)
            self.bits = np.full(n, 0 if self.coeff_bits is None else self.coeff_bits, np.int64)
        self.eigenvalues = lam[:n]
        self.basis = np.ascontiguousarray(u[:, :n]).astype(np.complex64)
        self.half_range = None
        if np.any(self.bits > 0):
            sub = h_train[:self.RANGE_FIT_SAMPLES].reshape(-1, d)
            self.half_range = self._fit_ranges(self._unit(sub)[0].astype(np.complex64)
                                               @ self.basis.conj())
        return self

    def _fit_ranges(self, c: np.ndarray) -> np.ndarray:
        """Half ranges ``f r_gauss``: per bit depth, the factor ``f`` of
        :attr:`LOADING_FACTORS` of least squared error on the training coefficients
        ``c [N, n]``, pooled over the components of that depth (the coefficients of real
        channels are not Gaussian; one factor per component would overfit the tails of a small
        training set)."""
        base = self._gaussian_half_range()
        err = np.zeros((len(self.LOADING_FACTORS), base.size))
        for i, f in enumerate(self.LOADING_FACTORS):
            r = f * base
            for part in (c.real, c.imag):
                q = quantise_uniform(part, self.bits, -r, r)
                err[i] += np.sum((part - dequantise_uniform(q, self.bits, -r, r)) ** 2, axis=0)
        best = base.copy()
        for b in np.unique(self.bits):
            group = self.bits == b
            best[group] *= self.LOADING_FACTORS[int(np.argmin(err[:, group].sum(axis=1)))]
        return best

    @staticmethod
    def _unit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        norm = np.sqrt(np.sum(abs2(x), axis=-1, dtype=np.float64)).astype(np.float32)
        return x / np.where(norm > 0, norm, 1.0)[:, None], norm

    def _fitted(self) -> None:
        if self.basis is None:
            raise RuntimeError("PCA.fit must be called before use")

    @property
    def payload_bits(self) -> int:
        self._fitted()
        return SCALE_BITS + 2 * int(np.where(self.bits > 0, self.bits, 32).sum())

    def describe(self) -> dict:
        self._fitted()
        return {**super().describe(), "n_components": int(self.bits.size),
                "coeff_bits": self.bits.tolist()}

    def _gaussian_half_range(self) -> np.ndarray:
        """``2^(b-1) step(b) sqrt(lambda / 2)`` per component: the optimal uniform quantiser's
        half range for a Gaussian real or imaginary part."""
        steps = np.array([gaussian_uniform_quantiser(int(b))[0] if b > 0 else 0.0
                          for b in self.bits])
        return np.ldexp(steps, (self.bits - 1).astype(np.int32)) * np.sqrt(self.eigenvalues / 2)

    def _half_range(self) -> np.ndarray:
        return self.half_range

    def encode(self, h_ad: np.ndarray) -> dict[str, np.ndarray]:
        """``[b, Na, Nt]`` -> ``{scale [b], q_re [b, n], q_im [b, n]}`` (float32 bits where
        unquantised)."""
        self._fitted()
        check_csi(h_ad, self.shape, "pca")
        x, norm = self._unit(h_ad.reshape(h_ad.shape[0], -1))
        c = x.astype(np.complex64) @ self.basis.conj()
        if np.all(self.bits == 0):
            return {"scale": norm, "q_re": c.real.astype(np.float32).view(np.uint32),
                    "q_im": c.imag.astype(np.float32).view(np.uint32)}
        r = self._half_range()
        return {"scale": norm, "q_re": quantise_uniform(c.real, self.bits, -r, r),
                "q_im": quantise_uniform(c.imag, self.bits, -r, r)}

    def decode(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Report -> ``[b, Na, Nt]`` complex64."""
        self._fitted()
        if np.all(self.bits == 0):
            c = (report["q_re"].astype(np.uint32).view(np.float32)
                 + 1j * report["q_im"].astype(np.uint32).view(np.float32))
        else:
            r = self._half_range()
            c = (dequantise_uniform(report["q_re"], self.bits, -r, r)
                 + 1j * dequantise_uniform(report["q_im"], self.bits, -r, r))
        x = (c.astype(np.complex64) @ self.basis.T) * report["scale"][:, None]
        return x.astype(np.complex64).reshape(-1, *self.shape)

    def report_bits(self, report: dict[str, np.ndarray]) -> np.ndarray:
        return np.full(report["scale"].shape[0], self.payload_bits, np.int64)

    def _widths(self) -> list[int]:
        return [int(b) if b > 0 else 32 for b in self.bits]

    def to_bits(self, report: dict[str, np.ndarray]) -> list[np.ndarray]:
        self._fitted()
        parts = [float32_to_bits(report["scale"])]
        for j, w in enumerate(self._widths()):  # per component: width differs
            parts += [uint_to_bits(report["q_re"][:, j:j + 1], w),
                      uint_to_bits(report["q_im"][:, j:j + 1], w)]
        return list(np.concatenate(parts, axis=1))

    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        self._fitted()
        rd = BitReader(stack_streams(stream, "pca"))
        scale = rd.float32()
        re, im = [], []
        for w in self._widths():
            re.append(rd.uint(1, w))
            im.append(rd.uint(1, w))
        q_re, q_im = np.concatenate(re, axis=1), np.concatenate(im, axis=1)
        if np.all(self.bits == 0):
            q_re, q_im = q_re.astype(np.uint32), q_im.astype(np.uint32)
        return {"scale": scale, "q_re": q_re, "q_im": q_im}
