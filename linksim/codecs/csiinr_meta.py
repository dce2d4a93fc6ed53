"""CSI-INR's gradient steps (:mod:`linksim.codecs.csiinr`): the inner loop on the codewords
(seed Algorithm 2, the UE; also the inner steps of meta-training), the UE's Keras layer that
runs it (:class:`ModulationFit`) and the meta-learning of the base and modulation networks
(Algorithm 1).

Both need ``torch.autograd.grad`` (Keras on the PyTorch backend). They run where the base
network's weights are (:func:`linksim.learning.device.weights_device`): codewords, targets and batches
are created on that device.
"""

from __future__ import annotations

import copy
import math
import time
from typing import TYPE_CHECKING

import keras
import numpy as np

from linksim.codecs.csiinr_grid import fitting_loss
from linksim.learning.device import on_weights_device

if TYPE_CHECKING:
    from linksim.codecs.csiinr import ModulatedSiren


def torch_backend():
    """The ``torch`` module; CSI-INR needs Keras' PyTorch backend."""
    if keras.backend.backend() != "torch":
        raise RuntimeError("CSI-INR needs the PyTorch Keras backend (torch.autograd.grad)")
    import torch

    return torch


def inner_loop(inr, y, steps: int, keep_graph: bool = False,
               detach_result: bool = True):
    """``steps`` gradient steps on the codewords of a batch, from ``M_0 = 0``.

    Parameters
    ----------
    inr : linksim.codecs.csiinr.ModulatedSiren
        Base network.
    y : [b, P, 2] tensor
        Fitting targets (:meth:`~linksim.codecs.csiinr.ModulatedSiren.targets`), on the
        base network's device.
    steps : int
        Number of steps (``s`` in meta-training, ``s_in`` at the UE).
    keep_graph : bool
        Keep the graph of the steps (``create_graph=True``), for second-order meta-learning.
    detach_result : bool
        Return a tensor without autograd history.

    Returns
    -------
    [b, M] torch.Tensor float32
        ``M_steps``, on the device of ``y``.
    """
    torch = torch_backend()
    m = torch.zeros((y.shape[0], inr.codeword_length), dtype=torch.float32, device=y.device,
                    requires_grad=True)
    alpha = inr.alpha.value
    with torch.enable_grad():
        for _ in range(steps):
            loss = torch.sum(fitting_loss(inr.native(m), y))
            (grad,) = torch.autograd.grad(loss, m, create_graph=keep_graph)
            m = m - alpha * grad
            if not keep_graph:
                m = m.detach().requires_grad_(True)
    return m.detach() if detach_result else m



@keras.saving.register_keras_serializable(package="linksim")
class ModulationFit(keras.layers.Layer):
    """UE (seed Algorithm 2): CSI ``[b, Na, Nt, 2]`` -> codeword ``[b, M]`` by gradient steps.

    In Keras training mode (``training=True``) the steps stay in the autograd graph
    (``second_order``: MAML) or are cut (first order).

    Parameters
    ----------
    inr : ModulatedSiren
        The shared base network (its weights are the UE's weights).
    steps : int
        ``s_in``.
    second_order : bool
        Differentiate through the inner steps in training mode.
    """

    #: Cost of one inner step in forward passes (forward + backward ~ 2 forward; convention).
    STEP_COST = 3

    def __init__(self, inr: ModulatedSiren, steps: int = 3, second_order: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.inr = inr
        self.steps = int(steps)
        self.second_order = bool(second_order)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.inr.codeword_length)

    def call(self, x, training=None):
        keep = bool(training) and self.second_order
        return inner_loop(self.inr, self.inr.targets(x), self.steps, keep_graph=keep,
                          detach_result=not training)

    def count_macs(self) -> int:
        """UE multiply-accumulates per CSI: ``steps x 3 x`` one decoding (forward+backward)."""
        return self.steps * self.STEP_COST * self.inr.count_macs()


def meta_loss(codec, y):
    """Outer loss of one batch of targets ``y [b, P, 2]`` for the
    :class:`~linksim.codecs.csiinr.CsiInr` ``codec``: the mean fitting loss at ``M_s`` (a torch
    scalar with its graph)."""
    m = inner_loop(codec.inr, y, codec.inner_steps, keep_graph=codec.second_order,
                   detach_result=False)
    if not codec.second_order:
        m = m.detach()
    return keras.ops.mean(fitting_loss(codec.inr.native(m), y))


def meta_train(codec, x_train: np.ndarray, x_val: np.ndarray, settings,
               progress: bool = True) -> list[dict]:
    """Meta-learning (seed Algorithm 1) of ``codec``'s base network on normalised CSI
    ``[N, Na, Nt, 2]``, as :meth:`linksim.codecs.csiinr.CsiInr.fit` documents it: sets the
    target RMS from ``x_train``, trains, keeps the weights of the lowest validation loss.

    The batches are drawn from ``numpy.random.default_rng(settings.seed)`` and computed on the
    base network's device.

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``loss``, ``val_loss`` (normalised domain), ``lr``, ``seconds``.
    """
    from tqdm.auto import tqdm

    from linksim.learning.training import WarmupCosine

    torch = torch_backend()
    inr = codec.inr
    rms = float(np.sqrt(np.mean((np.asarray(x_train, np.float64) - inr.center) ** 2)))
    inr.rms.assign(rms if rms > 0 else 1.0)
    rms = codec.target_rms
    rng = np.random.default_rng(settings.seed)
    steps_per_epoch = math.ceil(len(x_train) / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    schedule = WarmupCosine(settings.learning_rate, settings.lr_min, total,
                            settings.warmup_epochs * steps_per_epoch) \
        if settings.schedule == "cosine" else None
    opt = torch.optim.Adam([w.value for w in inr.trainable_weights],
                           lr=settings.learning_rate, eps=1e-7)  # Keras' Adam epsilon
    best, best_weights, rows, step, lr = math.inf, None, [], 0, settings.learning_rate
    bar = tqdm(total=total, desc=f"meta-train csiinr CR{codec.compression_ratio}",
               unit="step", disable=not progress, leave=False)
    with on_weights_device(inr.weights), bar:
        for epoch in range(settings.epochs):
            t0, order, loss_sum = time.perf_counter(), rng.permutation(len(x_train)), 0.0
            for start in range(0, len(x_train), settings.batch_size):
                if schedule is not None:
                    lr = float(keras.ops.convert_to_numpy(schedule(step)))
                    for group in opt.param_groups:
                        group["lr"] = lr
                with torch.no_grad():
                    y = inr.targets(x_train[order[start:start + settings.batch_size]])
                loss = meta_loss(codec, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += float(loss.detach()) * len(y)
                step += 1
                bar.update(1)
            val = float(np.mean(codec.fitting_loss(x_val, codec.inner_steps))) * rms ** 2
            rows.append({"epoch": epoch + 1, "loss": loss_sum / len(x_train) * rms ** 2,
                         "val_loss": val, "lr": lr, "seconds": time.perf_counter() - t0})
            bar.set_postfix(loss=f"{rows[-1]['loss']:.2e}", val=f"{val:.2e}")
            if val < best:  # copies: on CPU get_weights() may share memory with the weights
                best, best_weights = val, copy.deepcopy(inr.get_weights())
    if best_weights is not None:
        inr.set_weights(best_weights)
    return rows
