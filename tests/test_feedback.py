"""Feedback link: quantisers, bit errors, entropy coding, AWGN, training layers, validation."""

import itertools

import numpy as np
import pytest
import torch
from pydantic import ValidationError

import linksim  # noqa: F401  (sets the Keras backend)
from linksim.phy.bits import mu_law_compress, mu_law_expand
from linksim.phy.feedback import (
    FeedbackLink,
    FeedbackNoise,
    Quantizer,
    QuantizeSTE,
    flip_bits,
    hard_decision_ber,
    make_link,
)
from linksim.scenario import QuantizedFeedback, Scenario, TrainingFeedback
from tests import scenarios


def test_ideal_link_is_identity_with_32_bit_payload(rng):
    z = rng.standard_normal((5, 64)).astype(np.float32)
    link = FeedbackLink().fit(z)
    z_rx, bits = link.transmit(z)
    assert np.array_equal(z_rx, z)
    assert link.payload_bits(64) == 2048 and np.all(bits == 2048)


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 12])
def test_uniform_quantiser_error_within_half_step(bits, rng):
    z = rng.standard_normal((200, 32)).astype(np.float32)
    q = Quantizer(bits).fit(z)
    step = (q.hi - q.lo) / 2 ** bits
    symbols = q.quantise(z)
    assert symbols.min() >= 0 and symbols.max() <= 2 ** bits - 1
    err = np.max(np.abs(q.dequantise(symbols) - z))
    assert err <= step / 2 + 1e-6 * np.max(np.abs(z))  # + float32 rounding
    assert q.max_error() == pytest.approx(step / 2)


@pytest.mark.parametrize("bits", [2, 5, 8])
def test_mulaw_quantiser_error_within_half_its_cell(bits, rng):
    z = rng.standard_normal((300, 32)).astype(np.float32)
    q = Quantizer(bits, law="mulaw", mu=50.0).fit(z)
    zh = q.dequantise(q.quantise(z))
    # each entry lands in its own cell: the reconstruction is within half that cell's width
    edges = q.lo + (q.hi - q.lo) * 0.5 * (mu_law_expand(
        2.0 * np.arange(2 ** bits + 1) / 2 ** bits - 1.0, q.mu) + 1.0)
    cell = q.quantise(z)
    half = (edges[cell + 1] - edges[cell]) / 2
    assert np.all(np.abs(zh - z) <= half + 1e-5)
    assert np.max(np.abs(zh - z)) <= q.max_error() + 1e-5


def test_mulaw_is_finer_near_the_middle(rng):
    z = (0.1 * rng.standard_normal((2000, 16))).astype(np.float32)
    z[0, 0], z[0, 1] = -1.0, 1.0  # range [-1, 1], mass concentrated near 0
    errs = {law: np.mean((Quantizer(4, law=law).fit(z).dequantise(
        Quantizer(4, law=law).fit(z).quantise(z)) - z) ** 2) for law in ("uniform", "mulaw")}
    assert errs["mulaw"] < 0.5 * errs["uniform"]
    u = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(mu_law_expand(mu_law_compress(u, 255.0), 255.0), u, atol=1e-12)


def test_quantiser_clips_outside_training_range():
    q = Quantizer(3).fit(np.array([[0.0, 1.0]]))
    out = q.dequantise(q.quantise(np.array([[-5.0, 5.0]])))
    np.testing.assert_allclose(out, [[0.0625, 0.9375]])


def test_more_bits_less_error(rng):
    z = rng.standard_normal((100, 16)).astype(np.float32)
    errs = []
    for b in (2, 4, 6, 8):
        q = Quantizer(b).fit(z)
        errs.append(np.mean((q.dequantise(q.quantise(z)) - z) ** 2))
    assert all(e1 > 3.0 * e2 for e1, e2 in itertools.pairwise(errs))  # ~6 dB per bit


def test_bad_quantiser_settings_raise():
    with pytest.raises(ValueError):
        Quantizer(0)
    with pytest.raises(ValueError):
        Quantizer(4, law="alaw")
    with pytest.raises(RuntimeError):
        Quantizer(4).quantise(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="ber"):
        FeedbackLink(Quantizer(4), ber=0.7)
    with pytest.raises(ValueError, match="quantiser"):
        FeedbackLink(entropy_coding=True)


def _spec(**kw):
    return QuantizedFeedback(**{"kind": "uniform", **kw})


@pytest.mark.parametrize("bits", [32, "off"])
def test_32_bits_or_off_is_the_ideal_link(bits, rng):
    z = rng.standard_normal((20, 64)).astype(np.float32)
    ideal, link = FeedbackLink().fit(z), make_link(_spec(bits=bits)).fit(z)
    (a, ba), (b, bb) = ideal.transmit(z), link.transmit(z)
    assert np.array_equal(a, b) and np.array_equal(ba, bb)
    assert link.payload_bits(64) == ideal.payload_bits(64)


def test_ber_zero_equals_the_quantised_link(rng):
    z = rng.standard_normal((50, 32)).astype(np.float32)
    plain = make_link(_spec(bits=5)).fit(z)
    zero = make_link(_spec(bits=5, ber=0.0)).fit(z)
    assert np.array_equal(plain.transmit(z)[0], zero.transmit(z, rng)[0])


def test_bit_flips_happen_at_the_requested_rate(rng):
    q = rng.integers(0, 2 ** 6, (400, 100))
    out = flip_bits(q, 6, 0.05, rng)
    flipped = np.unpackbits((q ^ out).astype(np.uint8)[..., None], axis=-1).sum()
    rate = flipped / (q.size * 6)
    assert rate == pytest.approx(0.05, rel=0.03)  # 240,000 bits: std of the rate 0.9 %
    assert out.min() >= 0 and out.max() < 2 ** 6


def test_hard_decision_ber_theory():
    # BPSK needs Eb/N0 = 9.59 dB for 1e-5; QPSK per bit at Es/N0 = Eb/N0 + 3 dB is the same.
    assert hard_decision_ber(9.59, "bpsk") == pytest.approx(1e-5, rel=0.05)
    assert hard_decision_ber(9.59 + 10 * np.log10(2), "qpsk") == pytest.approx(1e-5, rel=0.05)
    assert hard_decision_ber(-100, "bpsk") == pytest.approx(0.5, abs=1e-4)
    link = make_link(_spec(bits=4, snr_db=[0.0, 10.0], modulation="bpsk"), 0.0)
    assert link.ber == pytest.approx(0.0786, abs=1e-4) and link.feedback_snr_db == 0.0


def test_entropy_coding_is_lossless_and_measured(rng):
    # Laplacian codewords: a skewed symbol distribution, which entropy coding exploits.
    z_train = rng.laplace(size=(2000, 64)).astype(np.float32)
    z = rng.laplace(size=(200, 64)).astype(np.float32)
    plain = make_link(_spec(bits=6)).fit(z_train)
    coded = make_link(_spec(bits=6, entropy_coding=True)).fit(z_train)
    q = coded.quantizer.quantise(z)
    messages = coded.entropy.encode(q)
    assert np.array_equal(coded.entropy.decode(messages, 64), q)
    (zp, bp), (zc, bc) = plain.transmit(z), coded.transmit(z)
    assert np.array_equal(zp, zc)  # lossless: same reconstruction as the fixed-length link
    assert np.all(bp == 6 * 64)
    np.testing.assert_array_equal(bc, [m.bits for m in messages])
    assert not any(m.raw for m in messages)  # 64 skewed 6-bit symbols: coding always pays
    np.testing.assert_array_equal(bc, [1 + 8 * len(m.payload) for m in messages])
    info = coded.entropy.information_bits(q)
    assert np.all(bc >= info) and np.all(bc <= info + 65)  # 32-bit words: <= 2 over, + flag
    assert bc.mean() < 0.8 * bp.mean()
    assert coded.name == "uniform6b+ec"


def test_entropy_coding_falls_back_to_raw_words_when_shorter(rng):
    # Short codewords: ANS's 32-bit words cost more than B M = 12 bits, so every report goes raw.
    short = make_link(_spec(bits=3, entropy_coding=True)).fit(
        rng.laplace(size=(2000, 4)).astype(np.float32))
    z = rng.laplace(size=(50, 4)).astype(np.float32)
    q = short.quantizer.quantise(z)
    reports = short.entropy.encode(q)
    assert all(r.raw and r.bits == 1 + 3 * 4 for r in reports)
    np.testing.assert_array_equal(short.entropy.decode(reports, 4), q)
    _, bits = short.transmit(z)
    assert np.all(bits == 13)
    # A model fitted on other statistics: reports it would inflate go raw, the others are
    # coded; never more than B M + 1 bits, always lossless.
    mismatched = make_link(_spec(bits=6, entropy_coding=True)).fit(
        rng.laplace(scale=0.05, size=(2000, 64)).astype(np.float32))
    z = np.concatenate([rng.laplace(scale=0.05, size=(20, 64)),
                        rng.uniform(-3, 3, size=(20, 64))]).astype(np.float32)
    q = mismatched.quantizer.quantise(z)
    reports = mismatched.entropy.encode(q)
    flags = np.array([r.raw for r in reports])
    assert not flags[:20].any() and flags[20:].all()
    assert max(r.bits for r in reports) == 1 + 6 * 64
    np.testing.assert_array_equal(mismatched.entropy.decode(reports, 64), q)
    from linksim.phy.feedback import pack_words, unpack_words

    words = rng.integers(0, 2 ** 5, size=(3, 7))
    assert [len(b) for b in pack_words(words, 5)] == [5, 5, 5]  # ceil(35 / 8)
    for row, packed in zip(words, pack_words(words, 5)):
        np.testing.assert_array_equal(unpack_words(packed, 5, 7), row)


def test_awgn_link_has_the_requested_snr(rng):
    z = rng.standard_normal((500, 128)).astype(np.float32) * rng.uniform(0.1, 3, (500, 1))
    for snr_db in (-5.0, 10.0, 30.0):
        link = FeedbackLink(awgn_snr_db=snr_db)
        z_rx, bits = link.transmit(z, rng)
        ratio = np.mean(z ** 2, axis=1) / np.mean((z_rx - z) ** 2, axis=1)  # per-sample SNR
        assert 10 * np.log10(np.mean(ratio)) == pytest.approx(snr_db, abs=0.1)
        assert np.all(bits == 32 * 128)


def test_quantize_ste_matches_numpy_and_passes_gradients_straight_through():
    layer = QuantizeSTE(3, momentum=0.0)
    z = torch.linspace(-1.0, 1.0, 41) + 0.01 * torch.sin(torch.arange(41.0))  # off the edges
    z = (z / z.abs().max()).reshape(1, 41).requires_grad_(True)
    y = layer(z, training=True)  # momentum 0: the range is this batch's [min, max]
    lo, hi = layer.quantizer_range()
    assert (lo, hi) == pytest.approx((float(z.detach().min()), float(z.detach().max())))
    ref = Quantizer(3, lo=lo, hi=hi)
    np.testing.assert_allclose(y.detach().numpy(), ref.dequantise(ref.quantise(
        z.detach().numpy())), atol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), 1.0)
    # outside the tracked range (inference): clipped entries get no gradient
    z2 = torch.tensor([[-3.0, 0.1, 3.0]], requires_grad=True)
    layer(z2, training=False).sum().backward()
    np.testing.assert_array_equal(z2.grad.numpy(), [[0.0, 1.0, 0.0]])


def test_quantize_ste_mulaw_matches_numpy():
    layer = QuantizeSTE(4, law="mulaw", mu=20.0, momentum=0.0)
    z = (torch.linspace(-2.0, 1.0, 77) + 0.003 * torch.sin(torch.arange(77.0))).clip(-2, 1)
    z = z.reshape(1, 77)
    y = layer(z, training=True).numpy()
    ref = Quantizer(4, law="mulaw", mu=20.0, lo=float(z.min()), hi=float(z.max()))
    np.testing.assert_allclose(y, ref.dequantise(ref.quantise(z.numpy())), atol=1e-5)


def test_feedback_noise_range_and_inference_identity():
    torch.manual_seed(0)
    layer = FeedbackNoise(0.0, 20.0, seed=3)
    z = torch.ones(4000, 64)
    y = layer(z, training=True)
    snr_db = 10 * np.log10(1.0 / ((y - z) ** 2).mean(dim=1).numpy())
    # per-sample SNR is uniform in [0, 20] dB, measured over 64 entries (+-2 dB at 3 sigma)
    assert snr_db.min() > -3.0 and snr_db.max() < 23.0
    assert 9.0 < np.median(snr_db) < 11.0
    assert np.mean(snr_db < 5.0) == pytest.approx(0.25, abs=0.03)
    assert torch.equal(layer(z, training=False), z)
    # from a scenario entry, with a 32-bit derived seed
    from linksim.phy.feedback import training_link

    noisy = training_link(TrainingFeedback(kind="awgn", snr_db=10.0), seed=2**32 - 1)
    assert isinstance(noisy, FeedbackNoise) and noisy.snr_db_min == noisy.snr_db_max == 10.0
    assert noisy(z, training=True).shape == z.shape


def _invalid(changes):
    path_data = scenarios.TINY | {}
    import copy

    data = copy.deepcopy(path_data)
    data.update(changes)
    with pytest.raises(ValidationError) as exc:
        Scenario.model_validate(data)
    return str(exc.value)


def test_bad_feedback_settings_are_rejected_with_the_field_named():
    assert "bits must be in 1..32" in _invalid({"feedback": [{"kind": "uniform", "bits": 0}]})
    assert "ber must be in [0, 0.5]" in _invalid(
        {"feedback": [{"kind": "uniform", "bits": 4, "ber": 0.6}]})
    assert "entropy coding needs a quantiser" in _invalid(
        {"feedback": [{"kind": "ideal", "entropy_coding": True}]})
    assert "entropy coding needs a quantiser" in _invalid(
        {"feedback": [{"kind": "uniform", "bits": "off", "entropy_coding": True}]})
    assert "not modelled" in _invalid(
        {"feedback": [{"kind": "uniform", "bits": 4, "entropy_coding": True, "ber": 0.01}]})
    assert "either ber or snr_db" in _invalid(
        {"feedback": [{"kind": "uniform", "bits": 4, "ber": 0.01, "snr_db": [3]}]})
    assert "snr_db" in _invalid({"feedback": [{"kind": "awgn"}]})
    with pytest.raises(ValidationError, match="needs bits"):
        TrainingFeedback(kind="uniform")
    with pytest.raises(ValidationError, match="exactly one"):
        TrainingFeedback(kind="awgn")
