"""Training of a codec's autoencoder: Adam on MSE in the normalised domain.

Learning-rate schedules: ``constant`` (CsiNet) or ``cosine`` with linear warm-up (the CRNet /
ACRNet scheduler): ``lr = lr_min + (lr_max - lr_min)(1 + cos(pi (t - Tw) / (T - Tw))) / 2`` for
``t >= Tw``, linear from 0 to ``lr_max`` before; ``t`` counts epochs (fractional, per step).
The weights with the best validation loss are kept (best-on-validation checkpoint).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from linksim.codecs.base import Codec


@keras.saving.register_keras_serializable(package="linksim")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up then cosine annealing, defined per optimizer step.

    Parameters
    ----------
    lr_max, lr_min : float
        Peak and final learning rates.
    total_steps, warmup_steps : int
        ``T`` and ``Tw`` in optimizer steps.
    """

    def __init__(self, lr_max: float, lr_min: float, total_steps: int, warmup_steps: int):
        self.lr_max, self.lr_min = float(lr_max), float(lr_min)
        self.total_steps, self.warmup_steps = int(total_steps), int(warmup_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        tw = float(max(self.warmup_steps, 1))
        span = float(max(self.total_steps - self.warmup_steps, 1))
        warm = self.lr_max * (step + 1.0) / tw
        frac = keras.ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        cos = self.lr_min + (self.lr_max - self.lr_min) * 0.5 * (1.0 + keras.ops.cos(math.pi * frac))
        return keras.ops.where(step < self.warmup_steps, warm, cos)

    def get_config(self):
        return {"lr_max": self.lr_max, "lr_min": self.lr_min,
                "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


@dataclass
class TrainSettings:
    """What :func:`train_codec` needs; built from the scenario's ``training`` block."""

    epochs: int = 20
    batch_size: int = 200
    learning_rate: float = 1e-3
    schedule: str = "constant"
    lr_min: float = 5e-5
    warmup_epochs: int = 0
    seed: int = 0


class _Progress(keras.callbacks.Callback):
    """One tqdm bar over all training steps, with the latest losses."""

    def __init__(self, total_steps: int, desc: str, enabled: bool):
        super().__init__()
        self.bar = tqdm(total=total_steps, desc=desc, unit="step", disable=not enabled,
                        leave=False)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.2e}",
                             val=f"{logs.get('val_loss', float('nan')):.2e}")

    def on_train_end(self, logs=None):
        self.bar.close()


class _BestAndLog(keras.callbacks.Callback):
    """Keeps the weights of the best validation loss; records one row per epoch."""

    def __init__(self):
        super().__init__()
        self.best = math.inf
        self.best_weights = None
        self.rows: list[dict] = []
        self._t0 = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        lr = self.model.optimizer.learning_rate
        row = {"epoch": epoch + 1, "loss": float(logs["loss"]),
               "val_loss": float(logs.get("val_loss", math.nan)),
               "lr": float(keras.ops.convert_to_numpy(lr)),
               "seconds": time.perf_counter() - self._t0}
        self.rows.append(row)
        if row["val_loss"] < self.best:
            self.best = row["val_loss"]
            self.best_weights = self.model.get_weights()


def train_codec(codec: Codec, x_train: np.ndarray, x_val: np.ndarray, settings: TrainSettings,
                log_path: Path | None = None, progress: bool = True,
                train_link=None) -> list[dict]:
    """Train ``codec`` end to end on normalised CSI and keep the best-on-validation weights.

    Parameters
    ----------
    codec : Codec
        Freshly built codec; its encoder and decoder are trained in place.
    x_train, x_val : [N, Na, Nt, 2] float32
        Normalised training and validation CSI (inputs and targets).
    settings : TrainSettings
        Epochs, batch size, learning-rate schedule, seed.
    log_path : Path or None
        Where to write the per-epoch CSV log (epoch, loss, val_loss, lr, seconds).
    progress : bool
        Show a progress bar.
    train_link : keras.layers.Layer or None
        Feedback link applied to the codeword during training (see :meth:`Codec.autoencoder`).

    Returns
    -------
    list of dict
        The per-epoch log.
    """
    keras.utils.set_random_seed(settings.seed)
    steps_per_epoch = math.ceil(len(x_train) / settings.batch_size)
    if settings.schedule == "cosine":
        lr = WarmupCosine(settings.learning_rate, settings.lr_min,
                          settings.epochs * steps_per_epoch,
                          settings.warmup_epochs * steps_per_epoch)
    else:
        lr = settings.learning_rate
    model = codec.autoencoder(train_link)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")
    best = _BestAndLog()
    bar = _Progress(settings.epochs * steps_per_epoch,
                    f"train {codec.name} CR{codec.compression_ratio}", progress)
    model.fit(x_train, x_train, batch_size=settings.batch_size, epochs=settings.epochs,
              validation_data=(x_val, x_val), shuffle=True, verbose=0,
              callbacks=[best, bar])
    if best.best_weights is not None:
        model.set_weights(best.best_weights)
    codec.history = best.rows
    if log_path is not None:
        write_training_log(best.rows, log_path)
    return best.rows


def write_training_log(rows: list[dict], path: Path) -> None:
    """Per-epoch log as CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
