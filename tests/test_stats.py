"""Channel statistics: spreads, sparsity and Gini on channels whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from linksim import stats

NA, NT = 32, 32
RES = 1.0 / (1024 * 30e3)  # one delay row at 1024 x 30 kHz [s]


def _paths(entries, na=NA, nt=NT, b=1):
    """[b, Na, Nt] with the given {(row, bin): value} on the grid."""
    h = np.zeros((b, na, nt), np.complex64)
    for (m, a), v in entries.items():
        h[:, m, a] = v
    return h


@pytest.mark.parametrize("m,a", [(0, 0), (7, 19), (31, 31), (4, 16)])
def test_single_path(m, a):
    h = _paths({(m, a): 0.3 - 2j})
    assert stats.rms_delay_spread_ad(h, RES)[0] == 0.0
    assert stats.sparsity(h)[0] == 1 / (NA * NT)
    assert stats.angular_spread_ad(h, "bins")[0] == 0.0
    assert stats.angular_spread_ad(h, "deg")[0] == 0.0
    assert stats.gini_index(h)[0] == pytest.approx(1 - 1 / (NA * NT))


@pytest.mark.parametrize("m1,m2", [(0, 1), (2, 12), (0, 31)])
def test_two_equal_paths_delay_spread(m1, m2):
    h = _paths({(m1, 3): 1.0, (m2, 20): 1j})  # equal power, any angles
    assert stats.rms_delay_spread_ad(h, RES)[0] == pytest.approx(abs(m1 - m2) / 2 * RES)
    assert stats.sparsity(h)[0] == 2 / (NA * NT)
    # Unequal powers p1, p2: sigma = |m1 - m2| sqrt(p1 p2) / (p1 + p2).
    h2 = _paths({(m1, 3): 2.0, (m2, 3): 1.0})
    want = abs(m1 - m2) * np.sqrt(4 * 1) / 5 * RES
    assert stats.rms_delay_spread_ad(h2, RES)[0] == pytest.approx(want)


def test_uniform_matrix():
    phase = np.linspace(0, 6, NA * NT).reshape(1, NA, NT)
    flat = np.repeat(np.exp(1j * phase), 2, axis=0).astype(np.complex64)  # |H| = 1 everywhere
    # ceil(0.9 * 1024) = 922 entries.
    assert stats.sparsity(flat)[0] == pytest.approx(922 / 1024)
    assert abs(stats.sparsity(flat)[0] - 0.9) < 1 / (NA * NT)
    assert stats.sparsity(np.ones((1, 10, 10)))[0] == pytest.approx(0.9)  # 90 of 100 exactly
    assert stats.gini_index(flat)[0] == pytest.approx(0.0, abs=1e-6)  # float32 |H|
    # Discrete uniform over Na rows / Nt bins: variance (N^2 - 1) / 12, wherever the cut.
    assert stats.rms_delay_spread_ad(flat, 1.0)[0] == pytest.approx(np.sqrt((NA**2 - 1) / 12))
    assert stats.angular_spread_ad(flat)[0] == pytest.approx(np.sqrt((NT**2 - 1) / 12))


def test_angular_spread_is_circular_and_mirror_invariant(rng):
    # Bins 31 and 0 are neighbours on the DFT axis (spatial frequency wraps).
    h = _paths({(0, 31): 1.0, (5, 0): 1.0})
    assert stats.angular_spread_ad(h, "bins")[0] == pytest.approx(0.5)
    h = _paths({(0, 2): 1.0, (0, 30): 1.0})  # circular distance 4
    assert stats.angular_spread_ad(h, "bins")[0] == pytest.approx(2.0)
    x = (rng.standard_normal((5, NA, NT)) * np.exp(-np.arange(NT) / 3)
         + 1j * rng.standard_normal((5, NA, NT))).astype(np.complex64)
    base = stats.angular_spread_ad(x)
    np.testing.assert_allclose(stats.angular_spread_ad(np.roll(x, 11, axis=-1)), base)
    mirrored = x[..., (-np.arange(NT)) % NT]  # a -> -a mod Nt (the CsiNet ambiguity)
    np.testing.assert_allclose(stats.angular_spread_ad(mirrored), base)
    np.testing.assert_allclose(stats.angular_spread_ad(mirrored, "deg"),
                               stats.angular_spread_ad(x, "deg"), rtol=1e-10)


@pytest.mark.parametrize("a", [1, 4, 8, 15])
def test_angular_spread_degrees_half_wavelength_ula(a):
    """Bins +a and -a: directions +-asin(2a/Nt), so the spread is asin(2a/Nt)."""
    h = _paths({(0, a): 1.0, (3, NT - a): 1.0})
    assert stats.angular_spread_ad(h, "deg")[0] == pytest.approx(np.degrees(np.arcsin(2 * a / NT)))
    # On the periodic bin axis +a and -a are min(2a, Nt - 2a) apart: near endfire (a = 15)
    # they are neighbours through bin 16, while the directions are +-69.6 deg apart.
    assert stats.angular_spread_ad(h, "bins")[0] == pytest.approx(min(a, NT / 2 - a))
    # Endfire bin 16 aliases -90 and +90: next to bin 17 (-69.6 deg) it counts as -90.
    h = _paths({(0, 16): 1.0, (0, 17): 1.0})
    assert stats.angular_spread_ad(h, "deg")[0] == pytest.approx(
        (90 - np.degrees(np.arcsin(15 / 16))) / 2)
    deg = stats.angle_bin_degrees(NT)
    assert deg[0] == 0 and deg[NT // 2] == -90 and deg[8] == pytest.approx(30)


def test_invariant_to_gain_and_zero_sample_is_nan(rng):
    x = (rng.standard_normal((4, NA, NT)) + 1j * rng.standard_normal((4, NA, NT))
         ).astype(np.complex64)
    a = stats.ad_statistics(x, RES)
    b = stats.ad_statistics(x * np.complex64(7 - 3j), RES)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5)
    z = stats.ad_statistics(np.zeros((1, NA, NT), np.complex64), RES)
    assert all(np.isnan(v[0]) for v in z.values())


def test_truncation_clips_delay_spread():
    """A path beyond the window is invisible to the AD spread (the path spread sees it)."""
    from linksim.channels.dataset import CirDataset
    from linksim.channels.uma import subcarrier_frequencies

    nc, nt, scs = 128, 8, 30e3
    res = 1.0 / (nc * scs)
    n = np.arange(nt)
    steer = np.exp(2j * np.pi * n * 3 / nt)  # angle bin 3
    a = np.stack([steer, steer, 0.5 * steer], axis=-1)[None].astype(np.complex64)  # [1, Nt, 3]
    tau = (np.array([[2, 9, 40]]) * res).astype(np.float32)
    ds = CirDataset(a, tau, subcarrier_frequencies(nc, scs))
    s_all = stats.dataset_statistics(ds, num_rows=48)
    s_cut = stats.dataset_statistics(ds, num_rows=16)
    p = np.array([1, 1, 0.25]) / 2.25
    t = np.array([2, 9, 40])
    want = np.sqrt(p @ t**2 - (p @ t) ** 2) * res * 1e9
    assert s_all["path_delay_spread_ns"][0] == pytest.approx(want, rel=1e-4)
    assert s_all["delay_spread_ns"][0] == pytest.approx(want, rel=1e-3)  # all paths inside
    assert s_all["energy_kept"][0] == pytest.approx(1.0, abs=1e-4)
    assert s_cut["delay_spread_ns"][0] == pytest.approx(3.5 * res * 1e9, rel=1e-3)
    assert s_cut["energy_kept"][0] == pytest.approx(2 / 2.25, abs=1e-4)
    assert s_cut["angular_spread_bins"][0] == pytest.approx(0.0, abs=1e-3)


def test_summarise():
    v = np.arange(1, 101, dtype=float)
    table = stats.summarise({"uma": {"delay_spread_ns": v, "gini": np.r_[v / 100, np.nan]},
                             "cost": {"gini": np.full(5, 0.5)}})
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["family", "statistic", "unit", "n", "mean", "median",
                                   "p10", "p90"]
    row = table[(table.family == "uma") & (table.statistic == "delay_spread_ns")].iloc[0]
    assert row.unit == "ns" and row.n == 100
    assert row["mean"] == 50.5 and row["median"] == 50.5
    assert row.p10 == pytest.approx(np.percentile(v, 10)) and row.p90 == pytest.approx(90.1)
    gini = table[(table.family == "uma") & (table.statistic == "gini")].iloc[0]
    assert gini.n == 100 and gini["mean"] == pytest.approx(0.505)  # NaN left out
    flat = stats.summarise({"sparsity_90": np.array([0.1, 0.3])})
    assert flat.family.tolist() == ["data"] and flat["mean"].iloc[0] == pytest.approx(0.2)


def test_plots_written_atomically(tmp_path, rng):
    x = {f: (rng.standard_normal((5, NA, NT)) + 1j * rng.standard_normal((5, NA, NT)))
         .astype(np.complex64) for f in ("uma", "cost2100")}
    by_family = {f: stats.ad_statistics(h, RES) for f, h in x.items()}
    stats.plot_stats(by_family, tmp_path / "stats.png")
    stats.plot_ad_examples({"uma": x["uma"], "cost2100": x["cost2100"][:2]},
                           tmp_path / "ad.png", num_examples=3)
    for name in ("stats.png", "ad.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ad.png", "stats.png"]
