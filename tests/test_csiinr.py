"""CSI-INR (seed 003): domain transform, vectorised inner loop, meta-learning, UE steps,
quantisation and entropy coding of the modulations, save/load, parameter counts."""

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from codec_checks import assert_save_load_round_trip, assert_shapes_and_range

from linksim.codecs import Codec, available_codecs
from linksim.codecs.csiinr import (
    CsiInr,
    ModulationFit,
    ad_to_sf,
    coordinate_grid,
    fitting_loss,
    inner_loop,
    sf_to_ad_matrices,
)
from linksim.complexity import complexity
from linksim.errors import LinksimInputError
from linksim.learning.training import TrainSettings
from linksim.phy import transforms
from linksim.phy.feedback import FeedbackLink, Quantizer
from linksim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
NA = NT = 8  # small grid for the trained fixtures: 64 coordinates
TINY = {"num_rows": NA, "num_antennas": NT, "width": 16, "depth": 2, "omega_0": 10.0,
        "sigma_b": 3.0, "inner_steps": 2, "inner_lr": 0.1, "learn_inner_lr": False,
        "output_scale": 0.1, "output_head": "sigmoid"}  # the tests' data are in [0, 1]


def fading_csi(n: int, seed: int, paths: int = 3) -> np.ndarray:
    """Normalised CSI ``[n, NA, NT, 2]`` of a UE at a fixed position: ``paths`` plane waves
    (space-frequency exponentials) with fixed delays and angles and i.i.d. Rayleigh gains per
    sample, so the CSI spans a ``2 paths``-dimensional real subspace (learnable at M = 16)."""
    geometry = np.random.default_rng(99)
    tau = geometry.uniform(0, NA, (1, paths, 1, 1))
    theta = geometry.uniform(0, NT, (1, paths, 1, 1))
    rng = np.random.default_rng(seed)
    k, a = np.arange(NA)[:, None], np.arange(NT)[None, :]
    gain = rng.standard_normal((n, paths, 1, 1)) + 1j * rng.standard_normal((n, paths, 1, 1))
    g = np.sum(gain * np.exp(-2j * np.pi * (k * tau / NA - a * theta / NT)), axis=1)
    r, c = sf_to_ad_matrices(NA, NT)
    x = transforms.complex_to_real(r @ g @ c)
    return transforms.Normalizer(4 * float(np.sqrt(np.mean(x ** 2)))).forward(x)


def nmse_db(x: np.ndarray, x_hat: np.ndarray) -> float:
    """NMSE [dB] of normalised CSI (the normalisation's scale cancels)."""
    err = np.sum((x_hat - x) ** 2, axis=(1, 2, 3))
    return float(10 * np.log10(np.mean(err / np.sum((x - 0.5) ** 2, axis=(1, 2, 3)))))


@pytest.fixture(scope="module")
def data():
    return {"train": fading_csi(384, 1), "val": fading_csi(64, 2), "test": fading_csi(64, 3)}


@pytest.fixture(scope="module")
def trained(data):
    import keras

    keras.utils.set_random_seed(0)
    codec = CsiInr(8, **{**TINY, "learn_inner_lr": True})  # M = 16
    codec.fit(data["train"], data["val"],
              TrainSettings(epochs=8, batch_size=32, learning_rate=3e-3, seed=0), progress=False)
    return codec


# -- domain transform -------------------------------------------------------------------------
def test_space_frequency_domain_is_the_subsampled_channel(rng):
    """``ad_to_sf`` of the truncated CSI is the channel on every Nc/Na-th subcarrier."""
    nc, nt, na = 64, 16, 16
    h = (rng.standard_normal((3, nc, nt)) + 1j * rng.standard_normal((3, nc, nt)))
    h_ad = transforms.truncated_angular_delay(h, na)
    g = ad_to_sf(h_ad)
    rebuilt = transforms.rebuild_space_frequency(h_ad, nc)
    np.testing.assert_allclose(g, np.sqrt(nc / na) * rebuilt[:, ::nc // na], atol=1e-4)
    # no truncation: the space-frequency channel itself
    np.testing.assert_allclose(ad_to_sf(transforms.truncated_angular_delay(h, nc)), h,
                               atol=1e-4)


def test_a_plane_wave_is_one_angular_delay_entry():
    r, c = sf_to_ad_matrices(NA, NT)
    k, a = np.arange(NA)[:, None], np.arange(NT)[None, :]
    g = np.exp(-2j * np.pi * (k * 3 / NA - a * 5 / NT)) / np.sqrt(NA * NT)
    h_ad = r @ g @ c
    expected = np.zeros((NA, NT))
    expected[3, 5] = 1.0
    np.testing.assert_allclose(np.abs(h_ad), expected, atol=1e-12)


@pytest.mark.parametrize("domain", ["space_frequency", "angular_delay"])
def test_targets_invert_the_decoder_output_map(domain):
    codec = CsiInr(8, **{**TINY, "domain": domain}, target_rms=0.2)
    x = np.random.default_rng(0).random((3, NA, NT, 2), dtype=np.float32)
    y = codec.inr.targets(x)
    back = 0.5 + codec.inr.rms * codec.inr.to_angular_delay(y)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-6)
    # unitary: the loss in the network's domain equals the angular-delay MSE in rms units
    assert float(torch.mean(y ** 2)) == pytest.approx(
        float(np.mean(((x - 0.5) / 0.2) ** 2)), rel=1e-5)


def test_coordinates_are_the_unit_grid():
    c = coordinate_grid(4, 8)
    assert c.shape == (32, 2) and c.min() == 0 and c.max() < 1
    np.testing.assert_array_equal(c[8 + 3], [0.25, 3 / 8])  # row-major: entry i Nt + j


# -- UE encoding (Algorithm 2) --------------------------------------------------------------------
def test_batch_encoding_equals_one_by_one(trained, data):
    x = data["test"][:6]
    z = trained.encode(x)
    z1 = np.concatenate([trained.encode(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_allclose(z, z1, rtol=1e-5, atol=1e-6)
    # chunking inside encode does not matter either
    np.testing.assert_allclose(trained.modulate(x, batch_size=4), z, rtol=1e-5, atol=1e-6)


def test_more_inference_steps_lower_the_fitting_loss(trained, data):
    x = data["test"][:1]
    losses = [float(trained.fitting_loss(x, steps)[0]) for steps in (0, 1, 2, 4, 8)]
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    # inference_steps is a setting of the trained codec: it changes what the UE sends
    z2 = trained.encode(x)
    trained.inference_steps = 5
    try:
        z5 = trained.encode(x)
        assert trained.encoder.get_layer("modulation_fit").steps == 5
        np.testing.assert_allclose(trained.encoder.predict(x, verbose=0), z5, atol=1e-6)
    finally:
        trained.inference_steps = TINY["inner_steps"]
    assert not np.allclose(z2, z5)


def test_zero_steps_send_the_zero_codeword(trained, data):
    assert not np.any(trained.modulate(data["test"][:3], steps=0))


def test_meta_training_learns(trained, data):
    rows = trained.history
    assert len(rows) == 8 and set(rows[0]) == {"epoch", "loss", "val_loss", "lr", "seconds"}
    assert rows[-1]["loss"] < rows[0]["loss"]
    # far below the all-0.5 output (0 dB) on unseen samples
    x = data["test"]
    assert nmse_db(x, trained.decode(trained.encode(x))) < -3.0


# -- quantisation and entropy coding of the modulations ----------------------------------------
def test_14_bit_quantisation_costs_under_0p1_db(trained, data):
    z_train = trained.encode(data["train"])
    x = data["test"]
    z = trained.encode(x)
    link = FeedbackLink(Quantizer(14)).fit(z_train)
    z_rx, bits = link.transmit(z)
    ideal, quantised = nmse_db(x, trained.decode(z)), nmse_db(x, trained.decode(z_rx))
    assert abs(quantised - ideal) < 0.1
    assert np.all(bits == 14 * trained.codeword_length)
    # coarse quantisation does cost
    coarse = FeedbackLink(Quantizer(2)).fit(z_train)
    assert nmse_db(x, trained.decode(coarse.transmit(z)[0])) > ideal + 0.1


def test_entropy_coded_modulations_decode_exactly(trained, data):
    z_train = trained.encode(data["train"])
    z = trained.encode(data["test"])
    link = FeedbackLink(Quantizer(6), entropy_coding=True).fit(z_train)
    q = link.quantizer.quantise(z)
    messages = link.entropy.encode(q)
    np.testing.assert_array_equal(link.entropy.decode(messages, trained.codeword_length), q)
    z_rx, bits = link.transmit(z)
    np.testing.assert_array_equal(z_rx, link.quantizer.dequantise(q))
    np.testing.assert_array_equal(bits, [m.bits for m in messages])
    assert max(bits) <= 1 + 6 * trained.codeword_length  # the raw-words fallback caps a report


# -- meta-learning (Algorithm 1) --------------------------------------------------------------
def _meta_grads(codec, y):
    loss = codec.meta_loss(y)
    params = [w.value for w in codec.inr.trainable_weights]
    return [g.detach().clone() for g in torch.autograd.grad(loss, params)]


def test_second_order_gradient_is_the_gradient_of_the_adapted_loss(data):
    """MAML: the outer gradient is d/dtheta L(theta, M_s(theta)); check it along a random
    direction by central differences. The first-order gradient differs from it."""
    import keras

    keras.utils.set_random_seed(3)
    codec = CsiInr(8, **TINY)
    with torch.no_grad():
        y = codec.inr.targets(data["train"][:8])
    g2 = _meta_grads(codec, y)
    codec.second_order = False
    g1 = _meta_grads(codec, y)
    codec.second_order = True
    rng = np.random.default_rng(0)
    weights = codec.inr.trainable_weights
    direction = [torch.as_tensor(rng.standard_normal(w.shape).astype(np.float32)) for w in weights]
    saved = [w.value.detach().clone() for w in weights]

    def loss_at(eps):
        with torch.no_grad():
            for w, s, d in zip(weights, saved, direction):
                w.value.copy_(s + eps * d)
        return float(codec.meta_loss(y).detach())

    eps = 1e-3
    numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
    loss_at(0.0)
    along = [float(sum(torch.sum(g * d) for g, d in zip(grads, direction))) for grads in (g2, g1)]
    assert along[0] == pytest.approx(numeric, rel=0.05)
    assert abs(along[1] - numeric) > 0.05 * abs(numeric)
    assert any(not torch.allclose(a, b, rtol=1e-3, atol=1e-7) for a, b in zip(g1, g2))


@pytest.mark.parametrize("second_order", [True, False])
def test_both_orders_train(second_order, data):
    import keras

    keras.utils.set_random_seed(1)
    codec = CsiInr(8, **TINY, second_order=second_order)
    x = data["train"][:256]
    codec.inr.rms.assign(float(np.sqrt(np.mean((x - 0.5) ** 2))))
    before = float(np.mean(codec.fitting_loss(data["val"])))
    codec.fit(x, data["val"], TrainSettings(epochs=4, batch_size=16, learning_rate=3e-3),
              progress=False)
    after = float(np.mean(codec.fitting_loss(data["val"])))
    print(f"{second_order=}: validation fitting loss {before:.3f} -> {after:.3f}")
    assert after < 0.8 * before


def test_learned_inner_rates_move_only_when_learned(trained):
    assert not np.allclose(trained.inr.alpha.numpy(), TINY["inner_lr"])
    fixed = CsiInr(8, **TINY)
    assert "inner_lr" not in [w.path.split("/")[-1] for w in fixed.inr.trainable_weights]


# -- interface, persistence, sizes -----------------------------------------------------------------
def test_registered_and_shapes():
    assert available_codecs()["csiinr"] is CsiInr
    assert_shapes_and_range(CsiInr(16, width=16, depth=2))


def test_save_load_round_trip(tmp_path, trained, data):
    loaded = assert_save_load_round_trip(CsiInr(16, width=16, depth=2), tmp_path / "model")
    assert loaded.encoder.get_layer("modulation_fit").inr is loaded.inr  # UE shares the BS net
    # a trained codec: rms, learned alphas and all weights come back
    trained.save(tmp_path / "trained")
    assert sorted(p.name for p in (tmp_path / "trained").iterdir()) == ["codec.json",
                                                                        "decoder.keras"]
    back = Codec.load(tmp_path / "trained")
    assert back.target_rms == pytest.approx(trained.target_rms)
    np.testing.assert_array_equal(back.inr.alpha.numpy(), trained.inr.alpha.numpy())
    x = data["test"][:4]
    np.testing.assert_allclose(back.decode(back.encode(x)), trained.decode(trained.encode(x)),
                               atol=1e-6)


def paper_parameter_count(d: int, layers: int, n: int, f: int | None = None) -> int:
    """Trainable parameters from the seed's equations (10)-(16): first SIREN layer
    ``W_1 [d, 2F] + b_1``, ``L_t - 1`` layers ``[d, d] + b``, output ``[2, d] + 2``, and per
    layer a modulation ``W_gamma, W_eta [d, n]`` with biases."""
    f = f or d
    return (2 * f * d + d) + (layers - 1) * (d * d + d) + (2 * d + 2) + layers * 2 * (d * n + d)


#: The paper-size options documented in scenarios/csiinr.yaml (seed Table II).
PAPER_OPTIONS = {"width": 512, "depth": 10, "omega_0": 50.0, "sigma_b": 10.0, "inner_steps": 3,
                 "inner_lr": 1.0e-2, "learn_inner_lr": False, "output_scale": 1.0}


def test_paper_size_configuration_from_yaml(tmp_path):
    text = (ROOT / "scenarios" / "csiinr.yaml").read_text()
    assert "width: 512, depth: 10" in text  # documented in the scenario's header
    raw = yaml.safe_load(text)
    raw["codecs"][0]["options"] = PAPER_OPTIONS
    raw["codecs"][0]["compression_ratios"] = [64]
    (tmp_path / "paper.yaml").write_text(yaml.safe_dump(raw))
    spec = load_scenario(tmp_path / "paper.yaml").codecs[0]
    assert spec.name == "csiinr"
    codec = CsiInr(spec.compression_ratios[0], 32, 32, **spec.options)  # n = M = 32
    counts = codec.base_network_counts()
    expected = paper_parameter_count(512, 10, 32)
    assert counts["base_params"] + counts["modulation_params"] == expected == 3_227_650
    # UE and BS hold the same network; fixed: B [512, 2], alpha [32], rms
    assert codec.parameter_counts()["bs_params"] == expected + 1024 + 32 + 1
    assert counts["decode_macs"] == 1024 * (2 * 512 + 2 * 512 * 512 + 9 * 512 * 512 + 2 * 512) \
        + 32 * 2 * 10 * 512 + 4 * (32 * 32 * 32 * 2)


def test_complexity_counts_ue_steps():
    codec = CsiInr(16, width=16, depth=2, inference_steps=3)
    c = complexity(codec)
    decode = codec.inr.count_macs()
    assert c["bs_macs"] == decode
    assert c["ue_macs"] == 3 * ModulationFit.STEP_COST * decode
    codec.inference_steps = 8
    assert complexity(codec)["ue_macs"] == 8 * 3 * decode


def test_default_configuration_trains_fast():
    """The scenario's csiinr options: one meta-training epoch of 64 CSI on 32 x 32 within a few
    seconds on one thread, and it lowers the fitting loss."""
    import keras

    sc = load_scenario(ROOT / "scenarios" / "csiinr.yaml")
    spec = sc.codecs[0]
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((96, 32, 32, 2), dtype=np.float32) * 0.1 + 0.45
    codec = CsiInr(spec.compression_ratios[0], 32, 32, **spec.options)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        codec.fit(x[:64], x[64:], TrainSettings(epochs=1, batch_size=sc.training.batch_size,
                                                learning_rate=sc.training.learning_rate),
                  progress=False)
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    assert seconds < 20.0
    assert codec.history[0]["val_loss"] < codec.target_rms ** 2  # below the all-0.5 output


def test_bad_options_name_the_field():
    with pytest.raises(LinksimInputError, match="domain"):
        CsiInr(16, domain="time")
    with pytest.raises(LinksimInputError, match="width"):
        CsiInr(16, width=0)
    codec = CsiInr(16, width=8, depth=1)
    with pytest.raises(LinksimInputError, match="inference_steps"):
        codec.inference_steps = -1
    with pytest.raises(LinksimInputError, match="feedback link"):
        codec.fit(np.zeros((2, 32, 32, 2)), np.zeros((2, 32, 32, 2)), TrainSettings(),
                  progress=False, train_link=object())


def test_fitting_loss_and_inner_loop_basics():
    y = torch.ones(2, 5, 2)
    np.testing.assert_allclose(fitting_loss(torch.zeros(2, 5, 2), y).numpy(), [1.0, 1.0])
    codec = CsiInr(16, width=8, depth=1)
    y = torch.randn(3, 1024, 2)
    m = inner_loop(codec.inr, y, 2)
    assert m.shape == (3, codec.codeword_length) and not m.requires_grad
