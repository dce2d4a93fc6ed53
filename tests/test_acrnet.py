"""ACRNet / BACRNet (seed 002): published counts, structure, binary FC, save/load, learning."""

from functools import cache

import keras
import numpy as np
import pytest
from codec_checks import assert_save_load_round_trip
from keras import layers

from linksim.codecs.acrnet import (
    ACRNet,
    BACRNet,
    moving_statistics_count,
    pytorch_param_count,
)
from linksim.codecs.base import available_codecs, get_codec_class
from linksim.codecs.binary import BinaryDense, binary_layers
from linksim.complexity import count_macs, macs_by_type
from linksim.learning.training import TrainSettings, train_codec

# Seed 002 Table IV (K = 1000 floats; memory as float32 equivalents, bits / 32). The published
# values are rounded to 1K, so the Keras counts are compared within 2 % or the rounding (500).
UE_MEMORY_K = {4: 34, 8: 17, 16: 9}  # encoder FC binary, 1x and 10x alike
BS_PARAMS_K = {(4, 1): 1053, (8, 1): 529, (16, 1): 267,
               (4, 10): 1073, (8, 10): 549, (16, 10): 287}  # float decoder FC
BS_MEMORY_K = {(4, 1): 37, (8, 1): 21, (16, 1): 13,
               (4, 10): 57, (8, 10): 41, (16, 10): 33}  # decoder FC binary too
# Seed 002 Table III (CR4, whole auto-encoder): parameters and FLOPs (= MACs).
TOTALS = {12: (2127e3, 28.79e6), 16: (2136e3, 37.58e6)}


@cache
def _codec(cr, expansion=1, binary="none"):
    return ACRNet(cr, expansion=expansion, binary=binary)


def _pytorch_memory(bits, model):
    """Float32 equivalents without the batch-norm moving statistics (PyTorch buffers)."""
    return bits / 32 - moving_statistics_count(model)


@pytest.mark.parametrize(("cr", "k"), sorted(BS_PARAMS_K))
def test_bacrnet_ue_memory_matches_table_iv(cr, k):
    c = _codec(cr, k, "encoder")
    published = UE_MEMORY_K[cr] * 1e3
    assert c.ue_memory_bits() / 32 == pytest.approx(published, rel=0.02, abs=500)
    torch_k = _pytorch_memory(c.ue_memory_bits(), c.encoder) / 1e3
    assert round(torch_k) == UE_MEMORY_K[cr]
    # K = 1000, not 1024 (which would read 33K at CR4).
    assert (cr != 4) or round(torch_k * 1e3 / 1024) == 33
    # FC: 2048 M weights at 1 bit, M float biases, one float alpha.
    m = 2048 // cr
    fc_bits = 2048 * m + 32 * m + 32
    assert c.ue_memory_bits() - fc_bits == 32 * (c.encoder.count_params() - 2048 * m - m)


@pytest.mark.parametrize(("cr", "k"), sorted(BS_PARAMS_K))
def test_bacrnet_bs_params_match_table_iv(cr, k):
    c = _codec(cr, k, "encoder")
    published = BS_PARAMS_K[cr, k] * 1e3
    assert c.parameter_counts()["bs_params"] == pytest.approx(published, rel=0.02, abs=500)
    assert round(pytorch_param_count(c.decoder) / 1e3) == BS_PARAMS_K[cr, k]


@pytest.mark.parametrize(("cr", "k"), sorted(BS_MEMORY_K))
def test_both_binary_bs_memory_matches_table_iv(cr, k):
    c = _codec(cr, k, "both")
    assert [type(lyr) for lyr in binary_layers(c.decoder)] == [BinaryDense]
    published = BS_MEMORY_K[cr, k] * 1e3
    assert c.bs_memory_bits() / 32 == pytest.approx(published, rel=0.02, abs=500)
    assert round(_pytorch_memory(c.bs_memory_bits(), c.decoder) / 1e3) == BS_MEMORY_K[cr, k]


def test_both_binary_memory_saving_against_csinet():
    # Seed 002 Sec. V-E: BACRNet-10x with both FCs binary saves "around 30x and 18x" memory at
    # the UE and the BS against CsiNet (1049K / 1054K) at CR4.
    c = _codec(4, 10, "both")
    assert 1049e3 / (c.ue_memory_bits() / 32) == pytest.approx(30, rel=0.05)
    assert 1054e3 / (c.bs_memory_bits() / 32) == pytest.approx(18, rel=0.05)


@pytest.mark.parametrize("k", sorted(TOTALS))
def test_expanded_acrnet_totals_match_table_iii(k):
    c = _codec(4, k)
    params, flops = TOTALS[k]
    total_params = pytorch_param_count(c.encoder) + pytorch_param_count(c.decoder)
    assert round(total_params / 1e3) == round(params / 1e3)
    assert c.parameter_counts()["ue_params"] + c.parameter_counts()["bs_params"] == \
        pytest.approx(params, rel=0.02)
    macs = count_macs(c.autoencoder())
    assert macs == count_macs(c.encoder) + count_macs(c.decoder)
    assert round(macs / 1e4) / 100 == flops / 1e6  # 28.79M / 37.58M to the last digit


def test_one_expansion_step_adds_2_2m_flops_at_the_bs_only():
    encoders, decoders = [], []
    for k in (1, 2, 3, 10, 11):
        c = _codec(4, k)
        encoders.append(count_macs(c.encoder))
        decoders.append(count_macs(c.decoder))
    assert len(set(encoders)) == 1
    steps = np.diff(decoders) / np.diff([1, 2, 3, 10, 11])
    assert np.all(steps == 2_195_456) and steps[0] == pytest.approx(2.2e6, rel=0.02)


def test_acrnet_1x_matches_cllwcsinet_tables_and_fc_share():
    c = _codec(4, 1)
    # CLLWCsiNet Table III, ACRNet with FC at CR4: 4.64M FLOPs, 2102K params; Table I: UE 1049K.
    assert count_macs(c.autoencoder()) == pytest.approx(4.64e6, rel=0.002)
    assert round((pytorch_param_count(c.encoder) + pytorch_param_count(c.decoder)) / 1e3) == 2102
    assert round(pytorch_param_count(c.encoder) / 1e3) == 1049
    # Seed 002 Sec. IV-B: the FC is 80.76 % of the encoder FLOPs.
    by_type = macs_by_type(c.encoder)
    assert by_type["Dense"] / sum(by_type.values()) == pytest.approx(0.8076, abs=1e-4)


def _layers(model, cls):
    return [lyr for lyr in model.layers if isinstance(lyr, cls)]


@pytest.mark.parametrize("k", [1, 10])
def test_structure(k):
    c = _codec(4, k)
    enc = sorted((tuple(lyr.kernel_size), lyr.filters, lyr.groups)
                 for lyr in _layers(c.encoder, layers.Conv2D))
    assert enc == sorted([((5, 5), 2, 1)] + 2 * [((1, 9), 2, 1), ((9, 1), 2, 1)])
    block = [((1, 9), 8 * k, 1), ((7, 7), 8 * k, 4 * k), ((9, 1), 2, 1)]
    dec = sorted((tuple(lyr.kernel_size), lyr.filters, lyr.groups)
                 for lyr in _layers(c.decoder, layers.Conv2D))
    assert dec == sorted([((5, 5), 2, 1)] + 2 * block)
    for model, n_prelu in ((c.encoder, 1 + 2 * 2), (c.decoder, 1 + 2 * 3)):
        convs = _layers(model, layers.Conv2D)
        assert len(_layers(model, layers.BatchNormalization)) == len(convs)
        assert not any(lyr.use_bias for lyr in convs)
        prelus = _layers(model, layers.PReLU)
        assert len(prelus) == n_prelu and not _layers(model, layers.LeakyReLU)
        for p in prelus:  # one slope per channel, initialised to 0.3
            alpha = keras.ops.convert_to_numpy(p.alpha)
            assert alpha.size == p.output.shape[-1] and np.all(alpha == np.float32(0.3))
        assert len(_layers(model, layers.Add)) == 2
    assert [type(lyr) for lyr in _layers(c.encoder, layers.Dense)] == [layers.Dense]


def test_activation_ablations():
    lrelu = ACRNet(16, activation="lrelu")
    assert not _layers(lrelu.decoder, layers.PReLU)
    assert all(lyr.negative_slope == pytest.approx(0.3)
               for lyr in _layers(lrelu.decoder, layers.LeakyReLU))
    sprelu = ACRNet(16, activation="sprelu")
    assert all(keras.ops.convert_to_numpy(p.alpha).size == 1
               for p in _layers(sprelu.decoder, layers.PReLU))
    # PReLU slopes add parameters, no MACs.
    prelu = _codec(16)
    assert count_macs(prelu.decoder) == count_macs(lrelu.decoder)
    assert prelu.decoder.count_params() - lrelu.decoder.count_params() == 2 + 2 * (8 + 8 + 2)


def test_group_conv_keeps_groups_of_two_channels_apart():
    c = _codec(4, 10)
    conv = c.decoder.get_layer("acrdeblock1_group7x7_conv")
    x = np.zeros((1, 32, 32, 80), np.float32)
    x[..., 6:8] = np.random.default_rng(0).normal(size=(1, 32, 32, 2))  # group 3 only
    y = keras.ops.convert_to_numpy(conv(x))
    energy = np.sum(y**2, axis=(0, 1, 2))
    assert np.all(energy[6:8] > 0) and np.all(np.delete(energy, [6, 7]) == 0)


@pytest.mark.parametrize("cr", [4, 8, 16, 32, 64])
def test_shapes_and_output_range(cr):
    c = ACRNet(cr, binary="both", output_head="sigmoid")  # paper-faithful head: [0, 1]
    x = np.random.default_rng(cr).random((3, 32, 32, 2), dtype=np.float32)
    z = c.encode(x)
    assert z.shape == (3, 2048 // cr) and z.dtype == np.float32
    y = c.decode(z)
    assert y.shape == x.shape and y.dtype == np.float32
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_rectangular_and_invalid_arguments():
    c = BACRNet(8, num_rows=16, num_antennas=32, expansion=2)
    assert c.encode(np.full((2, 16, 32, 2), 0.5, np.float32)).shape == (2, 128)
    for kwargs in ({"expansion": 0}, {"expansion": 1.5}, {"activation": "relu"},
                   {"binary": "decoder"}):
        with pytest.raises(ValueError):
            ACRNet(4, **kwargs)


def test_registry_and_bacrnet_default():
    codecs = available_codecs()
    assert codecs["acrnet"] is ACRNet and get_codec_class("bacrnet") is BACRNet
    b = BACRNet(4)
    assert b.binary == "encoder" and b.config()["binary"] == "encoder"
    assert binary_layers(b.encoder) and not binary_layers(b.decoder)
    assert not binary_layers(_codec(4).encoder)


@pytest.mark.parametrize(("cls", "kwargs"), [(ACRNet, {"expansion": 2}),
                                             (BACRNet, {"binary": "both",
                                                        "activation": "sprelu"})])
def test_save_load_round_trip(tmp_path, cls, kwargs):
    keras.utils.set_random_seed(3)
    c = cls(16, **kwargs)
    loaded = assert_save_load_round_trip(c, tmp_path / "model")
    assert len(binary_layers(loaded.encoder)) == len(binary_layers(c.encoder))
    assert len(binary_layers(loaded.decoder)) == len(binary_layers(c.decoder))


def test_export_holds_two_values_per_binary_fc():
    keras.utils.set_random_seed(4)
    c = BACRNet(8, binary="both")
    x = np.random.default_rng(2).random((5, 32, 32, 2), dtype=np.float32)
    for model, exported, name in ((c.encoder, c.export_encoder(), "enc_binary_fc"),
                                  (c.decoder, c.export_decoder(), "dec_binary_fc")):
        assert not binary_layers(exported)
        kernel = exported.get_layer(name).get_weights()[0]
        alpha = np.mean(np.abs(keras.ops.convert_to_numpy(model.get_layer(name).kernel)))
        np.testing.assert_allclose(np.unique(kernel), [-alpha, alpha], rtol=1e-6)
    z = c.encoder.predict(x, verbose=0)
    np.testing.assert_allclose(c.export_encoder().predict(x, verbose=0), z, atol=1e-5)
    np.testing.assert_allclose(c.export_decoder().predict(z, verbose=0),
                               c.decoder.predict(z, verbose=0), atol=1e-5)


def _clusters(rng, n, size=8, center=0.0, amplitude=0.45):
    """Sparse normalised angular-delay CSI around ``center`` (0.5 and amplitude 0.45: in
    [0, 1]), ``[n, size, size, 2]``: one cluster per sample at a random angle (Gaussian beam,
    1 bin wide), exponential power-delay profile, random phase."""
    rows = np.arange(size)[None, :, None]
    cols = np.arange(size)[None, None, :]
    angle = rng.uniform(0, size, (n, 1, 1))
    delay_spread = rng.uniform(0.7, 2.0, (n, 1, 1))
    dist = np.minimum(np.abs(cols - angle), size - np.abs(cols - angle))
    mag = np.exp(-0.5 * dist**2 - rows / delay_spread)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1)) + 0.5 * rows
    return (center + amplitude * np.stack([mag * np.cos(phase), mag * np.sin(phase)], -1)
            ).astype(np.float32)


def _learned_mse_ratio(binary, head="linear"):
    rng = np.random.default_rng(0)
    # the pipeline's conventions: [0, 1] around 0.5 (sigmoid), unit RMS around 0 (linear)
    kw = {"center": 0.5} if head == "sigmoid" else {"amplitude": 0.45 / 0.06}
    x_train, x_val = _clusters(rng, 512, **kw), _clusters(rng, 128, **kw)
    keras.utils.set_random_seed(1)
    c = ACRNet(4, num_rows=8, num_antennas=8, binary=binary, output_head=head)
    train_codec(c, x_train, x_val, TrainSettings(epochs=15, batch_size=32, learning_rate=4e-3,
                                                 seed=1), progress=False)
    mse = np.mean((c.decode(c.encode(x_val)) - x_val) ** 2)
    return mse / np.mean((x_val - x_train.mean(axis=0)) ** 2)


@pytest.mark.parametrize("head", ["linear", "sigmoid"])
def test_acrnet_learns(head):
    # 15 short epochs: well below the error of the best constant (mean) output.
    assert _learned_mse_ratio("none", head) < 0.6


@pytest.mark.slow
@pytest.mark.parametrize("binary", ["encoder", "both"])
def test_bacrnet_learns(binary):
    assert _learned_mse_ratio(binary) < 0.8
