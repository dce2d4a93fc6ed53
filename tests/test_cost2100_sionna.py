"""The COST 2100 generator as a Sionna ChannelModel (linksim.channels.cost2100_sionna): Sionna's
own cir_to_ofdm_channel on its (a, tau) gives our space-frequency channel, and the truncated
angular-delay transform of that our closed-form angular-delay output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from linksim.channels import cost2100 as c
from linksim.channels.cost2100_sionna import Cost2100ChannelModel
from linksim.channels.uma import subcarrier_frequencies
from sionna.phy.channel import ChannelModel, cir_to_ofdm_channel

from linksim.phy import transforms

NT, NC, BW, NA = 8, 256, 20e6, 16


def _rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _sionna_h(a, tau, freqs):
    """Sionna's frequency response ``[b, 1, 1, 1, Nt, T, Nc]`` as linksim's ``[b, Nc, Nt]``
    (first time step)."""
    h = cir_to_ofdm_channel(torch.as_tensor(freqs), a, tau)
    return h[:, 0, 0, 0, :, 0, :].permute(0, 2, 1).cpu().numpy()


def test_interface_and_sample_sequence():
    m = Cost2100ChannelModel("indoor_5.3GHz", num_bs_antennas=NT, seed=4)
    assert isinstance(m, ChannelModel)
    assert (m.num_tx, m.num_tx_ant, m.num_rx, m.num_rx_ant) == (1, NT, 1, 1)
    a1, tau1 = m(20, 3, 1e6)
    a2, tau2 = m(30, 1, 1e6)
    assert m.next_sample == 50
    assert a1.shape[:5] == (20, 1, 1, 1, NT) and a1.shape[-1] == 3
    assert tau1.shape == (20, 1, 1, 1, NT, a1.shape[5])
    assert a1.dtype == torch.complex64 and tau1.dtype == torch.float32
    assert torch.equal(a1[..., 0], a1[..., 2])  # static snapshots
    # call after call: the samples of generate_cost2100_paths with the same seed
    g, tau = c.generate_cost2100_paths(50, "indoor_5.3GHz", NT, seed=4)
    for lo, a, t in ((0, a1, tau1), (20, a2, tau2)):
        p = a.shape[5]
        b = a.shape[0]
        np.testing.assert_array_equal(a[:, 0, 0, 0, :, :, 0].numpy(), g[lo:lo + b, :, :p])
        np.testing.assert_array_equal(t[:, 0, 0, 0].numpy(), tau[lo:lo + b, :, :p])
        assert not np.any(g[lo:lo + b, :, p:])
    m.reset()
    np.testing.assert_array_equal(m(20)[0].numpy(), a1[..., :1].numpy())


@pytest.mark.parametrize("env", ["indoor_5.3GHz", "semiurban_300MHz_nlos"])
def test_sionna_ofdm_channel_equals_our_generator(env):
    """cir_to_ofdm_channel at linksim's subcarriers = our space-frequency channel; its truncated
    angular-delay transform = the closed-form generate_cost2100_ad output."""
    n = 6
    freqs = subcarrier_frequencies(NC, BW / NC)
    g, tau = c.generate_cost2100_paths(n, env, NT, seed=9)
    h_ours = c.frequency_response(g, tau, freqs)
    h_ad, kept = c.generate_cost2100_ad(n, env, NT, NC, BW, NA, seed=9)

    single = Cost2100ChannelModel(env, num_bs_antennas=NT, seed=9, precision="single")
    h_single = _sionna_h(*single(n, 1, BW), freqs)
    assert h_single.dtype == np.complex64
    assert _rel(h_single, h_ours) < 2e-5  # float32 phases in Sionna

    double = Cost2100ChannelModel(env, num_bs_antennas=NT, seed=9, precision="double")
    h = _sionna_h(*double(n, 1, BW), freqs)
    assert _rel(h, h_ours) < 2e-6  # ours is complex64
    # angular-delay: the closed form to float tolerance (its NUFFT error is ~7e-7)
    ad = transforms.truncated_angular_delay(h, NA)
    assert _rel(ad, h_ad) < 3e-6
    np.testing.assert_allclose(transforms.energy_kept(h, NA), kept, rtol=3e-6)


def test_per_path_delays_exact_at_the_carrier():
    """The 4-D interface delays (one per path, array response in a): exact on the carrier
    subcarrier, and near it over a narrow band."""
    env = "indoor_5.3GHz"
    m = Cost2100ChannelModel(env, num_bs_antennas=NT, seed=1, per_antenna_delays=False,
                             precision="double")
    a, tau = m(5)
    assert tau.shape == (5, 1, 1, a.shape[5])
    freqs = subcarrier_frequencies(NC, BW / NC)
    g, t = c.generate_cost2100_paths(5, env, NT, seed=1)
    h_ours = c.frequency_response(g, t, freqs)
    h = _sionna_h(a, tau, freqs)
    k0 = NC // 2  # f = 0
    assert _rel(h[:, k0], h_ours[:, k0]) < 1e-6
    near = slice(k0 - 4, k0 + 5)  # +- 300 kHz
    assert _rel(h[:, near], h_ours[:, near]) < 0.01
