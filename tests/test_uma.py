"""Tests for linksim.channels.uma (TR 38.901 UMa NLOS through Sionna)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from linksim.channels import uma

N = 64
NT = 8


def _gen(n, **kw):
    """generate_uma_cir with one torch thread: small batches with two threads
    slow down many-fold when another process competes for the two cores."""
    kw.setdefault("num_threads", 1)
    return uma.generate_uma_cir(n, **kw)


@pytest.fixture(scope="module")
def cir():
    """Default-configuration CIRs, seed 0."""
    return _gen(N, num_bs_antennas=NT, seed=0, batch_size=N)


def test_shapes_and_dtypes(cir):
    a, tau = cir
    assert a.shape == (N, NT, uma.NUM_PATHS_NLOS)
    assert a.dtype == np.complex64
    assert tau.shape == (N, uma.NUM_PATHS_NLOS)
    assert tau.dtype == np.float32
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(tau))


def test_same_seed_identical(cir):
    a, tau = cir
    # A different torch global seed must not matter: everything comes from `seed`.
    np_state = np.random.get_state()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(12345)
            np.random.seed(999)
            a2, tau2 = _gen(N, num_bs_antennas=NT, seed=0, batch_size=N)
    finally:
        np.random.set_state(np_state)
    assert np.array_equal(a, a2)
    assert np.array_equal(tau, tau2)


def test_different_seed_differs(cir):
    a, tau = cir
    a2, tau2 = _gen(N, num_bs_antennas=NT, seed=1, batch_size=N)
    assert not np.allclose(a, a2)
    assert not np.allclose(tau, tau2)


def test_batches_differ_and_prefix_property():
    a, tau = _gen(40, num_bs_antennas=4, seed=3, batch_size=16)
    # batch 0 and batch 1 come from different streams
    assert not np.allclose(tau[:16], tau[16:32])
    # the result for n is the first n samples of the result for larger n
    a2, tau2 = _gen(20, num_bs_antennas=4, seed=3, batch_size=16)
    assert np.array_equal(a[:20], a2)
    assert np.array_equal(tau[:20], tau2)


def test_sionna_rng_and_threads_restored():
    from sionna.phy import config

    gen = config.torch_rng(config.device)
    state = gen.get_state().clone()
    threads = torch.get_num_threads()
    _gen(4, num_bs_antennas=2, seed=5, batch_size=4, num_threads=1)
    assert torch.equal(gen.get_state(), state)
    assert torch.get_num_threads() == threads


def test_forced_nlos():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = uma.make_uma_model(4, 28e9)
        uma.set_uma_topology(model, 32, (0.0, 0.0))
        # Sionna stores the per-link LoS state of the current topology
        assert not bool(model._scenario.los.any())
        with torch.no_grad():
            a, _tau = uma.draw_uma_batch(model)
    finally:
        torch.set_num_threads(threads)
    assert a.shape == (32, 4, uma.NUM_PATHS_NLOS)


def test_delays_start_at_zero(cir):
    _, tau = cir
    assert np.all(tau >= 0.0)
    assert np.all(tau.min(axis=1) == 0.0)
    assert np.all(tau.max(axis=1) > 0.0)
    assert np.all(tau[:, 0] == 0.0)
    assert np.all(np.diff(tau, axis=1) >= 0.0)  # sorted by delay


def test_mean_power_omni_upright_is_one():
    # Cluster powers sum to 1 and path loss / shadow fading are off: with
    # omni elements and co-polarised (upright) UE the mean power is 1.
    a, tau = _gen(
        128,
        num_bs_antennas=4,
        seed=7,
        batch_size=128,
        antenna_pattern="omni",
        ue_orientation="upright",
    )
    f = uma.subcarrier_frequencies(64, 120e3)
    h = uma.frequency_response(a, tau, f)
    p = float(np.mean(np.abs(h) ** 2))
    assert 0.85 < p < 1.15
    # same from the paths (rays inside a cluster add with random phases, so
    # only the mean over samples is 1, not each sample's power)
    p_paths = float(np.mean(np.sum(np.abs(a.astype(np.complex128)) ** 2, axis=-1)))
    assert 0.85 < p_paths < 1.15


def test_mean_power_default(cir):
    # 38.901 sector pattern, random UE orientation: mean pattern gain times
    # polarisation loss, ~1.75 (measured); loose bounds.
    a, tau = cir
    h = uma.frequency_response(a, tau, uma.subcarrier_frequencies(64, 120e3))
    p = float(np.mean(np.abs(h) ** 2))
    assert 0.7 < p < 4.0


def _direct_response(a, tau, f):
    e = np.exp(-2j * np.pi * f[None, :, None] * tau.astype(np.float64)[:, None, :])
    return np.einsum("bkp,bnp->bkn", e, a.astype(np.complex128))


@pytest.mark.parametrize("nc", [1, 2, 7, 64, 100])
def test_frequency_response_matches_direct(nc):
    rng = np.random.default_rng(nc)
    b, nt, p = 19, 5, 24
    a = (rng.standard_normal((b, nt, p)) + 1j * rng.standard_normal((b, nt, p))).astype(
        np.complex64
    )
    tau = (rng.random((b, p)) * 3e-6).astype(np.float32)
    for f in (
        uma.subcarrier_frequencies(nc, 120e3),  # uniform grid (factored path when nc >= 4)
        np.sort(rng.uniform(-60e6, 60e6, nc)),  # arbitrary grid (direct path)
        uma.subcarrier_frequencies(nc, 120e3) + 28e9,  # passband: large f*tau
    ):
        h = uma.frequency_response(a, tau, f)
        ref = _direct_response(a, tau, f)
        assert h.shape == (b, nc, nt) and h.dtype == np.complex64
        err = np.max(np.abs(h - ref)) / np.sqrt(np.mean(np.abs(ref) ** 2))
        assert err < 1e-5


def test_frequency_response_on_generated(cir):
    a, tau = cir
    f = uma.subcarrier_frequencies(1024, 30e3)
    h = uma.frequency_response(a[:3], tau[:3], f)
    ref = _direct_response(a[:3], tau[:3], f)
    err = np.max(np.abs(h - ref)) / np.sqrt(np.mean(np.abs(ref) ** 2))
    assert err < 1e-5


def test_subcarrier_frequencies_match_sionna():
    from sionna.phy.channel import subcarrier_frequencies as sn_freqs

    for nc, scs in [(1024, 120e3), (7, 15e3), (1, 30e3), (64, 15e3)]:
        f = uma.subcarrier_frequencies(nc, scs)
        assert f.dtype == np.float64 and f.shape == (nc,)
        ref = sn_freqs(nc, scs).double().cpu().numpy()
        np.testing.assert_allclose(f, ref, rtol=1e-6)
    f = uma.subcarrier_frequencies(4, 1.0)
    assert list(f) == [-2.0, -1.0, 0.0, 1.0]


def test_validity_notes():
    assert uma.validity_notes(28e9) == []
    assert uma.validity_notes(6e9) == []
    notes = uma.validity_notes(5.3e9)
    assert len(notes) == 1 and "6 GHz" in notes[0]
    notes = uma.validity_notes(300e6)
    assert len(notes) == 2 and any("0.5 GHz" in s for s in notes)
    assert uma.validity_notes(150e9)


def test_validity_warning():
    with pytest.warns(UserWarning, match="6 GHz"):
        _gen(2, num_bs_antennas=2, carrier_frequency_hz=5.3e9, batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _gen(2, num_bs_antennas=2, carrier_frequency_hz=28e9, batch_size=2)


def test_ue_speed_changes_nothing_in_single_snapshot_shape():
    a, _tau = _gen(8, num_bs_antennas=2, ue_speed_mps=(0.9, 0.9), seed=2, batch_size=8)
    assert a.shape == (8, 2, uma.NUM_PATHS_NLOS)


def test_rms_delay_spread_simple():
    a = np.zeros((1, 1, 2), np.complex64)
    a[0, 0] = [1.0, 1.0]
    tau = np.array([[0.0, 2e-7]], np.float32)
    np.testing.assert_allclose(uma.rms_delay_spread(a, tau), [1e-7], rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError):
        uma.generate_uma_cir(-1)
    with pytest.raises(ValueError):
        uma.generate_uma_cir(2, batch_size=0)
    with pytest.raises(ValueError):
        uma.frequency_response(np.zeros((2, 3, 4)), np.zeros((2, 5)), np.zeros(3))
