"""COST 2100 and CsiNet .mat data sets through scenarios, `linksim run` and the data commands."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from linksim.channels.csinet_mat import write_csinet_mat
from linksim.channels.dataset import read_dataset

from linksim.cli import main
from linksim.phy.transforms import energy_kept
from linksim.scenario import load_scenario
from tests import scenarios

NA, NC, NT = 16, 128, 16
COST = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": NT,
        "num_subcarriers": NC, "bandwidth_hz": 20e6, "num_delay_rows": NA,
        "n_train": 200, "n_val": 50, "n_test": 60}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _cost_scenario(tmp_path, extra=None):
    changes = {"datasets": {"indoor": dict(COST)}, "training.train_sets": ["indoor"],
               "evaluation.test_sets": ["indoor"], "estimation.pilot_snr_db": [0, 20]}
    return scenarios.write(tmp_path, {**changes, **(extra or {})})


def _run_dir(tmp_path):
    dirs = list((tmp_path / "runs").iterdir())
    assert len(dirs) == 1 and not dirs[0].name.startswith(".")
    return dirs[0]


def _check_baselines(df, na, nc, nt):
    """perfect: exact; LS on a channel limited to the kept rows: NMSE = (Na/Nc) / SNR."""
    perfect = df[df["codec"] == "perfect"]
    assert (perfect["nmse_ad_db"] < -100).all()  # -inf, or float rounding
    np.testing.assert_allclose(perfect["bf_gain_db"], 10 * np.log10(nt), atol=1e-6)
    ls = df[df["codec"] == "ls_uncompressed"].sort_values("pilot_snr_db")
    theory = -ls["pilot_snr_db"] + 10 * np.log10(na / nc)
    np.testing.assert_allclose(ls["nmse_ad_db"], theory, atol=0.4)


def test_cost2100_scenario_end_to_end(tmp_path):
    path = _cost_scenario(tmp_path)
    res = invoke("run", path, "--no-progress")
    assert res.exit_code == 0, res.output
    run_dir = _run_dir(tmp_path)
    df = pd.read_csv(run_dir / "results.csv")
    assert set(df["codec"]) == {"perfect", "ls_uncompressed", "no_feedback", "csinet"}
    assert (df["n_samples"] == 60).all()
    _check_baselines(df, NA, NC, NT)
    codec = df[df["codec"] == "csinet"]
    assert np.isfinite(codec[["nmse_ad_db", "bf_gain_db", "rho"]]).all().all()
    m = json.loads((run_dir / "manifest.json").read_text())
    info = m["datasets"]["indoor/test"]
    assert info["family"] == "cost2100" and info["n"] == 60
    # The stored rows are the channel: the pipeline's own truncation keeps all of it, and the
    # energy the generator's truncation lost is recorded instead.
    assert m["truncation_energy_kept"]["indoor"]["mean"] == pytest.approx(1.0, abs=1e-4)
    assert 0.5 < info["generator_energy_kept_mean"] <= 1.0

    # Second run: every split comes from the cache, same test channels.
    res = invoke("generate", path, "--no-progress")
    assert res.exit_code == 0, res.output
    assert res.output.count("from cache") == 3
    test_file = info["path"]
    assert f"indoor/test: {test_file}  n=60" in res.output
    ds = read_dataset(test_file)
    np.testing.assert_allclose(energy_kept(ds.channels(), NA), 1.0, atol=1e-5)

    res = invoke("datasets", "--cache-dir", tmp_path / "cache")
    assert res.exit_code == 0, res.output
    lines = [ln.split() for ln in res.output.splitlines()[1:]]
    assert sorted((ln[0], ln[1], ln[2], ln[3]) for ln in lines) == [
        ("cost2100", "test", "60", "16"), ("cost2100", "train", "200", "16"),
        ("cost2100", "val", "50", "16")]

    prefix = tmp_path / "plots" / "indoor"
    res = invoke("stats", test_file, "--output", prefix, "--max-samples", 40)
    assert res.exit_code == 0, res.output
    for stat in ("delay_spread_ns", "angular_spread_deg", "sparsity_90", "energy_kept"):
        assert stat in res.output
    assert (tmp_path / "plots" / "indoor_cdf.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "indoor_ad_examples.png").stat().st_size > 1000


def test_csinet_mat_scenario_end_to_end(tmp_path):
    rng = np.random.default_rng(7)
    files = {}
    for split, n in (("train", 150), ("val", 40), ("test", 50)):
        # Sparse angular-delay channels: a few strong taps in the first delay rows.
        h = np.zeros((n, 32, 32), np.complex64)
        h[:, :4] = (rng.standard_normal((n, 4, 32)) + 1j * rng.standard_normal((n, 4, 32)))
        files[split] = f"data/{split}.mat"
        (tmp_path / "data").mkdir(exist_ok=True)
        write_csinet_mat(tmp_path / files[split], h)
    ds_cfg = {"family": "csinet_mat", "train_file": files["train"], "val_file": files["val"],
              "test_file": str(tmp_path / files["test"]), "num_subcarriers": 256}
    path = scenarios.write(tmp_path, {
        "datasets": {"mat": ds_cfg}, "training.train_sets": ["mat"],
        "evaluation.test_sets": ["mat"], "preprocessing.num_delay_rows": 32,
        "estimation.pilot_snr_db": [10, 30]})
    sc = load_scenario(path)
    assert sc.datasets["mat"].train_file == tmp_path / "data" / "train.mat"  # relative to file
    res = invoke("run", path, "--no-progress")
    assert res.exit_code == 0, res.output
    df = pd.read_csv(_run_dir(tmp_path) / "results.csv")
    assert (df["n_samples"] == 50).all()
    _check_baselines(df, 32, 256, 32)
    res = invoke("generate", path)
    assert res.exit_code == 0 and res.output.count("loaded") == 3, res.output
    assert "mat/train: " in res.output and "n=150" in res.output


@pytest.mark.parametrize("changes, message", [
    ({"datasets.indoor.environment": "moon"},
     ("datasets.indoor.cost2100.environment: unknown COST 2100 environment 'moon'; one of "
      "indoor_5.3GHz")),
    ({"datasets.indoor.num_delay_rows": 8},
     "preprocessing.num_delay_rows: Na=16 exceeds the 8 delay rows stored by datasets.indoor"),
    ({"datasets.indoor.colour": "red"}, "datasets.indoor.cost2100.colour: unknown key"),
])
def test_cost2100_schema_errors_name_the_field(tmp_path, changes, message):
    path = _cost_scenario(tmp_path, changes)
    res = invoke("validate", path)
    assert res.exit_code == 2
    assert message in res.output


def test_csinet_mat_missing_file_names_field(tmp_path):
    path = scenarios.write(tmp_path, {
        "datasets": {"mat": {"family": "csinet_mat", "test_file": "nowhere.mat"}},
        "training.train_sets": ["mat"], "evaluation.test_sets": ["mat"]})
    res = invoke("validate", path)
    assert res.exit_code == 2
    assert f"datasets.mat.csinet_mat.test_file: file not found: {tmp_path / 'nowhere.mat'}" \
        in res.output
    assert "datasets.mat: a training set needs train_file and val_file" not in res.output


def test_data_commands_exit_2_on_bad_input(tmp_path):
    res = invoke("stats", tmp_path / "missing.h5")
    assert res.exit_code == 2 and "missing.h5: data set file not found" in res.output
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5" * 100)
    res = invoke("stats", bad)
    assert res.exit_code == 2 and "bad.h5: corrupt or unreadable data set" in res.output
    res = invoke("datasets", "--cache-dir", tmp_path / "nope")
    assert res.exit_code == 2
    res = invoke("generate", tmp_path / "nope.yaml")
    assert res.exit_code == 2 and "cannot read scenario file" in res.output
    (tmp_path / "cache").mkdir()
    bad.rename(tmp_path / "cache" / "bad.h5")
    res = invoke("datasets", "--cache-dir", tmp_path / "cache")
    assert res.exit_code == 0 and "?" in res.output


def test_generate_and_stats_on_impulse_response_data(tmp_path):
    """The uma family (CirDataset files) through the same commands."""
    path = scenarios.write(tmp_path, {"datasets.uma_small.n_train": 40,
                                      "datasets.uma_small.n_val": 10,
                                      "datasets.uma_small.n_test": 20})
    res = invoke("generate", path, "--no-progress")
    assert res.exit_code == 0, res.output
    assert res.output.count("generated") == 3
    kept = [float(ln.rsplit(" ", 1)[1]) for ln in res.output.splitlines()]
    assert all(0.3 < k <= 1.0 for k in kept)  # 16 of 128 rows at 120 kHz spacing
    test_file = next((tmp_path / "cache").glob("uma-test-*.h5"))
    res = invoke("stats", test_file, "--output", tmp_path / "u", "--num-delay-rows", 16)
    assert res.exit_code == 0, res.output
    assert "path_delay_spread_ns" in res.output and "sionna" in res.output
    assert (tmp_path / "u_cdf.png").is_file() and (tmp_path / "u_ad_examples.png").is_file()


def test_csinet_mat_model_key_follows_the_file(tmp_path):
    """A cached model trained on a .mat file is not reused once the file is replaced."""
    import os

    from linksim.pipeline import Run

    h = np.zeros((8, 32, 32), np.complex64)
    h[:, 0, 0] = 1.0
    for split in ("train", "val", "test"):
        write_csinet_mat(tmp_path / f"{split}.mat", h)
    path = scenarios.write(tmp_path, {
        "datasets": {"mat": {"family": "csinet_mat", "train_file": "train.mat",
                             "val_file": "val.mat", "test_file": "test.mat"}},
        "training.train_sets": ["mat"], "evaluation.test_sets": ["mat"],
        "preprocessing.num_delay_rows": 32})
    sc = load_scenario(path)
    spec = sc.codecs[0]
    ideal = sc.training.feedback_list()[0]
    key = Run(sc, path)._model_key(spec, 4, "mat", ideal)
    assert Run(sc, path)._model_key(spec, 4, "mat", ideal) == key
    write_csinet_mat(tmp_path / "train.mat", h[:6])
    os.utime(tmp_path / "train.mat", ns=(1, 1))
    assert Run(sc, path)._model_key(spec, 4, "mat", ideal) != key
