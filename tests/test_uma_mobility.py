"""UMa NLOS snapshot series with a moving UE (the "QuaDRiGa-like" family): Doppler physics,
agreement with single-snapshot generation, reproducibility, data set layout and metadata."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from linksim.channels import dataset, uma
from pydantic import ValidationError
from scipy.special import j0

from linksim.scenario import UMaChannel, load_scenario

C = 299_792_458.0
V = 0.9  # UE speed [m/s]
SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "quadriga_uma.yaml"

KW = {"num_bs_antennas": 4, "antenna_pattern": "omni", "ue_orientation": "upright",
      "ue_speed_mps": (V, V), "num_threads": 1}


def _series(n, t, dt, fc, seed=1, batch_size=100, **kw):
    return uma.generate_uma_series(n, t, dt, carrier_frequency_hz=fc, seed=seed,
                                   batch_size=batch_size, **{**KW, **kw})


def _mean_correlation(a, tau, nc=16, scs=1e6):
    """Mean correlation and power of the frequency response vs lag.

    ``rho(lag) = E_drops[sum_k,n conj(H_0) H_lag] / E_drops[sum_k,n |H_0|^2]``, complex [T];
    ``power(t) = E_drops[sum_k,n |H_t|^2]``, [T].
    """
    n, t, nt, p = a.shape
    f = uma.subcarrier_frequencies(nc, scs)
    h = uma.frequency_response(a.reshape(n * t, nt, p), np.repeat(tau, t, axis=0), f)
    h = h.reshape(n, t, nc * nt).astype(np.complex128)
    power = np.mean(np.sum(np.abs(h) ** 2, axis=-1), axis=0)
    return np.einsum("bk,btk->t", np.conj(h[:, 0]), h) / n / power[0], power


def _fit_doppler_scale(rho, x):
    """Scale s minimising sum |rho - J0(s x)|^2 over the main lobe x < 3 (x = 2 pi f_D lag)."""
    lobe = x < 3.0
    grid = np.linspace(0.5, 1.2, 701)
    err = [np.sum((rho[lobe] - j0(s * x[lobe])) ** 2) for s in grid]
    return float(grid[int(np.argmin(err))])


# Carrier, snapshot interval: a lag grid covering the first zero of J0 (x = 2.405) and beyond.
CASES = {28e9: 1e-3, 5.3e9: 5e-3, 0.3e9: 0.1}


def _quiet(fn, *args, **kw):
    """Call ``fn`` with the expected below-6-GHz validity warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def correlations():
    """Per carrier: (rho [T], x = 2 pi f_D lag [T], power [T]); 300 drops x 10 snapshots."""
    out = {}
    for fc, dt in CASES.items():
        a, tau = _quiet(_series, 300, 10, dt, fc, seed=11)
        rho, power = _mean_correlation(a, tau)
        out[fc] = (rho, 2 * np.pi * V * fc / C * dt * np.arange(10), power)
    return out


@pytest.mark.parametrize("fc", list(CASES))
def test_correlation_follows_clarke_doppler(correlations, fc):
    """Mean correlation vs lag ~ J0(2 pi s f_D lag), f_D = v fc / c.

    Averaged over drops, whose velocity direction is uniform in the horizontal plane, each ray
    contributes exactly J0(2 pi f_D sin(ZOA) lag): the curve is a power-weighted mixture of J0
    with slightly reduced Doppler (rays arrive some 15-25 deg off the horizon), which follows
    J0(s x) through the main lobe and damps the later lobes. Tolerances (300 drops): fitted s in
    [0.85, 1.0] (measured 0.90-0.93); main lobe (x < 3) within 0.03 of J0(s x); monotonic fall
    to the first zero, which lies between x = 2.405 and 2.405 / 0.85; a negative lobe between
    J0's minimum (-0.40) and -0.15; imaginary part < 0.08 (symmetric mean Doppler spectrum;
    measured up to 0.06 over seeds).
    """
    rho, x, _ = correlations[fc]
    assert abs(rho[0] - 1.0) < 1e-6
    assert np.max(np.abs(rho.imag)) < 0.08
    s = _fit_doppler_scale(rho.real, x)
    assert 0.85 <= s <= 1.0, s
    lobe = x < 3.0
    assert np.max(np.abs(rho.real[lobe] - j0(s * x[lobe]))) < 0.03
    first_neg = int(np.argmax(rho.real < 0))
    assert first_neg > 0 and np.all(np.diff(rho.real[:first_neg + 1]) < 0)
    assert x[first_neg] >= 2.405 and x[first_neg - 1] <= 2.405 / 0.85
    assert -0.42 < rho.real.min() < -0.15


def test_doppler_scales_with_carrier(correlations):
    """Below 6 GHz the LSPs are those of 6 GHz, so with one seed the 5.3 GHz and 300 MHz drops
    have the same angles: their curves collapse onto one function of f_D x lag (decorrelation
    time ~ 1 / fc; the fitted scales agree to 0.005 measured)."""
    scales = {fc: _fit_doppler_scale(rho.real, x) for fc, (rho, x, _) in correlations.items()}
    assert abs(scales[5.3e9] - scales[0.3e9]) < 0.02
    # at a fixed lag of 5 ms: 28 GHz decorrelated, 5.3 GHz still highly correlated
    rho28, rho5 = correlations[28e9][0], correlations[5.3e9][0]
    assert abs(rho28[5].real) < 0.2 and rho5[1].real > 0.9


def test_t1_is_the_single_snapshot_generator():
    """T = 1 series == generate_uma_cir (bit-identical), and snapshot 0 of a longer series is
    the same sample up to float32 rounding (Sionna reduces over a longer time axis)."""
    a1, tau1 = uma.generate_uma_cir(24, carrier_frequency_hz=28e9, seed=4, batch_size=16, **KW)
    s1, st1 = _series(24, 1, 5e-3, 28e9, seed=4, batch_size=16)
    assert s1.shape == (24, 1, 4, uma.NUM_PATHS_NLOS)
    assert np.array_equal(s1[:, 0], a1) and np.array_equal(st1, tau1)
    s5, st5 = _series(24, 5, 5e-3, 28e9, seed=4, batch_size=16)
    assert np.array_equal(st5, tau1)
    scale = np.max(np.abs(a1))
    assert np.max(np.abs(s5[:, 0] - a1)) <= 1e-6 * scale
    # the drops do not depend on T or the interval
    s3, _ = _series(24, 3, 0.3, 28e9, seed=4, batch_size=16)
    assert np.max(np.abs(s3[:, 0] - a1)) <= 1e-6 * scale


def test_static_ue_gives_constant_series():
    a, _ = _series(16, 4, 5e-3, 28e9, seed=2, batch_size=16, ue_speed_mps=(0.0, 0.0))
    np.testing.assert_allclose(a[:, 1:], np.broadcast_to(a[:, :1], a[:, 1:].shape), atol=1e-6)


@pytest.mark.parametrize("fc", list(CASES))
def test_moving_ue_mean_power_is_stationary(correlations, fc):
    """Each ray only rotates in phase: the mean power E|H(t)|^2 is the same at every snapshot
    (within 10 %, about 3 sampling standard deviations of the mean over 300 drops: single drops
    fade as their rays interfere)."""
    power = correlations[fc][2]
    assert np.max(np.abs(power / power[0] - 1)) < 0.1


def test_seeds_reproducible():
    a, tau = _series(12, 3, 2e-3, 28e9, seed=9, batch_size=8)
    b, tb = _series(12, 3, 2e-3, 28e9, seed=9, batch_size=8)
    assert np.array_equal(a, b) and np.array_equal(tau, tb)
    c, _ = _series(12, 3, 2e-3, 28e9, seed=10, batch_size=8)
    assert not np.allclose(a, c)


def test_bad_series_arguments():
    for bad in ({"num_snapshots": 0}, {"num_snapshots": 1.5}, {"snapshot_interval_s": 0.0},
                {"snapshot_interval_s": -1e-3}):
        args = {"num_snapshots": 2, "snapshot_interval_s": 1e-3, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            uma.generate_uma_series(2, args["num_snapshots"], args["snapshot_interval_s"])


CFG = {"family": "uma", "carrier_frequency_hz": 5.3e9, "num_subcarriers": 64,
       "subcarrier_spacing_hz": 20e6 / 64, "num_bs_antennas": 4, "ue_speed_mps": V,
       "num_snapshots": 4, "snapshot_interval_s": 2e-3, "bs_antenna_pattern": "omni",
       "ue_orientation": "upright"}


def test_dataset_series_layout_and_metadata(tmp_path):
    ds = _quiet(dataset.generate, CFG, 12, seed=5)
    t = CFG["num_snapshots"]
    assert len(ds) == 12 and ds.num_snapshots == t
    np.testing.assert_array_equal(ds.drop, np.repeat(np.arange(3), t))
    np.testing.assert_allclose(ds.time_s, np.tile(np.arange(t) * 2e-3, 3))
    # sample d * T + k is snapshot k of drop d of generate_uma_series (same batching)
    a, tau = _quiet(uma.generate_uma_series, 3, t, 2e-3, carrier_frequency_hz=5.3e9, seed=5,
                    batch_size=dataset.GENERATION_BATCH // t, num_bs_antennas=4,
                    antenna_pattern="omni", ue_orientation="upright", ue_speed_mps=(V, V))
    np.testing.assert_array_equal(ds.a, a.reshape(12, 4, -1))
    np.testing.assert_array_equal(ds.tau, np.repeat(tau, t, axis=0))
    m = ds.meta
    assert m["num_snapshots"] == t and m["snapshot_interval_s"] == 2e-3
    assert m["bandwidth_hz"] == pytest.approx(20e6)
    assert m["doppler_hz"] == pytest.approx(V * 5.3e9 / C)
    assert "drop * num_snapshots" in m["sample_index"]
    notes = " ".join(m["notes"])
    assert "below 6 GHz" in notes and "Doppler" in notes and "QuaDRiGa" in notes
    assert "0.5 GHz" not in notes
    # the layout survives the HDF5 round trip
    path = tmp_path / "series.h5"
    dataset.write_cir(path, ds)
    back = dataset.read_dataset(path)
    np.testing.assert_array_equal(back.drop, ds.drop)
    np.testing.assert_allclose(back.time_s, ds.time_s)


def test_dataset_t1_unchanged():
    """Without snapshot fields (or T = 1) the uma family gives what it gave before series."""
    cfg = {k: v for k, v in CFG.items() if k not in ("num_snapshots", "snapshot_interval_s")}
    ds = _quiet(dataset.generate, {**cfg, "carrier_frequency_hz": 28e9}, 6, seed=3)
    a, tau = uma.generate_uma_cir(6, carrier_frequency_hz=28e9, seed=3,
                                  batch_size=dataset.GENERATION_BATCH, **KW)
    assert np.array_equal(ds.a, a) and np.array_equal(ds.tau, tau)
    assert ds.num_snapshots == 1 and not ds.time_s.any()
    np.testing.assert_array_equal(ds.drop, np.arange(6))


def test_validity_notes_sub6_and_sub500mhz():
    assert uma.validity_notes(28e9, 30.72e6) == []
    n5 = uma.validity_notes(5.3e9, 20e6)
    assert len(n5) == 1 and "fc = 6 GHz" in n5[0]
    n03 = uma.validity_notes(0.3e9, 20e6)
    assert len(n03) == 2
    assert "0.5 GHz" in n03[0] and "Sionna accepts it silently" in n03[0]
    # 38.901 bandwidth limit: 10 % of the carrier (30.72 MHz at 300 MHz is over)
    assert any("10 %" in s for s in uma.validity_notes(0.3e9, 30.72e6))


def test_scenario_fields():
    u = UMaChannel(carrier_frequency_hz=0.3e9, bandwidth_hz=20e6, num_snapshots=10,
                   n_train=100, n_val=20, n_test=30)
    assert u.subcarrier_spacing_hz == pytest.approx(20e6 / 1024)
    g = u.generator_config()
    assert g["num_snapshots"] == 10 and g["snapshot_interval_s"] == 5e-3
    assert "bandwidth_hz" not in g
    # single snapshots: the generator config (the cache key) is what it was before series
    assert set(UMaChannel().generator_config()) == {
        "family", "carrier_frequency_hz", "num_subcarriers", "subcarrier_spacing_hz",
        "num_bs_antennas", "ue_speed_mps", "bs_antenna_pattern", "ue_orientation"}
    with pytest.raises(ValidationError, match="n_val=25 is not a multiple"):
        UMaChannel(num_snapshots=10, n_train=100, n_val=25, n_test=30)
    with pytest.raises(ValidationError, match="snapshot_interval_s"):
        UMaChannel(snapshot_interval_s=0)
    with pytest.raises(ValidationError, match="disagree"):
        UMaChannel(bandwidth_hz=20e6, subcarrier_spacing_hz=30e3)


def test_quadriga_scenario_file():
    sc = load_scenario(SCENARIO)
    fcs = sorted(d.carrier_frequency_hz for d in sc.datasets.values())
    assert fcs == [0.3e9, 5.3e9, 28e9]
    for d in sc.datasets.values():
        assert d.ue_speed_mps == V and d.num_snapshots > 1 and d.num_subcarriers == 1024
        assert d.num_subcarriers * d.subcarrier_spacing_hz <= 0.1 * d.carrier_frequency_hz


@pytest.mark.slow
def test_quadriga_scenario_runs(tmp_path):
    """`linksim run scenarios/quadriga_uma.yaml` end to end (about 2 minutes on 2 cores)."""
    from click.testing import CliRunner

    from linksim.cli import main

    data = yaml.safe_load(SCENARIO.read_text())
    data["output_dir"] = str(tmp_path / "runs")
    data["cache_dir"] = str(tmp_path / "cache")
    path = tmp_path / "quadriga_uma.yaml"
    path.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    (run_dir,) = list((tmp_path / "runs").iterdir())
    m = json.loads((run_dir / "manifest.json").read_text())
    notes = m["datasets"]["qd300/test"]["notes"]
    assert any("0.5 GHz" in s for s in notes) and any("snapshot series" in s for s in notes)
