"""Feedback link: quantisation error within half a step, payload bits counted."""

import itertools

import numpy as np
import pytest

from linksim.feedback import IdealLink, UniformQuantizer


def test_ideal_link_is_identity_with_32_bit_payload(rng):
    z = rng.standard_normal((5, 64)).astype(np.float32)
    link = IdealLink().fit(z)
    assert np.array_equal(link.transmit(z), z)
    assert link.payload_bits(64) == 2048


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 12])
def test_uniform_quantiser_error_within_half_step(bits, rng):
    z = rng.standard_normal((200, 32)).astype(np.float32)
    q = UniformQuantizer(bits).fit(z)
    step = (q.hi - q.lo) / 2 ** bits
    symbols = q.quantise(z)
    assert symbols.min() >= 0 and symbols.max() <= 2 ** bits - 1
    assert np.max(np.abs(q.transmit(z) - z)) <= step / 2 + 1e-6 * np.max(np.abs(z))  # + float32 rounding
    assert q.payload_bits(32) == 32 * bits
    assert q.name == f"uniform{bits}b"


def test_quantiser_clips_outside_training_range(rng):
    q = UniformQuantizer(3).fit(np.array([[0.0, 1.0]]))
    out = q.transmit(np.array([[-5.0, 5.0]]))
    np.testing.assert_allclose(out, [[0.0625, 0.9375]])


def test_more_bits_less_error(rng):
    z = rng.standard_normal((100, 16)).astype(np.float32)
    errs = [np.mean((UniformQuantizer(b).fit(z).transmit(z) - z) ** 2) for b in (2, 4, 6, 8)]
    assert all(e1 > 3.0 * e2 for e1, e2 in itertools.pairwise(errs))  # ~6 dB per bit


def test_bad_bit_count_is_rejected():
    with pytest.raises(ValueError):
        UniformQuantizer(0)
    with pytest.raises(RuntimeError):
        UniformQuantizer(4).transmit(np.zeros((1, 2)))
