"""Compressive-sensing baselines: random Gaussian measurements at the UE, sparse or
total-variation recovery at the BS (the CS rows of the CsiNet paper's Table I).

Measurement model, common to the three schemes. The truncated angular-delay CSI
``h_ad [b, Na, Nt]`` (complex, :mod:`linksim.transforms`) is split into the real vector

    x = [Re h_ad.ravel(), Im h_ad.ravel()]  in R^N,  N = 2 Na Nt

(all real parts, then all imaginary parts; entry ``j`` and ``j + Na Nt`` are one complex
coefficient). The UE divides ``x`` by its norm, sent as the float32 scale every report starts
with (:data:`linksim.baselines.SCALE_BITS`, as the other baselines and the power-normalised
neural codecs do), and sends the ``M`` measurements

    y = A x / ||x||,  A [M, N] with i.i.d. N(0, 1/M) entries,

either as float32 (``measurement_bits=32``) or uniform-quantised on ``B = measurement_bits``
bits (1..16, midrise on ``[-r, r]``, ``r`` fitted on training measurements). ``A`` is drawn with
``numpy.random.default_rng(seed)`` at both ends. ``payload_bits = 32 + M B``; the compression
ratio is ``N / M`` (CsiNet's: ``M = 512`` measurements of ``N = 2048`` real entries is CR 4,
16,416 bits with float32 measurements, the payload of a power-normalised codec at CR 4).

The BS rebuilds ``x`` from ``y`` by

- :class:`Lasso`: ``min_x 0.5 ||y - A x||^2 + lam ||x||_1`` (FISTA with adaptive restart);
- :class:`TotalVariation`: ``min_x TV(x) + (mu / 2) ||A x - y||^2`` with the isotropic total
  variation of the ``[Na, Nt]`` images of the real and the imaginary part (TVAL3-like; ADMM);
- :class:`OMP`: orthogonal matching pursuit to a sparsity ``K``;

and multiplies by the scale. The regularisation (``alpha``, ``mu``, ``K``) is chosen in
:meth:`CompressiveSensing.fit` on training CSI, by the least mean NMSE over a grid, unless given.
All solvers work on a batch at once (``A`` is shared: matrix products over the batch, no loop
over samples).

The pipeline builds them by :func:`for_payload`::

    bl = for_payload("lasso", 16416, (32, 32), seed).fit(h_train)   # M = 512 float32 values
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import scipy.fft

from linksim.baselines import (
    SCALE_BITS,
    Baseline,
    _check_csi,
    _Reader,
    _stack,
    dequantise_uniform,
    float32_to_bits,
    gaussian_uniform_quantiser,
    quantise_uniform,
    uint_to_bits,
)
from linksim.errors import LinksimInputError

#: ``measurement_bits`` value that sends each measurement as a float32.
FLOAT_MEASUREMENT_BITS = 32
#: Most bits of a uniform-quantised measurement.
MAX_MEASUREMENT_BITS = 16


#: OpenBLAS threads of numpy while a CS solver runs (None: leave as is). The solvers make
#: thousands of small products (a batch times ``A``); with two threads and another process on
#: the cores each product waits for a descheduled thread: measured 40x slower than one thread
#: on the 2-core project machine next to a training run, while on an idle machine two threads
#: gain only ~1.2x.
SOLVER_BLAS_THREADS: int | None = 1


@contextmanager
def blas_threads(n: int | None):
    """Run the block with the BLAS libraries of this process (numpy's OpenBLAS) limited to
    ``n`` threads (threadpoolctl), restored after; None leaves them as they are."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(n), user_api="blas"):
        yield


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if not _is_int(value) or value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise LinksimInputError(f"{name} must be an integer {span}, got {value!r}")
    return int(value)


def _check_positive(name: str, value) -> float:
    if (not isinstance(value, int | float | np.integer | np.floating) or isinstance(value, bool)
            or not math.isfinite(float(value)) or value <= 0):
        raise LinksimInputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_measurement_bits(name: str, value) -> int:
    if _is_int(value) and (value == FLOAT_MEASUREMENT_BITS or 1 <= value <= MAX_MEASUREMENT_BITS):
        return int(value)
    raise LinksimInputError(f"{name}: measurement_bits must be {FLOAT_MEASUREMENT_BITS} (float32) "
                            f"or an integer in 1..{MAX_MEASUREMENT_BITS}, got {value!r}")


def _check_shape(name: str, shape) -> tuple[int, int]:
    try:
        na, nt = shape
    except (TypeError, ValueError):
        raise LinksimInputError(f"{name}: shape must be (Na, Nt), got {shape!r}") from None
    return (_check_int(f"{name}: shape[0] (Na)", na, 1), _check_int(f"{name}: shape[1] (Nt)",
                                                                       nt, 1))


def nmse_unit(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """``||x - x_hat||^2 / ||x||^2`` per row of ``[b, N]`` real arrays: ``[b]`` float64 (0 for
    an all-zero ``x`` rebuilt as zero, inf if rebuilt as non-zero)."""
    err = np.sum((x - x_hat) ** 2, axis=1, dtype=np.float64)
    ref = np.sum(x * x, axis=1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ref > 0, err / np.where(ref > 0, ref, 1.0), np.where(err > 0, np.inf, 0.0))


class CompressiveSensing(Baseline):
    """Common part of the CS baselines: measurement matrix, report, bits and fitting.

    Parameters
    ----------
    shape : (Na, Nt)
        Truncated angular-delay shape; ``N = 2 Na Nt`` real unknowns.
    num_measurements : int
        ``M``, ``1 .. N``.
    measurement_bits : int
        ``B``: 32 sends float32 measurements, 1..16 uniform-quantises them.
    seed : int
        Seed of ``A`` (``numpy.random.default_rng(seed).standard_normal((M, N)) / sqrt(M)``).
    fit_samples : int
        Training samples :meth:`fit` uses for the regularisation search (the first ones).

    Attributes
    ----------
    matrix : [M, N] float64
        The measurement matrix ``A``.
    half_range : float
        ``r`` of the uniform measurement quantiser (``B < 32``): before :meth:`fit` the
        Gaussian optimal one for the exact measurement variance ``1 / M`` (``||x / ||x|| || = 1``
        and ``A``'s entries ``N(0, 1/M)``), after it fitted on training measurements.
    fit_nmse_db : dict or None
        After a regularisation search: grid value -> mean NMSE [dB] on the fit samples.
    """

    domain = "angular_delay"
    #: Default ``fit_samples``.
    FIT_SAMPLES = 300
    #: Training samples used to fit the measurement quantiser's range.
    RANGE_FIT_SAMPLES = 2000
    #: Multiples of the Gaussian optimal half range tried for the measurement quantiser.
    LOADING_FACTORS = tuple(2.0 ** (np.arange(-4, 5) / 4))
    #: Samples per solver call in :meth:`decode` (bounds the memory of the batched solvers).
    DECODE_CHUNK = 1024
    #: Samples per solver call in :meth:`sweep`.
    SWEEP_CHUNK = 512
    #: Name of the regularisation setting (constructor option, :meth:`describe` key).
    REG_NAME = "regularisation"
    #: Coarsest stride over the grid in the search of :meth:`fit` (a power of 2; 1: all).
    SEARCH_STRIDE = 1

    def __init__(self, shape: tuple[int, int], num_measurements: int,
                 measurement_bits: int = FLOAT_MEASUREMENT_BITS, seed: int = 0,
                 fit_samples: int = FIT_SAMPLES):
        self.shape = _check_shape(self.name, shape)
        self.d = self.shape[0] * self.shape[1]
        self.n = 2 * self.d
        self.m = _check_int(f"{self.name}: num_measurements", num_measurements, 1, self.n)
        self.measurement_bits = _check_measurement_bits(self.name, measurement_bits)
        self.seed = _check_int(f"{self.name}: seed", seed, 0)
        self.fit_samples = _check_int(f"{self.name}: fit_samples", fit_samples, 1)
        rng = np.random.default_rng(self.seed)
        self.matrix = rng.standard_normal((self.m, self.n)) / math.sqrt(self.m)
        self._a32 = self.matrix.astype(np.float32)
        self.half_range = self._gaussian_half_range(1.0 / math.sqrt(self.m))
        self.fit_nmse_db: dict | None = None

    # -- sizes and settings ---------------------------------------------------------------------
    @property
    def quantised(self) -> bool:
        """Whether measurements are uniform-quantised (else float32)."""
        return self.measurement_bits != FLOAT_MEASUREMENT_BITS

    @property
    def payload_bits(self) -> int:
        return SCALE_BITS + self.m * self.measurement_bits

    @property
    def compression_ratio(self) -> float:
        """``N / M``."""
        return self.n / self.m

    @classmethod
    def for_payload(cls, bits: int, shape: tuple[int, int],
                    measurement_bits: int = FLOAT_MEASUREMENT_BITS, **options
                    ) -> CompressiveSensing:
        """The most measurements ``M = (bits - 32) // B`` a payload of ``bits`` holds.

        Raises :class:`LinksimInputError` if ``M < 1`` or ``M > N = 2 Na Nt``.
        """
        b = _check_measurement_bits(cls.name, measurement_bits)
        bits = _check_int(f"{cls.name}: payload bits", bits, 1)
        na, nt = _check_shape(cls.name, shape)
        n = 2 * na * nt
        m = (bits - SCALE_BITS) // b
        if m < 1:
            raise LinksimInputError(f"{cls.name}: payload of {bits} bits is below one measurement "
                                    f"({SCALE_BITS + b} bits with measurement_bits={b})")
        if m > n:
            raise LinksimInputError(f"{cls.name}: payload of {bits} bits gives M = {m} "
                                    f"measurements, more than the N = {n} real unknowns")
        return cls((na, nt), m, measurement_bits=b, **options)

    @property
    @abstractmethod
    def regularisation(self):
        """The regularisation in use (``alpha``, ``mu`` or ``K``), None until fitted or given."""

    @abstractmethod
    def _set_regularisation(self, value) -> None:
        """Store a value of the grid chosen by :meth:`fit`."""

    @abstractmethod
    def default_grid(self) -> list:
        """Grid of regularisation values searched by :meth:`fit`."""

    def _settings(self) -> dict:
        """Solver settings for :meth:`describe`."""
        return {}

    def describe(self) -> dict:
        out = {**super().describe(), "num_measurements": self.m,
               "measurement_bits": self.measurement_bits,
               "compression_ratio": self.compression_ratio, "seed": self.seed,
               self.REG_NAME: self.regularisation, **self._settings()}
        if self.quantised:
            out["half_range"] = float(self.half_range)
        if self.fit_nmse_db is not None:
            out["fit_samples"] = self.fit_samples
            out["fit_nmse_db"] = {str(k): round(v, 3) for k, v in self.fit_nmse_db.items()}
        return out

    # -- UE side --------------------------------------------------------------------------------
    def unit_vectors(self, h_ad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``[b, Na, Nt]`` complex -> ``(x_unit [b, N] float64, norm [b] float32)``; all-zero
        samples stay zero."""
        _check_csi(h_ad, self.shape, self.name)
        flat = h_ad.reshape(h_ad.shape[0], self.d)
        x = np.concatenate([flat.real, flat.imag], axis=1).astype(np.float64)
        norm = np.sqrt(np.sum(x * x, axis=1))
        return x / np.where(norm > 0, norm, 1.0)[:, None], norm.astype(np.float32)

    def _gaussian_half_range(self, std: float) -> float:
        if not self.quantised:
            return 0.0
        step = gaussian_uniform_quantiser(self.measurement_bits)[0]
        return math.ldexp(step, self.measurement_bits - 1) * std

    def encode(self, h_ad: np.ndarray) -> dict[str, np.ndarray]:
        """UE side.

        Parameters
        ----------
        h_ad : [b, Na, Nt] complex
            Truncated angular-delay CSI.

        Returns
        -------
        dict
            ``scale [b]`` float32 (``||x||``) and ``q [b, M]``: the float32 bit patterns of
            ``y = A x / ||x||`` (uint32) or its quantiser cells (int64, ``0 .. 2^B - 1``).
        """
        x, norm = self.unit_vectors(h_ad)
        y = x @ self.matrix.T
        if not self.quantised:
            return {"scale": norm, "q": y.astype(np.float32).view(np.uint32)}
        r = self.half_range
        return {"scale": norm, "q": quantise_uniform(y, self.measurement_bits, -r, r)}

    # -- BS side --------------------------------------------------------------------------------
    def measurements(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Report -> the measurements the BS works with, ``[b, M]`` float64 (dequantised)."""
        q = report["q"]
        if not self.quantised:
            return np.ascontiguousarray(q, np.uint32).view(np.float32).astype(np.float64)
        r = self.half_range
        return dequantise_uniform(q, self.measurement_bits, -r, r).astype(np.float64)

    def recover(self, y: np.ndarray) -> np.ndarray:
        """BS solver: measurements ``y [b, M]`` -> ``x_hat [b, N]`` float64 (unit-norm scale)."""
        value = self.regularisation
        if value is None:
            raise RuntimeError(f"{self.name}: {self.REG_NAME} is not set: call fit(h_train) or "
                               f"pass {self.REG_NAME}=...")
        out = np.empty((y.shape[0], self.n), np.float64)
        with blas_threads(SOLVER_BLAS_THREADS):
            for s in range(0, y.shape[0], self.DECODE_CHUNK):
                out[s:s + self.DECODE_CHUNK] = next(
                    self._solve_path(y[s:s + self.DECODE_CHUNK], [value]))[1]
        return out

    def decode(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """BS side: report -> ``[b, Na, Nt]`` complex64."""
        x = self.recover(self.measurements(report)) * report["scale"].astype(np.float64)[:, None]
        h = x[:, :self.d] + 1j * x[:, self.d:]
        return h.astype(np.complex64).reshape(-1, *self.shape)

    @abstractmethod
    def _solve_path(self, y: np.ndarray, values: Sequence
                    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(i, x_hat [b, N])`` for each regularisation value ``values[i]``, in the order the
        solver takes them (it may warm-start one value from another)."""

    # -- bits -----------------------------------------------------------------------------------
    def report_bits(self, report: dict[str, np.ndarray]) -> np.ndarray:
        return np.full(report["scale"].shape[0], self.payload_bits, np.int64)

    def to_bits(self, report: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Scale (float32) then the ``M`` measurements, ``B`` bits each, most significant bit
        first (float32 bit patterns for ``B = 32``)."""
        return list(np.concatenate([float32_to_bits(report["scale"]),
                                    uint_to_bits(report["q"], self.measurement_bits)], axis=1))

    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        rd = _Reader(_stack(stream, self.name))
        scale = rd.float32()
        q = rd.uint(self.m, self.measurement_bits)
        if rd.pos != rd.bits.shape[1]:
            raise LinksimInputError(f"{self.name}: bitstream longer than the report layout")
        if not self.quantised:
            q = q.astype(np.uint32)
        return {"scale": scale, "q": q}

    # -- training -------------------------------------------------------------------------------
    def fit(self, h_train: np.ndarray) -> CompressiveSensing:
        """Fit on training CSI ``h_train [N_train, Na, Nt]`` complex.

        1. With quantised measurements: the half range ``r``, the Gaussian optimal one for the
           measured standard deviation of the first :attr:`RANGE_FIT_SAMPLES` samples'
           measurements times the factor of :attr:`LOADING_FACTORS` of least squared error.
        2. Unless the regularisation was given: the value of :meth:`default_grid` of least
           mean NMSE over the first ``fit_samples`` samples (:meth:`sweep`), found coarse to
           fine: every :attr:`SEARCH_STRIDE`-th grid value (and the last), then the neighbours
           of the best at half the stride, and so on down to stride 1 (it assumes the NMSE is
           unimodal at the coarse scale; ties go to the smaller grid index).
        """
        self.fit_quantiser(h_train)
        if self._regularisation_given:
            return self
        grid = self.default_grid()
        h_fit = h_train[:self.fit_samples]
        found: dict[int, float] = {}

        def evaluate(idx: list[int]) -> None:
            idx = sorted({i for i in idx if 0 <= i < len(grid) and i not in found})
            if idx:
                found.update(zip(idx, self.sweep(h_fit, [grid[i] for i in idx]), strict=True))

        stride = max(int(self.SEARCH_STRIDE), 1)
        evaluate(list(range(0, len(grid), stride)) + [len(grid) - 1])
        while stride > 1:
            stride //= 2
            best = min(found, key=lambda i: (found[i], i))
            evaluate([best - stride, best + stride])
        best = min(found, key=lambda i: (found[i], i))
        self.fit_nmse_db = {grid[i]: float(10 * np.log10(found[i])) for i in sorted(found)}
        self._set_regularisation(grid[best])
        return self

    def fit_quantiser(self, h_train: np.ndarray) -> CompressiveSensing:
        """Step 1 of :meth:`fit` alone: the measurement quantiser's half range (no-op with
        float32 measurements)."""
        _check_csi(h_train, self.shape, f"{self.name}: h_train")
        if h_train.shape[0] < 1:
            raise LinksimInputError(f"{self.name}: h_train holds no samples")
        if self.quantised:
            x, _ = self.unit_vectors(h_train[:self.RANGE_FIT_SAMPLES])
            y = x @ self.matrix.T
            base = self._gaussian_half_range(float(np.sqrt(np.mean(y * y))))
            errs = []
            for f in self.LOADING_FACTORS:
                r = f * base
                q = quantise_uniform(y, self.measurement_bits, -r, r)
                errs.append(np.sum((y - dequantise_uniform(q, self.measurement_bits, -r, r))
                                   ** 2))
            self.half_range = float(self.LOADING_FACTORS[int(np.argmin(errs))] * base)
        return self

    def sweep(self, h_ad: np.ndarray, values: Sequence | None = None) -> np.ndarray:
        """Mean NMSE of each regularisation value on ``h_ad [b, Na, Nt]``.

        The samples go through :meth:`encode` and :meth:`measurements` (quantisation included);
        the NMSE ``mean_b ||x - x_hat||^2 / ||x||^2`` is taken on the unit-norm vectors (the
        scale is common to both). Returns ``[len(values)]`` float64 (linear, not dB).
        """
        values = self.default_grid() if values is None else list(values)
        x, _ = self.unit_vectors(h_ad)
        keep = np.sum(x * x, axis=1) > 0
        x = x[keep]
        y = self.measurements(self.encode(h_ad[keep]))
        out = np.zeros(len(values))
        with blas_threads(SOLVER_BLAS_THREADS):
            for s in range(0, x.shape[0], self.SWEEP_CHUNK):
                sl = slice(s, s + self.SWEEP_CHUNK)
                for i, x_hat in self._solve_path(y[sl], values):
                    out[i] += nmse_unit(x[sl], x_hat).sum()
        return out / max(x.shape[0], 1)

    @property
    def _regularisation_given(self) -> bool:
        return self._given


# -- LASSO --------------------------------------------------------------------------------------
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
            self.alpha = _check_positive("lasso: alpha", alpha)
            if self.alpha >= 1:
                raise LinksimInputError(f"lasso: alpha must be below 1 (alpha = 1 gives the zero "
                                        f"solution), got {alpha!r}")
        self.iterations = _check_int("lasso: iterations", iterations, 1)
        self.path_iterations = _check_int("lasso: path_iterations", path_iterations, 1)
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


# -- total variation ------------------------------------------------------------------------------
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
        self.mu = None if mu is None else _check_positive("tv: mu", mu)
        self.iterations = _check_int("tv: iterations", iterations, 1)
        if coupling not in ("separate", "joint"):
            raise LinksimInputError(f"tv: coupling must be 'separate' or 'joint', "
                                    f"got {coupling!r}")
        self.coupling = coupling
        self.beta = _check_positive("tv: beta", beta)
        self.relaxation = _check_positive("tv: relaxation", relaxation)
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


# -- OMP ------------------------------------------------------------------------------------------
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
            self.sparsity = _check_int("omp: sparsity", sparsity, 1, self.m // self.width)
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


#: Scheme name -> class.
SCHEMES: dict[str, type[CompressiveSensing]] = {
    "lasso": Lasso, "tv": TotalVariation, "omp": OMP}


def for_payload(kind: str, bits: int, shape: tuple[int, int], seed: int = 0,
                **options) -> CompressiveSensing:
    """A CS baseline with the most measurements a payload holds.

    Parameters
    ----------
    kind : {"lasso", "tv", "omp"}
    bits : int
        Payload [bits]; ``M = (bits - 32) // measurement_bits``.
    shape : (Na, Nt)
        Truncated angular-delay shape.
    seed : int
        Seed of the measurement matrix.
    **options
        ``measurement_bits`` and the options of the class (e.g. ``alpha``, ``iterations``).

    Returns
    -------
    CompressiveSensing
        Not fitted: call ``.fit(h_train)`` (``h_train [N, Na, Nt]`` complex) unless the
        regularisation was given.
    """
    if kind not in SCHEMES:
        raise LinksimInputError(f"compressive: kind must be one of {sorted(SCHEMES)}, "
                                f"got {kind!r}")
    return SCHEMES[kind].for_payload(bits, shape, seed=seed, **options)
