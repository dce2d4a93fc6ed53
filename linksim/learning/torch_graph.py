"""A Keras functional model as one plain PyTorch function: the PyTorch training engine's model.

Keras' call path costs, per layer and step, ``Layer.__call__`` (scopes, dtype and shape
checks), the functional graph walk and ``keras.ops`` dispatch (a CRNet training step through
``model(x)`` takes 1.6x its plain PyTorch twin's time, through this module 0.8x:
``benchmarks/bench_step.py``). Keras' PyTorch backend also copies every Conv2D input NHWC ->
NCHW -> channels-last and builds batch norm from a dozen elementwise operations.
:class:`TorchProgram` walks the functional graph once and records, per layer, a pure PyTorch
function of the layer's variables: the very tensors the Keras variables hold
(``variable.value``; Keras assigns in place), so the optimizer's in-place updates and
``set_weights`` are seen by the program and the model alike. The training step is then a loop
over these functions (:meth:`TorchProgram.mse`).

Tensors keep Keras' layout, channels last ``[b, H, W, C]``; a convolution sees an NCHW view of
the same memory (PyTorch's channels-last format, fastest for these networks' convolutions), and
batch norm runs on that memory directly (:func:`_channels_last_batch_norm`). A convolution's
bias that only feeds a batch norm is skipped in training (its gradient is exactly zero; see
:meth:`TorchProgram._fold_biases_into_batch_norms`).

Which layers have a PyTorch form here: ``Conv2D`` (channels last, 'valid' or stride-1 odd-kernel
'same' padding), ``Dense``, ``BatchNormalization``, ``LeakyReLU``, ``PReLU``, ``ReLU`` (default
arguments), ``Activation`` (linear, relu, sigmoid, tanh), ``Add``, ``Subtract``,
``Concatenate``, ``Reshape``, ``Flatten``, ``Permute``, nested functional models, and any layer
with a ``torch_function()`` method (see :class:`linksim.codecs.binary.BinaryDense`). The type
must match exactly: a subclass that overrides ``call`` is not assumed to compute what its base
does. Every other layer (a user's own, the training feedback links with their seeded noise) is
called through Keras, eagerly, within the same step: it computes and draws exactly as in
``model(x)``. :attr:`TorchProgram.eager_layers` names them.

Outputs, gradients and moving statistics equal a float64 Keras evaluation to float32 accuracy
(``tests/test_torch_graph.py``).
"""

from __future__ import annotations

import math

import keras

_REGULARIZERS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer")



class _Slot:
    """Placeholder for the value number ``key`` of a :class:`TorchProgram`."""

    __slots__ = ("key",)

    def __init__(self, key: int):
        self.key = key


def _fill(struct, values: dict):
    """``struct`` (nested lists, tuples, dicts) with every :class:`_Slot` replaced by its value."""
    if isinstance(struct, _Slot):
        return values[struct.key]
    if isinstance(struct, (list, tuple)):
        return type(struct)(_fill(s, values) for s in struct)
    if isinstance(struct, dict):
        return {k: _fill(v, values) for k, v in struct.items()}
    return struct


def _slots(struct) -> list[_Slot]:
    """The :class:`_Slot` objects of a nested structure, in order."""
    if isinstance(struct, _Slot):
        return [struct]
    if isinstance(struct, (list, tuple)):
        return [s for item in struct for s in _slots(item)]
    if isinstance(struct, dict):
        return [s for item in struct.values() for s in _slots(item)]
    return []


def torch_activation(fn):
    """PyTorch form of a Keras activation function, or ``None`` if there is none here."""
    import torch

    table = {keras.activations.linear: lambda x: x, keras.activations.relu: torch.relu,
             keras.activations.sigmoid: torch.sigmoid, keras.activations.tanh: torch.tanh}
    if fn is None:
        return table[keras.activations.linear]
    return table.get(fn)


def _conv2d(layer):
    import torch.nn.functional as F

    same_ok = (all(s == 1 for s in layer.strides) and all(k % 2 == 1 for k in layer.kernel_size))
    act = torch_activation(layer.activation)
    if (layer.data_format != "channels_last" or layer.lora_enabled or act is None
            or layer.padding not in ("valid", "same") or (layer.padding == "same" and not same_ok)):
        return None
    pad = ([d * (k - 1) // 2 for d, k in zip(layer.dilation_rate, layer.kernel_size)]
           if layer.padding == "same" else 0)
    kernel = layer.kernel.value
    bias = layer.bias.value if layer.use_bias else None
    strides, dilation, groups = tuple(layer.strides), tuple(layer.dilation_rate), layer.groups

    def conv2d(x, training, updates):
        w = kernel.permute(3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
        b = None if training and conv2d.bias_in_next_batch_norm else bias
        y = F.conv2d(x.movedim(-1, 1), w, b, strides, pad, dilation, groups)
        return act(y.movedim(1, -1))

    conv2d.bias = bias if layer.activation in (None, keras.activations.linear) else None
    conv2d.bias_in_next_batch_norm = False
    return conv2d


def dense_function(layer, weight=None):
    """PyTorch form of a ``Dense`` layer, or ``None``; ``weight`` (optional, no arguments) gives
    the matrix the forward pass multiplies by, recomputed every call (e.g.
    :meth:`linksim.codecs.binary.BinaryDense.binary_kernel`); default: the kernel itself."""
    import torch

    act = torch_activation(layer.activation)
    if layer.lora_enabled or act is None or getattr(layer, "quantization_mode", None):
        return None
    kernel = layer.kernel.value
    bias = layer.bias.value if layer.use_bias else None

    def dense(x, training, updates):
        w = kernel if weight is None else weight()
        if bias is not None and x.ndim == 2:
            return act(torch.addmm(bias, x, w))
        y = x @ w
        return act(y + bias if bias is not None else y)

    return dense


def _rows_of(m: int) -> int:
    """Rows folded together (a divisor of ``m``, at most 64) when a channels-last ``[m, C]``
    tensor is reduced over its rows as ``[m / k, k C]``."""
    return math.gcd(m, 64)


def _channels_last_batch_norm():
    """Training-mode batch norm of a channels-last tensor, as one autograd function
    ``f(x [b, ..., C], gamma [C] or None, beta [C] or None, eps) -> (y, mean [C], var [C])``
    (``var`` biased).

    Written for PyTorch's CPU kernels, whose own channels-last batch norm is slow for a few
    channels (and sums the batch mean naively in float32: ~2% of a standard deviation off on
    CSI-like batches, ``|mean| >> std``), while NCHW copies in and out cost as much as the batch
    norm itself. Here every pass runs on the channels-last memory seen as ``[m / k, k C]`` rows
    (per-channel vectors tiled ``k`` times), where reductions over rows and broadcasts are
    vectorised:

    * forward: shift by the first pixel's values ``s`` (batch norm is invariant to a per-channel
      shift; it makes the float32 sums free of cancellation), sums of ``x - s`` and its
      square, ``y = (x - s) scale + offset``;
    * backward: ``sum(dy)``, ``sum(dy (x - s))`` and ``dx = a dy + b (x - s) + c``.

    Against float64: y, mean, var, dx, dgamma within ~1e-6 (relative to their largest value);
    0.3-0.6 of the time of NCHW copies around ``native_batch_norm`` at 2-32 channels
    (``benchmarks/bench_step.py``; ``benchmarks/bench_training.py`` has the effect on whole
    codecs).
    """
    import torch

    class ChannelsLastBatchNorm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, gamma, beta, eps):
            c = x.shape[-1]
            m = x.numel() // c
            k = _rows_of(m)
            x2 = x.reshape(m // k, k * c)
            shift = x2[0, :c]
            xs = x2 - shift.repeat(k)
            mean_s = xs.sum(0).view(k, c).sum(0) / m
            var = torch.clamp((xs * xs).sum(0).view(k, c).sum(0) / m - mean_s * mean_s, min=0.0)
            invstd = torch.rsqrt(var + eps)
            scale = invstd if gamma is None else gamma * invstd
            offset = -mean_s * scale if beta is None else beta - mean_s * scale
            y = torch.addcmul(offset.repeat(k), xs, scale.repeat(k))
            ctx.save_for_backward(xs, gamma, mean_s, invstd)
            ctx.k = k
            return y.view(x.shape), mean_s + shift, var

        @staticmethod
        def backward(ctx, dy, dmean, dvar):
            xs, gamma, mean_s, invstd = ctx.saved_tensors
            k, c = ctx.k, mean_s.shape[0]
            m = xs.numel() // c
            d2 = dy.reshape(xs.shape)
            sum_dy = d2.sum(0).view(k, c).sum(0)
            sum_dy_xhat = invstd * ((d2 * xs).sum(0).view(k, c).sum(0) - mean_s * sum_dy)
            a = invstd if gamma is None else gamma * invstd
            b = -a * invstd * sum_dy_xhat / m
            c0 = -a * sum_dy / m - b * mean_s
            dx = torch.addcmul(torch.addcmul(c0.repeat(k), xs, b.repeat(k)), d2, a.repeat(k))
            return (dx.view(dy.shape), sum_dy_xhat if gamma is not None else None,
                    sum_dy if ctx.needs_input_grad[2] else None, None)

    return ChannelsLastBatchNorm.apply


def _batch_norm(layer):
    """Keras' batch norm: biased batch variance in training (:func:`_channels_last_batch_norm`),
    moving averages ``m <- momentum m + (1 - momentum) batch`` (returned as state updates),
    moving statistics in inference or when the layer is frozen.

    ``batch_norm.mean_offset`` (set by :class:`TorchProgram` when it drops the bias of the
    convolution before this layer) is added to the batch mean in the moving-average update.
    """
    import torch
    import torch.nn.functional as F

    if layer.renorm or layer.synchronized or layer.axis not in (-1, len(layer.input.shape) - 1):
        return None
    gamma = layer.gamma.value if layer.scale else None
    beta = layer.beta.value if layer.center else None
    moving_mean, moving_var = layer.moving_mean.value, layer.moving_variance.value
    eps, momentum, trainable = layer.epsilon, layer.momentum, layer.trainable
    normalise = _channels_last_batch_norm()

    def batch_norm(x, training, updates):
        if not (training and trainable):
            y = F.batch_norm(torch.movedim(x, -1, 1), moving_mean, moving_var, gamma, beta,
                             False, 0.0, eps)
            return torch.movedim(y, 1, -1)
        y, mean, var = normalise(x, gamma, beta, eps)
        with torch.no_grad():
            if batch_norm.mean_offset is not None:
                mean = mean + batch_norm.mean_offset
            updates.append(moving_mean * momentum + mean * (1 - momentum))
            updates.append(moving_var * momentum + var * (1 - momentum))
        return y

    batch_norm.state = ((moving_mean, moving_var) if trainable else ())
    batch_norm.mean_offset = None
    return batch_norm


def _leaky_relu(layer):
    import torch.nn.functional as F

    slope = float(layer.negative_slope)
    return lambda x, training, updates: F.leaky_relu(x, slope)


def _prelu(layer):
    import torch

    alpha = layer.alpha.value
    # Keras' formula (relu(x) - alpha relu(-x)), so gradients match at every point.
    return lambda x, training, updates: torch.relu(x) - alpha * torch.relu(-x)


def _relu(layer):
    import torch

    if layer.max_value is not None or layer.negative_slope != 0 or layer.threshold != 0:
        return None
    return lambda x, training, updates: torch.relu(x)


def _activation_layer(layer):
    act = torch_activation(layer.activation)
    return None if act is None else (lambda x, training, updates: act(x))


def _add(layer):
    def add(xs, training, updates):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y

    return add


def _subtract(layer):
    return lambda xs, training, updates: xs[0] - xs[1]


def _concatenate(layer):
    import torch

    axis = layer.axis
    return lambda xs, training, updates: torch.cat(list(xs), dim=axis)


def _reshape(layer):
    shape = tuple(layer.target_shape)
    return lambda x, training, updates: x.reshape((x.shape[0],) + shape)


def _flatten(layer):
    if layer.data_format != "channels_last":
        return None
    return lambda x, training, updates: x.reshape(x.shape[0], -1)


def _permute(layer):
    dims = (0,) + tuple(layer.dims)
    return lambda x, training, updates: x.permute(dims)


_BUILDERS = {
    keras.layers.Conv2D: _conv2d, keras.layers.Dense: dense_function,
    keras.layers.BatchNormalization: _batch_norm, keras.layers.LeakyReLU: _leaky_relu,
    keras.layers.PReLU: _prelu, keras.layers.ReLU: _relu,
    keras.layers.Activation: _activation_layer, keras.layers.Add: _add,
    keras.layers.Subtract: _subtract, keras.layers.Concatenate: _concatenate,
    keras.layers.Reshape: _reshape, keras.layers.Flatten: _flatten,
    keras.layers.Permute: _permute,
}


def _regularised(layer) -> bool:
    return any(getattr(layer, name, None) is not None for name in _REGULARIZERS)


def regularised_layers(model: keras.Model) -> list[str]:
    """Names of the layers of ``model`` (nested models included) that have a regularizer."""
    return [layer.name for layer in model._flatten_layers(include_self=False, recursive=True)
            if _regularised(layer)]


def torch_function(layer):
    """The PyTorch form ``f(inputs, training, updates) -> outputs`` of ``layer``, or ``None``.

    ``inputs`` is the layer's one input tensor, or the list of a merging layer; ``updates`` is a
    list to which the function appends the new values of its state (see
    :attr:`TorchProgram.state`). Layers with a non-float32 dtype policy, regularizers or an
    overridden ``call`` on the instance get ``None``.
    """
    if layer.dtype_policy.name != "float32" or "call" in vars(layer) or _regularised(layer):
        return None
    builder = _BUILDERS.get(type(layer))
    if builder is not None:
        return builder(layer)
    own = getattr(layer, "torch_function", None)
    return own() if callable(own) else None


def _eager(layer):
    """``layer`` called through Keras (a layer without a PyTorch form here)."""

    def eager(args, kwargs, training):
        return layer(*args, **{**kwargs, "training": training})

    return eager


class TorchProgram:
    """A Keras functional ``model`` as one PyTorch function of its inputs.

    Parameters
    ----------
    model : keras.Model
        A functional model (nested functional models are inlined).

    Attributes
    ----------
    eager_layers : list of str
        Names of the layers that run through Keras (no PyTorch form here).
    state : list of torch.Tensor
        The non-trainable tensors that a training call updates (batch-norm moving statistics), in
        the order of the values :meth:`__call__` returns for them.
    """

    def __init__(self, model: keras.Model):
        if not hasattr(model, "_nodes_by_depth"):
            raise TypeError(f"{model.name}: only functional Keras models can be lowered")
        self.steps: list[tuple] = []
        self.eager_layers: list[str] = []
        self.state: list = []
        self._count = 0
        self.input_keys = [self._new() for _ in model.inputs]
        self.output_keys = self._emit(model, self.input_keys)
        self._fold_biases_into_batch_norms()

    def _new(self) -> int:
        self._count += 1
        return self._count - 1

    def _emit(self, model: keras.Model, input_keys: list[int]) -> list[int]:
        """Record the steps of functional ``model`` fed by the values ``input_keys``; returns
        the keys of its outputs."""
        slots = {id(t): _Slot(k) for t, k in zip(model.inputs, input_keys)}
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                op = node.operation
                if not op or node.is_input or any(id(t) not in slots for t in node.input_tensors):
                    continue
                args, kwargs = node.arguments.fill_in(slots)
                kwargs = {k: v for k, v in kwargs.items() if v is not None}  # e.g. mask=None
                if isinstance(op, keras.Model) and hasattr(op, "_nodes_by_depth") and not kwargs:
                    outs = self._emit(op, [s.key for s in _slots(args)])
                else:
                    outs = [self._new() for _ in node.outputs]
                    self._add_step(op, args, kwargs, outs)
                for t, k in zip(node.outputs, outs):
                    slots[id(t)] = _Slot(k)
        return [slots[id(t)].key for t in model.outputs]

    def _fold_biases_into_batch_norms(self) -> None:
        """Drop, in training, the bias of a convolution whose output only feeds a trainable
        batch norm (CsiNet, CRNet, ...: every ``Conv2D -> BatchNormalization`` pair).

        The batch norm subtracts the batch mean, so in training the bias changes neither the
        output nor the loss: its gradient is exactly zero (Keras computes rounding noise, ~1e-6
        of the kernel's gradient). Without it the convolution skips the bias add forward and the
        bias reduction backward, the optimizer leaves the bias as it is, and the batch norm adds
        it to the batch mean in its moving average, so that inference (moving statistics,
        bias included) computes what Keras computes.
        """
        consumers: dict[int, list] = {}
        for fn, args, kwargs, outs, lowered in self.steps:
            for slot in _slots(args) + _slots(kwargs):
                consumers.setdefault(slot.key, []).append(fn if lowered else None)
        for fn, args, kwargs, outs, lowered in self.steps:
            if not lowered or getattr(fn, "bias", None) is None or outs[0] in self.output_keys:
                continue
            users = consumers.get(outs[0], [])
            if (len(users) == 1 and hasattr(users[0], "mean_offset")
                    and users[0].state and users[0].mean_offset is None):
                fn.bias_in_next_batch_norm = True
                users[0].mean_offset = fn.bias

    def _add_step(self, layer, args, kwargs, outs: list[int]) -> None:
        fn = torch_function(layer) if len(args) == 1 and not kwargs else None
        if fn is None:
            self.steps.append((_eager(layer), args, kwargs, outs, False))
            self.eager_layers.append(layer.name)
        else:
            self.steps.append((fn, args[0], None, outs, True))
            self.state.extend(getattr(fn, "state", ()))

    def __call__(self, inputs: list, training: bool):
        """Run the model on ``inputs`` (torch tensors, one per model input).

        Returns
        -------
        outputs : list of torch.Tensor
            One per model output.
        state : list of torch.Tensor
            New values of :attr:`state` (training only; empty in inference).
        """
        values = dict(zip(self.input_keys, inputs))
        updates: list = []
        for fn, args, kwargs, outs, lowered in self.steps:
            if lowered:
                y = fn(_fill(args, values), training, updates)
            else:
                y = fn(_fill(args, values), _fill(kwargs, values), training)
            ys = y if isinstance(y, (list, tuple)) else [y]
            for k, v in zip(outs, ys):
                values[k] = v
        return [values[k] for k in self.output_keys], updates

    def mse(self, x):
        """Training-mode MSE of a one-input, one-output autoencoder on ``x`` (input and target),
        and the new values of :attr:`state`."""
        import torch

        (y,), updates = self([x], training=True)
        return torch.mean(torch.square(y - x)), updates
