"""Angular-delay transforms: a single path lands in its bin; everything round-trips."""

import numpy as np
import pytest

from linksim.phy import transforms
from tests.conftest import rayleigh


@pytest.mark.parametrize("delay_tap,angle_bin", [(0, 0), (5, 3), (17, 30)])
def test_single_path_lands_in_its_bin(delay_tap, angle_bin):
    nc, nt, scs = 256, 32, 60e3
    f = (np.arange(nc) - nc // 2) * scs  # centred baseband frequencies
    tau = delay_tap / (nc * scs)
    n = np.arange(nt)
    h = (np.exp(-2j * np.pi * f * tau)[:, None]
         * np.exp(2j * np.pi * n * angle_bin / nt)[None, :])[None].astype(np.complex64)
    h_ad = transforms.to_angular_delay(h)
    mag = np.abs(h_ad[0])
    assert np.unravel_index(np.argmax(mag), mag.shape) == (delay_tap, angle_bin)
    # All the energy in that one bin (on-grid path), unitary scaling.
    assert mag[delay_tap, angle_bin] ** 2 == pytest.approx(np.sum(np.abs(h) ** 2), rel=1e-4)
    assert transforms.energy_kept(h, delay_tap + 1)[0] == pytest.approx(1.0, abs=1e-5)
    assert transforms.energy_kept(h, max(delay_tap, 1))[0] < (1.0 if delay_tap else 2.0)


def test_round_trips_are_exact(rng):
    h = rayleigh(rng, 3, 64, 16)
    np.testing.assert_allclose(transforms.to_space_frequency(transforms.to_angular_delay(h)), h,
                               atol=1e-5)
    h_ad = transforms.to_angular_delay(h)
    np.testing.assert_array_equal(transforms.truncate(transforms.zero_fill(h_ad[:, :8], 64), 8),
                                  h_ad[:, :8])
    x = transforms.complex_to_real(h_ad[:, :8])
    assert x.shape == (3, 8, 16, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(transforms.real_to_complex(x), h_ad[:, :8])
    norm = transforms.Normalizer.fit(x)
    xn = norm.forward(x)
    assert xn.min() >= 0.0 and xn.max() <= 1.0
    assert np.isclose(xn.max(), 1.0) or np.isclose(xn.min(), 0.0)
    np.testing.assert_allclose(norm.inverse(xn), x, atol=1e-6 * norm.scale)


def test_transforms_are_unitary(rng):
    h = rayleigh(rng, 2, 32, 8)
    assert np.sum(np.abs(transforms.to_angular_delay(h)) ** 2) == pytest.approx(
        np.sum(np.abs(h) ** 2), rel=1e-5)


def test_zero_fill_rebuild_keeps_truncated_part(rng):
    """Rebuilding from the truncated AD gives the projection of H on the kept delay taps."""
    h = rayleigh(rng, 2, 64, 8)
    h_rec = transforms.rebuild_space_frequency(transforms.truncated_angular_delay(h, 16), 64)
    kept = transforms.energy_kept(h, 16)
    err = np.sum(np.abs(h - h_rec) ** 2, axis=(1, 2)) / np.sum(np.abs(h) ** 2, axis=(1, 2))
    np.testing.assert_allclose(err, 1.0 - kept, atol=1e-5)


def test_normalizer_rejects_zero_data():
    with pytest.raises(ValueError):
        transforms.Normalizer.fit(np.zeros((2, 4, 4, 2), np.float32))


def test_single_path_through_the_channel_stage_lands_in_its_delay_bin():
    """A one-path CIR at an on-grid delay, via linksim.channels.uma.frequency_response."""
    from linksim.channels.uma import frequency_response, subcarrier_frequencies

    nc, nt, scs, tap = 1024, 32, 30e3, 7
    a = np.zeros((1, nt, 2), np.complex64)
    a[0, :, 0] = np.exp(2j * np.pi * np.arange(nt) * 5 / nt)  # angle bin 5
    tau = np.array([[tap / (nc * scs), 0.0]], np.float32)
    h = frequency_response(a, tau, subcarrier_frequencies(nc, scs))
    mag = np.abs(transforms.truncated_angular_delay(h, 32)[0])
    assert np.unravel_index(np.argmax(mag), mag.shape) == (tap, 5)
    assert transforms.energy_kept(h, 32)[0] == pytest.approx(1.0, abs=1e-3)
