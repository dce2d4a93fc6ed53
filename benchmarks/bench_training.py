"""Training throughput of CsiNet: linksim's Keras (PyTorch backend) against plain PyTorch.

Prints samples/s at batch 200 for both on the same random data, and their ratio, measured in one
run (machines are noisy: compare the ratio). States the torch thread count and the load average.

    python benchmarks/bench_training.py [--cr 4] [--n 4000] [--epochs 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from torch import nn

import linksim  # noqa: F401  (sets the Keras backend)


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


def bench_torch(x: np.ndarray, cr: int, epochs: int, batch: int) -> float:
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    model = TorchCsiNet(2 * 32 * 32 // cr)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.MSELoss()

    def epoch():
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            xb = xt[perm[i:i + batch]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), xb)
            loss.backward()
            opt.step()

    epoch()  # warm-up
    t = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return epochs * len(x) / (time.perf_counter() - t)


def bench_keras(x: np.ndarray, cr: int, epochs: int, batch: int) -> float:
    from linksim.codecs import CsiNet
    from linksim.training import TrainSettings, train_codec

    codec = CsiNet(cr)
    train_codec(codec, x, x[:200], TrainSettings(epochs=1, batch_size=batch), progress=False)
    t = time.perf_counter()
    train_codec(codec, x, x[:200], TrainSettings(epochs=epochs, batch_size=batch), progress=False)
    return epochs * len(x) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cr", type=int, default=4)
    p.add_argument("--n", type=int, default=4000, help="training samples per epoch")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    x = np.random.default_rng(0).random((a.n, 32, 32, 2), dtype=np.float32)
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f} (before)")
    pt = bench_torch(x, a.cr, a.epochs, a.batch)
    ks = bench_keras(x, a.cr, a.epochs, a.batch)
    print(f"CsiNet CR{a.cr} training, batch {a.batch}:")
    print(f"  plain PyTorch          {pt:8.0f} samples/s")
    print(f"  linksim Keras/PyTorch  {ks:8.0f} samples/s   ratio {ks / pt:.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} (after)")


if __name__ == "__main__":
    main()
