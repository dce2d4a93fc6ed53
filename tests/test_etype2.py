"""Rel-16 enhanced Type II codebook (linksim.etype2): payload bits against worked examples,
exact reconstruction of single-beam channels, SGCS growing with paramCombination, report
constraints, and bad input naming the field."""

import numpy as np
import pytest

from linksim import etype2
from linksim.errors import LinksimInputError
from linksim.phy.eigen import sgcs_per_layer

FIELDS = ("i11", "i12", "i15", "i16", "i17", "i18", "i23", "i24", "i25")


def test_param_combination_table():
    assert etype2.PARAM_COMBINATIONS == {
        1: (2, 0.25, 0.125, 0.25), 2: (2, 0.25, 0.125, 0.5),
        3: (4, 0.25, 0.125, 0.25), 4: (4, 0.25, 0.125, 0.5),
        5: (4, 0.25, 0.25, 0.75), 6: (4, 0.5, 0.25, 0.5),
        7: (6, 0.25, None, 0.5), 8: (6, 0.25, None, 0.75),
    }


# Worked examples: ((N1, N2, N3, paramCombination, rank, other arguments), (i11, i12, i15,
# i16, i17, i18, i23, i24, i25, part1_nnz, part2, total)), O1 = O2 = 4 throughout.
# 16 ports (N1=4, N2=2): i11 = ceil(log2(O1*O2 = 16)) = 4;
# i12 = ceil(log2 C(8, L)): C(8,2) = 28 -> 5, C(8,4) = 70 -> 7. For 32 ports (N1=N2=O1=O2=4):
# i11 = 4, C(16,6) = 8008 -> i12 = 13. i15 = 0 when N3 <= 19. Per layer: i16 = ceil(log2
# C(N3-1, M-1)) (N3 <= 19) or ceil(log2 C(2M-1, M-1)) (N3 > 19); i17 = 2 L M; i23 = 4.
# i18 = ceil(log2 K_NZ) at rank 1, else ceil(log2 2L) per layer; i24 = 3 (K_NZ - v);
# i25 = 4 (K_NZ - v); part-1 NNZ = ceil(log2 2 K0) (ceil(log2 K0) if max_rank = 1).
WORKED = [
    # N3=13, R=1, pc1: L=2, M=ceil(13/4)=4, K0=ceil(1/4*2*2*4)=4; rank 1, K_NZ=K0=4.
    # i16=ceil(log2 C(12,3)=220)=8, i17=2*2*4=16, i18=ceil(log2 4)=2, i24=3*3=9, i25=4*3=12,
    # NNZ=ceil(log2 8)=3; part2 = 4+5+0+8+16+2+4+9+12 = 60; total 63.
    ((4, 2, 13, 1, 1, {}),
     (4, 5, 0, 8, 16, 2, 4, 9, 12, 3, 60, 63)),
    # Same, rank 2: K_NZ = min(2*K0, 2*K0) = 8. i16=2*8=16, i17=2*16=32, i18=2*ceil(log2 4)=4,
    # i23=8, i24=3*(8-2)=18, i25=4*6=24; part2 = 4+5+0+16+32+4+8+18+24 = 111; total 114.
    ((4, 2, 13, 1, 2, {}),
     (4, 5, 0, 16, 32, 4, 8, 18, 24, 3, 111, 114)),
    # pc2: L=2, M=4, K0=ceil(1/2*2*2*4)=8; rank 1, K_NZ=8: i18=ceil(log2 8)=3, i24=21, i25=28,
    # NNZ=ceil(log2 16)=4; part2 = 4+5+0+8+16+3+4+21+28 = 89; total 93.
    ((4, 2, 13, 2, 1, {}),
     (4, 5, 0, 8, 16, 3, 4, 21, 28, 4, 89, 93)),
    # pc3, max_rank=1: L=4, M=4, K0=ceil(1/4*2*4*4)=8; rank 1, K_NZ=8: i12=7, i17=2*4*4=32,
    # i18=3, i24=21, i25=28, NNZ=ceil(log2 8)=3; part2 = 4+7+0+8+32+3+4+21+28 = 107; total 110.
    ((4, 2, 13, 3, 1, {"max_rank": 1}),
     (4, 7, 0, 8, 32, 3, 4, 21, 28, 3, 107, 110)),
    # pc4: L=4, M=4, K0=ceil(1/2*2*4*4)=16; rank 2, K_NZ=min(2*16, 32)=32: i16=16, i17=64,
    # i18=2*ceil(log2 8)=6, i23=8, i24=3*30=90, i25=4*30=120, NNZ=ceil(log2 32)=5;
    # part2 = 4+7+0+16+64+6+8+90+120 = 315; total 320.
    ((4, 2, 13, 4, 2, {}),
     (4, 7, 0, 16, 64, 6, 8, 90, 120, 5, 315, 320)),
    # pc5, rank 3: p_v=1/4 -> M=4, K0=ceil(3/4*2*4*4)=24; K_NZ=min(3*24, 48)=48: i16=3*8=24,
    # i17=3*32=96, i18=3*3=9, i23=12, i24=3*45=135, i25=4*45=180, NNZ=ceil(log2 48)=6;
    # part2 = 4+7+0+24+96+9+12+135+180 = 467; total 473.
    ((4, 2, 13, 5, 3, {}),
     (4, 7, 0, 24, 96, 9, 12, 135, 180, 6, 467, 473)),
    # pc6: L=4, p=1/2 -> M=ceil(6.5)=7, K0=ceil(1/2*2*4*7)=28; rank 1 with K_NZ=10:
    # i16=ceil(log2 C(12,6)=924)=10, i17=2*4*7=56, i18=ceil(log2 10)=4, i24=27, i25=36,
    # NNZ=ceil(log2 56)=6; part2 = 4+7+0+10+56+4+4+27+36 = 148; total 154.
    ((4, 2, 13, 6, 1, {"k_nz": 10}),
     (4, 7, 0, 10, 56, 4, 4, 27, 36, 6, 148, 154)),
    # N3=19 (still no window): pc1, M=ceil(19/4)=5, K0=ceil(1/4*2*2*5)=5; rank 1, K_NZ=5:
    # i16=ceil(log2 C(18,4)=3060)=12, i17=20, i18=ceil(log2 5)=3, i24=12, i25=16,
    # NNZ=ceil(log2 10)=4; part2 = 4+5+0+12+20+3+4+12+16 = 76; total 80.
    ((4, 2, 19, 1, 1, {}),
     (4, 5, 0, 12, 20, 3, 4, 12, 16, 4, 76, 80)),
    # N3=26 (window): pc1, M=ceil(6.5)=7, K0=ceil(1/4*2*2*7)=7; i15=ceil(log2 14)=4,
    # i16=ceil(log2 C(13,6)=1716)=11, i17=28, i18=ceil(log2 7)=3, i24=18, i25=24,
    # NNZ=ceil(log2 14)=4; part2 = 4+5+4+11+28+3+4+18+24 = 101; total 105.
    ((4, 2, 26, 1, 1, {}),
     (4, 5, 4, 11, 28, 3, 4, 18, 24, 4, 101, 105)),
    # N3=26, pc4, rank 2: L=4, M=7, K0=ceil(1/2*2*4*7)=28, K_NZ=56: i15=4, i16=2*11=22,
    # i17=2*56=112, i18=2*3=6, i23=8, i24=3*54=162, i25=4*54=216, NNZ=ceil(log2 56)=6;
    # part2 = 4+7+4+22+112+6+8+162+216 = 541; total 547.
    ((4, 2, 26, 4, 2, {}),
     (4, 7, 4, 22, 112, 6, 8, 162, 216, 6, 541, 547)),
    # N3=26, R=2, pc2: M=ceil(1/4*26/2)=ceil(3.25)=4, K0=ceil(1/2*2*2*4)=8; i15=ceil(log2 8)=3,
    # i16=ceil(log2 C(7,3)=35)=6, i17=16, i18=3, i24=21, i25=28, NNZ=4;
    # part2 = 4+5+3+6+16+3+4+21+28 = 90; total 94.
    ((4, 2, 26, 2, 1, {"r": 2}),
     (4, 5, 3, 6, 16, 3, 4, 21, 28, 4, 90, 94)),
    # 32 ports, N3=13, pc7: L=6, M=4, K0=ceil(1/2*2*6*4)=24; rank 2, K_NZ=48: i16=16,
    # i17=2*48=96, i18=2*ceil(log2 12)=8, i23=8, i24=3*46=138, i25=4*46=184,
    # NNZ=ceil(log2 48)=6; part2 = 4+13+0+16+96+8+8+138+184 = 467; total 473.
    ((4, 4, 13, 7, 2, {}),
     (4, 13, 0, 16, 96, 8, 8, 138, 184, 6, 467, 473)),
    # 32 ports, pc8: K0=ceil(3/4*2*6*4)=36; rank 1, K_NZ=36: i16=8, i17=48,
    # i18=ceil(log2 36)=6, i24=105, i25=140, NNZ=ceil(log2 72)=7;
    # part2 = 4+13+0+8+48+6+4+105+140 = 328; total 335.
    ((4, 4, 13, 8, 1, {}),
     (4, 13, 0, 8, 48, 6, 4, 105, 140, 7, 328, 335)),
]


@pytest.mark.parametrize("cfg,expected", WORKED)
def test_payload_bits_worked_examples(cfg, expected):
    n1, n2, n3, pc, rank, extra = cfg
    bits = etype2.payload_bits(n1, n2, 4, 4, n3, pc, rank, **extra)
    assert bits == dict(zip((*FIELDS, "part1_nnz", "part2", "total"), expected, strict=True))
    assert bits["part2"] == sum(bits[f] for f in FIELDS)


def test_k0_and_mv():
    assert etype2.max_nonzero(1, 13) == 4 and etype2.num_fd_basis(1, 13, 1) == 4
    assert etype2.max_nonzero(6, 13) == 28 and etype2.num_fd_basis(6, 13, 2) == 7
    assert etype2.num_fd_basis(6, 13, 3) == 4  # p_v = 1/4 for ranks 3-4


def _beam_channel(n3, m1, m2, pol, delay=0, b=1):
    """Eigenvector = one oversampled DFT beam (N1=4, N2=2, O1=O2=4) on one polarisation,
    flat (or with an integer delay of ``delay`` subbands) over the N3 subbands."""
    beam = etype2.beam_vectors(np.array(m1), np.array(m2), 4, 2, 4, 4)
    v = np.zeros((b, n3, 16, 1), complex)
    v[:, :, 8 * pol:8 * pol + 8, 0] = beam
    return v * np.exp(-2j * np.pi * np.arange(n3) * delay / n3)[None, :, None, None]


@pytest.mark.parametrize("m1,m2,pol", [(0, 0, 0), (5, 3, 0), (15, 7, 1), (9, 6, 1)])
@pytest.mark.parametrize("pc", [1, 4])
def test_single_beam_is_reconstructed(m1, m2, pol, pc):
    v = _beam_channel(13, m1, m2, pol)
    v_hat, report = etype2.compress(v, 4, 2, 4, 4, pc)
    assert v_hat.shape == v.shape
    assert sgcs_per_layer(v, v_hat).min() > 0.99
    assert report.k_nz.tolist() == [[1]]  # one beam, one tap: nothing else worth reporting
    assert report.q.tolist() == [[m1 % 4, m2 % 4]]
    assert report.beams[0, report.strongest[0, 0] % report.beams.shape[1]] == \
        4 * (m2 // 4) + m1 // 4
    np.testing.assert_allclose(np.linalg.norm(v_hat, axis=2), 1.0)


@pytest.mark.parametrize("n3", [13, 26])
def test_single_beam_with_delay_and_phase_noise(n3, rng):
    v = _beam_channel(n3, 6, 1, 0, delay=3, b=2)
    v = v * np.exp(2j * np.pi * rng.random((2, n3, 1, 1)))  # arbitrary per-subband phase
    v_hat, _ = etype2.compress(v, 4, 2, 4, 4, 1)
    assert sgcs_per_layer(v, v_hat).min() > 0.99


def _random_eigenvectors(rng, b, n3, nt, rank):
    z = rng.standard_normal((b, n3, nt, rank)) + 1j * rng.standard_normal((b, n3, nt, rank))
    return np.linalg.qr(z)[0]


def test_sgcs_grows_with_param_combination(rng):
    v = _random_eigenvectors(rng, 24, 13, 32, 2)
    mean = {pc: sgcs_per_layer(v, etype2.compress(v, 4, 4, 4, 4, pc)[0]).mean()
            for pc in (1, 4, 8)}
    assert mean[1] < mean[4] < mean[8]


@pytest.mark.parametrize("n3,pc,rank", [(13, 4, 2), (26, 6, 2), (26, 3, 3), (13, 2, 1)])
def test_report_respects_the_constraints(n3, pc, rank, rng):
    v = _random_eigenvectors(rng, 6, n3, 16, rank)
    v_hat, rep = etype2.compress(v, 4, 2, 4, 4, pc)
    big_l, *_ = etype2.PARAM_COMBINATIONS[pc]
    mv, k0 = etype2.num_fd_basis(pc, n3, rank), etype2.max_nonzero(pc, n3)
    assert rep.bitmap.shape == (6, rank, 2 * big_l, mv)
    assert (rep.k_nz >= 1).all() and (rep.k_nz <= k0).all()
    assert (rep.k_nz.sum(axis=1) <= 2 * k0).all()
    assert (rep.fd_basis[..., 0] == 0).all() and (np.diff(rep.fd_basis, axis=-1) > 0).all()
    if n3 > 19:  # every tap in the common window {(M_initial + n) mod N3, n < 2 M_v}
        assert ((-2 * mv < rep.m_initial) & (rep.m_initial <= 0)).all()
        window = (rep.m_initial[:, None] + np.arange(2 * mv)) % n3
        assert all(np.isin(rep.fd_basis[i], window[i]).all() for i in range(6))
    star = np.take_along_axis(rep.bitmap[..., 0], rep.strongest[..., None], axis=-1)
    assert star.all()
    assert ((rep.k1 >= 1) & (rep.k1 <= 15)).all() and (rep.k1 == 15).any(axis=-1).all()
    sci = rep.sci()
    assert ((sci >= 0) & (sci < (rep.k_nz if rank == 1 else 2 * big_l))).all()
    bits = rep.payload_bits()
    assert (bits <= etype2.payload_bits(4, 2, 4, 4, n3, pc, rank)["total"]).all()
    assert np.isfinite(v_hat).all()


def test_bad_input_names_the_field(rng):
    v = _random_eigenvectors(rng, 2, 13, 16, 1)
    with pytest.raises(LinksimInputError, match="ports"):
        etype2.encode(v[:, :, :12], 4, 2, 4, 4, 1)
    with pytest.raises(LinksimInputError, match="param_combination"):
        etype2.encode(v, 4, 2, 4, 4, 9)
    with pytest.raises(LinksimInputError, match="param_combination"):
        etype2.payload_bits(4, 2, 4, 4, 13, 0, 1)
    with pytest.raises(LinksimInputError, match="rank"):
        etype2.encode(_random_eigenvectors(rng, 1, 13, 32, 3), 4, 4, 4, 4, 7)
    with pytest.raises(LinksimInputError, match="rank"):
        etype2.payload_bits(4, 4, 4, 4, 13, 8, 3)
    with pytest.raises(LinksimInputError, match="param_combination 7 needs at least 32"):
        etype2.encode(v, 4, 2, 4, 4, 7)
    with pytest.raises(LinksimInputError, match="k_nz"):
        etype2.payload_bits(4, 2, 4, 4, 13, 1, 2, k_nz=9)
    with pytest.raises(LinksimInputError, match="v must be"):
        etype2.encode(v[0], 4, 2, 4, 4, 1)
    with pytest.raises(LinksimInputError, match="r "):
        etype2.encode(v, 4, 2, 4, 4, 1, r=3)


def test_strict_false_allows_barred_configurations_and_zero_input_is_finite(rng):
    v = _random_eigenvectors(rng, 2, 13, 16, 2)
    v_hat, rep = etype2.compress(v, 4, 2, 4, 4, 7, strict=False)  # pc 7 on 16 ports
    assert rep.beams.shape == (2, 6) and np.isfinite(v_hat).all()
    with np.errstate(all="raise"):
        v_hat, rep = etype2.compress(np.zeros((1, 13, 16, 1)), 4, 2, 4, 4, 1)
    assert np.isfinite(v_hat).all() and rep.k_nz.tolist() == [[1]]
