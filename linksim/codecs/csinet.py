"""CsiNet (Wen, Shih, Jin, "Deep learning for massive MIMO CSI feedback", IEEE WCL 2018).

Encoder (UE): 3x3 conv with 2 filters, batch norm, LeakyReLU(0.3), flatten, linear FC to ``M``.
Decoder (BS): linear FC to ``2 Na Nt``, reshape, two RefineNet units (3x3 convs with 8, 16, 2
filters, batch norm, LeakyReLU(0.3), identity shortcut), final 3x3 conv with 2 filters and the
output head (sigmoid in the paper; linear by default here, see :mod:`linksim.codecs.base`).

Parameter counts at ``Na = Nt = 32``, CR 4 (``M = 512``): encoder 1,049,134, decoder 1,054,090,
matching the published 1,049K / 1,054K (seed 004 Table I).
"""

from __future__ import annotations

import keras
from keras import layers

from linksim.codecs.base import Codec, register_codec

LEAK = 0.3
#: Batch-norm moving-average momentum. Keras' default 0.99 needs thousands of steps before the
#: inference statistics settle (the first layer's variance is ~1e-4 on [0, 1]-scaled CSI while
#: the moving variance starts at 1); 0.9 is PyTorch's default, as in the CRNet/ACRNet code bases,
#: and makes short training budgets usable.
BN_MOMENTUM = 0.9


def conv_bn_act(x, filters: int, name: str, activate: bool = True):
    """3x3 'same' conv -> batch norm -> LeakyReLU(0.3) (activation optional)."""
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if activate:
        x = layers.LeakyReLU(negative_slope=LEAK, name=f"{name}_act")(x)
    return x


def refine_net(x, name: str):
    """CsiNet RefineNet: conv 8 -> conv 16 -> conv 2 (each 3x3 with BN), identity shortcut."""
    y = conv_bn_act(x, 8, f"{name}_1")
    y = conv_bn_act(y, 16, f"{name}_2")
    y = conv_bn_act(y, 2, f"{name}_3", activate=False)
    y = layers.Add(name=f"{name}_add")([x, y])
    return layers.LeakyReLU(negative_slope=LEAK, name=f"{name}_out")(y)


@register_codec("csinet")
class CsiNet(Codec):
    """CsiNet: conv + FC encoder, FC + 2 RefineNets decoder."""

    def build_encoder(self) -> keras.Model:
        x_in = keras.Input(self.input_shape, name="csi")
        x = conv_bn_act(x_in, 2, "enc")
        x = layers.Flatten(name="enc_flatten")(x)
        z = layers.Dense(self.codeword_length, name="enc_fc")(x)
        return keras.Model(x_in, z, name="csinet_encoder")

    def build_decoder(self) -> keras.Model:
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = layers.Dense(2 * self.num_rows * self.num_antennas, name="dec_fc")(z_in)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        x = refine_net(x, "refine1")
        x = refine_net(x, "refine2")
        x = layers.Conv2D(2, 3, padding="same", activation=self.output_activation,
                          name="dec_out")(x)
        return keras.Model(z_in, x, name="csinet_decoder")
