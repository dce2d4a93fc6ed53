"""AI codecs on eigenvector CSI (3GPP TR 38.843 style): CsiNet-, CRNet- and ACRNet-style CNNs
and a transformer.

Input and output
----------------
The UE reports the top-``L`` eigenvectors ``v [b, S, Nt, L]`` (complex, unit norm per subband
and layer, :func:`linksim.phy.eigen.subband_eigenvectors`). The codecs see them as real
channels, :func:`to_real`: ``x [b, S, Nt, 2L]`` float32 with ``x[..., 2l] = Re v[..., l]`` and
``x[..., 2l + 1] = Im v[..., l]``. The encoder (UE) maps ``x`` to a codeword ``z [b, M]`` in
``[0, 1]`` (sigmoid, so a uniform ``B``-bit quantiser covers it,
:mod:`linksim.tr38843.training`); the decoder (BS) maps ``z`` back to ``x_hat [b, S, Nt, 2L]``,
**unit norm per subband and layer** (:class:`UnitNorm`, no weights).

These codecs are kept in their own registry (:data:`EIGEN_CODECS`), not in
:mod:`linksim.codecs.base`'s: that registry's codecs take the angular-delay channel
``[b, Na, Nt, 2]`` and a compression ratio, and the rest of linksim (export, benchmarks, the
PyTorch training graph) builds every registered codec that way. An eigenvector codec has the
same two Keras models (``encoder``, ``decoder``) and ``parameter_counts()``, so
:func:`linksim.complexity.complexity` counts it.

``eig_csinet`` (CsiNet, Wen et al. 2018, adapted)
    Encoder: 3x3 conv (``2L`` filters, was 2) + batch norm + LeakyReLU(0.3)
    (:func:`linksim.codecs.csinet.conv_bn_act`, reused), flatten, FC to ``M`` with a **sigmoid**
    (was linear). Decoder: FC to ``S Nt 2L``, reshape, two RefineNet units whose last conv has
    ``2L`` filters (was 2; so the identity shortcut matches ``L`` layers), a final 3x3 conv
    with ``2L`` linear filters, then :class:`UnitNorm` (new).
``eig_crnet`` (CRNet, Lu et al. 2020, adapted; :class:`EigCRNet`)
    The seed CRNet's blocks (:mod:`linksim.codecs.crnet`) on the ``[S, Nt]`` grid with ``2L``
    channels. Encoder: path 1 3x3 / 1x9 / 9x1 convs, path 2 one 3x3 conv (each ``2L -> 2L``,
    bias-free + batch norm, LReLU(0.3) between), concat ``4L``, LReLU, 1x1 conv to ``2L``,
    LReLU, flatten ``S Nt 2L``, FC to ``M`` with a sigmoid (was linear). Decoder: FC to
    ``S Nt 2L``, reshape, 5x5 conv ``2L`` + LReLU, two CRBlocks
    (:func:`linksim.codecs.crnet.cr_block` reused as is: paths of width 7, 1x1 merge back to
    ``2L``, identity shortcut), then (new) a linear 3x3 conv ``2L`` (the CRBlock ends in a
    LeakyReLU, which would bias the signs) and :class:`UnitNorm`. The 1x9 kernels slide along
    the ports ``Nt``, the 9x1 along the subbands ``S`` ('same' padding; ``S = 13`` < 9 + 4 is
    fine).
``eig_acrnet`` (ACRNet-1x, Lu et al., seed 002, adapted; :class:`EigACRNet`)
    The seed ACRNet's blocks (:mod:`linksim.codecs.acrnet`: ``act``, ACREnBlock, ACRDeBlock,
    all generic in the channel count) with ``2L`` channels. Encoder: 5x5 conv ``2L`` + PReLU,
    two ACREnBlocks (1x9 / 9x1, shortcut), flatten, FC to ``M`` (sigmoid). Decoder: FC,
    reshape, 5x5 conv ``2L`` + PReLU, two ACRDeBlocks of expansion ``k`` (default 1: 1x9 conv to
    ``8k``, 7x7 group conv in ``4k`` groups of 2, 9x1 conv back to ``2L``, shortcut), then (new)
    a linear 3x3 conv ``2L`` and :class:`UnitNorm` (the seed's sigmoid head is dropped).
    **Why ACRNet and not CLLWCsiNet:** CLLWCsiNet has no FC layer; its codeword is
    ``c`` channels of ``1 x Nt`` (``M = c Nt``), so ``M`` must be a multiple of ``Nt`` (32 here),
    while the study's ``M = floor(P_ref / B)`` comes from the eType II bin (58, 86, 162 for the
    rank-2 scenario); its latent reshape also assumes the ``[Na, Nt, 2]`` angular-delay layout
    and its multi-resolution head is fixed at 2 channels. Adapting it would need an FC to ``M``,
    i.e. no longer CLLWCsiNet. ACRNet's blocks take any channel count and grid unchanged.
``eig_transformer`` (the transformer of the 3GPP evaluations: tokens = subbands)
    Encoder: each subband's ``2 Nt L`` reals linearly embedded to ``d_model`` plus a learned
    position embedding, ``num_blocks`` pre-norm encoder blocks (multi-head self-attention and a
    ReLU feed-forward of width ``d_ff``, each with a residual), flatten, FC to ``M`` (sigmoid).
    Decoder mirrors it: FC to ``S d_model``, position embedding, the same blocks, per-token FC
    to ``2 Nt L``, :class:`UnitNorm`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from linksim.codecs.acrnet import acr_decoder_block, acr_encoder_block, act
from linksim.codecs.crnet import conv_bn, cr_block, lrelu
from linksim.codecs.csinet import LEAK, conv_bn_act
from linksim.errors import LinksimInputError


def to_real(v: np.ndarray) -> np.ndarray:
    """``v [b, S, Nt, L]`` complex -> ``x [b, S, Nt, 2L]`` float32 (re, im per layer)."""
    v = np.asarray(v)
    if v.ndim != 4 or not np.iscomplexobj(v):
        raise LinksimInputError(f"eigenvectors must be complex [b, S, Nt, L], got {v.dtype} "
                                f"{v.shape}")
    return np.stack([v.real, v.imag], axis=-1).reshape(*v.shape[:3], 2 * v.shape[3]
                                                       ).astype(np.float32)


def to_complex(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_real`: ``[b, S, Nt, 2L]`` real -> ``[b, S, Nt, L]`` complex64."""
    x = np.asarray(x, np.float32)
    x = x.reshape(*x.shape[:3], x.shape[3] // 2, 2)
    return (x[..., 0] + 1j * x[..., 1]).astype(np.complex64)


@keras.saving.register_keras_serializable(package="linksim")
class UnitNorm(layers.Layer):
    """Scale each (subband, layer) of ``x [b, S, Nt, 2L]`` to unit norm over ``(Nt, re/im)``.
    No weights; 0 MACs (:mod:`linksim.complexity` convention)."""

    def call(self, x):
        _, s, nt, c = x.shape
        y = ops.reshape(x, (-1, s, nt, c // 2, 2))
        norm = ops.sqrt(ops.sum(y * y, axis=(2, 4), keepdims=True) + 1e-12)
        return ops.reshape(y / norm, (-1, s, nt, c))


@keras.saving.register_keras_serializable(package="linksim")
class PositionEmbedding(layers.Layer):
    """Adds a learned ``[S, d]`` embedding to tokens ``[b, S, d]``; 0 MACs (additions only)."""

    def build(self, input_shape):
        self.embedding = self.add_weight(shape=tuple(input_shape[1:]), name="embedding",
                                         initializer=keras.initializers.RandomNormal(0.0, 0.02))

    def call(self, x):
        return x + self.embedding

    def count_macs(self) -> int:
        return 0


@keras.saving.register_keras_serializable(package="linksim")
class SelfAttention(layers.Layer):
    """Multi-head self-attention over tokens ``[b, S, d]`` -> ``[b, S, d]``: ``num_heads``
    heads of width ``d / num_heads``, query/key/value/output projections ``[d, d]`` with bias.

    :meth:`count_macs` (per sample): ``4 S d^2`` (projections) ``+ 2 S^2 d`` (scores and the
    weighted sum); the softmax counts 0, as activations do in :mod:`linksim.complexity`."""

    def __init__(self, num_heads: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)

    def build(self, input_shape):
        self.tokens, d = int(input_shape[1]), int(input_shape[2])
        if d % self.num_heads:
            raise LinksimInputError(f"d_model = {d} is not a multiple of num_heads = "
                                    f"{self.num_heads}")
        self.width = d
        init = keras.initializers.GlorotUniform()
        for name in ("q", "k", "v", "o"):
            setattr(self, f"w{name}", self.add_weight(shape=(d, d), initializer=init,
                                                      name=f"w{name}"))
            setattr(self, f"b{name}", self.add_weight(shape=(d,), initializer="zeros",
                                                      name=f"b{name}"))

    def _heads(self, x):
        s, h = self.tokens, self.num_heads
        return ops.transpose(ops.reshape(x, (-1, s, h, self.width // h)), (0, 2, 1, 3))

    def call(self, x):
        q = self._heads(ops.matmul(x, self.wq) + self.bq)
        k = self._heads(ops.matmul(x, self.wk) + self.bk)
        v = self._heads(ops.matmul(x, self.wv) + self.bv)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.width
                                                                           // self.num_heads)
        y = ops.matmul(ops.softmax(scores, axis=-1), v)  # [b, h, S, dk]
        y = ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (-1, self.tokens, self.width))
        return ops.matmul(y, self.wo) + self.bo

    def count_macs(self) -> int:
        return 4 * self.tokens * self.width ** 2 + 2 * self.tokens ** 2 * self.width

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


class EigenCodec:
    """Base of the eigenvector codecs: UE ``encoder [b, S, Nt, 2L] -> [b, M]`` (in [0, 1]),
    BS ``decoder [b, M] -> [b, S, Nt, 2L]`` (unit norm per subband and layer).

    Parameters
    ----------
    num_subbands, num_ports, num_layers : int
        ``S``, ``Nt``, ``L``.
    codeword_length : int
        ``M`` real entries per codeword (the payload is ``M B`` bits at ``B`` bits each).
    seed : int
        Seeds Keras' initialisers (``keras.utils.set_random_seed``) before the models are built.
    """

    name = "eigen_codec"
    #: What the codec reads: per-subband eigenvectors (the study refuses full-channel input).
    csi_input = "eigenvectors"

    def __init__(self, num_subbands: int, num_ports: int, num_layers: int,
                 codeword_length: int, seed: int = 0):
        self.num_subbands, self.num_ports = int(num_subbands), int(num_ports)
        self.num_layers, self.codeword_length = int(num_layers), int(codeword_length)
        if min(self.num_subbands, self.num_ports, self.num_layers, self.codeword_length) < 1:
            raise LinksimInputError(f"{self.name}: S, Nt, L and the codeword length must be "
                                    f">= 1, got {self.input_shape}, M = {codeword_length}")
        keras.utils.set_random_seed(int(seed))
        self.encoder = self.build_encoder()
        self.decoder = self.build_decoder()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.num_subbands, self.num_ports, 2 * self.num_layers)

    def build_encoder(self) -> keras.Model:
        raise NotImplementedError

    def build_decoder(self) -> keras.Model:
        raise NotImplementedError

    def check_input(self, x: np.ndarray) -> None:
        """Refuse anything but real eigenvectors ``[b, S, Nt, 2L]`` (e.g. a full channel
        ``[b, Nc, Nr, Nt]`` or its angular-delay image), naming the codec."""
        shape = tuple(np.shape(x))
        if len(shape) != 4 or shape[1:] != self.input_shape or np.iscomplexobj(x):
            raise LinksimInputError(
                f"codecs: {self.name!r} is an eigenvector codec and reads real eigenvectors "
                f"[b, S, Nt, 2L] = [b, {', '.join(map(str, self.input_shape))}], got "
                f"{np.asarray(x).dtype} {shape} (full-channel input is not supported)")

    def parameter_counts(self) -> dict[str, int]:
        return {"ue_params": int(self.encoder.count_params()),
                "bs_params": int(self.decoder.count_params())}


def _refine(x, channels: int, name: str):
    """CsiNet's RefineNet (conv 8 -> 16 -> ``channels``, identity shortcut) for ``2L``
    channels (:func:`linksim.codecs.csinet.refine_net` is fixed at 2)."""
    y = conv_bn_act(x, 8, f"{name}_1")
    y = conv_bn_act(y, 16, f"{name}_2")
    y = conv_bn_act(y, channels, f"{name}_3", activate=False)
    y = layers.Add(name=f"{name}_add")([x, y])
    return layers.LeakyReLU(negative_slope=LEAK, name=f"{name}_out")(y)


class EigCsiNet(EigenCodec):
    """CsiNet adapted to eigenvector input (see the module docstring for what changed)."""

    name = "eig_csinet"

    def build_encoder(self) -> keras.Model:
        x_in = keras.Input(self.input_shape, name="eigenvectors")
        x = conv_bn_act(x_in, 2 * self.num_layers, "enc")
        x = layers.Flatten(name="enc_flatten")(x)
        z = layers.Dense(self.codeword_length, activation="sigmoid", name="enc_fc")(x)
        return keras.Model(x_in, z, name="eig_csinet_encoder")

    def build_decoder(self) -> keras.Model:
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = layers.Dense(math.prod(self.input_shape), name="dec_fc")(z_in)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        x = _refine(x, 2 * self.num_layers, "refine1")
        x = _refine(x, 2 * self.num_layers, "refine2")
        x = layers.Conv2D(2 * self.num_layers, 3, padding="same", name="dec_out")(x)
        return keras.Model(z_in, UnitNorm(name="unit_norm")(x), name="eig_csinet_decoder")


class EigCRNet(EigenCodec):
    """CRNet adapted to eigenvector input (module docstring): UE ``[b, S, Nt, 2L] -> [b, M]``
    (multi-resolution conv encoder + sigmoid FC), BS ``[b, M] -> [b, S, Nt, 2L]`` (FC, 5x5 head,
    two CRBlocks, linear 3x3 conv, :class:`UnitNorm`)."""

    name = "eig_crnet"

    def build_encoder(self) -> keras.Model:
        c = 2 * self.num_layers
        x_in = keras.Input(self.input_shape, name="eigenvectors")
        p1 = conv_bn(x_in, c, 3, "enc_p1_3x3")
        p1 = conv_bn(lrelu(p1, "enc_p1_act1"), c, (1, 9), "enc_p1_1x9")
        p1 = conv_bn(lrelu(p1, "enc_p1_act2"), c, (9, 1), "enc_p1_9x1")
        p2 = conv_bn(x_in, c, 3, "enc_p2_3x3")
        x = layers.Concatenate(name="enc_concat")([p1, p2])  # [b, S, Nt, 4L]
        x = conv_bn(lrelu(x, "enc_concat_act"), c, 1, "enc_1x1")
        x = layers.Flatten(name="enc_flatten")(lrelu(x, "enc_1x1_act"))
        z = layers.Dense(self.codeword_length, activation="sigmoid", name="enc_fc")(x)
        return keras.Model(x_in, z, name="eig_crnet_encoder")

    def build_decoder(self) -> keras.Model:
        c = 2 * self.num_layers
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = layers.Dense(math.prod(self.input_shape), name="dec_fc")(z_in)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        x = lrelu(conv_bn(x, c, 5, "dec_head_5x5"), "dec_head_act")
        x = cr_block(x, "crblock1")
        x = cr_block(x, "crblock2")
        x = layers.Conv2D(c, 3, padding="same", name="dec_out")(x)
        return keras.Model(z_in, UnitNorm(name="unit_norm")(x), name="eig_crnet_decoder")


class EigACRNet(EigenCodec):
    """ACRNet-kx adapted to eigenvector input (module docstring; why not CLLWCsiNet there):
    UE ``[b, S, Nt, 2L] -> [b, M]`` (5x5 head, two ACREnBlocks, sigmoid FC), BS
    ``[b, M] -> [b, S, Nt, 2L]`` (FC, 5x5 head, two ACRDeBlocks, linear 3x3 conv,
    :class:`UnitNorm`).

    Extra parameters: ``expansion`` ``k`` (1: ACRNet-1x, the group conv has ``4k`` groups of 2
    channels) and ``activation`` (``"prelu"``, the paper's; ``"sprelu"``, ``"lrelu"``)."""

    name = "eig_acrnet"

    def __init__(self, num_subbands: int, num_ports: int, num_layers: int,
                 codeword_length: int, seed: int = 0, expansion: int = 1,
                 activation: str = "prelu"):
        self.expansion, self.activation = int(expansion), str(activation)
        super().__init__(num_subbands, num_ports, num_layers, codeword_length, seed)

    def build_encoder(self) -> keras.Model:
        c = 2 * self.num_layers
        x_in = keras.Input(self.input_shape, name="eigenvectors")
        x = act(conv_bn(x_in, c, 5, "enc_head_5x5"), self.activation, "enc_head_act")
        x = acr_encoder_block(x, self.activation, "acrenblock1")
        x = acr_encoder_block(x, self.activation, "acrenblock2")
        x = layers.Flatten(name="enc_flatten")(x)
        z = layers.Dense(self.codeword_length, activation="sigmoid", name="enc_fc")(x)
        return keras.Model(x_in, z, name="eig_acrnet_encoder")

    def build_decoder(self) -> keras.Model:
        c = 2 * self.num_layers
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = layers.Dense(math.prod(self.input_shape), name="dec_fc")(z_in)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        x = act(conv_bn(x, c, 5, "dec_head_5x5"), self.activation, "dec_head_act")
        x = acr_decoder_block(x, self.expansion, self.activation, "acrdeblock1")
        x = acr_decoder_block(x, self.expansion, self.activation, "acrdeblock2")
        x = layers.Conv2D(c, 3, padding="same", name="dec_out")(x)
        return keras.Model(z_in, UnitNorm(name="unit_norm")(x), name="eig_acrnet_decoder")


def _blocks(x, d_model: int, num_heads: int, d_ff: int, num_blocks: int, name: str):
    """``num_blocks`` pre-norm transformer encoder blocks on tokens ``[b, S, d_model]``."""
    for i in range(num_blocks):
        y = layers.LayerNormalization(name=f"{name}{i}_ln1")(x)
        x = layers.Add(name=f"{name}{i}_res1")([x, SelfAttention(num_heads,
                                                                 name=f"{name}{i}_mha")(y)])
        y = layers.LayerNormalization(name=f"{name}{i}_ln2")(x)
        y = layers.Dense(d_ff, activation="relu", name=f"{name}{i}_ff1")(y)
        x = layers.Add(name=f"{name}{i}_res2")([x, layers.Dense(d_model,
                                                                name=f"{name}{i}_ff2")(y)])
    return layers.LayerNormalization(name=f"{name}_ln")(x)


class EigTransformer(EigenCodec):
    """Transformer codec, tokens = subbands (see the module docstring).

    Extra parameters: ``d_model`` (32), ``num_heads`` (2), ``d_ff`` (64), ``num_blocks`` (2):
    small by default so that a study trains on two CPU cores."""

    name = "eig_transformer"

    def __init__(self, num_subbands: int, num_ports: int, num_layers: int,
                 codeword_length: int, seed: int = 0, d_model: int = 32, num_heads: int = 2,
                 d_ff: int = 64, num_blocks: int = 2):
        self.d_model, self.num_heads = int(d_model), int(num_heads)
        self.d_ff, self.num_blocks = int(d_ff), int(num_blocks)
        super().__init__(num_subbands, num_ports, num_layers, codeword_length, seed)

    def _args(self):
        return self.d_model, self.num_heads, self.d_ff, self.num_blocks

    def build_encoder(self) -> keras.Model:
        s = self.num_subbands
        x_in = keras.Input(self.input_shape, name="eigenvectors")
        x = layers.Reshape((s, self.num_ports * 2 * self.num_layers), name="enc_tokens")(x_in)
        x = PositionEmbedding(name="enc_pos")(layers.Dense(self.d_model, name="enc_embed")(x))
        x = _blocks(x, *self._args(), name="enc_block")
        x = layers.Flatten(name="enc_flatten")(x)
        z = layers.Dense(self.codeword_length, activation="sigmoid", name="enc_fc")(x)
        return keras.Model(x_in, z, name="eig_transformer_encoder")

    def build_decoder(self) -> keras.Model:
        s = self.num_subbands
        z_in = keras.Input((self.codeword_length,), name="codeword")
        x = layers.Dense(s * self.d_model, name="dec_fc")(z_in)
        x = PositionEmbedding(name="dec_pos")(layers.Reshape((s, self.d_model),
                                                             name="dec_tokens")(x))
        x = _blocks(x, *self._args(), name="dec_block")
        x = layers.Dense(self.num_ports * 2 * self.num_layers, name="dec_out")(x)
        x = layers.Reshape(self.input_shape, name="dec_reshape")(x)
        return keras.Model(z_in, UnitNorm(name="unit_norm")(x), name="eig_transformer_decoder")


#: Eigenvector codecs by name (the study's ``codecs`` field).
EIGEN_CODECS: dict[str, type[EigenCodec]] = {"eig_csinet": EigCsiNet,
                                              "eig_transformer": EigTransformer,
                                              "eig_crnet": EigCRNet,
                                              "eig_acrnet": EigACRNet}


def build_eigen_codec(name: str, num_subbands: int, num_ports: int, num_layers: int,
                      codeword_length: int, seed: int = 0) -> EigenCodec:
    """An eigenvector codec by name.

    Raises
    ------
    LinksimInputError
        ``name`` is not an eigenvector codec (the message names it and lists the known ones).
    """
    if name not in EIGEN_CODECS:
        raise LinksimInputError(f"codecs: {name!r} is not an eigenvector codec; known: "
                                f"{', '.join(EIGEN_CODECS)}")
    return EIGEN_CODECS[name](num_subbands, num_ports, num_layers, codeword_length, seed)
