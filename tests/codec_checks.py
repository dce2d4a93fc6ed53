"""Checks shared by the per-codec test files."""

import numpy as np

from linksim.codecs import Codec
from linksim.transforms import Normalizer


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
    """Encoder gives ``[b, M]`` float32; decoder gives the input shape, float32, in [0, 1]."""
    x = np.random.default_rng(0).random((batch, *codec.input_shape), dtype=np.float32)
    z = codec.encode(x)
    assert z.shape == (batch, codec.codeword_length) and z.dtype == np.float32
    assert codec.codeword_length == 2 * codec.num_rows * codec.num_antennas \
        // codec.compression_ratio
    y = codec.decode(z)
    assert y.shape == x.shape and y.dtype == np.float32
    assert 0.0 <= y.min() and y.max() <= 1.0
