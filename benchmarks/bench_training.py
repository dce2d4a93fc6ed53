"""Training throughput of linksim's Keras codecs (PyTorch backend) against plain PyTorch twins.

For each codec (``--codec NAME``, or ``all``) prints samples/s at batch 200 on the same random
data for

* ``torch``: the codec's plain PyTorch twin (``benchmarks/torch_twins.py``: the same network in
  ``nn.Conv2d`` / ``nn.BatchNorm2d`` / ... modules, channels-first tensors), ``torch.optim.Adam``
  with its defaults (the reference);
* ``torch_cl``: the same module and data in channels-last memory (``torch.channels_last``);
* ``torch_tuned``: channels-last and PyTorch's fused Adam (the fastest plain PyTorch we have);
* ``keras_fit``: linksim's Keras codec trained by ``train_codec`` with ``model.fit``
  (``TrainSettings(fast=False)``);
* ``keras``: the same through linksim's default engine (PyTorch loop, :mod:`linksim.learning.torch_graph`).

The twin's trainable parameter count is checked equal to the Keras codec's (encoder + decoder)
before timing. Every engine is timed ``--repeats`` times, interleaved (one run of each per
round), after one warm-up run; the table shows the median samples/s and the median of the
per-round ratios to ``torch`` (machines are noisy: compare ratios measured in one run). A Keras
run is one ``train_codec`` call (it builds the autoencoder and the optimizer each call, as the
pipeline does; no validation set, so every engine does the same work). ``--clock cpu`` divides
by process CPU time instead of wall time: with ``--threads 1`` that is robust to other
processes sharing the cores. States the torch thread count and the load average (before and
after each codec). ``--codec all`` times every twin of ``torch_twins.TWINS`` (without
``torch_cl`` unless ``--engines`` names it) and ends with a summary table.

    python benchmarks/bench_training.py [--codec csinet|crnet|...|all] [--cr 4] [--n 2000]
                                        [--epochs 1] [--threads 2] [--repeats 5]
                                        [--clock wall|cpu]
                                        [--engines torch torch_cl torch_tuned keras_fit keras]
                                        [--device cpu|cuda|cuda:N]

``--device cuda`` trains every engine on the GPU: the twins' modules and data are moved there,
the Keras codecs are built and trained inside ``linksim.learning.device.placed_on`` (as a run
with ``training.device: cuda`` does), and the clock is read after ``torch.cuda.synchronize()``.
The issue's GPU target is CsiNet CR4 at 100,000 samples/s or more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from torch import nn
from torch_twins import (  # noqa: F401  (TorchCsiNet: this script's old reference, kept)
    TWINS,
    TorchCsiNet,
    count_trainable,
    keras_trainable_count,
    make_twin,
    to_nchw,
)

import linksim  # noqa: F401  (sets the Keras backend)

ENGINES = ("torch", "torch_cl", "torch_tuned", "keras_fit", "keras")
#: Engines timed by default with ``--codec all`` (channels-last alone is the least informative).
ALL_CODECS_ENGINES = ("torch", "torch_tuned", "keras_fit", "keras")


def torch_runner(x: np.ndarray, cr: int, batch: int, channels_last: bool, fused: bool = False,
                 codec: str = "csinet", device: str = "cpu"):
    """One epoch of plain PyTorch training of ``codec``'s twin per call (a fresh model, trained
    on), on ``device`` (model, data and the permutation there)."""
    xt = to_nchw(x).to(device)
    model = make_twin(codec, cr, x.shape[1], x.shape[2]).to(device).train()
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3, fused=fused or None)
    loss_fn = nn.MSELoss()

    def epoch():
        perm = torch.randperm(len(xt), device=xt.device)
        for i in range(0, len(xt), batch):
            xb = xt[perm[i:i + batch]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), xb)
            loss.backward()
            opt.step()

    return epoch


def keras_codec(codec: str, cr: int, na: int = 32, nt: int = 32):
    """The linksim codec registered as ``codec`` at compression ratio ``cr``."""
    from linksim.codecs.base import get_codec_class

    return get_codec_class(codec)(cr, na, nt)


def keras_runner(x: np.ndarray, cr: int, batch: int, fast: bool, codec: str = "csinet",
                 device: str = "cpu"):
    """One epoch of ``train_codec`` per call (the same codec, trained on), on ``device``."""
    from linksim.learning.device import placed_on
    from linksim.learning.training import TrainSettings, train_codec

    with placed_on(device):
        c = keras_codec(codec, cr, x.shape[1], x.shape[2])
    settings = TrainSettings(epochs=1, batch_size=batch, fast=fast)

    def epoch():
        with placed_on(device):
            train_codec(c, x, x[:0], settings, progress=False)

    return epoch


def check_twin(codec: str, cr: int, na: int = 32, nt: int = 32) -> int:
    """Trainable parameters of the twin; ``AssertionError`` if the Keras codec's count differs."""
    ours = count_trainable(make_twin(codec, cr, na, nt))
    theirs = keras_trainable_count(keras_codec(codec, cr, na, nt))
    assert ours == theirs, (f"{codec} CR{cr}: PyTorch twin has {ours} trainable parameters, "
                            f"the Keras codec {theirs}")
    return ours


def bench_codec(codec: str, x: np.ndarray, a, clock) -> dict[str, list[float]]:
    """Interleaved timings of ``a.engines`` on ``codec``: samples/s per run and engine."""
    d = a.device
    makers = {
        "torch": lambda: torch_runner(x, a.cr, a.batch, False, codec=codec, device=d),
        "torch_cl": lambda: torch_runner(x, a.cr, a.batch, True, codec=codec, device=d),
        "torch_tuned": lambda: torch_runner(x, a.cr, a.batch, True, fused=True, codec=codec,
                                            device=d),
        "keras_fit": lambda: keras_runner(x, a.cr, a.batch, False, codec=codec, device=d),
        "keras": lambda: keras_runner(x, a.cr, a.batch, True, codec=codec, device=d)}
    runners = {name: makers[name]() for name in a.engines}
    sync = torch.cuda.synchronize if torch.device(d).type == "cuda" else (lambda: None)
    for run in runners.values():  # warm-up
        run()
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(a.repeats):
        for name, run in runners.items():
            sync()
            t = clock()
            for _ in range(a.epochs):
                run()
            sync()
            rates[name].append(a.epochs * a.n / (clock() - t))
    return rates


def ratio_to_torch(rates: dict[str, list[float]], name: str, ref: str = "torch") -> float:
    """Median over rounds of ``rate[name] / rate[ref]`` (``nan`` without ``ref``)."""
    if ref not in rates:
        return float("nan")
    return statistics.median(v / t for v, t in zip(rates[name], rates[ref]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codec", default="csinet", choices=[*TWINS, "all"])
    p.add_argument("--cr", type=int, default=4)
    p.add_argument("--n", type=int, default=2000, help="training samples per epoch")
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--engines", nargs="*", default=None, choices=ENGINES,
                   help=f"default: all; with --codec all: {' '.join(ALL_CODECS_ENGINES)}")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N")
    a = p.parse_args()
    if a.engines is None:
        a.engines = list(ALL_CODECS_ENGINES if a.codec == "all" else ENGINES)
    codecs = list(TWINS) if a.codec == "all" else [a.codec]
    torch.set_num_threads(a.threads)
    clock = time.perf_counter if a.clock == "wall" else time.process_time
    x = np.random.default_rng(0).random((a.n, 32, 32, 2), dtype=np.float32)
    gpu = torch.cuda.get_device_name(torch.device(a.device)) if a.device != "cpu" else "none"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"device {a.device} ({gpu}), load average {os.getloadavg()[0]:.2f} (before); "
          f"{a.clock} clock")
    summary = {}
    for codec in codecs:
        params = check_twin(codec, a.cr)
        load = os.getloadavg()[0]
        rates = bench_codec(codec, x, a, clock)
        summary[codec] = rates
        print(f"{codec} CR{a.cr} training ({params:,} trainable parameters in both), batch "
              f"{a.batch}, {a.n} samples x {a.epochs} epoch(s), median of {a.repeats}, load "
              f"{load:.2f} -> {os.getloadavg()[0]:.2f}:")
        for name, r in rates.items():
            line = f"  {name:11s} {statistics.median(r):8.0f} samples/s"
            if "torch" in rates:
                line += f"   ratio to torch {ratio_to_torch(rates, name):.2f}"
            print(line + "   runs " + " ".join(f"{v:.0f}" for v in r), flush=True)
    if len(codecs) > 1:
        engines = list(next(iter(summary.values())))
        tuned = "torch_tuned" in engines and "keras" in engines
        print("\nsamples/s (ratio to the plain PyTorch twin)"
              + ("; last column: keras / torch_tuned" if tuned else "") + ":")
        print("| codec | " + " | ".join(engines) + (" | keras / tuned" if tuned else "") + " |")
        print("|---" * (len(engines) + 1 + tuned) + "|")
        for codec, rates in summary.items():
            cells = [f"{statistics.median(rates[e]):.0f}"
                     + (f" ({ratio_to_torch(rates, e):.2f})" if "torch" in rates else "")
                     for e in engines]
            if tuned:
                cells.append(f"{ratio_to_torch(rates, 'keras', 'torch_tuned'):.2f}")
            print(f"| {codec} | " + " | ".join(cells) + " |")
    print(f"load average {os.getloadavg()[0]:.2f} (after)")


if __name__ == "__main__":
    main()
