"""Training throughput and UE encoder latency of every registered codec.

For each codec at one compression ratio prints

* training samples/s of ``codec.fit`` (for the autoencoders :func:`linksim.learning.training.train_codec`:
  Adam, MSE) at batch 200 on random ``[n, 32, 32, 2]`` data, after a warm-up epoch, with
  ``--threads`` torch threads: linksim's default engine (PyTorch loop, linksim.learning.torch_graph),
  ``model.fit`` (``--engine fit``), or both and their ratio (``--engine both``; median of
  the ratios of ``--train-repeats`` interleaved measurements);
* UE encoder latency for one CSI on one thread (median of ``--repeats`` direct calls of the
  encoder under ``torch.no_grad``), and for the binary codecs also of the exported encoder.

States the thread counts and the load average (PyTorch CPU threads collapse when another process
competes for the cores). Compare ratios measured in one run.

    python benchmarks/bench_codecs.py [--cr 4] [--n 2000] [--epochs 2] [--threads 2]
                                      [--engine fast|fit|both] [--clock wall|cpu]
                                      [--train-repeats 1] [--codecs csinet crnet ...]
                                      [--csv out.csv]
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
import pandas as pd
import torch

import linksim  # noqa: F401  (sets the Keras backend)
from linksim.codecs import available_codecs


def training_samples_per_s(codec, x: np.ndarray, epochs: int, batch: int, fast: bool = True,
                           jit: bool = False, clock=time.perf_counter) -> float:
    """Samples/s of ``epochs`` epochs of ``codec.fit`` (what the pipeline runs; a one-sample
    validation set) after one warm-up epoch. ``fast``: linksim's PyTorch loop, linksim.learning.torch_graph
    (the default engine of :func:`linksim.learning.training.train_codec`), else ``model.fit``; ``jit``:
    ``model.fit`` with Keras ``jit_compile`` (i.e. ``torch.compile`` on the PyTorch backend);
    ``clock``: ``time.perf_counter`` (wall) or ``time.process_time`` (CPU time)."""
    import keras

    from linksim.learning.training import TrainSettings

    if jit:
        model = codec.autoencoder()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=True)
        model.fit(x, x, batch_size=batch, epochs=1, verbose=0)
        t = clock()
        model.fit(x, x, batch_size=batch, epochs=epochs, verbose=0)
        return epochs * len(x) / (clock() - t)
    codec.fit(x, x[:1], TrainSettings(epochs=1, batch_size=batch, fast=fast), progress=False)
    t = clock()
    codec.fit(x, x[:1], TrainSettings(epochs=epochs, batch_size=batch, fast=fast),
              progress=False)
    return epochs * len(x) / (clock() - t)


def encoder_latency_ms(encoder, x1: np.ndarray, repeats: int) -> float:
    """Median wall time [ms] of one call of ``encoder`` on one CSI ``[1, Na, Nt, 2]``."""
    xt = torch.from_numpy(x1)
    times = []
    with torch.no_grad():
        for _ in range(10):
            encoder(xt, training=False)
        for _ in range(repeats):
            t = time.perf_counter()
            encoder(xt, training=False)
            times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cr", type=int, default=4)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=200, help="latency calls")
    p.add_argument("--train-repeats", type=int, default=1,
                   help="training measurements per engine (interleaved; medians)")
    p.add_argument("--codecs", nargs="*", default=None)
    p.add_argument("--csv", type=Path, default=None)
    p.add_argument("--engine", choices=("fast", "fit", "both"), default="fast",
                   help="training engine: linksim's PyTorch loop (default), model.fit, or both")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="training time: wall clock, or process CPU time (robust to other "
                        "processes with --threads 1)")
    p.add_argument("--jit", action="store_true",
                   help="model.fit with jit_compile (torch.compile); implies --engine fit")
    args = p.parse_args()
    if args.jit:
        args.engine = "fit"

    import keras

    clock = time.perf_counter if args.clock == "wall" else time.process_time
    names = args.codecs or list(available_codecs())
    rng = np.random.default_rng(0)
    x = rng.random((args.n, 32, 32, 2), dtype=np.float32)
    print(f"load average before: {os.getloadavg()[0]:.2f}; training with {args.threads} torch "
          f"threads, batch {args.batch}, {args.n} samples x {args.epochs} epochs, {args.clock} "
          "clock; latency on 1 thread")
    rows = []
    for name in names:
        keras.utils.set_random_seed(0)
        codec = available_codecs()[name](args.cr)
        torch.set_num_threads(args.threads)
        row = {"codec": name, "cr": args.cr}
        engines = {"fit": ["fit"], "fast": ["fast"], "both": ["fit", "fast"]}[args.engine]
        rates = {e: [] for e in engines}
        for _ in range(args.train_repeats):  # interleaved; medians
            for e in engines:
                rates[e].append(training_samples_per_s(codec, x, args.epochs, args.batch,
                                                       fast=e == "fast", jit=args.jit,
                                                       clock=clock))
        for e in engines:
            key = "train_samples_per_s" if e == "fast" else "train_samples_per_s_fit"
            row[key] = round(statistics.median(rates[e]), 1)
        if args.engine == "both":
            row["speedup"] = round(statistics.median(
                a / b for a, b in zip(rates["fast"], rates["fit"])), 2)
        torch.set_num_threads(1)
        row["ue_latency_ms"] = round(encoder_latency_ms(codec.encoder, x[:1], args.repeats), 3)
        if hasattr(codec, "export_encoder"):
            row["ue_latency_exported_ms"] = round(
                encoder_latency_ms(codec.export_encoder(), x[:1], args.repeats), 3)
        rows.append(row)
        print(row, flush=True)
    df = pd.DataFrame(rows)
    col = "train_samples_per_s" if "train_samples_per_s" in df else "train_samples_per_s_fit"
    base = df.loc[df.codec == "csinet", col]
    if len(base):
        df["train_speed_vs_csinet"] = (df[col] / float(base.iloc[0])).round(2)
    print(df.to_string(index=False))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
