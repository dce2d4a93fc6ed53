"""The range floor: what a codec's input/output mapping alone costs (issue: fidelity).

At the default preprocessing (linear head, unit-norm CSI standardised to unit variance) every
built-in channel family has a floor of at most -40 dB; the paper-faithful sigmoid head on a
k x RMS scale has the floor of clipping to +-k RMS; a run reports it per codec row and warns
when it is above -30 dB.
"""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from linksim.channels.csinet_mat import write_csinet_mat

from linksim.cli import main
from linksim.codecs import CsiNet
from linksim.errors import LinksimInputError
from linksim.phy import transforms
from linksim.phy.metrics import to_db
from linksim.pipeline import Run, codec_inputs, load_split
from linksim.scenario import (
    Cost2100Channel,
    CsiNetMatChannel,
    Preprocessing,
    UMaChannel,
    load_scenario,
)
from tests import scenarios

NA = 32


def _codec_for(x_train: np.ndarray, pre: Preprocessing, head: str | None = None) -> CsiNet:
    """A CsiNet set up as the pipeline sets it up from ``pre`` (untrained: the floor does not
    depend on the weights)."""
    head = head or pre.output_head
    codec = CsiNet(4, x_train.shape[1], x_train.shape[2], output_head=head)
    codec.sample_normalization = pre.sample_normalization
    unit = transforms.sample_normalize(x_train, pre.sample_normalization)[0]
    codec.normalizer = transforms.Normalizer.fit(unit, pre.scale_rule(head),
                                                 codec.normalizer_mode)
    return codec


def _family_data(cfg, tmp_path, n_train=200, n_test=200):
    out = {}
    for i, split in enumerate(("train", "test")):
        ds, _, _ = load_split(cfg, split, 11 + i, tmp_path / "cache")
        out[split] = codec_inputs(ds, NA, 100, None, None)
    return out


def _mat_family(tmp_path, rng):
    """A CsiNet .mat family: sparse angular-delay channels, a few strong delay rows."""
    files = {}
    for split in ("train", "test"):
        h = np.zeros((200, 32, 32), np.complex64)
        h[:, :4] = rng.standard_normal((200, 4, 32)) + 1j * rng.standard_normal((200, 4, 32))
        files[split] = tmp_path / f"{split}.mat"
        write_csinet_mat(files[split], h)
    return CsiNetMatChannel(train_file=files["train"], val_file=files["train"],
                            test_file=files["test"])


@pytest.mark.parametrize("family", ["uma", "indoor_5.3GHz", "semiurban_300MHz_los",
                                    "semiurban_300MHz_nlos", "csinet_mat"])
def test_default_floor_is_at_most_minus_40_db(family, tmp_path, rng):
    """Every built-in family at its default settings, the default preprocessing: <= -40 dB
    (the linear head leaves only float32 rounding, ~-140 dB)."""
    if family == "uma":
        cfg = UMaChannel(n_train=200, n_test=200)
    elif family == "csinet_mat":
        cfg = _mat_family(tmp_path, rng)
    else:
        cfg = Cost2100Channel(environment=family, n_train=200, n_test=200)
    data = _family_data(cfg, tmp_path)
    codec = _codec_for(data["train"], Preprocessing())
    floor = to_db(float(codec.range_floor_per_sample(data["test"]).mean()))
    assert floor <= -40.0, (family, floor)


def test_sigmoid_floor_is_the_clipping_loss(rng):
    """Paper-faithful sigmoid head with s = k RMS (unit-interval normaliser): the floor equals
    the NMSE of clipping every entry to +-k RMS of the unit-norm training data, computed
    directly; the linear head on the same data has none."""
    x = rng.standard_t(2.5, (400, 8, 8, 2)).astype(np.float32)  # heavy tails: clipping bites
    pre = Preprocessing(output_head="sigmoid", scale=2.0)
    codec = _codec_for(x[:200], pre)
    unit, gain = transforms.unit_power(x[200:])
    s = 2.0 * np.sqrt(np.mean(transforms.unit_power(x[:200])[0].astype(np.float64) ** 2))
    clipped = np.clip(unit, -s, s) * gain[:, None, None, None]
    direct = np.sum((clipped - x[200:]) ** 2, axis=(1, 2, 3)) / np.sum(x[200:] ** 2,
                                                                      axis=(1, 2, 3))
    np.testing.assert_allclose(codec.range_floor_per_sample(x[200:]), direct, rtol=1e-4,
                               atol=1e-9)
    assert to_db(direct.mean()) > -30
    linear = _codec_for(x[:200], Preprocessing())
    assert to_db(float(linear.range_floor_per_sample(x[200:]).mean())) < -100


def test_peak_normalisation_lets_the_sigmoid_output_everything(rng):
    """Per-sample peak scaling with the 'max' rule: s = 1, every entry of every sample fits in
    [0, 1], so even the sigmoid head has no floor beyond rounding."""
    x = rng.standard_t(2.5, (300, 8, 8, 2)).astype(np.float32)
    codec = _codec_for(x[:100], Preprocessing(output_head="sigmoid", sample_normalization="peak",
                                              scale="max"))
    assert codec.normalizer.scale == pytest.approx(1.0)
    assert to_db(float(codec.range_floor_per_sample(x[100:]).mean())) < -100
    assert codec.side_info_bits() == 32


def test_run_reports_the_floor_and_warns(tmp_path):
    """A run: range_floor_db in every codec row (NaN in the others), in the manifest and the
    summary; the paper-faithful head on a narrow scale prints a warning naming codec and test
    set, which the manifest keeps."""
    path = scenarios.write(tmp_path, {"preprocessing": {"num_delay_rows": 16,
                                                        "output_head": "sigmoid", "scale": 1},
                                      "estimation.pilot_snr_db": [20],
                                      "feedback": [{"kind": "ideal"}]})
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "WARNING: codec csinet CR4 (trained on uma_small) on test set uma_small: range " \
           "floor" in res.output
    run_dir = next((tmp_path / "runs").iterdir())
    df = pd.read_csv(run_dir / "results.csv")
    codec_rows = df[df["kind"] == "codec"]
    assert np.all(codec_rows["range_floor_db"] > -30)
    assert df[df["kind"] != "codec"]["range_floor_db"].isna().all()
    m = json.loads((run_dir / "manifest.json").read_text())
    floor = m["codecs"][0]["range_floor_db"]["uma_small"]
    assert floor == pytest.approx(codec_rows["range_floor_db"].iloc[0])
    assert m["codecs"][0]["output_head"] == "sigmoid" and len(m["warnings"]) == 1
    assert "floor_dB" in res.output


def test_default_run_has_no_floor_and_no_warning(tmp_path):
    path = scenarios.write(tmp_path, {"estimation.pilot_snr_db": [20],
                                      "feedback": [{"kind": "ideal"}]})
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "WARNING" not in res.output
    df = pd.read_csv(next((tmp_path / "runs").iterdir()) / "results.csv")
    assert np.all(df[df["kind"] == "codec"]["range_floor_db"] <= -40)


@pytest.mark.parametrize("value", [".nan", ".inf", "-1", "0"])
def test_bad_scale_is_exit_2_naming_the_field(tmp_path, value):
    path = scenarios.write(tmp_path, {"preprocessing.scale": 4})
    text = path.read_text().replace("scale: 4", f"scale: {value}")
    assert f"scale: {value}" in text
    path.write_text(text)
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2 and "preprocessing.scale" in res.output, res.output


def test_zero_training_data_is_bad_input_naming_the_scale(tmp_path):
    """A fitted scale of zero (all-zero training CSI): LinksimInputError naming the field."""
    run = Run(load_scenario(scenarios.write(tmp_path)), progress=False)
    zeros = np.zeros((4, 2, 2, 2), np.float32)
    with pytest.raises(LinksimInputError, match="preprocessing.scale: cannot fit the "
                                                "normaliser on training set 'x'"):
        run._fit_normalizer(lambda r, m: transforms.Normalizer.fit(zeros, r, m), 1.0,
                            "standard", "x")


def test_legacy_power_normalization_key_and_saved_codecs(tmp_path):
    """``power_normalization: true`` still reads as sample_normalization power; a codec saved
    before heads existed (no output_head, normaliser mode, sample_normalization) loads as the
    sigmoid / unit-interval / power codec it was."""
    assert Preprocessing(power_normalization=True).sample_normalization == "power"
    assert Preprocessing(power_normalization=False).sample_normalization == "none"
    with pytest.raises(ValueError, match="not both"):
        Preprocessing(power_normalization=True, sample_normalization="peak")
    codec = CsiNet(16, output_head="sigmoid")
    codec.normalizer = transforms.Normalizer(0.3)
    codec.power_normalization = True
    codec.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "codec.json").read_text())
    del meta["config"]["output_head"], meta["normalizer_mode"], meta["sample_normalization"]
    meta["power_normalization"] = True
    (tmp_path / "m" / "codec.json").write_text(json.dumps(meta))
    from linksim.codecs import Codec

    old = Codec.load(tmp_path / "m")
    assert old.output_head == "sigmoid" and old.normalizer == transforms.Normalizer(0.3)
    assert old.sample_normalization == "power" and old.output_bounds == (0.0, 1.0)
