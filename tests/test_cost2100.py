"""Tests for linksim.channels.cost2100 (COST 2100-style generator, closed-form angular-delay output)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from linksim.channels import cost2100 as c
from scipy.stats import chi2

from linksim.phy import transforms

# outdoor_300MHz has the parameters of semiurban_300MHz_los (checked in test_parameter_tables)
ENVS = [e for e in c.ENVIRONMENTS if e != "outdoor_300MHz"]
NC, BW, NA = 1024, 20e6, 32


def _fft_route(g, tau, nc=NC, bw=BW, na=NA):
    """Reference: build all Nc tones, then linksim's transforms."""
    from linksim.channels.uma import subcarrier_frequencies

    h = c.frequency_response(g, tau, subcarrier_frequencies(nc, bw / nc))
    return transforms.truncated_angular_delay(h, na), transforms.energy_kept(h, na)


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ----------------------------------------------------------------------------- parameters

def test_parameter_tables():
    ind, los, nlos = (c.ENVIRONMENTS[k] for k in
                      ("indoor_5.3GHz_reference", "semiurban_300MHz_los", "semiurban_300MHz_nlos"))
    # mean/std -> lognormal median/dB spread (channels.md formula), indoor delay spread 3 / 0.6 ns
    med, sdb = c.lognormal_from_mean_std(3e-9, 0.6e-9)
    s2 = math.log(1 + 0.04)
    assert med == pytest.approx(3e-9 * math.exp(-0.5 * s2))
    assert sdb == pytest.approx(10 * math.log10(math.e) * math.sqrt(s2))
    assert ind.ds_median_s == pytest.approx(med)
    # the lognormal with that median and spread has the published mean and std
    mu, sig = math.log(ind.aod_median_deg), ind.aod_sigma_db / (10 * math.log10(math.e))
    assert math.exp(mu + sig**2 / 2) == pytest.approx(3.0)
    assert math.sqrt((math.exp(sig**2) - 1) * math.exp(2 * mu + sig**2)) == pytest.approx(2.0)
    assert ind.k_tau_db_per_us == pytest.approx(16 * 4.3429448, rel=1e-6)  # 16 / us, natural
    assert math.isinf(ind.tau_b_s) and ind.los_vr_radius_m == 0 and ind.bs_local
    assert (los.k_tau_db_per_us, los.tau_b_s, los.n_mpc, los.k_sel) == (12.1, 2.4e-6, 27, 0.1)
    assert (nlos.k_tau_db_per_us, nlos.tau_b_s, nlos.n_mpc, nlos.k_sel) == (7.2, 4.2e-6, 48, 0.2)
    assert nlos.los_vr_radius_m == 0 and not nlos.bs_local and nlos.ms_local
    for env in c.ENVIRONMENTS.values():
        np.linalg.cholesky(env.correlation_matrix())  # positive definite
    assert nlos.correlation_matrix()[0, 1] == -0.1 and los.correlation_matrix()[0, 1] == 0.0
    # derived active-cluster counts of channels.md: ~2.5 n_far indoor, ~24 semi-urban NLOS
    assert c.vr_cover_ratio(ind) == pytest.approx(2.5, abs=0.01)
    assert nlos.mean_active_far_clusters == pytest.approx(24, abs=0.5)
    with pytest.raises(ValueError, match="unknown COST 2100 environment"):
        c.get_environment("urban_28GHz")
    # published sets carry no dense multipath
    assert not any(e.has_dmc for e in (ind, los, nlos))


def test_calibrated_families():
    """The CsiNet families are the published sets plus (indoor) dense multipath."""
    ref, cal = c.ENVIRONMENTS["indoor_5.3GHz_reference"], c.ENVIRONMENTS["indoor_5.3GHz"]
    assert cal.has_dmc and cal == dataclasses.replace(ref, name="indoor_5.3GHz", **c.INDOOR_DMC)
    assert (cal.dmc_power_fraction, cal.dmc_paths, cal.dmc_spread_factor, cal.dmc_delay_s) == (
        0.075, 10, 3.0, 20e-9)
    out = c.ENVIRONMENTS["outdoor_300MHz"]
    assert out == dataclasses.replace(c.ENVIRONMENTS["semiurban_300MHz_los"],
                                      name="outdoor_300MHz")
    h1, e1 = c.generate_cost2100_ad(8, "outdoor_300MHz", num_bs_antennas=8, seed=2)
    h2, e2 = c.generate_cost2100_ad(8, "semiurban_300MHz_los", num_bs_antennas=8, seed=2)
    assert np.array_equal(h1, h2) and np.array_equal(e1, e2)


def test_vr_gain_and_decay():
    r_c, l_c, lam = 24.5, 12.2, 1.0
    g = c.vr_gain(np.array([0.0, r_c - l_c, r_c, 2 * r_c]), r_c, l_c, lam)
    assert g[1] == pytest.approx(0.5)
    assert 0.9 < g[0] <= 1 and g[2] < 0.05 and np.all(np.diff(g) < 0)
    att = c.cluster_decay(np.array([1e-6, 2e-6, 5e-6, 9e-6]), 1e-6, 7.2, 4.2e-6)
    np.testing.assert_allclose(10 * np.log10(att), [0, -7.2, -7.2 * 3.2, -7.2 * 3.2])


def test_baseband_grid_matches_uma():
    from linksim.channels.uma import subcarrier_frequencies

    for nc in (1024, 33):
        f0, df = c.baseband_grid(nc, 20e6)
        np.testing.assert_allclose(f0 + df * np.arange(nc), subcarrier_frequencies(nc, 20e6 / nc))


# ----------------------------------------------------------------------------- closed form

@pytest.mark.parametrize("env", ENVS)
def test_closed_form_equals_full_tone_route(env):
    g, tau = c.generate_cost2100_paths(4, env, seed=3)
    h_ref, e_ref = _fft_route(g, tau)
    h, e = c.angular_delay_from_paths(g, tau, NC, BW, NA)
    assert h.shape == (4, NA, 32) and h.dtype == np.complex64 and e.dtype == np.float32
    assert _rel(h, h_ref) < 1e-5
    np.testing.assert_allclose(e, e_ref, atol=1e-5)
    # generate_cost2100_ad: same samples, from float64 delays (paths are float32)
    h2, e2 = c.generate_cost2100_ad(4, env, seed=3)
    assert _rel(h2, h_ref) < 1e-4
    np.testing.assert_allclose(e2, e_ref, atol=1e-5)


def test_closed_form_other_sizes():
    # odd Nc, Na not a power of two, paths past the window and beyond Nc/2 bins (wrap-around)
    rng = np.random.default_rng(0)
    nc, bw, na, nt, p = 257, 10e6, 20, 6, 40
    tau = rng.uniform(0, 0.9 * nc / bw, (3, nt, p)).astype(np.float32)
    tau[0, :, 0] = 0.0  # exactly on a delay row
    tau[1, :, 1] = 5 / bw  # exactly on row 5
    g = (rng.standard_normal((3, nt, p)) + 1j * rng.standard_normal((3, nt, p))).astype(
        np.complex64)
    g[2, :, 5:] = 0  # padding
    h_ref, e_ref = _fft_route(g, tau, nc, bw, na)
    h, e = c.angular_delay_from_paths(g, tau, nc, bw, na)
    assert _rel(h, h_ref) < 1e-5
    np.testing.assert_allclose(e, e_ref, atol=1e-5)


@pytest.mark.parametrize("frac", [0.0, 0.5])
def test_single_path_lands_in_its_bin(frac):
    """Plane wave with antenna phase exp(+j 2 pi n a0 / Nt) and delay (m0 + frac) bins."""
    nt, a0, m0 = 32, 7, 11
    n = np.arange(nt)
    g = np.exp(2j * np.pi * n * a0 / nt)[None, :, None].astype(np.complex64) / np.sqrt(nt)
    tau = np.full((1, nt, 1), (m0 + frac) / BW, np.float32)
    h, e = c.angular_delay_from_paths(g, tau, NC, BW, NA)
    p = np.abs(h[0]) ** 2
    assert np.unravel_index(np.argmax(p), p.shape) in ((m0, a0), (m0 + 1, a0))
    assert np.all(p[:, np.arange(nt) != a0] < 1e-9 * p.max())  # all in column a0
    # total energy sum_k sum_n |H|^2 = Nc (unit power per tone)
    if frac == 0:
        assert p[m0, a0] == pytest.approx(NC, rel=1e-5)  # all of it in one bin
        assert e[0] == pytest.approx(1.0, abs=1e-5)
    else:
        # half-way between rows: equal energy in rows m0 and m0 + 1 (4/pi^2 each)
        assert p[m0 + 1, a0] == pytest.approx(p[m0, a0], rel=1e-4)
        assert p[m0, a0] / NC == pytest.approx(4 / np.pi**2, rel=1e-3)
    # outside the window: nothing kept
    tau_far = np.full((1, nt, 1), (NA + 40) / BW, np.float32)
    _, e_far = c.angular_delay_from_paths(g, tau_far, NC, BW, NA)
    assert e_far[0] < 1e-3


# ----------------------------------------------------------------------------- paths

@pytest.mark.parametrize("env", ENVS)
def test_paths_power_and_delays(env):
    g, tau = c.generate_cost2100_paths(16, env, num_bs_antennas=8, seed=1)
    assert g.dtype == np.complex64 and tau.dtype == np.float32 and g.shape == tau.shape
    assert g.shape[:2] == (16, 8)
    pw = np.sum(np.abs(g.astype(np.complex128)) ** 2, axis=2)
    np.testing.assert_allclose(pw, 1.0, rtol=1e-5)  # unit path power per sample and element
    # same magnitude on every element (no per-element path loss), phases differ
    np.testing.assert_allclose(np.abs(g[:, 0]), np.abs(g[:, -1]), rtol=1e-5)
    live = g != 0
    assert np.all(tau >= 0) and np.all(tau[~live] == 0)
    assert np.allclose(np.min(np.where(live, tau, np.inf), axis=(1, 2)), 0.0)


def test_spherical_wavefront():
    """Per-element delays follow the element-to-scatterer distances, not a plane wave."""
    env = c.ENVIRONMENTS["semiurban_300MHz_los"]
    _, tau = c.generate_cost2100_paths(4, env, num_bs_antennas=32, seed=2)
    d = next(iter(c.draw_samples(4, env, seed=2)))[1]
    x = c.element_positions(32, env.wavelength_m)
    # the LOS path (first path of each sample) has delay |x_e - MS| / c + const
    ms = d.ms[0]
    exact = np.hypot(ms[0] - x, ms[1]) / c.SPEED_OF_LIGHT
    np.testing.assert_allclose(tau[0, :, 0] - tau[0, 0, 0], exact - exact[0], atol=1e-12)
    # a plane wave would be linear in x: the curvature is visible
    plane = np.polyval(np.polyfit(x, exact, 1), x)
    assert np.max(np.abs(exact - plane)) * env.carrier_frequency_hz > 1e-3  # cycles


# ----------------------------------------------------------------------------- determinism

def test_same_seed_identical_and_seeds_differ():
    h1, e1 = c.generate_cost2100_ad(40, "indoor_5.3GHz", seed=7)
    np_state = np.random.get_state()
    np.random.seed(123)  # the global RNG must not matter
    h2, e2 = c.generate_cost2100_ad(40, "indoor_5.3GHz", seed=7)
    np.random.set_state(np_state)
    assert np.array_equal(h1, h2) and np.array_equal(e1, e2)
    h3, _ = c.generate_cost2100_ad(40, "indoor_5.3GHz", seed=8)
    assert not np.allclose(h1, h3)
    g1, t1 = c.generate_cost2100_paths(40, "indoor_5.3GHz", seed=7)
    g2, t2 = c.generate_cost2100_paths(40, "indoor_5.3GHz", seed=7)
    assert np.array_equal(g1, g2) and np.array_equal(t1, t2)
    # blocks draw from different streams
    assert not np.allclose(h1[:8], h1[c.RNG_BLOCK:c.RNG_BLOCK + 8])


def test_independent_of_batch_size_workers_and_n():
    env, n = "semiurban_300MHz_los", 70
    ref = c.generate_cost2100_ad(n, env, num_bs_antennas=8, seed=4, batch_size=32)
    other = c.generate_cost2100_ad(n, env, num_bs_antennas=8, seed=4, batch_size=96)
    pool = c.generate_cost2100_ad(n, env, num_bs_antennas=8, seed=4, batch_size=32, workers=2)
    short = c.generate_cost2100_ad(40, env, num_bs_antennas=8, seed=4)
    for h, e in (other, pool):
        assert np.array_equal(h, ref[0]) and np.array_equal(e, ref[1])
    assert np.array_equal(short[0], ref[0][:40]) and np.array_equal(short[1], ref[1][:40])


# ----------------------------------------------------------------------------- statistics

def _draw(env, n, seed=11):
    return c.draw_block(np.random.default_rng(seed), n, env)


def _far(d):
    return (d.kind == c.TWIN) | (d.kind == c.SINGLE)


@pytest.mark.parametrize("env", ENVS)
def test_active_far_cluster_count(env):
    e = c.ENVIRONMENTS[env]
    d = _draw(e, 3000 if e.n_mpc == 3 else 1500)
    k = np.bincount(d.cluster_sample[_far(d)], minlength=d.n)
    lam = e.mean_active_far_clusters
    if e.far_clusters_poisson:
        # mixture: K | n_far ~ Poisson(2.5 n_far), n_far = max(1, Poisson(3.8))
        r = c.vr_cover_ratio(e)
        nf = np.maximum(np.random.default_rng(0).poisson(3.8, 400_000), 1)
        var = np.var(r * nf) + lam
        assert np.all(d.n_far_param >= 1)
        assert np.mean(d.n_far_param) == pytest.approx(3.8 + math.exp(-3.8), abs=0.12)
    else:
        var = lam  # Poisson
    assert abs(k.mean() - lam) < 4 * math.sqrt(var / d.n)
    assert k.var() == pytest.approx(var, rel=0.15)
    # local clusters: one MS-local per sample, BS-local indoor only
    assert np.bincount(d.cluster_sample[d.kind == c.MS_LOCAL], minlength=d.n).tolist() == [1] * d.n
    assert np.any(d.kind == c.BS_LOCAL) == e.bs_local
    assert not np.any(d.kind == c.SINGLE) if e.k_sel == 0 else \
        np.mean(d.kind[_far(d)] == c.SINGLE) == pytest.approx(e.k_sel, abs=0.02)


@pytest.mark.parametrize("env", ENVS)
def test_cluster_parameter_distributions(env):
    e = c.ENVIRONMENTS[env]
    d = _draw(e, 1500)
    p = d.params
    np.testing.assert_allclose(np.median(p[:, 1:], axis=0),
                               [e.ds_median_s, e.eod_median_deg, e.aod_median_deg,
                                e.eoa_median_deg, e.aoa_median_deg], rtol=0.06)
    sdb = np.std(10 * np.log10(p[:, 1:]), axis=0)
    np.testing.assert_allclose(sdb, [e.ds_sigma_db, e.eod_sigma_db, e.aod_sigma_db,
                                     e.eoa_sigma_db, e.aoa_sigma_db], atol=0.15)
    assert np.std(p[:, 0]) == pytest.approx(e.sf_sigma_db, abs=0.1)
    z = np.column_stack([p[:, 0], np.log(p[:, [1, 3, 5]])])
    cols = [0, 1, 3, 5] if e.sf_sigma_db > 0 else [1, 3, 5]  # SF, DS, AoD, AoA
    z = z[:, -len(cols):]
    want = e.correlation_matrix()[np.ix_(cols, cols)]
    np.testing.assert_allclose(np.corrcoef(z.T), want, atol=0.04)


@pytest.mark.parametrize("env", ENVS)
def test_mpc_spreads_match_cluster_parameters(env):
    """Delay and angular spreads measured from MPC positions have the drawn (rms) values."""
    e = c.ENVIRONMENTS[env]
    d = _draw(e, 800 if e.n_mpc > 3 else 3000)
    twin = d.kind == c.TWIN
    # MPC delays seen from the array centre
    tmpc = np.linalg.norm(d.mpc_bs, axis=-1) / c.SPEED_OF_LIGHT + d.mpc_rest
    ds2 = np.var(tmpc, axis=1, ddof=1)
    # E[s^2 / sigma^2] = 1 (twin clusters; single-bounce ones follow the geometry); the median
    # of s / sigma is that of sqrt(chi2(M - 1) / (M - 1)) for M MPCs
    ratio = ds2[twin] / d.params[twin, 1] ** 2
    m = e.n_mpc
    if m == 3:
        # small clusters (indoor): the MPC geometry is linear, the mean is exact; semi-urban
        # clusters reach tens of metres and second-order path-length terms fatten the tail
        assert np.mean(ratio) == pytest.approx(1.0, abs=0.06)
    # (in semi-urban LOS the wide clusters add up to ~+8 % at the median through the
    # second-order path length of lateral offsets, d tan^2(sigma_az) z^2 / 2)
    assert np.median(np.sqrt(ratio)) == pytest.approx(
        math.sqrt(chi2.median(m - 1) / (m - 1)), abs=0.04 if m == 3 else 0.1)
    if m > 3:  # with 27 or 48 MPCs the per-cluster spread itself has the table median
        assert np.median(np.sqrt(ds2[twin])) == pytest.approx(e.ds_median_s, rel=0.1)
    # azimuth (AoD) and elevation (EoD) spreads at the BS around the cluster centre
    far = _far(d)
    azc = np.arctan2(d.cluster_bs_centre[:, 1], d.cluster_bs_centre[:, 0])
    daz = np.angle(np.exp(1j * (np.arctan2(d.mpc_bs[..., 1], d.mpc_bs[..., 0]) - azc[:, None])))
    r_az = np.degrees(np.sqrt(np.mean(daz**2, axis=1)))[far] / d.params[far, 3]
    el = np.degrees(np.arctan2(d.mpc_bs[..., 2], np.hypot(d.mpc_bs[..., 0], d.mpc_bs[..., 1])))
    r_el = np.sqrt(np.mean(el**2, axis=1))[far] / d.params[far, 2]
    bias = math.sqrt(chi2.median(m) / m)  # rms of M draws around the known centre
    assert np.median(r_az) == pytest.approx(bias, abs=0.05)
    assert np.median(r_el) == pytest.approx(bias, abs=0.05)


@pytest.mark.parametrize("env", ENVS)
def test_cluster_power_decay_and_los(env):
    e = c.ENVIRONMENTS[env]
    d = _draw(e, 1500)
    far = _far(d)
    excess_us = (d.tau_c - d.tau_0[d.cluster_sample])[far] * 1e6
    level = (10 * np.log10(d.power[far]) - d.params[far, 0]
             - 20 * np.log10(d.vr_gain[far]))  # remove shadow fading and VR gain
    before = d.tau_c[far] < e.tau_b_s
    slope = np.polyfit(excess_us[before], level[before], 1)[0]
    assert slope == pytest.approx(-e.k_tau_db_per_us, rel=0.02)
    if math.isfinite(e.tau_b_s):  # constant beyond the cut-off
        after = ~before
        assert after.sum() > 50
        floor = -e.k_tau_db_per_us * (e.tau_b_s - d.tau_0[d.cluster_sample][far][after]) * 1e6
        np.testing.assert_allclose(level[after], floor, atol=1e-6)
    # local clusters are not attenuated
    loc = ~far
    np.testing.assert_allclose(10 * np.log10(d.power[loc]), d.params[loc, 0], atol=1e-9)
    # LOS path where the model has it
    if e.los_vr_radius_m > 0:
        assert np.all(d.los_gain > 0)
        d0 = np.hypot(d.ms[:, 0], d.ms[:, 1])
        p_cl = np.bincount(d.cluster_sample, weights=np.sum(np.abs(d.mpc_gain) ** 2, axis=1)
                           + np.sum(np.abs(d.dmc_gain) ** 2, axis=1))
        g_los = c.vr_gain(d0, e.los_vr_radius_m, e.los_vr_transition_m, e.wavelength_m)
        k_db = 10 * np.log10(d.los_gain**2 / p_cl / g_los**2)
        assert np.mean(k_db) == pytest.approx(e.los_k_mu_db, abs=0.2)
        assert np.std(k_db) == pytest.approx(e.los_k_sigma_db, abs=0.15)
    else:
        assert np.all(d.los_gain == 0)


def test_indoor_los_switch_and_elevation_quirk():
    """The documented quirk choices can be switched back with dataclasses.replace."""
    ind = dataclasses.replace(c.ENVIRONMENTS["indoor_5.3GHz_reference"], los_vr_radius_m=30.0,
                              los_vr_transition_m=1.0)
    d = _draw(ind, 200)
    assert np.all(d.los_gain > 0)
    ref = dataclasses.replace(c.ENVIRONMENTS["semiurban_300MHz_nlos"], eod_median_deg=90.4)
    d = _draw(ref, 100)
    far = _far(d)
    height = np.std(d.mpc_bs[..., 2], axis=1)[far]
    dist = np.linalg.norm(d.cluster_bs_centre[far], axis=1)
    # BS-side clusters as tall as they are far (tan(80 deg clip) ~ 5.7)
    assert np.median(height / dist) > 1.0


@pytest.mark.parametrize("env", ENVS)
def test_energy_kept_and_power(env):
    h, e = c.generate_cost2100_ad(64, env, seed=5)
    assert np.all((e > 0) & (e <= 1.0 + 1e-5))
    # most energy arrives within the 1.6 us window of 32 x 50 ns rows (channels.md: median
    # ~0.95 indoor, ~0.92 semi-urban NLOS in a prototype)
    assert np.median(e) > 0.85
    # unit mean power: total energy / (Nc Nt) averages ~1 over samples
    kept = np.sum(np.abs(h.astype(np.complex128)) ** 2, axis=(1, 2))
    assert np.mean(kept / e) / (NC * 32) == pytest.approx(1.0, abs=0.15)


# ----------------------------------------------------------------------------- NUFFT accuracy

def _direct_rows(t, cycles, amp, offsets, na, nc):
    """float64 reference: all Nc tones path by path, then the unitary delay transform."""
    k = np.arange(nc)
    ng = offsets.size - 1
    h = np.zeros((ng, na), complex)
    e = np.zeros(ng)
    for g in range(ng):
        sl = slice(offsets[g], offsets[g + 1])
        tones = np.sum(amp[sl] * np.exp(-2j * np.pi * (cycles[sl] + np.outer(k, t[sl]) / nc)),
                       axis=1)
        e[g] = np.sum(np.abs(tones) ** 2)
        h[g] = (np.fft.ifft(tones) * np.sqrt(nc))[:na]
    return h, e


@pytest.mark.parametrize(("nc", "na"), [(1024, 32), (257, 20)])
def test_nufft_rows_and_energy_match_float64_direct_sum(nc, na):
    """Delay rows and Parseval energy of the NUFFT vs the float64 sum over all tones."""
    rng = np.random.default_rng(2)
    sizes = np.array([300, 0, 1, 40, 700])  # an empty group and a single path
    offsets = np.r_[0, np.cumsum(sizes)]
    r = offsets[-1]
    t = rng.uniform(-0.3 * nc, 1.7 * nc, r)  # wraps around the periodic delay axis both ways
    t[:20] = np.arange(20.0)  # exactly on delay rows
    t[20:40] = np.arange(20.0) + 0.5  # half-way between rows
    cycles = rng.uniform(-1e3, 1e3, r)
    amp = rng.standard_normal(r) + 1j * rng.standard_normal(r)
    h, e = c._delay_rows(t, cycles, amp, offsets, na, nc)
    h_ref, e_ref = _direct_rows(t, cycles, amp, offsets, na, nc)
    assert _rel(h, h_ref) < 3e-6
    live = sizes > 0
    np.testing.assert_allclose(e[live], e_ref[live], rtol=3e-6)
    assert e[1] == 0 and np.all(h[1] == 0)
    # one path: all Nc tones have power |amp|^2
    assert e[2] == pytest.approx(nc * abs(amp[offsets[2]]) ** 2, rel=2e-6)


def test_results_do_not_depend_on_chunking(monkeypatch):
    env = "semiurban_300MHz_nlos"  # ~1200 paths per sample: chunks split an element's samples
    ref = c.generate_cost2100_ad(40, env, num_bs_antennas=8, seed=6)
    g, tau = c.generate_cost2100_paths(3, env, num_bs_antennas=8, seed=6)
    ref_paths = c.angular_delay_from_paths(g, tau)
    monkeypatch.setattr(c, "KERNEL_CHUNK_ROWS", 2000)
    monkeypatch.setattr(c, "KERNEL_CHUNK_GROUPS", 5)
    small = c.generate_cost2100_ad(40, env, num_bs_antennas=8, seed=6)
    small_paths = c.angular_delay_from_paths(g, tau)
    for a, b in zip(ref + ref_paths, small + small_paths, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("env", ["indoor_5.3GHz", "semiurban_300MHz_los"])
def test_first_arrival_is_earliest_over_all_elements(env):
    e = c.ENVIRONMENTS[env]
    p = c.paths_from_draw(_draw(env, 16), e, 32)
    tau = p.delays(p.x)  # [Nt, Q]
    brute = np.minimum.reduceat(tau.min(axis=0), p.starts[:-1])
    np.testing.assert_allclose(p.first, brute, rtol=1e-14, atol=0)


# ----------------------------------------------------------------------------- dense multipath

def test_dmc_leaves_the_specular_draws_unchanged():
    """DMC draws come after all others: same seed, same specular geometry, power scaled."""
    ref = c.ENVIRONMENTS["indoor_5.3GHz_reference"]
    cal = c.ENVIRONMENTS["indoor_5.3GHz"]
    a, b = _draw(ref, 64), _draw(cal, 64)
    for f in ("ms", "cluster_sample", "kind", "params", "tau_c", "power", "mpc_bs", "mpc_rest"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    np.testing.assert_allclose(b.mpc_gain, a.mpc_gain * math.sqrt(1 - cal.dmc_power_fraction),
                               rtol=1e-12)
    assert a.dmc_bs.shape == (a.kind.size, 0, 3)
    assert b.dmc_bs.shape == (b.kind.size, cal.dmc_paths, 3)
    # switching DMC off gives the reference numbers exactly
    off = dataclasses.replace(cal, dmc_power_fraction=0.0)
    h0, e0 = c.generate_cost2100_ad(40, off, num_bs_antennas=8, seed=3)
    h1, e1 = c.generate_cost2100_ad(40, ref, num_bs_antennas=8, seed=3)
    assert np.array_equal(h0, h1) and np.array_equal(e0, e1)


def test_dmc_statistics():
    """Power share, extra delay and angular widening of the dense multipath."""
    env = dataclasses.replace(c.ENVIRONMENTS["indoor_5.3GHz"], dmc_power_fraction=0.3,
                              dmc_paths=30, dmc_spread_factor=3.0, dmc_delay_s=20e-9)
    d = _draw(env, 1500)
    p_spec = np.sum(np.abs(d.mpc_gain) ** 2, axis=1)
    p_dmc = np.sum(np.abs(d.dmc_gain) ** 2, axis=1)
    # exactly the set share of every cluster's power; a sample's paths sum to one
    np.testing.assert_allclose(p_dmc / (p_spec + p_dmc), 0.3, rtol=1e-12)
    total = np.bincount(d.cluster_sample, weights=p_spec + p_dmc) + d.los_gain**2
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)
    # extra delay: the same geometry without widening has the specular delay law, so the mean
    # difference of DMC and MPC delays (seen from the array centre) is the DMC's mean delay
    same = dataclasses.replace(env, dmc_spread_factor=1.0)
    d1 = _draw(same, 1500)
    t_mpc = np.linalg.norm(d1.mpc_bs, axis=-1) / c.SPEED_OF_LIGHT + d1.mpc_rest
    t_dmc = np.linalg.norm(d1.dmc_bs, axis=-1) / c.SPEED_OF_LIGHT + d1.dmc_rest
    extra = t_dmc.mean(axis=1) - t_mpc.mean(axis=1)
    sem = 20e-9 / math.sqrt(extra.size * env.dmc_paths)
    assert abs(np.mean(extra) - 20e-9) < 5 * sem + 0.2e-9
    # exponential: the spread of the per-path excess over the cluster mean is ~ the mean
    assert np.std(t_dmc - t_mpc.mean(axis=1, keepdims=True)) == pytest.approx(20e-9, rel=0.15)
    # lateral (azimuth) spread at the BS: dmc_spread_factor times the specular one
    far = _far(d)
    azc = np.arctan2(d.cluster_bs_centre[:, 1], d.cluster_bs_centre[:, 0])

    def rms_az(p):
        daz = np.angle(np.exp(1j * (np.arctan2(p[..., 1], p[..., 0]) - azc[:, None])))
        return np.sqrt(np.mean(daz**2, axis=1))[far]

    m = env.dmc_paths
    r_dmc = np.degrees(rms_az(d.dmc_bs)) / d.params[far, 3]  # drawn AoD spread
    assert np.median(r_dmc) == pytest.approx(3.0 * math.sqrt(chi2.median(m) / m), rel=0.05)
