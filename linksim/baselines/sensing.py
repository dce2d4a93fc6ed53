"""Compressive sensing, the part the three recoveries share: random Gaussian measurements at
the UE, their report and bits, and the regularisation search (:class:`CompressiveSensing`).

Measurement model, common to the three schemes. The truncated angular-delay CSI
``h_ad [b, Na, Nt]`` (complex, :mod:`linksim.phy.transforms`) is split into the real vector

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

The recoveries are :mod:`linksim.baselines.lasso`, :mod:`linksim.baselines.tv` and
:mod:`linksim.baselines.omp`; :func:`linksim.baselines.compressive.for_payload` builds them.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from linksim.baselines.base import SCALE_BITS, Baseline, check_csi
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


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if not _is_int(value) or value < lo or (hi is not None and value > hi):
        span = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise LinksimInputError(f"{name} must be an integer {span}, got {value!r}")
    return int(value)


def check_positive(name: str, value) -> float:
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
    return (check_int(f"{name}: shape[0] (Na)", na, 1), check_int(f"{name}: shape[1] (Nt)",
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
        self.m = check_int(f"{self.name}: num_measurements", num_measurements, 1, self.n)
        self.measurement_bits = _check_measurement_bits(self.name, measurement_bits)
        self.seed = check_int(f"{self.name}: seed", seed, 0)
        self.fit_samples = check_int(f"{self.name}: fit_samples", fit_samples, 1)
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
        bits = check_int(f"{cls.name}: payload bits", bits, 1)
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
        check_csi(h_ad, self.shape, self.name)
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
        rd = BitReader(stack_streams(stream, self.name))
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
        check_csi(h_train, self.shape, f"{self.name}: h_train")
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
