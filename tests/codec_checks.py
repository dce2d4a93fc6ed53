"""Checks shared by the per-codec test files."""

import numpy as np

from linksim.codecs import Codec
from linksim.phy.transforms import Normalizer


def assert_save_load_round_trip(codec: Codec, directory, scale: float = 0.5) -> Codec:
    """Save ``codec`` to ``directory``, load it back and check class, config, normaliser and
    outputs on random input (atol 1e-6); no temporary directory may be left. Returns the copy."""
    codec.normalizer = Normalizer(scale)
    x = np.random.default_rng(1).random((4, *codec.input_shape), dtype=np.float32)
    before = codec.decode(codec.encode(x))
    codec.save(directory)
    loaded = Codec.load(directory)
    assert type(loaded) is type(codec) and loaded.config() == codec.config()
    assert loaded.normalizer == Normalizer(scale)
    np.testing.assert_allclose(loaded.decode(loaded.encode(x)), before, atol=1e-6)
    assert not list(directory.parent.glob(f".{directory.name}.*"))
    return loaded


def assert_shapes_and_range(codec: Codec, batch: int = 3) -> None:
    """Encoder gives ``[b, M]`` float32; decoder gives the input shape, float32, finite; the
    same codec with the sigmoid head (paper-faithful) outputs [0, 1] only, the linear head
    (default) values of both signs; the head has no weights."""
    x = np.random.default_rng(0).random((batch, *codec.input_shape), dtype=np.float32)
    for head in ("linear", "sigmoid"):
        c = type(codec)(**{**codec.config(), "output_head": head})
        assert c.output_head == head and c.output_bounds == (
            (0.0, 1.0) if head == "sigmoid" else (-np.inf, np.inf))
        z = c.encode(x)
        assert z.shape == (batch, c.codeword_length) and z.dtype == np.float32
        assert c.codeword_length == 2 * c.num_rows * c.num_antennas // c.compression_ratio
        y = c.decode(z)
        assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
        if head == "sigmoid":
            assert 0.0 <= y.min() and y.max() <= 1.0
        else:
            assert y.min() < 0.0 < y.max()
        assert c.parameter_counts() == codec.parameter_counts()
