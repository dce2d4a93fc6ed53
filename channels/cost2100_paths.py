"""COST 2100 paths per BS element: the MPCs, DMC and LOS paths of a drawn block with their
per-element delays (spherical wavefront) and gains. Part of :mod:`linksim.channels.cost2100`.

**Spherical wavefront.** Every path's delay is computed per BS element from the element to the
BS-side scattering point (or to the MS for LOS); the carrier phase ``exp(-j 2 pi f_c tau)`` of
every element is kept in the path gain. A plane-wave shortcut would err by ~3.4 rad over the
band at 300 MHz.

Normalisation and delay reference
---------------------------------
No path loss: the channel carries no distance information (the pipeline normalises each sample
anyway). Each sample's path powers sum to one, ``sum_p |g[e, p]|^2 = 1`` for every element (the
per-element gains differ in phase only), so ``E|H[k, n]|^2 = 1`` averaged over samples. Delays are
relative to the first arrival at any element of the sample (the receiver is synchronised to it):
``min tau = 0``, so the earliest path lands in delay row 0.

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from linksim.channels.cost2100_env import SPEED_OF_LIGHT, Cost2100Environment, get_environment
from linksim.channels.cost2100_geometry import Cost2100Draw, draw_range


def element_positions(num_bs_antennas: int, wavelength_m: float) -> np.ndarray:
    """x coordinates [Nt] [m] of the half-wavelength ULA centred on the origin."""
    return (np.arange(num_bs_antennas) - (num_bs_antennas - 1) / 2.0) * (wavelength_m / 2.0)


@dataclass
class BlockPaths:
    """Paths of a block (MPCs and LOS), ordered by sample; every element sees the same paths.

    ``p_bs [Q, 3]`` BS-side scattering point (the MS for LOS) [m], ``r2 [Q]`` its squared norm
    [m^2], ``rest [Q]`` delay from there on to the MS [s], ``amp [Q]`` complex128 amplitude (no
    phase from delay), ``counts [n]`` paths per sample, ``starts [n + 1]`` sample boundaries,
    ``x [Nt]`` element positions [m], ``first [n]`` first arrival at any element [s].
    """

    p_bs: np.ndarray
    r2: np.ndarray
    rest: np.ndarray
    amp: np.ndarray
    counts: np.ndarray
    starts: np.ndarray
    x: np.ndarray
    first: np.ndarray

    def delays(self, x: np.ndarray, q0: int = 0, q1: int | None = None) -> np.ndarray:
        """Absolute delays ``[len(x), q1 - q0]`` [s] from the elements at ``x`` to the MS."""
        sl = slice(q0, q1)
        return _element_delays(np.asarray(x, dtype=np.float64)[:, None], self.r2[None, sl],
                               self.p_bs[None, sl, 0], self.rest[None, sl])


def _element_delays(x: np.ndarray, r2: np.ndarray, px: np.ndarray, rest: np.ndarray
                    ) -> np.ndarray:
    """``|x e_x - p| / c + rest`` [s] (spherical wavefront), broadcast over the arguments.

    Formed as ``sqrt(|p|^2 - 2 x p_x + x^2) / c + rest``: the same arithmetic for any slice, so a
    delay does not depend on which slice of elements or paths it is computed in.
    """
    return np.sqrt(np.maximum(r2 - 2.0 * x * px + x**2, 0.0)) / SPEED_OF_LIGHT + rest


def paths_from_draw(d: Cost2100Draw, env: Cost2100Environment, nt: int) -> BlockPaths:
    """Paths of a draw: MPCs of every cluster and one LOS path for samples that have one."""
    n = d.n
    p_bs = d.mpc_bs.reshape(-1, 3)
    rest = d.mpc_rest.reshape(-1)
    amp = d.mpc_gain.reshape(-1)
    psample = np.repeat(d.cluster_sample, d.mpc_bs.shape[1])
    los = np.flatnonzero(d.los_gain > 0)
    n_dmc = d.dmc_bs.shape[1]
    if los.size or n_dmc:
        # per sample: the LOS path, the specular MPCs, then the DMC paths (cluster by cluster)
        p_bs = np.concatenate([d.ms[los], p_bs, d.dmc_bs.reshape(-1, 3)])
        rest = np.concatenate([np.zeros(los.size), rest, d.dmc_rest.reshape(-1)])
        amp = np.concatenate([d.los_gain[los].astype(np.complex128), amp,
                              d.dmc_gain.reshape(-1)])
        psample = np.concatenate([los, psample, np.repeat(d.cluster_sample, n_dmc)])
        order = np.argsort(psample, kind="stable")
        p_bs, rest, amp, psample = p_bs[order], rest[order], amp[order], psample[order]
    counts = np.bincount(psample, minlength=n)
    starts = np.r_[0, np.cumsum(counts)]
    x = element_positions(nt, env.wavelength_m)
    paths = BlockPaths(p_bs=p_bs, r2=np.sum(p_bs**2, axis=1), rest=rest, amp=amp, counts=counts,
                   starts=starts, x=x, first=np.zeros(n))
    # first arrival: over elements the distance is smallest at the element nearest to p_x
    spacing = env.wavelength_m / 2.0
    near = np.clip(np.rint(p_bs[:, 0] / spacing + (nt - 1) / 2.0), 0, nt - 1).astype(np.int64)
    tau_near = _element_delays(x[near], paths.r2, p_bs[:, 0], rest)
    has = np.flatnonzero(counts)
    if has.size:
        paths.first[has] = np.minimum.reduceat(tau_near, starts[has])
    return paths


@dataclass
class _Rows:
    """Paths of a block as rows ordered (element, sample, path), grouped by (element, sample).

    ``amp [R]`` complex128 path amplitude (no phase from delay), ``cycles [R]`` carrier phase
    ``f_c tau_abs`` [cycles], ``tau [R]`` delay relative to the sample's first arrival [s],
    ``offsets [Nt*n + 1]`` group boundaries, ``n`` samples, ``nt`` elements, ``counts [n]`` paths
    per sample (every element has the same paths).
    """

    amp: np.ndarray
    cycles: np.ndarray
    tau: np.ndarray
    offsets: np.ndarray
    n: int
    nt: int
    counts: np.ndarray


def _rows_from_draw(d: Cost2100Draw, env: Cost2100Environment, nt: int) -> _Rows:
    """Per-element delays (spherical wavefront) and gains of every path of a draw."""
    p = paths_from_draw(d, env, nt)
    n, q = d.n, p.amp.size
    tau_abs = p.delays(p.x)  # [Nt, Q]
    tau = tau_abs - np.repeat(p.first, p.counts)[None, :]
    offsets = np.r_[(np.arange(nt)[:, None] * q + p.starts[None, :-1]).reshape(-1), nt * q]
    return _Rows(amp=np.broadcast_to(p.amp, (nt, q)).reshape(-1),
                 cycles=(env.carrier_frequency_hz * tau_abs).reshape(-1), tau=tau.reshape(-1),
                 offsets=offsets, n=n, nt=nt, counts=p.counts)


def _rows_to_padded(rows: _Rows, num_paths: int, double: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Rows -> ``g [n, Nt, P]`` complex64 (carrier phase included), ``tau [n, Nt, P]`` float32
    (complex128 and float64 with ``double``)."""
    n, nt = rows.n, rows.nt
    q = rows.tau.size // nt
    psample = np.repeat(np.arange(n), rows.counts)
    slot = np.arange(q) - (np.cumsum(rows.counts) - rows.counts)[psample]
    g = np.zeros((n, nt, num_paths), np.complex128 if double else np.complex64)
    tau = np.zeros((n, nt, num_paths), np.float64 if double else np.float32)
    frac = rows.cycles - np.floor(rows.cycles)
    gv = (rows.amp * np.exp(-2j * np.pi * frac)).reshape(nt, q)
    g[psample, :, slot] = gv.T
    tau[psample, :, slot] = rows.tau.reshape(nt, q).T
    return g, tau


def generate_cost2100_paths(
    n: int,
    environment: str | Cost2100Environment,
    num_bs_antennas: int = 32,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-BS-element path gains and delays of ``n`` COST 2100 snapshots.

    ``H[k, e] = sum_p g[e, p] exp(-j 2 pi f_k tau[e, p])`` on baseband subcarriers ``f_k``.
    Paths are the MPCs of all clusters (and the LOS path where present), padded with zero gains
    (and zero delays) to the largest count ``P`` of the call. ``sum_p |g[e, p]|^2 = 1`` for every
    sample and element (no path loss), delays are relative to the sample's first arrival
    (``min tau = 0``). The same ``seed`` gives the same samples as
    :func:`linksim.channels.cost2100.generate_cost2100_ad`.

    Parameters
    ----------
    n : int
        Number of samples.
    environment : str or Cost2100Environment
        A key of :data:`~linksim.channels.cost2100_env.ENVIRONMENTS` or a parameter set.
    num_bs_antennas : int
        ``Nt``.
    seed : int
        Non-negative seed.

    Returns
    -------
    g : [n, Nt, P] complex64
        Path gains, carrier phase ``exp(-j 2 pi f_c tau_abs)`` of each element included.
    tau : [n, Nt, P] float32
        Path delays per element [s].
    """
    return generate_cost2100_paths_range(0, n, environment, num_bs_antennas, seed)


def generate_cost2100_paths_range(
    start: int,
    stop: int,
    environment: str | Cost2100Environment,
    num_bs_antennas: int = 32,
    seed: int = 0,
    double: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``start:stop`` of :func:`generate_cost2100_paths` (same ``seed``), padded to
    the largest path count ``P`` among them.

    Parameters
    ----------
    start, stop : int
        Sample range, ``0 <= start`` (empty if ``stop <= start``).
    environment, num_bs_antennas, seed
        As :func:`generate_cost2100_paths`.
    double : bool
        Return complex128 gains and float64 delays (their float64 values before rounding).

    Returns
    -------
    g : [stop - start, Nt, P] complex64 (complex128 with ``double``)
    tau : [stop - start, Nt, P] float32 (float64 with ``double``) [s]
    """
    env = get_environment(environment)
    nt = int(num_bs_antennas)
    start = int(start)
    stop = max(int(stop), start)  # an empty range, as generate_cost2100_paths with n <= 0
    if start < 0:
        raise ValueError("start must be >= 0")
    parts = [_rows_from_draw(d, env, nt) for _, d in draw_range(start, stop, env, seed)]
    p = max([int(r.counts.max()) for r in parts if r.n], default=0)
    out = [_rows_to_padded(r, p, double) for r in parts]
    if not out:
        return (np.zeros((0, nt, 0), np.complex128 if double else np.complex64),
                np.zeros((0, nt, 0), np.float64 if double else np.float32))
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

