"""Generalization runs: several training sets, a mixture, fine-tuning, the train x test matrix."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from linksim.cli import main
from linksim.scenario import Scenario
from tests import scenarios

INDOOR = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": 16,
          "num_subcarriers": 128, "bandwidth_hz": 20e6, "num_delay_rows": 16,
          "n_train": 300, "n_val": 60, "n_test": 80}
CHANGES = {
    "datasets.indoor": INDOOR,
    "training.train_sets": ["uma_small", "indoor"],
    "training.mixtures": [{"name": "mix", "sets": ["uma_small", "indoor"]}],
    "training.fine_tune": [{"base": "indoor", "target": "uma_small", "n_samples": 100,
                            "epochs": 2, "learning_rate": 1e-3}],
    "training.epochs": 2,
    "evaluation.test_sets": ["uma_small", "indoor"],
    "estimation.pilot_snr_db": [30],
    "feedback": [{"kind": "ideal"}],
}


@pytest.fixture(scope="module")
def gen_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gen")
    path = scenarios.write(tmp, CHANGES)
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    run_dir = next((tmp / "runs").iterdir())
    return run_dir, pd.read_csv(run_dir / "results.csv"), res.output


def test_every_training_source_is_tested_on_every_set(gen_run):
    run_dir, df, _ = gen_run
    codec = df[df["codec"] == "csinet"]
    pairs = set(zip(codec["train_set"], codec["test_set"], strict=True))
    sources = {"uma_small", "indoor", "mix", "indoor+ft-uma_small100"}
    assert pairs == {(s, t) for s in sources for t in ("uma_small", "indoor")}
    for tag in ("csinet_cr4_mix", "csinet_cr4_indoor+ft-uma_small100"):
        assert (run_dir / "models" / tag / "encoder.keras").is_file()


def test_fine_tuning_keeps_the_base_scaling_and_moves_the_weights(gen_run):
    run_dir, _, output = gen_run
    base = json.loads((run_dir / "models" / "csinet_cr4_indoor" / "codec.json").read_text())
    ft = json.loads((run_dir / "models" / "csinet_cr4_indoor+ft-uma_small100" / "codec.json")
                    .read_text())
    assert ft["normalizer_scale"] == base["normalizer_scale"]
    hist = pd.read_csv(run_dir / "training_csinet_cr4_indoor+ft-uma_small100.csv")
    assert len(hist) == 2  # the fine-tuning epochs
    assert "fine-tuned on 100 uma_small samples" in output


def test_the_report_draws_the_heat_map(gen_run, tmp_path):
    run_dir, _, _ = gen_run
    res = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "r.html").read_text()
    assert "Generalization: training set x test set</h3><img" in page


def test_bad_generalization_settings_are_named():
    import copy

    base = copy.deepcopy(scenarios.TINY)
    base["datasets"]["indoor"] = INDOOR
    for change, msg in (
            ({"mixtures": [{"name": "m", "sets": ["uma_small", "nope"]}]}, "unknown data set"),
            ({"fine_tune": [{"base": "nope", "target": "indoor", "n_samples": 10}]},
             "not a training set or mixture"),
            ({"fine_tune": [{"base": "uma_small", "target": "indoor", "n_samples": 10**6}]},
             "exceeds datasets.indoor.n_train")):
        data = copy.deepcopy(base)
        data["training"].update(change)
        with pytest.raises(ValidationError, match=msg):
            Scenario.model_validate(data)


def test_the_study_scenario_is_the_seed_setting():
    from pathlib import Path

    from linksim.scenario import load_scenario

    sc = load_scenario(Path(__file__).parent.parent / "scenarios" / "generalization.yaml")
    fams = {n: (d.family, getattr(d, "carrier_frequency_hz", None),
                getattr(d, "environment", None)) for n, d in sc.datasets.items()}
    assert fams["cost_out"][2] == "outdoor_300MHz"  # the calibrated CsiNet outdoor set
    assert fams["cost_in"][2] == "indoor_5.3GHz"
    assert fams["qd28"][:2] == ("uma", 28e9) and fams["qd300"][:2] == ("uma", 300e6)
    assert all(sc.datasets[n].ue_speed_mps == 0.9 for n in ("qd28", "qd300"))
    assert set(sc.training.train_sets) == set(sc.evaluation.test_sets) == set(sc.datasets)
    assert sc.training.mixtures and sc.training.fine_tune
    assert all(c.compression_ratios == [4] for c in sc.codecs)
