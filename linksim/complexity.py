"""Computational and memory complexity of codecs: parameters, multiply-accumulates, weight bits.

Counting convention
-------------------
The papers' "FLOPs" are multiply-accumulates (seed 004 Table I: "total number of 'multiply then
add' operation"), and only the convolutions and fully connected layers are counted (seed 004:
"the flops counting ... ignores the batch normalization"). :func:`count_macs` does the same:

* ``Conv1D/2D/3D``: ``prod(kernel) * (c_in / groups) * c_out * prod(output spatial size)``;
* ``DepthwiseConv1D/2D``: ``prod(kernel) * c_in * depth_multiplier * prod(output spatial)``;
* ``Conv1D/2D/3DTranspose``: ``prod(kernel) * c_in * c_out * prod(input spatial size)``;
* ``Dense``: ``in * out`` per input vector (times the non-batch leading dimensions, if any);
* everything else counts 0: biases, batch norm, activations (incl. PReLU), additions,
  concatenation, reshapes, pooling.

All counts are per sample (batch size 1). This reproduces every published number exactly
(``Na = Nt = 32``, CR 4 unless noted; seed 004 Tables I, II, IV):

=========  ===========  =============  ===========  =============
network    UE MACs      published      BS MACs      published
=========  ===========  =============  ===========  =============
CsiNet     1,085,440    1.09M (1085K)  4,329,472    4.33M
CsiNet 8     561,152    561K
CsiNet 16    299,008    299K
CsiNet 32    167,936    168K
CRNet      1,204,224    1.20M          3,917,824    3.92M
=========  ===========  =============  ===========  =============

The share of the FC layer in the UE MACs is 96.60 % for CsiNet and 87.07 % for CRNet, the
published seed 004 Table II values, and the whole auto-encoders give CsiNet 5.41M and CRNet
5.12M, the CLLWCsiNet Table III values. Counting the batch norm (one multiply-add per element)
and the biases as well would give CsiNet BS 4.44M, off the published 4.33M.

The CLLWCsiNet paper's Table I (UE side, CR4) uses a wider convention: CsiNet 1094K, CRNet 1235K.
These are reproduced exactly by ``count_macs + elementwise_ops`` (:func:`elementwise_ops`: 2
operations per batch-norm output element, 1 per activation output element, 1 per bias
element): CsiNet 1,085,440 + 8,704 = 1,094,144, CRNet 1,204,224 + 31,232 = 1,235,456. It is
not the default because the papers that introduced the numbers (seeds 002, 004) count MACs
only.

Memory
------
``memory_bits`` sums over all weights, trainable or not (batch-norm moving statistics
included, as in ``count_params``), ``bits of the weight's dtype * size`` (32 for float32).
Binary weights: a layer with the attribute ``binary = True`` stores its weights whose name
ends in ``kernel`` at 1 bit each (seed 004 eq. 9: ``W_b = alpha sign(W)``); its other weights
(bias) stay at full precision.

Custom layers: a layer with a method ``count_macs()`` returning an int is counted by it. A layer
with a weight matrix (rank >= 2) that is neither a known type nor has that method raises
:class:`UnsupportedLayerError` rather than silently counting 0.
"""

from __future__ import annotations

import math

import keras
import numpy as np

#: Layers with weights that do no multiply-accumulate under the papers' convention.
_ZERO_MAC_TYPES = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                   keras.layers.GroupNormalization, keras.layers.PReLU, keras.layers.Embedding)
_CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_DEPTHWISE_TYPES = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_TRANSPOSE_TYPES = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                    keras.layers.Conv3DTranspose)
_ACTIVATION_TYPES = (keras.layers.Activation, keras.layers.LeakyReLU, keras.layers.ReLU,
                     keras.layers.PReLU, keras.layers.ELU, keras.layers.Softmax)


class UnsupportedLayerError(ValueError):
    """A layer with weights whose multiply-accumulates this module does not know how to count."""


# -- multiply-accumulates ----------------------------------------------------------------------
def _spatial_and_channels(shape, data_format: str) -> tuple[int, int]:
    """``(prod(spatial dims), channels)`` of a symbolic shape ``[b, *spatial, c]`` (or c first)."""
    dims = list(shape[1:])
    channels = dims.pop(-1 if data_format == "channels_last" else 0)
    return math.prod(dims), int(channels)


def _conv_macs(layer) -> int:
    out_spatial, c_out = _spatial_and_channels(layer.output.shape, layer.data_format)
    _, c_in = _spatial_and_channels(layer.input.shape, layer.data_format)
    return math.prod(layer.kernel_size) * (c_in // layer.groups) * c_out * out_spatial


def _depthwise_macs(layer) -> int:
    out_spatial, c_out = _spatial_and_channels(layer.output.shape, layer.data_format)
    return math.prod(layer.kernel_size) * c_out * out_spatial  # c_out = c_in * depth_multiplier


def _transpose_macs(layer) -> int:
    in_spatial, c_in = _spatial_and_channels(layer.input.shape, layer.data_format)
    _, c_out = _spatial_and_channels(layer.output.shape, layer.data_format)
    return math.prod(layer.kernel_size) * c_in * c_out * in_spatial


def _dense_macs(layer) -> int:
    shape = layer.input.shape  # [b, ..., in]
    return math.prod(shape[1:-1]) * int(shape[-1]) * layer.units


def layer_macs(layer) -> int:
    """Multiply-accumulates of one call of a (non-model) ``layer`` on one sample.

    Raises
    ------
    UnsupportedLayerError
        The layer has a weight matrix but no known counting rule and no ``count_macs()``.
    """
    if callable(getattr(layer, "count_macs", None)):
        return int(layer.count_macs())
    if isinstance(layer, _CONV_TYPES):
        return _conv_macs(layer)
    if isinstance(layer, _DEPTHWISE_TYPES):
        return _depthwise_macs(layer)
    if isinstance(layer, _TRANSPOSE_TYPES):
        return _transpose_macs(layer)
    if isinstance(layer, keras.layers.Dense):
        return _dense_macs(layer)
    if isinstance(layer, _ZERO_MAC_TYPES) or all(len(w.shape) < 2 for w in layer.weights):
        return 0
    raise UnsupportedLayerError(
        f"layer {layer.name!r} ({type(layer).__name__}) has a weight matrix but no MAC-counting "
        "rule; give it a count_macs() method")


def leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model``, nested models expanded recursively (input layers excluded)."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(leaf_layers(layer))
        elif not isinstance(layer, keras.layers.InputLayer):
            out.append(layer)
    return out


def macs_by_type(model: keras.Model) -> dict[str, int]:
    """Multiply-accumulates per sample by layer class name, e.g. ``{"Conv2D": .., "Dense": ..}``.

    Only layer types with a non-zero count appear. A layer called several times inside the same
    model is counted once (Keras keeps the shapes of its first call only).
    """
    totals: dict[str, int] = {}
    for layer in leaf_layers(model):
        macs = layer_macs(layer)
        if macs:
            key = type(layer).__name__
            totals[key] = totals.get(key, 0) + macs
    return totals


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates (the papers' "FLOPs") of one forward pass of ``model`` on one sample."""
    return sum(macs_by_type(model).values())


def _has_activation(layer) -> bool:
    """An activation layer, or a conv/dense layer with a non-linear ``activation`` argument."""
    activation = getattr(layer, "activation", None)
    if isinstance(layer, keras.layers.Activation):  # Activation("linear") is an identity
        return activation is not keras.activations.linear
    if isinstance(layer, _ACTIVATION_TYPES):
        return True
    return activation is not None and activation is not keras.activations.linear


def elementwise_ops(model: keras.Model) -> int:
    """Element-wise operations per sample not in :func:`count_macs` (CLLWCsiNet convention).

    2 per batch-norm output element (scale and shift), 1 per activation output element, 1 per
    bias element (output element of a conv/dense layer with a bias). Residual additions are
    not counted.
    """
    ops = 0
    for layer in leaf_layers(model):
        size = math.prod(layer.output.shape[1:])
        ops += 2 * size if isinstance(layer, keras.layers.BatchNormalization) else 0
        ops += size if _has_activation(layer) else 0
        ops += size if getattr(layer, "use_bias", False) else 0
    return ops


# -- memory -----------------------------------------------------------------------------------
def _is_binary_kernel(layer, weight) -> bool:
    return bool(getattr(layer, "binary", False)) and weight.name.endswith("kernel")


def layer_memory_bits(layer) -> int:
    """Bits to store the weights of ``layer``: dtype width each, 1 for binary kernels."""
    bits = 0
    for w in layer.weights:
        width = 1 if _is_binary_kernel(layer, w) else 8 * np.dtype(w.dtype).itemsize
        bits += width * math.prod(w.shape)
    return bits


def memory_bits(model: keras.Model) -> int:
    """Bits to store all weights of ``model`` (trainable and not; see the module docstring)."""
    return sum(layer_memory_bits(layer) for layer in leaf_layers(model))


# -- codecs -----------------------------------------------------------------------------------
def complexity(codec) -> dict[str, int]:
    """Complexity of a :class:`~linksim.codecs.Codec` at the UE (encoder) and the BS (decoder).

    Returns
    -------
    dict
        ``ue_params``, ``bs_params`` (numbers of weights, as ``Codec.parameter_counts``),
        ``ue_macs``, ``bs_macs`` (multiply-accumulates per CSI sample), ``ue_memory_bits``,
        ``bs_memory_bits`` (weight storage in bits).
    """
    out = dict(codec.parameter_counts())
    for side, model in (("ue", codec.encoder), ("bs", codec.decoder)):
        out[f"{side}_macs"] = count_macs(model)
        out[f"{side}_memory_bits"] = memory_bits(model)
    return out
