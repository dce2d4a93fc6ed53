"""CRNet (Lu, Wang, Song, "Multi-resolution CSI feedback with deep learning in massive MIMO
system", IEEE ICC 2020), the baseline of ACRNet (seed 002) and BCsiNet (seed 004).

Every convolution is bias-free and followed by batch norm (the bias would be cancelled by the
batch norm); ``LReLU`` is LeakyReLU(0.3). Channels-last, ``Na = Nt = 32`` in the shapes below.

Encoder (UE), ``x [b, 32, 32, 2] -> z [b, M]``:

* path 1: 3x3 conv 2 -> 2, LReLU, 1x9 conv 2 -> 2, LReLU, 9x1 conv 2 -> 2 (``[b, 32, 32, 2]``);
* path 2: 3x3 conv 2 -> 2 (``[b, 32, 32, 2]``);
* concat (``[b, 32, 32, 4]``), LReLU, 1x1 conv 4 -> 2, LReLU, flatten (``[b, 2048]``), linear FC
  to ``M``.

Decoder (BS), ``z [b, M] -> x [b, 32, 32, 2]``: linear FC to ``2 Na Nt``, reshape to
``[b, 32, 32, 2]``, 5x5 conv 2 -> 2, LReLU, two CRBlocks, output head (the paper's sigmoid or linear). A CRBlock (multi-resolution
residual block, ``[b, 32, 32, 2] -> [b, 32, 32, 2]``):

* path 1: 3x3 conv 2 -> 7, LReLU, 1x9 conv 7 -> 7, LReLU, 9x1 conv 7 -> 7;
* path 2: 1x5 conv 2 -> 7, LReLU, 5x1 conv 7 -> 7;
* concat (``[b, 32, 32, 14]``), LReLU, 1x1 conv 14 -> 2, identity shortcut added, LReLU.

The 9x9 and 5x5 receptive fields are factorised into 1xk and kx1 kernels (the paper's
"convolution factorization").

Parameter counts at ``Na = Nt = 32`` (Keras counts include the batch-norm moving mean and
variance, 4 numbers per channel; PyTorch counts 2):

====  ==========  ==========  =====================================
CR    UE params   BS params   published (seed 004 Table I, CR4)
====  ==========  ==========  =====================================
4     1,049,280   1,053,730   UE 1.05M, BS 1.05M (CLLWCsiNet: 1049K)
8       524,736     529,442
16      262,464     267,298
32      131,328     136,226
====  ==========  ==========  =====================================

Multiply-accumulates (:mod:`linksim.complexity`) at CR4: UE 1,204,224 (published 1.20M), BS
3,917,824 (published 3.92M); the FC is 87.07 % of the UE MACs, as in seed 004 Table II.
"""

from __future__ import annotations

import keras
from keras import layers

from linksim.codecs.base import Codec, register_codec
from linksim.codecs.csinet import BN_MOMENTUM, LEAK

#: Channels inside a CRBlock path (7 in the paper, giving 2 x 7 = 14 before the 1x1 merge).
CRBLOCK_WIDTH = 7


def conv_bn(x, filters: int, kernel: int | tuple[int, int], name: str, use_bias: bool = False):
    """'same' conv ``[b, H, W, c] -> [b, H, W, filters]`` (bias-free unless ``use_bias``), then
    batch norm."""
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=use_bias,
                      name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)


def lrelu(x, name: str):
    """LeakyReLU with the CRNet slope 0.3."""
    return layers.LeakyReLU(negative_slope=LEAK, name=name)(x)


def cr_block(x, name: str, width: int = CRBLOCK_WIDTH):
    """CRBlock ``[b, H, W, 2] -> [b, H, W, 2]``: 3x3/1x9/9x1 and 1x5/5x1 paths, 1x1 merge, shortcut."""
    p1 = conv_bn(x, width, 3, f"{name}_p1_3x3")
    p1 = conv_bn(lrelu(p1, f"{name}_p1_act1"), width, (1, 9), f"{name}_p1_1x9")
    p1 = conv_bn(lrelu(p1, f"{name}_p1_act2"), width, (9, 1), f"{name}_p1_9x1")
    p2 = conv_bn(x, width, (1, 5), f"{name}_p2_1x5")
    p2 = conv_bn(lrelu(p2, f"{name}_p2_act"), width, (5, 1), f"{name}_p2_5x1")
    y = layers.Concatenate(name=f"{name}_concat")([p1, p2])
    y = conv_bn(lrelu(y, f"{name}_concat_act"), x.shape[-1], 1, f"{name}_1x1")
    y = layers.Add(name=f"{name}_add")([x, y])
    return lrelu(y, f"{name}_out")


@register_codec("crnet")
class CRNet(Codec):
    """CRNet: multi-resolution conv + FC encoder, FC + 5x5 head + 2 CRBlocks decoder."""

    def build_encoder(self) -> keras.Model:
        x_in = keras.Input(self.input_shape, name="csi")
        p1 = conv_bn(x_in, 2, 3, "enc_p1_3x3")
        p1 = conv_bn(lrelu(p1, "enc_p1_act1"), 2, (1, 9), "enc_p1_1x9")
        p1 = conv_bn(lrelu(p1, "enc_p1_act2"), 2, (9, 1), "enc_p1_9x1")
        p2 = conv_bn(x_in, 2, 3, "enc_p2_3x3")
        x = layers.Concatenate(name="enc_concat")([p1, p2])
        x = conv_bn(lrelu(x, "enc_concat_act"), 2, 1, "enc_1x1")
        x = layers.Flatten(name="enc_flatten")(lrelu(x, "enc_1x1_act"))
        z = layers.Dense(self.codeword_length, name="enc_fc")(x)
        return keras.Model(x_in, z, name="crnet_encoder")

    def build_decoder(self) -> keras.Model:
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = layers.Dense(2 * self.num_rows * self.num_antennas, name="dec_fc")(z_in)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        x = lrelu(conv_bn(x, 2, 5, "dec_head_5x5"), "dec_head_act")
        x = cr_block(x, "crblock1")
        x = cr_block(x, "crblock2")
        x = layers.Activation(self.output_activation, name="dec_out")(x)
        return keras.Model(z_in, x, name="crnet_decoder")
