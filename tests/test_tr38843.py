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
    VectorQuantiser,
    dequantise,
    fit_autoencoder,
    loss_torch,
    quantise,
    quantise_ste,
    train_codec_pair,
    vq_dequantise,
    vq_grid,
    vq_indices,
)
from tests.tr38843_synth import multipath_channels

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_v(rng, shape):
    v = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return (v / np.linalg.norm(v, axis=2, keepdims=True)).astype(np.complex64)


# ------------------------------------------------------------------------------ codecs
@pytest.mark.parametrize("name", ["eig_csinet", "eig_transformer", "eig_crnet", "eig_acrnet"])
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


@pytest.mark.parametrize("name", ["eig_crnet", "eig_acrnet"])
def test_seed_codecs_on_eigenvectors_shapes_split_refusal_and_learning(name):
    """The CRNet and ACRNet adaptations: [b, S, Nt, 2L] -> [b, M] at the UE, back at the BS;
    parameters split between the two models; full-channel input refused; a few Adam steps
    lower the SGCS loss on a tiny synthetic set."""
    h = multipath_channels(64, 16, 2, 2, 2, 2, seed=5)  # [64, 16, 2, 8]: S = 4, Nt = 8
    x = to_real(subband_eigenvectors(h, 4, 2)[0])  # rank 2: [64, 4, 8, 4]
    codec = build_eigen_codec(name, 4, 8, 2, 12, seed=0)
    assert codec.name == name and codec.input_shape == (4, 8, 4)
    assert tuple(codec.encoder.input_shape) == (None, 4, 8, 4)
    assert tuple(codec.encoder.output_shape) == (None, 12)
    assert tuple(codec.decoder.input_shape) == (None, 12)
    assert tuple(codec.decoder.output_shape) == (None, 4, 8, 4)
    counts = codec.parameter_counts()
    assert counts["ue_params"] == codec.encoder.count_params() > 4 * 8 * 4 * 12  # FC + convs
    assert counts["bs_params"] == codec.decoder.count_params() > 12 * 4 * 8 * 4
    assert not {w.path for w in codec.encoder.weights} & {w.path for w in codec.decoder.weights}
    assert count_macs(codec.encoder) > 0 and count_macs(codec.decoder) > 0
    codec.check_input(x)
    with pytest.raises(LinksimInputError, match=f"'{name}' is an eigenvector codec"):
        codec.check_input(h)  # the full channel [b, Nc, Nr, Nt], complex
    with pytest.raises(LinksimInputError, match="full-channel input"):
        codec.check_input(np.zeros((3, 32, 32, 2), np.float32))  # an angular-delay image
    hist = fit_autoencoder(codec, x, "sgcs", FitSettings(epochs=4, batch_size=16,
                                                         learning_rate=3e-3))
    assert len(hist) == 4 and hist[-1] < hist[0]


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


# ------------------------------------------------------------------------------ vector quantiser
def test_vq_nearest_codeword_is_exact_on_a_hand_made_codebook():
    cb = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)
    z = np.array([[0.1, 0.2, 0.9, 0.45, 0.6, 0.6, 0.4, 0.9],
                  [0.5, 0.5, 1.2, -0.3, 0.49, 0.51, 0.0, 1.0]])
    idx = vq_indices(z, cb)
    # (0.5, 0.5) is equidistant from all four: the lowest index wins
    np.testing.assert_array_equal(idx, [[0, 1, 3, 2], [0, 1, 2, 2]])
    np.testing.assert_array_equal(vq_dequantise(idx, cb), cb[idx].reshape(2, 8))
    vq = VectorQuantiser(1, 2, cb)  # 2^(1*2) = 4 code vectors of 2 entries
    zt = torch.tensor(z, dtype=torch.float32, requires_grad=True)
    zq, aux = vq.ste(zt)
    np.testing.assert_allclose(zq.detach().numpy(), vq.quantise(z), atol=1e-7)
    np.testing.assert_allclose(vq.quantise(z), cb[idx].reshape(2, 8))
    zq.sum().backward()  # straight through: d z_q / d z = 1
    np.testing.assert_array_equal(zt.grad.numpy(), np.ones((2, 8)))
    assert float(aux.detach()) > 0 and vq.codebook.grad is None  # codebook learns from aux only
    aux.backward()
    assert vq.codebook.grad is not None
    with pytest.raises(LinksimInputError, match="vq_dim: 2 does not divide .* M = 3"):
        vq_indices(np.zeros((1, 3)), cb)
    with pytest.raises(LinksimInputError, match="vq_dim"):
        VectorQuantiser(4, 4)  # 16 bits per sub-vector


def test_vq_starts_as_the_scalar_quantiser_and_matches_its_payload():
    grid = vq_grid(2, 3)
    assert grid.shape == (64, 3) and len(np.unique(grid, axis=0)) == 64
    z = np.random.default_rng(0).random((20, 12))
    vq = VectorQuantiser(2, 3)
    np.testing.assert_allclose(vq.quantise(z), dequantise(quantise(z, 2), 2), atol=1e-6)
    # payload: M/d indices of B d bits = M B, within the bin budget as the scalar quantiser
    for budget, bits, d in [(65, 2, 2), (115, 2, 2), (116, 2, 2), (324, 3, 4), (231, 1, 5)]:
        m = codeword_length(budget, bits, vq_dim=d)
        assert m % d == 0 and (m // d) * (bits * d) == m * bits <= budget
        assert budget - m * bits < bits * d  # no further sub-vector fits
        if codeword_length(budget, bits) % d == 0:
            assert m == codeword_length(budget, bits)  # the scalar M when d divides it
    assert codeword_length(65, 2, vq_dim=2) == 32 and codeword_length(115, 2, vq_dim=2) == 56
    with pytest.raises(LinksimInputError, match="vq_dim"):
        codeword_length(11, 3, vq_dim=4)


@pytest.mark.parametrize("ttype", ["joint", "nw_first", "ue_first"])
def test_vq_training_learns_the_codebook_for_every_training_type(ttype):
    h = multipath_channels(48, 8, 2, 2, 1, 2, seed=5)
    x = to_real(subband_eigenvectors(h, 4, 1)[0])  # [48, 2, 4, 2]
    dep = train_codec_pair(lambda seed: build_eigen_codec("eig_csinet", 2, 4, 1, 4, seed),
                           x, ttype, "sgcs", FitSettings(epochs=5, batch_size=16, vq_dim=2))
    assert dep.quantiser is not None and dep.quantiser.dim == 2
    assert not np.allclose(dep.quantiser.codebook_array(), vq_grid(2, 2))  # it trained
    for hist in dep.history.values():
        assert hist[-1] < hist[0]
    out = dep.reconstruct(x[:6], 2)
    np.testing.assert_allclose(np.linalg.norm(out.reshape(6, 2, 4, 1, 2), axis=(2, 4)), 1,
                               atol=1e-5)
    # the NW decoder sees only code vectors of the (first side's) codebook
    z = dep.quantiser.quantise(dep.encoder(torch.from_numpy(x[:6])).detach().numpy())
    cb = dep.quantiser.codebook_array()
    assert all(any(np.allclose(v, c) for c in cb) for v in z.reshape(-1, 2))


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


def test_config_vector_quantiser_fields():
    cfg = _cfg(quantizer="vector", vq_dim=3, quantizer_bits=4)
    assert cfg.sub_vector == 3 and _cfg().sub_vector == 1 and _cfg().quantizer == "scalar"
    with pytest.raises(ValidationError, match="vq_dim: 4 entries .* at most 12 bits"):
        _cfg(quantizer="vector", vq_dim=4, quantizer_bits=4)
    with pytest.raises(ValidationError, match="vq_dim: only used with quantizer: vector"):
        _cfg(vq_dim=2)
    with pytest.raises(ValidationError, match="quantizer"):
        _cfg(quantizer="lattice")
    # 4 ports, N3 = 4: pc1 has 11 bits, less than one 12-bit sub-vector (named at the data check)
    small = {"payload_bins": {"small": {"min_bits": 0, "max_bits": 15}}, "n2": 1, "o2": 1}
    with pytest.raises(LinksimInputError, match="vq_dim"):
        check_data(_cfg(quantizer="vector", vq_dim=6, quantizer_bits=2, **small), nr=2, nt=4,
                   n3=4)
    assert check_data(_cfg(quantizer="vector", vq_dim=5, quantizer_bits=2, **small), nr=2,
                      nt=4, n3=4) == {"small": [1]}


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
