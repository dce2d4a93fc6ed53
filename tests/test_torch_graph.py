"""The PyTorch form of a Keras model (``linksim.learning.torch_graph``), which the training engine runs:
outputs, gradients and moving statistics equal a float64 Keras evaluation for every built-in
codec; batch norm on CSI-like data; the dropped convolution bias; layers without a PyTorch form
run through Keras."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch

import linksim  # noqa: F401  (sets the Keras backend before keras is used)
from linksim.codecs import available_codecs, get_codec_class
from linksim.learning.torch_graph import TorchProgram, _channels_last_batch_norm

NA = NT = 8
CODECS = [name for name in available_codecs() if name != "csiinr"]  # CSI-INR: own training


def _run(model, x, program: TorchProgram | None):
    """Training-mode output, MSE gradients (zeros where none), inference output and moving
    statistics after one training call, in float64."""
    variables = model.trainable_variables
    if program is None:
        y = model(x, training=True)
        state = []
    else:
        (y,), state = program([x], training=True)
    grads = torch.autograd.grad(torch.mean(torch.square(y - x)), [v.value for v in variables],
                                allow_unused=True)
    grads = torch.cat([(torch.zeros_like(v.value) if g is None else g).double().flatten()
                       for v, g in zip(variables, grads)])
    if program is not None:
        with torch.no_grad():
            for target, value in zip(program.state, state):
                target.copy_(value)
    with torch.no_grad():
        y_eval = model(x, training=False) if program is None else program([x], False)[0][0]
    stats = [np.asarray(v.numpy(), np.float64) for v in model.non_trainable_variables
             if "seed_generator" not in v.path]
    return y.detach().double(), grads, y_eval.double(), stats


@pytest.mark.parametrize("name", CODECS)
def test_program_matches_keras_in_float64(name):
    """Every built-in codec's autoencoder, with random non-zero biases: outputs in training and
    inference mode, gradients and the updated moving statistics equal a float64 Keras
    evaluation to float32 accuracy, on CSI-like input (|mean| >> std). (CLLWCsiNet's codeword
    noise, which runs through Keras, is set to 1000 dB SNR here.)"""
    keras.utils.set_random_seed(1)
    model = get_codec_class(name)(4, NA, NT).autoencoder()
    rng = np.random.default_rng(0)
    weights = [w + 0.05 * rng.standard_normal(w.shape).astype(np.float32)
               if w.ndim == 1 and not np.all(w == 1) else w for w in model.get_weights()]
    model.set_weights(weights)
    keras.config.set_dtype_policy("float64")
    try:
        ref_model = get_codec_class(name)(4, NA, NT).autoencoder()
    finally:
        keras.config.set_dtype_policy("float32")
    ref_model.set_weights([w.astype(np.float64) for w in weights])
    for m in (model, ref_model):
        for layer in m._flatten_layers(recursive=True):
            if hasattr(layer, "snr_db"):
                layer.snr_db = 1000.0  # CLLWCsiNet's codeword noise (through Keras) off
    program = TorchProgram(model)
    xn = 0.5 + 0.01 * rng.random((16, NA, NT, 2))
    ref = _run(ref_model, torch.from_numpy(xn), None)
    got = _run(model, torch.from_numpy(xn.astype(np.float32)), program)
    scale = float(ref[0].abs().max())
    assert float((got[0] - ref[0]).abs().max()) < 1e-5 * scale
    assert float((got[1] - ref[1]).norm() / ref[1].norm()) < 1e-3
    assert float((got[2] - ref[2]).abs().max()) < 1e-5 * scale
    for a, b in zip(got[3], ref[3]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_every_layer_of_the_built_in_codecs_has_a_pytorch_form():
    for name in CODECS:
        codec = get_codec_class(name)(4, NA, NT)
        program = TorchProgram(codec.autoencoder())
        expected = ["codeword_awgn"] if name == "cllwcsinet" else []
        assert program.eager_layers == expected, name


@pytest.mark.parametrize("channels", [2, 7, 16, 32])
def test_channels_last_batch_norm_on_offset_data(channels):
    """CSI-like data (a 200 x 32 x 32 batch uniform in [0.5, 0.51], where PyTorch's own
    channels-last kernel is 2% of a standard deviation off): output, batch statistics and all
    three gradients equal float64 to 1e-5."""
    rng = np.random.default_rng(3)
    def f32(a):  # float32 values, so that both precisions see the same numbers
        return a.astype(np.float32).astype(np.float64)

    x = f32(0.5 + 0.01 * rng.random((200, 32, 32, channels)))
    gamma, beta = f32(0.5 + rng.random(channels)), f32(rng.standard_normal(channels))
    dy = f32(rng.standard_normal(x.shape))
    eps = 1e-3
    t32 = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (x, gamma, beta)]
    y, mean, var = _channels_last_batch_norm()(*t32, eps)
    y.backward(torch.from_numpy(dy.astype(np.float32)))
    t64 = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, gamma, beta)]
    m64 = t64[0].mean(dim=(0, 1, 2))
    v64 = t64[0].var(dim=(0, 1, 2), unbiased=False)
    y64 = (t64[0] - m64) / torch.sqrt(v64 + eps) * t64[1] + t64[2]
    y64.backward(torch.from_numpy(dy))

    def rel(a, b):
        return float((a.detach().double() - b.detach()).abs().max() / b.detach().abs().max())

    assert rel(y, y64) < 1e-5
    assert rel(mean, m64) < 1e-6 and rel(var, v64) < 1e-5
    for a, b in zip(t32, t64):
        assert rel(a.grad, b.grad) < 1e-5


def test_convolution_bias_before_batch_norm_is_left_out_in_training_only():
    """Conv2D -> BatchNormalization: the program trains without the bias (no gradient), the
    batch norm's moving mean still includes it, and inference equals Keras'."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 2))
    conv = keras.layers.Conv2D(3, 3, padding="same", bias_initializer="ones")
    bn = keras.layers.BatchNormalization(momentum=0.5)
    model = keras.Model(inp, keras.layers.LeakyReLU(0.3)(bn(conv(inp))))
    program = TorchProgram(model)
    x = torch.rand(4, 8, 8, 2)
    (y,), state = program([x], training=True)
    bias = conv.bias.value
    assert torch.autograd.grad(y.sum(), [conv.kernel.value, bias], allow_unused=True)[1] is None
    y_keras = model(x, training=True)  # Keras, with the bias; updates the moving statistics
    torch.testing.assert_close(y, y_keras, atol=1e-5, rtol=0)
    torch.testing.assert_close(state[0], bn.moving_mean.value, atol=1e-6, rtol=0)
    torch.testing.assert_close(state[1], bn.moving_variance.value, atol=1e-6, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(program([x], training=False)[0][0],
                                   model(x, training=False), atol=1e-5, rtol=0)


class Doubler(keras.layers.Layer):
    """A user layer without a PyTorch form: ``2 x``, recording the ``training`` flags."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flags: list[bool] = []

    def call(self, x, training=False):
        self.flags.append(bool(training))
        return 2.0 * x


def test_a_layer_without_a_pytorch_form_runs_through_keras():
    inp = keras.Input((4,))
    user = Doubler(name="doubler")
    model = keras.Model(inp, keras.layers.Dense(3)(user(keras.layers.Dense(4)(inp))))
    program = TorchProgram(model)
    assert program.eager_layers == ["doubler"]
    user.flags.clear()
    x = torch.rand(5, 4)
    (y,), _ = program([x], training=True)
    torch.testing.assert_close(y, model(x))
    assert user.flags == [True, False]
