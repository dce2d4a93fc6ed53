"""BCsiNet (Lu, Wang, Song, "Binary neural network aided CSI feedback in massive MIMO system",
seed 004): CsiNet with a binarised encoder FC layer, three encoder heads and 2 or 3 RefineNets.

Every convolution is a 3x3 'same' conv followed by batch norm and LeakyReLU(0.3) (seed 004 Sec.
III-C: "all the convolution layers in BCsiNet are followed by BN layer and activation layer"),
built from CsiNet's blocks (:func:`linksim.codecs.csinet.conv_bn_act`,
:func:`linksim.codecs.csinet.refine_net`). Channels-last, ``Na = Nt = 32`` in the shapes below.

Encoder (UE), ``x [b, 32, 32, 2] -> z [b, M]``: an encoder head ``[b, 32, 32, 2] -> [b, 32, 32,
2]``, flatten (``[b, 2048]``), binary FC to ``M`` (:class:`~linksim.codecs.binary.BinaryDense`:
forward weight ``alpha sign(W)``, ``alpha = mean|W|``, float bias, float shadow weights ``W``
trained with the gated straight-through gradient of eq. (10)-(11), i.e. Algorithm 1). The heads
(Fig. 3, which is a picture in the seed; the text only says "head B adds a concatenated 3x3
convolution layer to head A, while head C includes an extra residual architecture"):

* ``A`` (vanilla, CsiNet's encoder head): conv 2 -> 2, BN, LReLU;
* ``B``: head A followed by a second conv 2 -> 2, BN, LReLU. "Concatenated" is read as
  *cascaded* (in series), not as a channel concatenation of parallel paths: this is what the
  authors' public code does, and it is the only reading that gives the published 74K UE
  multiplications of BCsiNet-B3 (two 3x3 2->2 convs on 32x32: 2 x 36,864, plus ``M``);
* ``C``: head A followed by a small residual block: conv 2 -> 4, BN, LReLU, conv 4 -> 2, BN,
  identity shortcut added, LReLU (:func:`tiny_refine_net`, the authors' "tiny RefineNet"). This
  reproduces the published memory saving of head C (31.34x, below).

Decoder (BS), ``z [b, M] -> x [b, 32, 32, 2]``: float FC to ``2 Na Nt``, reshape to
``[b, 32, 32, 2]``, ``num_refinenets`` CsiNet RefineNets (2 for "BCsiNet-X2", 3 for "-X3"), a
final conv 2 -> 2 with BN and a sigmoid in place of the LeakyReLU. Unlike linksim's CsiNet (a plain
conv + sigmoid, as in the CsiNet paper), the final conv has a batch norm, following the seed's
rule that every convolution is followed by BN.

Choices and ambiguities:

* The convolutions keep a bias before their batch norm, as linksim's CsiNet blocks do (the
  authors' code has none). The bias is cancelled by the batch norm, so the function is the
  same; it costs 2 to 16 extra floats per conv (2 at the UE for head A, 0.006 % of its memory).
* Eq. (10) of the seed prints ``x`` as the gated derivative of ``sign``; :mod:`binary` uses ``1``
  as in the references it cites (see there).
* The published memory saving of head B, 31.48x, cannot be reproduced with two 2 -> 2 convs
  under any parameter-counting convention (it would need a head of ~45 trainable parameters;
  head A alone has 40 in the seed's PyTorch convention, bias-free conv + BN scale and shift);
  with the head above it is 31.44x here (31.45x in the seed's convention). Heads A and C match
  (31.48x / 31.32x here against 31.49x / 31.34x published; the small gaps are the conv biases
  and the batch-norm moving statistics, which Keras counts as weights).
* Fig. 4 of the seed says every head saves over 30x "even when eta = 1/32". Here the savings
  are A / B / C = 31.48 / 31.44 / 31.32 at CR4 and 31.18 / 30.84 / 29.94 at CR32: head C at
  CR32 falls just short because of the 25 floats (biases, moving statistics, ``alpha``) that
  the seed's convention does not count (30.1x without them).
* The batch norm before the final sigmoid (seed Sec. III-C and the authors' code) makes the
  untrained decoder output ``sigmoid`` of unit-variance logits (standard deviation ~0.2 in
  [0, 1]). Measured on a tiny model (Na = Nt = 8, CR4, 512 few-path samples, 30 epochs): with
  CsiNet's ``max`` scaling (data standard deviation ~0.05) it stays at 2.6x the MSE of the
  mean predictor where the same decoder without that batch norm, and CsiNet, sit at 1.0x;
  with the UMa scenario's ``scale: 4`` it learns (0.93x, against 0.95x without the batch
  norm). Kept, as published; expect slow starts under ``scale: max``.

UE memory (:meth:`BCsiNet.ue_memory_bits`): the binary kernel at 1 bit per weight, its ``alpha``
as one float32, everything else (FC bias, conv, batch norm with moving statistics) at 32 bits.
Published as float32-equivalents (bits / 32) with K = 1000 (K = 1024 would give 16K at CR8, not
the published 17K). Counts at ``Na = Nt = 32`` (Keras parameter counts include the batch-norm
moving mean and variance); MACs as :mod:`linksim.complexity` counts them, where the binary FC
contributes ``M`` multiplications (by ``alpha``; the seed's "mul"):

=====  ===  ===========  ===========  =========  ==========  ===========================
CR     hd   UE mem / 32  UE MACs      BS params  BS MACs     published (seed 004 Tab. IV)
=====  ===  ===========  ===========  =========  ==========  ===========================
4      A2   33,327       37,376       1,054,098  4,329,472   33K, 37K mul; BS 1054K
8      A2   16,687       37,120         529,810              17K, 37K mul; BS 530K
16     A2    8,367       36,992         267,666              8K, 37K mul; BS 268K
32     A2    4,207       36,928                              4K, 37K mul
4      B3   33,373       74,240       1,055,812  5,951,488   33K, 74K mul; BS 5.95M MACs
4      C2   33,501      184,832
=====  ===  ===========  ===========  =========  ==========  ===========================

(CsiNet at CR4 for comparison: 1,049,134 floats and 1,085,440 MACs at the UE; BCsiNet-A2 needs
31.5x less memory and 29x fewer multiplications.)
"""

from __future__ import annotations

import keras
from keras import layers

from linksim.codecs.base import Codec, register_codec
from linksim.codecs.binary import BinaryDense, binarized_copy, binary_layers
from linksim.codecs.csinet import LEAK, conv_bn_act, refine_net
from linksim.complexity import memory_bits

HEADS = ("A", "B", "C")
#: Channels inside the residual block of head C.
TINY_REFINE_WIDTH = 4
#: Bits to store one binary layer's scale ``alpha`` (a float32) at the UE.
ALPHA_BITS = 32


def tiny_refine_net(x, name: str, width: int = TINY_REFINE_WIDTH):
    """Residual block of head C, ``[b, H, W, c] -> [b, H, W, c]``: conv ``c -> width`` (BN,
    LReLU), conv ``width -> c`` (BN), identity shortcut added, LReLU."""
    y = conv_bn_act(x, width, f"{name}_1")
    y = conv_bn_act(y, x.shape[-1], f"{name}_2", activate=False)
    y = layers.Add(name=f"{name}_add")([x, y])
    return layers.LeakyReLU(negative_slope=LEAK, name=f"{name}_out")(y)


def encoder_head(x, head: str):
    """BCsiNet encoder head ``"A"``, ``"B"`` or ``"C"``, ``[b, Na, Nt, 2] -> [b, Na, Nt, 2]``."""
    x = conv_bn_act(x, 2, "enc_head_1")
    if head == "B":
        x = conv_bn_act(x, 2, "enc_head_2")
    elif head == "C":
        x = tiny_refine_net(x, "enc_head_res")
    return x


@register_codec("bcsinet")
class BCsiNet(Codec):
    """BCsiNet: encoder head + binary FC at the UE, float FC + RefineNets at the BS.

    Parameters
    ----------
    compression_ratio : int
        ``CR = 2 Na Nt / M``.
    num_rows, num_antennas : int
        ``Na`` and ``Nt``.
    head : {"A", "B", "C"}
        Encoder head (seed 004 Fig. 3; see the module docstring).
    num_refinenets : int
        RefineNets in the decoder (2 or 3 in the seed; any value >= 1 is accepted).
    """

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 head: str = "A", num_refinenets: int = 2, output_head: str | None = None):
        head = str(head).upper()
        if head not in HEADS:
            raise ValueError(f"BCsiNet head must be one of {', '.join(HEADS)}, got {head!r}")
        if int(num_refinenets) != num_refinenets or num_refinenets < 1:
            raise ValueError(f"num_refinenets must be a positive integer, got {num_refinenets!r}")
        self.head = head
        self.num_refinenets = int(num_refinenets)
        super().__init__(compression_ratio, num_rows, num_antennas, output_head)

    def config(self) -> dict:
        return {**super().config(), "head": self.head, "num_refinenets": self.num_refinenets}

    def build_encoder(self) -> keras.Model:
        x_in = keras.Input(self.input_shape, name="csi")
        x = encoder_head(x_in, self.head)
        x = layers.Flatten(name="enc_flatten")(x)
        z = BinaryDense(self.codeword_length, name="enc_binary_fc")(x)
        return keras.Model(x_in, z, name="bcsinet_encoder")

    def build_decoder(self) -> keras.Model:
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = layers.Dense(2 * self.num_rows * self.num_antennas, name="dec_fc")(z_in)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        for i in range(self.num_refinenets):
            x = refine_net(x, f"refine{i + 1}")
        x = conv_bn_act(x, 2, "dec_out", activate=False)
        x = layers.Activation(self.output_activation, name="dec_output")(x)
        return keras.Model(z_in, x, name="bcsinet_decoder")

    # -- deployment ---------------------------------------------------------------------------
    def export_encoder(self) -> keras.Model:
        """Deployable UE encoder: the binary FC replaced by a plain ``Dense`` holding
        ``alpha sign(W)`` (two values) and the trained bias; same outputs as :attr:`encoder`
        (``[b, Na, Nt, 2] -> [b, M]``). Its float kernel is only a container: on the device
        it is stored as ``sign(W)`` (1 bit each) and ``alpha`` (see :meth:`ue_memory_bits`)."""
        return binarized_copy(self.encoder)

    def ue_memory_bits(self) -> int:
        """Bits to store the deployed encoder: 1 per binary FC weight, 32 for its ``alpha``,
        32 per other weight (FC bias, conv, batch norm incl. moving statistics)."""
        return memory_bits(self.encoder) + ALPHA_BITS * len(binary_layers(self.encoder))


@register_codec("bcsinet_a2")
class BCsiNetA2(BCsiNet):
    """BCsiNet-A2 (seed 004 Table IV): head A, two RefineNets."""

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 head: str = "A", num_refinenets: int = 2, output_head: str | None = None):
        super().__init__(compression_ratio, num_rows, num_antennas, head, num_refinenets,
                         output_head)


@register_codec("bcsinet_b3")
class BCsiNetB3(BCsiNet):
    """BCsiNet-B3 (seed 004 Table IV): head B, three RefineNets."""

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 head: str = "B", num_refinenets: int = 3, output_head: str | None = None):
        super().__init__(compression_ratio, num_rows, num_antennas, head, num_refinenets,
                         output_head)
