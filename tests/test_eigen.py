"""Eigenvector CSI (issue 19): exact on synthetic rank-L channels, phase convention, SGCS per
layer, and the single-antenna case equal to the existing subband eigen-beamforming."""

import numpy as np
import pytest

from linksim.errors import LinksimInputError
from linksim.phy.eigen import (
    eigenvector_nmse,
    fix_phase,
    sgcs_per_layer,
    subband_covariance,
    subband_eigenvectors,
)
from linksim.phy.precoding import subband_principal_eigenvectors


def _rank_l_channel(rng, b=3, nc=24, nr=4, nt=16, layers=2, subband=8):
    """H_k = U_k diag(g) V_s^H with V_s [Nt, L] orthonormal, fixed per subband, and U_k
    [Nr, L] orthonormal per subcarrier: R_s = V_s diag(n_s g^2) V_s^H exactly (stored, as
    every linksim channel, as conj(H_k))."""
    s = nc // subband
    gains = np.array([3.0, 1.5, 0.7, 0.3])[:layers]
    v = np.empty((b, s, nt, layers), complex)
    h = np.empty((b, nc, nr, nt), complex)
    for i in range(b):
        for j in range(s):
            q, _ = np.linalg.qr(rng.standard_normal((nt, layers))
                                + 1j * rng.standard_normal((nt, layers)))
            v[i, j] = q
            for k in range(j * subband, (j + 1) * subband):
                u, _ = np.linalg.qr(rng.standard_normal((nr, layers))
                                    + 1j * rng.standard_normal((nr, layers)))
                h[i, k] = (u @ np.diag(gains) @ q.conj().T).conj()  # stored as conj(H_k)
    return h, v, gains


@pytest.mark.parametrize("layers", [1, 2, 4])
def test_eigenvectors_of_a_rank_l_channel_are_exact(layers):
    rng = np.random.default_rng(0)
    h, v_true, gains = _rank_l_channel(rng, layers=layers)
    v, lam = subband_eigenvectors(h.astype(np.complex64), 8, layers)
    assert v.shape == (3, 3, 16, layers) and lam.shape == (3, 3, layers)
    np.testing.assert_allclose(lam, np.broadcast_to(8 * gains ** 2, lam.shape), rtol=1e-5)
    # equal to the true eigenvectors once both follow the phase convention
    np.testing.assert_allclose(v, fix_phase(v_true), atol=2e-5)
    np.testing.assert_allclose(sgcs_per_layer(v_true, v), 1.0, atol=1e-6)
    assert np.all(eigenvector_nmse(v_true, v) < 1e-9)
    # orthonormal columns
    gram = np.einsum("bsnl,bsnm->bslm", v.conj(), v)
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(layers), gram.shape), atol=1e-5)


def test_phase_convention():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((5, 8, 2)) + 1j * rng.standard_normal((5, 8, 2))
    fixed = fix_phase(v)
    peak = np.argmax(np.abs(fixed), axis=-2)
    ref = np.take_along_axis(fixed, peak[:, None, :], axis=-2)
    assert np.all(np.abs(ref.imag) < 1e-12) and np.all(ref.real > 0)
    # any phase rotation of the input gives the same representative
    rotated = v * np.exp(1j * rng.uniform(0, 2 * np.pi, (5, 1, 2)))
    np.testing.assert_allclose(fix_phase(rotated), fixed, atol=1e-12)
    np.testing.assert_allclose(np.abs(fixed), np.abs(v))
    assert np.all(fix_phase(np.zeros((2, 4, 1), complex)) == 0)


def test_single_antenna_ue_matches_subband_eigen_beamforming():
    rng = np.random.default_rng(2)
    h = (rng.standard_normal((4, 50, 8)) + 1j * rng.standard_normal((4, 50, 8))).astype(
        np.complex64)
    v, lam = subband_eigenvectors(h[:, :, None, :], 12, 1)
    v_ref, energy = subband_principal_eigenvectors(h, 12)
    np.testing.assert_allclose(sgcs_per_layer(v, v_ref[..., None]), 1.0, atol=1e-5)
    assert v.shape == (4, 5, 8, 1)  # 4 subbands of 12 and one of 2
    assert np.all(lam[..., 0] <= energy + 1e-3) and np.all(lam[..., 0] > 0)
    cov = subband_covariance(h[:, :, None, :], 12)
    np.testing.assert_allclose(np.trace(cov, axis1=-2, axis2=-1).real, energy, rtol=1e-5)


def test_sgcs_per_layer_of_random_reports_is_one_over_nt():
    rng = np.random.default_rng(3)
    nt = 16
    v = rng.standard_normal((4000, nt, 2)) + 1j * rng.standard_normal((4000, nt, 2))
    w = rng.standard_normal((4000, nt, 2)) + 1j * rng.standard_normal((4000, nt, 2))
    s = sgcs_per_layer(v, w)
    assert s.shape == (4000, 2) and np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s.mean(axis=0), 1 / nt, rtol=0.1)
    assert np.all(sgcs_per_layer(v, np.zeros_like(v)) == 0)


def test_rank_above_min_nr_nt_is_bad_input():
    h = np.ones((1, 8, 2, 4), np.complex64)
    with pytest.raises(LinksimInputError, match="num_layers"):
        subband_eigenvectors(h, 4, 3)
