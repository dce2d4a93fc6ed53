"""COST 2100 snapshot geometry: visibility regions, clusters, MPCs and dense multipath of
independent snapshots, drawn block by block from seeded streams. Part of
:mod:`linksim.channels.cost2100`.

What it models
--------------
One BS with a horizontal ULA of ``Nt`` omni elements at half a wavelength (along the x axis,
centred at the origin), one single-antenna MS drawn uniformly in a square centred on the BS (the
CsiNet setting: 20 m indoor, 400 m semi-urban). Every sample is an independent snapshot: a fresh
MS position and a fresh realisation of the environment. Per sample:

* **Visibility regions (VRs).** Far-cluster VRs are circles of radius ``r_c`` (transition width
  ``l_c`` included) scattered uniformly over the cell with density
  ``rho = n_far / (pi (r_c - l_c)^2)``, one far cluster per VR. Only the VRs that cover the MS
  matter for a snapshot, so we draw exactly those: their number is Poisson with mean
  ``n_far (r_c / (r_c - l_c))^2`` and their centres are uniform in the disc of radius ``r_c``
  around the MS (the same law as the full homogeneous Poisson field seen from the MS; the MS
  regions of the three environments stay inside the cell). This gives ~2.5 ``n_far`` active far
  clusters indoor, ~24 in semi-urban NLOS and ~25 in semi-urban LOS. Indoor ``n_far`` is drawn per
  sample as ``max(1, Poisson(3.8))``. A cluster seen from distance ``d`` to its VR centre gets
  the transition gain ``g = 1/2 - atan(2 sqrt(2) y / sqrt(lambda l_c)) / pi``,
  ``y = d - (r_c - l_c)``, applied to its amplitude (power ``g^2``).
* **Far clusters.** Single-bounce with probability ``k_sel``, twin otherwise. The BS-side
  cluster sits at distance ``U[0, R]`` from the BS and at azimuth ``(BS->MS azimuth) +- N(43, 39)``
  degrees (random sign); the MS-side twin likewise from the MS (around the MS->BS azimuth). Twins
  are joined by a link delay ``tau_min + Exp(mean - tau_min)`` (the table's mean and minimum).
* **Cluster parameters.** Per cluster a 6-vector (shadow fading, delay spread, EoD, AoD, EoA, AoA
  spread) is drawn lognormally with the table's cross-correlations (correlation of the underlying
  normals, order SF, DS, EoD, AoD, EoA, AoA). Table pairs given as mean / standard deviation are
  converted to median / dB spread by :func:`lognormal_from_mean_std`.
* **MPCs.** ``n_mpc`` MPCs per cluster at Gaussian offsets inside the cluster ellipsoid: radial
  (away from the link end) standard deviation ``a = sigma_tau c / 2``, horizontal
  ``d tan(sigma_az)``, vertical ``d tan(sigma_el)``, ``d`` the distance from that link end. A twin
  cluster's MS-side MPCs mirror the BS-side ones (same standard-normal offsets, MS-side axes), so
  the MPC delays of a twin cluster have rms spread ``sigma_tau`` and the azimuths seen from the BS
  (MS) have rms spread ``~sigma_AoD`` (``~sigma_AoA``). Complex MPC gains are CN(0, 1),
  normalised to unit power per cluster.
* **Cluster power** ``10^(SF/10) * g^2 * exp(-k_tau (min(tau_c, tau_b) - tau_0))``: decay with the
  cluster delay ``tau_c`` (geometric delay of the cluster centres plus link delay) in excess of the
  LOS delay ``tau_0``, held constant beyond the cut-off delay ``tau_b``.
* **Local clusters.** An MS-local cluster (always) and, indoor, a BS-local cluster: centred on
  the MS (BS), radial axis along the BS-MS line, extents from the cluster's own draw
  (``a = sigma_tau c / 2``, lateral ``d_0 tan(sigma_AoD)`` for the MS-local cluster seen from the
  BS, ``d_0 tan(sigma_AoA)`` for the BS-local cluster seen from the MS, ``d_0`` = BS-MS distance),
  single bounce, no VR gain and no delay decay (their delay is ~``tau_0``).
* **LOS** (semi-urban LOS only): the direct path, power ``K * g_LOS^2 * (sum of cluster powers)``
  with ``10 log10 K ~ N(mu_K, sigma_K)`` and ``g_LOS`` the transition gain of a LOS VR centred on
  the BS (radius 343 m, transition 93 m), present while the MS is closer than the LOS cut-off.
* **Dense multipath (DMC)**, only in the calibrated ``indoor_5.3GHz``: the COST 2100 model's
  diffuse component, attached to every cluster (local ones included). A fraction
  ``dmc_power_fraction`` of the cluster's power goes to ``dmc_paths`` weak paths (CN(0, 1)
  gains normalised to that share; the specular MPCs keep the rest), placed like the MPCs
  (same centre, axes and radial extent, the same mirroring at the MS side of a twin cluster)
  but ``dmc_spread_factor`` times wider laterally and vertically, and each delayed by an extra
  ``Exp(dmc_delay_s)``: an exponentially decaying delay tail behind the cluster's arrivals,
  wider in angle than its specular part. Its draws come after all others, so the specular part
  of a sample is the same with and without DMC. The published parameter sets have none.

**Reproducibility** (decision 4 on the reference code's quirks). The reference reseeds its RNG from a timer while grouping VRs, so its
   seeded runs are not reproducible. Here every draw comes from
   ``numpy.random.SeedSequence(seed, spawn_key=(block,))`` for fixed blocks of
   ``RNG_BLOCK`` samples (full blocks are always drawn), so the output is a deterministic
   function of ``(seed, environment, num_bs_antennas)`` and of the frequency settings only: it
   does not depend on ``n`` (prefix property), ``batch_size`` or ``workers``.

Other choices (not fixed by channels.md): angular and delay spreads are rms values of the MPC
cloud (the fact sheet's "width ``d tan(spread / 2)``" would give half the rms angular spread);
single-bounce clusters take their extents from the BS-side parameters, their delay spread then
follows the geometry (between 0 and ``sigma_tau``); the cluster azimuth offset gets a random sign;
the semi-urban carrier is 300 MHz (the CsiNet setting; the demo band of the reference is
275-295 MHz); BS, MS and cluster centres share one horizontal plane; the cut-off ``tau_b`` is an
absolute delay. Far clusters per sample are independent draws (no spatial consistency between
samples; a moving MS on one environment is not modelled).

Known deviations of the MPC statistics (tests/test_cost2100.py): the MPC cloud of a large
semi-urban cluster is not small against its distance, so second-order path-length terms
(``d tan^2(sigma_az) z^2 / 2`` of a lateral offset) fatten the delay spread measured from the
MPCs (median +8 % in semi-urban LOS, within 2 % in NLOS, mean of ``s^2 / sigma^2`` ~1.5 in
LOS); clusters closer to the BS than their radial extent have MPCs on both sides of the BS and
much larger measured azimuth spreads (this moves the median AoD spread of all far clusters from
18.6 to ~21 degrees in NLOS; the median ratio measured / drawn stays ~1).

"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from linksim.channels.cost2100_env import (
    SPEED_OF_LIGHT,
    Cost2100Environment,
    cluster_decay,
    get_environment,
    vr_cover_ratio,
    vr_gain,
)

#: Samples per random stream: block ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))``.
RNG_BLOCK = 32
#: Largest angular spread used in ``tan`` [deg].
MAX_SPREAD_DEG = 80.0

#: Cluster kinds in :class:`Cost2100Draw`.
TWIN, SINGLE, MS_LOCAL, BS_LOCAL = 0, 1, 2, 3


@dataclass
class Cost2100Draw:
    """One block of drawn geometry (all arrays float64 unless stated).

    Attributes
    ----------
    ms : [n, 3]
        MS positions [m] (BS array centre at the origin).
    n_far_param : [n] int
        ``n_far`` of each sample (the VR density parameter).
    cluster_sample : [C] int
        Sample of each cluster; clusters are grouped by sample (local ones first).
    kind : [C] int
        ``TWIN``, ``SINGLE``, ``MS_LOCAL`` or ``BS_LOCAL``.
    params : [C, 6]
        Drawn SF [dB], DS [s], EoD, AoD, EoA, AoA spreads [deg] (``PARAMETER_ORDER``).
    vr_gain : [C]
        VR transition gain (amplitude; 1 for local clusters).
    tau_c : [C]
        Cluster delay [s]: centre-to-centre geometric delay plus link delay.
    tau_0 : [n]
        LOS delay ``|MS| / c`` [s].
    power : [C]
        Cluster power before the per-sample normalisation (SF x VR gain^2 x decay).
    mpc_bs : [C, n_mpc, 3]
        BS-side MPC positions [m] (the scattering points the BS elements see).
    mpc_rest : [C, n_mpc]
        Delay from the BS-side MPC to the MS [s] (MS-side hop plus link delay).
    mpc_gain : [C, n_mpc] complex128
        Complex MPC amplitudes after the per-sample normalisation (all paths of a sample have
        unit total power).
    cluster_bs_centre, cluster_ms_centre : [C, 3]
        Cluster centres [m] (equal for single-bounce clusters; local clusters: their centre).
    los_gain : [n]
        LOS amplitude after normalisation (0 where there is no LOS path).
    dmc_bs : [C, D, 3]
        BS-side positions of the ``D = dmc_paths`` DMC paths of each cluster [m] (``D = 0``
        without DMC).
    dmc_rest : [C, D]
        Delay from there on to the MS [s] (MS-side hop, link delay and the DMC's extra delay).
    dmc_gain : [C, D] complex128
        DMC amplitudes after the per-sample normalisation (``mpc_gain`` and ``dmc_gain`` of a
        cluster together carry its power).
    """

    ms: np.ndarray
    n_far_param: np.ndarray
    cluster_sample: np.ndarray
    kind: np.ndarray
    params: np.ndarray
    vr_gain: np.ndarray
    tau_c: np.ndarray
    tau_0: np.ndarray
    power: np.ndarray
    mpc_bs: np.ndarray
    mpc_rest: np.ndarray
    mpc_gain: np.ndarray
    cluster_bs_centre: np.ndarray
    cluster_ms_centre: np.ndarray
    los_gain: np.ndarray
    dmc_bs: np.ndarray
    dmc_rest: np.ndarray
    dmc_gain: np.ndarray

    @property
    def n(self) -> int:
        return self.ms.shape[0]


def _unit_axes(azimuth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal radial and lateral unit vectors ``[..., 3]`` for azimuths [rad]."""
    c, s = np.cos(azimuth), np.sin(azimuth)
    z = np.zeros_like(c)
    return np.stack([c, s, z], -1), np.stack([-s, c, z], -1)


def _mpc_positions(centre: np.ndarray, z: np.ndarray, radial: np.ndarray, lateral: np.ndarray,
                   a: np.ndarray, b: np.ndarray, h: np.ndarray) -> np.ndarray:
    """MPC positions ``[C, M, 3]``: ``centre + z_0 a radial + z_1 b lateral + z_2 h e_z``.

    Parameters
    ----------
    centre : [C, 3]
        Cluster centres [m].
    z : [C, M, 3]
        Standard normals.
    radial, lateral : [C, 3]
        Horizontal unit axes (zero z component).
    a, b, h : [C]
        Radial, lateral and vertical standard deviations [m].
    """
    za = z[..., 0] * a[:, None]
    zb = z[..., 1] * b[:, None]
    out = np.empty(z.shape)
    for i in range(2):
        out[..., i] = centre[:, i, None] + (za * radial[:, i, None] + zb * lateral[:, i, None])
    out[..., 2] = centre[:, 2, None] + z[..., 2] * h[:, None]
    return out


def _norm3(v: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis (length 3), ``sqrt((x^2 + y^2) + z^2)``."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return np.sqrt((x * x + y * y) + z * z)


def _tan_spread(spread_deg: np.ndarray) -> np.ndarray:
    return np.tan(np.radians(np.minimum(spread_deg, MAX_SPREAD_DEG)))


def draw_block(rng: np.random.Generator, n: int,
               environment: str | Cost2100Environment) -> Cost2100Draw:
    """Draw the geometry of ``n`` independent snapshots from ``rng`` (vectorised).

    The sequence of draws is fixed given ``n`` and the environment, so the block is a
    deterministic function of the generator state.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of samples.
    environment : str or Cost2100Environment

    Returns
    -------
    Cost2100Draw
    """
    env = get_environment(environment)
    c0 = SPEED_OF_LIGHT
    half = env.ms_square_side_m / 2.0
    ms = np.zeros((n, 3))
    ms[:, :2] = rng.uniform(-half, half, (n, 2))
    d0 = np.hypot(ms[:, 0], ms[:, 1])
    tau_0 = d0 / c0
    az_bm = np.arctan2(ms[:, 1], ms[:, 0])  # BS -> MS azimuth

    # far clusters: VRs covering the MS
    if env.far_clusters_poisson:
        n_far = np.maximum(rng.poisson(env.far_clusters_mean, n), 1)
    else:
        n_far = np.full(n, round(env.far_clusters_mean))
    n_vis = rng.poisson(n_far * vr_cover_ratio(env))
    k = int(n_vis.sum())
    far_sample = np.repeat(np.arange(n), n_vis)
    vr_dist = env.vr_radius_m * np.sqrt(rng.uniform(size=k))
    g_vr = vr_gain(vr_dist, env.vr_radius_m, env.vr_transition_m, env.wavelength_m)
    single = rng.uniform(size=k) < env.k_sel

    locals_ = [kd for kd, on in ((MS_LOCAL, env.ms_local), (BS_LOCAL, env.bs_local)) if on]
    n_loc = len(locals_)
    # cluster order: per sample, local clusters then far clusters
    loc_sample = np.repeat(np.arange(n), n_loc)
    sample = np.concatenate([loc_sample, far_sample])
    kind = np.concatenate([np.tile(np.array(locals_, dtype=np.int64), n),
                           np.where(single, SINGLE, TWIN)])
    vr = np.concatenate([np.ones(n * n_loc), g_vr])
    order = np.argsort(sample, kind="stable")
    sample, kind, vr = sample[order], kind[order], vr[order]
    nc_tot = sample.size

    # correlated lognormal parameters
    chol = np.linalg.cholesky(env.correlation_matrix())
    zpar = np.sum(rng.standard_normal((nc_tot, 6))[:, None, :] * chol[None], axis=2)  # no BLAS
    med = np.array([1.0, env.ds_median_s, env.eod_median_deg, env.aod_median_deg,
                    env.eoa_median_deg, env.aoa_median_deg])
    sig = np.array([env.sf_sigma_db, env.ds_sigma_db, env.eod_sigma_db, env.aod_sigma_db,
                    env.eoa_sigma_db, env.aoa_sigma_db])
    params = med * 10.0 ** (sig * zpar / 10.0)
    params[:, 0] = sig[0] * zpar[:, 0]  # shadow fading in dB
    ds, eod, aod, eoa, aoa = (params[:, i] for i in range(1, 6))

    # cluster placement (drawn for every cluster; used where relevant)
    def offset_angle() -> np.ndarray:
        sign = np.where(rng.uniform(size=nc_tot) < 0.5, -1.0, 1.0)
        return sign * np.radians(rng.normal(env.azimuth_offset_mean_deg,
                                            env.azimuth_offset_std_deg, nc_tot))

    az_b = az_bm[sample] + offset_angle()
    dist_b = rng.uniform(0.0, env.cluster_distance_max_m, nc_tot)
    az_m = az_bm[sample] + np.pi + offset_angle()
    dist_m = rng.uniform(0.0, env.cluster_distance_max_m, nc_tot)
    link = env.link_delay_min_s + rng.exponential(env.link_delay_mean_s - env.link_delay_min_s,
                                                   nc_tot)
    z = rng.standard_normal((nc_tot, env.n_mpc, 3))
    gmpc = rng.standard_normal((nc_tot, env.n_mpc, 2))
    k_db = rng.normal(env.los_k_mu_db, env.los_k_sigma_db, n)

    ms_c = ms[sample]
    d0_c = d0[sample]
    a = ds * c0 / 2.0
    rad_b, lat_b = _unit_axes(az_b)
    rad_m, lat_m = _unit_axes(az_m)
    centre_b = dist_b[:, None] * rad_b
    centre_m = ms_c + dist_m[:, None] * rad_m
    rad_l, lat_l = _unit_axes(az_bm[sample])  # BS -> MS line, for local clusters

    is_twin = kind == TWIN
    is_msl = kind == MS_LOCAL
    is_bsl = kind == BS_LOCAL
    centre_b = np.where(is_msl[:, None], ms_c, np.where(is_bsl[:, None], 0.0, centre_b))
    centre_m = np.where(is_twin[:, None], centre_m, centre_b)
    radial = np.where((is_msl | is_bsl)[:, None], rad_l, rad_b)
    lateral = np.where((is_msl | is_bsl)[:, None], lat_l, lat_b)
    # BS-side extents: far clusters from their distance to the BS, local clusters from d0
    d_side = np.where(is_msl | is_bsl, d0_c, dist_b)
    b_ax = d_side * np.where(is_bsl, _tan_spread(aoa), _tan_spread(aod))
    h_ax = d_side * np.where(is_bsl, _tan_spread(eoa), _tan_spread(eod))
    mpc_bs = _mpc_positions(centre_b, z, radial, lateral, a, b_ax, h_ax)
    # MS-side twin MPCs mirror the BS-side ones
    mpc_ms = _mpc_positions(centre_m, z, rad_m, lat_m, a, dist_m * _tan_spread(aoa),
                            dist_m * _tan_spread(eoa))
    mpc_ms = np.where(is_twin[:, None, None], mpc_ms, mpc_bs)
    mpc_rest = _norm3(mpc_ms - ms_c[:, None, :]) / c0
    mpc_rest += np.where(is_twin, link, 0.0)[:, None]

    tau_c = np.where(
        is_twin, (dist_b + dist_m) / c0 + link,
        (np.linalg.norm(centre_b, axis=-1) + np.linalg.norm(centre_b - ms_c, axis=-1)) / c0)
    tau_c = np.where(is_msl | is_bsl, tau_0[sample], tau_c)
    att = cluster_decay(tau_c, tau_0[sample], env.k_tau_db_per_us, env.tau_b_s)
    power = 10.0 ** (params[:, 0] / 10.0) * vr**2 * att

    gm = gmpc[..., 0] + 1j * gmpc[..., 1]
    gm /= np.sqrt(np.sum(np.abs(gm) ** 2, axis=1, keepdims=True))

    # dense multipath: drawn after everything else, so environments without it keep their
    # random streams (and numbers)
    n_dmc = int(env.dmc_paths) if env.has_dmc else 0
    if n_dmc:
        zd = rng.standard_normal((nc_tot, n_dmc, 3))
        extra = rng.exponential(env.dmc_delay_s, (nc_tot, n_dmc)) if env.dmc_delay_s > 0 \
            else np.zeros((nc_tot, n_dmc))
        gd = rng.standard_normal((nc_tot, n_dmc, 2))
        f = env.dmc_spread_factor
        dmc_bs = _mpc_positions(centre_b, zd, radial, lateral, a, f * b_ax, f * h_ax)
        dmc_ms = _mpc_positions(centre_m, zd, rad_m, lat_m, a, f * dist_m * _tan_spread(aoa),
                                f * dist_m * _tan_spread(eoa))
        dmc_ms = np.where(is_twin[:, None, None], dmc_ms, dmc_bs)
        dmc_rest = (_norm3(dmc_ms - ms_c[:, None, :]) / c0
                    + np.where(is_twin, link, 0.0)[:, None] + extra)
        gdc = gd[..., 0] + 1j * gd[..., 1]
        gdc *= np.sqrt(env.dmc_power_fraction / np.sum(np.abs(gdc) ** 2, axis=1,
                                                        keepdims=True))
        gm *= math.sqrt(1.0 - env.dmc_power_fraction)
    else:
        dmc_bs = np.zeros((nc_tot, 0, 3))
        dmc_rest = np.zeros((nc_tot, 0))
        gdc = np.zeros((nc_tot, 0), np.complex128)

    # LOS and per-sample normalisation
    p_clusters = np.bincount(sample, weights=power, minlength=n)
    if env.los_vr_radius_m > 0:
        g_los = vr_gain(d0, env.los_vr_radius_m, env.los_vr_transition_m, env.wavelength_m)
        p_los = np.where(d0 < env.los_cutoff_m, 10.0 ** (k_db / 10.0) * g_los**2 * p_clusters, 0.0)
    else:
        p_los = np.zeros(n)
    norm = 1.0 / np.sqrt(p_clusters + p_los)
    amp_c = (np.sqrt(power) * norm[sample])[:, None]
    return Cost2100Draw(
        ms=ms, n_far_param=n_far, cluster_sample=sample, kind=kind, params=params, vr_gain=vr,
        tau_c=tau_c, tau_0=tau_0, power=power, mpc_bs=mpc_bs, mpc_rest=mpc_rest,
        mpc_gain=gm * amp_c, cluster_bs_centre=centre_b, cluster_ms_centre=centre_m,
        los_gain=np.sqrt(p_los) * norm, dmc_bs=dmc_bs, dmc_rest=dmc_rest, dmc_gain=gdc * amp_c)


def block_rng(seed: int, block: int) -> np.random.Generator:
    """Generator of sample block ``block`` (samples ``block*RNG_BLOCK ...``) for ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(block),)))


def draw_samples(n: int, environment: str | Cost2100Environment, seed: int = 0,
                 first_block: int = 0) -> Iterator[tuple[int, Cost2100Draw]]:
    """Yield ``(start, draw)`` for consecutive blocks covering samples ``0..n-1``.

    Full blocks of :data:`RNG_BLOCK` samples are drawn; the last one is trimmed to ``n``
    (:func:`select_samples`), so sample ``i`` does not depend on ``n``.
    """
    if int(seed) < 0:
        raise ValueError("seed must be >= 0")
    start = first_block * RNG_BLOCK
    block = first_block
    while start < n:
        draw = draw_block(block_rng(seed, block), RNG_BLOCK, environment)
        yield start, select_samples(draw, 0, min(RNG_BLOCK, n - start))
        start += RNG_BLOCK
        block += 1


def draw_range(start: int, stop: int, environment: str | Cost2100Environment, seed: int = 0
               ) -> Iterator[tuple[int, Cost2100Draw]]:
    """Yield ``(first, draw)`` for consecutive draws covering samples ``start..stop-1``
    (``first`` the index of the draw's first sample): the samples of :func:`draw_samples` with
    the same seed, for a range that need not start on a block boundary.
    """
    for first, d in draw_samples(stop, environment, seed, first_block=int(start) // RNG_BLOCK):
        lo = max(int(start) - first, 0)
        yield first + lo, select_samples(d, lo, d.n)


def select_samples(d: Cost2100Draw, lo: int, hi: int) -> Cost2100Draw:
    """Samples ``lo:hi`` of a draw, renumbered from 0."""
    if lo == 0 and hi == d.n:
        return d
    keep = (d.cluster_sample >= lo) & (d.cluster_sample < hi)
    return Cost2100Draw(
        ms=d.ms[lo:hi], n_far_param=d.n_far_param[lo:hi],
        cluster_sample=d.cluster_sample[keep] - lo, kind=d.kind[keep], params=d.params[keep],
        vr_gain=d.vr_gain[keep], tau_c=d.tau_c[keep], tau_0=d.tau_0[lo:hi],
        power=d.power[keep], mpc_bs=d.mpc_bs[keep], mpc_rest=d.mpc_rest[keep],
        mpc_gain=d.mpc_gain[keep], cluster_bs_centre=d.cluster_bs_centre[keep],
        cluster_ms_centre=d.cluster_ms_centre[keep], los_gain=d.los_gain[lo:hi],
        dmc_bs=d.dmc_bs[keep], dmc_rest=d.dmc_rest[keep], dmc_gain=d.dmc_gain[keep])
