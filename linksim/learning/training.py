"""Training of a codec's autoencoder: Adam on MSE in the normalised domain.

Learning-rate schedules: ``constant`` (CsiNet) or ``cosine`` with linear warm-up (the CRNet /
ACRNet scheduler): ``lr = lr_min + (lr_max - lr_min)(1 + cos(pi (t - Tw) / (T - Tw))) / 2`` for
``t >= Tw``, linear from 0 to ``lr_max`` before; ``t`` counts epochs (fractional, per step).
The weights with the best validation loss are kept (best-on-validation checkpoint).

Two engines run this recipe (Adam with ``eps = 1e-7``, MSE, the schedule per optimizer step, the
training loss averaged over the epoch's batches weighted by their size, validation in inference
mode):

* ``model.fit`` with Keras' Adam (``TrainSettings(fast=False)``, and any backend but PyTorch);
* on the PyTorch backend (the default), a plain PyTorch loop: the data set is one torch tensor,
  batches are slices of a seeded permutation, the autoencoder runs as one PyTorch function of
  the Keras variables' own tensors (:class:`linksim.learning.torch_graph.TorchProgram`: PyTorch's
  kernels in channels-last memory, a channels-last batch norm, no per-layer Keras machinery),
  and PyTorch's fused Adam updates those tensors in place (Keras' Adam costs ~14x PyTorch's
  fused one on CPU). The model, its weights and what it computes are Keras';
  ``benchmarks/README.md`` has the gain.

Both engines take the training and validation data as arrays or as streamed sources
(:class:`linksim.learning.streaming.StreamedCsi`, read from disk block by block with their own seeded
shuffling; ``training.stream`` in a scenario). Arrays are trained on exactly as before.

Both train where the codec's weights are (:mod:`linksim.learning.device`; ``training.device`` in a
scenario): batches, optimizer state and Keras' tensors are put on that device, and the weights
come back through NumPy (``get_weights``), so the best weights and the saved model are the same
on every device up to rounding.
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
from linksim.fsutil import atomic_path
from linksim.learning.device import as_tensor, codec_variables, on_weights_device, weights_device
from linksim.learning.streaming import is_stream
from linksim.learning.torch_graph import TorchProgram, regularised_layers


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
    """What :func:`train_codec` needs; built from the scenario's ``training`` block.

    ``fast`` selects the PyTorch training loop (the model as :mod:`linksim.learning.torch_graph`; on the
    PyTorch backend, ignored elsewhere); ``False`` trains with ``model.fit``.
    """

    epochs: int = 20
    batch_size: int = 200
    learning_rate: float = 1e-3
    schedule: str = "constant"
    lr_min: float = 5e-5
    warmup_epochs: int = 0
    seed: int = 0
    fast: bool = True


class _Best:
    """Per-epoch log rows and the weights of the best validation loss so far."""

    def __init__(self):
        self.best = math.inf
        self.weights = None
        self.rows: list[dict] = []

    def add(self, model: keras.Model, epoch: int, loss: float, val_loss: float, lr: float,
            seconds: float) -> dict:
        row = {"epoch": epoch, "loss": float(loss), "val_loss": float(val_loss), "lr": float(lr),
               "seconds": seconds}
        self.rows.append(row)
        if row["val_loss"] < self.best:
            self.best = row["val_loss"]
            self.weights = [np.array(w, copy=True) for w in model.get_weights()]
        return row


class _FitCallback(keras.callbacks.Callback):
    """``model.fit`` hooks: the progress bar and the :class:`_Best` record."""

    def __init__(self, best: _Best, bar):
        super().__init__()
        self.best, self.bar = best, bar
        self._t0 = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        lr = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        row = self.best.add(self.model, epoch + 1, logs["loss"], logs.get("val_loss", math.nan),
                            lr, time.perf_counter() - self._t0)
        self.bar.set_postfix(loss=f"{row['loss']:.2e}", val=f"{row['val_loss']:.2e}")


class _StreamDataset(keras.utils.PyDataset):
    """A streamed source (:class:`linksim.learning.streaming.StreamedCsi`) as ``(x, x)`` batches for
    ``model.fit``: shuffled epochs (``shuffle``, epoch ``e`` of ``epoch_batches``) or the split
    in order (validation).

    Batches are produced in sequence; Keras asks for them in order (``workers=1``), a request
    out of order restarts the epoch's stream and skips to it.
    """

    def __init__(self, source, batch_size: int, seed: int, shuffle: bool):
        super().__init__(workers=1, use_multiprocessing=False)
        self.source, self.batch_size, self.seed, self.shuffle = source, batch_size, seed, shuffle
        self.epoch = 0
        self._it, self._next = None, 0

    def __len__(self) -> int:
        return math.ceil(len(self.source) / self.batch_size)

    def _restart(self) -> None:
        self._it = (self.source.epoch_batches(self.epoch, self.batch_size, self.seed)
                    if self.shuffle else self.source.ordered_batches(self.batch_size))
        self._next = 0

    def __getitem__(self, idx: int):
        if self._it is None or idx != self._next:
            self._restart()
            for _ in range(idx):
                next(self._it)
            self._next = idx
        x = next(self._it)
        self._next += 1
        return x, x

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.epoch += 1
        self._it = None


def _train_fit(model: keras.Model, x_train, x_val, settings: TrainSettings, learning_rate,
               best: _Best, bar) -> None:
    """The Keras engine: ``model.fit`` with Keras' Adam, shuffling, validation every epoch.

    Streamed sources go through :class:`_StreamDataset` (their own seeded shuffling).
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    bs, seed = settings.batch_size, settings.seed
    validation = None
    if len(x_val):
        validation = (_StreamDataset(x_val, bs, seed, shuffle=False) if is_stream(x_val)
                      else (x_val, x_val))
    data = ({"x": _StreamDataset(x_train, bs, seed, shuffle=True)} if is_stream(x_train)
            else {"x": x_train, "y": x_train, "batch_size": bs, "shuffle": True})
    model.fit(**data, epochs=settings.epochs, validation_data=validation, verbose=0,
              callbacks=[_FitCallback(best, bar)])


def _keras_mse(model: keras.Model, xb):
    """Training-mode MSE of ``model`` on the batch ``xb`` through Keras, plus its
    regularisation losses."""
    import torch

    loss = torch.mean(torch.square(model(xb, training=True) - xb))
    return loss + sum(model.losses) if model.losses else loss


def _validation_loss(program, xv, batch_size: int, device) -> float:
    """MSE over a whole validation tensor ``[N, ...]`` (or a streamed source, read in order, its
    batches put on ``device``) in inference mode (``nan`` if empty); ``program`` is the
    autoencoder's :class:`~linksim.learning.torch_graph.TorchProgram`."""
    import torch

    if len(xv) == 0:
        return math.nan
    if is_stream(xv):
        batches = (as_tensor(b, device) for b in xv.ordered_batches(batch_size))
    else:
        batches = (xv[start:start + batch_size] for start in range(0, len(xv), batch_size))
    total = 0.0
    with torch.no_grad():
        for xb in batches:
            (y,), _ = program([xb], training=False)
            total += float(torch.mean(torch.square(y - xb))) * len(xb)
    return total / len(xv)


def _epoch_batches(x, xt, epoch: int, generator, batch_size: int, seed: int, device):
    """The training batches of one epoch as torch tensors on ``device``: slices of a permutation
    drawn from ``generator`` (a CPU generator: the same order on every device) for an array
    (``xt``, its tensor), the source's own seeded shuffle
    (:meth:`~linksim.learning.streaming.StreamedCsi.epoch_batches`) for a streamed source."""
    import torch

    if is_stream(x):
        for xb in x.epoch_batches(epoch, batch_size, seed):
            yield as_tensor(xb, device)
        return
    n = len(xt)
    order = torch.randperm(n, generator=generator).to(device)
    for start in range(0, n, batch_size):
        yield xt[order[start:start + batch_size]]


def _train_torch(model: keras.Model, x_train, x_val, settings: TrainSettings, learning_rate,
                 best: _Best, bar) -> None:
    """The PyTorch engine: the loop ``model.fit`` runs, without its per-step machinery.

    Each epoch draws a permutation from a ``torch.Generator`` seeded by ``settings.seed``; a step
    is forward in training mode, MSE, backward and one step of PyTorch's fused Adam over the
    Keras variables (the same tensors) at the schedule's learning rate of that step. Keras' and
    PyTorch's Adam differ only in where ``eps`` (1e-7) enters (Keras adds it to ``sqrt(v)``,
    PyTorch to the bias-corrected ``sqrt(v)``): the same update wherever ``sqrt(v) >> eps``. The
    epoch's loss is the batch losses' mean weighted by batch size, as ``fit`` reports it.

    A streamed source (:class:`linksim.learning.streaming.StreamedCsi`) instead of an array supplies its
    own seeded batches (block order and order within blocks; :func:`_epoch_batches`) and is
    never held whole.

    Data, optimizer state and computation are on the device of the model's weights; the
    permutations come from a CPU generator (the same batches on every device).
    """
    import torch

    variables = model.trainable_variables
    device = weights_device(variables)
    xt = None if is_stream(x_train) else as_tensor(x_train, device)
    xv = x_val if is_stream(x_val) else as_tensor(x_val, device)
    generator = torch.Generator().manual_seed(int(settings.seed))
    n, bs = len(x_train), settings.batch_size
    lrs = _learning_rates(learning_rate, settings.epochs * math.ceil(n / bs) + 1)
    constrained = [v for v in variables if v.constraint is not None]
    optimizer = torch.optim.Adam([v.value for v in variables], lr=lrs[0], betas=(0.9, 0.999),
                                 eps=1e-7, fused=True)
    program = TorchProgram(model)
    # Keras adds regularisation losses inside its own call path: a model with regularizers
    # trains through it (same loop and optimizer, Keras' layer implementations).
    forward = (program.mse if not regularised_layers(model)
               else lambda xb: (_keras_mse(model, xb), []))
    step = 0
    for epoch in range(settings.epochs):
        t0 = time.perf_counter()
        total = 0.0
        for xb in _epoch_batches(x_train, xt, epoch, generator, bs, settings.seed, device):
            optimizer.zero_grad(set_to_none=True)
            loss, state = forward(xb)
            loss.backward()
            for group in optimizer.param_groups:
                group["lr"] = lrs[step]
            optimizer.step()
            with torch.no_grad():
                for target, value in zip(program.state, state):
                    target.copy_(value)
                for v in constrained:
                    v.assign(v.constraint(v))
            step += 1
            total += loss.item() * len(xb)
            bar.update(1)
        row = best.add(model, epoch + 1, total / n, _validation_loss(program, xv, bs, device),
                       lrs[step], time.perf_counter() - t0)
        bar.set_postfix(loss=f"{row['loss']:.2e}", val=f"{row['val_loss']:.2e}")


def _learning_rates(learning_rate, steps: int) -> list[float]:
    """Learning rate of optimizer steps ``0 .. steps - 1`` (a float or a Keras schedule)."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        lr = keras.ops.convert_to_numpy(learning_rate(keras.ops.arange(steps)))
        return [float(v) for v in np.broadcast_to(lr, (steps,))]
    return [float(learning_rate)] * steps


def train_codec(codec: Codec, x_train: np.ndarray, x_val: np.ndarray, settings: TrainSettings,
                log_path: Path | None = None, progress: bool = True,
                train_link=None) -> list[dict]:
    """Train ``codec`` end to end on normalised CSI and keep the best-on-validation weights.

    Parameters
    ----------
    codec : Codec
        Freshly built codec; its encoder and decoder are trained in place.
    x_train, x_val : [N, Na, Nt, 2] float32, or streamed sources
        Normalised training and validation CSI (inputs and targets): arrays, or
        :class:`linksim.learning.streaming.StreamedCsi` sources read block by block from disk (their
        own seeded shuffling; an array is shuffled by ``settings.seed`` as before).
    settings : TrainSettings
        Epochs, batch size, learning-rate schedule, seed, engine.
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
    best = _Best()
    engine = (_train_torch if settings.fast and keras.backend.backend() == "torch"
              else _train_fit)
    with on_weights_device(codec_variables(codec)):  # Keras' tensors where the weights are
        model = codec.autoencoder(train_link)
        with tqdm(total=settings.epochs * steps_per_epoch, unit="step", leave=False,
                  desc=f"train {codec.name} CR{codec.compression_ratio}",
                  disable=not progress) as bar:
            engine(model, x_train, x_val, settings, lr, best, bar)
        if best.weights is not None:
            model.set_weights(best.weights)
    codec.history = best.rows
    if log_path is not None:
        write_training_log(best.rows, log_path)
    return best.rows


def write_training_log(rows: list[dict], path: Path) -> None:
    """Per-epoch log as CSV, written atomically (:func:`linksim.fsutil.atomic_path`)."""
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
