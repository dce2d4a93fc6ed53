"""A codec outside linksim, named by class path in the scenario, runs through the whole chain."""

import pandas as pd
import pytest
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


class FixedSigmoidCodec(Codec):
    """A plug-in written before output heads: no ``output_head`` argument, a sigmoid decoder it
    declares through ``default_output_head``."""

    name = "fixed_sigmoid"
    default_output_head = "sigmoid"

    def __init__(self, compression_ratio, num_rows=32, num_antennas=32):
        super().__init__(compression_ratio, num_rows, num_antennas)

    def build_encoder(self):
        import keras

        x = keras.Input(self.input_shape)
        return keras.Model(x, keras.layers.Dense(self.codeword_length)(
            keras.layers.Flatten()(x)))

    def build_decoder(self):
        import keras

        z = keras.Input((self.codeword_length,))
        y = keras.layers.Dense(2 * self.num_rows * self.num_antennas, activation="sigmoid")(z)
        return keras.Model(z, keras.layers.Reshape(self.input_shape)(y))


def test_plugin_without_output_head_keeps_its_own(tmp_path):
    """The pipeline does not pass ``output_head`` to a codec that does not take it: it keeps
    its declared sigmoid head, gets the matching [0, 1] normaliser (a floor near rounding,
    no warning) and saves and reloads without the argument."""
    assert not FixedSigmoidCodec.accepts_output_head()
    path = scenarios.write(tmp_path, {
        "codecs": [{"name": "tests.test_plugin_codec:FixedSigmoidCodec",
                    "compression_ratios": [8]}],
        "estimation.pilot_snr_db": [20], "feedback": [{"kind": "ideal"}]})
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "WARNING" not in res.output
    run_dir = next((tmp_path / "runs").iterdir())
    loaded = Codec.load(run_dir / "models" / "fixed_sigmoid_cr8_uma_small")
    assert loaded.output_head == "sigmoid" and loaded.normalizer.mode == "unit_interval"
    assert "output_head" not in loaded.config()
    df = pd.read_csv(run_dir / "results.csv")
    assert (df[df["kind"] == "codec"]["range_floor_db"] < -40).all()


class RaisingCodec(Codec):
    """A plug-in whose constructor fails (a bug in the plug-in, or an option it refuses)."""

    name = "raising"

    def __init__(self, *args, **kwargs):
        raise RuntimeError("this plug-in is broken")


@pytest.mark.parametrize("codec,expected", [
    ({"name": "csinet", "options": {"no_such_option": 3}},
     "codecs[0].options: csinet CR 4 cannot be built with these options"),
    ({"name": "tests.test_plugin_codec:RaisingCodec"},
     ("codecs[0]: tests.test_plugin_codec:RaisingCodec CR 4 fails to build (RuntimeError: this "
      "plug-in is broken)")),
    ({"name": "linksim.codecs.base:Codec"},
     "codecs[0].name: 'linksim.codecs.base:Codec' is not a concrete codec class"),
    ({"name": "docs.examples.my_codec:LinearCodec", "options": {"hidden": "wide"}},
     "codecs[0]"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_validate_refuses_what_run_cannot_build(tmp_path, codec, expected, command):
    """``validate`` builds every codec as ``run`` does (issue 17, class 7): both exit 2 with
    the codec named, before any data or run directory."""
    path = scenarios.write(tmp_path, {"codecs": [dict(codec, compression_ratios=[4])]})
    res = CliRunner().invoke(main, [command, str(path), "--no-progress"][:3 if command == "run"
                                                                         else 2])
    assert res.exit_code == 2, res.output
    assert expected in res.output and "Traceback" not in res.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()
