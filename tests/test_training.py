"""Training engine: schedule, best-on-validation checkpoint, seeding, and the PyTorch engine
(same learning as ``model.fit``; its model, ``linksim.learning.torch_graph``, is tested in
``test_torch_graph.py``)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import torch

import linksim  # noqa: F401  (sets the Keras backend before keras is used)
from linksim.codecs import CsiNet
from linksim.learning.training import (
    TrainSettings,
    WarmupCosine,
    _learning_rates,
    train_codec,
)

NA = NT = 8


def toy_csi(n: int, seed: int) -> np.ndarray:
    """CSI-like data ``[n, 8, 8, 2]`` in [0, 1]: mean 0.5 plus a random mix of 4 fixed patterns
    (rank 4, so a CR 4 codeword of 32 values can hold it)."""
    patterns = np.random.default_rng(99).standard_normal((4, NA * NT * 2))
    coeff = np.random.default_rng(seed).standard_normal((n, 4))
    x = 0.5 + 0.08 * coeff @ patterns / 2.0
    return np.clip(x, 0.0, 1.0).reshape(n, NA, NT, 2).astype(np.float32)


def small_csinet(seed: int = 0) -> CsiNet:
    keras.utils.set_random_seed(seed)
    return CsiNet(4, NA, NT, output_head="sigmoid")  # the toy data are in [0, 1]


def val_mse(codec, x: np.ndarray) -> float:
    return float(np.mean((codec.decode(codec.encode(x)) - x) ** 2))


# -- schedule -----------------------------------------------------------------------------------

def test_warmup_cosine_values_and_serialisation():
    s = WarmupCosine(1e-3, 1e-5, total_steps=110, warmup_steps=10)
    lr = lambda t: float(keras.ops.convert_to_numpy(s(t)))
    assert lr(0) == pytest.approx(1e-4)          # linear warm-up: lr_max (t + 1) / Tw
    assert lr(4) == pytest.approx(5e-4)
    assert lr(9) == pytest.approx(1e-3)
    assert lr(10) == pytest.approx(1e-3)         # cosine starts at lr_max
    assert lr(60) == pytest.approx((1e-3 + 1e-5) / 2)  # half way: the mean
    assert lr(110) == pytest.approx(1e-5)
    assert lr(500) == pytest.approx(1e-5)        # clipped after T
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s))
    assert isinstance(back, WarmupCosine) and back.get_config() == s.get_config()
    # the PyTorch engine's per-step table equals the schedule step by step
    table = _learning_rates(s, 120)
    assert table == pytest.approx([lr(t) for t in range(120)], rel=1e-6)
    assert _learning_rates(2e-3, 3) == [2e-3] * 3


# -- the training loop --------------------------------------------------------------------------

class RecordTraining(keras.layers.Layer):
    """Identity link that records the ``training`` flag of every eager call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flags: list[bool] = []

    def call(self, z, training=False):
        if isinstance(z, torch.Tensor) and z.device.type != "meta":
            self.flags.append(bool(training))
        return z

    def compute_output_shape(self, input_shape):
        return input_shape


@pytest.mark.parametrize("fast", [True, False], ids=["torch_loop", "keras_fit"])
def test_training_flag_reaches_layers(fast):
    """Steps run the model in training mode (the link, BinaryDense and codeword noise see
    ``training=True``), validation in inference mode; 2 epochs of 2 steps + 1 validation batch."""
    link = RecordTraining()
    codec = small_csinet()
    train_codec(codec, toy_csi(64, 1), toy_csi(16, 2),
                TrainSettings(epochs=2, batch_size=32, fast=fast), progress=False,
                train_link=link)
    assert link.flags == [True, True, False] * 2


class SabotageAfter(keras.layers.Layer):
    """Link that feeds the decoder pure noise after ``steps`` training steps: later epochs
    unlearn, so the best validation loss is an early epoch's."""

    def __init__(self, steps: int, **kwargs):
        super().__init__(**kwargs)
        self.steps, self.seen = steps, 0

    def call(self, z, training=False):
        if not training or not isinstance(z, torch.Tensor) or z.device.type == "meta":
            return z
        self.seen += 1
        return z if self.seen <= self.steps else 3.0 * torch.randn_like(z)

    def compute_output_shape(self, input_shape):
        return input_shape


def test_loss_decreases_and_log_written(tmp_path):
    codec = small_csinet()
    log = tmp_path / "log.csv"
    rows = train_codec(codec, toy_csi(512, 1), toy_csi(128, 2),
                       TrainSettings(epochs=6, batch_size=32, learning_rate=2e-2, seed=5),
                       log_path=log, progress=False)
    assert [r["epoch"] for r in rows] == list(range(1, 7))
    assert set(rows[0]) == {"epoch", "loss", "val_loss", "lr", "seconds"}
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]
    assert codec.history == rows
    text = log.read_text().splitlines()
    assert text[0] == "epoch,loss,val_loss,lr,seconds" and len(text) == 7
    assert list(tmp_path.iterdir()) == [log]  # no temporary file left


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the encoder, once sabotaged
@pytest.mark.parametrize("fast", [True, False], ids=["torch_loop", "keras_fit"])
def test_best_validation_weights_restored(fast):
    x_train, x_val = toy_csi(512, 1), toy_csi(128, 2)
    codec = small_csinet()
    rows = train_codec(codec, x_train, x_val,
                       TrainSettings(epochs=5, batch_size=32, learning_rate=2e-2, seed=3,
                                     fast=fast),
                       progress=False, train_link=SabotageAfter(3 * 16))
    val = [r["val_loss"] for r in rows]
    assert int(np.argmin(val)) == 2 and val[-1] > 1.2 * val[2]  # epochs 4, 5 unlearn
    assert val_mse(codec, x_val) == pytest.approx(val[2], rel=1e-4)


def test_same_seed_same_numbers():
    x_train, x_val = toy_csi(256, 1), toy_csi(64, 2)
    settings = TrainSettings(epochs=3, batch_size=32, learning_rate=5e-3, schedule="cosine",
                             warmup_epochs=1, seed=7)
    runs = []
    for seed in (7, 7, 8):
        settings.seed = seed
        rows = train_codec(small_csinet(), x_train, x_val, settings, progress=False)
        runs.append([(r["loss"], r["val_loss"], r["lr"]) for r in rows])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    # the logged rate is the schedule's after each epoch's 8 steps
    assert [lr for _, _, lr in runs[0]] == pytest.approx(
        [float(keras.ops.convert_to_numpy(WarmupCosine(5e-3, 5e-5, 24, 8)(8 * e)))
         for e in (1, 2, 3)])


def test_fast_path_learns_like_keras_fit():
    """From the same initial weights and seed, the PyTorch loop and ``model.fit`` reach a
    similar validation MSE, both far below the mean predictor's."""
    x_train, x_val = toy_csi(512, 1), toy_csi(128, 2)
    baseline = float(np.mean((x_val - x_train.mean(axis=0)) ** 2))
    settings = TrainSettings(epochs=10, batch_size=32, learning_rate=2e-2, seed=3)
    best = {}
    for fast in (True, False):
        settings.fast = fast
        rows = train_codec(small_csinet(), x_train, x_val, settings, progress=False)
        best[fast] = min(r["val_loss"] for r in rows)
    assert max(best.values()) < 0.5 * baseline
    assert abs(math.log(best[True] / best[False])) < math.log(1.5)
