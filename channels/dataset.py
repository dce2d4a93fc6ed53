"""Channel data sets and their on-disk cache.

A generated data set is stored compactly as its channel impulse response (path coefficients per
BS antenna and path delays) in HDF5; the frequency response ``H[b, Nc, Nt]`` is rebuilt batch by
batch on demand (:meth:`CirDataset.channels`), so a test set of thousands of 1024 x 32 channels
never has to sit in memory whole.

Cache files are named by a hash of (generator config, split, size, seed, format version); they
are written to a temporary file and renamed, so an interrupted generation never leaves a file
that looks complete. A file that is not a linksim data set, or is corrupt, raises
:class:`linksim.errors.DatasetError` naming it.
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
#: Samples drawn per Sionna call. Sionna draws a whole batch at once, so a sample depends on the
#: batch it was drawn in: the batch size is part of the cache key.
GENERATION_BATCH = 1000


def default_cache_dir() -> Path:
    """``$LINKSIM_CACHE`` if set, else ``~/.cache/linksim``."""
    env = os.environ.get("LINKSIM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "linksim"


@dataclass
class CirDataset:
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

    def channels(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frequency response of samples ``start:stop``: ``[b, Nc, Nt]`` complex64."""
        from channels.uma import frequency_response

        sl = slice(start, stop)
        return frequency_response(self.a[sl], self.tau[sl], self.frequencies_hz)

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Iterate over the data set in batches of ``[<=batch_size, Nc, Nt]`` channels."""
        for start in range(0, len(self), batch_size):
            yield self.channels(start, start + batch_size)


def cache_key(generator_config: dict, split: str, n: int, seed: int) -> str:
    """Stable hash of everything that determines a generated split."""
    blob = json.dumps({"config": generator_config, "split": split, "n": n, "seed": seed,
                       "format": FORMAT, "version": FORMAT_VERSION,
                       "generation_batch": GENERATION_BATCH}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def write_cir(path: Path, ds: CirDataset) -> None:
    """Write a :class:`CirDataset` to HDF5 atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["meta"] = json.dumps(ds.meta, sort_keys=True)
            f.create_dataset("a", data=ds.a, chunks=True)
            f.create_dataset("tau", data=ds.tau, chunks=True)
            f.create_dataset("frequencies_hz", data=ds.frequencies_hz)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cir(path: Path) -> CirDataset:
    """Read a data set written by :func:`write_cir`; :class:`DatasetError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: data set file not found")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise DatasetError(f"{path}: not a linksim channel data set "
                                   f"(format attribute {f.attrs.get('format')!r})")
            if int(f.attrs.get("format_version", -1)) != FORMAT_VERSION:
                raise DatasetError(f"{path}: unsupported data set version "
                                   f"{f.attrs.get('format_version')}")
            a = f["a"][...]
            tau = f["tau"][...]
            freqs = f["frequencies_hz"][...]
            meta = json.loads(f.attrs["meta"])
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: corrupt or unreadable data set ({exc})") from exc
    if a.ndim != 3 or tau.shape != (a.shape[0], a.shape[2]) or freqs.ndim != 1:
        raise DatasetError(f"{path}: inconsistent array shapes a{a.shape} tau{tau.shape}")
    return CirDataset(a, tau, freqs, meta)


def generate(generator_config: dict, n: int, seed: int, progress: bool = False) -> CirDataset:
    """Generate ``n`` channels of the family named in ``generator_config['family']``."""
    family = generator_config["family"]
    if family == "uma":
        from channels.uma import generate_uma_cir, subcarrier_frequencies, validity_notes

        a, tau = generate_uma_cir(
            n, num_bs_antennas=generator_config["num_bs_antennas"],
            carrier_frequency_hz=generator_config["carrier_frequency_hz"],
            ue_speed_mps=(generator_config["ue_speed_mps"], generator_config["ue_speed_mps"]),
            antenna_pattern=generator_config.get("bs_antenna_pattern", "omni"),
            ue_orientation=generator_config.get("ue_orientation", "upright"),
            seed=seed, batch_size=GENERATION_BATCH, progress=progress)
        freqs = subcarrier_frequencies(generator_config["num_subcarriers"],
                                       generator_config["subcarrier_spacing_hz"])
        meta = {"generator": "sionna-38.901-uma-nlos",
                "notes": validity_notes(generator_config["carrier_frequency_hz"])}
    else:
        raise ValueError(f"unknown channel family {family!r}")
    meta.update({"config": generator_config, "seed": seed, "n": n,
                 "units": {"a": "linear amplitude (no path loss)", "tau": "s",
                           "frequencies_hz": "Hz"}})
    return CirDataset(a, tau, freqs, meta)


def load_or_generate(generator_config: dict, split: str, n: int, seed: int,
                     cache_dir: Path | None = None, progress: bool = False
                     ) -> tuple[CirDataset, Path, bool]:
    """Return the cached split if present, else generate and cache it.

    Returns
    -------
    (dataset, path, from_cache)
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = cache_key(generator_config, split, n, seed)
    path = cache_dir / f"{generator_config['family']}-{split}-{key}.h5"
    if path.exists():
        return read_cir(path), path, True
    ds = generate(generator_config, n, seed, progress=progress)
    ds.meta["split"] = split
    write_cir(path, ds)
    return ds, path, False
