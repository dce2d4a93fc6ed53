"""Classical compressors and subband metrics inside a run (no codecs: fast)."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from linksim.cli import main
from tests import scenarios

BITS = [200, 800]


@pytest.fixture(scope="module")
def classical_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classical")
    path = scenarios.write(tmp, {
        "codecs": [], "estimation.pilot_snr_db": [10, 40],
        "evaluation.subband_size": 16,
        "baselines": [{"kind": "topk", "payload_bits": BITS},
                      {"kind": "pca", "payload_bits": BITS},
                      {"kind": "dft_codebook", "payload_bits": BITS}]})
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    run_dir = next((tmp / "runs").iterdir())
    return run_dir, pd.read_csv(run_dir / "results.csv")


def test_each_compressor_at_each_payload(classical_run):
    run_dir, df = classical_run
    cl = df[df["kind"] == "classical"]
    assert len(cl) == 3 * len(BITS) * 2  # x 2 pilot SNRs
    for name, grp in cl[cl["pilot_snr_db"] == 40].groupby("codec"):
        grp = grp.sort_values("payload_bits")
        assert (grp["payload_bits"] <= np.array(BITS)).all(), name  # within the budget
        assert (grp["measured_bits"] <= grp["payload_bits"]).all(), name
        assert grp["nmse_ad_db"].is_monotonic_decreasing, name  # more bits, less error
    assert set(cl["train_set"]) == {"uma_small", "-"}
    assert (run_dir / "nmse_vs_bits.png").is_file()


def test_subband_metrics_in_the_results(classical_run):
    _, df = classical_run
    perfect = df[df["codec"] == "perfect"].iloc[0]
    assert perfect["sgcs_subband"] == pytest.approx(1.0, abs=1e-5)
    nt = 16
    # per-subcarrier MRT is the best any beam can do; subband eigen-BF is close below it
    assert perfect["bf_gain_eigen_db"] <= perfect["bf_gain_db"] + 1e-9
    assert perfect["bf_gain_db"] == pytest.approx(10 * np.log10(nt), abs=1e-4)
    assert perfect["bf_gain_eigen_db"] > perfect["bf_gain_db"] - 3.0
    nofb = df[df["codec"] == "no_feedback"].iloc[0]
    assert nofb["sgcs_subband"] == 0.0  # the BS knows no direction
    assert abs(nofb["bf_gain_eigen_db"]) < 1.0  # random beams: ~0 dB
    good = df[(df["kind"] == "classical") & (df["pilot_snr_db"] == 40)]
    assert (good["sgcs_subband"] > 1.0 / nt).all()


def test_compressive_sensing_baselines_in_a_run(tmp_path):
    """lasso / tv / omp entries of ``baselines:``: M = (payload - 32) / 32 float measurements,
    every payload reported and met exactly; more measurements, less error; a payload too small
    for one measurement is refused at validation, naming the field."""
    bits = [32 + 32 * 64, 32 + 32 * 192]  # M = 64 and 192 of 2 Na Nt = 512
    path = scenarios.write(tmp_path, {
        "codecs": [], "estimation.pilot_snr_db": [40],
        "datasets.uma_small.n_train": 100, "datasets.uma_small.n_test": 50,
        "baselines": [{"kind": k, "payload_bits": bits} for k in ("lasso", "tv", "omp")]})
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(next((tmp_path / "runs").iterdir()) / "results.csv")
    cl = df[df["kind"] == "classical"]
    assert set(cl["codec"]) == {"lasso", "tv", "omp"}
    assert (cl["measured_bits"] == cl["payload_bits"]).all()
    assert set(cl["payload_bits"]) == set(bits)
    for name, grp in cl.groupby("codec"):
        grp = grp.sort_values("payload_bits")
        assert grp["nmse_ad_db"].iloc[1] < grp["nmse_ad_db"].iloc[0], name
    bad = scenarios.write(tmp_path, {"codecs": [], "baselines": [
        {"kind": "lasso", "payload_bits": [40]}]}, name="bad.yaml")
    res = CliRunner().invoke(main, ["validate", str(bad)])
    assert res.exit_code == 2 and "baselines[0].payload_bits: 40 bits hold 0 measurements" \
        in res.output, res.output
