"""COST 2100-style geometry-based stochastic channels (our implementation, NumPy only).

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
* **Spherical wavefront.** Every path's delay is computed per BS element from the element to the
  BS-side scattering point (or to the MS for LOS); the carrier phase ``exp(-j 2 pi f_c tau)`` of
  every element is kept in the path gain. A plane-wave shortcut would err by ~3.4 rad over the
  band at 300 MHz.

Environments
------------
``ENVIRONMENTS`` holds the published parameter sets (channels.md section 3) and the two
families calibrated to the CsiNet data (docs/channels.md, "COST 2100 calibration against
CsiNet Table I"):

* ``indoor_5.3GHz_reference``: the indoor hall 5.3 GHz set as published (no DMC);
* ``indoor_5.3GHz`` (the CsiNet indoor family): the same plus dense multipath,
  :data:`INDOOR_DMC` (7.5 % of each cluster's power in 10 paths, 3x wider, 20 ns mean extra
  delay). With 1024 subcarriers over 20 MHz (the reference's 5.3 GHz +- 10 MHz demo band; the
  scenarios' default) its TV / LASSO recovery reproduces the CsiNet paper's TVAL3 and LASSO
  columns within 1.5 dB at CR 4 and 16 (tests/test_cost2100_calibration.py);
* ``semiurban_300MHz_los`` / ``semiurban_300MHz_nlos``: the semi-urban 300 MHz sets as
  published;
* ``outdoor_300MHz`` (the CsiNet outdoor family): ``semiurban_300MHz_los`` unchanged under its
  own name (same numbers for the same seed); it meets the paper's outdoor columns as it is,
  NLOS does not.

Normalisation and delay reference
---------------------------------
No path loss: the channel carries no distance information (the pipeline normalises each sample
anyway). Each sample's path powers sum to one, ``sum_p |g[e, p]|^2 = 1`` for every element (the
per-element gains differ in phase only), so ``E|H[k, n]|^2 = 1`` averaged over samples. Delays are
relative to the first arrival at any element of the sample (the receiver is synchronised to it):
``min tau = 0``, so the earliest path lands in delay row 0.

Frequency grid and angular-delay convention
-------------------------------------------
Baseband subcarriers ``f_k = (k - Nc // 2) df``, ``df = bandwidth / Nc`` (the grid of
``linksim.channels.uma.subcarrier_frequencies``), ``H[k, n] = sum_p g[n, p] exp(-j 2 pi f_k tau[n, p])``
and the truncated angular-delay matrix of ``linksim.transforms`` (``H_ad = F_d H F_a^H``, first
``Na`` rows). :func:`generate_cost2100_ad` gets them without evaluating the ``Nc`` tones path by
path: per (sample, element) a type-1 non-uniform FFT spreads every path's coefficient (``g_p``
times the carrier phase ``exp(-j 2 pi f_c tau_abs)``) onto a periodic ``2 Nc``-point delay grid
(spacing half a delay bin) with the exponential-of-semicircle kernel
``exp(beta (sqrt(1 - s^2) - 1))`` (width :data:`NUFFT_WIDTH` = 7, ``beta = 2.3 * 7``); one
``2 Nc``-point FFT, divided by the kernel's transform, gives the ``Nc`` tones. Their sum of
squares is the total energy (the denominator of ``energy_kept``, Parseval) and an ``Nc``-point
inverse FFT gives the delay rows, of which the first ``Na`` are kept. Work per (sample, element):
``7 P`` kernel values and scatter-adds plus the two FFTs, instead of ``Na P`` for closed-form
Dirichlet-kernel rows and ``P^2`` for the pair sum of the energy. Float32 throughout; against a
float64 direct evaluation the relative error of the rows is ~7e-7 and of the energy ~4e-7
(tests/test_cost2100.py). Delays, coefficients and NUFFT are formed in cache-sized chunks of
(element, sample) groups; every group sees only its own paths, in a fixed order, so the result
does not depend on the chunking, on ``n``, on ``batch_size`` or on ``workers``.

Decisions on the reference-code quirks (channels.md section 3)
--------------------------------------------------------------
1. **Indoor LOS.** The indoor parameter set has a LOS VR radius of 0, so the reference never
   produces a LOS path although it lists a K factor (-10 dB, 7.2 dB). We follow the parameter set
   (no LOS indoor, the CsiNet indoor data come from it); ``los_vr_radius_m=0`` switches it off and
   a positive radius (``dataclasses.replace``) switches it on.
2. **Indoor decay cut-off.** The published indoor cut-off never takes effect (unit mix-up in the
   reference); we use no cut-off indoor (``tau_b = inf``), which is what the reference does in
   effect. Indoor ``k_tau`` is 16 per microsecond in the natural exponent (69.5 dB/us); the
   semi-urban slopes are in dB/us as published. All are stored in dB/us.
3. **Semi-urban elevation spreads.** Published as 1.578, which the reference reads as radians
   for the BS side (90.4 degrees: BS-side clusters as tall as they are far from the BS). We read
   1.578 as degrees at both link ends (``eod_median_deg = eoa_median_deg = 1.578``); use
   ``dataclasses.replace(env, eod_median_deg=90.4)`` to reproduce the reference. Spreads are
   clipped to 80 degrees before ``tan``.
4. **Reproducibility.** The reference reseeds its RNG from a timer while grouping VRs, so its
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

import math
import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft

#: Speed of light [m/s].
SPEED_OF_LIGHT = 299_792_458.0
#: Samples per random stream: block ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))``.
RNG_BLOCK = 32
#: Version of the generated numbers, for cache keys: bumped whenever the same seed and settings
#: give different data (2: delay rows by NUFFT instead of the closed-form Dirichlet sum; changes
#: the data by ~1e-6 relative; 3: ``indoor_5.3GHz`` is the calibrated CsiNet indoor family with
#: dense multipath, the published set moved to ``indoor_5.3GHz_reference``, new
#: ``outdoor_300MHz``; the published sets give the numbers of version 2).
GENERATOR_VERSION = 3
#: Order of the correlated cluster parameters.
PARAMETER_ORDER = ("SF", "DS", "EoD", "AoD", "EoA", "AoA")
#: Largest angular spread used in ``tan`` [deg].
MAX_SPREAD_DEG = 80.0
#: Rows (path x element) and groups (sample x element) spread per chunk (keeps it in cache).
KERNEL_CHUNK_ROWS = 16384
KERNEL_CHUNK_GROUPS = 128
#: Width (grid points) and shape of the kernel of the non-uniform FFT (2x oversampled grid;
#: measured relative error of the delay rows and of the total energy ~5e-7).
NUFFT_WIDTH = 7
NUFFT_BETA = 2.30 * NUFFT_WIDTH


def lognormal_from_mean_std(mean: float, std: float) -> tuple[float, float]:
    """Median and dB spread of the lognormal with the given mean and standard deviation.

    ``median = exp(ln E - 0.5 ln(1 + V^2 / E^2))``,
    ``sigma_dB = 10 log10(e) sqrt(ln(1 + V^2 / E^2))``.

    Parameters
    ----------
    mean, std : float
        Mean ``E`` and standard deviation ``V`` (any unit).

    Returns
    -------
    (median, sigma_db) : (float, float)
        Median in the unit of ``mean``; standard deviation of ``10 log10(value)`` [dB].
    """
    s2 = math.log1p((std / mean) ** 2)
    return mean * math.exp(-0.5 * s2), 10.0 * math.log10(math.e) * math.sqrt(s2)


@dataclass(frozen=True)
class Cost2100Environment:
    """Parameters of one COST 2100 environment (channels.md section 3).

    Spreads are lognormal: ``median`` in the stated unit, ``sigma_db`` the standard deviation of
    ``10 log10`` of the value. Delays in seconds, distances in metres, angles in degrees.
    """

    name: str
    carrier_frequency_hz: float
    ms_square_side_m: float
    cell_radius_m: float
    vr_radius_m: float
    vr_transition_m: float
    far_clusters_mean: float
    far_clusters_poisson: bool
    k_sel: float
    k_tau_db_per_us: float
    tau_b_s: float
    los_cutoff_m: float
    los_vr_radius_m: float
    los_vr_transition_m: float
    los_k_mu_db: float
    los_k_sigma_db: float
    bs_local: bool
    ms_local: bool
    sf_sigma_db: float
    ds_median_s: float
    ds_sigma_db: float
    eod_median_deg: float
    eod_sigma_db: float
    aod_median_deg: float
    aod_sigma_db: float
    eoa_median_deg: float
    eoa_sigma_db: float
    aoa_median_deg: float
    aoa_sigma_db: float
    cross_correlations: tuple[tuple[str, str, float], ...]
    n_mpc: int
    azimuth_offset_mean_deg: float
    azimuth_offset_std_deg: float
    cluster_distance_max_m: float
    link_delay_mean_s: float
    link_delay_min_s: float
    #: Dense multipath (DMC, the diffuse part of each cluster): fraction of every cluster's
    #: power carried by ``dmc_paths`` weak paths (0: none) spread ``dmc_spread_factor`` times
    #: wider than the cluster's specular MPCs laterally and vertically, each delayed by an
    #: extra ``Exp(dmc_delay_s)`` (an exponential delay tail after the cluster's arrivals).
    dmc_power_fraction: float = 0.0
    dmc_paths: int = 0
    dmc_spread_factor: float = 1.0
    dmc_delay_s: float = 0.0

    @property
    def has_dmc(self) -> bool:
        """Whether the clusters carry dense multipath (DMC) paths."""
        return self.dmc_paths > 0 and self.dmc_power_fraction > 0

    @property
    def wavelength_m(self) -> float:
        """Carrier wavelength [m]."""
        return SPEED_OF_LIGHT / self.carrier_frequency_hz

    @property
    def mean_active_far_clusters(self) -> float:
        """Mean number of far clusters whose VR covers the MS (``E[n_far] (r_c/(r_c-l_c))^2``)."""
        return _mean_n_far(self) * _vr_cover_ratio(self)

    def correlation_matrix(self) -> np.ndarray:
        """6 x 6 correlation of the normals behind ``PARAMETER_ORDER``."""
        c = np.eye(6)
        for a, b, rho in self.cross_correlations:
            i, j = PARAMETER_ORDER.index(a), PARAMETER_ORDER.index(b)
            c[i, j] = c[j, i] = rho
        return c


def _indoor_reference() -> Cost2100Environment:
    ds_med, ds_db = lognormal_from_mean_std(3e-9, 0.6e-9)
    aod_med, aod_db = lognormal_from_mean_std(3.0, 2.0)
    eod_med, eod_db = lognormal_from_mean_std(1.5, 1.5)
    aoa_med, aoa_db = lognormal_from_mean_std(4.0, 2.0)
    eoa_med, eoa_db = lognormal_from_mean_std(1.0, 1.0)
    return Cost2100Environment(
        name="indoor_5.3GHz_reference", carrier_frequency_hz=5.3e9, ms_square_side_m=20.0,
        cell_radius_m=30.0, vr_radius_m=2.72, vr_transition_m=1.0,
        far_clusters_mean=3.8, far_clusters_poisson=True, k_sel=0.0,
        k_tau_db_per_us=16.0 * 10.0 * math.log10(math.e), tau_b_s=math.inf,
        los_cutoff_m=30.0, los_vr_radius_m=0.0, los_vr_transition_m=0.0,
        los_k_mu_db=-10.0, los_k_sigma_db=7.2, bs_local=True, ms_local=True,
        sf_sigma_db=0.0, ds_median_s=ds_med, ds_sigma_db=ds_db,
        eod_median_deg=eod_med, eod_sigma_db=eod_db, aod_median_deg=aod_med, aod_sigma_db=aod_db,
        eoa_median_deg=eoa_med, eoa_sigma_db=eoa_db, aoa_median_deg=aoa_med, aoa_sigma_db=aoa_db,
        cross_correlations=(), n_mpc=3, azimuth_offset_mean_deg=43.0,
        azimuth_offset_std_deg=39.0, cluster_distance_max_m=30.0,
        link_delay_mean_s=107e-9, link_delay_min_s=33.6e-9,
    )


def _semiurban(los: bool) -> Cost2100Environment:
    corr = (("DS", "AoD", 0.9), ("DS", "AoA", 0.9), ("AoD", "AoA", 0.9))
    if not los:
        corr = corr + (("SF", "DS", -0.1), ("SF", "AoD", -0.1), ("SF", "AoA", -0.1))
    common = {
        "carrier_frequency_hz": 300e6, "ms_square_side_m": 400.0, "cell_radius_m": 500.0,
        "far_clusters_mean": 6.0, "far_clusters_poisson": False, "ms_local": True,
        "bs_local": False, "eod_median_deg": 1.578, "eod_sigma_db": 0.0,
        "eoa_median_deg": 1.578, "eoa_sigma_db": 0.0, "cross_correlations": corr,
        "azimuth_offset_mean_deg": 43.0, "azimuth_offset_std_deg": 39.0,
        "cluster_distance_max_m": 500.0,
    }
    if los:
        return Cost2100Environment(
            name="semiurban_300MHz_los", vr_radius_m=32.8, vr_transition_m=16.8, k_sel=0.1,
            k_tau_db_per_us=12.1, tau_b_s=2.4e-6, los_cutoff_m=350.0, los_vr_radius_m=343.0,
            los_vr_transition_m=93.0, los_k_mu_db=-4.7, los_k_sigma_db=2.0, sf_sigma_db=2.05,
            ds_median_s=139e-9, ds_sigma_db=3.66, aod_median_deg=14.6, aod_sigma_db=2.43,
            aoa_median_deg=14.8, aoa_sigma_db=2.68, n_mpc=27, link_delay_mean_s=854e-9,
            link_delay_min_s=47.9e-9, **common)
    return Cost2100Environment(
        name="semiurban_300MHz_nlos", vr_radius_m=24.5, vr_transition_m=12.2, k_sel=0.2,
        k_tau_db_per_us=7.2, tau_b_s=4.2e-6, los_cutoff_m=0.0, los_vr_radius_m=0.0,
        los_vr_transition_m=0.0, los_k_mu_db=0.0, los_k_sigma_db=0.0, sf_sigma_db=2.27,
        ds_median_s=317e-9, ds_sigma_db=2.5, aod_median_deg=18.6, aod_sigma_db=2.02,
        aoa_median_deg=19.0, aoa_sigma_db=2.03, n_mpc=48, link_delay_mean_s=1.02e-6,
        link_delay_min_s=52.4e-9, **common)


#: Dense multipath of the calibrated CsiNet indoor family (``indoor_5.3GHz``): the fraction of
#: every cluster's power in its DMC, DMC paths per cluster, their angular widening and the mean
#: of their exponential extra delay (docs/channels.md, "COST 2100 calibration").
INDOOR_DMC = {"dmc_power_fraction": 0.075, "dmc_paths": 10, "dmc_spread_factor": 3.0,
              "dmc_delay_s": 20e-9}


def _indoor_csinet() -> Cost2100Environment:
    """The CsiNet indoor family: the published indoor hall set plus dense multipath."""
    return replace(_indoor_reference(), name="indoor_5.3GHz", **INDOOR_DMC)


def _outdoor_csinet() -> Cost2100Environment:
    """The CsiNet outdoor family: semi-urban 300 MHz LOS as published (it meets Table I)."""
    return replace(_semiurban(True), name="outdoor_300MHz")


#: The environments by name: the calibrated CsiNet families (``indoor_5.3GHz``,
#: ``outdoor_300MHz``) and the published parameter sets (``indoor_5.3GHz_reference``,
#: ``semiurban_300MHz_los``, ``semiurban_300MHz_nlos``).
ENVIRONMENTS: dict[str, Cost2100Environment] = {
    e.name: e for e in (_indoor_csinet(), _outdoor_csinet(), _indoor_reference(),
                        _semiurban(True), _semiurban(False))
}


def get_environment(environment: str | Cost2100Environment) -> Cost2100Environment:
    """Environment by name (a key of :data:`ENVIRONMENTS`) or passed through."""
    if isinstance(environment, Cost2100Environment):
        return environment
    try:
        return ENVIRONMENTS[environment]
    except KeyError:
        raise ValueError(f"unknown COST 2100 environment {environment!r}; "
                         f"choose from {sorted(ENVIRONMENTS)}") from None


def _vr_cover_ratio(env: Cost2100Environment) -> float:
    return (env.vr_radius_m / (env.vr_radius_m - env.vr_transition_m)) ** 2


def _mean_n_far(env: Cost2100Environment) -> float:
    lam = env.far_clusters_mean
    if env.far_clusters_poisson:
        return lam + math.exp(-lam)  # E[max(1, Poisson(lam))]
    return lam


def vr_gain(distance_m: np.ndarray, radius_m: float, transition_m: float,
            wavelength_m: float) -> np.ndarray:
    """VR transition gain (amplitude) at distance ``d`` from the VR centre.

    ``g = 1/2 - atan(2 sqrt(2) y / sqrt(lambda l_c)) / pi``, ``y = d - (r_c - l_c)``; ``1/2`` at the
    inner edge ``r_c - l_c``, -> 1 inside, -> 0 outside.

    Parameters
    ----------
    distance_m : [...] float
        Distance MS - VR centre [m].
    radius_m, transition_m, wavelength_m : float
        VR radius ``r_c``, transition width ``l_c``, wavelength [m].

    Returns
    -------
    g : [...] float64
    """
    y = np.asarray(distance_m, dtype=np.float64) - (radius_m - transition_m)
    return 0.5 - np.arctan(2.0 * math.sqrt(2.0) * y / math.sqrt(wavelength_m * transition_m)) / np.pi


def cluster_decay(tau_c: np.ndarray, tau_0: np.ndarray, k_tau_db_per_us: float,
                  tau_b_s: float) -> np.ndarray:
    """Cluster power attenuation ``10^(-k_tau (min(tau_c, tau_b) - tau_0) / 10)`` (linear power).

    Parameters
    ----------
    tau_c : [...] float
        Cluster delay [s].
    tau_0 : [...] float
        LOS delay [s] (broadcast against ``tau_c``).
    k_tau_db_per_us : float
        Decay slope [dB/us].
    tau_b_s : float
        Cut-off delay [s] (``inf``: none); the attenuation is constant beyond it.

    Returns
    -------
    att : [...] float64, in (0, 1].
    """
    excess = np.maximum(np.minimum(tau_c, tau_b_s) - tau_0, 0.0)
    return 10.0 ** (-k_tau_db_per_us * excess * 1e6 / 10.0)


# --------------------------------------------------------------------------- geometry draw

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
    n_vis = rng.poisson(n_far * _vr_cover_ratio(env))
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
    (:func:`_trim`), so sample ``i`` does not depend on ``n``.
    """
    if int(seed) < 0:
        raise ValueError("seed must be >= 0")
    start = first_block * RNG_BLOCK
    block = first_block
    while start < n:
        draw = draw_block(block_rng(seed, block), RNG_BLOCK, environment)
        yield start, _trim(draw, min(RNG_BLOCK, n - start))
        start += RNG_BLOCK
        block += 1


def _trim(d: Cost2100Draw, n: int) -> Cost2100Draw:
    """The first ``n`` samples of a draw."""
    if n == d.n:
        return d
    keep = d.cluster_sample < n
    return Cost2100Draw(
        ms=d.ms[:n], n_far_param=d.n_far_param[:n], cluster_sample=d.cluster_sample[keep],
        kind=d.kind[keep], params=d.params[keep], vr_gain=d.vr_gain[keep], tau_c=d.tau_c[keep],
        tau_0=d.tau_0[:n], power=d.power[keep], mpc_bs=d.mpc_bs[keep],
        mpc_rest=d.mpc_rest[keep], mpc_gain=d.mpc_gain[keep],
        cluster_bs_centre=d.cluster_bs_centre[keep], cluster_ms_centre=d.cluster_ms_centre[keep],
        los_gain=d.los_gain[:n], dmc_bs=d.dmc_bs[keep], dmc_rest=d.dmc_rest[keep],
        dmc_gain=d.dmc_gain[keep])


# --------------------------------------------------------------------------- paths

def element_positions(num_bs_antennas: int, wavelength_m: float) -> np.ndarray:
    """x coordinates [Nt] [m] of the half-wavelength ULA centred on the origin."""
    return (np.arange(num_bs_antennas) - (num_bs_antennas - 1) / 2.0) * (wavelength_m / 2.0)


@dataclass
class _Paths:
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


def _paths_from_draw(d: Cost2100Draw, env: Cost2100Environment, nt: int) -> _Paths:
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
    paths = _Paths(p_bs=p_bs, r2=np.sum(p_bs**2, axis=1), rest=rest, amp=amp, counts=counts,
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
    p = _paths_from_draw(d, env, nt)
    n, q = d.n, p.amp.size
    tau_abs = p.delays(p.x)  # [Nt, Q]
    tau = tau_abs - np.repeat(p.first, p.counts)[None, :]
    offsets = np.r_[(np.arange(nt)[:, None] * q + p.starts[None, :-1]).reshape(-1), nt * q]
    return _Rows(amp=np.broadcast_to(p.amp, (nt, q)).reshape(-1),
                 cycles=(env.carrier_frequency_hz * tau_abs).reshape(-1), tau=tau.reshape(-1),
                 offsets=offsets, n=n, nt=nt, counts=p.counts)


def _rows_to_padded(rows: _Rows, num_paths: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows -> ``g [n, Nt, P]`` complex64 (carrier phase included), ``tau [n, Nt, P]`` float32."""
    n, nt = rows.n, rows.nt
    q = rows.tau.size // nt
    psample = np.repeat(np.arange(n), rows.counts)
    slot = np.arange(q) - (np.cumsum(rows.counts) - rows.counts)[psample]
    g = np.zeros((n, nt, num_paths), np.complex64)
    tau = np.zeros((n, nt, num_paths), np.float32)
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
    (``min tau = 0``). The same ``seed`` gives the same samples as :func:`generate_cost2100_ad`.

    Parameters
    ----------
    n : int
        Number of samples.
    environment : str or Cost2100Environment
        A key of :data:`ENVIRONMENTS` or a parameter set.
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
    env = get_environment(environment)
    nt = int(num_bs_antennas)
    parts = [_rows_from_draw(d, env, nt) for _, d in draw_samples(int(n), env, seed)]
    p = max([int(r.counts.max()) for r in parts if r.n], default=0)
    out = [_rows_to_padded(r, p) for r in parts]
    if not out:
        return np.zeros((0, nt, 0), np.complex64), np.zeros((0, nt, 0), np.float32)
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


# --------------------------------------------------------------------------- frequency routes

def baseband_grid(num_subcarriers: int, bandwidth_hz: float) -> tuple[float, float]:
    """First subcarrier and spacing [Hz] of ``linksim.channels.uma.subcarrier_frequencies(Nc, B / Nc)``.

    ``f_k = f_0 + k df``, ``df = B / Nc``, ``f_0 = -(Nc // 2) df``.
    """
    nc = int(num_subcarriers)
    if nc < 1:
        raise ValueError("num_subcarriers must be >= 1")
    df = float(bandwidth_hz) / nc
    return -(nc // 2) * df, df


def frequency_response(g: np.ndarray, tau: np.ndarray, frequencies_hz: np.ndarray) -> np.ndarray:
    """Space-frequency channel from per-element paths (reference route; builds all tones).

    ``H[b, k, e] = sum_p g[b, e, p] exp(-j 2 pi f_k tau[b, e, p])``, through
    ``linksim.channels.uma.frequency_response`` (phases formed in float64 and wrapped).

    Parameters
    ----------
    g : [B, Nt, P] complex
    tau : [B, Nt, P] float [s]
    frequencies_hz : [Nc] float

    Returns
    -------
    h : [B, Nc, Nt] complex64
    """
    from linksim.channels.uma import frequency_response as fr

    b, nt, p = g.shape
    h = fr(g.reshape(b * nt, 1, p), tau.reshape(b * nt, p), frequencies_hz)  # [B*Nt, Nc, 1]
    return np.ascontiguousarray(h[..., 0].reshape(b, nt, -1).transpose(0, 2, 1))


_DECONV_CACHE: dict[int, np.ndarray] = {}


def _nufft_deconvolution(nc: int) -> np.ndarray:
    """``1 / Phi(k)`` of the spreading kernel at the ``Nc`` centred frequencies, in FFT order.

    ``Phi(omega) = int phi(s) cos(omega s) ds`` (grid units) at ``omega = pi k / Nc`` (the grid
    spacing is half a delay bin), ``k = 0 .. Nc - Nc//2 - 1, -(Nc//2) .. -1``, by Gauss-Legendre
    quadrature.

    Returns
    -------
    psi : [Nc] float32
    """
    if nc not in _DECONV_CACHE:
        w = NUFFT_WIDTH
        x, wq = np.polynomial.legendre.leggauss(4 * w + 40)
        phi = np.exp(NUFFT_BETA * (np.sqrt(1.0 - x**2) - 1.0))
        k = np.fft.fftfreq(nc, 1.0 / nc)
        hat = (w / 2.0) * np.sum(np.cos((np.pi * k / nc)[:, None] * (x * (w / 2.0))[None, :])
                                 * (wq * phi)[None, :], axis=1)
        _DECONV_CACHE[nc] = (1.0 / hat).astype(np.float32)
    return _DECONV_CACHE[nc]


def _coefficients(cycles: np.ndarray, amp: np.ndarray) -> np.ndarray:
    """``amp exp(-j 2 pi cycles)`` as complex64 (phase wrapped in float64 first).

    Parameters
    ----------
    cycles : [...] float64
        Phase [cycles].
    amp : [...] complex
        Amplitudes (broadcast against ``cycles``).

    Returns
    -------
    c : [...] complex64
    """
    ph = cycles - np.rint(cycles)
    ph = ((-2.0 * np.pi) * ph).astype(np.float32)
    c = np.empty(ph.shape, np.complex64)
    c.real = np.cos(ph)
    c.imag = np.sin(ph)
    c *= amp.astype(np.complex64)
    return c


def _spectrum(t: np.ndarray, c: np.ndarray, gsize: np.ndarray, nc: int) -> np.ndarray:
    """``G[g, k] = sum_r c_r exp(-j 2 pi k t_r / Nc)`` per group, by a type-1 NUFFT.

    Each row is spread onto a periodic ``2 Nc``-point grid (spacing half a delay bin) with the
    exponential-of-semicircle kernel ``phi(s) = exp(beta (sqrt(1 - s^2) - 1))`` of width
    :data:`NUFFT_WIDTH`; the grid is Fourier transformed, the ``Nc`` centred frequencies are kept
    and divided by the kernel's transform. Float32 (relative error ~5e-7). Each group's output
    depends only on its own rows, in order (``np.add.at`` is sequential).

    Parameters
    ----------
    t : [R] float64
        Delays in bins; rows sorted by group.
    c : [R] complex64
        Coefficients ``c_r``.
    gsize : [G] int
        Rows per group.
    nc : int
        ``Nc``.

    Returns
    -------
    G : [G, Nc] complex64
        At ``k = 0 .. Nc - Nc//2 - 1, -(Nc//2) .. -1`` (FFT order).
    """
    w = NUFFT_WIDTH
    ng = gsize.size
    nf = 2 * nc
    nfp = nf + w  # w overflow points, folded back below (periodic grid)
    u = 2.0 * t
    l0 = np.ceil(u - w / 2.0)
    s = ((l0 - u) * (2.0 / w)).astype(np.float32)  # [-1, -1 + 2/w)
    s = np.add.outer(np.arange(w, dtype=np.float32) * np.float32(2.0 / w), s)  # [w, R]
    np.multiply(s, s, out=s)
    np.subtract(np.float32(1.0), s, out=s)
    np.maximum(s, np.float32(0.0), out=s)
    np.sqrt(s, out=s)
    np.multiply(s, np.float32(NUFFT_BETA), out=s)
    np.subtract(s, np.float32(NUFFT_BETA), out=s)
    phi = np.exp(s, out=s)
    wrapped = l0 - nf * np.floor(l0 / nf)  # periodic grid, in [0, nf)
    base = np.repeat(np.arange(ng) * nfp, gsize) + wrapped.astype(np.int64)
    grid = np.zeros((ng, nfp), np.complex64)
    np.add.at(grid.reshape(-1), np.add.outer(np.arange(w), base).reshape(-1),
              (phi * c).reshape(-1))  # 1-D: numpy's fast path
    grid[:, :w] += grid[:, nf:]
    spec = scipy.fft.fft(grid[:, :nf], axis=1, workers=1, overwrite_x=True)
    kpos = nc - nc // 2
    out = np.empty((ng, nc), np.complex64)
    out[:, :kpos] = spec[:, :kpos]
    out[:, kpos:] = spec[:, nf - nc // 2:]
    out *= _nufft_deconvolution(nc)
    return out


def _rows_energy(spec: np.ndarray, num_rows: int, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``Na`` rows of the unitary delay transform and the total energy, per group.

    Parameters
    ----------
    spec : [G, Nc] complex64
        Tones ``H_k`` at ``k = k' + Nc//2`` for the centred ``k'`` in FFT order
        (:func:`_spectrum`); overwritten.
    num_rows, nc : int
        ``Na``, ``Nc``.

    Returns
    -------
    h : [G, Na] complex128
        ``(1/sqrt(Nc)) sum_k H_k exp(+j 2 pi k m / Nc)`` for ``m < Na``:
        ``exp(+j 2 pi (Nc//2) m / Nc) sqrt(Nc) ifft(spec)[m]``.
    e : [G] float64
        ``sum_k |H_k|^2``.
    """
    v = spec.view(np.float32)
    e = np.sum(v * v, axis=1, dtype=np.float64)
    m = np.arange(num_rows)
    pref = math.sqrt(nc) * np.exp(2j * np.pi * ((nc // 2) * m % nc) / nc)
    h = scipy.fft.ifft(spec, axis=1, workers=1, overwrite_x=True)[:, :num_rows] * pref
    return h, e


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
            c = _coefficients(cycles[r0:r1] + ((nc // 2) / nc) * tc, amp[r0:r1])  # centred k'
            spec = _spectrum(tc, c, np.diff(offsets[g0:g1 + 1]), nc)
            h[g0:g1], e[g0:g1] = _rows_energy(spec, num_rows, nc)
        g0 = g1
    return h, e


def _to_angular(h_d: np.ndarray, nt: int, n: int) -> np.ndarray:
    """``[Nt*n, Na]`` (element-major groups) -> ``[n, Na, Nt]`` angular-delay, complex64."""
    h = h_d.reshape(nt, n, -1).transpose(1, 2, 0)
    return np.fft.fft(h, axis=-1, norm="ortho").astype(np.complex64)


def angular_delay_from_paths(
    g: np.ndarray,
    tau: np.ndarray,
    num_subcarriers: int = 1024,
    bandwidth_hz: float = 20e6,
    num_delay_rows: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Truncated angular-delay channel of per-element paths, in closed form.

    Equals ``linksim.transforms.truncated_angular_delay(H, Na)`` and
    ``linksim.transforms.energy_kept(H, Na)`` of
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
    h_ad = _to_angular(h_d, nt, n)
    return h_ad, _kept_fraction(h_d, e, nt, n)


def _kept_fraction(h_d: np.ndarray, e: np.ndarray, nt: int, n: int) -> np.ndarray:
    # per group first, then over elements: the summation order does not depend on n
    kept = np.sum(np.sum(h_d.real**2 + h_d.imag**2, axis=1).reshape(nt, n), axis=0)
    total = np.sum(e.reshape(nt, n), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, kept / total, 0.0).astype(np.float32)


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
    p = _paths_from_draw(d, env, nt)
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
        c = _coefficients(env.carrier_frequency_hz * tau_abs, p.amp[None, q0:q1])
        spec = _spectrum(t.reshape(-1), c.reshape(-1), np.tile(p.counts[s0:s1], e1 - e0), nc)
        hh, ee = _rows_energy(spec, na, nc)
        h_d[e0:e1, s0:s1] = hh.reshape(e1 - e0, s1 - s0, na)
        e[e0:e1, s0:s1] = ee.reshape(e1 - e0, s1 - s0)
    h_d = h_d.reshape(nt * n, na)
    return _to_angular(h_d, nt, n), _kept_fraction(h_d, e.reshape(-1), nt, n)


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
    env = get_environment(environment)
    n = int(n)
    if n < 0:
        raise ValueError("n must be >= 0")
    if int(seed) < 0:
        raise ValueError("seed must be >= 0")
    if not 1 <= num_delay_rows <= num_subcarriers:
        raise ValueError("need 1 <= num_delay_rows <= num_subcarriers")
    nt, nc, na = int(num_bs_antennas), int(num_subcarriers), int(num_delay_rows)
    step = max(RNG_BLOCK, -(-int(batch_size) // RNG_BLOCK) * RNG_BLOCK)
    tasks = [(s, min(n, s + step)) for s in range(0, n, step)]
    args = (int(seed), env, nt, nc, float(bandwidth_hz), na)
    if not tasks:
        return np.zeros((0, na, nt), np.complex64), np.zeros(0, np.float32)
    if int(workers) <= 1 or len(tasks) == 1:
        parts = [_ad_blocks(*args, s, e) for s, e in tasks]
    else:
        ctx = multiprocessing.get_context("spawn")
        with _single_threaded_children(), ProcessPoolExecutor(
                int(workers), mp_context=ctx, initializer=die_with_parent,
                initargs=(os.getpid(),)) as ex:
            futs = [ex.submit(_ad_blocks, *args, s, e) for s, e in tasks]
            parts = [f.result() for f in futs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
