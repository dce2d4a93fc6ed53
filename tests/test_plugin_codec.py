"""A codec outside linksim, named by class path in the scenario, runs through the whole chain."""

import pandas as pd
from click.testing import CliRunner

from linksim.cli import main
from linksim.codecs import Codec
from linksim.codecs.base import get_codec_class
from tests import scenarios

PATH = "docs.examples.my_codec:LinearCodec"


def test_class_path_resolves_and_counts():
    cls = get_codec_class(PATH)
    codec = cls(8, 16, 16, hidden=32)
    assert codec.name == "linear" and codec.codeword_length == 64
    assert codec.parameter_counts()["ue_params"] == 512 * 64 + 64


def test_plugin_codec_runs_end_to_end_and_reloads(tmp_path):
    path = scenarios.write(tmp_path, {"codecs": [
        {"name": PATH, "compression_ratios": [8], "options": {"hidden": 32}}]})
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    run_dir = next((tmp_path / "runs").iterdir())
    df = pd.read_csv(run_dir / "results.csv")
    assert set(df[df["kind"] == "codec"]["codec"]) == {"linear"}
    loaded = Codec.load(run_dir / "models" / "linear_cr8_uma_small")
    assert type(loaded).__name__ == "LinearCodec" and loaded.hidden == 32


def test_bad_class_path_is_a_clear_error(tmp_path):
    path = scenarios.write(tmp_path, {"codecs.0.name": "docs.examples.my_codec:Nope"})
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2
    assert "codecs[0].name: cannot import codec class 'docs.examples.my_codec:Nope'" in res.output
