"""Classical baselines: near-perfect at fine quantisation, exact bit accounting, rate-distortion
that improves with bits, and the DFT codebook on channels made of DFT beams."""

import itertools
import math

import numpy as np
import pytest

from linksim import baselines as bl
from linksim.errors import LinksimInputError
from linksim.phy import bits
from linksim.phy.metrics import nmse_per_sample
from linksim.phy.precoding import subband_sizes
from tests.conftest import rayleigh

NA, NT = 4, 8


def nmse_db(h, h_hat):
    return 10 * np.log10(nmse_per_sample(h, h_hat).mean())


def sparse_ad(rng, b, na=NA, nt=NT):
    """Angular-delay CSI with an exponential power profile over delay and angle (a fixed
    correlation, so PCA has something to learn, and sparse enough for top-K)."""
    profile = np.exp(-np.arange(na)[:, None] / 1.0 - np.abs(np.arange(nt) - 2)[None, :] / 1.5)
    return (rayleigh(rng, b, na, nt) * np.sqrt(profile)).astype(np.complex64)


#: Fine DFT codebook quantisation: 2^14 amplitude levels of 0.005 dB (82 dB), 4096-PSK.
FINE = {"wb_amp_bits": 14, "sb_amp_bits": 14, "sb_phase_bits": 12, "wb_amp_step_db": 0.005,
        "sb_amp_step_db": 0.005}


def dft_channel(rng, b, nc, nt, beam_idx, subband_size, oversampling=4):
    """Sum of the given oversampled DFT beams with i.i.d. complex gains per subband."""
    s = -(-nc // subband_size)
    g = rayleigh(rng, b, s, len(beam_idx))
    h_sb = np.einsum("bsl,ln->bsn", g, bl.dft_beams(nt, np.asarray(beam_idx), oversampling))
    return np.repeat(h_sb, subband_sizes(nc, subband_size), axis=1).astype(np.complex64)


# -- bit accounting ------------------------------------------------------------------------------
def test_combinatorial_rank_is_a_bijection_onto_0_to_C():
    n, k = 9, 4
    subsets = np.array(list(itertools.combinations(range(n), k)))
    ranks = bits.subset_rank(subsets)
    assert sorted(ranks) == list(range(math.comb(n, k)))
    np.testing.assert_array_equal(bits.subset_unrank(ranks, n, k), subsets)
    assert bits.combinatorial_bits(32, 3) == 13  # C(32, 3) = 4960 -> ceil(log2) = 13
    assert bits.combinatorial_bits(1024, 1024) == 0
    assert bits.combinatorial_bits(4, 2) == 3  # 6 subsets
    assert bits.index_bits(1024) == 10 and bits.index_bits(1) == 0


@pytest.mark.parametrize("fmt,index_coding", [("polar", "combinatorial"), ("polar", "fixed"),
                                              ("cartesian", "combinatorial")])
def test_topk_payload_equals_bitstream_length(rng, fmt, index_coding):
    h = sparse_ad(rng, 30)
    t = bl.TopK(7, (NA, NT), value_format=fmt, value_bits=(3, 4), index_coding=index_coding)
    expected = 32 + (bits.combinatorial_bits(32, 7) if index_coding == "combinatorial"
                     else 7 * 5) + 7 * 7
    assert t.payload_bits == expected
    h_counted, counted = t.compress(h)
    h_sent, measured = t.compress(h, via_bits=True)
    np.testing.assert_array_equal(measured, expected)
    np.testing.assert_array_equal(counted, measured)
    np.testing.assert_array_equal(h_sent, h_counted)  # decoded from the bits: same CSI


def test_pca_payload_equals_bitstream_length(rng):
    h_train, h = sparse_ad(rng, 400), sparse_ad(rng, 20)
    p = bl.PCA.for_payload(300).fit(h_train)
    assert p.payload_bits <= 300 and p.payload_bits == 32 + 2 * int(p.bits.sum())
    h_counted, counted = p.compress(h)
    h_sent, measured = p.compress(h, via_bits=True)
    np.testing.assert_array_equal(measured, p.payload_bits)
    np.testing.assert_array_equal(counted, measured)
    np.testing.assert_array_equal(h_sent, h_counted)
    p_float = bl.PCA(n_components=5).fit(h_train)
    assert p_float.compress(h, via_bits=True)[1][0] == 32 + 5 * 64


def test_dft_codebook_bits_vary_with_zeroed_beams_and_match_the_bitstream(rng):
    """3GPP-like settings: beams whose wideband amplitude quantises to 0 send no subband
    fields, so reports differ in length; the count equals the bitstream and never exceeds the
    worst case ``payload_bits``."""
    nc, nt, sb = 48, 8, 16
    gains = np.array([1.0, 0.3, 0.01, 0.003], np.float32)  # beams at 0, -10, -40, -50 dB
    h = sum(g * dft_channel(rng, 40, nc, nt, [m], sb)
            for g, m in zip(gains, [4, 12, 20, 28], strict=True))
    d = bl.DFTCodebook(4, nt, nc, sb)
    assert d.payload_bits == 32 + 2 + bits.combinatorial_bits(8, 4) + 2 + 3 * 3 + 4 * 3 * (1 + 3)
    h_counted, counted = d.compress(h)
    h_sent, measured = d.compress(h, via_bits=True)
    np.testing.assert_array_equal(counted, measured)
    np.testing.assert_array_equal(h_sent, h_counted)
    assert measured.max() <= d.payload_bits
    assert measured.min() < d.payload_bits  # some beams were switched off
    assert np.all((d.payload_bits - measured) % (3 * 4) == 0)  # whole beams of 3 subbands x 4 b


def test_zero_width_index_fields_go_through_the_bitstream(rng):
    """One beam, one rotation, one position: their indices take 0 bits and parse back."""
    h = dft_channel(rng, 5, 32, 8, [3], 16, oversampling=1)
    d = bl.DFTCodebook(1, 8, 32, 16, oversampling=1)
    np.testing.assert_array_equal(d.compress(h, via_bits=True)[0], d.compress(h)[0])
    t = bl.TopK(1, (1, 1), index_coding="fixed")
    h1 = sparse_ad(rng, 5, 1, 1)
    np.testing.assert_array_equal(t.compress(h1, via_bits=True)[0], t.compress(h1)[0])


# -- near-perfect at fine quantisation -----------------------------------------------------------
@pytest.mark.parametrize("fmt", ["polar", "cartesian"])
def test_topk_all_coefficients_fine_quantisation_is_near_perfect(rng, fmt):
    h = rayleigh(rng, 50, NA, NT)
    # polar: 2^14 - 1 levels of 0.005 dB cover 82 dB below the largest amplitude
    t = bl.TopK(NA * NT, (NA, NT), value_format=fmt, value_bits=(14, 12), amp_step_db=0.005)
    assert t.index_bits == 0  # all positions: nothing to say
    assert nmse_db(h, t.compress(h)[0]) < -40


def test_topk_keeps_exactly_the_largest_coefficients(rng):
    h = sparse_ad(rng, 20)
    t = bl.TopK(5, (NA, NT), value_bits=(16, 16), amp_step_db=0.001)
    h_hat = t.compress(h)[0]
    kept = np.abs(h_hat).reshape(20, -1) > 0
    largest = np.zeros_like(kept)
    np.put_along_axis(largest, np.argsort(-np.abs(h).reshape(20, -1), axis=1)[:, :5], True, 1)
    np.testing.assert_array_equal(kept, largest)
    # the error is the energy of the dropped coefficients (kept values near exact)
    x = h.reshape(20, -1)
    np.testing.assert_allclose(nmse_per_sample(h, h_hat),
                               nmse_per_sample(x, np.where(kept, x, 0)), rtol=1e-3)


def test_pca_all_components_is_exact(rng):
    h_train, h = sparse_ad(rng, 500), sparse_ad(rng, 50)
    assert nmse_db(h, bl.PCA().fit(h_train).compress(h)[0]) < -100  # float32 coefficients
    assert nmse_db(h, bl.PCA(coeff_bits=16).fit(h_train).compress(h)[0]) < -60


def test_dft_codebook_all_beams_fine_quantisation_is_near_perfect(rng):
    nc, nt, sb = 32, 8, 8
    h = dft_channel(rng, 40, nc, nt, 4 * np.arange(nt) + 2, sb)  # every beam of rotation 2
    d = bl.DFTCodebook(nt, nt, nc, sb, **FINE)
    assert nmse_db(h, d.compress(h)[0]) < -40


def test_dft_codebook_with_all_beams_picks_the_first_rotation(rng):
    """L = Nt: every rotation is a complete orthonormal basis with the same energy; the choice
    must not hang on rounding."""
    h = rayleigh(rng, 30, 32, 8)
    np.testing.assert_array_equal(bl.DFTCodebook(8, 8, 32, 8).encode(h)["rot"], 0)


def test_dft_codebook_finds_the_beams_and_the_rotation(rng):
    """Three beams of rotation 3: L = 3 recovers them (and the channel) exactly."""
    nc, nt, sb = 48, 8, 16
    h = dft_channel(rng, 30, nc, nt, [3, 15, 27], sb)  # m = 4 i + 3, i = 0, 3, 6
    d = bl.DFTCodebook(3, nt, nc, sb, **FINE)
    report = d.encode(h)
    np.testing.assert_array_equal(report["rot"], 3)
    np.testing.assert_array_equal(report["beams"], [[0, 3, 6]] * 30)
    assert nmse_db(h, d.decode(report)) < -40


def test_dft_codebook_frequency_selective_channel_needs_small_subbands(rng):
    """Per-subcarrier gains: exact with one-subcarrier subbands, lossy with wide ones."""
    nc, nt = 32, 8
    h = dft_channel(rng, 30, nc, nt, [1, 9], 1)
    assert nmse_db(h, bl.DFTCodebook(2, nt, nc, 1, **FINE).compress(h)[0]) < -40
    assert nmse_db(h, bl.DFTCodebook(2, nt, nc, 8, **FINE).compress(h)[0]) > -3


# -- rate-distortion ---------------------------------------------------------------------------
def test_more_bits_lower_nmse(rng):
    h_train, h = sparse_ad(rng, 600), sparse_ad(rng, 100)
    budgets = [60, 100, 160, 260]  # all 32 coefficients at 4 + 5 bits: 320 bits
    topk = [nmse_db(h, bl.TopK.for_payload(b, (NA, NT), value_bits=(4, 5)).compress(h)[0])
            for b in budgets]
    tuned = [nmse_db(h, bl.TopK.for_payload(b, (NA, NT), h_train=h_train[:200]).compress(h)[0])
             for b in budgets]
    pca = [nmse_db(h, bl.PCA.for_payload(b).fit(h_train).compress(h)[0]) for b in budgets]
    nc, sb = 32, 4
    h_sf = dft_channel(rng, 50, nc, NT, [0, 4, 8, 12, 16, 20, 24, 28], sb)
    dft = [nmse_db(h_sf, bl.DFTCodebook.for_payload(b, NT, nc, sb).compress(h_sf)[0])
           for b in [100, 200, 400]]
    for curve in (topk, tuned, pca, dft):
        assert np.all(np.diff(curve) < -0.5), curve


def test_for_payload_fits_the_budget_and_is_largest():
    t = bl.TopK.for_payload(500, (32, 32), value_bits=(4, 5))
    assert t.payload_bits <= 500 < bl.TopK(t.k + 1, (32, 32), value_bits=(4, 5)).payload_bits
    full = bl.TopK.for_payload(10 ** 6, (32, 32), value_bits=(4, 5))
    assert full.k == 1024 and full.payload_bits == 32 + 1024 * 9
    d = bl.DFTCodebook.for_payload(1000, 32, 1024, 64)
    assert d.payload_bits <= 1000 < bl.DFTCodebook(d.L + 1, 32, 1024, 64).payload_bits


def test_gaussian_uniform_quantiser_matches_max_1960():
    step1, mse1 = bits.gaussian_uniform_quantiser(1)
    step2, mse2 = bits.gaussian_uniform_quantiser(2)
    assert step1 == pytest.approx(1.596, abs=1e-3) and mse1 == pytest.approx(0.3634, abs=1e-4)
    assert step2 == pytest.approx(0.9957, abs=1e-3) and mse2 == pytest.approx(0.1188, abs=1e-4)


def test_bit_allocation_follows_reverse_water_filling():
    """High rate: a component 16x stronger gets 0.5 log2(16) = 2 more bits per real value;
    components below the water level get none."""
    alloc = bl.allocate_bits(np.array([16.0, 1.0, 1e-9]), budget=40, max_bits=16)
    assert alloc.sum() * 2 <= 40 and alloc[2] == 0
    assert alloc[0] - alloc[1] == 2


# -- input errors --------------------------------------------------------------------------------
def test_bad_input_names_the_field(rng):
    with pytest.raises(LinksimInputError, match="k must"):
        bl.TopK(0, (NA, NT))
    with pytest.raises(LinksimInputError, match="value_format"):
        bl.TopK(3, (NA, NT), value_format="log")
    with pytest.raises(LinksimInputError, match=r"shape \[b, 4, 8\]"):
        bl.TopK(3, (NA, NT)).compress(rayleigh(rng, 2, 8, 4))
    with pytest.raises(LinksimInputError, match="below one coefficient"):
        bl.TopK.for_payload(20, (NA, NT))
    with pytest.raises(LinksimInputError, match="subband_size"):
        bl.DFTCodebook(2, 8, 32, 0)
    with pytest.raises(LinksimInputError, match="num_beams"):
        bl.DFTCodebook(9, 8, 32, 4)
    with pytest.raises(LinksimInputError, match="budget_bits"):
        bl.PCA.for_payload(10)
    with pytest.raises(RuntimeError, match="fit"):
        _ = bl.PCA().payload_bits


def test_pca_with_fixed_bits_per_coefficient(rng):
    """``fixed_bits``: the most components at B bits each (32: float32), no allocation; at a
    CR 4 codec's payload (16,416 bits) that is 256 complex components = 512 real numbers."""
    h_train = (rng.standard_normal((300, 16, 32))
               + 1j * rng.standard_normal((300, 16, 32))).astype(np.complex64)
    p = bl.PCA.for_payload(16416, fixed_bits=32).fit(h_train)
    assert p.name == "pca_float" and p.bits.size == 256 and p.payload_bits == 16416
    q = bl.PCA.for_payload(3104, fixed_bits=6).fit(h_train)
    assert q.name == "pca_6b" and q.bits.size == 256 and q.payload_bits == 3104
    _, sent = q.compress(h_train[:5], via_bits=True)
    assert np.all(sent == 3104)
    with pytest.raises(LinksimInputError, match="fixed_bits"):
        bl.PCA.for_payload(3104, fixed_bits=20)
