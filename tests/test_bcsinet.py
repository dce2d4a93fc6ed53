"""BCsiNet (seed 004): published UE memory / MACs / BS parameters, binarisation, learning."""

import keras
import numpy as np
import pytest
import torch
from codec_checks import assert_save_load_round_trip, assert_shapes_and_range
from keras import layers

from linksim.codecs.base import available_codecs, get_codec_class
from linksim.codecs.bcsinet import BCsiNet, BCsiNetA2, BCsiNetB3
from linksim.codecs.binary import BinaryDense, binary_layers
from linksim.codecs.csinet import CsiNet
from linksim.complexity import count_macs, memory_bits
from linksim.learning.training import TrainSettings, train_codec
from linksim.phy.transforms import (
    Normalizer,
    complex_to_real,
    truncated_angular_delay,
    unit_power,
)

# Seed 004 Table IV, UE "params" of BCsiNet-A2 and -B3 (float32-equivalent memory, K = 1000).
PUBLISHED_UE_MEMORY_K = {4: 33, 8: 17, 16: 8, 32: 4}
# Seed 004 Table IV / seed 002 Table IV: BS parameters of BCsiNet-A2.
PUBLISHED_BS_PARAMS_A2 = {4: 1054e3, 8: 530e3, 16: 268e3}
# Seed 004 Table IV "mul" at the UE, whatever the CR; Sec. III-C: B3 decoder 5.95M.
PUBLISHED_UE_MUL = {"a2": 37e3, "b3": 74e3}
PUBLISHED_BS_MACS_B3 = 5.95e6
# Seed 004 Sec. III-C: memory saving over the CsiNet encoder at CR4, heads A, B, C.
PUBLISHED_SAVING = {"A": 31.49, "B": 31.48, "C": 31.34}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: on the shared 2-core machine two threads per process
    oversubscribe the cores and make a training step ~20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sparse_ad_csi(rng, b, na=8, nt=8, nc=32, paths=3, max_delay=2.0):
    """Few-path channels as truncated angular-delay CSI ``[b, na, nt, 2]`` float32.

    Each sample has ``paths`` paths with CN(0, 1/paths) gains, delays uniform in
    ``[0, max_delay)`` taps and spatial frequencies uniform in ``[0, nt)`` DFT bins (off-grid,
    so the energy leaks over neighbouring rows and columns); built in space-frequency
    ``[b, nc, nt]`` and transformed with :func:`linksim.phy.transforms.truncated_angular_delay`.
    """
    shape = (b, paths, 1, 1)
    delay = rng.uniform(0.0, max_delay, shape)
    angle = rng.uniform(0.0, nt, shape)
    gain = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2 * paths)
    k = np.arange(nc)[:, None]
    n = np.arange(nt)[None, :]
    h = np.sum(gain * np.exp(-2j * np.pi * (k * delay / nc - n * angle / nt)), axis=1)
    return complex_to_real(truncated_angular_delay(h.astype(np.complex64), na))


@pytest.fixture(scope="module")
def trained():
    """BCsiNet-A2, CR4, Na = Nt = 8, trained 30 short epochs on 512 few-path samples.

    Unit-power CSI scaled with ``s = 4 RMS`` (the UMa scenario's preprocessing; 98.3 % of the
    entries fall in [0, 1]). Returns the codec, its initial shadow FC kernel, the validation
    set and the per-element training mean.
    """
    x, _ = unit_power(sparse_ad_csi(np.random.default_rng(7), 640))
    x_n = Normalizer.fit(x[:512], 4).forward(x)
    x_train, x_val = x_n[:512], x_n[512:]
    keras.utils.set_random_seed(0)
    codec = BCsiNetA2(4, num_rows=8, num_antennas=8)
    w0 = keras.ops.convert_to_numpy(codec.encoder.get_layer("enc_binary_fc").kernel).copy()
    settings = TrainSettings(epochs=30, batch_size=32, learning_rate=1e-2, schedule="cosine",
                             lr_min=1e-4, warmup_epochs=1, seed=0)
    train_codec(codec, x_train, x_val, settings, progress=False)
    return codec, w0, x_val, x_train.mean(axis=0)


# -- published complexity ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", [BCsiNetA2, BCsiNetB3])
@pytest.mark.parametrize("cr", sorted(PUBLISHED_UE_MEMORY_K))
def test_ue_memory_matches_table_iv(cls, cr):
    floats = cls(cr).ue_memory_bits() / 32
    published = PUBLISHED_UE_MEMORY_K[cr]
    # The table rounds to whole K with K = 1000 (33,327 / 16,687 / 8,367 / 4,207 for A2);
    # with K = 1024 CR8 would read 16K.
    assert round(floats / 1000) == published
    if cr in (4, 8):  # where the rounding leaves a 2 % check meaningful
        assert floats == pytest.approx(published * 1000, rel=0.02)
    if cls is BCsiNetA2 and cr == 8:
        assert round(floats / 1024) != published


def test_ue_memory_counts_one_bit_per_fc_weight_and_alpha():
    c = BCsiNetA2(4)
    # 2048 x 512 signs, alpha, the 512 biases, the head's conv (36 + 2 bias) and BN (4 x 2).
    assert c.ue_memory_bits() == 2048 * 512 + 32 + 32 * (512 + 38 + 8)
    assert c.ue_memory_bits() == memory_bits(c.encoder) + 32


@pytest.mark.parametrize("cr", sorted(PUBLISHED_BS_PARAMS_A2))
def test_bs_params_match_table_iv(cr):
    bs = BCsiNetA2(cr).parameter_counts()["bs_params"]
    assert bs == pytest.approx(PUBLISHED_BS_PARAMS_A2[cr], rel=0.02)


@pytest.mark.parametrize(("cls", "key"), [(BCsiNetA2, "a2"), (BCsiNetB3, "b3")])
@pytest.mark.parametrize("cr", [4, 32])
def test_ue_multiplications_match_table_iv(cls, key, cr):
    # Head convs (36,864 multiply-adds each) + one multiplication by alpha per codeword entry.
    macs = count_macs(cls(cr).encoder)
    assert macs == pytest.approx(PUBLISHED_UE_MUL[key], rel=0.02)
    assert macs == 36_864 * (1 if key == "a2" else 2) + 2048 // cr


def test_bs_macs_three_refinenets():
    assert count_macs(BCsiNetB3(4).decoder) == pytest.approx(PUBLISHED_BS_MACS_B3, rel=0.002)
    # Two RefineNets: CsiNet's decoder, 4.33M (seed 004 Table I).
    assert count_macs(BCsiNetA2(4).decoder) == count_macs(CsiNet(4).decoder) == 4_329_472


def test_memory_saving_over_csinet_at_cr4():
    csinet_bits = memory_bits(CsiNet(4).encoder)
    savings = {h: csinet_bits / BCsiNet(4, head=h).ue_memory_bits() for h in "ABC"}
    assert min(savings.values()) >= 30
    assert savings["A"] == pytest.approx(PUBLISHED_SAVING["A"], rel=1e-3)
    assert savings["C"] == pytest.approx(PUBLISHED_SAVING["C"], rel=1e-3)
    # The published 31.48x of head B would need a ~45-parameter head (head A alone has 40);
    # two 2->2 convs, as in the authors' code and the 74K "mul", give 31.44x here.
    assert savings["A"] > savings["B"] > savings["C"]
    assert savings["B"] == pytest.approx(31.44, abs=0.01)


# -- architecture -----------------------------------------------------------------------------
@pytest.mark.parametrize(("head", "n_conv"), [("A", 1), ("B", 2), ("C", 3)])
@pytest.mark.parametrize("refinenets", [2, 3])
def test_structure(head, n_conv, refinenets):
    c = BCsiNet(16, num_rows=8, num_antennas=16, head=head, num_refinenets=refinenets)
    enc_convs = [ly for ly in c.encoder.layers if isinstance(ly, layers.Conv2D)]
    assert len(enc_convs) == n_conv and all(ly.kernel_size == (3, 3) for ly in enc_convs)
    assert [ly.filters for ly in enc_convs] == {"A": [2], "B": [2, 2], "C": [2, 4, 2]}[head]
    assert [type(ly) for ly in binary_layers(c.encoder)] == [BinaryDense]
    assert not binary_layers(c.decoder)
    assert sum(isinstance(ly, layers.Add) for ly in c.encoder.layers) == (head == "C")
    assert sum(isinstance(ly, layers.Add) for ly in c.decoder.layers) == refinenets
    for model in (c.encoder, c.decoder):  # every conv is followed by batch norm
        convs = [ly for ly in model.layers if isinstance(ly, layers.Conv2D)]
        bns = [ly for ly in model.layers if isinstance(ly, layers.BatchNormalization)]
        assert len(bns) == len(convs)
        assert all(ly.negative_slope == pytest.approx(0.3)
                   for ly in model.layers if isinstance(ly, layers.LeakyReLU))
    assert c.decoder.layers[-1].activation is keras.activations.linear  # default head
    paper = type(c)(**{**c.config(), "output_head": "sigmoid"})
    assert paper.decoder.layers[-1].activation is keras.activations.sigmoid


def test_shapes_and_output_range():
    c = BCsiNet(8, num_rows=16, num_antennas=32, head="C")
    assert_shapes_and_range(c)


def test_bad_arguments():
    with pytest.raises(ValueError, match="head"):
        BCsiNet(4, head="D")
    with pytest.raises(ValueError, match="num_refinenets"):
        BCsiNet(4, num_refinenets=0)
    with pytest.raises(ValueError, match="compression ratio"):
        BCsiNet(3)


def test_presets_and_registry():
    codecs = available_codecs()
    for name, cls in (("bcsinet", BCsiNet), ("bcsinet_a2", BCsiNetA2),
                      ("bcsinet_b3", BCsiNetB3)):
        assert codecs[name] is cls and get_codec_class(name) is cls
    assert (BCsiNetA2(8).head, BCsiNetA2(8).num_refinenets) == ("A", 2)
    assert (BCsiNetB3(8).head, BCsiNetB3(8).num_refinenets) == ("B", 3)
    for c in (BCsiNetB3(8, num_rows=8), BCsiNet(16, head="c", num_refinenets=3)):
        assert type(c)(**c.config()).config() == c.config()
    assert BCsiNet(16, head="c").config()["head"] == "C"


def test_save_load_round_trip(tmp_path):
    c = BCsiNetB3(8, num_rows=8, num_antennas=8)
    loaded = assert_save_load_round_trip(c, tmp_path / "model", scale=0.25)
    assert isinstance(loaded.encoder.get_layer("enc_binary_fc"), BinaryDense)


# -- binarisation and learning ------------------------------------------------------------------
def test_exported_encoder_is_binary_and_exact(trained):
    codec, _, x_val, _ = trained
    shadow = keras.ops.convert_to_numpy(codec.encoder.get_layer("enc_binary_fc").kernel)
    alpha = np.mean(np.abs(shadow))
    exported = codec.export_encoder()
    assert not binary_layers(exported)
    kernel = exported.get_layer("enc_binary_fc").get_weights()[0]
    values = np.unique(kernel)
    assert len(values) == 2
    np.testing.assert_allclose(values, [-alpha, alpha], rtol=1e-6)
    np.testing.assert_array_equal(np.sign(kernel), np.where(shadow >= 0, 1, -1))
    np.testing.assert_allclose(exported.predict(x_val, verbose=0), codec.encode(x_val),
                               atol=1e-5)


def test_shadow_weights_train_but_forward_sees_only_alpha_sign(trained):
    codec, w0, x_val, _ = trained
    fc = codec.encoder.get_layer("enc_binary_fc")
    w = keras.ops.convert_to_numpy(fc.kernel).copy()
    # The float weights moved (measured: by 95 % of their mean |W|) and flipped signs (25 %).
    assert np.mean(np.abs(w - w0)) > 0.1 * np.mean(np.abs(w0))
    assert np.mean(np.sign(w) != np.sign(w0)) > 0.01
    # The codeword is alpha sign(W) features + b ...
    features = keras.Model(codec.encoder.inputs, codec.encoder.get_layer("enc_flatten").output)
    f = features.predict(x_val, verbose=0)
    alpha = np.mean(np.abs(w))
    z_expected = f @ (alpha * np.where(w >= 0, 1.0, -1.0)) + fc.get_weights()[1]
    z = codec.encode(x_val)
    np.testing.assert_allclose(z, z_expected, rtol=1e-4, atol=1e-4)
    # ... so other shadow weights with the same signs and mean |W| give the same codeword.
    rng = np.random.default_rng(3)
    other = np.sign(w) * rng.uniform(0.0, 2.0 * alpha, w.shape)
    other *= alpha / np.mean(np.abs(other))
    try:
        fc.kernel.assign(other.astype(np.float32))
        np.testing.assert_allclose(codec.encode(x_val), z, atol=1e-5)
    finally:
        fc.kernel.assign(w)


def test_learns_better_than_the_mean(trained):
    codec, _, x_val, train_mean = trained
    mse = np.mean((codec.decode(codec.encode(x_val)) - x_val) ** 2)
    mse_mean = np.mean((train_mean - x_val) ** 2)
    # Measured 0.66 (-1.8 dB) after 30 epochs of 16 steps; the untrained net is at 2.44.
    assert mse < 0.85 * mse_mean
    assert codec.history[-1]["val_loss"] < codec.history[0]["val_loss"]
