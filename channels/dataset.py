"""Channel data sets and their on-disk cache.

A generated data set is stored compactly as its channel impulse response (path coefficients per
BS antenna and path delays) in HDF5; the frequency response ``H[b, Nc, Nt]`` is rebuilt batch by
batch on demand (:meth:`CirDataset.channels`), so a test set of thousands of 1024 x 32 channels
never has to sit in memory whole.

Cache files are named by a hash of (generator config, split, size, seed, format version); they
are written to a temporary file and renamed, so an interrupted generation never leaves a file
that looks complete. A file that is not a linksim data set, or is corrupt, raises
:class:`linksim.errors.DatasetError` naming it.

Families whose generator produces the truncated angular-delay channel directly (COST 2100, the
CsiNet ``.mat`` files) are stored as :class:`AdDataset`: ``h_ad [N, Na, Nt]`` plus the fraction
of energy the truncation kept; for them the truncated channel *is* the channel (its
space-frequency response is rebuilt from the kept rows), as in the CsiNet data.
:func:`read_dataset` reads either kind, dispatching on the ``format`` attribute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import filelock
import h5py
import numpy as np

from linksim.errors import DatasetError
from linksim.fsutil import as_if_created_normally

FORMAT = "linksim-cir"
FORMAT_VERSION = 1
AD_FORMAT = "linksim-ad"
AD_FORMAT_VERSION = 1
#: Worker processes for the COST 2100 generator (the result does not depend on it), used from
#: ``COST2100_POOL_MIN`` samples up (a process pool costs seconds to start).
COST2100_WORKERS = 2
COST2100_POOL_MIN = 1024
#: Samples drawn per Sionna call. Sionna draws a whole batch at once, so a sample depends on the
#: batch it was drawn in: the batch size is part of the cache key.
GENERATION_BATCH = 1000
#: Samples per COST 2100 generation task (a multiple of ``linksim.channels.cost2100.RNG_BLOCK``; no effect
#: on the samples): the unit written to disk, and at most ``2 * COST2100_WORKERS`` tasks are in
#: flight, so streamed generation holds O(task) samples, not O(n).
COST2100_TASK = 256


def default_cache_dir() -> Path:
    """``$LINKSIM_CACHE`` if set, else ``~/.cache/linksim``."""
    env = os.environ.get("LINKSIM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "linksim"


class _ChannelBatches:
    """Batch iteration and file handling shared by the data set kinds (each defines ``__len__``
    and ``channels``).

    A data set read with ``lazy=True`` keeps its per-sample arrays on disk (``h5py`` datasets,
    sliced on access) and its file open: close it with :meth:`close` or use it as a context
    manager (it is also closed when the object is garbage-collected).
    """

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Iterate over the data set in batches of ``[<=batch_size, Nc, Nt]`` channels."""
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
    a : [N, Nt, P] complex64
        Path coefficients per BS antenna (single-antenna UE); an ``h5py.Dataset`` when read
        with ``lazy=True``.
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

    def __len__(self) -> int:
        return self.a.shape[0]

    @property
    def num_subcarriers(self) -> int:
        return self.frequencies_hz.shape[0]

    @property
    def num_antennas(self) -> int:
        return self.a.shape[1]

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
        """Frequency response of samples ``start:stop``: ``[b, Nc, Nt]`` complex64."""
        from linksim.channels.uma import frequency_response

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
        Delay rows x angle bins (linksim layout, :mod:`linksim.transforms`); an
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
        from linksim.transforms import rebuild_space_frequency

        return rebuild_space_frequency(self.h_ad[start:stop], self.num_subcarriers)


def load_csinet_split(path: Path, key: str = "HT", num_subcarriers: int = 1024,
                      split: str = "") -> AdDataset:
    """A CsiNet ``.mat`` file as an :class:`AdDataset` (energy kept unknown: NaN)."""
    from linksim.channels.csinet_mat import read_csinet_mat

    h_ad = read_csinet_mat(path, key=key)
    if h_ad.shape[1] > num_subcarriers:
        raise DatasetError(f"{path}: Na={h_ad.shape[1]} delay rows exceed Nc={num_subcarriers}")
    meta = {"generator": "csinet-mat", "file": str(path), "key": key, "split": split,
            "n": int(h_ad.shape[0]),
            "notes": [("CsiNet angular-delay file: the truncated channel is the channel; scale "
                      "unknown (NMSE does not depend on it)")]}
    return AdDataset(h_ad, np.full(h_ad.shape[0], np.nan, np.float32), num_subcarriers, meta)


def cache_key(generator_config: dict, split: str, n: int, seed: int) -> str:
    """Stable hash of everything that determines a generated split (including the generator's
    own version where it has one, so that a changed generator does not reuse stale files)."""
    key = {"config": generator_config, "split": split, "n": n, "seed": seed,
           "format": FORMAT, "version": FORMAT_VERSION, "generation_batch": GENERATION_BATCH}
    if generator_config.get("family") == "cost2100":
        from linksim.channels.cost2100 import GENERATOR_VERSION

        key["generator_version"] = GENERATOR_VERSION
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _atomic_h5(path: Path) -> Iterator[h5py.File]:
    """An HDF5 file open for writing under a temporary name in ``path``'s directory, renamed to
    ``path`` when the block exits normally and deleted if it raises (or is interrupted)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        as_if_created_normally(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_header(f: h5py.File, fmt: str, version: int, attrs: dict) -> None:
    """The format, version and extra attributes of a data set file (``meta`` comes apart)."""
    f.attrs["format"] = fmt
    f.attrs["format_version"] = version
    for k, v in attrs.items():
        f.attrs[k] = v


def _create_array(f: h5py.File, name: str, **kwargs) -> h5py.Dataset:
    """One array of a data set file, chunked if it has two or more dimensions
    (``h5py.File.create_dataset`` keyword arguments: ``data``, or ``shape`` and ``dtype``)."""
    ndim = np.ndim(kwargs["data"]) if "data" in kwargs else len(kwargs["shape"])
    return f.create_dataset(name, chunks=True if ndim >= 2 else None, **kwargs)


def _write_meta(f: h5py.File, meta: dict) -> None:
    f.attrs["meta"] = json.dumps(meta, sort_keys=True, default=str)


#: Rows per read when a checksum is computed over an array on disk.
_CHECK_ROWS = 4096


def _digest() -> hashlib._Hash:
    """The content checksum of a data set array: BLAKE2b-128 of its C-order bytes."""
    return hashlib.blake2b(digest_size=16)


def _update(h, arr: np.ndarray) -> None:
    h.update(np.ascontiguousarray(arr).data)


def _write_checksums(f: h5py.File, digests: dict[str, str]) -> None:
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
        h = _digest()
        if isinstance(arr, h5py.Dataset) and arr.ndim:
            for i in range(0, arr.shape[0], _CHECK_ROWS):
                _update(h, arr[i:i + _CHECK_ROWS])
        else:
            _update(h, np.asarray(arr))
        if h.hexdigest() != stored[name]:
            raise DatasetError(f"{path}: corrupt data set (the content of {name!r} does not "
                               "match the checksum written with it)")


def _write_h5(path: Path, fmt: str, version: int, meta: dict, arrays: dict[str, np.ndarray],
              attrs: dict | None = None) -> None:
    """Write named arrays (chunked if ``ndim >= 2``) and attributes atomically."""
    with _atomic_h5(path) as f:
        _write_header(f, fmt, version, attrs or {})
        _write_meta(f, meta)
        digests = {}
        for name, arr in arrays.items():
            _create_array(f, name, data=arr)
            h = _digest()
            _update(h, np.asarray(arr))
            digests[name] = h.hexdigest()
        _write_checksums(f, digests)


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
    if a.ndim != 3 or tau.shape != (a.shape[0], a.shape[2]) or freqs.ndim != 1:
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
    nt = shape[2] if fmt == AD_FORMAT else shape[1]
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


def _uma_meta(g: dict) -> dict:
    """Generator name, snapshot layout and validity notes of a UMa split."""
    from linksim.channels.uma import validity_notes

    t_n = int(g.get("num_snapshots", 1))
    dt = float(g.get("snapshot_interval_s", 1.0)) if t_n > 1 else 1.0
    bandwidth = g["num_subcarriers"] * g["subcarrier_spacing_hz"]
    notes = validity_notes(g["carrier_frequency_hz"], bandwidth)
    meta = {"generator": "sionna-38.901-uma-nlos", "num_snapshots": t_n,
            "snapshot_interval_s": dt if t_n > 1 else 0.0, "bandwidth_hz": bandwidth,
            "doppler_hz": g["ue_speed_mps"] * g["carrier_frequency_hz"] / 299_792_458.0}
    if t_n > 1:
        meta["sample_index"] = "drop * num_snapshots + snapshot (time = snapshot * interval)"
        track = g["ue_speed_mps"] * (t_n - 1) * dt
        notes.append(
            f"snapshot series: {t_n} snapshots {dt * 1e3:g} ms apart per drop (UE track "
            f"{track:.3g} m); TR 38.901 time evolution as in Sionna: only the per-ray Doppler "
            "phases change, delays, angles and powers stay those of the drop (no drifting or "
            "spatial consistency as in QuaDRiGa), valid for tracks short against the ~40-50 m "
            "UMa NLOS decorrelation distances")
    meta["notes"] = notes
    return meta


def _uma_blocks(g: dict, n: int, seed: int, progress: bool
                ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """``n`` UMa samples as ``ceil(n / T)`` drops of ``T = num_snapshots`` snapshots, one
    Sionna call at a time: yields ``(start, {"a": [b, Nt, P] complex64, "tau": [b, P]
    float32})`` for samples ``start:start + b``.

    Sample ``i`` is snapshot ``i % T`` (time ``(i % T) * snapshot_interval_s``) of drop
    ``i // T``; each Sionna call holds ``GENERATION_BATCH // T`` drops (about
    ``GENERATION_BATCH`` snapshots) drawn from the generator seeded with
    ``linksim.channels.uma.batch_seed(seed, call index)``, so a call's samples do not depend on the
    others: the same samples as :func:`linksim.channels.uma.generate_uma_series` with
    ``batch_size=GENERATION_BATCH // T`` (reshaped to samples; with ``T = 1`` those of
    :func:`linksim.channels.uma.generate_uma_cir` with ``batch_size=GENERATION_BATCH``), one call in
    memory at a time. Path delays are the same for every snapshot of a drop.
    """
    from linksim.channels import uma
    from tqdm.auto import tqdm

    t_n = int(g.get("num_snapshots", 1))
    dt = float(g.get("snapshot_interval_s", 1.0)) if t_n > 1 else 1.0
    drops = -(-n // t_n)
    per_call = max(1, GENERATION_BATCH // t_n)
    uma._check_counts(drops, per_call, seed)
    for note in uma.validity_notes(g["carrier_frequency_hz"]):
        warnings.warn(note, UserWarning, stacklevel=3)
    calls = uma.iter_series_calls(
        drops, t_n, dt, num_bs_antennas=g["num_bs_antennas"],
        carrier_frequency_hz=g["carrier_frequency_hz"],
        ue_speed_mps=(g["ue_speed_mps"], g["ue_speed_mps"]), seed=seed, batch_size=per_call,
        antenna_pattern=g.get("bs_antenna_pattern", "omni"),
        ue_orientation=g.get("ue_orientation", "upright"), device="cpu")
    bar = tqdm(total=drops, desc="generate uma", unit="drop", disable=not progress, leave=False)
    with bar:
        for lo, a, tau in calls:
            start, stop = lo * t_n, min(n, (lo + len(a)) * t_n)
            yield start, {"a": a.reshape(-1, *a.shape[2:])[:stop - start],
                          "tau": np.repeat(tau, t_n, axis=0)[:stop - start]}
            bar.update(len(a))


def _cost2100_blocks(g: dict, n: int, seed: int, kept: list[np.ndarray]
                     ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """COST 2100 samples ``0:n`` in tasks of :data:`COST2100_TASK` samples, in order: yields
    ``(start, {"h_ad": [b, Na, Nt] complex64, "energy_kept": [b] float32})`` and appends each
    ``energy_kept`` block to ``kept``.

    The samples of :func:`linksim.channels.cost2100.generate_cost2100_ad` (which seeds each block of
    ``RNG_BLOCK`` samples by its index, so a task's samples do not depend on the others);
    from :data:`COST2100_POOL_MIN` samples up, :data:`COST2100_WORKERS` processes compute the
    tasks, at most two per worker in flight.
    """
    from linksim.channels.cost2100 import (
        RNG_BLOCK,
        _ad_blocks,
        _single_threaded_children,
        die_with_parent,
        get_environment,
    )

    nt, nc, na = int(g["num_bs_antennas"]), int(g["num_subcarriers"]), int(g["num_delay_rows"])
    if n < 0 or int(seed) < 0:
        raise ValueError("n and seed must be >= 0")
    if not 1 <= na <= nc:
        raise ValueError("need 1 <= num_delay_rows <= num_subcarriers")
    assert COST2100_TASK % RNG_BLOCK == 0
    args = (int(seed), get_environment(g["environment"]), nt, nc, float(g["bandwidth_hz"]), na)
    tasks = [(s, min(n, s + COST2100_TASK)) for s in range(0, n, COST2100_TASK)]

    def block(start, parts):
        kept.append(parts[1])
        return start, {"h_ad": parts[0], "energy_kept": parts[1]}

    if n < COST2100_POOL_MIN or COST2100_WORKERS <= 1 or len(tasks) <= 1:
        for s, e in tasks:
            yield block(s, _ad_blocks(*args, s, e))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    with (_single_threaded_children(),
          ProcessPoolExecutor(COST2100_WORKERS, mp_context=ctx, initializer=die_with_parent,
                              initargs=(os.getpid(),)) as ex):
        pending: deque = deque()
        try:
            for s, e in tasks:
                pending.append((s, ex.submit(_ad_blocks, *args, s, e)))
                if len(pending) >= 2 * COST2100_WORKERS:
                    s0, fut = pending.popleft()
                    yield block(s0, fut.result())
            while pending:
                s0, fut = pending.popleft()
                yield block(s0, fut.result())
        finally:
            for _, fut in pending:
                fut.cancel()


@dataclass
class _Plan:
    """How a split is laid out and produced: per-sample arrays ``{name: (shape, dtype)}`` in
    file order, fixed arrays, file attributes, the block iterator and the meta dict (a function,
    called once the blocks are exhausted)."""

    kind: type
    fmt: str
    version: int
    arrays: dict
    fixed: dict
    attrs: dict
    blocks: Iterator
    meta: object


def _plan(generator_config: dict, n: int, seed: int, progress: bool) -> _Plan:
    """The :class:`_Plan` of ``n`` channels of ``generator_config['family']``."""
    g = generator_config
    family = g["family"]
    if family == "cost2100":
        from linksim.channels.cost2100 import GENERATOR_VERSION

        kept: list[np.ndarray] = []

        def meta() -> dict:
            e = np.concatenate(kept) if kept else np.zeros(0, np.float32)
            return {"generator": f"cost2100-{g['environment']}",
                    "generator_version": GENERATOR_VERSION, "config": g, "seed": seed, "n": n,
                    "delay_resolution_s": 1.0 / g["bandwidth_hz"],
                    "energy_kept_mean": float(np.mean(e)) if n else None,
                    "notes": [("truncated angular-delay channel stored; the truncated channel "
                               "is the channel, energy lost to the truncation in energy_kept")]}

        na, nt = int(g["num_delay_rows"]), int(g["num_bs_antennas"])
        return _Plan(AdDataset, AD_FORMAT, AD_FORMAT_VERSION,
                     {"h_ad": ((n, na, nt), np.complex64), "energy_kept": ((n,), np.float32)},
                     {}, {"num_subcarriers": int(g["num_subcarriers"])},
                     _cost2100_blocks(g, n, seed, kept), meta)
    if family == "uma":
        from linksim.channels.uma import NUM_PATHS_NLOS, subcarrier_frequencies

        def meta() -> dict:
            m = _uma_meta(g)
            m.update({"config": g, "seed": seed, "n": n,
                      "units": {"a": "linear amplitude (no path loss)", "tau": "s",
                                "frequencies_hz": "Hz"}})
            return m

        nt, p = int(g["num_bs_antennas"]), NUM_PATHS_NLOS
        freqs = subcarrier_frequencies(g["num_subcarriers"], g["subcarrier_spacing_hz"])
        return _Plan(CirDataset, FORMAT, FORMAT_VERSION,
                     {"a": ((n, nt, p), np.complex64), "tau": ((n, p), np.float32)},
                     {"frequencies_hz": freqs}, {}, _uma_blocks(g, n, seed, progress), meta)
    raise ValueError(f"unknown channel family {family!r}")


def _dataset(plan: _Plan, arrays: dict, meta: dict) -> CirDataset | AdDataset:
    if plan.kind is AdDataset:
        return AdDataset(arrays["h_ad"], arrays["energy_kept"], plan.attrs["num_subcarriers"],
                         meta)
    return CirDataset(arrays["a"], arrays["tau"], arrays["frequencies_hz"], meta)


def generate(generator_config: dict, n: int, seed: int, progress: bool = False
             ) -> CirDataset | AdDataset:
    """Generate ``n`` channels of the family named in ``generator_config['family']``, in
    memory (:func:`generate_to_file` streams them to disk; same samples)."""
    plan = _plan(generator_config, n, seed, progress)
    arrays = {k: np.empty(shape, dtype) for k, (shape, dtype) in plan.arrays.items()}
    with contextlib.closing(plan.blocks) as blocks:
        for start, block in blocks:
            for k, v in block.items():
                arrays[k][start:start + len(v)] = v
    return _dataset(plan, {**arrays, **plan.fixed}, plan.meta())


def generate_to_file(generator_config: dict, split: str, n: int, seed: int, path: Path,
                     progress: bool = False) -> Path:
    """Generate ``n`` channels straight into the data set file ``path``, block by block.

    The file is the one :func:`generate` + :func:`write_ad` / :func:`write_cir` would write
    (same arrays, chunk shapes, attributes and meta, with ``meta["split"] = split``), but only
    one generation block (a COST 2100 task, a Sionna call) is held in memory at a time: the
    per-sample datasets are created at full size in a temporary file and filled in order,
    then the file is renamed to ``path``; an interrupted generation leaves no file at ``path``
    (and no temporary file).

    Returns
    -------
    Path
        ``path``.
    """
    plan = _plan(generator_config, n, seed, progress)
    with _atomic_h5(path) as f:
        _write_header(f, plan.fmt, plan.version, plan.attrs)
        out = {k: _create_array(f, k, shape=shape, dtype=dtype)
               for k, (shape, dtype) in plan.arrays.items()}
        digests = {k: _digest() for k in out}
        for k, v in plan.fixed.items():
            _create_array(f, k, data=v)
            digests[k] = _digest()
            _update(digests[k], np.asarray(v))
        done = 0
        with contextlib.closing(plan.blocks) as blocks:  # stops a process pool on errors
            for start, block in blocks:
                if start != done:
                    raise RuntimeError(f"generation block at sample {start}, expected {done}")
                for k, v in block.items():
                    v = np.asarray(v, dtype=out[k].dtype)
                    out[k][start:start + len(v)] = v
                    _update(digests[k], v)
                done = start + len(next(iter(block.values())))
        if done != n:
            raise RuntimeError(f"generation stopped at sample {done} of {n}")
        meta = plan.meta()
        meta["split"] = split
        _write_meta(f, meta)
        _write_checksums(f, {k: h.hexdigest() for k, h in digests.items()})
    return Path(path)


def split_path(generator_config: dict, split: str, n: int, seed: int,
               cache_dir: Path | None = None) -> Path:
    """The cache file of a generated split (see :func:`cache_key`)."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(generator_config, split, n, seed)
    return cache_dir / f"{generator_config['family']}-{split}-{key}.h5"


def load_or_generate(generator_config: dict, split: str, n: int, seed: int,
                     cache_dir: Path | None = None, progress: bool = False, lazy: bool = False
                     ) -> tuple[CirDataset | AdDataset, Path, bool]:
    """Return the cached split if present, else generate it into the cache (streamed to disk
    block by block, :func:`generate_to_file`) and read it.

    ``lazy=True`` returns the split with its arrays on disk (:func:`read_dataset`): then
    neither generation nor the returned data set holds the whole split in memory.

    Returns
    -------
    (dataset, path, from_cache)
    """
    path = split_path(generator_config, split, n, seed, cache_dir)
    # One process builds an entry; another run that needs it waits, then reads it.
    with cache_lock(path):
        if path.exists():
            try:
                return read_dataset(path, lazy=lazy), path, True
            except DatasetError as exc:
                aside = move_aside(path)
                warnings.warn(f"{exc}; moved to {aside} and generated again",
                              CacheRepairWarning, stacklevel=2)
        generate_to_file(generator_config, split, n, seed, path, progress=progress)
        return read_dataset(path, lazy=lazy), path, False


def cache_lock(path: Path) -> filelock.FileLock:
    """The lock of one cache entry (``<entry>.lock`` beside it, :mod:`filelock`): held while
    the entry is checked, built or repaired, so that two runs sharing a cache never build the
    same entry twice nor read one half-built."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(path.with_name(path.name + ".lock"), mode=0o666)


class CacheRepairWarning(UserWarning):
    """A corrupt cache entry was moved aside and rebuilt."""


def move_aside(path: Path) -> Path:
    """Rename a corrupt cache file to ``<name>.corrupt-<UTC stamp>`` beside it (kept for
    inspection, never read again) and return the new path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, aside)
    return aside
