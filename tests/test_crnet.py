"""CRNet: published parameter counts, structure, shapes, save/load, registry."""

import pytest
from codec_checks import assert_save_load_round_trip, assert_shapes_and_range
from keras import layers

from linksim.codecs import CRNet, available_codecs, get_codec_class

# Published CR4 counts (seed 004 Table I: UE 1.05M, BS 1.05M; CLLWCsiNet Table I: UE 1049K).
CRNET_CR4_PUBLISHED = (1049e3, 1.05e6)


def test_crnet_cr4_parameter_counts_match_the_papers():
    counts = CRNet(4).parameter_counts()
    assert counts["ue_params"] == pytest.approx(CRNET_CR4_PUBLISHED[0], rel=0.02)
    assert counts["bs_params"] == pytest.approx(CRNET_CR4_PUBLISHED[1], rel=0.02)
    assert counts == {"ue_params": 1_049_280, "bs_params": 1_053_730}


@pytest.mark.parametrize("cr", [4, 8, 16, 32])
def test_crnet_counts_are_fc_dominated(cr):
    m = 2048 // cr
    counts = CRNet(cr).parameter_counts()
    # Conv + batch-norm part: 192 weights at the UE, 3,106 at the BS, whatever the CR.
    assert counts["ue_params"] == 2048 * m + m + 192
    assert counts["bs_params"] == m * 2048 + 2048 + 3_106


def _conv_kernels(model):
    return [(tuple(lyr.kernel_size), lyr.filters) for lyr in model.layers
            if isinstance(lyr, layers.Conv2D)]


def test_crnet_structure():
    c = CRNet(4)
    enc = _conv_kernels(c.encoder)
    assert sorted(enc) == sorted([((3, 3), 2), ((1, 9), 2), ((9, 1), 2), ((3, 3), 2),
                                  ((1, 1), 2)])
    block = [((3, 3), 7), ((1, 9), 7), ((9, 1), 7), ((1, 5), 7), ((5, 1), 7), ((1, 1), 2)]
    assert sorted(_conv_kernels(c.decoder)) == sorted([((5, 5), 2)] + 2 * block)
    for model in (c.encoder, c.decoder):
        convs = [lyr for lyr in model.layers if isinstance(lyr, layers.Conv2D)]
        bns = [lyr for lyr in model.layers if isinstance(lyr, layers.BatchNormalization)]
        assert len(bns) == len(convs) and not any(lyr.use_bias for lyr in convs)
        assert all(bn.momentum == 0.9 for bn in bns)
        assert all(lyr.negative_slope == pytest.approx(0.3)
                   for lyr in model.layers if isinstance(lyr, layers.LeakyReLU))
    assert len([lyr for lyr in c.decoder.layers if isinstance(lyr, layers.Add)]) == 2


def test_shapes_and_output_range():
    c = CRNet(8, num_rows=16, num_antennas=32)
    assert_shapes_and_range(c)


def test_save_load_round_trip(tmp_path):
    loaded = assert_save_load_round_trip(CRNet(16), tmp_path / "model")
    assert loaded.compression_ratio == 16


def test_registry():
    assert "crnet" in available_codecs()
    assert get_codec_class("crnet") is CRNet
