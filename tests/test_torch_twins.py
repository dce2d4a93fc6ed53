"""Plain PyTorch twins of the codecs (benchmarks/torch_twins.py): same networks as the Keras ones."""

import sys
from functools import cache
from pathlib import Path

import keras  # the backend is set to torch by conftest.py
import numpy as np
import pytest
import torch

from linksim.codecs.base import get_codec_class
from linksim.codecs.binary import BinaryDense

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import torch_twins


@cache
def keras_codec(name: str):
    return get_codec_class(torch_twins.KERAS_CODECS[name])(4)


def canonical_shapes_keras(codec) -> list[tuple[int, ...]]:
    """Trainable weight shapes in PyTorch's layout: conv kernels ``[kh, kw, in, out]`` ->
    ``[out, in, kh, kw]``, dense kernels ``[in, out]`` -> ``[out, in]``, PReLU ``[1, 1, c]`` ->
    ``[c]``."""
    out = []
    for model in (codec.encoder, codec.decoder):
        for w in model.trainable_weights:
            s = tuple(w.shape)
            if len(s) == 4:
                s = (s[3], s[2], s[0], s[1])
            elif len(s) == 2:
                s = (s[1], s[0])
            elif len(s) == 3:
                s = (int(np.prod(s)),)
            out.append(s)
    return sorted(out)


@pytest.mark.parametrize("name", list(torch_twins.TWINS))
def test_twin_has_the_keras_codecs_parameters(name):
    codec = keras_codec(name)
    twin = torch_twins.make_twin(name, 4)
    assert torch_twins.count_trainable(twin) == torch_twins.keras_trainable_count(codec)
    # Not only the total: the same weight tensors, layer by layer (up to order).
    assert sorted(tuple(p.shape) for p in twin.parameters()) == canonical_shapes_keras(codec)


@pytest.mark.parametrize("name", list(torch_twins.TWINS))
def test_twin_forward_shape_and_range(name):
    x = np.random.default_rng(0).random((4, 32, 32, 2), dtype=np.float32)
    twin = torch_twins.make_twin(name, 4).train()
    y = twin(torch_twins.to_nchw(x))
    assert y.shape == (4, 2, 32, 32)
    assert torch.all((y > 0) & (y < 1))  # sigmoid output, as the Keras decoders
    z = twin.encode(torch_twins.to_nchw(x))
    assert z.shape == (4, keras_codec(name).codeword_length)


def test_to_nchw_moves_the_complex_axis_first():
    x = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
    np.testing.assert_array_equal(torch_twins.to_nchw(x).numpy()[:, 1], x[..., 1])


def test_binary_linear_matches_linksims_binary_dense():
    """Same forward output and same gradients (gated straight-through sign, differentiated alpha)
    as linksim's Keras BinaryDense on the same weights."""
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.8, (6, 5)).astype(np.float32)  # [in, out], some |w| > 1
    b = rng.normal(0, 0.1, 5).astype(np.float32)
    x = rng.normal(size=(7, 6)).astype(np.float32)
    inp = keras.Input((6,))
    layer = BinaryDense(5)
    model = keras.Model(inp, layer(inp))
    layer.set_weights([w, b])
    ref = model(torch.tensor(x))
    (ref ** 2).sum().backward()

    twin = torch_twins.BinaryLinear(6, 5)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(w.T))
        twin.bias.copy_(torch.from_numpy(b))
    out = twin(torch.from_numpy(x))
    (out ** 2).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(twin.weight.grad.numpy().T, layer.kernel.value.grad.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert np.any(np.abs(w) > 1) and np.all(twin.weight.grad.numpy().T[np.abs(w) > 1] != 0)
    weights = np.unique(np.abs(twin.weight.abs().mean().item() * np.sign(w)))
    assert len(weights) == 1  # two values, +-alpha


def test_cllwcsinet_codeword_noise_is_40_db_in_training_only():
    twin = torch_twins.make_twin("cllwcsinet", 4)
    torch.manual_seed(0)
    z = torch.randn(500, 512) * torch.linspace(0.1, 3, 500)[:, None]
    snr = z.square().sum(1) / (twin.train().add_noise(z) - z).square().sum(1)
    assert 10 * np.log10(snr.mean().item()) == pytest.approx(40, abs=0.2)  # per-sample power
    assert torch.equal(twin.eval().add_noise(z), z)
    x = torch_twins.to_nchw(np.random.default_rng(0).random((4, 32, 32, 2), dtype=np.float32))
    assert torch.equal(twin(x), twin(x))  # deterministic in inference


def test_cllwcsinet_latent_is_the_papers_channels_first_view():
    """Channel ``i Na + m`` of the twin's latent is delay row ``m`` of part ``i``, as linksim's
    ``latent_view`` (channels-last) of the same CSI."""
    from linksim.codecs.cllwcsinet import latent_view

    x = np.random.default_rng(1).random((2, 32, 32, 2), dtype=np.float32)
    twin_latent = torch_twins.to_nchw(x).reshape(2, 64, 1, 32).numpy()
    np.testing.assert_array_equal(twin_latent.transpose(0, 2, 3, 1), latent_view(x))
