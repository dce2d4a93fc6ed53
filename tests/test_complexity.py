"""MAC and memory counting: the papers' published FLOPs, the counting rules, the CLI table."""

import keras
import pytest
from click.testing import CliRunner
from keras import layers

from linksim.cli import main
from linksim.codecs import CRNet, CsiNet
from linksim.complexity import (
    UnsupportedLayerError,
    complexity,
    count_macs,
    elementwise_ops,
    macs_by_type,
    memory_bits,
)

# Published "FLOPs" = multiply-accumulates (seed 004 Tables I and IV, seed 002 Table IV).
PUBLISHED_MACS = {  # (codec, CR): (UE, BS)
    (CsiNet, 4): (1.09e6, 4.33e6), (CsiNet, 8): (561e3, None), (CsiNet, 16): (299e3, None),
    (CsiNet, 32): (168e3, None), (CRNet, 4): (1.20e6, 3.92e6),
}


@pytest.mark.parametrize(("cls", "cr"), sorted(PUBLISHED_MACS, key=lambda k: (k[0].name, k[1])))
def test_macs_match_the_papers(cls, cr):
    ue, bs = PUBLISHED_MACS[cls, cr]
    c = complexity(cls(cr))
    assert c["ue_macs"] == pytest.approx(ue, rel=0.02)
    if bs is not None:
        assert c["bs_macs"] == pytest.approx(bs, rel=0.02)


def test_exact_cr4_counts_and_fc_share():
    csinet, crnet = CsiNet(4), CRNet(4)
    assert (count_macs(csinet.encoder), count_macs(csinet.decoder)) == (1_085_440, 4_329_472)
    assert (count_macs(crnet.encoder), count_macs(crnet.decoder)) == (1_204_224, 3_917_824)
    # Seed 004 Table II: the FC layer is 96.60 % (CsiNet) and 87.07 % (CRNet) of the UE FLOPs.
    for codec, share in ((csinet, 0.9660), (crnet, 0.8707)):
        by_type = macs_by_type(codec.encoder)
        assert set(by_type) == {"Conv2D", "Dense"}
        assert by_type["Dense"] / sum(by_type.values()) == pytest.approx(share, abs=1e-4)


def test_nested_models_are_expanded():
    # CLLWCsiNet Table III, whole auto-encoder at CR4: CsiNet 5.41M, CRNet 5.12M.
    for cls, published in ((CsiNet, 5.41e6), (CRNet, 5.12e6)):
        c = cls(4)
        total = count_macs(c.autoencoder())
        assert total == count_macs(c.encoder) + count_macs(c.decoder)
        assert total == pytest.approx(published, rel=0.002)


def test_cllwcsinet_convention_is_macs_plus_elementwise_ops():
    # CLLWCsiNet Table I, UE side at CR4: CsiNet 1094K, CRNet 1235K.
    for cls, published in ((CsiNet, 1094e3), (CRNet, 1235e3)):
        enc = cls(4).encoder
        assert count_macs(enc) + elementwise_ops(enc) == pytest.approx(published, abs=500)


def test_float_memory_is_32_bits_per_parameter():
    c = complexity(CRNet(8))
    assert c["ue_memory_bits"] == 32 * c["ue_params"]
    assert c["bs_memory_bits"] == 32 * c["bs_params"]


class BinaryDense(layers.Dense):
    """Dense layer whose kernel is stored as 1-bit signs (the memory hook)."""

    binary = True


def test_binary_kernels_count_one_bit():
    x = keras.Input((2048,))
    model = keras.Model(x, BinaryDense(512)(x))
    assert memory_bits(model) == 2048 * 512 + 32 * 512  # bias stays float32
    assert count_macs(model) == 2048 * 512


def test_conv_rules():
    x = keras.Input((8, 6, 4))
    y = layers.Conv2D(6, (3, 1), strides=2, padding="same", groups=2, name="grouped")(x)
    y = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="valid", name="depthwise")(y)
    y = layers.Conv2DTranspose(5, 2, strides=2, name="transpose")(y)
    model = keras.Model(x, layers.Dense(3, name="dense")(y))
    assert macs_by_type(model) == {
        "Conv2D": 3 * 1 * (4 // 2) * 6 * (4 * 3),  # output 4x3
        "DepthwiseConv2D": 3 * 3 * 12 * (2 * 1),  # 6 channels x 2 -> 12, output 2x1
        "Conv2DTranspose": 2 * 2 * 12 * 5 * (2 * 1),  # input 2x1
        "Dense": (4 * 2) * 5 * 3,  # applied on each of the 4x2 positions
    }


def test_channels_first_conv():
    x = keras.Input((3, 10, 10))
    model = keras.Model(x, layers.Conv2D(4, 3, data_format="channels_first")(x))
    assert count_macs(model) == 3 * 3 * 3 * 4 * 8 * 8


class Bilinear(layers.Layer):
    """A layer with a weight matrix and no counting rule."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], input_shape[-1]))

    def call(self, x):
        return x * keras.ops.matmul(x, self.w)


class CountedBilinear(Bilinear):
    def count_macs(self):
        return 2 * 16 * 16


def test_unknown_weight_matrix_raises_and_hook_counts():
    x = keras.Input((16,))
    with pytest.raises(UnsupportedLayerError, match="Bilinear"):
        count_macs(keras.Model(x, Bilinear()(x)))
    assert count_macs(keras.Model(x, CountedBilinear()(x))) == 512


def test_cli_codecs_complexity_table():
    runner = CliRunner()
    res = runner.invoke(main, ["codecs", "--complexity", "--cr", "4"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["codec", "CR", "M", "UE", "params", "BS", "params", "UE",
                                "MACs", "BS", "MACs", "UE", "mem", "bits", "BS", "mem", "bits"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["csinet"][3:] == ["1,049,134", "1,054,090", "1,085,440", "4,329,472",
                                  f"{32 * 1_049_134:,}", f"{32 * 1_054_090:,}"]
    assert rows["crnet"][5:7] == ["1,204,224", "3,917,824"]


def test_cli_codecs_without_flag_keeps_the_short_table():
    res = CliRunner().invoke(main, ["codecs", "--cr", "32"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].split() == ["codec", "CR", "M", "UE", "params", "BS",
                                                  "params"]
    assert "csinet" in res.output and "MACs" not in res.output
