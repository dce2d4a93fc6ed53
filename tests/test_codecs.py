"""Codec interface and CsiNet: published parameter counts, save/load, registry."""

import numpy as np
import pytest
from codec_checks import assert_save_load_round_trip

from linksim.codecs import Codec, CsiNet, available_codecs, get_codec_class
from linksim.codecs.base import check_compression_ratio
from linksim.errors import LinksimInputError

# Published counts (seed 004 Table I / IV, seed 002 Table IV), in parameters.
CSINET_PUBLISHED = {4: (1049e3, 1054e3), 8: (525e3, 530e3), 16: (262e3, 268e3), 32: (131e3, None)}


@pytest.mark.parametrize("cr", sorted(CSINET_PUBLISHED))
def test_csinet_parameter_counts_match_the_papers(cr):
    ue, bs = CSINET_PUBLISHED[cr]
    counts = CsiNet(cr).parameter_counts()
    assert counts["ue_params"] == pytest.approx(ue, rel=0.005)
    if bs is not None:
        assert counts["bs_params"] == pytest.approx(bs, rel=0.005)


def test_csinet_cr4_exact_counts():
    assert CsiNet(4).parameter_counts() == {"ue_params": 1_049_134, "bs_params": 1_054_090}


def test_shapes_and_codeword_length():
    c = CsiNet(8, num_rows=16, num_antennas=32)
    assert c.codeword_length == 2 * 16 * 32 // 8
    x = np.random.default_rng(0).random((3, 16, 32, 2), dtype=np.float32)
    z = c.encode(x)
    assert z.shape == (3, 128) and z.dtype == np.float32
    y = c.decode(z)
    assert y.shape == x.shape and np.all(np.isfinite(y))


def test_save_load_round_trip(tmp_path):
    loaded = assert_save_load_round_trip(CsiNet(16), tmp_path / "model", scale=0.123)
    assert loaded.compression_ratio == 16


def test_registry():
    assert "csinet" in available_codecs()
    assert get_codec_class("csinet") is CsiNet
    with pytest.raises(LinksimInputError, match="unknown codec 'nope'.*csinet"):
        get_codec_class("nope")


def test_impossible_compression_ratio():
    assert check_compression_ratio(4, 32, 32) == 512
    with pytest.raises(ValueError, match="does not divide"):
        check_compression_ratio(3, 32, 32)
    with pytest.raises(ValueError):
        CsiNet(7)


def test_load_missing_directory_names_it(tmp_path):
    with pytest.raises(LinksimInputError, match="codec.json"):
        Codec.load(tmp_path / "absent")
