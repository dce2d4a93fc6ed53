"""training.device: resolution rules, bad input (exit 2 naming the field), placement of
variables, batches and optimizer state (checked where the tensors live: the CPU here, PyTorch's
``meta`` device for a device other than the CPU), and the same results for auto and cpu."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import linksim  # noqa: F401  (sets the Keras backend before keras is used)
from linksim.cli import main
from linksim.codecs import CsiNet
from linksim.codecs.csiinr import CsiInr
from linksim.errors import LinksimInputError
from linksim.learning import device as dev
from linksim.learning import training
from linksim.learning.training import TrainSettings, train_codec
from linksim.pipeline import Run
from linksim.scenario import load_scenario
from tests import scenarios

NA = NT = 8


def toy_csi(n: int, seed: int) -> np.ndarray:
    """CSI-like data ``[n, 8, 8, 2]`` around 0.5 (a rank-4 mix of fixed patterns)."""
    patterns = np.random.default_rng(99).standard_normal((4, NA * NT * 2))
    x = 0.5 + 0.04 * np.random.default_rng(seed).standard_normal((n, 4)) @ patterns
    return np.clip(x, 0.0, 1.0).reshape(n, NA, NT, 2).astype(np.float32)


def small_csinet() -> CsiNet:
    return CsiNet(4, NA, NT, output_head="sigmoid")


def gpus(monkeypatch, count: int) -> None:
    """Pretend PyTorch sees ``count`` CUDA GPUs (0: none)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


# -- resolution ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec,expected", [
    ("auto", ("auto", None)), ("cpu", ("cpu", None)), ("cuda", ("cuda", None)),
    ("cuda:0", ("cuda", 0)), ("cuda:12", ("cuda", 12))])
def test_parse_device(spec, expected):
    assert dev.parse_device(spec) == expected


@pytest.mark.parametrize("spec", ["gpu", "cpu:0", "auto:1", "CUDA", "cuda:", "cuda:-1", "", 0])
def test_parse_device_refuses(spec):
    with pytest.raises(ValueError, match="is not a device; give auto, cpu, cuda or cuda:N"):
        dev.parse_device(spec)


def test_resolution_without_gpu(monkeypatch):
    gpus(monkeypatch, 0)
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_device("cpu") == torch.device("cpu")
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(LinksimInputError, match=f"training.device: '{spec}' asked for, "
                                                    "but PyTorch sees no CUDA GPU"):
            dev.resolve_device(spec)


def test_resolution_with_gpus(monkeypatch):
    gpus(monkeypatch, 2)
    assert dev.resolve_device("auto") == torch.device("cuda", 0)
    assert dev.resolve_device("cuda") == torch.device("cuda", 0)
    assert dev.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert dev.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(LinksimInputError, match=r"training.device: 'cuda:2' asked for, but "
                                                r"PyTorch sees 2 CUDA GPUs \(cuda:0 .. cuda:1\)"):
        dev.resolve_device("cuda:2")
    assert dev.sionna_device(torch.device("cuda")) == "cuda:0"
    assert dev.sionna_device("cuda:1") == "cuda:1"
    assert dev.sionna_device("cpu") == "cpu"


def test_auto_is_the_cpu_on_this_machine():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert dev.resolve_device("auto") == torch.device("cpu")


# -- bad input through the command line -----------------------------------------------------------
@pytest.mark.parametrize("command", ["validate", "run"])
def test_malformed_device_exits_2(tmp_path, command):
    path = scenarios.write(tmp_path, {"training.device": "gpu"})
    res = CliRunner().invoke(main, [command, str(path)])
    assert res.exit_code == 2, res.output
    assert "training.device: 'gpu' is not a device; give auto, cpu, cuda or cuda:N" in res.output
    assert not (tmp_path / "runs").exists()


def test_cuda_without_gpu_exits_2_before_any_work(tmp_path, monkeypatch):
    gpus(monkeypatch, 0)
    path = scenarios.write(tmp_path, {"training.device": "cuda"})
    res = CliRunner().invoke(main, ["run", str(path)])
    assert res.exit_code == 2, res.output
    assert "training.device: 'cuda' asked for, but PyTorch sees no CUDA GPU" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()
    # the syntax is the schema's; whether a GPU exists is the running machine's
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0


def test_device_is_not_in_the_model_cache_key(tmp_path):
    keys = set()
    for spec in ("auto", "cpu", "cuda:1"):
        path = scenarios.write(tmp_path, {"training.device": spec})
        sc = load_scenario(path)
        assert sc.training.device == spec
        keys.add(Run(sc, path)._model_key(sc.codecs[0], 4, "uma_small",
                                          sc.training.feedback_list()[0]))
    assert len(keys) == 1


# -- UMa generation on a device ---------------------------------------------------------------------
def test_generation_device_keys_cpu_as_before_and_cuda_apart(tmp_path):
    from linksim.channels.dataset import cache_key

    cfgs = {spec: load_scenario(scenarios.write(
        tmp_path, {"datasets.uma_small.generation_device": spec})).datasets["uma_small"]
        for spec in ("cpu", "cuda")}
    default = load_scenario(scenarios.write(tmp_path)).datasets["uma_small"]
    assert "generation_device" not in cfgs["cpu"].generator_config()  # keys of before the field
    assert cfgs["cpu"].generator_config() == default.generator_config()
    assert cfgs["cuda"].generator_config()["generation_device"] == "cuda"
    keys = {spec: cache_key(c.generator_config(), "train", 300, 1) for spec, c in cfgs.items()}
    assert keys["cpu"] != keys["cuda"]  # CUDA's generator draws other channels


def test_generation_device_reaches_sionna(monkeypatch):
    from linksim.channels import uma
    from linksim.channels.families import GenerationSettings, UMaFamily

    seen = []

    def fake_calls(*args, **kwargs):
        seen.append(kwargs["device"])
        return iter(())

    monkeypatch.setattr(uma, "iter_series_calls", fake_calls)
    g = {"family": "uma", "carrier_frequency_hz": 28e9, "num_subcarriers": 64,
         "subcarrier_spacing_hz": 120e3, "num_bs_antennas": 8, "ue_speed_mps": 0.0}
    settings = GenerationSettings(sionna_batch=10, task=10, workers=1, pool_min=10)
    for spec in (None, "cuda"):
        cfg = g if spec is None else {**g, "generation_device": spec}
        list(UMaFamily().plan(cfg, 10, 1, settings).blocks)
    assert seen == ["cpu", "cuda"]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_malformed_generation_device_exits_2(tmp_path, command):
    path = scenarios.write(tmp_path, {"datasets.uma_small.generation_device": "gpu"})
    res = CliRunner().invoke(main, [command, str(path)])
    assert res.exit_code == 2, res.output
    assert "generation_device" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "runs").exists()


def test_cuda_generation_without_gpu_exits_2_before_any_work(tmp_path, monkeypatch):
    gpus(monkeypatch, 0)
    path = scenarios.write(tmp_path, {"datasets.uma_small.generation_device": "cuda",
                                      "training.device": "cpu"})
    res = CliRunner().invoke(main, ["run", str(path)])
    assert res.exit_code == 2, res.output
    assert ("datasets.uma_small.generation_device: 'cuda' asked for to generate its train split, "
            "but PyTorch sees no CUDA GPU") in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "runs").exists() and not list((tmp_path / "cache").glob("*.h5"))
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0


# -- placement ------------------------------------------------------------------------------------
def test_one_training_step_on_the_cpu_keeps_everything_there(monkeypatch):
    """Parameters, the batches and Adam's state all live on the CPU with device cpu."""
    optimizers, batches = [], []

    class RecordingAdam(torch.optim.Adam):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            optimizers.append(self)

    epoch_batches = training._epoch_batches

    def recording_batches(*args):
        for xb in epoch_batches(*args):
            batches.append(xb)
            yield xb

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    monkeypatch.setattr(training, "_epoch_batches", recording_batches)
    x = toy_csi(40, 0)
    with dev.placed_on(dev.resolve_device("cpu")):
        keras.utils.set_random_seed(0)
        codec = dev.built_on_cpu(small_csinet)
        train_codec(codec, x, x[:8], TrainSettings(epochs=1, batch_size=40, seed=1),
                    progress=False)
    cpu = torch.device("cpu")
    assert len(batches) == 1 and batches[0].device == cpu
    (opt,) = optimizers
    params = [p for group in opt.param_groups for p in group["params"]]
    assert params and all(p.device == cpu for p in params)
    states = [t for s in opt.state.values() for t in s.values() if torch.is_tensor(t)]
    assert states and all(t.device == cpu for t in states)
    assert all(v.value.device == cpu for v in dev.codec_variables(codec))


def test_built_on_cpu_moves_the_variables_to_the_current_device(monkeypatch):
    """A codec is initialised on the CPU (the same weights as with no device set), then every
    variable becomes a leaf tensor on the current device (``meta`` standing for a GPU)."""
    keras.utils.set_random_seed(3)
    reference = small_csinet()
    monkeypatch.setattr(dev, "current_device", lambda: torch.device("meta"))
    built_on, moved = [], []
    move = dev.move_variables

    def build():
        built_on.append(keras.ops.convert_to_tensor(0.0).device)
        return small_csinet()

    def recording_move(variables, device):
        moved.append([keras.ops.convert_to_numpy(v.value) for v in variables])
        move(variables, device)

    monkeypatch.setattr(dev, "move_variables", recording_move)
    keras.utils.set_random_seed(3)
    codec = dev.built_on_cpu(build)
    assert built_on == [torch.device("cpu")]
    for a, b in zip(moved[0], dev.codec_variables(reference), strict=True):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b.value))
    variables = dev.codec_variables(codec)
    assert variables and all(v.value.device.type == "meta" for v in variables)
    assert all(v.value.is_leaf and v.value.requires_grad == v.trainable for v in variables)
    assert dev.weights_device(codec.decoder.weights) == torch.device("meta")


def test_csiinr_shared_base_network_moves_once(monkeypatch):
    monkeypatch.setattr(dev, "current_device", lambda: torch.device("meta"))
    codec = dev.built_on_cpu(lambda: CsiInr(8, num_rows=NA, num_antennas=NT, width=8, depth=2))
    variables = dev.codec_variables(codec)
    assert len(variables) == len({id(v) for v in codec.inr.weights})
    assert all(v.value.device.type == "meta" for v in codec.inr.weights)
    with dev.on_weights_device(codec.inr.weights):  # the UE's targets follow the weights
        assert codec.inr.targets(toy_csi(3, 0)).device.type == "meta"


def test_batches_go_to_the_requested_device():
    x = toy_csi(10, 1)
    meta = torch.device("meta")
    xt = dev.as_tensor(x, meta)
    assert xt.device == meta and xt.dtype == torch.float32 and xt.shape == x.shape
    generator = torch.Generator().manual_seed(0)
    out = list(training._epoch_batches(x, xt, 0, generator, 4, 0, meta))
    assert [len(b) for b in out] == [4, 4, 2] and all(b.device == meta for b in out)
    with dev.placed_on(meta):  # Keras' own tensors too
        assert keras.ops.convert_to_tensor(x).device == meta
    assert keras.ops.convert_to_tensor(x).device == dev.current_device()


# -- the same results ---------------------------------------------------------------------------
def test_auto_and_cpu_train_the_same_weights_as_before():
    """On this machine auto and cpu are the CPU: bit-identical to training with no device
    set (the code path of before the option)."""
    if torch.cuda.is_available():
        pytest.skip("auto is a GPU here")
    x = toy_csi(60, 2)
    settings = TrainSettings(epochs=2, batch_size=20, seed=5)

    def trained(spec: str | None) -> list[np.ndarray]:
        keras.utils.set_random_seed(7)
        if spec is None:
            codec = small_csinet()
        else:
            with dev.placed_on(dev.resolve_device(spec)):
                codec = dev.built_on_cpu(small_csinet)
        with dev.placed_on(dev.resolve_device(spec)) if spec else contextlib.nullcontext():
            train_codec(codec, x[:40], x[40:], settings, progress=False)
        return codec.decoder.get_weights() + codec.encoder.get_weights()

    before, auto, cpu = trained(None), trained("auto"), trained("cpu")
    for a, b, c in zip(before, auto, cpu, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_csiinr_meta_learning_same_on_auto_and_cpu():
    if torch.cuda.is_available():
        pytest.skip("auto is a GPU here")
    x = toy_csi(24, 4)
    settings = TrainSettings(epochs=1, batch_size=8, seed=2)

    def trained(spec: str) -> tuple:
        keras.utils.set_random_seed(1)
        with dev.placed_on(dev.resolve_device(spec)):
            codec = dev.built_on_cpu(lambda: CsiInr(8, num_rows=NA, num_antennas=NT, width=8,
                                                    depth=2, inner_steps=1,
                                                    output_head="sigmoid"))
            codec.fit(x[:16], x[16:], settings, progress=False)
            return codec.inr.get_weights(), codec.encode(x[16:])

    (w_auto, z_auto), (w_cpu, z_cpu) = trained("auto"), trained("cpu")
    np.testing.assert_array_equal(z_auto, z_cpu)
    for a, b in zip(w_auto, w_cpu, strict=True):
        np.testing.assert_array_equal(a, b)
