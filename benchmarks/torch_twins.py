"""Plain PyTorch twins of linksim's Keras codecs: the reference of the training-speed comparison.

Each twin is the network a competent PyTorch user would write from the codec's description
(``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.LeakyReLU`` / ``nn.PReLU`` / ``nn.Linear``, channels-first
tensors): the same layers, widths, kernels, biases, activations and shortcuts as the Keras codec
at ``Na = Nt = 32``, so the same trainable parameter count (:data:`KERAS_CODECS` names the codec
each twin mirrors; ``benchmarks/bench_training.py`` and ``tests/test_torch_twins.py`` assert the
counts are equal). Weight initialisation is PyTorch's default, not Keras': irrelevant for speed.

Input and output of every twin: ``[B, 2, Na, Nt]`` float32 (NCHW), sigmoid output in [0, 1].
:func:`to_nchw` converts linksim's ``[B, Na, Nt, 2]`` data. The FC layers see the NCHW flattening
(channel-major) where Keras flattens NHWC: a fixed permutation of the FC weights, the same network.

Twins (``TWINS``): ``csinet``, ``crnet``, ``acrnet`` (expansion 1, channel-wise PReLU),
``bacrnet`` (ACRNet with a binary encoder FC, :class:`BinaryLinear`), ``bcsinet_a2`` and
``bcsinet_b3`` (BCsiNet heads A / B with 2 / 3 RefineNets, binary encoder FC), ``cllwcsinet``
(convolutional latent space, training AWGN on the codeword at 40 dB).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

LEAK = 0.3
PRELU_INIT = 0.3


def to_nchw(x: np.ndarray) -> torch.Tensor:
    """linksim CSI ``[B, Na, Nt, 2]`` (numpy) -> contiguous torch ``[B, 2, Na, Nt]``."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


def count_trainable(module: nn.Module) -> int:
    """Trainable parameters of ``module`` (batch-norm running statistics are buffers)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def lrelu() -> nn.Module:
    return nn.LeakyReLU(LEAK)


def conv_bn(cin: int, cout: int, kernel, bias: bool = True, groups: int = 1) -> nn.Sequential:
    """'same' conv ``[B, cin, H, W] -> [B, cout, H, W]`` then batch norm."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding="same", bias=bias, groups=groups),
                         nn.BatchNorm2d(cout))


def conv_bn_act(cin: int, cout: int, kernel=3, bias: bool = True, act: bool = True):
    """conv (+ bias) -> batch norm -> LeakyReLU(0.3) (activation optional)."""
    layers = list(conv_bn(cin, cout, kernel, bias))
    return nn.Sequential(*layers, lrelu()) if act else nn.Sequential(*layers)


# -- binary FC ------------------------------------------------------------------------------------
class SignSTE(torch.autograd.Function):
    """``sign(w)`` (+1 at 0) forward; straight-through gradient gated by ``|w| < 1`` backward."""

    @staticmethod
    def forward(ctx, w):
        ctx.save_for_backward(w)
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * (w.abs() < 1).to(grad.dtype)


class BinaryLinear(nn.Linear):
    """``nn.Linear`` whose forward weight is ``alpha sign(W)``, ``alpha = mean |W|`` (differentiated),
    float bias; the float ``W`` are the trained shadow weights. ``[B, n] -> [B, units]``."""

    def forward(self, x):
        w = self.weight.abs().mean() * SignSTE.apply(self.weight)
        return nn.functional.linear(x, w, self.bias)


def fc(n_in: int, n_out: int, binary: bool) -> nn.Linear:
    return BinaryLinear(n_in, n_out) if binary else nn.Linear(n_in, n_out)


# -- CsiNet and BCsiNet ----------------------------------------------------------------------------
class RefineNet(nn.Module):
    """CsiNet RefineNet ``[B, 2, H, W] -> [B, 2, H, W]``: convs 2 -> 8 -> 16 -> 2, shortcut, LReLU."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(conv_bn_act(2, 8), conv_bn_act(8, 16),
                                  conv_bn_act(16, 2, act=False))
        self.act = lrelu()

    def forward(self, x):
        return self.act(x + self.body(x))


class TorchCsiNet(nn.Module):
    """CsiNet (and BCsiNet) ``[B, 2, Na, Nt] -> [B, 2, Na, Nt]``.

    ``head_convs`` 3x3 conv + BN + LReLU layers at the UE (CsiNet / BCsiNet-A: 1, B: 2), FC to
    ``m`` (binary if ``binary``); FC back, ``refinenets`` RefineNets, a 3x3 conv 2 -> 2 (with batch
    norm if ``out_bn``, BCsiNet's) and a sigmoid.
    """

    def __init__(self, m: int, na: int = 32, nt: int = 32, head_convs: int = 1,
                 binary: bool = False, refinenets: int = 2, out_bn: bool = False):
        super().__init__()
        self.na, self.nt = na, nt
        self.enc_conv = nn.Sequential(*[conv_bn_act(2, 2) for _ in range(head_convs)])
        self.enc_fc = fc(2 * na * nt, m, binary)
        self.dec_fc = nn.Linear(m, 2 * na * nt)
        self.refine = nn.Sequential(*[RefineNet() for _ in range(refinenets)])
        self.out = conv_bn_act(2, 2, act=False) if out_bn else nn.Conv2d(2, 2, 3, padding=1)

    def encode(self, x):
        return self.enc_fc(self.enc_conv(x).flatten(1))

    def forward(self, x):
        y = self.dec_fc(self.encode(x)).reshape(-1, 2, self.na, self.nt)
        return torch.sigmoid(self.out(self.refine(y)))


# -- CRNet -----------------------------------------------------------------------------------------
class CRBlock(nn.Module):
    """CRNet's CRBlock ``[B, 2, H, W] -> [B, 2, H, W]`` (bias-free convs, each with BN)."""

    def __init__(self, width: int = 7):
        super().__init__()
        self.p1 = nn.Sequential(conv_bn(2, width, 3, False), lrelu(),
                                conv_bn(width, width, (1, 9), False), lrelu(),
                                conv_bn(width, width, (9, 1), False))
        self.p2 = nn.Sequential(conv_bn(2, width, (1, 5), False), lrelu(),
                                conv_bn(width, width, (5, 1), False))
        self.merge = nn.Sequential(lrelu(), conv_bn(2 * width, 2, 1, False))
        self.act = lrelu()

    def forward(self, x):
        y = self.merge(torch.cat([self.p1(x), self.p2(x)], 1))
        return self.act(x + y)


class TorchCRNet(nn.Module):
    """CRNet ``[B, 2, Na, Nt] -> [B, 2, Na, Nt]``."""

    def __init__(self, m: int, na: int = 32, nt: int = 32):
        super().__init__()
        self.na, self.nt = na, nt
        self.enc_p1 = nn.Sequential(conv_bn(2, 2, 3, False), lrelu(),
                                    conv_bn(2, 2, (1, 9), False), lrelu(),
                                    conv_bn(2, 2, (9, 1), False))
        self.enc_p2 = conv_bn(2, 2, 3, False)
        self.enc_merge = nn.Sequential(lrelu(), conv_bn(4, 2, 1, False), lrelu())
        self.enc_fc = nn.Linear(2 * na * nt, m)
        self.dec_fc = nn.Linear(m, 2 * na * nt)
        self.dec_head = nn.Sequential(conv_bn(2, 2, 5, False), lrelu())
        self.blocks = nn.Sequential(CRBlock(), CRBlock())

    def encode(self, x):
        y = self.enc_merge(torch.cat([self.enc_p1(x), self.enc_p2(x)], 1))
        return self.enc_fc(y.flatten(1))

    def forward(self, x):
        y = self.dec_fc(self.encode(x)).reshape(-1, 2, self.na, self.nt)
        return torch.sigmoid(self.blocks(self.dec_head(y)))


# -- ACRNet / BACRNet ------------------------------------------------------------------------------
def prelu(c: int) -> nn.PReLU:
    """PReLU with one slope per channel, initialised to 0.3."""
    return nn.PReLU(c, init=PRELU_INIT)


class ACREnBlock(nn.Module):
    """``[B, c, H, W] -> [B, c, H, W]``: 1x9 conv, PReLU, 9x1 conv, shortcut, PReLU."""

    def __init__(self, c: int = 2):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c, (1, 9), False), prelu(c),
                                  conv_bn(c, c, (9, 1), False))
        self.act = prelu(c)

    def forward(self, x):
        return self.act(x + self.body(x))


class ACRDeBlock(nn.Module):
    """``[B, c, H, W] -> [B, c, H, W]``: 1x9 conv c -> 8k, PReLU, 7x7 group conv (4k groups),
    PReLU, 9x1 conv 8k -> c, shortcut, PReLU."""

    def __init__(self, c: int = 2, expansion: int = 1):
        super().__init__()
        groups = 4 * expansion
        width = 2 * groups
        self.body = nn.Sequential(conv_bn(c, width, (1, 9), False), prelu(width),
                                  conv_bn(width, width, 7, False, groups=groups), prelu(width),
                                  conv_bn(width, c, (9, 1), False))
        self.act = prelu(c)

    def forward(self, x):
        return self.act(x + self.body(x))


class TorchACRNet(nn.Module):
    """ACRNet-kx ``[B, 2, Na, Nt] -> [B, 2, Na, Nt]``; ``binary`` makes the UE FC binary (BACRNet)."""

    def __init__(self, m: int, na: int = 32, nt: int = 32, expansion: int = 1,
                 binary: bool = False):
        super().__init__()
        self.na, self.nt = na, nt
        self.enc = nn.Sequential(conv_bn(2, 2, 5, False), prelu(2), ACREnBlock(), ACREnBlock())
        self.enc_fc = fc(2 * na * nt, m, binary)
        self.dec_fc = nn.Linear(m, 2 * na * nt)
        self.dec = nn.Sequential(conv_bn(2, 2, 5, False), prelu(2),
                                 ACRDeBlock(2, expansion), ACRDeBlock(2, expansion))

    def encode(self, x):
        return self.enc_fc(self.enc(x).flatten(1))

    def forward(self, x):
        y = self.dec_fc(self.encode(x)).reshape(-1, 2, self.na, self.nt)
        return torch.sigmoid(self.dec(y))


# -- CLLWCsiNet ------------------------------------------------------------------------------------
def chain(widths: list[int], kernel) -> nn.Sequential:
    """Convs (+ bias, BN) ``widths[0] -> widths[1] -> ...``, LReLU between them, linear output."""
    layers = []
    for i in range(len(widths) - 1):
        if i:
            layers.append(lrelu())
        layers.append(conv_bn(widths[i], widths[i + 1], kernel))
    return nn.Sequential(*layers)


class MultiResolutionHead(nn.Module):
    """``[B, 2, H, W] -> [B, 2, H, W]``: paths 1xk -> LReLU -> kx1 (k = 7, 5, 3), concat, 1x7 merge."""

    def __init__(self):
        super().__init__()
        self.paths = nn.ModuleList(
            [nn.Sequential(conv_bn(2, 2, (1, k)), lrelu(), conv_bn(2, 2, (k, 1)))
             for k in (7, 5, 3)])
        self.merge = nn.Sequential(conv_bn(6, 2, (1, 7)), lrelu())

    def forward(self, x):
        return self.merge(torch.cat([p(x) for p in self.paths], 1))


class MultiResolutionRefineNet(nn.Module):
    """``[B, 2, H, W] -> [B, 2, H, W]``: 1x7 and 1x5 chains 2 -> 8 -> 16 -> 2, concat, LReLU, 1x7
    merge, shortcut, LReLU."""

    def __init__(self):
        super().__init__()
        self.p1 = chain([2, 8, 16, 2], (1, 7))
        self.p2 = chain([2, 8, 16, 2], (1, 5))
        self.merge = nn.Sequential(lrelu(), conv_bn(4, 2, (1, 7)))
        self.act = lrelu()

    def forward(self, x):
        return self.act(x + self.merge(torch.cat([self.p1(x), self.p2(x)], 1)))


class TorchCLLWCsiNet(nn.Module):
    """CLLWCsiNet ``[B, 2, Na, Nt] -> [B, 2, Na, Nt]`` with AWGN at ``snr_db`` on the codeword in
    training (``sigma^2`` = each sample's mean codeword power / SNR, no gradient through it).

    The latent is the channels-first view ``[B, 2, Na, Nt] -> [B, 2 Na, 1, Nt]``; the codeword
    ``[B, c, 1, Nt]``, ``c = 2 Na / CR``.
    """

    def __init__(self, cr: int, na: int = 32, nt: int = 32, snr_db: float | None = 40.0):
        super().__init__()
        self.na, self.nt = na, nt
        self.c = c = 2 * na // cr
        self.snr_db = snr_db
        enc = [w for w in (2 * na, na, na // 2) if w > c] + [c]
        dec = [w for w in (c, 2 * c, 4 * c) if w < 2 * na] + [2 * na]
        k = (1, 7)
        self.head = MultiResolutionHead()
        self.compress_a = chain(enc, k)
        self.compress_b = conv_bn(2 * na, c, k)
        self.compress_merge = nn.Sequential(lrelu(), conv_bn(2 * c, c, k), lrelu())
        self.expand = chain(dec, k)
        self.denoise = chain(dec, k)
        self.dec_act = lrelu()
        self.refine = nn.Sequential(MultiResolutionRefineNet(), MultiResolutionRefineNet())
        self.out = conv_bn(2, 2, k)

    def encode(self, x):
        y = self.head(x).reshape(-1, 2 * self.na, 1, self.nt)
        y = self.compress_merge(torch.cat([self.compress_a(y), self.compress_b(y)], 1))
        return y.flatten(1)

    def add_noise(self, z):
        """``[B, M]`` codewords plus AWGN at ``snr_db`` per sample (training only; else ``z``)."""
        if not self.training or self.snr_db is None:
            return z
        power = z.detach().square().mean(1, keepdim=True)
        return z + torch.sqrt(power * 10.0 ** (-self.snr_db / 10)) * torch.randn_like(z)

    def forward(self, x):
        z = self.add_noise(self.encode(x)).reshape(-1, self.c, 1, self.nt)
        y = self.dec_act(self.expand(z) - self.denoise(z)).reshape(-1, 2, self.na, self.nt)
        return torch.sigmoid(self.out(self.refine(y)))


# -- registry --------------------------------------------------------------------------------------
def _m(cr: int, na: int, nt: int) -> int:
    return 2 * na * nt // cr


TWINS = {
    "csinet": lambda cr, na=32, nt=32: TorchCsiNet(_m(cr, na, nt), na, nt),
    "crnet": lambda cr, na=32, nt=32: TorchCRNet(_m(cr, na, nt), na, nt),
    "acrnet": lambda cr, na=32, nt=32: TorchACRNet(_m(cr, na, nt), na, nt),
    "bacrnet": lambda cr, na=32, nt=32: TorchACRNet(_m(cr, na, nt), na, nt, binary=True),
    "bcsinet_a2": lambda cr, na=32, nt=32: TorchCsiNet(
        _m(cr, na, nt), na, nt, head_convs=1, binary=True, refinenets=2, out_bn=True),
    "bcsinet_b3": lambda cr, na=32, nt=32: TorchCsiNet(
        _m(cr, na, nt), na, nt, head_convs=2, binary=True, refinenets=3, out_bn=True),
    "cllwcsinet": lambda cr, na=32, nt=32: TorchCLLWCsiNet(cr, na, nt),
}

#: The linksim registry name of the Keras codec each twin mirrors (built with its defaults).
KERAS_CODECS = {name: name for name in TWINS}


def make_twin(name: str, cr: int = 4, na: int = 32, nt: int = 32) -> nn.Module:
    """The plain PyTorch twin of linksim codec ``name`` at compression ratio ``cr``."""
    if name not in TWINS:
        raise ValueError(f"no PyTorch twin for codec {name!r}; twins: {', '.join(TWINS)}")
    return TWINS[name](cr, na, nt)


def keras_trainable_count(codec) -> int:
    """Trainable weights of a linksim codec's encoder and decoder (Keras)."""
    return sum(int(np.prod(w.shape)) for model in (codec.encoder, codec.decoder)
               for w in model.trainable_weights)
