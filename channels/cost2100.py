"""COST 2100-style geometry-based stochastic channels (our implementation, NumPy only).

One BS with a horizontal ULA of ``Nt`` omni elements at half a wavelength, one single-antenna
MS, independent snapshots (the CsiNet setting). The generator is split along the physical chain:

* :mod:`linksim.channels.cost2100_env`: the environments (published parameter sets and the
  calibrated CsiNet families, :data:`ENVIRONMENTS`), the VR gain and the cluster power decay,
  and the decisions on the reference code's quirks;
* :mod:`linksim.channels.cost2100_geometry`: what is modelled and how a snapshot is drawn
  (visibility regions, far and local clusters, MPCs, LOS, dense multipath), block by block from
  seeded streams (:data:`RNG_BLOCK`);
* :mod:`linksim.channels.cost2100_paths`: the paths per BS element (spherical wavefront,
  normalisation, delays relative to the first arrival), :func:`generate_cost2100_paths`;
* :mod:`linksim.channels.cost2100_nufft`: the subcarrier grid, the direct frequency response and
  the non-uniform FFT behind the closed-form angular-delay channel;
* this module: the angular-delay generation (:func:`generate_cost2100_ad`,
  :func:`iter_ad_tasks`, :func:`angular_delay_from_paths`), in cache-sized chunks and in worker
  processes, and the public names of the parts above (``from linksim.channels import cost2100;
  cost2100.ENVIRONMENTS``, ``cost2100.generate_cost2100_ad(...)``);
* :mod:`linksim.channels.cost2100_sionna`: the generator as a Sionna ``ChannelModel``.

Delays, coefficients and NUFFT are formed in cache-sized chunks of (element, sample) groups
(:data:`KERNEL_CHUNK_ROWS`, :data:`KERNEL_CHUNK_GROUPS`); every group sees only its own paths,
in a fixed order, so the result does not depend on the chunking, on ``n``, on ``batch_size``
or on ``workers``.

Speed (2-core project machine, Nt = Na = 32, Nc = 1024, benchmarks/bench_cost2100.py with
``--baseline`` for the previous version, closed-form Dirichlet rows plus NUFFT energy): under a
load average of 8-10 the two-worker throughput was 1.7x (indoor), 1.65x (semi-urban LOS) and
1.85x (NLOS) the previous version's in the same run, and the CPU time per sample 1.4-2.2x lower
(one process: ~3.7 ms per NLOS sample, two thirds of it the NUFFT spreading and FFTs). The
previous version measured ~1,250 / ~400 / ~270-300 samples/s (indoor / LOS / NLOS) with two
workers on a partly loaded machine. Those indoor figures are of the published set (now
``indoor_5.3GHz_reference``); the DMC paths of the calibrated ``indoor_5.3GHz`` (~12 clusters x
(3 + 10) paths instead of x 3) cost it ~1.5x the CPU time per sample (benchmarks/bench_cost2100.py
with both names, docs/channels.md).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import numpy as np
from linksim.channels.cost2100_env import (  # noqa: F401  (public names of the generator)
    ENVIRONMENTS,
    INDOOR_DMC,
    PARAMETER_ORDER,
    SPEED_OF_LIGHT,
    Cost2100Environment,
    cluster_decay,
    get_environment,
    lognormal_from_mean_std,
    vr_cover_ratio,
    vr_gain,
)
from linksim.channels.cost2100_geometry import (  # noqa: F401
    BS_LOCAL,
    MAX_SPREAD_DEG,
    MS_LOCAL,
    RNG_BLOCK,
    SINGLE,
    TWIN,
    Cost2100Draw,
    block_rng,
    draw_block,
    draw_range,
    draw_samples,
    select_samples,
)
from linksim.channels.cost2100_nufft import (  # noqa: F401
    NUFFT_BETA,
    NUFFT_WIDTH,
    baseband_grid,
    coefficients,
    frequency_response,
    kept_fraction,
    rows_energy,
    spectrum,
    to_angular,
)
from linksim.channels.cost2100_paths import (  # noqa: F401
    element_positions,
    generate_cost2100_paths,
    generate_cost2100_paths_range,
    paths_from_draw,
)

#: Version of the generated numbers, for cache keys: bumped whenever the same seed and settings
#: give different data (2: delay rows by NUFFT instead of the closed-form Dirichlet sum; changes
#: the data by ~1e-6 relative; 3: ``indoor_5.3GHz`` is the calibrated CsiNet indoor family with
#: dense multipath, the published set moved to ``indoor_5.3GHz_reference``, new
#: ``outdoor_300MHz``; the published sets give the numbers of version 2).
GENERATOR_VERSION = 3
#: Rows (path x element) and groups (sample x element) spread per chunk (keeps it in cache).
KERNEL_CHUNK_ROWS = 16384
KERNEL_CHUNK_GROUPS = 128


def _delay_rows(t: np.ndarray, cycles: np.ndarray, amp: np.ndarray, offsets: np.ndarray,
                num_rows: int, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``Na`` rows of the unitary delay transform, and the total energy, per group.

    Row ``r`` contributes ``amp_r exp(-j 2 pi (cycles_r + k t_r / Nc))`` to tone ``k = 0..Nc-1``
    of its group; rows are sorted by group, group ``g`` holds rows ``offsets[g]:offsets[g+1]``.
    Work is done in chunks of whole groups (about :data:`KERNEL_CHUNK_ROWS` rows, at most
    :data:`KERNEL_CHUNK_GROUPS` groups); results do not depend on chunking.

    Parameters
    ----------
    t : [R] float64
        Delays in bins (``tau Nc df``).
    cycles : [R] float64
        Phase of the coefficient [cycles] (carrier and ``f_0 tau``).
    amp : [R] complex
        Amplitudes.
    offsets : [G + 1] int
        Group boundaries.
    num_rows, nc : int
        ``Na`` and ``Nc``.

    Returns
    -------
    h : [G, Na] complex128
        ``(1/sqrt(Nc)) sum_k H_k exp(+j 2 pi k m / Nc)`` for ``m < Na``.
    e : [G] float64
        ``sum_k |H_k|^2``.
    """
    ng = offsets.size - 1
    h = np.zeros((ng, int(num_rows)), np.complex128)
    e = np.zeros(ng)
    g0 = 0
    while g0 < ng:
        g1 = int(np.searchsorted(offsets, offsets[g0] + KERNEL_CHUNK_ROWS, side="right")) - 1
        g1 = min(max(g1, g0 + 1), g0 + KERNEL_CHUNK_GROUPS, ng)
        r0, r1 = int(offsets[g0]), int(offsets[g1])
        if r1 > r0:
            tc = t[r0:r1]
            c = coefficients(cycles[r0:r1] + ((nc // 2) / nc) * tc, amp[r0:r1])  # centred k'
            spec = spectrum(tc, c, np.diff(offsets[g0:g1 + 1]), nc)
            h[g0:g1], e[g0:g1] = rows_energy(spec, num_rows, nc)
        g0 = g1
    return h, e


def angular_delay_from_paths(
    g: np.ndarray,
    tau: np.ndarray,
    num_subcarriers: int = 1024,
    bandwidth_hz: float = 20e6,
    num_delay_rows: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Truncated angular-delay channel of per-element paths, in closed form.

    Equals ``linksim.phy.transforms.truncated_angular_delay(H, Na)`` and
    ``linksim.phy.transforms.energy_kept(H, Na)`` of
    ``H = frequency_response(g, tau, linksim.channels.uma.subcarrier_frequencies(Nc, B / Nc))`` without
    building ``H``. Zero-gain (padding) paths are skipped.

    Parameters
    ----------
    g : [n, Nt, P] complex
        Path gains.
    tau : [n, Nt, P] float
        Path delays [s].
    num_subcarriers, bandwidth_hz, num_delay_rows : int, float, int
        ``Nc``, bandwidth ``B`` [Hz], ``Na``.

    Returns
    -------
    h_ad : [n, Na, Nt] complex64
    energy_kept : [n] float32
        Energy in the ``Na`` kept rows / energy over all ``Nc`` rows.
    """
    g = np.asarray(g)
    tau = np.asarray(tau)
    if g.ndim != 3 or g.shape != tau.shape:
        raise ValueError(f"expected g and tau [n, Nt, P], got {g.shape} and {tau.shape}")
    n, nt, _ = g.shape
    f0, df = baseband_grid(num_subcarriers, bandwidth_hz)
    nc = int(num_subcarriers)
    ge = g.transpose(1, 0, 2)  # [Nt, n, P]: groups (element, sample)
    te = tau.transpose(1, 0, 2).astype(np.float64)
    keep = ge != 0
    counts = keep.sum(axis=2).reshape(-1)
    offsets = np.r_[0, np.cumsum(counts)]
    amp = ge[keep].astype(np.complex128)
    tk = te[keep]
    h_d, e = _delay_rows(tk * (nc * df), f0 * tk, amp, offsets, num_delay_rows, nc)
    h_ad = to_angular(h_d, nt, n)
    return h_ad, kept_fraction(h_d, e, nt, n)


# --------------------------------------------------------------------------- AD generation

def _chunks(counts: np.ndarray, nt: int) -> Iterator[tuple[int, int, int, int]]:
    """``(e0, e1, s0, s1)``: elements ``e0:e1`` x samples ``s0:s1`` of a block, in cache-sized
    chunks (whole elements while an element's paths fit in :data:`KERNEL_CHUNK_ROWS`, else runs
    of samples of one element; at most :data:`KERNEL_CHUNK_GROUPS` groups)."""
    n = counts.size
    q = int(counts.sum())
    if q <= KERNEL_CHUNK_ROWS:
        ne = max(1, min(KERNEL_CHUNK_ROWS // max(q, 1), KERNEL_CHUNK_GROUPS // max(n, 1)))
        for e0 in range(0, nt, ne):
            yield e0, min(nt, e0 + ne), 0, n
        return
    ends = np.cumsum(counts)
    runs, s0 = [], 0
    while s0 < n:
        before = int(ends[s0 - 1]) if s0 else 0
        s1 = int(np.searchsorted(ends, before + KERNEL_CHUNK_ROWS, side="right"))
        s1 = min(max(s1, s0 + 1), s0 + KERNEL_CHUNK_GROUPS, n)
        runs.append((s0, s1))
        s0 = s1
    for e in range(nt):
        for s0, s1 in runs:
            yield e, e + 1, s0, s1


def _ad_block(d: Cost2100Draw, env: Cost2100Environment, nt: int, nc: int, df: float,
              na: int) -> tuple[np.ndarray, np.ndarray]:
    """Truncated angular-delay channels ``[n, Na, Nt]`` and energy kept ``[n]`` of one draw.

    Delays, coefficients and NUFFT are formed chunk by chunk (:func:`_chunks`) so that the
    per-(element, path) arrays stay in cache. With ``f_k = (k' + Nc//2) df + f_0`` and
    ``f_0 = -(Nc//2) df`` the coefficient of the centred tones is ``amp exp(-j 2 pi f_c tau_abs)``.
    """
    p = paths_from_draw(d, env, nt)
    n = d.n
    first = np.repeat(p.first, p.counts)
    h_d = np.zeros((nt, n, na), np.complex128)
    e = np.zeros((nt, n))
    for e0, e1, s0, s1 in _chunks(p.counts, nt):
        q0, q1 = int(p.starts[s0]), int(p.starts[s1])
        if q1 == q0:
            continue
        tau_abs = p.delays(p.x[e0:e1], q0, q1)  # [ne, q]
        t = (tau_abs - first[None, q0:q1]) * (nc * df)
        c = coefficients(env.carrier_frequency_hz * tau_abs, p.amp[None, q0:q1])
        spec = spectrum(t.reshape(-1), c.reshape(-1), np.tile(p.counts[s0:s1], e1 - e0), nc)
        hh, ee = rows_energy(spec, na, nc)
        h_d[e0:e1, s0:s1] = hh.reshape(e1 - e0, s1 - s0, na)
        e[e0:e1, s0:s1] = ee.reshape(e1 - e0, s1 - s0)
    h_d = h_d.reshape(nt * n, na)
    return to_angular(h_d, nt, n), kept_fraction(h_d, e.reshape(-1), nt, n)


def _ad_blocks(seed: int, env: Cost2100Environment, nt: int, nc: int, bandwidth_hz: float,
               na: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``start:stop`` (``start`` a multiple of ``RNG_BLOCK``) of :func:`generate_cost2100_ad`."""
    _, df = baseband_grid(nc, bandwidth_hz)
    parts = [_ad_block(d, env, nt, nc, df, na)
             for _, d in draw_samples(stop, env, seed, first_block=start // RNG_BLOCK)]
    return np.concatenate([h for h, _ in parts]), np.concatenate([k for _, k in parts])


def die_with_parent(parent_pid: int) -> None:
    """Worker-process initializer: ask the kernel to kill this worker when its parent dies
    (Linux ``PR_SET_PDEATHSIG``), so that the generation workers of a run killed with
    ``kill -9`` stop too instead of running on as orphans. A no-op elsewhere.

    Parameters
    ----------
    parent_pid : int
        The pid of the process that starts the pool; if it is already gone when the worker
        starts, the worker exits at once.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the call above
        os._exit(1)


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Environment for worker processes: one BLAS/OpenMP thread each (restored on exit)."""
    keys = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def generate_cost2100_ad(
    n: int,
    environment: str | Cost2100Environment,
    num_bs_antennas: int = 32,
    num_subcarriers: int = 1024,
    bandwidth_hz: float = 20e6,
    num_delay_rows: int = 32,
    seed: int = 0,
    workers: int = 1,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Truncated angular-delay COST 2100 channels, computed in closed form.

    Same samples as :func:`generate_cost2100_paths` with the same seed, transformed as
    :func:`angular_delay_from_paths` does (here from float64 delays), i.e. linksim's
    ``H_ad = F_d H F_a^H`` on the subcarriers ``f_k = (k - Nc//2) B / Nc``, first ``Na`` rows.

    Deterministic in ``(seed, environment, num_bs_antennas, num_subcarriers, bandwidth_hz,
    num_delay_rows)``: independent of ``workers`` and ``batch_size``, and the first ``n``
    samples do not depend on ``n``.

    Parameters
    ----------
    n : int
        Number of samples.
    environment : str or Cost2100Environment
    num_bs_antennas, num_subcarriers, bandwidth_hz, num_delay_rows : int, int, float, int
        ``Nt``, ``Nc``, bandwidth [Hz], ``Na``.
    seed : int
        Non-negative seed.
    workers : int
        Processes (``> 1``: a spawn-context process pool over batches, one BLAS thread each).
    batch_size : int
        Samples per task (rounded up to a multiple of :data:`RNG_BLOCK`); no effect on the
        result.

    Returns
    -------
    h_ad : [n, Na, Nt] complex64
    energy_kept : [n] float32
        Energy in the kept rows / total energy over all ``Nc`` rows.
    """
    parts = list(iter_ad_tasks(n, environment, num_bs_antennas, num_subcarriers, bandwidth_hz,
                               num_delay_rows, seed, workers=workers, task_size=batch_size))
    if not parts:
        return (np.zeros((0, int(num_delay_rows), int(num_bs_antennas)), np.complex64),
                np.zeros(0, np.float32))
    return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def iter_ad_tasks(
    n: int,
    environment: str | Cost2100Environment,
    num_bs_antennas: int = 32,
    num_subcarriers: int = 1024,
    bandwidth_hz: float = 20e6,
    num_delay_rows: int = 32,
    seed: int = 0,
    *,
    workers: int = 1,
    task_size: int = 256,
    pool_min: int = 0,
    start: int = 0,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The samples of :func:`generate_cost2100_ad`, task by task and in order.

    Yields ``(start, h_ad [b, Na, Nt] complex64, energy_kept [b] float32)`` for samples
    ``start:start + b``, tasks of ``task_size`` samples (rounded up to a multiple of
    :data:`RNG_BLOCK`; each block of samples is seeded by its index, so a task's samples do not
    depend on the others). With ``workers > 1``, two or more tasks and ``n >= pool_min``, a
    spawn-context pool of ``workers`` processes (one BLAS thread each) computes them, at most two
    tasks per worker in flight: the caller holds O(task) samples, not O(n). Closing the
    iterator early cancels the pending tasks and stops the pool. The arguments are checked when
    the iteration starts.

    Parameters
    ----------
    n, environment, num_bs_antennas, num_subcarriers, bandwidth_hz, num_delay_rows, seed
        As :func:`generate_cost2100_ad`.
    workers : int
        Worker processes (``<= 1``: this process).
    task_size : int
        Samples per task; no effect on the samples.
    pool_min : int
        Fewest samples worth a pool (one costs seconds to start).
    start : int
        First sample (a multiple of :data:`RNG_BLOCK`): only samples ``start:n`` are drawn,
        the same as those of a draw from 0 (a shard of a split).
    """
    env = get_environment(environment)
    n = int(n)
    if n < 0:
        raise ValueError("n must be >= 0")
    if int(seed) < 0:
        raise ValueError("seed must be >= 0")
    if not 1 <= num_delay_rows <= num_subcarriers:
        raise ValueError("need 1 <= num_delay_rows <= num_subcarriers")
    if int(start) < 0 or int(start) % RNG_BLOCK:
        raise ValueError(f"start must be a non-negative multiple of {RNG_BLOCK}")
    nt, nc, na = int(num_bs_antennas), int(num_subcarriers), int(num_delay_rows)
    step = max(RNG_BLOCK, -(-int(task_size) // RNG_BLOCK) * RNG_BLOCK)
    tasks = [(s, min(n, s + step)) for s in range(int(start), n, step)]
    args = (int(seed), env, nt, nc, float(bandwidth_hz), na)
    workers = int(workers)
    if workers <= 1 or len(tasks) <= 1 or n < pool_min:
        for s, e in tasks:
            yield (s, *_ad_blocks(*args, s, e))
        return
    ctx = multiprocessing.get_context("spawn")
    with (_single_threaded_children(),
          ProcessPoolExecutor(workers, mp_context=ctx, initializer=die_with_parent,
                              initargs=(os.getpid(),)) as ex):
        pending: deque = deque()
        try:
            for s, e in tasks:
                pending.append((s, ex.submit(_ad_blocks, *args, s, e)))
                if len(pending) >= 2 * workers:
                    s0, fut = pending.popleft()
                    yield (s0, *fut.result())
            while pending:
                s0, fut = pending.popleft()
                yield (s0, *fut.result())
        finally:
            for _, fut in pending:
                fut.cancel()
