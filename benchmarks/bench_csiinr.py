"""CSI-INR speed and size: meta-training samples/s, UE encoding latency per CSI for s_in steps,
base-network parameters and multiply-accumulates, UE cost of s_in steps.

* meta-training samples/s: :meth:`CsiInr.fit` (Algorithm 1, ``inner_steps`` inner steps, second
  and first order) on random ``[n, 32, 32, 2]`` data, after a warm-up batch, ``--threads``
  torch threads;
* UE latency: Algorithm 2 (``s_in`` gradient steps) for one CSI on one thread, median of
  ``--repeats`` calls; BS latency: one decoding (Algorithm 3);
* counts: trainable parameters of the base network (SIREN + output layers) and of the
  modulation network, MACs of one decoding on all ``Na Nt`` coordinates, and the UE MACs of
  ``s_in`` steps at 3 forward passes per step (forward + backward, the convention of
  ``ModulationFit.STEP_COST``), for the scenario's configuration and the paper-size one.

States the thread counts and the load average (timings collapse when other processes compete for
the cores; compare numbers measured in one run).

    python benchmarks/bench_csiinr.py [--scenario scenarios/csiinr.yaml] [--n 256] [--threads 2]
                                      [--repeats 20] [--steps 1 3 8] [--csv out.csv]
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
from linksim.codecs.csiinr import CsiInr
from linksim.learning.training import TrainSettings
from linksim.scenario import load_scenario

#: Seed Table II (d = 512, L_t = 10, omega_0 = 50, sigma_b = 10, s = 3, alpha = 1e-2).
PAPER_OPTIONS = {"width": 512, "depth": 10, "omega_0": 50.0, "sigma_b": 10.0, "inner_steps": 3,
                 "inner_lr": 1.0e-2, "learn_inner_lr": False, "output_scale": 1.0}


def meta_training_rate(codec: CsiInr, x: np.ndarray, batch: int) -> float:
    """Samples/s of one meta-training epoch over ``x`` (after one warm-up batch)."""
    settings = TrainSettings(epochs=1, batch_size=batch, learning_rate=1e-4)
    codec.fit(x[:batch], x[:batch], settings, progress=False)
    t0 = time.perf_counter()
    codec.fit(x, x[:batch], settings, progress=False)
    return len(x) / (time.perf_counter() - t0)


def median_ms(fn, repeats: int) -> float:
    """Median wall time [ms] of ``fn()`` over ``repeats`` calls, after 2 warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def counts_rows(label: str, codec: CsiInr, steps: list[int]) -> list[dict]:
    c = codec.base_network_counts()
    rows = [{"config": label, "quantity": "base-network params (SIREN + output)",
             "value": c["base_params"]},
            {"config": label, "quantity": "modulation-network params", "value":
             c["modulation_params"]},
            {"config": label, "quantity": "BS decoding MACs per CSI", "value": c["decode_macs"]}]
    rows += [{"config": label, "quantity": f"UE MACs per CSI, s_in = {s}",
              "value": int(s * c["ue_step_macs"])} for s in steps]
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", type=Path,
                   default=Path(__file__).resolve().parent.parent / "scenarios" / "csiinr.yaml")
    p.add_argument("--cr", type=int, default=None, help="default: the scenario's first CR")
    p.add_argument("--n", type=int, default=256, help="samples in the timed training epoch")
    p.add_argument("--batch", type=int, default=None, help="default: the scenario's batch")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--steps", type=int, nargs="*", default=[1, 3, 8])
    p.add_argument("--csv", type=Path, default=None)
    args = p.parse_args()

    import keras

    sc = load_scenario(args.scenario)
    spec = next(c for c in sc.codecs if c.name == "csiinr")
    cr = args.cr or spec.compression_ratios[0]
    batch = args.batch or sc.training.batch_size
    na, nt = sc.preprocessing.num_delay_rows, sc.num_bs_antennas
    x = np.random.default_rng(0).random((args.n, na, nt, 2), dtype=np.float32) * 0.2 + 0.4
    print(f"load average before: {os.getloadavg()[0]:.2f}; CR {cr} (M = {2 * na * nt // cr}), "
          f"options {spec.options}; training: {args.threads} torch threads, batch {batch}, "
          f"{args.n} samples; latency: 1 thread, median of {args.repeats}")
    rows = []
    for order in (True, False):
        keras.utils.set_random_seed(0)
        codec = CsiInr(cr, na, nt, **{**spec.options, "second_order": order})
        torch.set_num_threads(args.threads)
        rate = meta_training_rate(codec, x, batch)
        label = "second order" if order else "first order"
        rows.append({"config": "scenario", "quantity": f"meta-training samples/s ({label}, "
                     f"s = {codec.inner_steps})", "value": round(rate, 1)})
        print(rows[-1], flush=True)
    torch.set_num_threads(1)
    x1 = x[:1]
    for s in args.steps:
        ms = median_ms(lambda s=s: codec.modulate(x1, steps=s), args.repeats)
        rows.append({"config": "scenario", "quantity": f"UE encoding ms per CSI, s_in = {s}",
                     "value": round(ms, 2)})
        print(rows[-1], flush=True)
    z1 = codec.encode(x1)
    rows.append({"config": "scenario", "quantity": "BS decoding ms per CSI",
                 "value": round(median_ms(lambda: codec.reconstruct(z1), args.repeats), 2)})
    rows += counts_rows("scenario", codec, args.steps)
    rows += counts_rows(f"paper size (d 512, L_t 10), CR {cr}",
                        CsiInr(cr, na, nt, **PAPER_OPTIONS), args.steps)
    df = pd.DataFrame(rows)
    shown = df.assign(value=[f"{v:,}" if isinstance(v, int) else f"{v:g}" for v in df.value])
    with pd.option_context("display.max_colwidth", 80, "display.width", 160):
        print(shown.to_string(index=False))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.csv:
        df.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
