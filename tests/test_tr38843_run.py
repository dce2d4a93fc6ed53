"""`linksim run` on a scenario with a `tr38843:` section (linksim.tr38843.stage): the study runs
on multi-antenna dual-polarised UMa/UMi splits from the store, and bad study settings are
refused before any work with exit code 2, naming the field."""

import copy
import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from linksim.cli import main
from linksim.etype2 import payload_bits

SETS = {"family": "uma", "carrier_frequency_hz": 3.5e9, "num_subcarriers": 16,
        "subcarrier_spacing_hz": 360e3, "bs_array": {"n1": 2, "n2": 1, "polarization": "dual"},
        "num_ue_antennas": 2, "n_train": 24, "n_val": 0, "n_test": 12}

STUDY = {"subband_prbs": 4, "subcarriers_per_prb": 1, "rank": 1, "n1": 2, "n2": 1, "o1": 4,
         "o2": 1, "payload_bins": {"all": {"min_bits": 0, "max_bits": 200}},
         "codecs": ["eig_csinet"], "training_types": ["joint", "ue_first"], "epochs": 1,
         "batch_size": 12, "generalization": [{"case": 1, "train": ["a"]},
                                              {"case": 2, "train": ["a"], "test": ["b"],
                                               "training_types": ["joint"]}]}


def _scenario(tmp_path, **study):
    b = {**SETS, "scenario": "umi"}
    sc = {"name": "tr", "seed": 5, "output_dir": str(tmp_path / "runs"),
          "cache_dir": str(tmp_path / "cache"), "datasets": {"a": dict(SETS), "b": b},
          "tr38843": {**copy.deepcopy(STUDY), **study}}
    return sc


def _write(tmp_path, sc, name="s.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(sc))
    return path


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.usefixtures("one_torch_thread")
def test_study_runs_from_a_scenario(tmp_path):
    res = _invoke("run", _write(tmp_path, _scenario(tmp_path)), "--no-progress")
    assert res.exit_code == 0, res.output
    assert "SGCS per layer against payload" in res.output
    assert "Separate against joint training" in res.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    df = pd.read_csv(run_dir / "results.csv")
    assert (run_dir / "sgcs_vs_payload.png").stat().st_size > 0
    assert set(df["case"]) == {"case1", "case2"}
    # Case 1 tests on the training set, Case 2 on the other set.
    ai = df[df["kind"] == "ai"]
    assert set(ai[ai["case"] == "case1"]["test_set"]) == {"a"}
    assert set(ai[ai["case"] == "case2"]["test_set"]) == {"b"}
    assert set(ai[ai["case"] == "case1"]["training_type"]) == {"joint", "ue_first"}
    assert set(ai[ai["case"] == "case2"]["training_type"]) == {"joint"}  # the case's own list
    # Case 2 tests Case 1's model of its training set (trained once: same final loss).
    joint = ai[ai["training_type"] == "joint"].set_index("case")["train_loss"]
    assert joint["case1"] == joint["case2"]
    # eType II rows carry the specification's payload at N3 = 16 / 4 = 4 subbands.
    et = df[df["kind"] == "etype2"]
    for pc, bits in et.groupby("param_combination")["payload_bits"].first().items():
        assert bits == payload_bits(2, 1, 4, 1, 4, int(pc), 1)["total"]
    assert (ai["payload_bits"] <= ai["budget_bits"]).all()
    assert ((df["sgcs_l1"] > 0) & (df["sgcs_l1"] <= 1 + 1e-6)).all()
    ideal = df[df["kind"] == "ideal"]
    assert ideal["sgcs_l1"].min() > 1 - 1e-5
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["scenario"]["tr38843"]["n1"] == 2
    assert manifest["seed"] == 5


@pytest.mark.parametrize("change, field", [
    ({"n1": 4}, "tr38843.n1"),                                        # 2*N1*N2 != ports
    ({"rank": 3}, "tr38843.rank"),                                    # rank > min(Nr, Nt) = 2
    ({"payload_bins": {"tiny": {"min_bits": 1, "max_bits": 2}}}, "tr38843.payload_bins.tiny"),
    ({"csi_input": "channel"}, "codecs"),                             # eigen codec, full channel
    ({"codecs": ["csinet"]}, "codecs"),                               # a full-channel codec
    ({"seed": 1}, "tr38843.seed"),
    ({"quantizer": "vector", "vq_dim": 7}, "vq_dim"),                # 14 bits per sub-vector
    ({"vq_dim": 2}, "vq_dim"),                                        # scalar quantiser
    ({"quantizer": "vector", "quantizer_bits": 6, "vq_dim": 2}, "tr38843.vq_dim"),  # 12 > 11 bits
    ({"quantizer": "vq"}, "quantizer"),
    ({"generalization": [{"case": 2, "train": ["a"], "test": ["c"]}]},
     "tr38843.generalization[0].test"),
])
def test_bad_study_settings_exit_2_naming_the_field(tmp_path, change, field):
    res = _invoke("validate", _write(tmp_path, _scenario(tmp_path, **change)))
    assert res.exit_code == 2, res.output
    assert field in res.output, res.output


def test_bad_data_sets_for_the_study(tmp_path):
    sc = _scenario(tmp_path)
    sc["datasets"]["a"]["bs_array"]["polarization"] = "single"
    sc["datasets"]["a"].pop("num_ue_antennas")
    res = _invoke("validate", _write(tmp_path, sc))
    assert res.exit_code == 2 and "datasets.a.bs_array" in res.output, res.output
    sc = _scenario(tmp_path)
    sc["codecs"] = [{"name": "csinet", "compression_ratios": [4]}]
    res = _invoke("validate", _write(tmp_path, sc, "c.yaml"))
    assert res.exit_code == 2 and "codecs" in res.output, res.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


def test_codec_names_for_validation_match_the_registry():
    from linksim.tr38843 import codecs, config

    assert tuple(codecs.EIGEN_CODECS) == config.EIGEN_CODECS
