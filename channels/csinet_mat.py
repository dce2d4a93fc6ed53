"""Read and write the classic CsiNet data files (``DATA_H*.mat``) in linksim's layout.

The CsiNet data set (COST 2100 indoor 5.3 GHz / outdoor 300 MHz, Nt = 32 ULA, 32 of 1024 delay
taps) is distributed as MATLAB files:

- ``DATA_Htrainin.mat``, ``DATA_Hvalin.mat``, ``DATA_Htestin.mat`` (``...out`` for outdoor):
  variable ``HT``, a real ``(N, 2048)`` matrix, one truncated angular-delay channel per row,
  scaled into [0, 1] around 0.5;
- ``DATA_HtestFin_all.mat`` / ``DATA_HtestFout_all.mat``: variable ``HF_all``, a complex
  ``(N, 4000)`` matrix, 32 x 125 frequency-domain values per row, used only for the cosine
  similarity ``rho``.

Layout of a row of ``HT`` (the decision this module rests on)
--------------------------------------------------------------
The CsiNet reference code reshapes each row in numpy C order to ``(2, 32, 32)`` channels-first,
channel 0 the real part and channel 1 the imaginary part (each minus 0.5), i.e. ``(2, H, W)``
with ``H`` the image height (rows) and ``W`` the width (columns). Which image axis is delay is
not stated anywhere, but the reference code's ``rho`` settles it: it zero-pads each 32 x 32
image to 32 x 257 along ``axis=2`` (the **width**), takes ``np.fft.fft`` along that axis, keeps
bins 0..124 and compares the result with ``HF_all`` reshaped to ``(N, 32, 125)``, summing the
inner product over ``axis=1`` (the **height**). A DFT along delay gives frequency, and the sum
over height is the per-subcarrier inner product over the array. So in the CsiNet files

    image[c, a, m]: c = real/imag, a = angle bin (rows, height), m = delay tap (columns, width),

which is the transpose of linksim's ``H_ad[m, a]`` (delay rows, angle columns). It is also what a
MATLAB generator produces when it builds the paper's ``Na x Nt`` matrix (delay rows) and
flattens it column-major (``H(:).'``): the delay index then runs fastest, as the C-order reshape
above reads it. (The network itself cannot tell: CsiNet's kernels are square, so a model trained
on either orientation works on data of that orientation.) :func:`read_csinet_mat` therefore
transposes each image to ``[Na = 32 delay rows, Nt = 32 angle columns]`` and
:func:`write_csinet_mat` transposes back.

Angle axis (an assumption, not knowable from the data)
------------------------------------------------------
linksim's angle bin ``a0`` holds an antenna phase progression ``exp(+j 2 pi n a0 / Nt)`` (an
``fft`` over the antennas; :mod:`linksim.phy.transforms`). No CsiNet generation script was
published, and the seeds write ``H' = F_c H F_t^H`` with ``H = [h_1 ... h_Nc]^H`` (rows
conjugated), so the CsiNet angle index may be ours or its mirror ``-a0 mod Nt`` (and the
whole matrix may be conjugated). We **assume the identity**: CsiNet angle index ``a`` is our
column ``a``. A mirror cannot be detected from the files; NMSE, ``rho``, the energy kept, the
delay spread, the sparsity and the angular spreads of :mod:`linksim.stats` are all invariant
under it, so it matters only when a bin is read as a physical direction.

Scaling
-------
``HT = 0.5 + H_ad / (2 s)`` for one scale ``s`` per data set (the CsiNet authors never
published theirs). :func:`read_csinet_mat` returns ``HT - 0.5 = H_ad / (2 s)``;
:func:`write_csinet_mat` returns the ``s`` it used, so ``2 s * read(write(H_ad)) == H_ad``.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from linksim.errors import DatasetError, LinksimInputError
from linksim.fsutil import atomic_path
from linksim.phy.transforms import Normalizer, complex_to_real

#: Delay taps and angle bins of the CsiNet data set.
CSINET_NA = 32
CSINET_NT = 32
#: ``HF_all``: 125 kept bins of a 257-point FFT over the 32 delay taps.
CSINET_HF_NFFT = 257
CSINET_HF_BINS = 125
#: Slack allowed on the [0, 1] range of ``HT`` (float rounding in files written elsewhere).
RANGE_TOL = 1e-6
_MAT73_USERBLOCK = 512
_H5_INTERNAL = ("#refs#", "#subsystem#")


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _h5_to_numpy(dset: h5py.Dataset) -> np.ndarray:
    """A MATLAB v7.3 variable as numpy in MATLAB's own shape.

    MATLAB is column-major and writes its ``(N, W)`` matrix as an HDF5 data set of shape
    ``(W, N)``; the transpose restores ``(N, W)``. Complex matrices are a compound type with
    fields ``real`` and ``imag``.
    """
    arr = dset[()]
    if arr.dtype.names is not None:
        if set(arr.dtype.names) != {"real", "imag"}:
            raise TypeError(f"compound type with fields {arr.dtype.names}")
        arr = arr["real"] + 1j * arr["imag"]
    return np.asarray(arr).T


def _load_variable(path: Path, key: str) -> np.ndarray:
    """One variable of a MATLAB v5 (scipy) or v7.3 (HDF5) file, in MATLAB's shape.

    Raises
    ------
    DatasetError
        Missing file, not a .mat file, or no variable ``key`` (the message lists those found).
    """
    if not path.is_file():
        raise DatasetError(f"{path}: CsiNet .mat file not found")
    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                names = sorted(k for k in f if k not in _H5_INTERNAL)
                if key not in names or not isinstance(f[key], h5py.Dataset):
                    raise DatasetError(f"{path}: no variable {key!r} in this MATLAB v7.3 file; "
                                       f"variables found: {names}")
                return _h5_to_numpy(f[key])
        except DatasetError:
            raise
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: unreadable MATLAB v7.3 (HDF5) file ({exc})") from exc
    try:
        found = scipy.io.whosmat(path)
    except Exception as exc:  # scipy raises ValueError, MatReadError, struct errors, ...
        raise DatasetError(f"{path}: not a MATLAB .mat file ({exc})") from exc
    names = sorted(name for name, _, _ in found)
    if key not in names:
        raise DatasetError(f"{path}: no variable {key!r}; variables found: {names}")
    try:
        return scipy.io.loadmat(path, variable_names=[key])[key]
    except Exception as exc:
        raise DatasetError(f"{path}: corrupt MATLAB .mat file ({exc})") from exc


def _check_matrix(path: Path, key: str, arr: np.ndarray, width: int, what: str) -> None:
    """Shape and finiteness checks shared by ``HT`` and ``HF_all``."""
    if arr.ndim != 2:
        raise DatasetError(f"{path}: variable {key!r} has shape {arr.shape}, expected a matrix "
                           f"(N, {width})")
    if not np.issubdtype(arr.dtype, np.number):
        raise DatasetError(f"{path}: variable {key!r} is not numeric (dtype {arr.dtype})")
    if arr.shape[1] != width:
        raise DatasetError(f"{path}: variable {key!r} has {arr.shape[1]} columns, expected "
                           f"{width} ({what})")
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise DatasetError(f"{path}: variable {key!r} holds {bad} NaN or infinite values")


def read_csinet_mat(path: str | os.PathLike, key: str = "HT", num_delay: int = CSINET_NA,
                    num_angle: int = CSINET_NT) -> np.ndarray:
    """Read a CsiNet angular-delay file (``DATA_Htrain*.mat`` etc.) into linksim's layout.

    Parameters
    ----------
    path : path-like
        MATLAB v5 file (``scipy.io.loadmat``) or MATLAB v7.3 / HDF5 file (``h5py``; v7.3
        stores the matrix transposed, undone here).
    key : str
        Variable name, ``"HT"`` in the published files.
    num_delay, num_angle : int
        ``Na`` delay taps and ``Nt`` angle bins per image (32 x 32 in CsiNet).

    Returns
    -------
    h_ad : [N, Na, Nt] complex64
        ``(HT_real - 0.5) + j (HT_imag - 0.5)``, delay rows and angle columns (the CsiNet image
        transposed, see the module docstring). Equals ``H_ad / (2 s)`` for the file's unknown
        scale ``s``; NMSE and ``rho`` do not depend on it.

    Raises
    ------
    DatasetError
        Naming the file: missing, not a .mat file, no variable ``key`` (lists those found),
        not ``2 Na Nt`` columns, NaN/inf, complex values, or values outside [0, 1].
    """
    path = Path(path)
    arr = _load_variable(path, key)
    width = 2 * num_delay * num_angle
    _check_matrix(path, key, arr, width, f"2 x {num_angle} x {num_delay} real/imag "
                  "angular-delay values per sample")
    if np.iscomplexobj(arr):
        raise DatasetError(f"{path}: variable {key!r} is complex; a CsiNet {key} matrix holds "
                           "real and imaginary parts as separate real columns")
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if lo < -RANGE_TOL or hi > 1.0 + RANGE_TOL:
        raise DatasetError(f"{path}: variable {key!r} spans [{lo:.4g}, {hi:.4g}]; CsiNet data "
                           "lies in [0, 1] around 0.5 (was the 0.5 offset already removed?)")
    img = arr.reshape(arr.shape[0], 2, num_angle, num_delay)  # C order, as CsiNet reads it
    h = np.empty((arr.shape[0], num_delay, num_angle), dtype=np.complex64)
    h.real = img[:, 0].transpose(0, 2, 1) - np.float32(0.5)
    h.imag = img[:, 1].transpose(0, 2, 1) - np.float32(0.5)
    return h


def read_csinet_hf(path: str | os.PathLike, key: str = "HF_all", num_angle: int = CSINET_NT,
                   num_bins: int = CSINET_HF_BINS) -> np.ndarray:
    """Read the CsiNet frequency-domain test file (``DATA_HtestF*_all.mat``).

    Layout: the CsiNet reference reshapes each complex row of 4000 values in C order to
    ``(32, 125)`` and compares it with ``np.fft.fft`` of its decoded images along the delay
    axis, zero-padded to 257 points, bins 0..124, summing over the 32-axis. Hence (and this is
    what :func:`csinet_frequency_response` reproduces from linksim's layout)::

        HF[n, a, i] ~ sum_m H_ad[n, m, a] exp(-j 2 pi m i / 257),   i = 0..124,

    up to a scale: axis 1 is the **angle** bin ``a`` (the same index as the columns returned by
    :func:`read_csinet_mat`; the antennas are not transformed back, which ``rho`` does not
    notice), axis 2 the frequency bin ``i``. Bin ``i`` sits at the fractional subcarrier
    ``i * 1024 / 257 ~ 3.98 i`` of the 1024-subcarrier grid (our sign convention, a path in
    delay row ``m`` has response ``exp(-j 2 pi m k / Nc)``), so the 125 bins sample subcarriers
    0 to ~494 of 1024, every ~4th.

    Parameters
    ----------
    path : path-like
        MATLAB v5 or v7.3 file.
    key : str
        Variable name, ``"HF_all"`` in the published files.
    num_angle, num_bins : int
        32 angle bins x 125 frequency bins per row.

    Returns
    -------
    hf : [N, 32, 125] complex64
        ``[sample, angle bin, frequency bin]``.

    Raises
    ------
    DatasetError
        Missing file, not a .mat, missing key, wrong width, NaN/inf, or real-valued data.
    """
    path = Path(path)
    arr = _load_variable(path, key)
    _check_matrix(path, key, arr, num_angle * num_bins,
                  f"{num_angle} x {num_bins} complex frequency-domain values per sample")
    if not np.iscomplexobj(arr):
        raise DatasetError(f"{path}: variable {key!r} is real; {key} holds complex "
                           "frequency-domain channels")
    return arr.reshape(arr.shape[0], num_angle, num_bins).astype(np.complex64)


# --------------------------------------------------------------------------------------------
# CsiNet's rho on its own frequency grid
# --------------------------------------------------------------------------------------------

def csinet_frequency_response(h_ad: np.ndarray, nfft: int = CSINET_HF_NFFT,
                              num_bins: int = CSINET_HF_BINS) -> np.ndarray:
    """What the CsiNet reference computes from a decoded image before ``rho``.

    Parameters
    ----------
    h_ad : [N, Na, Nt] complex
        Truncated angular-delay channels in linksim's layout (delay rows, angle columns).
    nfft, num_bins : int
        Zero-padded FFT length over the ``Na`` delay taps and the bins kept (257 and 125).

    Returns
    -------
    hf : [N, Nt, num_bins] complex64
        ``hf[n, a, i] = sum_m h_ad[n, m, a] exp(-j 2 pi m i / nfft)``, the layout of
        :func:`read_csinet_hf`.
    """
    hf = np.fft.fft(np.swapaxes(h_ad, -1, -2), n=nfft, axis=-1)[..., :num_bins]
    return hf.astype(np.complex64)


def csinet_rho(hf: np.ndarray, hf_hat: np.ndarray) -> np.ndarray:
    """CsiNet's cosine similarity per sample.

    Parameters
    ----------
    hf, hf_hat : [N, Nt, K] complex
        True and reconstructed channels as ``[sample, angle (or antenna), frequency bin]``.

    Returns
    -------
    rho : [N] float64
        ``mean_k |hf_k^H hf_hat_k| / (||hf_k|| ||hf_hat_k||)``, the vectors taken over axis 1;
        in [0, 1], invariant to a scale and to a unitary transform of axis 1.
    """
    hf = hf.astype(np.complex128)
    hf_hat = hf_hat.astype(np.complex128)
    inner = np.abs(np.sum(np.conj(hf) * hf_hat, axis=1))
    norms = np.sqrt(np.sum(np.abs(hf) ** 2, axis=1) * np.sum(np.abs(hf_hat) ** 2, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.mean(inner / norms, axis=1)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _mat73_header() -> bytes:
    """The 128-byte MATLAB header placed in the HDF5 user block of a v7.3 file."""
    text = (f"MATLAB 7.3 MAT-file, Platform: linksim, Created on: "
            f"{time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime())} HDF5 schema 1.00 .")
    return text.encode("ascii").ljust(116, b" ")[:116] + b"\0" * 8 + struct.pack("<H", 0x0200) \
        + b"IM"


def _write_v73(tmp: Path, key: str, rows: np.ndarray) -> None:
    """MATLAB v7.3: HDF5 with a 512-byte user block, the matrix stored transposed."""
    with h5py.File(tmp, "w", userblock_size=_MAT73_USERBLOCK) as f:
        dset = f.create_dataset(key, data=np.ascontiguousarray(rows.T))
        dset.attrs["MATLAB_class"] = np.bytes_("single")
    with open(tmp, "r+b") as fh:
        fh.write(_mat73_header())


def write_csinet_mat(path: str | os.PathLike, h_ad: np.ndarray, key: str = "HT",
                     scale: float | None = None, mat_version: str = "5") -> float:
    """Export truncated angular-delay channels as a CsiNet ``HT`` file, atomically.

    Each sample becomes one float32 row of ``2 Na Nt`` values: the channels-first image
    ``(real, imag) x (Nt angle rows) x (Na delay columns)`` flattened in C order (the layout
    :func:`read_csinet_mat` reads, see the module docstring), each value ``0.5 + x / (2 s)``.

    Parameters
    ----------
    path : path-like
        Output file (written to a temporary file in the same folder, then renamed).
    h_ad : [N, Na, Nt] complex
        Truncated angular-delay channels, linksim layout (delay rows, angle columns).
    key : str
        Variable name.
    scale : float, optional
        ``s``. Default: the largest absolute real or imaginary part over the whole set
        (CsiNet's rule, :class:`linksim.phy.transforms.Normalizer` ``"max"``), so the file spans
        [0, 1]. A given scale must keep every value inside [0, 1].
    mat_version : {"5", "7.3"}
        MATLAB v5 (``scipy.io.savemat``; variables up to 2 GiB) or v7.3 (HDF5, any size).

    Returns
    -------
    scale : float
        The ``s`` used. ``read_csinet_mat(path) == h_ad / (2 s)`` to float32 precision
        (real and imaginary parts each within 6e-8), so ``2 s * read_csinet_mat(path)`` recovers ``h_ad``.

    Raises
    ------
    LinksimInputError
        Wrong shape, non-finite data, a non-positive scale, or a scale that would put values
        outside [0, 1].
    """
    path = Path(path)
    h_ad = np.asarray(h_ad)
    if h_ad.ndim != 3:
        raise LinksimInputError(f"{path}: expected angular-delay channels [N, Na, Nt], got "
                                f"shape {h_ad.shape}")
    if not np.all(np.isfinite(h_ad)):
        raise LinksimInputError(f"{path}: channels to export hold NaN or infinite values")
    if mat_version not in ("5", "7.3"):
        raise LinksimInputError(f"{path}: mat_version must be '5' or '7.3', got {mat_version!r}")
    x = complex_to_real(h_ad)  # [N, Na, Nt, 2]
    if scale is None:
        scale = Normalizer.fit(x, "max").scale
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise LinksimInputError(f"{path}: scale must be a positive number, got {scale}")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > scale * (1.0 + 1e-6):
        raise LinksimInputError(f"{path}: scale {scale:.4g} is below the largest entry "
                                f"{peak:.4g}; values would fall outside [0, 1]")
    # Normalizer.forward's map, evaluated in float64 and rounded once to float32.
    xn = np.clip(0.5 + x.astype(np.float64) / (2.0 * scale), 0.0, 1.0)
    rows = xn.transpose(0, 3, 2, 1).astype(np.float32).reshape(x.shape[0], -1)

    with atomic_path(path) as tmp:
        if mat_version == "5":
            with open(tmp, "wb") as fh:
                scipy.io.savemat(fh, {key: rows}, format="5", do_compression=False)
        else:
            _write_v73(tmp, key, rows)
    return scale
