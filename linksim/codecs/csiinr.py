"""CSI-INR (Wu, Zhang, Shao, Mikolajczyk, Gunduz, "MIMO channel as a neural function: implicit
neural representations for extreme CSI compression in massive MIMO systems", seed 003).

There is no encoder network. The CSI of one sample is a function of its grid coordinates; a
shared *base network* ``f_theta(c, M)`` maps every coordinate ``c`` to the (real, imag) channel
gain there, and a short codeword ``M`` (length ``M = 2 Na Nt / CR``, as for every codec; the
seed's ``n``) modulates it:

* Fourier features (seed eq. 10): ``kappa(c) = [cos(2 pi B c), sin(2 pi B c)]``, ``B [F, 2]``
  fixed, entries ``N(0, sigma_b^2)``; coordinates ``c = (i / Na, j / Nt)`` in ``[0, 1)^2``;
* ``L_t`` SIREN layers with FiLM (eqs. 11-14): ``F_k = sin(omega_0 (gamma_k (W_k F_{k-1} + b_k)
  + eta_k))``, ``W_1 [d, 2F]``, ``W_k [d, d]``;
* a linear modulation network (eq. 15): ``[gamma_k, eta_k] = W_mod,k M + b_mod,k`` for every
  layer (one ``[M, 2 L_t d]`` matrix; biases start at ``gamma = 1, eta = 0``);
* a linear output ``W_out [2, d]`` (eq. 16).

UE (seed Algorithm 2): ``M_0 = 0``, then ``s_in`` steps ``M <- M - alpha grad_M L`` on the
per-sample fitting loss ``L = mean over entries of (f(c, M) - y)^2``, ``y`` the CSI scaled to
unit RMS; the steps run for the whole batch in one autograd pass (the loss is the sum over
samples, and sample ``i``'s loss depends on ``M_i`` only). ``alpha`` is one number (the seed) or,
with ``learn_inner_lr``, one meta-learned rate per codeword entry (Meta-SGD, as in COIN++, the
seed's ref. [23]). BS (Algorithm 3): evaluate the modulated network on all coordinates.
Meta-training (Algorithm 1): ``s`` inner steps as above, then one outer Adam step on the base and
modulation networks; second order (MAML: differentiate through the inner steps) or first order
(``M_s`` held fixed in the outer step, the seed's eq. 19 read literally).

Domains (``domain`` option). ``"angular_delay"``: the coordinates are (delay row, angle column)
of the truncated angular-delay CSI. ``"space_frequency"`` (the seed's choice): (frequency,
antenna) of ``g = F_Na h_ad F_Nt^H``, the unitary transform of the truncated CSI, which is the
space-frequency channel on every ``Nc / Na``-th subcarrier times ``sqrt(Nc / Na)`` (the delay
rows beyond ``Na`` are already dropped by the chain). The decoder maps back with the fixed DFTs
``h_ad = F_Na^H g F_Nt``. The transform is unitary, so the fitting loss on the whole grid and the
NMSE are the same in both domains; only the function the network represents changes.

Scaling: the codec sees the normalised CSI ``x_n`` around ``c`` (``c = 0`` with the default linear
output head, ``c = 0.5`` and [0, 1] with the paper-faithful sigmoid head). The network works in
unit-RMS units, ``y = T^-1((x_n - c) / rms)`` with ``rms`` the RMS of ``x_n - c`` on the
training set (stored with the weights), and the BS returns ``x_n_hat = c + rms T(o)``, clipped
to [0, 1] with the sigmoid head (like the sigmoid of the CNN decoders).

The inner loop needs ``torch.autograd.grad`` (Keras on the PyTorch backend). The UE and BS
models share one base network; saving writes the BS model (``decoder.keras``) only. The UE, the
BS and meta-learning compute on the device of the base network's weights.

Modules: the fixed parts (coordinates, Fourier features, domain transform, fitting loss) are in
:mod:`linksim.codecs.csiinr_grid`, the inner loop, the UE's layer around it
(:class:`ModulationFit`) and meta-learning in :mod:`linksim.codecs.csiinr_meta`; this module
holds the base network and the codec, and re-exports the rest.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from linksim.codecs.base import Codec, register_codec
from linksim.codecs.csiinr_grid import (  # noqa: F401  (re-exported)
    ad_to_sf,
    complex_sandwich,
    coordinate_grid,
    draw_fourier_matrix,
    fitting_loss,
    fourier_features,
    sf_to_ad_matrices,
    unitary_dft,
)
from linksim.codecs.csiinr_meta import (
    ModulationFit,
    inner_loop,
    meta_loss,
    meta_train,
    torch_backend,
)
from linksim.errors import LinksimInputError
from linksim.learning.device import as_tensor, on_weights_device, weights_device

DOMAINS = ("angular_delay", "space_frequency")


# -- the base network ---------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="linksim")
class ModulatedSiren(keras.layers.Layer):
    """Base network plus linear modulation network: codeword ``[b, M]`` -> CSI ``[b, Na, Nt, 2]``.

    ``call`` evaluates ``f_theta(c, M)`` on every grid coordinate and returns the normalised CSI
    ``center + rms T(o)`` (unclipped); :meth:`native` gives ``o`` itself.

    Parameters
    ----------
    num_rows, num_antennas : int
        ``Na``, ``Nt``.
    codeword_length : int
        ``M`` (the seed's ``n``).
    width : int
        ``d``, SIREN layer width.
    depth : int
        ``L_t``, number of modulated SIREN layers.
    num_fourier : int or None
        ``F``, Fourier frequencies (``kappa`` has ``2F`` entries); the seed uses ``F = d``.
    sigma_b : float
        Standard deviation of the entries of ``B``, cycles per unit coordinate.
    omega_0 : float
        SIREN frequency factor.
    domain : {"angular_delay", "space_frequency"}
        What the coordinates index.
    fourier_seed : int
        Seed of ``B``.
    inner_lr : float
        ``alpha`` (initial value when learned).
    learn_inner_lr : bool
        Meta-learn one ``alpha`` per codeword entry (Meta-SGD).
    output_scale : float
        Scale of the initial output weights relative to SIREN's ``sqrt(6 / d)``.
    center : float
        The normalised zero CSI: 0.5 (unit-interval normaliser, sigmoid-like head) or 0
        (standard normaliser, linear head).
    """

    def __init__(self, num_rows: int, num_antennas: int, codeword_length: int, width: int = 32,
                 depth: int = 3, num_fourier: int | None = None, sigma_b: float = 10.0,
                 omega_0: float = 30.0, domain: str = "space_frequency", fourier_seed: int = 0,
                 inner_lr: float = 0.1, learn_inner_lr: bool = True, output_scale: float = 0.1,
                 center: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if domain not in DOMAINS:
            raise LinksimInputError(f"domain must be one of {DOMAINS}, got {domain!r}")
        self.num_rows, self.num_antennas = int(num_rows), int(num_antennas)
        self.codeword_length = int(codeword_length)
        self.width, self.depth = int(width), int(depth)
        self.num_fourier = int(width if num_fourier is None else num_fourier)
        self.sigma_b, self.omega_0 = float(sigma_b), float(omega_0)
        self.domain, self.fourier_seed = domain, int(fourier_seed)
        self.inner_lr, self.learn_inner_lr = float(inner_lr), bool(learn_inner_lr)
        self.output_scale = float(output_scale)
        self.center = float(center)
        self.coords = coordinate_grid(self.num_rows, self.num_antennas)
        r, c = sf_to_ad_matrices(self.num_rows, self.num_antennas)
        # (real, imag) float32 pairs: R, C and their conjugate transposes
        self._to_ad = ((r.real, r.imag), (c.real, c.imag))
        self._from_ad = ((r.real.T, -r.imag.T), (c.real.T, -c.imag.T))
        self._to_ad, self._from_ad = (
            tuple(tuple(np.asarray(m, np.float32) for m in pair) for pair in mats)
            for mats in (self._to_ad, self._from_ad))

    def get_config(self):
        return {**super().get_config(), "num_rows": self.num_rows,
                "num_antennas": self.num_antennas, "codeword_length": self.codeword_length,
                "width": self.width, "depth": self.depth, "num_fourier": self.num_fourier,
                "sigma_b": self.sigma_b, "omega_0": self.omega_0, "domain": self.domain,
                "fourier_seed": self.fourier_seed, "inner_lr": self.inner_lr,
                "learn_inner_lr": self.learn_inner_lr, "output_scale": self.output_scale,
                "center": self.center}

    def build(self, input_shape=None):
        d, f, w0 = self.width, self.num_fourier, self.omega_0
        if f > 0:
            b = draw_fourier_matrix(f, self.sigma_b, self.fourier_seed)
            self.fourier_b = self.add_weight(shape=(f, 2), name="fourier_b", trainable=False,
                                             initializer=keras.initializers.Constant(b))
        self.rms = self.add_weight(shape=(), name="target_rms", trainable=False,
                                   initializer="ones")
        self.kernels, self.biases = [], []
        for k in range(self.depth):
            fan_in = (2 * f if f > 0 else 2) if k == 0 else d
            lim = 1.0 / fan_in if k == 0 else math.sqrt(6.0 / d) / w0  # SIREN initialisation
            self.kernels.append(self.add_weight(
                shape=(fan_in, d), name=f"siren{k + 1}_kernel",
                initializer=keras.initializers.RandomUniform(-lim, lim)))
            lim_b = 1.0 / math.sqrt(fan_in)
            self.biases.append(self.add_weight(
                shape=(d,), name=f"siren{k + 1}_bias",
                initializer=keras.initializers.RandomUniform(-lim_b, lim_b)))
        # modulation network: M -> [gamma_1, eta_1, ..., gamma_L, eta_L], each of width d
        self.mod_kernel = self.add_weight(
            shape=(self.codeword_length, 2 * self.depth * d), name="modulation_kernel",
            initializer=keras.initializers.RandomNormal(
                stddev=1.0 / math.sqrt(self.codeword_length)))
        gamma_eta = np.tile(np.concatenate([np.ones(d), np.zeros(d)]), self.depth)
        self.mod_bias = self.add_weight(
            shape=(2 * self.depth * d,), name="modulation_bias",
            initializer=keras.initializers.Constant(gamma_eta.astype(np.float32)))
        lim_out = self.output_scale * math.sqrt(6.0 / d)
        self.out_kernel = self.add_weight(
            shape=(d, 2), name="out_kernel",
            initializer=keras.initializers.RandomUniform(-lim_out, lim_out))
        self.out_bias = self.add_weight(shape=(2,), name="out_bias", initializer="zeros")
        self.alpha = self.add_weight(
            shape=(self.codeword_length,), name="inner_lr", trainable=self.learn_inner_lr,
            initializer=keras.initializers.Constant(self.inner_lr))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_rows, self.num_antennas, 2)

    # -- the network, in its own domain and unit-RMS units -------------------------------------
    def first_layer(self):
        """``W_1 kappa(c) + b_1`` on all ``P = Na Nt`` coordinates, ``[P, d]``: the same for
        every sample."""
        coords = ops.convert_to_tensor(self.coords)
        kappa = 2.0 * coords - 1.0 if self.num_fourier == 0 else \
            fourier_features(coords, self.fourier_b)
        return ops.matmul(kappa, self.kernels[0]) + self.biases[0]

    def modulations(self, z):
        """Codewords ``[b, M]`` -> FiLM ``omega_0 gamma`` and ``omega_0 eta``, each
        ``[b, L_t, 1, d]``."""
        phi = self.omega_0 * (ops.matmul(z, self.mod_kernel) + self.mod_bias)
        phi = ops.reshape(phi, (-1, self.depth, 2, 1, self.width))
        return phi[:, :, 0], phi[:, :, 1]

    def native(self, z):
        """``f_theta(c, M)`` on all coordinates: ``[b, P, 2]``, unit-RMS units."""
        gamma, eta = self.modulations(z)
        f = ops.sin(gamma[:, 0] * self.first_layer() + eta[:, 0])          # [b, P, d]
        for k in range(1, self.depth):
            f = ops.sin(gamma[:, k] * (ops.matmul(f, self.kernels[k]) + self.biases[k])
                        + eta[:, k])
        return ops.matmul(f, self.out_kernel) + self.out_bias

    def to_angular_delay(self, o):
        """Network output ``[b, P, 2]`` -> angular-delay ``[b, Na, Nt, 2]`` (unitary)."""
        o = ops.reshape(o, (-1, self.num_rows, self.num_antennas, 2))
        if self.domain == "angular_delay":
            return o
        left, right = self._to_ad
        return complex_sandwich(left, right, o)

    def targets(self, x):
        """Normalised CSI ``[b, Na, Nt, 2]`` -> fitting targets ``y [b, P, 2]`` in the
        network's domain, unit-RMS units (inverse of :meth:`call` without the clipping)."""
        y = (ops.convert_to_tensor(x) - self.center) / self.rms
        if self.domain == "space_frequency":
            left, right = self._from_ad
            y = complex_sandwich(left, right, y)
        return ops.reshape(y, (-1, self.num_rows * self.num_antennas, 2))

    def call(self, z):
        return self.center + self.rms * self.to_angular_delay(self.native(z))

    # -- complexity (linksim.complexity convention: multiply-accumulates of matmuls only) ----
    def macs_by_part(self) -> dict[str, int]:
        """Multiply-accumulates of one evaluation on all ``P = Na Nt`` coordinates (one CSI).

        ``fourier`` (``B c``) and ``siren_first`` (``W_1 kappa``) do not depend on the codeword
        and could be cached; they are counted, as in the seed's decoding count.
        """
        p, d, f = self.num_rows * self.num_antennas, self.width, self.num_fourier
        na, nt = self.num_rows, self.num_antennas
        return {"fourier": p * f * 2, "siren_first": p * (2 * f if f > 0 else 2) * d,
                "siren_hidden": (self.depth - 1) * p * d * d, "output": p * d * 2,
                "modulation": self.codeword_length * 2 * self.depth * d,
                "domain_transform": 4 * (na * na * nt + na * nt * nt)
                if self.domain == "space_frequency" else 0}

    def count_macs(self) -> int:
        """Multiply-accumulates of decoding one CSI (Algorithm 3)."""
        return sum(self.macs_by_part().values())



# -- the codec ------------------------------------------------------------------------------
@register_codec("csiinr")
class CsiInr(Codec):
    """CSI-INR: meta-learned modulations of a shared SIREN base network (seed 003).

    Parameters
    ----------
    compression_ratio, num_rows, num_antennas : int
        As for every codec; ``M = 2 Na Nt / CR`` is the modulation length.
    width, depth, num_fourier, sigma_b, omega_0, domain, fourier_seed, output_scale
        Base network, see :class:`ModulatedSiren` (seed Table II: ``d = 512``, ``L_t = 10``,
        ``omega_0 = 50``, ``sigma_b = 10``, space-frequency).
    inner_steps : int
        ``s``, inner steps in meta-training.
    inference_steps : int or None
        ``s_in``, inner steps at the UE; ``None``: same as ``inner_steps``. Settable on a
        trained codec (attribute of the same name).
    inner_lr : float
        ``alpha`` (seed: ``1e-2``).
    learn_inner_lr : bool
        Meta-learn ``alpha`` per codeword entry (second order only).
    second_order : bool
        MAML through the inner steps (``True``) or first order.
    target_rms : float
        RMS of ``x_n - c``; set by :meth:`fit` from the training set.
    """

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 width: int = 32, depth: int = 3, num_fourier: int | None = None,
                 sigma_b: float = 10.0, omega_0: float = 30.0, domain: str = "space_frequency",
                 fourier_seed: int = 0, inner_steps: int = 3, inference_steps: int | None = None,
                 inner_lr: float = 0.1, learn_inner_lr: bool = True, output_scale: float = 0.1,
                 second_order: bool = True, target_rms: float = 1.0,
                 output_head: str | None = None):
        for key, value in (("width", width), ("depth", depth), ("inner_steps", inner_steps)):
            if int(value) < 1:
                raise LinksimInputError(f"csiinr option {key} must be >= 1, got {value}")
        if domain not in DOMAINS:
            raise LinksimInputError(f"csiinr option domain must be one of {DOMAINS}, "
                                    f"got {domain!r}")
        self.net_options = {"width": int(width), "depth": int(depth),
                            "num_fourier": int(width if num_fourier is None else num_fourier),
                            "sigma_b": float(sigma_b),
                            "omega_0": float(omega_0), "domain": domain,
                            "fourier_seed": int(fourier_seed), "inner_lr": float(inner_lr),
                            "learn_inner_lr": bool(learn_inner_lr),
                            "output_scale": float(output_scale)}
        self.inner_steps = int(inner_steps)
        self.second_order = bool(second_order)
        self._inr: ModulatedSiren | None = None
        self._fit_layer: ModulationFit | None = None
        self._inference_steps = self.inner_steps
        super().__init__(compression_ratio, num_rows, num_antennas, output_head)
        self.inference_steps = self.inner_steps if inference_steps is None else inference_steps
        self.inr.rms.assign(float(target_rms))

    # -- architecture -------------------------------------------------------------------------
    @property
    def inr(self) -> ModulatedSiren:
        """The shared base network (a layer of both :attr:`decoder` and :attr:`encoder`)."""
        if self._inr is None:
            self._inr = ModulatedSiren(self.num_rows, self.num_antennas, self.codeword_length,
                                       name="base_network", center=self.center,
                                       **self.net_options)
            self._inr.build((None, self.codeword_length))
        return self._inr

    def build_decoder(self) -> keras.Model:
        """BS (Algorithm 3): ``[b, M] -> [b, Na, Nt, 2]``, clipped to [0, 1] with the sigmoid
        head (like the sigmoid of the CNN decoders), unclipped with the linear head."""
        z = keras.Input((self.codeword_length,), name="codeword")
        x = self.inr(z)
        if self.output_head == "sigmoid":
            x = keras.layers.ReLU(max_value=1.0, name="clip01")(x)
        return keras.Model(z, x, name="csiinr_decoder")

    def build_encoder(self) -> keras.Model:
        """UE (Algorithm 2): ``[b, Na, Nt, 2] -> [b, M]`` by ``inference_steps`` steps through
        the decoder's base network (shared weights)."""
        x = keras.Input(self.input_shape, name="csi")
        self._fit_layer = ModulationFit(self.inr, self._inference_steps, self.second_order,
                                        name="modulation_fit")
        return keras.Model(x, self._fit_layer(x), name="csiinr_encoder")

    @property
    def inference_steps(self) -> int:
        """``s_in``, gradient steps at the UE (Algorithm 2); settable on a trained codec."""
        return self._inference_steps

    @inference_steps.setter
    def inference_steps(self, value: int) -> None:
        if int(value) < 0:
            raise LinksimInputError(f"csiinr inference_steps must be >= 0, got {value}")
        self._inference_steps = int(value)
        if self._fit_layer is not None:
            self._fit_layer.steps = self._inference_steps

    def config(self) -> dict:
        return {**super().config(), **self.net_options, "inner_steps": self.inner_steps,
                "inference_steps": self.inference_steps, "second_order": self.second_order,
                "target_rms": self.target_rms}

    @property
    def target_rms(self) -> float:
        """RMS of ``x_n - center`` on the training set (the network's unit)."""
        return float(keras.ops.convert_to_numpy(self.inr.rms))

    # -- persistence --------------------------------------------------------------------------
    def save_models(self, directory) -> None:
        """Only the BS model (``decoder.keras``): the UE side is the same base network."""
        self.decoder.save(directory / "decoder.keras")

    def load_models(self, directory) -> None:
        """Weights of ``decoder.keras`` into this codec's base network (shared by the UE)."""
        self.decoder.load_weights(directory / "decoder.keras")

    # -- complexity ---------------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        """UE and BS both hold the base and modulation networks (plus the fixed ``B``,
        ``alpha`` and ``rms``)."""
        n = int(self.decoder.count_params())
        return {"ue_params": n, "bs_params": n}

    def base_network_counts(self) -> dict[str, int]:
        """Parameter counts by part and multiply-accumulates per CSI.

        Returns
        -------
        dict
            ``base_params`` (SIREN and output layers), ``modulation_params`` (``W_mod``,
            ``b_mod``), ``fixed_params`` (``B``, ``alpha``, ``rms``), ``decode_macs`` (BS, one
            CSI), ``ue_step_macs`` (one inner step, 3 x decoding by convention), ``ue_macs``
            (``inference_steps`` steps).
        """
        inr = self.inr
        sizes = {w.path.split("/")[-1]: int(np.prod(w.shape)) for w in inr.weights}
        modulation = sizes["modulation_kernel"] + sizes["modulation_bias"]
        fixed = sizes.get("fourier_b", 0) + sizes["inner_lr"] + 1
        decode = inr.count_macs()
        return {"base_params": sum(sizes.values()) - modulation - fixed,
                "modulation_params": modulation, "fixed_params": fixed, "decode_macs": decode,
                "ue_step_macs": ModulationFit.STEP_COST * decode,
                "ue_macs": self.inference_steps * ModulationFit.STEP_COST * decode}

    # -- inference ----------------------------------------------------------------------------
    def modulate(self, x: np.ndarray, steps: int | None = None, batch_size: int = 256
                 ) -> np.ndarray:
        """UE (Algorithm 2): normalised CSI ``[b, Na, Nt, 2]`` -> codewords ``[b, M]`` float32
        after ``steps`` inner steps (default :attr:`inference_steps`)."""
        torch = torch_backend()
        steps = self.inference_steps if steps is None else int(steps)
        out = [np.zeros((0, self.codeword_length), np.float32)]
        with on_weights_device(self.inr.weights):
            for i in range(0, len(x), batch_size):
                with torch.no_grad():
                    y = self.inr.targets(np.asarray(x[i:i + batch_size], np.float32))
                out.append(inner_loop(self.inr, y, steps).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def encode(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """UE: ``inference_steps`` gradient steps per CSI; ``[b, Na, Nt, 2] -> [b, M]``."""
        return self.modulate(x, batch_size=batch_size)

    def decode(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """BS: evaluate the modulated base network on all coordinates (clipped to
        :attr:`output_bounds`)."""
        return np.clip(self.reconstruct(z, batch_size), *self.output_bounds)

    def reconstruct(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Unclipped BS output ``[b, Na, Nt, 2]`` float32 for codewords ``[b, M]``."""
        torch = torch_backend()
        out = [np.zeros((0, *self.input_shape), np.float32)]
        device = weights_device(self.inr.weights)
        with torch.no_grad(), on_weights_device(self.inr.weights):
            for i in range(0, len(z), batch_size):
                zb = as_tensor(z[i:i + batch_size], device)
                out.append(keras.ops.convert_to_numpy(self.inr(zb)))
        return np.concatenate(out).astype(np.float32)

    def fitting_loss(self, x: np.ndarray, steps: int | None = None,
                     batch_size: int = 256) -> np.ndarray:
        """Per-sample fitting loss after ``steps`` UE steps (default :attr:`inference_steps`),
        ``[b]``: the mean squared error of the unclipped output in unit-RMS units."""
        z = self.modulate(x, steps, batch_size)
        err = (self.reconstruct(z, batch_size) - x) / self.target_rms
        return np.mean(err.astype(np.float64) ** 2, axis=(1, 2, 3))

    # -- meta-training (Algorithm 1) -----------------------------------------------------------
    def fit(self, x_train: np.ndarray, x_val: np.ndarray, settings, progress: bool = True,
            train_link=None) -> list[dict]:
        """Meta-learning (seed Algorithm 1) on normalised CSI ``[N, Na, Nt, 2]``.

        Per batch: ``inner_steps`` steps on the codewords from ``M_0 = 0`` (vectorised over
        the batch), then one Adam step on the base and modulation networks (and ``alpha`` with
        ``learn_inner_lr``) on the mean fitting loss at ``M_s``. Epochs, batch size, learning
        rate, schedule and seed come from ``settings`` (:class:`linksim.learning.training.TrainSettings`);
        the weights with the lowest validation loss (all coordinates, ``inner_steps`` steps)
        are kept. A training-time feedback link is not supported: the codeword is quantised
        after training (seed section III-C).

        Returns
        -------
        list of dict
            Per epoch: ``epoch``, ``loss`` and ``val_loss`` (MSE in the normalised domain, as
            the other codecs log it), ``lr``, ``seconds``.
        """
        if train_link is not None:
            raise LinksimInputError("csiinr: a training-time feedback link is not supported")
        self.history = meta_train(self, x_train, x_val, settings, progress)
        return self.history

    def meta_loss(self, y):
        """Outer loss of one batch of targets ``y [b, P, 2]``: the mean fitting loss at
        ``M_s`` (a torch scalar with its graph; :func:`~linksim.codecs.csiinr_meta.meta_loss`)."""
        return meta_loss(self, y)
