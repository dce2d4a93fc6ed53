"""A tiny scenario through the CLI: complete outputs, NMSE improves with SNR, reproducible."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from linksim.cli import main
from linksim.pipeline import RESULT_COLUMNS
from tests import scenarios


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    path = scenarios.write(tmp)
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    run_dirs = [p for p in (tmp / "runs").iterdir()]
    assert len(run_dirs) == 1 and not run_dirs[0].name.startswith(".")
    return tmp, path, run_dirs[0], res.output


def test_outputs_are_complete(tiny_run):
    _, _, run_dir, output = tiny_run
    for name in ("results.csv", "manifest.json", "nmse_vs_snr.png", "bfgain_vs_snr.png",
                 "scenario.yaml", "training_csinet_cr4_uma_small.csv",
                 "training_csinet_cr4_uma_small.png",
                 "models/csinet_cr4_uma_small/encoder.keras"):
        assert (run_dir / name).is_file(), name
    df = pd.read_csv(run_dir / "results.csv")
    assert list(df.columns) == RESULT_COLUMNS
    # 3 SNRs x (3 baselines + 1 codec x 2 feedback links) on one test set.
    assert len(df) == 3 * 5
    assert set(df["codec"]) == {"perfect", "ls_uncompressed", "no_feedback", "csinet"}
    assert (df["n_samples"] == 100).all()
    codec = df[df["codec"] == "csinet"]
    assert set(codec["payload_bits"]) == {32 * 128 + 32, 4 * 128 + 32}  # + the norm

    m = json.loads((run_dir / "manifest.json").read_text())
    for key in ("scenario", "seed", "versions", "timings_s", "datasets",
                "truncation_energy_kept", "codecs"):
        assert key in m
    assert m["seed"] == 3
    assert {"numpy", "torch", "keras", "sionna-no-rt"} <= set(m["versions"])
    assert 0.5 < m["truncation_energy_kept"]["uma_small"]["mean"] <= 1.0
    assert m["codecs"][0]["ue_params"] > 0
    assert "NMSE_ad@40dB" in output  # the summary table


def test_physics_of_the_baselines(tiny_run):
    df = pd.read_csv(tiny_run[2] / "results.csv")
    perfect = df[df["codec"] == "perfect"]
    np.testing.assert_allclose(perfect["bf_gain_db"], 10 * np.log10(16), atol=1e-6)
    none = df[df["codec"] == "no_feedback"]
    np.testing.assert_allclose(none["nmse_ad_db"], 0.0, atol=1e-9)
    ls = df[df["codec"] == "ls_uncompressed"].sort_values("pilot_snr_db")
    # Truncation keeps Na/Nc of the noise: NMSE_ad = 1/SNR * Nc/Na * (1/energy kept) roughly.
    assert ls["nmse_ad_db"].is_monotonic_decreasing
    assert ls["bf_gain_db"].is_monotonic_increasing


def test_chain_nmse_improves_with_snr(tiny_run):
    """One epoch of training teaches the codec little; the chain around it must still behave:
    every link's NMSE is finite and the estimate fed to it improves with SNR."""
    df = pd.read_csv(tiny_run[2] / "results.csv")
    codec = df[df["codec"] == "csinet"]
    assert np.isfinite(codec[["nmse_ad_db", "nmse_sf_db", "bf_gain_db", "rho"]]).all().all()
    for _, grp in codec.groupby("feedback"):
        grp = grp.sort_values("pilot_snr_db")
        assert grp["nmse_ad_db"].iloc[-1] <= grp["nmse_ad_db"].iloc[0] + 0.05


@pytest.mark.slow
def test_trained_codec_beats_no_feedback(tmp_path):
    """A larger budget (about 3 minutes on 2 cores): CsiNet learns, its NMSE improves with the
    pilot SNR and it clearly beats no feedback, in NMSE and in beamforming gain."""
    path = scenarios.write(tmp_path, {"datasets.uma_small.n_train": 4000,
                                      "datasets.uma_small.n_val": 500,
                                      "datasets.uma_small.n_test": 500,
                                      "estimation.pilot_snr_db": [-5, 10, 40],
                                      "training.epochs": 30, "training.batch_size": 100,
                                      "training.schedule": "cosine"})
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    run_dir = next((tmp_path / "runs").iterdir())
    df = pd.read_csv(run_dir / "results.csv")
    ideal = df[(df["codec"] == "csinet") & (df["feedback"] == "ideal")].sort_values("pilot_snr_db")
    assert ideal["nmse_ad_db"].is_monotonic_decreasing
    assert ideal["nmse_ad_db"].iloc[-1] < -2.0
    assert ideal["bf_gain_db"].iloc[-1] > 3.0


def test_rerun_reuses_cache_and_reproduces_numbers(tiny_run):
    tmp, path, run_dir, _ = tiny_run
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "from cache" in res.output and "loaded from" in res.output
    new = max(p for p in (tmp / "runs").iterdir() if p != run_dir)
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "results.csv"),
                                  pd.read_csv(new / "results.csv"))


def test_same_seed_retrained_from_scratch_gives_same_numbers(tiny_run, tmp_path):
    """Fresh cache, fresh training: the same seed gives the same results on the same machine."""
    _, _, run_dir, _ = tiny_run
    path = scenarios.write(tmp_path)
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "generated" in res.output and "trained" in res.output
    new = next((tmp_path / "runs").iterdir())
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "results.csv"),
                                  pd.read_csv(new / "results.csv"))
    other = scenarios.write(tmp_path, {"seed": 4}, name="other.yaml")
    res = CliRunner().invoke(main, ["run", str(other), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "generated" in res.output  # another seed, other channels


def test_per_sample_distributions_are_kept(tiny_run):
    from linksim.pipeline import read_per_sample

    _, _, run_dir, _ = tiny_run
    df = pd.read_csv(run_dir / "results.csv")
    for i in range(len(df)):
        per = read_per_sample(run_dir / "per_sample.h5", i)
        assert {"nmse_ad", "rho", "sgcs"} <= set(per) and len(per["sgcs"]) == 100
        # the row's summary is the mean of its per-sample values
        np.testing.assert_allclose(per["sgcs"].mean(), df["sgcs"].iloc[i], rtol=1e-5)
        if df["codec"].iloc[i] == "perfect":
            np.testing.assert_allclose(per["sgcs"], 1.0, rtol=1e-5)


def test_report_page(tiny_run, tmp_path):
    _, _, run_dir, _ = tiny_run
    res = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") >= 4  # pilot SNR x2, bits, complexity, CDF
    for title in ("NMSE vs pilot SNR", "NMSE vs UE parameters", "CDF of the per-sample SGCS",
                  "Configuration", "NMSE_ad@40dB"):
        assert title in page, title
    bad = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert bad.exit_code == 2 and "not a linksim run directory" in bad.output
    # a manifest that is valid JSON but not an object, or not text at all (issue 17, class 8)
    import shutil

    for name, content in (("list", b"[1, 2, 3]"), ("binary", bytes(range(256)))):
        copy = tmp_path / name
        shutil.copytree(run_dir, copy)
        (copy / "manifest.json").write_bytes(content)
        bad = CliRunner().invoke(main, ["report", str(copy)])
        assert bad.exit_code == 2, bad.output
        assert "Traceback" not in bad.output and "manifest.json" in bad.output


@pytest.mark.parametrize("damage", ["garbage_keras", "no_history", "altered_weights"])
def test_corrupt_model_cache_entry_is_named_with_the_command_to_clear_it(tiny_run, tmp_path,
                                                                        damage):
    """A damaged or incomplete model cache entry: exit 2 naming the entry and how to clear it
    (Keras alone says "File not found" for a damaged file); --retrain replaces it."""
    import shutil

    tmp, _, _, _ = tiny_run
    shutil.copytree(tmp / "cache", tmp_path / "cache")
    path = scenarios.write(tmp_path)
    [entry, *_] = sorted((tmp_path / "cache" / "models").iterdir())
    if damage == "garbage_keras":
        (entry / "encoder.keras").write_bytes(b"\0" * 4096)
    elif damage == "altered_weights":  # a valid .keras file whose weights are not the saved ones
        import keras

        model = keras.saving.load_model(entry / "decoder.keras", compile=False)
        w = model.weights[0]
        w.assign(keras.ops.convert_to_numpy(w) + 1e-3)
        model.save(entry / "decoder.keras")
    else:
        (entry / "history.json").unlink()
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert f"corrupt or incomplete model cache entry {entry}" in res.output
    assert f"rm -r '{entry}'" in res.output and "Traceback" not in res.output
    assert {"garbage_keras": "damaged", "no_history": "history.json",
            "altered_weights": "checksum"}[damage] in res.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress", "--retrain"])
    assert res.exit_code == 0, res.output
    assert (entry / "history.json").is_file()
