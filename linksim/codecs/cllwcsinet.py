"""CLLWCsiNet (Ansari, Mohassel Feghhi, "Robust and efficient CSI compression using CLLWCsiNet in
noisy MIMO environments", seeds 000/001): a convolutional latent space instead of FC layers,
AWGN on the codeword during training and a subtraction denoiser at the BS.

Every convolution has a bias and is followed by batch norm (as in the authors' code, where the
published parameter counts come from; the bias is redundant before batch norm but counted).
``LReLU`` is LeakyReLU(0.3). Channels-last throughout. Shapes below for ``Na = Nt = 32``;
``c = 2 Na / CR`` is the number of codeword channels (16, 8, 4, 2, 1 at CR 4, 8, 16, 32, 64).

Encoder (UE), ``x [b, 32, 32, 2] -> z [b, M]``, ``M = 32 c = 2048 / CR``:

* multi-resolution head (the paper's factorised 7, 5, 3 kernels): three paths
  ``1x7 -> LReLU -> 7x1``, ``1x5 -> LReLU -> 5x1``, ``1x3 -> LReLU -> 3x1`` (each 2 -> 2
  channels), concat (``[b, 32, 32, 6]``), 1x7 conv 6 -> 2, LReLU;
* latent reshape ``2x32x32 -> 64x1x32`` (the paper's channels-first view; see below):
  ``[b, 32, 32, 2] -> [b, 1, 32, 64]``;
* compression block (Table II, all kernels 1x7 along the antenna axis): path a is the conv chain
  of :func:`encoder_widths` (CR4 ``64 -> 32 -> 16``, CR8 ``64 -> 32 -> 16 -> 8``, CR16
  ``64 -> 32 -> 16 -> 4``) with LReLU between convs; path b one conv ``64 -> c``; concat
  (``2c`` channels), LReLU, conv ``2c -> c``, LReLU: codeword ``[b, 1, 32, c]`` (the paper's
  ``c x 1 x 32``), flattened to ``[b, M]``.

Decoder (BS), ``z~ [b, M] -> x [b, 32, 32, 2]``: reshape to ``[b, 1, 32, c]``; two expansion
branches on the received codeword with the conv chain of :func:`decoder_widths` (CR4
``16 -> 32 -> 64``, CR8 ``8 -> 16 -> 32 -> 64``, CR16 ``4 -> 8 -> 16 -> 64``; 1x7 kernels,
LReLU between convs, linear output): the expansion ``e(z~)`` and the noise estimate ``n(z~)``
(DnCNN-style residual denoising, the paper's "subtraction denoising convolution"); ``e - n``,
LReLU; inverse latent reshape to ``[b, 32, 32, 2]``; two multi-resolution RefineNets; 1x7 conv
2 -> 2 and sigmoid. A RefineNet (``[b, 32, 32, 2] -> [b, 32, 32, 2]``): paths ``1x7`` convs
``2 -> 8 -> 16 -> 2`` and ``1x5`` convs ``2 -> 8 -> 16 -> 2`` (LReLU between convs), concat,
LReLU, 1x7 conv 4 -> 2, identity shortcut added, LReLU.

Latent layout. The paper's PyTorch view ``[b, 2, 32, 32] -> [b, 64, 1, 32]`` makes channel
``i * Na + m`` of the latent the delay row ``m`` of part ``i`` (0 real, 1 imaginary), and keeps
the antenna (angular) axis as the 1 x 32 spatial axis, so the 1x7 compression convolutions
slide along the angular axis and mix all delay rows and both parts through their channels. In
channels-last this is ``[b, Na, Nt, 2] -> permute -> [b, Nt, 2, Na] -> reshape ->
[b, 1, Nt, 2 Na]`` (:func:`latent_view` is the numpy reference); the decoder inverts it.

Training noise (:class:`CodewordAWGN`). The paper adds Gaussian noise to the codeword during
training; the authors' code uses an SNR of 40 dB relative to the mean codeword power of the
batch, ``torch.mean(x**2)``. Here ``train_noise_snr_db`` (default 40 dB, ``None`` for none) sets
``sigma^2 = P_z / SNR`` with ``P_z`` each sample's own mean codeword power (as linksim's
``noise_reference: per_sample`` pilots), without gradient through ``sigma``. The noise is inserted
by :meth:`CLLWCsiNet.autoencoder` between encoder and decoder and is active only in training;
:meth:`~linksim.codecs.Codec.encode` / :meth:`~linksim.codecs.Codec.decode` never add noise (the
feedback link is linksim's feedback stage).

Our choices where the paper is silent or the code is inconsistent between CRs (none changes a
parameter count; the activation choices change the FLOPs by <= 0.2 %):

* LReLU between the convs of a chain, never after its last conv; the authors' code applies a
  LReLU after the last compression conv at CR4 but not at CR8/16, after the 7x1 head conv at CR4
  only, and (through a duplicated ``OrderedDict`` key) drops some of the denoiser's LReLUs.
* Both decoder branches see the noisy codeword; in the authors' code the expansion branch takes
  the clean codeword, which a BS does not have.
* The head "1x1" merge conv and the RefineNet merge convs are 1x7 and the RefineNet paths use
  only 1xk kernels, as in the authors' code (the counts of Table III need them).
* CR32 / CR64 (not in the paper) by the natural extension of Table II: last compression filter
  count ``c = 2`` / ``1`` (``64 -> 32 -> 16 -> c``) and expansion ``c -> 2c -> 4c -> 64``. Any CR
  with ``2 Na / CR`` a whole number below ``2 Na`` builds.
* Batch-norm momentum 0.9 as the other linksim codecs (:data:`~linksim.codecs.csinet.BN_MOMENTUM`).

Counts at ``Na = Nt = 32`` (whole auto-encoder; "params" in the PyTorch convention of the
paper = Keras trainable weights, i.e. without the batch-norm moving statistics; "FLOPs" =
``count_macs + elementwise_ops`` of :mod:`linksim.complexity`: MACs + 1 per bias + 2 per
batch-norm element + 1 per activation element, the convention of the authors' notebooks up to
the details given after the table):

====  ==========  =========  =======  =========  ===========  ============  ===========
CR    UE params   BS params  total    published  MACs         FLOPs         published
====  ==========  =========  =======  =========  ===========  ============  ===========
4     29,158      41,110     70,268   70.26K     6,742,016    7,276,544     7.26M
8     23,758      42,998     66,756   66.7K      6,627,328    7,164,928     7.15M
16    20,810      21,798     42,608   42.6K      5,860,352    6,390,272     6.63M (-3.6 %)
32    19,504      12,878     32,382              5,536,000    6,062,080
64    18,893       8,838     27,731              5,388,608    5,912,768
====  ==========  =========  =======  =========  ===========  ============  ===========

Keras' ``count_params`` adds 2 moving statistics per batch-norm channel (CR4: UE 29,346,
BS 41,714). The authors' notebooks count FLOPs with flopth: conv MACs + bias, 2 per batch-norm
element, 1 per LeakyReLU element, 0 for the sigmoid, and a module called twice counted once.
Those rules on the authors' code give 7,267,840 (CR4, +0.1 %) and 7,151,104 (CR8, +0.01 %);
``count_macs + elementwise_ops`` on this model counts every activation call and the sigmoid and
gives +0.2 %. The CR16 FLOPs stay 3.6 % below the published 6.63M although the parameter count
is exact: flopth on the authors' CR16 code gives 6,377,216, and the published CR8 -> CR16 drop
(0.52M) is smaller than the one implied by the authors' CR8/CR16 code (0.77M), so the published
CR16 figure seems to come from a variant that is not in the code (no choice of expansion chains
reproduces both 42.6K parameters and 6.63M FLOPs).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from linksim.codecs.base import Codec, register_codec
from linksim.codecs.crnet import conv_bn as crnet_conv_bn
from linksim.codecs.crnet import lrelu

#: Kernel length of the latent-space and RefineNet convolutions (1 x 7 along the antenna axis).
LATENT_KERNEL = (1, 7)
#: Factorised kernel sizes of the encoder's multi-resolution head.
HEAD_KERNELS = (7, 5, 3)
#: Channels inside a RefineNet path (2 -> 8 -> 16 -> 2).
REFINE_WIDTHS = (8, 16)
#: Default training SNR on the codeword (dB), the authors' setting.
DEFAULT_TRAIN_NOISE_SNR_DB = 40.0


# -- widths and layouts (pure functions) -------------------------------------------------------
def codeword_channels(compression_ratio: int, num_rows: int) -> int:
    """Codeword channels ``c = 2 Na / CR`` (the codeword is ``c x 1 x Nt``).

    Raises
    ------
    ValueError
        ``CR`` does not divide ``2 Na`` or ``c >= 2 Na`` (CR < 2): no compression filters.
    """
    total = 2 * num_rows
    if compression_ratio < 2 or total % compression_ratio:
        raise ValueError(
            f"CLLWCsiNet needs a compression ratio >= 2 that divides 2*Na = {total} (the codeword "
            f"is (2*Na/CR) x 1 x Nt); got {compression_ratio}")
    return total // compression_ratio


def encoder_widths(num_rows: int, channels: int) -> list[int]:
    """Channel chain of the compression path: ``[2Na, Na, Na/2]`` above ``c``, then ``c``.

    ``Na = 32``: CR4 ``[64, 32, 16]``, CR8 ``[64, 32, 16, 8]``, CR16 ``[64, 32, 16, 4]`` (Table II).
    """
    return [w for w in (2 * num_rows, num_rows, num_rows // 2) if w > channels] + [channels]


def decoder_widths(num_rows: int, channels: int) -> list[int]:
    """Channel chain of the expansion branches: ``[c, 2c, 4c]`` below ``2 Na``, then ``2 Na``.

    ``Na = 32``: CR4 ``[16, 32, 64]``, CR8 ``[8, 16, 32, 64]``, CR16 ``[4, 8, 16, 64]`` (the
    authors' code; these give the published parameter counts).
    """
    return [w for w in (channels, 2 * channels, 4 * channels) if w < 2 * num_rows] + [2 * num_rows]


def latent_view(x: np.ndarray) -> np.ndarray:
    """Numpy reference of the latent reshape: ``[b, Na, Nt, 2] -> [b, 1, Nt, 2 Na]``.

    Channel ``i * Na + m`` holds delay row ``m`` of part ``i``: the channels-last image of the
    paper's channels-first ``view(b, 2 Na, 1, Nt)`` of ``[b, 2, Na, Nt]``.
    """
    b, na, nt, _ = x.shape
    return x.transpose(0, 3, 1, 2).reshape(b, 2 * na, 1, nt).transpose(0, 2, 3, 1)


# -- building blocks -------------------------------------------------------------------------------
def conv_bn(x, filters: int, kernel: int | tuple[int, int], name: str):
    """'same' conv with bias ``[b, H, W, c] -> [b, H, W, filters]``, then batch norm (the
    authors' layers keep the bias, which the published parameter counts include)."""
    return crnet_conv_bn(x, filters, kernel, name, use_bias=True)


def conv_chain(x, widths: list[int], kernel: tuple[int, int], name: str):
    """Convs ``widths[0] -> widths[1] -> ...`` (conv + BN), LReLU between them, linear output."""
    for i, filters in enumerate(widths[1:]):
        if i:
            x = lrelu(x, f"{name}_act{i}")
        x = conv_bn(x, filters, kernel, f"{name}_{i + 1}")
    return x


def multi_resolution_head(x, name: str):
    """Factorised 7/5/3 paths ``[b, H, W, 2] -> [b, H, W, 2]``: concat, 1x7 merge, LReLU."""
    paths = []
    for k in HEAD_KERNELS:
        p = conv_bn(x, 2, (1, k), f"{name}_1x{k}")
        p = conv_bn(lrelu(p, f"{name}_1x{k}_act"), 2, (k, 1), f"{name}_{k}x1")
        paths.append(p)
    y = layers.Concatenate(name=f"{name}_concat")(paths)
    return lrelu(conv_bn(y, 2, LATENT_KERNEL, f"{name}_merge"), f"{name}_out")


def compression_block(x, widths: list[int], name: str):
    """Table II filters ``[b, 1, Nt, 2Na] -> [b, 1, Nt, c]``: chain || one conv, merge, LReLU."""
    a = conv_chain(x, widths, LATENT_KERNEL, f"{name}_a")
    b = conv_bn(x, widths[-1], LATENT_KERNEL, f"{name}_b")
    y = lrelu(layers.Concatenate(name=f"{name}_concat")([a, b]), f"{name}_concat_act")
    return lrelu(conv_bn(y, widths[-1], LATENT_KERNEL, f"{name}_merge"), f"{name}_out")


def refine_net(x, name: str):
    """Multi-resolution RefineNet ``[b, H, W, 2] -> [b, H, W, 2]`` (1x7 and 1x5 paths, shortcut)."""
    chain = [x.shape[-1], *REFINE_WIDTHS, x.shape[-1]]
    p1 = conv_chain(x, chain, (1, 7), f"{name}_p1x7")
    p2 = conv_chain(x, chain, (1, 5), f"{name}_p1x5")
    y = lrelu(layers.Concatenate(name=f"{name}_concat")([p1, p2]), f"{name}_concat_act")
    y = conv_bn(y, x.shape[-1], LATENT_KERNEL, f"{name}_merge")
    return lrelu(layers.Add(name=f"{name}_add")([x, y]), f"{name}_out")


@keras.saving.register_keras_serializable(package="linksim")
class CodewordAWGN(layers.Layer):
    """Adds white Gaussian noise at a fixed SNR per sample, in training only.

    ``z~ = z + sigma n``, ``n ~ N(0, I)``, ``sigma^2 = mean_j z_j^2 / 10^(snr_db / 10)`` per sample
    (no gradient through ``sigma``). Outside training (``training`` false) the layer is the
    identity.

    Parameters
    ----------
    snr_db : float
        Codeword SNR in dB.
    seed : int or None
        Seed of the noise; ``None`` draws it from Keras' global seed
        (``keras.utils.set_random_seed``, which :func:`linksim.learning.training.train_codec` sets from the
        training seed).
    """

    def __init__(self, snr_db: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.snr_db = float(snr_db)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, z, training=False):
        """``[b, M]`` codewords -> noisy codewords ``[b, M]`` (training) or ``z`` (inference)."""
        if not training:
            return z
        power = ops.stop_gradient(ops.mean(ops.square(z), axis=-1, keepdims=True))
        sigma = ops.sqrt(power * 10.0 ** (-self.snr_db / 10.0))
        return z + sigma * keras.random.normal(ops.shape(z), seed=self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "snr_db": self.snr_db, "seed": self.seed}


@register_codec("cllwcsinet")
class CLLWCsiNet(Codec):
    """CLLWCsiNet: multi-resolution head + convolutional latent space, denoiser + RefineNets.

    Parameters
    ----------
    compression_ratio : int
        ``CR``; must divide ``2 Na`` (the codeword is ``2 Na / CR`` channels of ``1 x Nt``).
    num_rows, num_antennas : int
        ``Na``, ``Nt``.
    train_noise_snr_db : float or None
        SNR (dB) of the AWGN added to the codeword in training (:class:`CodewordAWGN`); ``None``
        trains without noise.
    noise_seed : int or None
        Seed of the training noise; ``None`` follows Keras' global seed.
    """

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 train_noise_snr_db: float | None = DEFAULT_TRAIN_NOISE_SNR_DB,
                 noise_seed: int | None = None, output_head: str | None = None):
        self.codeword_channels = codeword_channels(int(compression_ratio), int(num_rows))
        self.train_noise_snr_db = None if train_noise_snr_db is None else float(train_noise_snr_db)
        self.noise_seed = None if noise_seed is None else int(noise_seed)
        super().__init__(compression_ratio, num_rows, num_antennas, output_head)

    def config(self) -> dict:
        return {**super().config(), "train_noise_snr_db": self.train_noise_snr_db,
                "noise_seed": self.noise_seed}

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """Channels-last latent ``(1, Nt, 2 Na)`` (the paper's ``2Na x 1 x Nt``)."""
        return (1, self.num_antennas, 2 * self.num_rows)

    def build_encoder(self) -> keras.Model:
        na, c = self.num_rows, self.codeword_channels
        x_in = keras.Input(self.input_shape, name="csi")
        x = multi_resolution_head(x_in, "enc_head")
        x = layers.Permute((2, 3, 1), name="enc_to_latent_permute")(x)  # [b, Nt, 2, Na]
        x = layers.Reshape(self.latent_shape, name="enc_to_latent")(x)  # [b, 1, Nt, 2 Na]
        x = compression_block(x, encoder_widths(na, c), "enc_compress")
        z = layers.Flatten(name="enc_flatten")(x)  # [b, Nt c] = [b, M]
        return keras.Model(x_in, z, name="cllwcsinet_encoder")

    def build_decoder(self) -> keras.Model:
        na, nt, c = self.num_rows, self.num_antennas, self.codeword_channels
        z_in = keras.Input((self.codeword_length,), name="codeword")
        z = layers.Reshape((1, nt, c), name="dec_reshape")(z_in)
        widths = decoder_widths(na, c)
        expanded = conv_chain(z, widths, LATENT_KERNEL, "dec_expand")
        noise = conv_chain(z, widths, LATENT_KERNEL, "dec_denoise")
        x = layers.Subtract(name="dec_subtract")([expanded, noise])
        x = lrelu(x, "dec_subtract_act")
        x = layers.Reshape((nt, 2, na), name="dec_from_latent")(x)
        x = layers.Permute((3, 1, 2), name="dec_from_latent_permute")(x)  # [b, Na, Nt, 2]
        x = refine_net(x, "refine1")
        x = refine_net(x, "refine2")
        x = conv_bn(x, 2, LATENT_KERNEL, "dec_out")
        x = layers.Activation(self.output_activation, name="dec_output")(x)
        return keras.Model(z_in, x, name="cllwcsinet_decoder")

    def autoencoder(self, link=None) -> keras.Model:
        """``decoder(link(noise(encoder(x))))``: the codec's own codeword noise (training only),
        then the scenario's training-time feedback link if one is given (both apply)."""
        x = keras.Input(self.input_shape, name="csi")
        z = self.encoder(x)
        if self.train_noise_snr_db is not None:
            z = CodewordAWGN(self.train_noise_snr_db, self.noise_seed, name="codeword_awgn")(z)
        if link is not None:
            z = link(z)
        return keras.Model(x, self.decoder(z), name=f"{self.name}_autoencoder")
