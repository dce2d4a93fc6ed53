"""The channel families: one object per family owns what the data set store needs of it.

A family is the ``family`` field of a scenario's data set (:mod:`linksim.scenario`) and of a
generator config. Its :class:`ChannelFamily` object says whether its splits are generated into
the cache or read from the user's files, what version of its numbers the cache key must carry,
and, for a generated split, the layout of the file and the blocks of samples
(:meth:`ChannelFamily.plan`); the store (:mod:`linksim.channels.dataset`) calls it and never
branches on the family's name:

* :class:`UMaFamily` (``"uma"``): Sionna's TR 38.901 UMa (or, with ``scenario: umi``, UMi) NLOS,
  ULA or dual-polarised panel at the BS, one or more UE antennas, stored as impulse responses
  (:class:`~linksim.channels.dataset_files.CirDataset`), drawn one Sionna call at a time;
* :class:`Cost2100Family` (``"cost2100"``): our COST 2100 generator, stored as truncated
  angular-delay channels (:class:`~linksim.channels.dataset_files.AdDataset`), drawn in tasks of
  :data:`linksim.channels.cost2100.RNG_BLOCK` multiples, by a process pool for large splits;
* :class:`CsiNetMatFamily` (``"csinet_mat"``): the published CsiNet ``.mat`` files, read.

:func:`family_for` finds the object of a config.
"""

from __future__ import annotations

import contextlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from linksim.channels.dataset_files import AdDataset, CirDataset

from linksim.errors import DatasetError

#: A block of generated samples: ``(start, {array name: values of samples start:start + b})``.
Block = tuple[int, dict[str, np.ndarray]]


@dataclass(frozen=True)
class GenerationSettings:
    """How the store cuts a generation into blocks (set by :mod:`linksim.channels.dataset`).

    Attributes
    ----------
    sionna_batch : int
        Samples per Sionna call (UMa). Sionna draws a whole batch at once, so it changes the
        samples: it is part of the cache key.
    task : int
        Samples per COST 2100 task (a multiple of ``RNG_BLOCK``; no effect on the samples).
    workers : int
        Worker processes for the COST 2100 tasks (no effect on the samples).
    pool_min : int
        Fewest samples for which the COST 2100 tasks go to a process pool.
    """

    sionna_batch: int
    task: int
    workers: int
    pool_min: int


@dataclass
class SplitPlan:
    """How a generated split is laid out and produced.

    Attributes
    ----------
    kind : type
        :class:`CirDataset` or :class:`AdDataset` (its file format, ``from_arrays``).
    arrays : dict
        Per-sample arrays ``{name: (shape, dtype)}``, in file order.
    fixed : dict
        Arrays that do not grow with the samples ``{name: values}``.
    attrs : dict
        File attributes.
    blocks : Iterator[Block]
        The samples, block by block, in order (closing it stops the generation).
    meta : Callable[[], dict]
        The meta dict, called once the blocks are exhausted.
    """

    kind: type
    arrays: dict
    fixed: dict
    attrs: dict
    blocks: Iterator[Block]
    meta: Callable[[], dict]


class ChannelFamily(ABC):
    """What the data set store needs of one channel family."""

    #: The ``family`` name of its configs.
    name: ClassVar[str]
    #: Whether its splits are generated into the cache (``False``: read from given files).
    generated: ClassVar[bool] = True

    @property
    def generator_version(self) -> int | None:
        """Version of the generated numbers, part of the cache key (``None``: none)."""
        return None

    @abstractmethod
    def plan(self, g: dict, n: int, seed: int, settings: GenerationSettings,
             progress: bool = False, samples: tuple[int, int] | None = None,
             source: Iterator[Block] | None = None) -> SplitPlan:
        """The :class:`SplitPlan` of ``n`` channels of generator config ``g`` drawn with
        ``seed``; the checks of ``n`` and ``seed`` run when the blocks start.

        ``samples=(lo, hi)`` draws only the blocks of samples ``lo:hi`` (``lo`` a multiple of
        :meth:`block_samples`, ``hi`` one too or ``n``: a shard), the same samples as in the
        whole draw; ``arrays`` stays the whole split's layout. ``source``: blocks drawn before
        (a split's shards, read back) take the place of the draw, and ``meta`` is the one of
        the whole draw."""

    def block_samples(self, g: dict, settings: GenerationSettings) -> int:
        """Samples per generation block of config ``g``: a range of samples starting at a
        multiple of it can be drawn on its own (:meth:`plan`'s ``samples``)."""
        raise ValueError(f"{self.name} data sets are not generated in blocks")

    def read_split(self, cfg, split: str) -> tuple[AdDataset | CirDataset, Path]:
        """A split read from the file a scenario data set ``cfg`` names: ``(dataset, file)``."""
        raise ValueError(f"{self.name} data sets are generated, not read from files")

    def cached_bytes_per_sample(self, cfg) -> int:
        """Bytes one generated sample of scenario data set ``cfg`` takes in the channel cache
        (the up-front size guard, :mod:`linksim.resources`); 0: nothing is cached."""
        return 0


class UMaFamily(ChannelFamily):
    """TR 38.901 UMa / UMi NLOS through Sionna (:mod:`linksim.channels.uma`), stored as CIR:
    ``a [N, Nt, P]``, or ``[N, Nr, Nt, P]`` for a multi-antenna UE.

    Config keys beyond the ULA's (absent in older configs: their defaults): ``scenario``
    (``"uma"``), ``bs_array`` (``{n1, n2, polarization}``, `None`: the ULA) and
    ``num_ue_antennas`` (1); ``generation_device`` (``"cpu"``; ``"cuda"``: Sionna draws on the
    current CUDA device, another draw of the same distribution)."""

    name = "uma"

    @staticmethod
    def arrays(g: dict) -> dict:
        """The array keywords of :func:`linksim.channels.uma.iter_series_calls` for config
        ``g``: ``scenario``, ``bs_panel`` and ``num_ue_antennas``."""
        from linksim.channels.antenna_arrays import BsPanel

        panel = g.get("bs_array")
        return {"scenario": g.get("scenario", "uma"),
                "bs_panel": None if panel is None else BsPanel(
                    int(panel["n1"]), int(panel["n2"]), panel.get("polarization", "dual")),
                "num_ue_antennas": int(g.get("num_ue_antennas", 1))}

    def block_samples(self, g: dict, settings: GenerationSettings) -> int:
        """One Sionna call: ``max(1, sionna_batch // T)`` drops of ``T`` snapshots."""
        t_n = int(g.get("num_snapshots", 1))
        return max(1, settings.sionna_batch // t_n) * t_n

    def plan(self, g: dict, n: int, seed: int, settings: GenerationSettings,
             progress: bool = False, samples: tuple[int, int] | None = None,
             source: Iterator[Block] | None = None) -> SplitPlan:
        from linksim.channels.uma import cir_shape, subcarrier_frequencies

        def meta() -> dict:
            m = self._meta(g)
            m.update({"config": g, "seed": seed, "n": n,
                      "units": {"a": "linear amplitude (no path loss)", "tau": "s",
                                "frequencies_hz": "Hz"}})
            return m

        shape = cir_shape(int(g["num_bs_antennas"]), **self.arrays(g))
        freqs = subcarrier_frequencies(g["num_subcarriers"], g["subcarrier_spacing_hz"])
        return SplitPlan(CirDataset,
                         {"a": ((n, *shape), np.complex64), "tau": ((n, shape[-1]), np.float32)},
                         {"frequencies_hz": freqs}, {},
                         source if source is not None else self._blocks(
                             g, n, seed, settings.sionna_batch, progress, samples or (0, n)),
                         meta)

    def cached_bytes_per_sample(self, cfg) -> int:
        """The CIR: ``a [Nr, Nt, P]`` complex64 and ``tau [P]`` float32 of the ``P`` paths of
        the scenario (UMa 24, UMi 23)."""
        from linksim.channels.uma import NUM_PATHS

        paths = NUM_PATHS[cfg.scenario]
        return paths * (cfg.num_ue_antennas * cfg.num_bs_antennas * 8 + 4)

    @staticmethod
    def _meta(g: dict) -> dict:
        """Generator name, snapshot layout and validity notes of a UMa split."""
        from linksim.channels.uma import validity_notes

        t_n = int(g.get("num_snapshots", 1))
        dt = float(g.get("snapshot_interval_s", 1.0)) if t_n > 1 else 1.0
        bandwidth = g["num_subcarriers"] * g["subcarrier_spacing_hz"]
        scenario = g.get("scenario", "uma")
        notes = validity_notes(g["carrier_frequency_hz"], bandwidth, scenario)
        meta = {"generator": f"sionna-38.901-{scenario}-nlos", "num_snapshots": t_n,
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
        if g.get("bs_array") is not None:
            meta["bs_ports"] = ("port = pol * N1N2 + n1 * N2 + n2 (n1 along +y, n2 upwards; "
                                "pol 0 slant -45 deg, pol 1 +45 deg): the eType II order")
        if int(g.get("num_ue_antennas", 1)) > 1:
            meta["ue_antennas"] = ("r = pol * Nr/2 + column, one row, pol 0 slant 0 deg, pol 1 "
                                   "90 deg; channels [b, Nc, Nr, Nt], H_k = conj(h[:, k])")
        meta["notes"] = notes
        return meta

    @staticmethod
    def _blocks(g: dict, n: int, seed: int, batch: int, progress: bool,
                samples: tuple[int, int]) -> Iterator[Block]:
        """Samples ``samples[0]:samples[1]`` of ``n`` UMa samples as ``ceil(n / T)`` drops of ``T = num_snapshots`` snapshots, one
        Sionna call at a time: yields ``(start, {"a": [b, (Nr,) Nt, P] complex64, "tau": [b, P]
        float32})`` for samples ``start:start + b``.

        Sample ``i`` is snapshot ``i % T`` (time ``(i % T) * snapshot_interval_s``) of drop
        ``i // T``; each Sionna call holds ``batch // T`` drops (about ``batch`` snapshots)
        drawn from the generator seeded with ``linksim.channels.uma.batch_seed(seed, call
        index)``, so a call's samples do not depend on the others: the same samples as
        :func:`linksim.channels.uma.generate_uma_series` with ``batch_size=batch // T``
        (reshaped to samples; with ``T = 1`` those of
        :func:`linksim.channels.uma.generate_uma_cir` with ``batch_size=batch``), one call in
        memory at a time. Path delays are the same for every snapshot of a drop. The first
        sample is a multiple of a call's samples (:meth:`block_samples`).
        """
        from linksim.channels import uma
        from tqdm.auto import tqdm

        t_n = int(g.get("num_snapshots", 1))
        dt = float(g.get("snapshot_interval_s", 1.0)) if t_n > 1 else 1.0
        drops = -(-n // t_n)
        per_call = max(1, batch // t_n)
        uma.check_counts(drops, per_call, seed)
        first, last = samples
        if first % (per_call * t_n):
            raise ValueError(f"samples start at {first}, not a multiple of {per_call * t_n}")
        first_drop, last_drop = first // t_n, min(drops, -(-last // t_n))
        arrays = UMaFamily.arrays(g)
        for note in uma.validity_notes(g["carrier_frequency_hz"], scenario=arrays["scenario"]):
            warnings.warn(note, UserWarning, stacklevel=3)
        calls = uma.iter_series_calls(
            last_drop, t_n, dt, first_call=first_drop // per_call, num_bs_antennas=g["num_bs_antennas"],
            carrier_frequency_hz=g["carrier_frequency_hz"],
            ue_speed_mps=(g["ue_speed_mps"], g["ue_speed_mps"]), seed=seed, batch_size=per_call,
            antenna_pattern=g.get("bs_antenna_pattern", "omni"),
            ue_orientation=g.get("ue_orientation", "upright"),
            device=g.get("generation_device", "cpu"), **arrays)
        bar = tqdm(total=last_drop - first_drop, desc="generate uma", unit="drop", disable=not progress,
                   leave=False)
        with bar:
            for lo, a, tau in calls:
                start, stop = lo * t_n, min(last, (lo + len(a)) * t_n)
                yield start, {"a": a.reshape(-1, *a.shape[2:])[:stop - start],
                              "tau": np.repeat(tau, t_n, axis=0)[:stop - start]}
                bar.update(len(a))


class Cost2100Family(ChannelFamily):
    """Our COST 2100 generator (:mod:`linksim.channels.cost2100`), stored as truncated
    angular-delay channels with the energy each kept."""

    name = "cost2100"

    @property
    def generator_version(self) -> int:
        from linksim.channels.cost2100 import GENERATOR_VERSION

        return GENERATOR_VERSION

    def cached_bytes_per_sample(self, cfg) -> int:
        """The truncated angular-delay channel ``[Na, Nt]`` complex64 and its kept energy
        (float32)."""
        return cfg.num_delay_rows * cfg.num_bs_antennas * 8 + 4

    def block_samples(self, g: dict, settings: GenerationSettings) -> int:
        """One task: ``settings.task`` rounded up to a multiple of ``RNG_BLOCK``."""
        from linksim.channels.cost2100 import RNG_BLOCK

        return max(RNG_BLOCK, -(-int(settings.task) // RNG_BLOCK) * RNG_BLOCK)

    def plan(self, g: dict, n: int, seed: int, settings: GenerationSettings,
             progress: bool = False, samples: tuple[int, int] | None = None,
             source: Iterator[Block] | None = None) -> SplitPlan:
        kept: list[np.ndarray] = []
        version = self.generator_version

        def meta() -> dict:
            e = np.concatenate(kept) if kept else np.zeros(0, np.float32)
            return {"generator": f"cost2100-{g['environment']}",
                    "generator_version": version, "config": g, "seed": seed, "n": n,
                    "delay_resolution_s": 1.0 / g["bandwidth_hz"],
                    "energy_kept_mean": float(np.mean(e)) if n else None,
                    "notes": [("truncated angular-delay channel stored; the truncated channel "
                               "is the channel, energy lost to the truncation in energy_kept")]}

        na, nt = int(g["num_delay_rows"]), int(g["num_bs_antennas"])
        return SplitPlan(AdDataset,
                         {"h_ad": ((n, na, nt), np.complex64), "energy_kept": ((n,), np.float32)},
                         {}, {"num_subcarriers": int(g["num_subcarriers"])},
                         self._kept(source if source is not None else self._blocks(
                             g, seed, settings, samples or (0, n)), kept), meta)

    @staticmethod
    def _kept(blocks: Iterator[Block], kept: list[np.ndarray]) -> Iterator[Block]:
        """``blocks``, appending each ``energy_kept [b] float32`` to ``kept`` (the meta's
        mean)."""
        with contextlib.closing(blocks):
            for start, block in blocks:
                kept.append(block["energy_kept"])
                yield start, block

    @staticmethod
    def _blocks(g: dict, seed: int, settings: GenerationSettings,
                samples: tuple[int, int]) -> Iterator[Block]:
        """Samples ``samples[0]:samples[1]`` of
        :func:`linksim.channels.cost2100.generate_cost2100_ad`, task by task
        (:func:`linksim.channels.cost2100.iter_ad_tasks`): yields ``(start, {"h_ad":
        [b, Na, Nt] complex64, "energy_kept": [b] float32})``."""
        from linksim.channels.cost2100 import iter_ad_tasks

        tasks = iter_ad_tasks(samples[1], g["environment"], g["num_bs_antennas"],
                              g["num_subcarriers"], g["bandwidth_hz"], g["num_delay_rows"], seed,
                              workers=settings.workers, task_size=settings.task,
                              pool_min=settings.pool_min, start=samples[0])
        with contextlib.closing(tasks):  # stops the process pool when the blocks are closed
            for start, h_ad, e in tasks:
                yield start, {"h_ad": h_ad, "energy_kept": e}


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


class CsiNetMatFamily(ChannelFamily):
    """The published CsiNet ``.mat`` files (:mod:`linksim.channels.csinet_mat`), read whole."""

    name = "csinet_mat"
    generated = False

    def plan(self, g: dict, n: int, seed: int, settings: GenerationSettings,
             progress: bool = False, samples: tuple[int, int] | None = None,
             source: Iterator[Block] | None = None) -> SplitPlan:
        raise ValueError("csinet_mat data sets are read from their files, not generated")

    def read_split(self, cfg, split: str) -> tuple[AdDataset, Path]:
        path = getattr(cfg, f"{split}_file")
        return load_csinet_split(path, cfg.key, cfg.num_subcarriers, split), path


#: The families by name.
FAMILIES: dict[str, ChannelFamily] = {
    f.name: f for f in (UMaFamily(), Cost2100Family(), CsiNetMatFamily())}


def family_for(config) -> ChannelFamily:
    """The family object of a config: a generator config (mapping with ``"family"``), a
    scenario data set (an object with ``.family``) or a family name.

    Raises
    ------
    ValueError
        Unknown family.
    """
    if isinstance(config, str):
        name = config
    elif isinstance(config, Mapping):
        name = config.get("family")
    else:
        name = getattr(config, "family", None)
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown channel family {name!r}") from None
