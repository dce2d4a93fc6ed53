"""ACRNet and BACRNet (Lu, Zhang, He, Wang, Song, "Binarized aggregated network with quantization:
flexible deep learning deployment for CSI feedback in massive MIMO system", seed 002).

ACRNet is CRNet (:mod:`linksim.codecs.crnet`) with aggregated (grouped) convolutions, PReLU
activations and an elastic decoder width. Every convolution is bias-free and followed by batch
norm (seed 002 Fig. 4: "each convolutional layer is followed by a batch normalization (BN)
layer"). The activation ``act`` is a PReLU with one learnable negative slope per channel,
initialised to 0.3 (Sec. III-B and V-C; ``activation="prelu"``), or the ablations of Table II:
``"lrelu"`` (LeakyReLU(0.3), CRNet's) and ``"sprelu"`` (one learnable slope per layer).
Channels-last, ``Na = Nt = 32`` in the shapes below.

Encoder (UE), ``x [b, 32, 32, 2] -> z [b, M]`` (Sec. III-A: "a 5x5 convolution head and a pair of
ACREnBlocks"): 5x5 conv 2 -> 2, act, two ACREnBlocks, flatten (``[b, 2048]``), linear FC to
``M``. An ACREnBlock (``[b, 32, 32, 2] -> [b, 32, 32, 2]``): 1x9 conv 2 -> 2, act, 9x1 conv
2 -> 2, identity shortcut added, act. The 9x9 receptive field is factorised into 1x9 and 9x1
kernels as in CRNet. The encoder does not depend on the expansion ``k``.

Decoder (BS), ``z [b, M] -> x [b, 32, 32, 2]``: linear FC to ``2 Na Nt``, reshape, 5x5 conv
2 -> 2, act, two ACRDeBlocks, sigmoid. An ACRDeBlock of expansion ``k`` (an inverted residual,
``[b, 32, 32, 2] -> [b, 32, 32, 2]``):

* 1x9 conv 2 -> ``8k``, act;
* 7x7 *group* conv ``8k -> 8k`` with ``G = 4k`` groups of two channels each (Sec. III-A: "the
  number of channels in each group is always two"), act;
* 9x1 conv ``8k -> 2``, identity shortcut added, act.

The paper's aggregation factor (its ``M``, here ``G`` to avoid a clash with the codeword length)
is the number of groups: ACRNet-1x has ``G = 4``, ACRNet-kx ``G = 4k`` (Sec. IV-A), Fig. 3 shows
the ACRNet-10x block with 40 groups of 2 channels (80 channels). Widening adds
``2 (2 * 9 * 2 + 49 * 2) * 8 * 1024 = 2,195,456`` MACs per step ``k -> k + 1`` at the BS only:
the paper's "2.2M extra FLOPs". Seed 002 Fig. 4 is a picture; the layer order above (including
where each PReLU sits and that the shortcut is added before the last activation) follows the
authors' public code, which the published counts below confirm to the last digit.

BACRNet (Sec. IV-B, Table IV): ``binary="encoder"`` makes the UE FC a
:class:`~linksim.codecs.binary.BinaryDense` (forward weight ``alpha sign(W)``, float bias,
gated straight-through gradient), ``binary="both"`` also the BS FC. :meth:`ACRNet.export_encoder`
gives the deployable encoder with two values per binary FC.

Counting conventions. Keras counts 4 numbers per batch-norm channel (scale, shift, moving mean
and variance), PyTorch 2 (the moving statistics are buffers, not parameters); the published
numbers follow PyTorch and are reproduced *exactly* (after rounding to K = 1000) in that
convention (:func:`pytorch_param_count`); the Keras counts are up to 0.12 % higher in
parameters (ACRNet-20x) and up to 1.2 % in the memory of a binary-FC decoder, where the moving
statistics weigh more (BACRNet-10x, CR4: 57,987 floats, 58K against 57K). "FLOPs" are
multiply-accumulates (:func:`linksim.complexity.count_macs`; the wider CLLWCsiNet convention
``count_macs + elementwise_ops`` gives 30.03M, not the published 28.79M, for ACRNet-12x). Memory
is published as float32 equivalents, ``bits / 32``, with K = 1000 (K = 1024 would give 33K, not
34K, at the UE for CR4); a binary kernel counts 1 bit per weight, its ``alpha`` one float.

Counts at ``Na = Nt = 32`` (PyTorch convention in brackets where it differs from Keras'):

=====  ===  =====================  =====================  ==========  ============
CR     k    UE params              BS params              UE MACs     BS MACs
=====  ===  =====================  =====================  ==========  ============
4      1    1,049,382 (1,049,362)  1,053,058 (1,052,982)  1,298,432    3,346,432
4      10   1,049,382 (1,049,362)  1,073,794 (1,073,142)  1,298,432   23,105,536
4      12   1,049,382 (1,049,362)  1,078,402 (1,077,622)  1,298,432   27,496,448
4      16   1,049,382 (1,049,362)  1,087,618 (1,086,582)  1,298,432   36,278,272
4      20   1,049,382 (1,049,362)  1,096,834 (1,095,542)  1,298,432   45,060,096
8      1      524,838   (524,818)    528,770   (528,694)    774,144    2,822,144
16     1      262,566   (262,546)    266,626   (266,550)    512,000    2,560,000
32     1      131,430   (131,410)    135,554   (135,478)    380,928    2,428,928
64     1       65,862    (65,842)     70,018    (69,942)    315,392    2,363,392
=====  ===  =====================  =====================  ==========  ============

Published (seed 002): ACRNet-12x / 16x at CR4 total 2127K / 2136K parameters and 28.79M /
37.58M FLOPs (Table III; here 2,126,984 / 2,135,944 and 28,794,880 / 37,576,704); the FC is
80.76 % of the encoder FLOPs (Sec. IV-B; here 1,048,576 / 1,298,432 = 80.76 %). BACRNet,
float32-equivalent memory (Table IV; here PyTorch convention, binary FC at 1 bit + ``alpha``)
is below. The CLLWCsiNet seed quotes ACRNet-1x at CR4 with 4.64M FLOPs and 2102K parameters
for the whole auto-encoder (its Table III; here 4,644,864 and 2,102,344) and 1049K parameters /
1235K FLOPs at the UE (its Table I). The last number is *not* reproduced: 1,235,456 is exactly
CRNet's encoder in that paper's wider convention; ACRNet's 5x5 head and four 9-tap convs give
1,298,432 MACs (1,329,664 with ``elementwise_ops``), so that row looks copied from CRNet.

=====  =========================  ===========================  ===========================
CR     UE (encoder FC binary)     BS 1x / 10x, float FC        BS 1x / 10x, binary FC
=====  =========================  ===========================  ===========================
4      33,555 (34K)               1,052,982 / 1,073,142        37,175 / 57,335
                                  (1053K / 1073K)              (37K / 57K)
8      16,915 (17K)               528,694 / 548,854            20,791 / 40,951
                                  (529K / 549K)                (21K / 41K)
16     8,595 (9K)                 266,550 / 286,710            12,599 / 32,759
                                  (267K / 287K)                (13K / 33K)
=====  =========================  ===========================  ===========================

The optional sigmoid + B-bit quantiser on the codeword (eq. 12) is not part of the codec: the
feedback link (:mod:`linksim.phy.feedback`) quantises any codeword over its fitted range.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from linksim.codecs.base import Codec, register_codec
from linksim.codecs.binary import BinaryDense, binarized_copy, binary_layers
from linksim.codecs.crnet import conv_bn
from linksim.codecs.csinet import BN_MOMENTUM, LEAK
from linksim.complexity import leaf_layers, memory_bits

ACTIVATIONS = ("prelu", "sprelu", "lrelu")
BINARY_MODES = ("none", "encoder", "both")
#: Initial negative slope of the PReLUs (seed 002 Sec. V-C: "The alpha is initialized to 0.3").
PRELU_INIT = 0.3
#: Groups of the ACRDeBlock's 7x7 conv per unit of expansion (ACRNet-1x: 4 groups).
GROUPS_PER_EXPANSION = 4
#: Channels per group of the aggregated conv ("always two", seed 002 Sec. III-A).
GROUP_WIDTH = 2
#: Kernel of the aggregated (group) convolution.
GROUP_KERNEL = 7
#: Bits to store one binary layer's scale ``alpha`` (a float32).
ALPHA_BITS = 32


def act(x, activation: str, name: str):
    """Activation ``[b, H, W, c] -> [b, H, W, c]``.

    ``"prelu"``: PReLU with one learnable slope per channel (``c`` weights), ``"sprelu"``: one
    slope for the layer (1 weight), both initialised to 0.3; ``"lrelu"``: LeakyReLU(0.3).
    """
    if activation == "lrelu":
        return layers.LeakyReLU(negative_slope=LEAK, name=name)(x)
    shared = [1, 2] if activation == "prelu" else [1, 2, 3]
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(PRELU_INIT),
                        shared_axes=shared, name=name)(x)


def group_conv_bn(x, filters: int, kernel: int | tuple[int, int], groups: int, name: str):
    """'same' bias-free group conv ``[b, H, W, c] -> [b, H, W, filters]``, then batch norm.

    Each of the ``groups`` output slices of ``filters / groups`` channels sees only its own
    ``c / groups`` input channels (seed 002 eq. 7-8).
    """
    x = layers.Conv2D(filters, kernel, padding="same", groups=groups, use_bias=False,
                      name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)


def acr_encoder_block(x, activation: str, name: str):
    """ACREnBlock ``[b, H, W, c] -> [b, H, W, c]``: 1x9 conv, act, 9x1 conv, shortcut, act."""
    c = x.shape[-1]
    y = act(conv_bn(x, c, (1, 9), f"{name}_1x9"), activation, f"{name}_act1")
    y = conv_bn(y, c, (9, 1), f"{name}_9x1")
    y = layers.Add(name=f"{name}_add")([x, y])
    return act(y, activation, f"{name}_out")


def acr_decoder_block(x, expansion: int, activation: str, name: str):
    """ACRDeBlock ``[b, H, W, c] -> [b, H, W, c]`` of expansion ``k``: 1x9 conv ``c -> 8k``,
    act, 7x7 group conv ``8k -> 8k`` in ``4k`` groups of 2 channels, act, 9x1 conv ``8k -> c``,
    shortcut, act."""
    groups = GROUPS_PER_EXPANSION * expansion
    width = GROUP_WIDTH * groups
    y = act(conv_bn(x, width, (1, 9), f"{name}_1x9"), activation, f"{name}_act1")
    y = group_conv_bn(y, width, GROUP_KERNEL, groups, f"{name}_group{GROUP_KERNEL}x{GROUP_KERNEL}")
    y = act(y, activation, f"{name}_act2")
    y = conv_bn(y, x.shape[-1], (9, 1), f"{name}_9x1")
    y = layers.Add(name=f"{name}_add")([x, y])
    return act(y, activation, f"{name}_out")


def moving_statistics_count(model: keras.Model) -> int:
    """Batch-norm moving means and variances of ``model`` (2 per channel): weights for Keras'
    ``count_params`` and :func:`linksim.complexity.memory_bits`, buffers for PyTorch."""
    return sum(math.prod(w.shape) for layer in leaf_layers(model)
               if isinstance(layer, layers.BatchNormalization)
               for w in layer.non_trainable_weights)


def pytorch_param_count(model: keras.Model) -> int:
    """Parameters of ``model`` as PyTorch counts them (batch-norm moving statistics excluded),
    the convention of the published ACRNet counts."""
    return int(model.count_params()) - moving_statistics_count(model)


def _fc(units: int, binary: bool, name: str):
    """Linear FC layer ``[b, n] -> [b, units]``: :class:`BinaryDense` if ``binary``, else float."""
    return BinaryDense(units, name=f"{name}_binary_fc") if binary else layers.Dense(
        units, name=f"{name}_fc")


@register_codec("acrnet")
class ACRNet(Codec):
    """ACRNet-kx / BACRNet: 5x5 head + 2 ACREnBlocks + FC at the UE, FC + 5x5 head +
    2 ACRDeBlocks of expansion ``k`` at the BS.

    Parameters
    ----------
    compression_ratio : int
        ``CR = 2 Na Nt / M`` (the paper: 4, 8, 16, 32, 64).
    num_rows, num_antennas : int
        ``Na`` and ``Nt``.
    expansion : int
        ``k`` of ACRNet-kx (1, 10, 20 in Table I; 4, 8, 12, 16 in Table III): the ACRDeBlock's
        group conv has ``4k`` groups of 2 channels.
    activation : {"prelu", "sprelu", "lrelu"}
        Channel-wise PReLU (the paper's), layer-wise PReLU or LeakyReLU(0.3) (Table II).
    binary : {"none", "encoder", "both"}
        Which FC layers are binary: none (ACRNet), the UE's (BACRNet), or both (Table IV).
    """

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 expansion: int = 1, activation: str = "prelu", binary: str = "none",
                 output_head: str | None = None):
        if isinstance(expansion, bool) or int(expansion) != expansion or expansion < 1:
            raise ValueError(f"ACRNet expansion must be a positive integer, got {expansion!r}")
        activation = str(activation).lower()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"ACRNet activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        binary = str(binary).lower()
        if binary not in BINARY_MODES:
            raise ValueError(
                f"ACRNet binary must be one of {', '.join(BINARY_MODES)}, got {binary!r}")
        self.expansion = int(expansion)
        self.activation = activation
        self.binary = binary
        super().__init__(compression_ratio, num_rows, num_antennas, output_head)

    def config(self) -> dict:
        return {**super().config(), "expansion": self.expansion, "activation": self.activation,
                "binary": self.binary}

    def build_encoder(self) -> keras.Model:
        x_in = keras.Input(self.input_shape, name="csi")
        x = act(conv_bn(x_in, 2, 5, "enc_head_5x5"), self.activation, "enc_head_act")
        x = acr_encoder_block(x, self.activation, "acrenblock1")
        x = acr_encoder_block(x, self.activation, "acrenblock2")
        x = layers.Flatten(name="enc_flatten")(x)
        z = _fc(self.codeword_length, self.binary in ("encoder", "both"), "enc")(x)
        return keras.Model(x_in, z, name=f"{self.name}_encoder")

    def build_decoder(self) -> keras.Model:
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = _fc(2 * self.num_rows * self.num_antennas, self.binary == "both", "dec")(z_in)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        x = act(conv_bn(x, 2, 5, "dec_head_5x5"), self.activation, "dec_head_act")
        x = acr_decoder_block(x, self.expansion, self.activation, "acrdeblock1")
        x = acr_decoder_block(x, self.expansion, self.activation, "acrdeblock2")
        x = layers.Activation(self.output_activation, name="dec_out")(x)
        return keras.Model(z_in, x, name=f"{self.name}_decoder")

    # -- deployment ---------------------------------------------------------------------------
    def export_encoder(self) -> keras.Model:
        """Deployable UE encoder ``[b, Na, Nt, 2] -> [b, M]``, same outputs as :attr:`encoder`.

        A binary FC becomes a plain ``Dense`` holding ``alpha sign(W)`` (two distinct values) and
        the trained bias; stored on the device as ``sign(W)`` at 1 bit each plus ``alpha``
        (:meth:`ue_memory_bits`). Without a binary FC (``binary="none"``) a plain copy.
        """
        return binarized_copy(self.encoder)

    def export_decoder(self) -> keras.Model:
        """Deployable BS decoder ``[b, M] -> [b, Na, Nt, 2]``; binary FC as in
        :meth:`export_encoder` (``binary="both"``), otherwise a plain copy."""
        return binarized_copy(self.decoder)

    def ue_memory_bits(self) -> int:
        """Bits to store the encoder: 1 per binary FC weight, 32 per binary layer's ``alpha``,
        32 per other weight (batch-norm moving statistics included)."""
        return memory_bits(self.encoder) + ALPHA_BITS * len(binary_layers(self.encoder))

    def bs_memory_bits(self) -> int:
        """Bits to store the decoder, counted as :meth:`ue_memory_bits`."""
        return memory_bits(self.decoder) + ALPHA_BITS * len(binary_layers(self.decoder))


@register_codec("bacrnet")
class BACRNet(ACRNet):
    """BACRNet-kx (seed 002 Table IV): ACRNet-kx with the UE's FC binary by default
    (``binary="both"`` binarises the BS's FC too)."""

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 expansion: int = 1, activation: str = "prelu", binary: str = "encoder",
                 output_head: str | None = None):
        super().__init__(compression_ratio, num_rows, num_antennas, expansion, activation,
                         binary, output_head)
