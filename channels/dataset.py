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

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from linksim.errors import DatasetError

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


def default_cache_dir() -> Path:
    """``$LINKSIM_CACHE`` if set, else ``~/.cache/linksim``."""
    env = os.environ.get("LINKSIM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "linksim"


class _ChannelBatches:
    """Batch iteration shared by the data set kinds (each defines ``__len__`` and ``channels``)."""

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Iterate over the data set in batches of ``[<=batch_size, Nc, Nt]`` channels."""
        for start in range(0, len(self), batch_size):
            yield self.channels(start, start + batch_size)


@dataclass
class CirDataset(_ChannelBatches):
    """Channels stored as impulse responses.

    Attributes
    ----------
    a : [N, Nt, P] complex64
        Path coefficients per BS antenna (single-antenna UE).
    tau : [N, P] float32
        Path delays [s].
    frequencies_hz : [Nc] float64
        Baseband subcarrier frequencies.
    meta : dict
        Generator, config, seed, split, notes.
    """

    a: np.ndarray
    tau: np.ndarray
    frequencies_hz: np.ndarray
    meta: dict = field(default_factory=dict)

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
        from channels.uma import frequency_response

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
        Delay rows x angle bins (linksim layout, :mod:`linksim.transforms`).
    energy_kept : [N] float32
        Energy in the kept rows / energy over all ``Nc`` rows (NaN where unknown, e.g. CsiNet
        files).
    num_subcarriers : int
        ``Nc`` of the rebuilt space-frequency channel.
    meta : dict
        Generator, config, seed, split, notes.
    """

    h_ad: np.ndarray
    energy_kept: np.ndarray
    num_subcarriers: int
    meta: dict = field(default_factory=dict)

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
    from channels.csinet_mat import read_csinet_mat

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
        from channels.cost2100 import GENERATOR_VERSION

        key["generator_version"] = GENERATOR_VERSION
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_h5(path: Path, fmt: str, version: int, meta: dict, arrays: dict[str, np.ndarray],
              attrs: dict | None = None) -> None:
    """Write named arrays (chunked if ``ndim >= 2``) and attributes atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = fmt
            f.attrs["format_version"] = version
            f.attrs["meta"] = json.dumps(meta, sort_keys=True, default=str)
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
            for name, arr in arrays.items():
                f.create_dataset(name, data=arr, chunks=True if arr.ndim >= 2 else None)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_h5(path: Path, fmt: str, version: int, names: tuple[str, ...],
             attrs: tuple[str, ...] = ()) -> tuple[dict[str, np.ndarray], dict, dict]:
    """Read named arrays, the meta dict and attributes; :class:`DatasetError` if not ``fmt``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: data set file not found")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != fmt:
                raise DatasetError(f"{path}: not a linksim channel data set (format "
                                   f"attribute {f.attrs.get('format')!r}, expected {fmt!r})")
            if int(f.attrs.get("format_version", -1)) != version:
                raise DatasetError(f"{path}: unsupported data set version "
                                   f"{f.attrs.get('format_version')}")
            arrays = {n: f[n][...] for n in names}
            extra = {a: f.attrs[a] for a in attrs}
            meta = json.loads(f.attrs["meta"])
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: corrupt or unreadable data set ({exc})") from exc
    return arrays, meta, extra


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


def read_cir(path: Path) -> CirDataset:
    """Read a data set written by :func:`write_cir`; :class:`DatasetError` if it is not one."""
    arr, meta, _ = _read_h5(path, FORMAT, FORMAT_VERSION, ("a", "tau", "frequencies_hz"))
    a, tau, freqs = arr["a"], arr["tau"], arr["frequencies_hz"]
    if a.ndim != 3 or tau.shape != (a.shape[0], a.shape[2]) or freqs.ndim != 1:
        raise DatasetError(f"{path}: inconsistent array shapes a{a.shape} tau{tau.shape}")
    return CirDataset(a, tau, freqs, meta)


def write_ad(path: Path, ds: AdDataset) -> None:
    """Write an :class:`AdDataset` to HDF5 atomically (chunked, so it reads in batches)."""
    _write_h5(path, AD_FORMAT, AD_FORMAT_VERSION, ds.meta,
              {"h_ad": np.asarray(ds.h_ad, np.complex64),
               "energy_kept": np.asarray(ds.energy_kept, np.float32)},
              {"num_subcarriers": int(ds.num_subcarriers)})


def read_ad(path: Path) -> AdDataset:
    """Read a data set written by :func:`write_ad`; :class:`DatasetError` if it is not one."""
    arr, meta, attrs = _read_h5(path, AD_FORMAT, AD_FORMAT_VERSION, ("h_ad", "energy_kept"),
                                ("num_subcarriers",))
    h_ad, e = arr["h_ad"], arr["energy_kept"]
    nc = int(attrs["num_subcarriers"])
    if (h_ad.ndim != 3 or not np.iscomplexobj(h_ad) or e.shape != (h_ad.shape[0],)
            or not h_ad.shape[1] <= nc):
        raise DatasetError(f"{path}: inconsistent array shapes h_ad{h_ad.shape} "
                           f"energy_kept{e.shape} (Nc={nc})")
    return AdDataset(h_ad.astype(np.complex64, copy=False), e, nc, meta)


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


def read_dataset(path: Path) -> CirDataset | AdDataset:
    """Read either kind of linksim data set file, by its ``format`` attribute."""
    return read_ad(path) if file_format(path) == AD_FORMAT else read_cir(path)


def _generate_uma(g: dict, n: int, seed: int, progress: bool
                  ) -> tuple[np.ndarray, np.ndarray, dict]:
    """``n`` UMa samples as ``ceil(n / T)`` drops of ``T = num_snapshots`` snapshots.

    Sample ``i`` is snapshot ``i % T`` (time ``(i % T) * snapshot_interval_s``) of drop
    ``i // T``; each Sionna call holds ``GENERATION_BATCH // T`` drops (about
    ``GENERATION_BATCH`` snapshots). With ``T = 1`` the samples are those of
    :func:`channels.uma.generate_uma_cir` with ``batch_size=GENERATION_BATCH``.

    Returns
    -------
    a : [n, Nt, P] complex64
    tau : [n, P] float32
        Path delays [s], the same for every snapshot of a drop.
    meta : dict
        Generator name, snapshot layout and validity notes.
    """
    from channels.uma import generate_uma_series, validity_notes

    t_n = int(g.get("num_snapshots", 1))
    dt = float(g.get("snapshot_interval_s", 1.0)) if t_n > 1 else 1.0
    drops = -(-n // t_n)
    a, tau = generate_uma_series(
        drops, t_n, dt, num_bs_antennas=g["num_bs_antennas"],
        carrier_frequency_hz=g["carrier_frequency_hz"],
        ue_speed_mps=(g["ue_speed_mps"], g["ue_speed_mps"]),
        antenna_pattern=g.get("bs_antenna_pattern", "omni"),
        ue_orientation=g.get("ue_orientation", "upright"),
        seed=seed, batch_size=max(1, GENERATION_BATCH // t_n), progress=progress)
    a = a.reshape(drops * t_n, *a.shape[2:])[:n]
    tau = np.repeat(tau, t_n, axis=0)[:n]
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
    return a, tau, meta


def generate(generator_config: dict, n: int, seed: int, progress: bool = False
             ) -> CirDataset | AdDataset:
    """Generate ``n`` channels of the family named in ``generator_config['family']``."""
    family = generator_config["family"]
    if family == "cost2100":
        from channels.cost2100 import GENERATOR_VERSION, generate_cost2100_ad

        g = generator_config
        h_ad, kept = generate_cost2100_ad(
            n, g["environment"], num_bs_antennas=g["num_bs_antennas"],
            num_subcarriers=g["num_subcarriers"], bandwidth_hz=g["bandwidth_hz"],
            num_delay_rows=g["num_delay_rows"], seed=seed,
            workers=COST2100_WORKERS if n >= COST2100_POOL_MIN else 1)
        meta = {"generator": f"cost2100-{g['environment']}",
                "generator_version": GENERATOR_VERSION, "config": g, "seed": seed, "n": n,
                "delay_resolution_s": 1.0 / g["bandwidth_hz"],
                "energy_kept_mean": float(np.mean(kept)) if n else None,
                "notes": [("truncated angular-delay channel stored; the truncated channel is "
                          "the channel, energy lost to the truncation in energy_kept")]}
        return AdDataset(h_ad, kept.astype(np.float32), g["num_subcarriers"], meta)
    if family == "uma":
        from channels.uma import subcarrier_frequencies

        a, tau, meta = _generate_uma(generator_config, n, seed, progress)
        freqs = subcarrier_frequencies(generator_config["num_subcarriers"],
                                       generator_config["subcarrier_spacing_hz"])
    else:
        raise ValueError(f"unknown channel family {family!r}")
    meta.update({"config": generator_config, "seed": seed, "n": n,
                 "units": {"a": "linear amplitude (no path loss)", "tau": "s",
                           "frequencies_hz": "Hz"}})
    return CirDataset(a, tau, freqs, meta)


def load_or_generate(generator_config: dict, split: str, n: int, seed: int,
                     cache_dir: Path | None = None, progress: bool = False
                     ) -> tuple[CirDataset | AdDataset, Path, bool]:
    """Return the cached split if present, else generate and cache it.

    Returns
    -------
    (dataset, path, from_cache)
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(generator_config, split, n, seed)
    path = cache_dir / f"{generator_config['family']}-{split}-{key}.h5"
    if path.exists():
        return read_dataset(path), path, True
    ds = generate(generator_config, n, seed, progress=progress)
    ds.meta["split"] = split
    (write_ad if isinstance(ds, AdDataset) else write_cir)(path, ds)
    return ds, path, False
