"""Channel data set files: the two kinds of data set, their HDF5 layout, checksums, reading and
writing. The cache and the generation are :mod:`linksim.channels.dataset`.

A generated UMa data set is stored compactly as its channel impulse response
(:class:`CirDataset`: path coefficients per BS antenna and path delays); the frequency response
``H[b, Nc, Nt]`` (``H[b, Nc, Nr, Nt]`` for a UE with ``Nr > 1`` antennas) is rebuilt batch by
batch on demand (:meth:`CirDataset.channels`), so a test set of thousands of 1024 x 32 channels
never has to sit in memory whole.

Families whose generator produces the truncated angular-delay channel directly (COST 2100, the
CsiNet ``.mat`` files) are stored as :class:`AdDataset`: ``h_ad [N, Na, Nt]`` plus the fraction
of energy the truncation kept; for them the truncated channel *is* the channel (its
space-frequency response is rebuilt from the kept rows), as in the CsiNet data.
:func:`read_dataset` reads either kind, dispatching on the ``format`` attribute.

Files are written to a temporary file and renamed (:func:`linksim.fsutil.atomic_path`), so an
interrupted write never leaves a file that looks complete; each array's content checksum is
written last and checked on reading. A file that is not a linksim data set, or is corrupt,
raises :class:`linksim.errors.DatasetError` naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import h5py
import numpy as np

from linksim.errors import DatasetError
from linksim.fsutil import atomic_path

FORMAT = "linksim-cir"
FORMAT_VERSION = 1
AD_FORMAT = "linksim-ad"
AD_FORMAT_VERSION = 1


class _ChannelBatches:
    """Batch iteration and file handling shared by the data set kinds (each defines ``__len__``
    and ``channels``).

    A data set read with ``lazy=True`` keeps its per-sample arrays on disk (``h5py`` datasets,
    sliced on access) and its file open: close it with :meth:`close` or use it as a context
    manager (it is also closed when the object is garbage-collected).
    """

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Iterate over the data set in batches of ``[<=batch_size, Nc, Nt]`` channels
        (``[<=batch_size, Nc, Nr, Nt]`` for a multi-antenna UE's CIRs)."""
        for start in range(0, len(self), batch_size):
            yield self.channels(start, start + batch_size)

    @property
    def lazy(self) -> bool:
        """Whether the per-sample arrays stay on disk (read by slice)."""
        return self._file is not None

    def close(self) -> None:
        """Close the file of a lazy data set (no-op for an in-memory one)."""
        if self._file is not None:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class CirDataset(_ChannelBatches):
    """Channels stored as impulse responses.

    Attributes
    ----------
    a : [N, Nt, P] or [N, Nr, Nt, P] complex64
        Path coefficients per BS antenna (port), ``[N, Nt, P]`` for a single-antenna UE and
        ``[N, Nr, Nt, P]`` for ``Nr > 1`` UE antennas; an ``h5py.Dataset`` when read with
        ``lazy=True``.
    tau : [N, P] float32
        Path delays [s] (on disk too when lazy).
    frequencies_hz : [Nc] float64
        Baseband subcarrier frequencies.
    meta : dict
        Generator, config, seed, split, notes.
    """

    a: np.ndarray
    tau: np.ndarray
    frequencies_hz: np.ndarray
    meta: dict = field(default_factory=dict)
    _file: h5py.File | None = field(default=None, repr=False, compare=False)
    #: The file format and version of this kind.
    format: ClassVar[str] = FORMAT
    format_version: ClassVar[int] = FORMAT_VERSION

    @classmethod
    def from_arrays(cls, arrays: dict, attrs: dict, meta: dict) -> CirDataset:
        """The data set of a file's arrays (``a``, ``tau``, ``frequencies_hz``) and meta."""
        return cls(arrays["a"], arrays["tau"], arrays["frequencies_hz"], meta)

    def __len__(self) -> int:
        return self.a.shape[0]

    @property
    def num_subcarriers(self) -> int:
        return self.frequencies_hz.shape[0]

    @property
    def num_antennas(self) -> int:
        """BS antennas (ports) ``Nt``."""
        return self.a.shape[-2]

    @property
    def num_ue_antennas(self) -> int:
        """UE antennas ``Nr`` (1: the channels are ``[b, Nc, Nt]``, else ``[b, Nc, Nr, Nt]``)."""
        return self.a.shape[1] if self.a.ndim == 4 else 1

    @property
    def num_snapshots(self) -> int:
        """Snapshots per drop ``T`` (1 unless the data set holds time series)."""
        return int(self.meta.get("num_snapshots", 1))

    @property
    def drop(self) -> np.ndarray:
        """[N] int64: drop (UE track) of each sample; sample ``i`` is snapshot ``i % T`` of
        drop ``i // T``, so ``ds.a[d * T:(d + 1) * T]`` is the series of drop ``d``."""
        return np.arange(len(self), dtype=np.int64) // self.num_snapshots

    @property
    def time_s(self) -> np.ndarray:
        """[N] float64: time of each sample within its drop's series [s] (0 for the first)."""
        dt = float(self.meta.get("snapshot_interval_s", 0.0))
        return (np.arange(len(self), dtype=np.int64) % self.num_snapshots) * dt

    def channels(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frequency response of samples ``start:stop``: ``[b, Nc, Nt]`` complex64, or
        ``[b, Nc, Nr, Nt]`` for a multi-antenna UE (``H_k = conj(h[:, k])``,
        :mod:`linksim.phy.eigen`)."""
        from linksim.channels.cir import frequency_response

        sl = slice(start, stop)
        return frequency_response(self.a[sl], self.tau[sl], self.frequencies_hz)


@dataclass
class AdDataset(_ChannelBatches):
    """Channels stored as their truncated angular-delay matrices.

    For these families the truncated channel is the channel: :meth:`channels` rebuilds the
    space-frequency response from the kept rows, exactly (the energy the generator lost to the
    truncation is ``energy_kept``, recorded, not simulated).

    Attributes
    ----------
    h_ad : [N, Na, Nt] complex64
        Delay rows x angle bins (linksim layout, :mod:`linksim.phy.transforms`); an
        ``h5py.Dataset`` when read with ``lazy=True``.
    energy_kept : [N] float32
        Energy in the kept rows / energy over all ``Nc`` rows (NaN where unknown, e.g. CsiNet
        files); always in memory (4 bytes per sample).
    num_subcarriers : int
        ``Nc`` of the rebuilt space-frequency channel.
    meta : dict
        Generator, config, seed, split, notes.
    """

    h_ad: np.ndarray
    energy_kept: np.ndarray
    num_subcarriers: int
    meta: dict = field(default_factory=dict)
    _file: h5py.File | None = field(default=None, repr=False, compare=False)
    #: The file format and version of this kind.
    format: ClassVar[str] = AD_FORMAT
    format_version: ClassVar[int] = AD_FORMAT_VERSION

    @classmethod
    def from_arrays(cls, arrays: dict, attrs: dict, meta: dict) -> AdDataset:
        """The data set of a file's arrays (``h_ad``, ``energy_kept``), its
        ``num_subcarriers`` attribute and meta."""
        return cls(arrays["h_ad"], arrays["energy_kept"], attrs["num_subcarriers"], meta)

    def __len__(self) -> int:
        return self.h_ad.shape[0]

    @property
    def num_antennas(self) -> int:
        return self.h_ad.shape[2]

    @property
    def num_delay_rows(self) -> int:
        return self.h_ad.shape[1]

    def channels(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Space-frequency channels of samples ``start:stop``: ``[b, Nc, Nt]`` complex64."""
        from linksim.phy.transforms import rebuild_space_frequency

        return rebuild_space_frequency(self.h_ad[start:stop], self.num_subcarriers)


@contextlib.contextmanager
def h5_for_writing(path: Path) -> Iterator[h5py.File]:
    """An HDF5 file open for writing under a temporary name in ``path``'s directory, renamed to
    ``path`` when the block exits normally and deleted if it raises (or is interrupted)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        yield f


def write_header(f: h5py.File, fmt: str, version: int, attrs: dict) -> None:
    """The format, version and extra attributes of a data set file (``meta`` comes apart)."""
    f.attrs["format"] = fmt
    f.attrs["format_version"] = version
    for k, v in attrs.items():
        f.attrs[k] = v


def create_array(f: h5py.File, name: str, **kwargs) -> h5py.Dataset:
    """One array of a data set file, chunked if it has two or more dimensions
    (``h5py.File.create_dataset`` keyword arguments: ``data``, or ``shape`` and ``dtype``)."""
    ndim = np.ndim(kwargs["data"]) if "data" in kwargs else len(kwargs["shape"])
    return f.create_dataset(name, chunks=True if ndim >= 2 else None, **kwargs)


def write_meta(f: h5py.File, meta: dict) -> None:
    """The meta dict of a data set file, as sorted JSON in the ``meta`` attribute."""
    f.attrs["meta"] = json.dumps(meta, sort_keys=True, default=str)


#: Rows per read when a checksum is computed over an array on disk.
_CHECK_ROWS = 4096


def new_digest() -> hashlib._Hash:
    """The content checksum of a data set array: BLAKE2b-128 of its C-order bytes."""
    return hashlib.blake2b(digest_size=16)


def update_digest(h, arr: np.ndarray) -> None:
    """Add an array (or a block of its rows, in order) to a checksum of :func:`new_digest`."""
    h.update(np.ascontiguousarray(arr).data)


def write_checksums(f: h5py.File, digests: dict[str, str]) -> None:
    """The arrays' content checksums, written last, inside the atomic write."""
    f.attrs["checksums"] = json.dumps(digests, sort_keys=True)


def _verify_checksums(path: Path, f: h5py.File, arrays: dict) -> None:
    """Check every array (numpy, or an ``h5py.Dataset`` read block by block) against the
    checksum stored when the file was written. Files written before checksums existed carry
    none and are not checked.

    Raises
    ------
    DatasetError
        The checksums attribute is unreadable or an array's content differs (the file was
        changed or damaged after it was written).
    """
    raw = f.attrs.get("checksums")
    if raw is None:
        return
    try:
        stored = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: corrupt data set (unreadable checksums: {exc})") from exc
    for name, arr in arrays.items():
        if name not in stored:
            continue
        h = new_digest()
        if isinstance(arr, h5py.Dataset) and arr.ndim:
            for i in range(0, arr.shape[0], _CHECK_ROWS):
                update_digest(h, arr[i:i + _CHECK_ROWS])
        else:
            update_digest(h, np.asarray(arr))
        if h.hexdigest() != stored[name]:
            raise DatasetError(f"{path}: corrupt data set (the content of {name!r} does not "
                               "match the checksum written with it)")


def _write_h5(path: Path, fmt: str, version: int, meta: dict, arrays: dict[str, np.ndarray],
              attrs: dict | None = None) -> None:
    """Write named arrays (chunked if ``ndim >= 2``) and attributes atomically."""
    with h5_for_writing(path) as f:
        write_header(f, fmt, version, attrs or {})
        write_meta(f, meta)
        digests = {}
        for name, arr in arrays.items():
            create_array(f, name, data=arr)
            h = new_digest()
            update_digest(h, np.asarray(arr))
            digests[name] = h.hexdigest()
        write_checksums(f, digests)


def _open_h5(path: Path, fmt: str, version: int) -> h5py.File:
    """Open a data set file for reading after checking its format and version.

    :class:`DatasetError` naming the file if it is missing, unreadable or not ``fmt``.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: data set file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: corrupt or unreadable data set ({exc})") from exc
    try:
        if f.attrs.get("format") != fmt:
            raise DatasetError(f"{path}: not a linksim channel data set (format "
                               f"attribute {f.attrs.get('format')!r}, expected {fmt!r})")
        if int(f.attrs.get("format_version", -1)) != version:
            raise DatasetError(f"{path}: unsupported data set version "
                               f"{f.attrs.get('format_version')}")
    except (OSError, KeyError, ValueError, TypeError) as exc:
        f.close()
        raise DatasetError(f"{path}: corrupt or unreadable data set ({exc})") from exc
    except BaseException:
        f.close()
        raise
    return f


def _read_h5(path: Path, fmt: str, version: int, names: tuple[str, ...],
             attrs: tuple[str, ...] = (), lazy: tuple[str, ...] = ()
             ) -> tuple[dict, dict, dict, h5py.File | None]:
    """Read named arrays, the meta dict and attributes; :class:`DatasetError` if not ``fmt``.

    Arrays named in ``lazy`` are returned as ``h5py.Dataset`` objects of the still-open file
    (returned last; ``None`` when nothing is lazy), the others as numpy arrays.
    """
    path = Path(path)
    f = _open_h5(path, fmt, version)
    try:
        arrays = {n: f[n] if n in lazy else f[n][...] for n in names}
        extra = {a: f.attrs[a] for a in attrs}
        meta = json.loads(f.attrs["meta"])
        _verify_checksums(path, f, arrays)
    except DatasetError:
        f.close()
        raise
    except (OSError, KeyError, ValueError) as exc:
        f.close()
        raise DatasetError(f"{path}: corrupt or unreadable data set ({exc})") from exc
    except BaseException:
        f.close()
        raise
    if not lazy:
        f.close()
        return arrays, meta, extra, None
    return arrays, meta, extra, f


def _lazy_handle(ds, f: h5py.File | None):
    """Attach the open file ``f`` to ``ds`` (closed with it or when it is collected)."""
    if f is not None:
        ds._file = f
        weakref.finalize(ds, f.close)
    return ds


def file_format(path: Path) -> str:
    """The ``format`` attribute of an HDF5 data set file; :class:`DatasetError` if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: data set file not found")
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except OSError as exc:
        raise DatasetError(f"{path}: corrupt or unreadable data set ({exc})") from exc
    if fmt not in (FORMAT, AD_FORMAT):
        raise DatasetError(f"{path}: not a linksim channel data set (format attribute {fmt!r})")
    return str(fmt)


def write_cir(path: Path, ds: CirDataset) -> None:
    """Write a :class:`CirDataset` to HDF5 atomically (temporary file, then rename)."""
    _write_h5(path, FORMAT, FORMAT_VERSION, ds.meta,
              {"a": ds.a, "tau": ds.tau, "frequencies_hz": ds.frequencies_hz})


def read_cir(path: Path, lazy: bool = False) -> CirDataset:
    """Read a data set written by :func:`write_cir`; :class:`DatasetError` if it is not one.

    With ``lazy``, ``a`` and ``tau`` stay on disk (see :class:`_ChannelBatches`).
    """
    arr, meta, _, f = _read_h5(path, FORMAT, FORMAT_VERSION, ("a", "tau", "frequencies_hz"),
                               lazy=("a", "tau") if lazy else ())
    a, tau, freqs = arr["a"], arr["tau"], arr["frequencies_hz"]
    if a.ndim not in (3, 4) or tau.shape != (a.shape[0], a.shape[-1]) or freqs.ndim != 1:
        if f is not None:
            f.close()
        raise DatasetError(f"{path}: inconsistent array shapes a{a.shape} tau{tau.shape}")
    return _lazy_handle(CirDataset(a, tau, freqs, meta), f)


def write_ad(path: Path, ds: AdDataset) -> None:
    """Write an :class:`AdDataset` to HDF5 atomically (chunked, so it reads in batches)."""
    _write_h5(path, AD_FORMAT, AD_FORMAT_VERSION, ds.meta,
              {"h_ad": np.asarray(ds.h_ad, np.complex64),
               "energy_kept": np.asarray(ds.energy_kept, np.float32)},
              {"num_subcarriers": int(ds.num_subcarriers)})


def read_ad(path: Path, lazy: bool = False) -> AdDataset:
    """Read a data set written by :func:`write_ad`; :class:`DatasetError` if it is not one.

    With ``lazy``, ``h_ad`` stays on disk (see :class:`_ChannelBatches`).
    """
    arr, meta, attrs, f = _read_h5(path, AD_FORMAT, AD_FORMAT_VERSION, ("h_ad", "energy_kept"),
                                   ("num_subcarriers",), lazy=("h_ad",) if lazy else ())
    h_ad, e = arr["h_ad"], arr["energy_kept"]
    nc = int(attrs["num_subcarriers"])
    if (h_ad.ndim != 3 or h_ad.dtype.kind != "c" or e.shape != (h_ad.shape[0],)
            or not h_ad.shape[1] <= nc):
        if f is not None:
            f.close()
        raise DatasetError(f"{path}: inconsistent array shapes h_ad{h_ad.shape} "
                           f"energy_kept{e.shape} (Nc={nc})")
    if f is None:
        h_ad = h_ad.astype(np.complex64, copy=False)
    return _lazy_handle(AdDataset(h_ad, e, nc, meta), f)


def describe_file(path: Path) -> dict:
    """Family, split, n and Nt of a data set file without reading its arrays.

    Unreadable or foreign files are described as family ``"?"`` (with the reason in ``error``).
    """
    try:
        fmt = file_format(path)
        with h5py.File(path, "r") as f:
            meta = json.loads(f.attrs["meta"])
            shape = f["h_ad" if fmt == AD_FORMAT else "a"].shape
    except (DatasetError, OSError, KeyError, ValueError) as exc:
        return {"family": "?", "split": "?", "n": "?", "nt": "?", "error": str(exc)}
    nt = shape[2] if fmt == AD_FORMAT else shape[-2]
    return {"family": str(meta.get("config", {}).get("family", "?")),
            "split": str(meta.get("split", "?")), "n": int(shape[0]), "nt": int(nt),
            "format": fmt}


def read_dataset(path: Path, lazy: bool = False) -> CirDataset | AdDataset:
    """Read either kind of linksim data set file, by its ``format`` attribute.

    ``lazy=True`` keeps the per-sample arrays on disk (``h5py`` datasets, read by slice, e.g.
    by :meth:`~AdDataset.channels`) and the file open until :meth:`~_ChannelBatches.close`
    (or the end of a ``with`` block); the small per-sample ``energy_kept`` and the subcarrier
    frequencies are read. The same :class:`DatasetError` as an eager read for bad files.
    """
    reader = read_ad if file_format(path) == AD_FORMAT else read_cir
    return reader(path, lazy=lazy)

