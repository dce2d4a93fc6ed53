"""Binary fully connected layer (BCsiNet, seed 004 Sec. III-B/C; BACRNet, seed 002).

Forward pass with the scaled binary weight of seed 004 eq. (9)

    W_b = alpha * sign(W),    alpha = ||W||_1 / (m n)   (one positive scale per layer),

the bias left in float. The float weights ``W`` are the layer's trainable "shadow" weights: the
optimiser updates them, the forward pass only ever sees ``W_b``.

Gradient (seed 004 eq. (10)-(11)): the derivative of ``sign`` is replaced by the gate
``1{|w| < 1}`` (the straight-through estimator of BinaryConnect / XNOR-Net, refs. [18], [19] of
the seed; eq. (10) prints ``x`` where those references have ``1``, we follow the references), and
``alpha`` is differentiated as the mean of ``|W|``. Automatic differentiation of
``alpha(W) * ste_sign(W)`` then gives ``dC/dW = alpha 1{|W|<1} dC/dW_b + sign(W)/(mn) sum(dC/dW_b
* sign(W))``, the two terms of eq. (11).

Deployment (seed 004 eq. (12)): ``y = alpha (B x) + b`` with ``B = sign(W)`` in {-1, +1}: the
matrix product needs additions only and one multiplication by ``alpha`` per output. Hence
:meth:`BinaryDense.count_macs` returns ``units`` (the multiplications, as the paper counts "mul"),
and :func:`linksim.complexity.memory_bits` stores the kernel at 1 bit per weight (attribute
``binary = True``). :func:`binarized_copy` replaces every binary layer of a trained model by a
plain ``Dense`` holding ``alpha sign(W)``: the exported encoder contains only the two values
``+alpha`` and ``-alpha`` per layer.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def ste_sign(w):
    """``sign(w)`` forward (+1 at 0), gated straight-through gradient ``1{|w| < 1}`` backward."""
    clipped = ops.clip(w, -1.0, 1.0)
    signs = ops.where(w >= 0, 1.0, -1.0)
    return clipped + ops.stop_gradient(signs - clipped)


@keras.saving.register_keras_serializable(package="linksim")
class BinaryDense(keras.layers.Dense):
    """Fully connected layer with scaled binary weights ``alpha sign(W)``, float bias.

    Same arguments as ``keras.layers.Dense``. Input ``[b, ..., n]``, output ``[b, ..., units]``.
    """

    binary = True

    def binary_kernel(self):
        """``alpha * ste_sign(W)``: the weight the forward pass uses, ``[n, units]``."""
        return ops.mean(ops.abs(self.kernel)) * ste_sign(self.kernel)

    def call(self, inputs):
        y = ops.matmul(inputs, self.binary_kernel())
        if self.use_bias:
            y = ops.add(y, self.bias)
        return self.activation(y) if self.activation is not None else y

    def torch_function(self):
        """The forward pass as a PyTorch function (for :class:`linksim.learning.torch_graph.TorchProgram`):
        a dense layer whose weight is :meth:`binary_kernel`, recomputed every call."""
        from linksim.learning.torch_graph import dense_function

        return dense_function(self, weight=self.binary_kernel)

    def count_macs(self) -> int:
        """Multiplications per sample: one by ``alpha`` per output (``B x`` is additions only)."""
        shape = self.input.shape
        return int(np.prod(shape[1:-1], dtype=np.int64)) * self.units

    def alpha_and_signs(self) -> tuple[float, np.ndarray]:
        """``(alpha, sign(W))`` of the current float weights; ``sign`` as int8 ``[n, units]``."""
        w = keras.ops.convert_to_numpy(self.kernel)
        signs = np.where(w >= 0, 1, -1).astype(np.int8)
        return float(np.mean(np.abs(w))), signs


def binary_layers(model: keras.Model) -> list[BinaryDense]:
    """The :class:`BinaryDense` layers of ``model`` (nested models included)."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(binary_layers(layer))
        elif isinstance(layer, BinaryDense):
            out.append(layer)
    return out


def binarized_copy(model: keras.Model) -> keras.Model:
    """Copy of a functional ``model`` whose :class:`BinaryDense` layers are plain ``Dense`` layers
    holding ``alpha sign(W)`` (two values per layer) and the trained bias: the deployable
    encoder of seed 004 Algorithm 1 step "inference". Outputs equal ``model``'s.
    """

    def clone(layer):
        if isinstance(layer, BinaryDense):
            cfg = layer.get_config()
            return keras.layers.Dense.from_config(cfg)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for src, dst in zip(model.layers, copy.layers):
        if isinstance(src, BinaryDense):
            alpha, signs = src.alpha_and_signs()
            weights = [alpha * signs.astype(np.float32)]
            if src.use_bias:
                weights.append(keras.ops.convert_to_numpy(src.bias))
            dst.set_weights(weights)
        else:
            dst.set_weights(src.get_weights())
    return copy
