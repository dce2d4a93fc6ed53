"""The feedback link inside a run: quantisation-aware training, entropy coding, feedback-SNR axis."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from linksim.cli import main
from tests import scenarios

FEEDBACK = [
    {"kind": "ideal"},
    {"kind": "uniform", "bits": 4},
    {"kind": "uniform", "bits": 4, "entropy_coding": True},
    {"kind": "uniform", "bits": 4, "snr_db": [0.0, 12.0], "modulation": "bpsk"},
    {"kind": "mulaw", "bits": 4, "mu": 50},
    {"kind": "awgn", "snr_db": [-5.0, 30.0]},
]


def _run(tmp, feedback, training_feedback, name="scenario.yaml"):
    """Run the test scenario in ``tmp`` (models cached in ``tmp/cache``); its run directory."""
    # COST 2100 indoor (compressible: a tiny CsiNet learns it in a few epochs)
    data = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": 16,
            "num_subcarriers": 128, "bandwidth_hz": 20e6, "num_delay_rows": 16,
            "n_train": 800, "n_val": 100, "n_test": 100}
    path = scenarios.write(tmp, {
        "datasets": {"indoor": data}, "training.train_sets": ["indoor"],
        "evaluation.test_sets": ["indoor"], "training.epochs": 12,
        "feedback": feedback, "estimation.pilot_snr_db": [10, 40],
        "training.feedback": training_feedback}, name=name)
    before = set((tmp / "runs").iterdir()) if (tmp / "runs").exists() else set()
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    (run_dir,) = set((tmp / "runs").iterdir()) - before
    return run_dir


@pytest.fixture(scope="module")
def fb_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fb")
    run_dir = _run(tmp, FEEDBACK, [{"kind": "ideal"}, {"kind": "uniform", "bits": 4}])
    return run_dir, pd.read_csv(run_dir / "results.csv")


def _codec(df, feedback, fb_snr=None, pilot=40, trained="ideal"):
    d = df[(df["codec"] == "csinet") & (df["feedback"] == feedback) & (df["pilot_snr_db"] == pilot)
           & (df["train_feedback"] == trained)]
    d = d[d["feedback_snr_db"].isna()] if fb_snr is None else d[d["feedback_snr_db"] == fb_snr]
    assert len(d) == 1, (feedback, fb_snr)
    return d.iloc[0]


def test_every_link_point_is_a_row_on_both_axes(fb_run):
    run_dir, df = fb_run
    codec = df[df["codec"] == "csinet"]
    # (ideal, uniform, +ec, 2 bit-error SNRs, mulaw, 2 AWGN SNRs) x 2 pilot SNRs x 2 trainings
    assert len(codec) == 8 * 2 * 2
    assert set(codec["train_feedback"]) == {"ideal", "uniform4b"}
    assert sorted(codec["feedback_snr_db"].dropna().unique()) == [-5.0, 0.0, 12.0, 30.0]
    for name in ("nmse_vs_feedback_snr.png", "nmse_vs_bits.png",
                 "models/csinet_cr4_indoor/encoder.keras",
                 "models/csinet_cr4_indoor_uniform4b/encoder.keras"):
        assert (run_dir / name).is_file(), name


def test_payload_formula_and_measured_bits(fb_run):
    _, df = fb_run
    m, side = 128, 32  # M = 2*16*16/4; the norm is fed back as 32 bits
    for fb in ("uniform4b", "mulaw4b"):
        row = _codec(df, fb)
        assert row["payload_bits"] == 4 * m + side == row["measured_bits"]
    ec = _codec(df, "uniform4b+ec")
    assert ec["payload_bits"] == 4 * m + side
    assert ec["measured_bits"] < 4 * m + side  # a fitted symbol model beats 4 bits per entry
    # entropy coding is lossless: same reconstruction as the fixed-length 4-bit link
    assert ec["nmse_ad_db"] == pytest.approx(_codec(df, "uniform4b")["nmse_ad_db"], abs=1e-9)
    assert _codec(df, "ideal")["payload_bits"] == 32 * m + side


def test_noise_and_bit_errors_hurt_less_at_higher_feedback_snr(fb_run):
    _, df = fb_run
    assert _codec(df, "awgn", -5.0)["nmse_ad_db"] > _codec(df, "awgn", 30.0)["nmse_ad_db"] + 2
    low, high = _codec(df, "uniform4b+biterr", 0.0), _codec(df, "uniform4b+biterr", 12.0)
    assert low["nmse_ad_db"] > high["nmse_ad_db"] + 1
    # BPSK at 12 dB: BER 9e-9, so practically the error-free quantised link
    assert high["nmse_ad_db"] == pytest.approx(_codec(df, "uniform4b")["nmse_ad_db"], abs=0.01)
    # the joint axis: each feedback-SNR point exists at every pilot SNR
    for fb_snr in (-5.0, 30.0):
        assert np.isfinite(_codec(df, "awgn", fb_snr, pilot=10)["nmse_ad_db"])


def test_a_codecs_noisy_link_does_not_depend_on_the_other_codecs_and_links(fb_run):
    """Each (model, link) draws its feedback noise from its own seeded stream: the same model
    (from the cache) on the AWGN link alone gives the numbers of the full scenario."""
    run_dir, df = fb_run
    alone = pd.read_csv(_run(run_dir.parent.parent, [{"kind": "awgn", "snr_db": [-5.0, 30.0]}],
                             [{"kind": "ideal"}], name="awgn_only.yaml") / "results.csv")
    for pilot in (10, 40):
        for fb_snr in (-5.0, 30.0):
            assert _codec(alone, "awgn", fb_snr, pilot)["nmse_ad_db"] == pytest.approx(
                _codec(df, "awgn", fb_snr, pilot)["nmse_ad_db"], abs=1e-12)


def test_quantisation_aware_training_sets_the_evaluation_range(fb_run):
    run_dir, _ = fb_run
    models = run_dir / "models"
    assert not (models / "csinet_cr4_indoor" / "trained_quantizer.json").exists()
    q = json.loads((models / "csinet_cr4_indoor_uniform4b" / "trained_quantizer.json")
                   .read_text())
    assert q["law"] == "uniform" and q["bits"] == 4 and q["hi"] > q["lo"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    qat = [c for c in manifest["codecs"] if c["train_feedback"] == "uniform4b"]
    links = {fb["name"]: fb for fb in qat[0]["feedback"]}
    assert links["uniform4b"]["quantizer"]["lo"] == pytest.approx(q["lo"])
    assert links["uniform4b"]["quantizer"]["hi"] == pytest.approx(q["hi"])
    # the mu-law link has another law: its range is fitted on the training codewords
    assert links["mulaw4b"]["quantizer"]["lo"] != pytest.approx(q["lo"])
    assert manifest["scenario"]["training"]["feedback"][1]["bits"] == 4
    df = pd.read_csv(run_dir / "results.csv")
    assert np.isfinite(_codec(df, "mulaw4b", trained="uniform4b")["nmse_ad_db"])
    # the rate-distortion view keeps, per link, the model trained for it
    from linksim.plots import rate_distortion_rows

    rd = rate_distortion_rows(df)
    assert set(zip(rd["feedback"], rd["train_feedback"], strict=True)) == {
        ("ideal", "ideal"), ("uniform4b", "uniform4b"), ("uniform4b+ec", "uniform4b"),
        ("mulaw4b", "ideal")}


def test_feedback_pairing_rule():
    from linksim.phy.feedback import feedback_matches
    from linksim.scenario import AwgnFeedback, IdealFeedback, QuantizedFeedback, TrainingFeedback

    u4 = QuantizedFeedback(kind="uniform", bits=4, entropy_coding=True)
    assert feedback_matches(TrainingFeedback(kind="uniform", bits=4), u4)
    assert not feedback_matches(TrainingFeedback(kind="uniform", bits=5), u4)
    assert not feedback_matches(TrainingFeedback(kind="mulaw", bits=4), u4)
    assert feedback_matches(TrainingFeedback(kind="ideal"), IdealFeedback())
    assert feedback_matches(TrainingFeedback(kind="ideal"), QuantizedFeedback(kind="uniform",
                                                                              bits="off"))
    assert feedback_matches(TrainingFeedback(kind="awgn", snr_db_range=(0, 9)),
                            AwgnFeedback(kind="awgn", snr_db=[3]))
    assert TrainingFeedback(kind="awgn", snr_db_range=(-5, 40)).label() == "awgn-5to40dB"
