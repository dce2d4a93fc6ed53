"""Training throughput and UE encoder latency of every registered codec.

For each codec at one compression ratio prints

* training samples/s of the Keras autoencoder (Adam, MSE, ``model.fit``) at batch 200 on random
  ``[n, 32, 32, 2]`` data, after a warm-up epoch, with ``--threads`` torch threads;
* UE encoder latency for one CSI on one thread (median of ``--repeats`` direct calls of the
  encoder under ``torch.no_grad``), and for the binary codecs also of the exported encoder.

States the thread counts and the load average (PyTorch CPU threads collapse when another process
competes for the cores). Compare ratios measured in one run.

    python benchmarks/bench_codecs.py [--cr 4] [--n 2000] [--epochs 2] [--threads 2]
                                      [--codecs csinet crnet ...] [--csv out.csv]
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


def training_samples_per_s(codec, x: np.ndarray, epochs: int, batch: int,
                           jit: bool = False) -> float:
    """Samples/s of ``epochs`` epochs of ``fit`` after one warm-up epoch (``jit``: Keras
    ``jit_compile``, i.e. ``torch.compile`` on the PyTorch backend)."""
    import keras

    model = codec.autoencoder()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit)
    model.fit(x, x, batch_size=batch, epochs=1, verbose=0)
    t = time.perf_counter()
    model.fit(x, x, batch_size=batch, epochs=epochs, verbose=0)
    return epochs * len(x) / (time.perf_counter() - t)


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
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--codecs", nargs="*", default=None)
    p.add_argument("--csv", type=Path, default=None)
    p.add_argument("--jit", action="store_true", help="train with jit_compile (torch.compile)")
    args = p.parse_args()

    import keras

    names = args.codecs or list(available_codecs())
    rng = np.random.default_rng(0)
    x = rng.random((args.n, 32, 32, 2), dtype=np.float32)
    print(f"load average before: {os.getloadavg()[0]:.2f}; training with {args.threads} torch "
          f"threads, batch {args.batch}, {args.n} samples x {args.epochs} epochs; latency on 1 "
          "thread")
    rows = []
    for name in names:
        keras.utils.set_random_seed(0)
        codec = available_codecs()[name](args.cr)
        torch.set_num_threads(args.threads)
        sps = training_samples_per_s(codec, x, args.epochs, args.batch, args.jit)
        torch.set_num_threads(1)
        row = {"codec": name, "cr": args.cr, "train_samples_per_s": round(sps, 1),
               "ue_latency_ms": round(encoder_latency_ms(codec.encoder, x[:1], args.repeats), 3)}
        if hasattr(codec, "export_encoder"):
            row["ue_latency_exported_ms"] = round(
                encoder_latency_ms(codec.export_encoder(), x[:1], args.repeats), 3)
        rows.append(row)
        print(row, flush=True)
    df = pd.DataFrame(rows)
    base = df.loc[df.codec == "csinet", "train_samples_per_s"]
    if len(base):
        df["train_speed_vs_csinet"] = (df.train_samples_per_s / float(base.iloc[0])).round(2)
    print(df.to_string(index=False))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
