"""Training data streamed from disk: codec inputs computed block by block.

A :class:`StreamedCsi` stands for the codec inputs ``[N, Na, Nt, 2]`` of one split of a data
set without holding them: it reads ``block`` samples at a time from a data set (typically one
read with ``lazy=True``, whose arrays stay on disk), computes their codec inputs exactly as
:func:`codec_inputs_range` does (the LS estimate at a pilot SNR, truncated angular-delay,
real/imag split), applies per-sample unit power and the normaliser, and hands out batches.

Everything a block holds is a function of the block's index alone: the pilot noise of block
``i`` is drawn from ``rng_for(seed, *labels, "block", i)``, so a block is the same whatever
order the blocks are read in, and every epoch sees the same inputs (as in memory). Each epoch
visits the blocks in a seeded random order and each block's samples in a seeded random order;
batches are cut from that stream (a batch may span two blocks), so an epoch has
``ceil(N / batch_size)`` batches, every sample exactly once, as in memory. The next block is
computed in a background thread while the current one is consumed.

Memory: one block of codec inputs (``block x Na x Nt x 2`` float32, 32 MB for 4096 x 32 x 32),
two while prefetching, plus one batch of space-frequency channels of ``batch_size`` samples
(``batch_size x Nc x Nt`` complex64) while a block is computed.

With ``scratch_dir``, the codec inputs of a block are computed once (by the first pass over
it, typically the normaliser fit) and kept in an anonymous scratch HDF5 file in that directory
(``N x Na x Nt x 2`` float32 on disk, as much as the angular-delay data; unlinked from the
start, so nothing is left behind even after a crash; freed by :meth:`StreamedCsi.close` or when
the source is collected); later epochs read them back instead of recomputing them (the
space-frequency round trip and the LS estimate cost about as much as a training step).
"""

from __future__ import annotations

import math
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from linksim.phy import estimation, transforms
from linksim.seeding import rng_for


def codec_inputs_range(ds, start: int, stop: int, num_rows: int, batch_size: int,
                       snr_db: float | None, rng: np.random.Generator | None,
                       pilot_length: int | None = None,
                       reference: str = "per_sample") -> np.ndarray:
    """Real truncated angular-delay CSI ``[stop - start, Na, Nt, 2]`` float32 of samples
    ``start:stop`` of a data set (not normalised).

    Reads ``ds.channels`` in batches of at most ``batch_size`` samples. With ``snr_db`` set,
    the CSI is the LS estimate at that pilot SNR (noise from ``rng``, drawn batch after batch),
    else the true channel.
    """
    out = np.empty((stop - start, num_rows, ds.num_antennas, 2), np.float32)
    for s in range(start, stop, batch_size):
        h = ds.channels(s, min(s + batch_size, stop))
        if snr_db is not None:
            h = estimation.estimate_channel(h, snr_db, rng, pilot_length=pilot_length,
                                            reference=reference)
        out[s - start:s - start + len(h)] = transforms.complex_to_real(
            transforms.truncated_angular_delay(h, num_rows))
    return out


class _Scratch:
    """Codec inputs ``[N, Na, Nt, 2]`` float32 of the blocks computed so far, in an unlinked
    temporary HDF5 file created on the first :meth:`put`."""

    def __init__(self, directory: Path, shape: tuple[int, ...]):
        self.directory, self.shape = Path(directory), tuple(shape)
        self.done: set[int] = set()
        self._file = self._h5 = self._x = None
        self._lock = threading.Lock()

    def get(self, i: int, start: int, stop: int) -> np.ndarray | None:
        with self._lock:
            return self._x[start:stop] if i in self.done else None

    def put(self, i: int, start: int, stop: int, x: np.ndarray) -> None:
        import h5py

        with self._lock:
            if self._x is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._file = tempfile.TemporaryFile(  # noqa: SIM115 (lives with the source)
                    prefix=".linksim-stream-", suffix=".h5", dir=self.directory)
                self._h5 = h5py.File(self._file, "w")
                self._x = self._h5.create_dataset("x", shape=self.shape, dtype=np.float32)
                weakref.finalize(self, _close_all, self._h5, self._file)
            self._x[start:stop] = x
            self.done.add(i)

    def close(self) -> None:
        with self._lock:
            if self._h5 is not None:
                _close_all(self._h5, self._file)
            self._file = self._h5 = self._x = None
            self.done.clear()


def _close_all(*handles) -> None:
    for h in handles:
        h.close()


class StreamedCsi:
    """Codec inputs of a data set split, computed from disk one block at a time.

    Parameters
    ----------
    ds : AdDataset or CirDataset
        The split (lazy or in memory); only ``ds.channels(start, stop)``, ``len(ds)`` and
        ``ds.num_antennas`` are used.
    num_rows : int
        ``Na``, delay rows kept.
    block : int
        Samples per block read from ``ds`` (the unit of shuffling and of memory).
    batch_size : int
        Samples per ``ds.channels`` call within a block (bounds the space-frequency batch).
    snr_db : float or None
        Pilot SNR of the LS estimate [dB]; ``None``: the true channel.
    seed : int
    labels : tuple
        Pilot noise of block ``i`` from ``rng_for(seed, *labels, "block", i)``.
    pilot_length : int or None
    reference : str
        Estimation options (:func:`linksim.phy.estimation.estimate_channel`).
    sample_normalization : str
        Per-sample scaling, ``"none"``, ``"power"`` or ``"peak"``
        (:func:`linksim.phy.transforms.sample_normalize`).
    power_normalization : bool
        Shorthand for ``sample_normalization="power"`` (when true).
    normalizer : Normalizer or None
        Applied after the per-sample scaling; needed for :meth:`block` and the batch
        iterators.
    limit : int or None
        Use the first ``limit`` samples only.
    prefetch : bool
        Compute the next block in a background thread.
    scratch_dir : Path or None
        Keep the computed codec inputs in an anonymous scratch file there (see the module
        docstring); ``None`` recomputes every block on every pass.
    """

    def __init__(self, ds, num_rows: int, *, block: int = 4096, batch_size: int = 250,
                 snr_db: float | None = None, seed: int = 0, labels: tuple = (),
                 pilot_length: int | None = None, reference: str = "per_sample",
                 sample_normalization: str = "none", power_normalization: bool = False,
                 normalizer=None, limit: int | None = None, prefetch: bool = True,
                 scratch_dir: Path | None = None):
        if int(block) < 1 or int(batch_size) < 1:
            raise ValueError(f"block and batch_size must be >= 1, got {block}, {batch_size}")
        self.ds = ds
        self.num_rows = int(num_rows)
        self.block_size = int(block)
        self.batch_size = int(batch_size)
        self.snr_db = snr_db
        self.seed = int(seed)
        self.labels = tuple(labels)
        self.pilot_length = pilot_length
        self.reference = reference
        self.sample_normalization = "power" if power_normalization else sample_normalization
        if self.sample_normalization not in transforms.SAMPLE_NORMALIZATIONS:
            raise ValueError(f"unknown sample_normalization {self.sample_normalization!r}")
        self.normalizer = normalizer
        self.n = len(ds) if limit is None else min(int(limit), len(ds))
        self.prefetch = prefetch
        self._scratch = None if scratch_dir is None else _Scratch(scratch_dir, self.shape)

    def close(self) -> None:
        """Free the scratch file (if any); the source stays usable (blocks are recomputed)."""
        if self._scratch is not None:
            self._scratch.close()

    def __len__(self) -> int:
        return self.n

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(N, Na, Nt, 2)``, the shape of the array this source stands for."""
        return (self.n, self.num_rows, self.ds.num_antennas, 2)

    @property
    def num_blocks(self) -> int:
        return math.ceil(self.n / self.block_size)

    def span(self, i: int) -> tuple[int, int]:
        """Samples ``start, stop`` of block ``i``."""
        if not 0 <= i < self.num_blocks:
            raise IndexError(f"block {i} of {self.num_blocks}")
        return i * self.block_size, min(self.n, (i + 1) * self.block_size)

    def with_normalizer(self, normalizer) -> StreamedCsi:
        """The same source with ``normalizer`` applied (sharing the scratch file: close either
        to free it)."""
        out = object.__new__(StreamedCsi)
        out.__dict__.update(self.__dict__, normalizer=normalizer)
        return out

    # -- one block ---------------------------------------------------------------------------
    def raw_block(self, i: int) -> np.ndarray:
        """Codec inputs of block ``i``, not normalised: ``[b, Na, Nt, 2]`` float32."""
        start, stop = self.span(i)
        if self._scratch is not None:
            x = self._scratch.get(i, start, stop)
            if x is not None:
                return x
        rng = (rng_for(self.seed, *self.labels, "block", i) if self.snr_db is not None
               else None)
        x = codec_inputs_range(self.ds, start, stop, self.num_rows, self.batch_size,
                               self.snr_db, rng, self.pilot_length, self.reference)
        if self._scratch is not None:
            self._scratch.put(i, start, stop, x)
        return x

    def unit_block(self, i: int) -> np.ndarray:
        """Block ``i`` after the per-sample scaling, before the normaliser."""
        return transforms.sample_normalize(self.raw_block(i), self.sample_normalization)[0]

    def block(self, i: int) -> np.ndarray:
        """Block ``i`` as the codec sees it (per-sample scaling, normaliser):
        ``[b, Na, Nt, 2]``."""
        if self.normalizer is None:
            raise RuntimeError("StreamedCsi: no normaliser set (fit_normalizer first)")
        return self.normalizer.forward(self.unit_block(i))

    # -- passes ------------------------------------------------------------------------------
    def _blocks(self, order: Iterable[int], fn: Callable[[int], np.ndarray]
                ) -> Iterator[np.ndarray]:
        """``fn(i)`` for ``i`` in ``order``, the next one computed while this one is used."""
        order = list(order)
        if not self.prefetch or len(order) < 2:
            for i in order:
                yield fn(i)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="linksim-stream") as ex:
            nxt = ex.submit(fn, order[0])
            try:
                for k in range(len(order)):
                    cur = nxt.result()
                    nxt = ex.submit(fn, order[k + 1]) if k + 1 < len(order) else None
                    yield cur
            finally:
                if nxt is not None:
                    nxt.cancel()

    def unit_blocks(self) -> Iterator[np.ndarray]:
        """Every block in order, after the per-sample scaling (what the normaliser is fitted
        on)."""
        return self._blocks(range(self.num_blocks), self.unit_block)

    def fit_normalizer(self, rule: str | float = "max", mode: str = "unit_interval"):
        """The :class:`~linksim.phy.transforms.Normalizer` of the whole split, in one pass
        (:meth:`~linksim.phy.transforms.Normalizer.fit_stream`)."""
        return transforms.Normalizer.fit_stream(self.unit_blocks(), rule, mode)

    @staticmethod
    def _cut(blocks: Iterable[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
        """Batches of ``batch_size`` cut from a stream of blocks (the last may be shorter)."""
        rest = None
        for x in blocks:
            if rest is not None:  # complete the batch begun in the previous block
                need = batch_size - len(rest)
                rest = np.concatenate([rest, x[:need]])
                x = x[need:]
                if len(rest) < batch_size:
                    continue
                yield rest
                rest = None
            full = len(x) - len(x) % batch_size
            for s in range(0, full, batch_size):
                yield x[s:s + batch_size]
            if full < len(x):
                rest = x[full:]
        if rest is not None:
            yield rest

    def ordered_batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """The split in order, in batches of ``batch_size`` (normalised), e.g. validation."""
        return self._cut(self._blocks(range(self.num_blocks), self.block), batch_size)

    def epoch_batches(self, epoch: int, batch_size: int, seed: int) -> Iterator[np.ndarray]:
        """Shuffled batches of one epoch (normalised, ``[<=batch_size, Na, Nt, 2]`` float32).

        Blocks in the order ``rng.permutation(num_blocks)``, each block's samples in the order
        ``rng.permutation(b)`` (drawn when the block is reached), with
        ``rng = rng_for(seed, "stream-epoch", epoch)``: every sample exactly once per epoch.
        """
        rng = rng_for(seed, "stream-epoch", epoch)
        order = rng.permutation(self.num_blocks)
        shuffled = (x[rng.permutation(len(x))] for x in self._blocks(order, self.block))
        return self._cut(shuffled, batch_size)

    def to_array(self) -> np.ndarray:
        """The whole split in memory (normalised), ``[N, Na, Nt, 2]`` float32: for tests and
        for trainers that need arrays."""
        out = np.empty(self.shape, np.float32)
        for i, x in zip(range(self.num_blocks), self._blocks(range(self.num_blocks), self.block),
                        strict=True):
            start, _ = self.span(i)
            out[start:start + len(x)] = x
        return out


def is_stream(x) -> bool:
    """Whether ``x`` is a streamed source (has ``epoch_batches``) rather than an array."""
    return hasattr(x, "epoch_batches") and hasattr(x, "ordered_batches")
