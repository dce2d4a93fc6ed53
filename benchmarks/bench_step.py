"""Where the PyTorch training engine's speed comes from: batch norm and one training step.

1. Batch norm in training, forward + backward on a channels-last ``[200, 32, 32, C]`` batch
   (CSI-like: uniform in [0.5, 0.55]), milliseconds:

   * ``nchw_copies``: the input copied to contiguous NCHW, ``torch.native_batch_norm`` and its
     backward there, the result copied back (the first engine's path for few channels);
   * ``channels_last``: linksim's batch norm (``linksim.learning.torch_graph._channels_last_batch_norm``);
   * ``native_nchw``: ``native_batch_norm`` on data already in contiguous NCHW, no copies (what
     a plain NCHW PyTorch network pays);
   * ``native_cl``: ``native_batch_norm`` on the channels-last memory itself (PyTorch's
     channels-last CPU kernel).

   and each one's largest output error against float64, in standard deviations of the output.

2. One training step of a codec (forward in training mode, MSE, backward; no optimizer),
   milliseconds, batch 200:

   * ``twin``: the plain PyTorch twin (``benchmarks/torch_twins.py``);
   * ``keras_call``: the Keras autoencoder called as ``model(x, training=True)``;
   * ``program``: the same model as linksim's ``TorchProgram`` (what the engine runs).

Medians of ``--repeats`` interleaved rounds; states threads and load average.

    python benchmarks/bench_step.py [--codec crnet] [--threads 2] [--repeats 5]
                                    [--channels 2 7 16 32]
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

import torch
from torch_twins import make_twin

import linksim  # noqa: F401  (sets the Keras backend)
from linksim.codecs.base import get_codec_class
from linksim.learning.torch_graph import TorchProgram, _channels_last_batch_norm


def nchw_copies_batch_norm(x, gamma, beta, eps):
    """The copy path: NHWC -> contiguous NCHW, native batch norm, back to NHWC."""
    xn = torch.movedim(x, -1, 1).contiguous()
    y = torch.native_batch_norm(xn, gamma, beta, None, None, True, 0.0, eps)[0]
    return torch.movedim(y, 1, -1).contiguous()


def timed(fn, repeats: int, inner: int) -> list[float]:
    """Milliseconds per call of ``fn``, one value per round (after one warm-up round)."""
    fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t) / inner * 1e3)
    return out


def batch_norm_row(c: int, repeats: int, gen: torch.Generator) -> str:
    """One row of the batch-norm table: ``c`` channels."""
    linksim_bn = _channels_last_batch_norm()
    x = (0.5 + 0.05 * torch.rand(200, 32, 32, c, generator=gen)).requires_grad_()
    xn = torch.movedim(x.detach(), -1, 1).contiguous().requires_grad_()
    gamma = (0.5 + torch.rand(c, generator=gen)).requires_grad_()
    beta = torch.rand(c, generator=gen).requires_grad_()
    dy = torch.randn(200, 32, 32, c, generator=gen)
    dyn = torch.movedim(dy, -1, 1).contiguous()

    def native(t):
        return torch.native_batch_norm(t, gamma, beta, None, None, True, 0.0, 1e-3)[0]

    forward = {"nchw_copies": lambda: nchw_copies_batch_norm(x, gamma, beta, 1e-3),
               "channels_last": lambda: linksim_bn(x, gamma, beta, 1e-3)[0],
               "native_nchw": lambda: native(xn),
               "native_cl": lambda: torch.movedim(native(torch.movedim(x, -1, 1)), 1, -1)}
    steps = {name: (lambda fn=fn, g=(dyn if name == "native_nchw" else dy): fn().backward(g))
             for name, fn in forward.items()}
    rounds = {name: [] for name in forward}
    for _ in range(repeats):  # interleaved
        for name, step in steps.items():
            rounds[name] += timed(step, 1, 10)
    with torch.no_grad():
        x64 = x.double()
        ref = ((x64 - x64.mean(dim=(0, 1, 2)))
               / torch.sqrt(x64.var(dim=(0, 1, 2), unbiased=False) + 1e-3)
               * gamma.double() + beta.double())
        outputs = {name: fn() for name, fn in forward.items()}
        outputs["native_nchw"] = torch.movedim(outputs["native_nchw"], 1, -1)
        errors = {name: float((y.double() - ref).abs().max() / ref.std())
                  for name, y in outputs.items()}
    return f"| {c} | " + " | ".join(f"{statistics.median(v):.2f} [{errors[name]:.0e}]"
                                    for name, v in rounds.items()) + " |"


def batch_norm_table(channels: list[int], repeats: int) -> None:
    print("batch norm, training, forward + backward, [200, 32, 32, C], ms (median), and "
          "[largest output error against float64 / output std]:")
    print("| C | nchw_copies | channels_last | native_nchw | native_cl |")
    print("|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    for c in channels:
        print(batch_norm_row(c, repeats, gen), flush=True)


def step_table(codec: str, repeats: int) -> None:
    twin = make_twin(codec, 4)
    model = get_codec_class(codec)(4, 32, 32).autoencoder()
    program = TorchProgram(model)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(200, 32, 32, 2, generator=gen)
    xn = torch.movedim(x, -1, 1).contiguous()

    def mse_backward(y, target):
        torch.mean(torch.square(y - target)).backward()

    runs = {
        "twin": lambda: mse_backward(twin(xn), xn),
        "keras_call": lambda: mse_backward(model(x, training=True), x),
        "program": lambda: mse_backward(program([x], training=True)[0][0], x),
    }
    rounds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            rounds[name] += timed(fn, 1, 5)
    ref = statistics.median(rounds["twin"])
    print(f"\n{codec} CR4, one training step (forward, MSE, backward; no optimizer), batch 200, "
          "ms (median) and time relative to the twin:")
    for name, v in rounds.items():
        print(f"  {name:10s} {statistics.median(v):7.1f} ms   {statistics.median(v) / ref:.2f}",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codec", default="crnet")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--channels", type=int, nargs="*", default=[2, 7, 16, 32])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f} (before)")
    batch_norm_table(a.channels, a.repeats)
    step_table(a.codec, a.repeats)
    print(f"load average {os.getloadavg()[0]:.2f} (after)")


if __name__ == "__main__":
    main()
