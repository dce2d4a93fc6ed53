"""TR 38.843 study pieces: eigenvector codecs, losses, quantiser, payload bins, metrics, config."""

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from linksim.complexity import count_macs
from linksim.errors import LinksimInputError
from linksim.etype2 import payload_bits
from linksim.phy.eigen import subband_eigenvectors
from linksim.tr38843 import StudyConfig, check_data, generalization_runs
from linksim.tr38843.codecs import build_eigen_codec, to_complex, to_real
from linksim.tr38843.metrics import mmse_sinr, precoded_rate, sgcs_summary
from linksim.tr38843.payload import (
    DEFAULT_BINS,
    bin_members,
    codeword_length,
    etype2_payloads,
)
from linksim.tr38843.training import (
    FitSettings,
    dequantise,
    loss_torch,
    quantise,
    quantise_ste,
    train_codec_pair,
)
from tests.tr38843_synth import multipath_channels

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_v(rng, shape):
    v = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return (v / np.linalg.norm(v, axis=2, keepdims=True)).astype(np.complex64)


# ------------------------------------------------------------------------------ codecs
@pytest.mark.parametrize("name", ["eig_csinet", "eig_transformer"])
def test_codec_output_is_unit_norm_per_subband_and_layer(name):
    rng = np.random.default_rng(0)
    v = _random_v(rng, (5, 3, 8, 2))
    x = to_real(v)
    assert x.shape == (5, 3, 8, 4)
    np.testing.assert_array_equal(to_complex(x), v)
    codec = build_eigen_codec(name, 3, 8, 2, 6, seed=1)
    z = codec.encoder(torch.from_numpy(x), training=False).detach()
    assert tuple(z.shape) == (5, 6) and float(z.min()) >= 0 and float(z.max()) <= 1  # sigmoid
    v_hat = to_complex(codec.decoder(z, training=False).detach().numpy())
    np.testing.assert_allclose(np.linalg.norm(v_hat, axis=2), 1.0, atol=1e-5)


def test_transformer_attention_macs_follow_the_formula():
    codec = build_eigen_codec("eig_transformer", 4, 8, 1, 10, seed=0)
    s, d, ff, tokens_in = 4, 32, 64, 16
    blocks = 2 * (4 * s * d * d + 2 * s * s * d + 2 * s * d * ff)
    assert count_macs(codec.encoder) == s * tokens_in * d + blocks + s * d * 10
    assert count_macs(codec.decoder) == 10 * s * d + blocks + s * d * tokens_in


def test_unknown_or_full_channel_codec_is_refused_naming_it():
    with pytest.raises(LinksimInputError, match="'csinet'"):
        build_eigen_codec("csinet", 2, 4, 1, 4)
    channel = multipath_channels(3, 8, 2, 2, 1, 1, seed=0)  # [b, Nc, Nr, Nt] complex
    with pytest.raises(LinksimInputError, match="'eig_csinet' is an eigenvector codec"):
        train_codec_pair(lambda seed: build_eigen_codec("eig_csinet", 2, 4, 1, 4, seed),
                         channel, "joint", "sgcs", FitSettings(epochs=1))


# ------------------------------------------------------------------------------ losses, QAT
def test_sgcs_loss_is_phase_invariant_and_zero_for_exact():
    rng = np.random.default_rng(1)
    v = _random_v(rng, (4, 3, 8, 2))
    rot = v * np.exp(2j * np.pi * rng.random((4, 3, 1, 2)))
    x, xr = torch.from_numpy(to_real(v)), torch.from_numpy(to_real(rot))
    assert float(loss_torch("sgcs", xr, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss_torch("mse", xr, x)) > 0.1  # MSE sees the phase
    other = torch.from_numpy(to_real(_random_v(rng, (4, 3, 8, 2))))
    expect = 1 - np.mean(sgcs_summary(v, to_complex(other.numpy()))["sgcs_mean"])
    assert float(loss_torch("sgcs", other, x)) == pytest.approx(expect, rel=1e-5)


def test_quantiser_forward_is_b_bit_and_gradient_passes_straight_through():
    z = torch.tensor([0.0, 0.1, 0.49, 0.51, 0.95, 1.0], requires_grad=True)
    q = quantise_ste(z, 2)
    np.testing.assert_allclose(q.detach().numpy(), [0, 0, 1 / 3, 2 / 3, 1, 1], atol=1e-7)
    q.sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), np.ones(6))
    k = quantise(z.detach().numpy(), 2)
    np.testing.assert_array_equal(k, [0, 0, 1, 2, 3, 3])
    np.testing.assert_allclose(dequantise(k, 2), q.detach().numpy(), atol=1e-7)


# ------------------------------------------------------------------------------ payload bins
def test_etype2_payloads_and_default_bins_for_32_ports():
    pay = etype2_payloads(8, 2, 4, 4, 13, 1)
    assert pay == {pc: payload_bits(8, 2, 4, 4, 13, pc, 1)["total"] for pc in range(1, 9)}
    assert pay == {1: 65, 2: 95, 3: 115, 4: 173, 5: 231, 6: 285, 7: 249, 8: 335}
    members = bin_members(pay, DEFAULT_BINS)
    assert members == {"small": [1], "medium": [3], "large": [5, 7, 6, 8]}
    m = codeword_length(pay[members["small"][0]], 2)
    assert m == 32 and m * 2 <= 65
    assert etype2_payloads(2, 1, 4, 1, 4, 1).keys() == {1, 2}  # 4 ports: pc 1-2 only


def test_unreachable_bin_is_named():
    with pytest.raises(LinksimInputError, match="payload_bins.huge"):
        bin_members(etype2_payloads(8, 2, 4, 4, 13, 1), {"huge": (1000, None)})
    with pytest.raises(LinksimInputError, match="quantizer_bits"):
        codeword_length(3, 4)


# ------------------------------------------------------------------------------ metrics
def test_mmse_sinr_matches_a_direct_computation():
    rng = np.random.default_rng(2)
    h = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    w = rng.standard_normal((4, 2)) + 1j * rng.standard_normal((4, 2))
    snr = 5.0
    wn = w / np.linalg.norm(w, axis=0)
    g = h @ wn * np.sqrt(snr / 2)  # effective channel per layer, unit noise
    direct = []
    for layer in range(2):
        other = g[:, [1 - layer]]
        r = np.eye(3) + other @ other.conj().T  # interference + noise covariance
        direct.append(np.real(g[:, layer].conj() @ np.linalg.solve(r, g[:, layer])))
    np.testing.assert_allclose(mmse_sinr(h, w, snr), direct, rtol=1e-10)
    # one layer, one rx antenna: matched-filter SNR |h w|^2 snr
    np.testing.assert_allclose(mmse_sinr(h[:1], wn[:, :1], snr)[0],
                               snr * abs(h[0] @ wn[:, 0]) ** 2, rtol=1e-10)


def test_exact_eigenvectors_have_sgcs_one_and_beat_random_ones():
    h = multipath_channels(20, 8, 2, 2, 2, 3, seed=3)
    v, _ = subband_eigenvectors(h, 4, 2)
    exact = sgcs_summary(v, v)
    assert exact["sgcs_l1"] == pytest.approx(1.0) and exact["sgcs_l2"] == pytest.approx(1.0)
    assert exact["eigen_nmse_db"] < -100
    rng = np.random.default_rng(4)
    rand = _random_v(rng, v.shape)
    assert sgcs_summary(v, rand)["sgcs_l1"] < 0.5
    for snr in (1.0, 100.0):
        r_exact = precoded_rate(h, v, 4, snr)
        r_rand = precoded_rate(h, rand, 4, snr)
        assert np.all(r_exact > r_rand)


# ------------------------------------------------------------------------------ config
def _cfg(**kw):
    base = {"n1": 2, "n2": 2, "generalization": {"case": 1, "train": ["A"]},
            "payload_bins": {"small": {"min_bits": 0, "max_bits": 20}}}
    return StudyConfig(**{**base, **kw})


def test_data_checks_name_the_field():
    with pytest.raises(LinksimInputError, match="rank: 3 exceeds min"):
        check_data(_cfg(rank=3), nr=2, nt=8, n3=4)
    with pytest.raises(LinksimInputError, match="n1, n2"):
        check_data(_cfg(), nr=2, nt=16, n3=4)
    with pytest.raises(LinksimInputError, match="payload_bins.big"):
        check_data(_cfg(payload_bins={"big": {"min_bits": 500}}), nr=2, nt=8, n3=4)
    assert check_data(_cfg(), nr=2, nt=8, n3=4) == {"small": [1]}


def test_config_refuses_channel_input_and_full_channel_codecs():
    with pytest.raises(ValidationError, match="eig_csinet.*channel"):
        _cfg(csi_input="channel", codecs=["eig_csinet"])
    with pytest.raises(ValidationError, match="'csinet' is not an eigenvector codec"):
        _cfg(codecs=["csinet"])
    with pytest.raises(ValidationError, match="rank"):
        _cfg(rank=True)  # strict: a bool is not an integer
    with pytest.raises(ValidationError, match="case 2"):
        _cfg(generalization={"case": 2, "train": ["A"], "test": ["A"]})


def test_generalization_cases_map_to_train_and_test_sets():
    g1 = _cfg(generalization={"case": 1, "train": ["A", "B"]}).generalization
    assert [tuple(r) for r in generalization_runs(g1)] == [(("A",), "A", "case1"),
                                                          (("B",), "B", "case1")]
    g2 = _cfg(generalization={"case": 2, "train": ["A"], "test": ["B", "C"]}).generalization
    assert [tuple(r) for r in generalization_runs(g2)] == [(("A",), "B", "case2"),
                                                          (("A",), "C", "case2")]
    g3 = _cfg(generalization={"case": 3, "train": ["A", "B"]}).generalization
    assert [tuple(r) for r in generalization_runs(g3)] == [(("A", "B"), "A", "case3"),
                                                          (("A", "B"), "B", "case3")]
