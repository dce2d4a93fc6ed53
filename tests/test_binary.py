"""Binary FC layer (seed 004 eq. 9-12): forward weight, gated gradient, export, memory, MACs."""

import keras
import numpy as np
import pytest
import torch

from linksim.codecs.binary import BinaryDense, binarized_copy, binary_layers
from linksim.complexity import count_macs, memory_bits


def _model(n_in=64, units=8, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((n_in,))
    return keras.Model(x, BinaryDense(units, name="fc")(x))


def test_forward_uses_alpha_sign_w():
    m = _model()
    layer = m.get_layer("fc")
    w = keras.ops.convert_to_numpy(layer.kernel)
    b = keras.ops.convert_to_numpy(layer.bias) + 0.3
    layer.bias.assign(b)
    x = np.random.default_rng(1).normal(size=(5, 64)).astype(np.float32)
    expected = x @ (np.mean(np.abs(w)) * np.where(w >= 0, 1.0, -1.0)) + b
    np.testing.assert_allclose(m.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_gradient_is_gated_straight_through():
    m = _model(n_in=4, units=3)
    layer = m.get_layer("fc")
    w = np.array([[0.5, -2.0, 0.1], [1.5, -0.2, 0.05], [0.3, 0.3, -0.9], [-1.2, 0.7, 0.4]],
                 np.float32)
    layer.kernel.assign(w)
    x = np.ones((1, 4), np.float32)
    m(torch.tensor(x)).sum().backward()
    grad = layer.kernel.value.grad.numpy()
    alpha, mn = np.mean(np.abs(w)), w.size
    signs = np.where(w >= 0, 1.0, -1.0)
    # dC/dW_b = x^T 1 = ones; eq. (11): alpha 1{|w|<1} + sign(W)/mn * sum(dC/dW_b * sign(W)).
    expected = alpha * (np.abs(w) < 1) + signs / mn * np.sum(signs)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_export_holds_two_values_and_same_outputs():
    m = _model()
    layer = m.get_layer("fc")
    exported = binarized_copy(m)
    assert not binary_layers(exported) and binary_layers(m) == [layer]
    kernel = exported.get_layer("fc").get_weights()[0]
    alpha = np.mean(np.abs(keras.ops.convert_to_numpy(layer.kernel)))
    np.testing.assert_allclose(np.unique(kernel), [-alpha, alpha], rtol=1e-6)
    x = np.random.default_rng(2).normal(size=(7, 64)).astype(np.float32)
    np.testing.assert_allclose(exported.predict(x, verbose=0), m.predict(x, verbose=0),
                               atol=1e-5)


def test_memory_is_one_bit_per_weight_and_macs_count_multiplications():
    m = _model(n_in=2048, units=512)
    assert memory_bits(m) == 2048 * 512 + 32 * 512
    assert count_macs(m) == 512
    assert memory_bits(m) / 32 == pytest.approx(33.3e3, rel=0.01)  # BCsiNet "33K" at CR4


def test_save_load_keeps_the_layer(tmp_path):
    m = _model()
    m.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("fc"), BinaryDense)
    x = np.random.default_rng(3).normal(size=(2, 64)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), m.predict(x, verbose=0), atol=1e-6)
