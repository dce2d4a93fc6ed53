"""Training throughput of CsiNet: linksim's Keras (PyTorch backend) against plain PyTorch.

Prints samples/s at batch 200 on the same random data for

* ``torch``: CsiNet in plain PyTorch, channels-first (NCHW) tensors, ``torch.optim.Adam``;
* ``torch_cl``: the same module and data in channels-last memory (``torch.channels_last``);
* ``torch_tuned``: channels-last and PyTorch's fused Adam (the fastest plain PyTorch we have);
* ``keras_fit``: linksim's Keras CsiNet trained by ``train_codec`` with ``model.fit``
  (``TrainSettings(fast=False)``);
* ``keras``: the same through linksim's default engine (PyTorch loop, native kernels).

Every engine is timed ``--repeats`` times, interleaved (one run of each per round), after one
warm-up run; the table shows the median samples/s and the median of the per-round ratios to
``torch`` (machines are noisy: compare ratios measured in one run). No validation set, so every
engine does the same work. ``--clock cpu`` divides by process CPU time instead of wall time: with
``--threads 1`` that is robust to other processes sharing the cores. States the torch thread
count and the load average.

    python benchmarks/bench_training.py [--cr 4] [--n 2000] [--epochs 1] [--threads 2]
                                        [--repeats 5] [--clock wall|cpu]
                                        [--engines torch torch_cl torch_tuned keras_fit keras]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from torch import nn

import linksim  # noqa: F401  (sets the Keras backend)

ENGINES = ("torch", "torch_cl", "torch_tuned", "keras_fit", "keras")


class TorchCsiNet(nn.Module):
    """CsiNet in plain PyTorch (channels-first), the reference for the speed comparison."""

    def __init__(self, m: int, na: int = 32, nt: int = 32):
        super().__init__()
        self.na, self.nt = na, nt
        act = lambda: nn.LeakyReLU(0.3)

        def cbr(i, o, a=True):
            layers = [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o)]
            return nn.Sequential(*layers, act()) if a else nn.Sequential(*layers)

        self.enc_conv = cbr(2, 2)
        self.enc_fc = nn.Linear(2 * na * nt, m)
        self.dec_fc = nn.Linear(m, 2 * na * nt)
        self.refine = nn.ModuleList(
            [nn.Sequential(cbr(2, 8), cbr(8, 16), cbr(16, 2, a=False)) for _ in range(2)])
        self.act = act()
        self.out = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        b = x.shape[0]
        z = self.enc_fc(self.enc_conv(x).reshape(b, -1))
        y = self.dec_fc(z).reshape(b, 2, self.na, self.nt)
        for r in self.refine:
            y = self.act(y + r(y))
        return torch.sigmoid(self.out(y))


def torch_runner(x: np.ndarray, cr: int, batch: int, channels_last: bool, fused: bool = False):
    """One epoch of plain PyTorch training per call (a fresh model, trained on)."""
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    model = TorchCsiNet(2 * 32 * 32 // cr)
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3, fused=fused or None)
    loss_fn = nn.MSELoss()

    def epoch():
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            xb = xt[perm[i:i + batch]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), xb)
            loss.backward()
            opt.step()

    return epoch


def keras_runner(x: np.ndarray, cr: int, batch: int, fast: bool):
    """One epoch of ``train_codec`` per call (the same codec, trained on)."""
    from linksim.codecs import CsiNet
    from linksim.training import TrainSettings, train_codec

    codec = CsiNet(cr)
    settings = TrainSettings(epochs=1, batch_size=batch, fast=fast)
    return lambda: train_codec(codec, x, x[:0], settings, progress=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cr", type=int, default=4)
    p.add_argument("--n", type=int, default=2000, help="training samples per epoch")
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--engines", nargs="*", default=list(ENGINES), choices=ENGINES)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    clock = time.perf_counter if a.clock == "wall" else time.process_time
    x = np.random.default_rng(0).random((a.n, 32, 32, 2), dtype=np.float32)
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f} (before); {a.clock} clock")
    makers = {"torch": lambda: torch_runner(x, a.cr, a.batch, False),
              "torch_cl": lambda: torch_runner(x, a.cr, a.batch, True),
              "torch_tuned": lambda: torch_runner(x, a.cr, a.batch, True, fused=True),
              "keras_fit": lambda: keras_runner(x, a.cr, a.batch, False),
              "keras": lambda: keras_runner(x, a.cr, a.batch, True)}
    runners = {name: makers[name]() for name in a.engines}
    for run in runners.values():  # warm-up
        run()
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(a.repeats):
        for name, run in runners.items():
            t = clock()
            for _ in range(a.epochs):
                run()
            rates[name].append(a.epochs * a.n / (clock() - t))
    print(f"CsiNet CR{a.cr} training, batch {a.batch}, {a.n} samples x {a.epochs} epoch(s), "
          f"median of {a.repeats}:")
    for name, r in rates.items():
        line = f"  {name:11s} {statistics.median(r):8.0f} samples/s"
        if "torch" in rates:
            ratio = statistics.median(v / t for v, t in zip(r, rates["torch"]))
            line += f"   ratio to torch {ratio:.2f}"
        print(line + "   runs " + " ".join(f"{v:.0f}" for v in r))
    print(f"load average {os.getloadavg()[0]:.2f} (after)")


if __name__ == "__main__":
    main()
