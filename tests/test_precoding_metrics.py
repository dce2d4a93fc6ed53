"""Precoding and metrics: perfect-CSI MRT gives 10 log10(Nt); a random beam about 0 dB."""

import numpy as np
import pytest

from linksim.phy import metrics, precoding
from tests.conftest import rayleigh


def _summary(h, h_hat, w):
    terms = {"nmse_ad": metrics.nmse_per_sample(h, h_hat), "nmse_sf": metrics.nmse_per_sample(h, h_hat),
             "rho": metrics.cosine_similarity(h, h_hat)}
    terms.update(metrics.beamforming_terms(h, w, 10.0))
    return metrics.summarise(terms)


def test_perfect_csi_mrt_gain_is_10log10_nt(rng):
    h = rayleigh(rng, 200, 16, 32)
    s = _summary(h, h, precoding.mrt(h))
    assert s["bf_gain_db"] == pytest.approx(10 * np.log10(32), abs=1e-6)  # 15.05 dB
    assert s["bf_gain_loss_db"] == pytest.approx(0.0, abs=1e-6)
    assert s["rho"] == pytest.approx(1.0, abs=1e-6)
    assert s["sgcs"] == pytest.approx(1.0, abs=1e-6)
    assert s["nmse_ad_db"] == -np.inf


def test_random_beam_gain_is_about_zero_db(rng):
    h = rayleigh(rng, 500, 32, 32)
    s = _summary(h, np.zeros_like(h), precoding.random_beams(h.shape, rng))
    assert abs(s["bf_gain_db"]) < 0.2
    assert s["bf_gain_loss_db"] == pytest.approx(10 * np.log10(32), abs=0.2)
    assert s["sgcs"] == pytest.approx(1 / 32, rel=0.05)
    assert s["nmse_ad_db"] == pytest.approx(0.0, abs=1e-9)
    assert s["rho"] == 0.0


def test_mrt_with_empty_estimate_draws_random_beams(rng):
    h = rayleigh(rng, 300, 32, 32)
    w = precoding.mrt(np.zeros_like(h), rng)
    np.testing.assert_allclose(np.linalg.norm(w, axis=-1), 1.0, rtol=1e-5)
    s = _summary(h, np.zeros_like(h), w)
    assert abs(s["bf_gain_db"]) < 0.2
    with pytest.raises(ValueError):
        precoding.mrt(np.zeros_like(h))


def test_noisy_estimate_loses_gain_in_order(rng):
    h = rayleigh(rng, 200, 8, 32)
    gains = []
    for snr_db in (0, 10, 30):
        noise = rayleigh(rng, 200, 8, 32) * np.float32(10 ** (-snr_db / 20))
        h_hat = h + noise
        gains.append(_summary(h, h_hat, precoding.mrt(h_hat))["bf_gain_db"])
    assert gains[0] < gains[1] < gains[2] < 10 * np.log10(32)


def test_spectral_efficiency_matches_closed_form():
    """One sample, flat channel of equal gains: SE = log2(1 + rho_dl * Nt)."""
    h = np.ones((1, 4, 8), np.complex64)
    terms = metrics.beamforming_terms(h, precoding.mrt(h), downlink_snr_db=10.0)
    assert terms["se"][0] == pytest.approx(np.log2(1 + 10 * 8), rel=1e-6)


def test_nmse_is_linear_mean_then_db():
    h = np.ones((2, 1, 1), np.complex64)
    h_hat = np.array([[[0.9]], [[1.0 - np.sqrt(0.1)]]], np.complex64)  # NMSE 0.01 and 0.1
    per = metrics.nmse_per_sample(h, h_hat)
    np.testing.assert_allclose(per, [0.01, 0.1], rtol=1e-5)
    assert metrics.to_db(per.mean()) == pytest.approx(10 * np.log10(0.055), abs=1e-4)
