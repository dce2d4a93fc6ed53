"""Subband SGCS (3GPP style, dominant eigenvector) and per-subband eigen-beamforming."""

import numpy as np
import pytest

from linksim.errors import LinksimInputError
from linksim.phy import metrics, precoding
from linksim.phy.transforms import abs2
from tests.conftest import rayleigh


def subband_gain(h, w, subband_size):
    """sum_{k in s} |h_k^H w_k|^2 per sample and subband, [b, S]."""
    g = precoding.beam_power(h, w)
    return precoding.subband_blocks(g[..., None], subband_size)[..., 0].sum(axis=2)


@pytest.mark.parametrize("subband_size", [1, 4, 16, 10, 48])
def test_sgcs_of_perfect_csi_is_one(rng, subband_size):
    h = rayleigh(rng, 20, 48, 8)
    s = metrics.sgcs_subband(h, h, subband_size)
    assert s.shape == (20, -(-48 // subband_size))
    np.testing.assert_allclose(s, 1.0, atol=1e-5)


def test_sgcs_ignores_a_complex_gain_per_subband(rng):
    """The eigenvector is defined up to phase and scale: h_hat = alpha_s h scores 1."""
    h = rayleigh(rng, 20, 32, 8)
    alpha = rayleigh(rng, 20, 4, 1)
    h_hat = h * np.repeat(alpha, 8, axis=1)
    np.testing.assert_allclose(metrics.sgcs_subband(h, h_hat, 8), 1.0, atol=1e-5)


def test_sgcs_of_a_random_estimate_is_one_over_nt(rng):
    """An isotropic v_hat gives |v_hat^H v|^2 ~ Beta(1, Nt - 1): mean 1/Nt, variance
    (Nt - 1) / (Nt^2 (Nt + 1)). 1,600 subbands: the mean lies within 4 standard errors."""
    nt, b, nc, sb = 32, 200, 64, 8
    h = rayleigh(rng, b, nc, nt)
    s = metrics.sgcs_subband(h, rayleigh(rng, b, nc, nt), sb)
    n = s.size
    sigma = np.sqrt((nt - 1) / (nt ** 2 * (nt + 1)))
    assert abs(s.mean() - 1 / nt) < 4 * sigma / np.sqrt(n)  # 1/32 +- 0.0031
    assert s.std() == pytest.approx(sigma, rel=0.15)


def test_one_subcarrier_subbands_give_the_squared_cosine_similarity(rng):
    h = rayleigh(rng, 10, 16, 8)
    h_hat = h + 0.7 * rayleigh(rng, 10, 16, 8)
    rho_k = np.abs(np.sum(h_hat.conj() * h, axis=-1)) / (
        np.linalg.norm(h, axis=-1) * np.linalg.norm(h_hat, axis=-1))
    np.testing.assert_allclose(metrics.sgcs_subband(h, h_hat, 1), rho_k ** 2, rtol=1e-4)


def test_sgcs_is_zero_where_nothing_was_fed_back(rng):
    h = rayleigh(rng, 5, 16, 8)
    np.testing.assert_array_equal(metrics.sgcs_subband(h, np.zeros_like(h), 4), 0.0)


@pytest.mark.parametrize("subband_size", [4, 12])
def test_eigen_beamforming_beats_any_fixed_beam_per_subband(rng, subband_size):
    """On perfect CSI the principal eigenvector maximises the subband-summed gain
    ``sum_{k in s} |h_k^H w|^2`` over all unit w: it beats (per sample and subband) the MRT beam
    of the subband's centre subcarrier, the normalised subband mean of h and a random beam, and
    stays below per-subcarrier MRT (``sum ||h_k||^2``)."""
    b, nc, nt = 50, 48, 16
    h = rayleigh(rng, b, nc, nt)
    w_eig = precoding.eigen_beamforming_subband(h, subband_size)
    np.testing.assert_allclose(np.linalg.norm(w_eig, axis=-1), 1.0, rtol=1e-5)
    blocks = precoding.subband_blocks(w_eig, subband_size)
    sizes = precoding.subband_sizes(nc, subband_size)
    for s, n in enumerate(sizes):  # one beam per subband
        np.testing.assert_array_equal(blocks[:, s, :n], blocks[:, s, :1].repeat(n, axis=1))
    g_eig = subband_gain(h, w_eig, subband_size)

    hb = precoding.subband_blocks(h, subband_size)
    centre = hb[:, np.arange(len(sizes)), sizes // 2]  # [b, S, Nt]
    mean = hb.sum(axis=2) / sizes[:, None]
    rand = rayleigh(rng, b, len(sizes), nt)
    for fixed in (centre, mean, rand):
        w = np.repeat(fixed / np.linalg.norm(fixed, axis=-1, keepdims=True), sizes, axis=1)
        assert np.all(g_eig >= subband_gain(h, w, subband_size) * (1 - 1e-5))
    g_mrt = subband_gain(h, precoding.mrt(h), subband_size)
    assert np.all(g_eig <= g_mrt * (1 + 1e-5))
    assert np.all(g_eig < g_mrt)  # Rayleigh over 4+ subcarriers: strictly rank > 1


def test_eigen_beamforming_with_one_subcarrier_subbands_is_mrt(rng):
    h = rayleigh(rng, 10, 16, 8)
    g_eig = precoding.beam_power(h, precoding.eigen_beamforming_subband(h, 1))
    np.testing.assert_allclose(g_eig, np.sum(abs2(h), axis=-1), rtol=1e-4)


def test_eigen_beamforming_on_a_rank_one_subband_recovers_the_direction(rng):
    """h_k = g_k u over the subband (one path, any gains): the beam is u, gain sum |g_k|^2."""
    u = rayleigh(rng, 4, 1, 8)
    g = rayleigh(rng, 4, 16, 1)
    h = g * u
    w = precoding.eigen_beamforming_subband(h, 16)
    u_n = u / np.linalg.norm(u, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.abs(np.sum(w.conj() * u_n, axis=-1)), 1.0, atol=1e-5)


def test_eigen_beamforming_of_empty_subbands_needs_rng(rng):
    h = rayleigh(rng, 3, 16, 8)
    h[:, :8] = 0
    with pytest.raises(ValueError, match="rng"):
        precoding.eigen_beamforming_subband(h, 8)
    w = precoding.eigen_beamforming_subband(h, 8, rng)
    np.testing.assert_allclose(np.linalg.norm(w, axis=-1), 1.0, rtol=1e-5)


def test_bad_subband_size_is_an_input_error(rng):
    h = rayleigh(rng, 2, 16, 4)
    for bad in (0, 17, 2.5):
        with pytest.raises(LinksimInputError, match="subband_size"):
            metrics.sgcs_subband(h, h, bad)
