"""Training of the eigenvector codecs: losses, quantisation-aware training and the 3GPP
training types (TR 38.843 clause 5.1: joint training and separate NW-first / UE-first).

All arrays are real ``x [N, S, Nt, 2L]`` float32 (:func:`linksim.tr38843.codecs.to_real`).

Losses (``loss``):

* ``"mse"``: mean of ``(x_hat - x)^2`` over all entries (phase-sensitive; the target carries
  :func:`linksim.phy.eigen.fix_phase`'s convention);
* ``"sgcs"``: ``1 - mean_{b,s,l} SGCS_{s,l}``, ``SGCS = |v_hat^H v|^2 / (|v_hat|^2 |v|^2)``:
  invariant to a phase per subband and layer.

Quantisation: the encoder ends in a sigmoid, ``z in [0, 1]``; a ``B``-bit uniform scalar
quantiser maps ``z`` to the nearest of ``2^B`` levels ``k / (2^B - 1)`` (:func:`quantise`).
In training the forward pass uses the quantised value and the gradient passes straight through
(STE, :func:`quantise_ste`). ``bits = None`` trains without quantisation.

Vector quantisation (``FitSettings.vq_dim = d``, :class:`VectorQuantiser`): the codeword
``z [b, M]`` is cut into ``M / d`` sub-vectors ``[b, M/d, d]``; each is replaced by the nearest
(Euclidean; ties to the lowest index) of ``K = 2^(B d)`` code vectors of one shared codebook
``[K, d]`` and sent as its index, ``B d`` bits, so the payload is ``M B`` bits as with the
scalar quantiser (:mod:`linksim.tr38843.payload`). Training is **VQ-VAE style** (van den Oord
et al. 2017): the forward pass uses the code vector, the gradient passes straight through to the
encoder, and the loss adds the codebook term ``|sg(z) - e|^2`` and the commitment term
``beta |z - sg(e)|^2`` (``beta`` = :data:`VQ_BETA` = 0.25, means over entries); Adam trains the
codebook with the networks. The codebook starts as the **product grid of the scalar
quantiser's levels** (:func:`vq_grid`: all ``d``-tuples of ``k / (2^B - 1)``), so at
initialisation the vector quantiser *is* the ``B``-bit scalar quantiser, every code vector lies
in the sigmoid's range and none starts dead; training then moves the code vectors to where the
sub-vectors are. Why not k-means: a k-means initialisation needs encoder outputs, which are
random before training, and a second pass over the data; the grid needs neither, and the
codebook loss is an online k-means step anyway. The codebook is the first side's in separate
training: the shared codewords are its code vectors, and the deployed UE quantises with it.

Training types (:func:`train_codec_pair`), for one training set:

* ``joint``: one autoencoder, encoder and decoder trained together (deployed as is);
* ``nw_first``: the NW trains a full autoencoder, shares the (quantised codeword, target) pairs
  of the training set; the UE trains its own, freshly initialised encoder to reproduce the
  codewords (MSE on ``z``). Deployed: UE encoder + NW decoder;
* ``ue_first``: the UE trains a full autoencoder and shares (quantised codeword, target); the
  NW trains its own fresh decoder on them with the same loss. Deployed: UE encoder + NW decoder.

The loop is plain PyTorch over the Keras variables (Adam, seeded permutations, the whole batch
one vectorised forward pass); batch norm's moving statistics are updated by Keras' own call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from linksim.errors import LinksimInputError
from linksim.seeding import derive_seed
from linksim.tr38843.codecs import EigenCodec
from linksim.tr38843.payload import VQ_MAX_BITS

LOSSES = ("mse", "sgcs")
TRAINING_TYPES = ("joint", "nw_first", "ue_first")


def quantise(z: np.ndarray, bits: int) -> np.ndarray:
    """``z [..] in [0, 1]`` -> integer levels ``[..]`` int64 in ``0 .. 2^B - 1`` (nearest)."""
    top = 2 ** int(bits) - 1
    return np.clip(np.rint(np.asarray(z, np.float64) * top), 0, top).astype(np.int64)


def dequantise(k: np.ndarray, bits: int) -> np.ndarray:
    """Integer levels -> ``k / (2^B - 1)`` float32 (the decoder's input)."""
    return (np.asarray(k, np.float64) / (2 ** int(bits) - 1)).astype(np.float32)


def quantise_ste(z, bits: int | None):
    """Torch: forward the dequantised ``B``-bit value of ``z``, backward the identity."""
    if bits is None:
        return z
    top = float(2 ** int(bits) - 1)
    q = (z.clamp(0.0, 1.0) * top).round() / top
    return z + (q - z).detach()


#: Weight of the VQ-VAE commitment term (van den Oord et al. 2017 use 0.25).
VQ_BETA = 0.25


def vq_grid(bits: int, dim: int) -> np.ndarray:
    """The ``2^(B d)`` code vectors ``[K, d]`` float32 of the ``B``-bit scalar quantiser applied
    to each of ``d`` entries: row ``k`` holds the base-``2^B`` digits of ``k`` (most significant
    first) over ``2^B - 1``."""
    levels = 2 ** int(bits)
    k = np.arange(levels ** int(dim))
    digits = (k[:, None] // levels ** np.arange(int(dim) - 1, -1, -1)) % levels
    return (digits / (levels - 1)).astype(np.float32)


def vq_indices(z: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Nearest code vector of each sub-vector: ``z [..., M]``, ``codebook [K, d]`` ->
    ``[..., M/d]`` int64 (Euclidean distance in float64; ties go to the lowest index).

    Raises
    ------
    LinksimInputError
        ``d`` does not divide ``M`` (names ``vq_dim``).
    """
    z = np.asarray(z, np.float64)
    cb = np.asarray(codebook, np.float64)
    d = cb.shape[1]
    if z.shape[-1] % d:
        raise LinksimInputError(f"vq_dim: {d} does not divide the codeword length "
                                f"M = {z.shape[-1]}")
    zs = z.reshape(-1, d)
    out = np.empty(len(zs), np.int64)
    step = max(1, 2 ** 22 // (len(cb) * d))
    for i in range(0, len(zs), step):
        diff = zs[i:i + step, None, :] - cb[None]
        out[i:i + step] = np.argmin((diff * diff).sum(-1), axis=1)
    return out.reshape(*z.shape[:-1], z.shape[-1] // d)


def vq_dequantise(idx: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Indices ``[..., M/d]`` -> codewords ``[..., M]`` float32 (the decoder's input)."""
    idx = np.asarray(idx)
    return np.asarray(codebook, np.float32)[idx].reshape(*idx.shape[:-1], -1)


class VectorQuantiser:
    """One shared codebook of ``2^(B d)`` code vectors of ``d`` entries (module docstring).

    Parameters
    ----------
    bits : int
        ``B`` bits per codeword entry (``B d`` per sub-vector, at most
        :data:`~linksim.tr38843.payload.VQ_MAX_BITS`).
    dim : int
        ``d`` entries per sub-vector.
    codebook : [2^(B d), d] array or None
        Initial code vectors; ``None``: :func:`vq_grid`.
    """

    def __init__(self, bits: int, dim: int, codebook: np.ndarray | None = None):
        import torch

        self.bits, self.dim = int(bits), int(dim)
        if self.bits * self.dim > VQ_MAX_BITS or self.bits < 1 or self.dim < 1:
            raise LinksimInputError(f"vq_dim: {self.dim} entries of {self.bits} bits: need "
                                    f"1 <= B d <= {VQ_MAX_BITS} bits per sub-vector")
        cb = vq_grid(self.bits, self.dim) if codebook is None else np.asarray(codebook,
                                                                               np.float32)
        if cb.shape != (2 ** (self.bits * self.dim), self.dim):
            raise LinksimInputError(f"vq_dim: codebook of shape {cb.shape}, expected "
                                    f"({2 ** (self.bits * self.dim)}, {self.dim})")
        self.codebook = torch.nn.Parameter(torch.from_numpy(np.array(cb, np.float32)))

    def codebook_array(self) -> np.ndarray:
        """The code vectors ``[K, d]`` float32."""
        return self.codebook.detach().cpu().numpy().astype(np.float32)

    def quantise(self, z: np.ndarray) -> np.ndarray:
        """Numpy ``z [N, M]`` -> the nearest code vectors ``[N, M]`` float32."""
        cb = self.codebook_array()
        return vq_dequantise(vq_indices(z, cb), cb)

    def ste(self, z):
        """Torch ``z [b, M]`` -> ``(z_q [b, M], aux)``: forward the nearest code vectors,
        backward the identity to ``z``; ``aux`` the codebook + ``beta`` commitment loss."""
        import torch

        b, m = z.shape
        if m % self.dim:
            raise LinksimInputError(f"vq_dim: {self.dim} does not divide the codeword length "
                                    f"M = {m}")
        zs = z.reshape(b, m // self.dim, self.dim)
        cb = self.codebook
        with torch.no_grad():
            dist = ((zs * zs).sum(-1, keepdim=True) - 2 * zs @ cb.T
                    + (cb * cb).sum(-1))  # [b, M/d, K]
            idx = dist.argmin(-1)
        e = cb[idx]  # [b, M/d, d]
        aux = ((zs.detach() - e) ** 2).mean() + VQ_BETA * ((zs - e.detach()) ** 2).mean()
        return (zs + (e - zs).detach()).reshape(b, m), aux


def make_quantiser(settings: FitSettings) -> VectorQuantiser | None:
    """A fresh :class:`VectorQuantiser` for ``settings.vq_dim``; ``None`` for the scalar one."""
    if settings.vq_dim is None or settings.bits is None:
        return None
    return VectorQuantiser(settings.bits, settings.vq_dim)


def sgcs_torch(x_hat, x):
    """Torch: SGCS per sample, subband and layer ``[b, S, L]`` of real ``[b, S, Nt, 2L]``."""
    b, s, nt, c = x.shape
    a = x_hat.reshape(b, s, nt, c // 2, 2)
    t = x.reshape(b, s, nt, c // 2, 2)
    re = (a[..., 0] * t[..., 0] + a[..., 1] * t[..., 1]).sum(dim=2)
    im = (a[..., 0] * t[..., 1] - a[..., 1] * t[..., 0]).sum(dim=2)
    den = (a * a).sum(dim=(2, 4)) * (t * t).sum(dim=(2, 4))
    return (re * re + im * im) / den.clamp_min(1e-12)


def loss_torch(name: str, x_hat, x):
    """Torch scalar loss ``"mse"`` or ``"sgcs"`` (module docstring)."""
    if name == "mse":
        return ((x_hat - x) ** 2).mean()
    if name == "sgcs":
        return 1.0 - sgcs_torch(x_hat, x).mean()
    raise LinksimInputError(f"losses: {name!r} is not a loss; choose from {', '.join(LOSSES)}")


@dataclass
class FitSettings:
    """Epochs, batch size, Adam learning rate, seed and quantiser of one training: ``bits``
    per codeword entry, and ``vq_dim`` entries per sub-vector for the vector quantiser
    (``None``: scalar)."""

    epochs: int = 2
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    bits: int | None = 2
    vq_dim: int | None = None


def _fit(variables, step_loss, n: int, settings: FitSettings, label: str) -> list[float]:
    """Adam over ``variables`` (Keras variables or torch parameters), minimising
    ``step_loss(index_tensor)``; returns the per-epoch mean training loss."""
    import torch

    params = [getattr(v, "value", v) for v in variables]
    opt = torch.optim.Adam(params, lr=settings.learning_rate, eps=1e-7)
    gen = torch.Generator().manual_seed(derive_seed(settings.seed, "tr38843-batches", label))
    history = []
    for _ in range(settings.epochs):
        perm, total = torch.randperm(n, generator=gen), 0.0
        for i in range(0, n, settings.batch_size):
            idx = perm[i:i + settings.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = step_loss(idx)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / n)
    return history


def fit_autoencoder(codec: EigenCodec, x: np.ndarray, loss: str, settings: FitSettings,
                    label: str = "ae", vq: VectorQuantiser | None = None) -> list[float]:
    """Train encoder and decoder together on ``x [N, S, Nt, 2L]`` (QAT with ``settings.bits``).

    With ``settings.vq_dim`` the codeword is vector quantised by ``vq`` (a fresh
    :func:`make_quantiser` if ``None``), whose codebook trains along; the loss then includes the
    VQ-VAE codebook and commitment terms (module docstring)."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    variables = codec.encoder.trainable_variables + codec.decoder.trainable_variables
    if settings.vq_dim is not None and vq is None:
        vq = make_quantiser(settings)
    if settings.vq_dim is not None and vq is not None:
        variables = variables + [vq.codebook]

        def step(idx):
            xb = xt[idx]
            z, aux = vq.ste(codec.encoder(xb, training=True))
            return loss_torch(loss, codec.decoder(z, training=True), xb) + aux
    else:
        def step(idx):
            xb = xt[idx]
            z = quantise_ste(codec.encoder(xb, training=True), settings.bits)
            return loss_torch(loss, codec.decoder(z, training=True), xb)

    return _fit(variables, step, len(x), settings, label)


def fit_encoder(codec: EigenCodec, x: np.ndarray, z: np.ndarray, settings: FitSettings,
                label: str = "enc") -> list[float]:
    """Train ``codec.encoder`` alone to map ``x`` to the shared codewords ``z [N, M]`` (MSE)."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    zt = torch.from_numpy(np.ascontiguousarray(z, np.float32))

    def step(idx):
        return ((codec.encoder(xt[idx], training=True) - zt[idx]) ** 2).mean()

    return _fit(codec.encoder.trainable_variables, step, len(x), settings, label)


def fit_decoder(codec: EigenCodec, z: np.ndarray, x: np.ndarray, loss: str,
                settings: FitSettings, label: str = "dec") -> list[float]:
    """Train ``codec.decoder`` alone to map shared codewords ``z [N, M]`` to targets ``x``."""
    import torch

    xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    zt = torch.from_numpy(np.ascontiguousarray(z, np.float32))

    def step(idx):
        return loss_torch(loss, codec.decoder(zt[idx], training=True), xt[idx])

    return _fit(codec.decoder.trainable_variables, step, len(x), settings, label)


def predict(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Inference-mode forward of a Keras model over ``x`` in batches -> float32 numpy."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            y = model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], np.float32)),
                      training=False)
            out.append(y.detach().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def shared_codewords(codec: EigenCodec, x: np.ndarray, bits: int | None,
                     vq: VectorQuantiser | None = None) -> np.ndarray:
    """The (dequantised) codewords ``[N, M]`` float32 of ``x`` that the first side shares: the
    ``B``-bit levels, or ``vq``'s code vectors."""
    return _codewords(codec.encoder, x, bits, vq)


@dataclass
class Deployed:
    """The deployed pair: UE ``encoder`` and NW ``decoder`` (Keras models), the codecs that
    trained them (``ue``, ``nw``; the same object for joint training), the loss histories and
    the vector quantiser (``None``: scalar), whose codebook both sides use."""

    training_type: str
    encoder: object
    decoder: object
    ue: EigenCodec
    nw: EigenCodec
    history: dict[str, list[float]] = field(default_factory=dict)
    quantiser: VectorQuantiser | None = None

    def reconstruct(self, x: np.ndarray, bits: int | None) -> np.ndarray:
        """UE encode, quantise (``bits`` scalar, or the pair's vector quantiser), NW decode:
        ``x [N, S, Nt, 2L]`` -> ``x_hat`` float32."""
        return predict(self.decoder, _codewords(self.encoder, x, bits, self.quantiser))


def _codewords(encoder, x: np.ndarray, bits: int | None,
               vq: VectorQuantiser | None = None) -> np.ndarray:
    """Dequantised codewords ``[N, M]`` float32 of ``encoder`` on ``x``: ``vq``'s nearest code
    vectors, else ``B``-bit levels (``bits = None``: unquantised)."""
    z = predict(encoder, x)
    if vq is not None:
        return vq.quantise(z)
    return z if bits is None else dequantise(quantise(z, bits), bits)


def train_codec_pair(make_codec, x: np.ndarray, training_type: str, loss: str,
                     settings: FitSettings) -> Deployed:
    """Train for one training type (module docstring) and return the deployed pair.

    Parameters
    ----------
    make_codec : callable ``(seed: int) -> EigenCodec``
        A fresh codec; each side builds its own with its own seed.
    x : [N, S, Nt, 2L] float32
        Training targets (real eigenvectors).
    training_type : "joint", "nw_first" or "ue_first"
    loss : "mse" or "sgcs"
    settings : FitSettings
    """
    if training_type not in TRAINING_TYPES:
        raise LinksimInputError(f"training_types: {training_type!r} is not one of "
                                f"{', '.join(TRAINING_TYPES)}")
    first_side = "ue" if training_type == "ue_first" else "nw"
    first = make_codec(derive_seed(settings.seed, "tr38843-init", first_side))
    first.check_input(x)
    vq = make_quantiser(settings)
    hist = {f"{first_side}_autoencoder": fit_autoencoder(first, x, loss, settings, first_side,
                                                         vq)}
    if training_type == "joint":
        return Deployed("joint", first.encoder, first.decoder, first, first, hist, vq)
    z = shared_codewords(first, x, settings.bits, vq)
    second = make_codec(derive_seed(settings.seed, "tr38843-init",
                                    "ue" if first_side == "nw" else "nw"))
    if training_type == "nw_first":
        hist["ue_encoder"] = fit_encoder(second, x, z, settings, "ue_second")
        return Deployed(training_type, second.encoder, first.decoder, second, first, hist, vq)
    hist["nw_decoder"] = fit_decoder(second, z, x, loss, settings, "nw_second")
    return Deployed(training_type, first.encoder, second.decoder, first, second, hist, vq)
