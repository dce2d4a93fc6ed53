"""Multi-antenna UMa / UMi channels: the BS panel, the multi-antenna UE, the eType II port order.

The reference data in ``tests/data/uma_*`` were computed at the commit before these fields
existed (8d09d4c): the generator configs and cache keys of three UMa configs, and the first
samples of a small ULA split (``GENERATION_BATCH = 4``).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from linksim.channels import dataset
from linksim.channels.antenna_arrays import BsPanel, bs_port_order, make_bs_array
from linksim.channels.dataset import cache_key, generate, generate_to_file
from linksim.channels.dataset_files import read_dataset
from linksim.channels.uma_model import draw_uma_batch, make_uma_model, seeded_sionna_rng
from pydantic import ValidationError

from linksim.etype2.coder import select_beams
from linksim.phy.eigen import subband_covariance, subband_eigenvectors
from linksim.scenario import UMaChannel
from tests import scenarios

DATA = Path(__file__).parent / "data"
#: The configs of tests/data/uma_generator_configs.json, as they were built.
REFERENCE_CONFIGS = {
    "default": {},
    "small": {"num_bs_antennas": 4, "num_subcarriers": 8, "bs_antenna_pattern": "38.901",
              "ue_orientation": "random", "ue_speed_mps": 3.0},
    "series": {"num_bs_antennas": 4, "num_subcarriers": 8, "num_snapshots": 2, "n_train": 4,
               "n_val": 2, "n_test": 2, "carrier_frequency_hz": 3.5e9},
}
SMALL_MIMO = {"num_subcarriers": 12, "carrier_frequency_hz": 3.5e9, "n_train": 0, "n_val": 0,
              "n_test": 3, "bs_array": {"n1": 2, "n2": 1, "polarization": "dual"},
              "num_ue_antennas": 4}


@pytest.fixture
def batch4(monkeypatch):
    monkeypatch.setattr(dataset, "GENERATION_BATCH", 4)


def test_existing_configs_keep_their_cache_keys():
    stored = json.loads((DATA / "uma_generator_configs.json").read_text())
    for name, kw in REFERENCE_CONFIGS.items():
        g = UMaChannel(**kw).generator_config()
        assert g == stored[name]["generator_config"]
        assert cache_key(g, "test", 6, 11) == stored[name]["cache_key"]
    # the new fields enter the key only away from their defaults
    g = UMaChannel(scenario="uma", num_ue_antennas=1, bs_array=None).generator_config()
    assert g == stored["default"]["generator_config"]
    assert UMaChannel(scenario="umi").generator_config()["scenario"] == "umi"


def test_ula_samples_identical_to_before(batch4):
    ref = np.load(DATA / "uma_ula_reference.npz")
    ds = generate(UMaChannel(**REFERENCE_CONFIGS["small"]).generator_config(), 6, 11)
    assert ds.a.shape == (6, 4, 24) and ds.a.dtype == np.complex64
    np.testing.assert_array_equal(ds.a, ref["a"])
    np.testing.assert_array_equal(ds.tau, ref["tau"])
    np.testing.assert_array_equal(ds.channels(), ref["h"])
    assert ds.meta["generator"] == "sionna-38.901-uma-nlos" and "bs_ports" not in ds.meta


def test_panel_positions_and_polarisations_in_etype2_order():
    """Port p = pol N1N2 + n1 N2 + n2 sits at column n1 (+y) and row n2 (+z, upwards), half a
    wavelength apart, with slant -45 degrees for pol 0 and +45 degrees for pol 1."""
    panel = BsPanel(4, 3, "dual")
    fc = 3.5e9
    arr = make_bs_array(0, panel, "omni", fc, "cpu")
    order = bs_port_order(panel)
    assert sorted(order) == list(range(panel.num_ports))
    lam = 299_792_458.0 / fc
    pos = arr.ant_pos.cpu().numpy()[order] / (lam / 2)  # [24, 3] in half wavelengths
    _pol, n1, n2 = np.meshgrid(np.arange(2), np.arange(4), np.arange(3), indexing="ij")
    np.testing.assert_allclose(pos[:, 0], 0, atol=1e-5)
    np.testing.assert_allclose(pos[:, 1] - pos[0, 1], n1.reshape(-1), atol=1e-4)
    np.testing.assert_allclose(pos[:, 2] - pos[0, 2], n2.reshape(-1), atol=1e-4)
    pol1 = set(arr.ant_ind_pol1.cpu().numpy().tolist())
    assert set(order[:12].tolist()) == pol1
    assert set(order[12:].tolist()) == set(arr.ant_ind_pol2.cpu().numpy().tolist())
    assert np.isclose(float(arr.ant_pol1.slant_angle), -np.pi / 4)
    assert np.isclose(float(arr.ant_pol2.slant_angle), np.pi / 4)
    # single polarisation: the first half only, vertical elements
    single = BsPanel(4, 3, "single")
    assert single.num_ports == 12 and np.array_equal(bs_port_order(single), order[:12])


def test_los_channel_picks_the_etype2_beam_of_its_direction():
    """A LOS drop through Sionna, BS at 25 m (panel facing +x), UE 23.5 m lower at 60 deg from
    the zenith (r_z = -1/2) and an azimuth with r_y = 3/8: the strongest path's ports, and the
    subband eigenvectors of the channel, pick the oversampled DFT beam of that direction,
    m1 / (O1 N1) = r_y / 2 and m2 / (O2 N2) = r_z / 2 (mod 1), i.e. (m1, m2) = (3, 6), on both
    polarisations; the wrong vertical order would give m2 = 2, the wrong horizontal one 13."""
    panel, o1, o2, b = BsPanel(4, 2, "dual"), 4, 4, 6
    with torch.no_grad():
        model = make_uma_model(0, 3.5e9, antenna_pattern="omni", bs_panel=panel)
    dist, phi = 23.5 * np.sqrt(3), np.arcsin(0.375 / (np.sqrt(3) / 2))
    ue = torch.tensor([dist * np.cos(phi), dist * np.sin(phi), 1.5])
    bs = torch.tensor([0.0, 0.0, 25.0])
    r = ((ue - bs) / (ue - bs).norm()).numpy()
    zero = torch.zeros(b, 1, 3)
    with seeded_sionna_rng("cpu") as gen, torch.no_grad():
        gen.manual_seed(3)
        model.set_topology(ue.expand(b, 1, 3).clone(), bs.expand(b, 1, 3).clone(), zero,
                           zero.clone(), zero.clone(), torch.zeros(b, 1, dtype=torch.bool),
                           los=True)
        a, tau = draw_uma_batch(model, bs_port_order(panel))
    a, tau = a.numpy(), tau.numpy()
    m1_true, m2_true = (r[1] / 2 * o1 * 4) % 16, (r[2] / 2 * o2 * 2) % 8
    np.testing.assert_allclose([m1_true, m2_true], [3, 6], atol=1e-4)
    expected = (3, 6)

    def beam(v):  # v [b, N3, 16, L] -> (m1, m2) per sample
        q, k = select_beams(v, 4, 2, o1, o2, 1)
        return o1 * (k[:, 0] % 4) + q[:, 0], o2 * (k[:, 0] // 4) + q[:, 1]

    strongest = a[np.arange(b), :, np.argmax((np.abs(a) ** 2).sum(1), axis=1)]  # [b, 16]
    for half in (strongest[:, :8], strongest[:, 8:]):  # each polarisation alone, twice
        m1, m2 = beam(np.concatenate([half, half], axis=1)[:, None, :, None])
        assert np.all(m1 == expected[0]) and np.all(m2 == expected[1])
    from linksim.channels.cir import frequency_response, subcarrier_frequencies

    h = frequency_response(a, tau, subcarrier_frequencies(24, 30e3))[:, :, None]  # Nr = 1
    v = subband_eigenvectors(h, 12, 1)[0]
    m1, m2 = beam(v)
    assert np.all(m1 == expected[0]) and np.all(m2 == expected[1])


def test_mimo_split_shapes_store_and_determinism(batch4, tmp_path):
    g = UMaChannel(scenario="umi", **SMALL_MIMO).generator_config()
    assert g["num_bs_antennas"] == 4 and g["num_ue_antennas"] == 4
    ds = generate(g, 3, 5)
    assert ds.a.shape == (3, 4, 4, 23) and ds.a.dtype == np.complex64
    assert ds.meta["generator"] == "sionna-38.901-umi-nlos" and "bs_ports" in ds.meta
    assert (ds.num_antennas, ds.num_ue_antennas) == (4, 4)
    h = ds.channels()
    assert h.shape == (3, 12, 4, 4) and h.dtype == np.complex64
    np.testing.assert_array_equal(generate(g, 3, 5).a, ds.a)  # the seed fixes the samples
    assert not np.allclose(generate(g, 3, 6).a, ds.a)
    # the same store: file, checksum, lazy reading, batches
    path = generate_to_file(g, "test", 3, 5, tmp_path / "mimo.h5")
    with read_dataset(path, lazy=True) as back:
        np.testing.assert_array_equal(back.a[...], ds.a)
        parts = list(back.batches(2))
    assert [p.shape for p in parts] == [(2, 12, 4, 4), (1, 12, 4, 4)]
    np.testing.assert_array_equal(np.concatenate(parts), h)
    # linksim's eigenvector CSI reads it: R_s v = lambda v for the top-2 eigenvectors
    v, lam = subband_eigenvectors(h, 4, 2)
    assert v.shape == (3, 3, 4, 2)
    r = subband_covariance(h, 4)
    np.testing.assert_allclose(r @ v, v * lam[..., None, :], rtol=1e-4, atol=1e-4 * lam.max())
    # the UE's antennas carry comparable power (omni, upright: about 1 per antenna pair)
    per_rx = np.mean(np.abs(h) ** 2, axis=(0, 1, 3))
    assert per_rx.min() > 0.1 * per_rx.max()


@pytest.mark.parametrize("changes,field", [
    ({"bs_array": {"n1": 0, "n2": 2}}, "bs_array.n1"),
    ({"bs_array": {"n1": 4, "n2": 2, "polarization": "triple"}}, "bs_array.polarization"),
    ({"bs_array": {"n1": 4, "n2": 2}, "num_bs_antennas": 32}, "num_bs_antennas"),
    ({"num_ue_antennas": 3}, "num_ue_antennas"),
    ({"num_ue_antennas": 0}, "num_ue_antennas"),
    ({"scenario": "rma"}, "scenario"),
])
def test_bad_array_settings_name_the_field(changes, field):
    with pytest.raises(ValidationError) as err:
        UMaChannel(**changes)
    assert field in str(err.value)
    assert UMaChannel(bs_array={"n1": 4, "n2": 2}, num_bs_antennas=16).num_bs_antennas == 16


def test_bad_array_exits_2_from_the_cli(tmp_path):
    from click.testing import CliRunner

    from linksim.cli import main

    path = scenarios.write(tmp_path, {"datasets.uma_small.bs_array": {"n1": 4, "n2": 2,
                                                                      "polarization": "triple"}})
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2, res.output
    assert "datasets.uma_small.uma.bs_array.polarization" in res.output


def test_full_channel_run_refuses_a_multi_antenna_ue(tmp_path):
    from click.testing import CliRunner

    from linksim.cli import main

    path = scenarios.write(tmp_path, {"datasets.uma_small.num_ue_antennas": 4})
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2, res.output
    assert "datasets.uma_small.num_ue_antennas: 4 UE antennas" in res.output
