"""Throughput of the UMa channel front end (linksim.channels.uma).

Prints samples/s of ``generate_uma_cir`` alone, of ``frequency_response``
alone and end to end (CIR + frequency response), with the torch thread count
and the machine's load average; then the same number of samples as snapshot
series of a moving UE (``generate_uma_series``: n / T drops of T snapshots,
0.9 m/s, ``batch_size / T`` drops per call, as the data set store does) end to
end, and its ratio to the single-snapshot case. Run from the repository root::

    python benchmarks/bench_channels.py [--n 2000] [--nc 1024] [--nt 32]
                                        [--threads 2] [--batch-size 1000]
                                        [--snapshots 10] [--interval 5e-3]
                                        [--device cpu|cuda]

``--device cuda`` draws the CIRs and computes the frequency responses on the
current CUDA device (a run does the same with a data set's
``generation_device: cuda``); the issue's GPU target is 20,000 drops/s end to
end at Nc 1024, Nt 32.

PyTorch's CPU threads slow down several-fold when another process competes
for the cores, so compare numbers only at similar load averages.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from linksim.channels import uma


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="samples to generate")
    p.add_argument("--nc", type=int, default=1024, help="subcarriers")
    p.add_argument("--nt", type=int, default=32, help="BS antennas")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--batch-size", type=int, default=1000, help="generation batch size")
    p.add_argument("--scs", type=float, default=120e3, help="subcarrier spacing [Hz]")
    p.add_argument("--fc", type=float, default=28e9, help="carrier frequency [Hz]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--snapshots", type=int, default=10, help="snapshots per drop T (mobility)")
    p.add_argument("--interval", type=float, default=5e-3, help="snapshot interval [s]")
    p.add_argument("--device", default="cpu", help="torch device of Sionna and the frequency "
                                                   "response: cpu or cuda")
    return p.parse_args(argv)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    torch.set_num_threads(args.threads)
    freqs = uma.subcarrier_frequencies(args.nc, args.scs)
    cfg = {
        "num_bs_antennas": args.nt,
        "carrier_frequency_hz": args.fc,
        "batch_size": args.batch_size,
        "device": args.device,
    }
    dev = {"device": args.device}
    print(
        f"n={args.n} Nc={args.nc} Nt={args.nt} batch_size={args.batch_size} "
        f"fc={args.fc / 1e9:g} GHz torch_threads={torch.get_num_threads()} "
        f"cpus={os.cpu_count()} torch={torch.__version__} device={args.device}"
    )
    print(f"load average before: {_load()}")

    # warm-up (first Sionna call builds tables and allocates)
    wa, wt = uma.generate_uma_cir(min(args.n, 64), seed=args.seed + 1, **{**cfg, "batch_size": 64})
    uma.frequency_response(wa, wt, freqs, **dev)

    t0 = time.perf_counter()
    a, tau = uma.generate_uma_cir(args.n, seed=args.seed, **cfg)
    t_cir = time.perf_counter() - t0

    t0 = time.perf_counter()
    h = uma.frequency_response(a, tau, freqs, **dev)
    t_fr = time.perf_counter() - t0

    t0 = time.perf_counter()
    a2, tau2 = uma.generate_uma_cir(args.n, seed=args.seed + 2, **cfg)
    h2 = uma.frequency_response(a2, tau2, freqs, **dev)
    t_e2e = time.perf_counter() - t0

    print(f"generate_uma_cir    : {args.n / t_cir:8.1f} samples/s ({t_cir:.2f} s)")
    print(f"frequency_response  : {args.n / t_fr:8.1f} samples/s ({t_fr:.2f} s)")
    print(f"end to end          : {args.n / t_e2e:8.1f} samples/s ({t_e2e:.2f} s)")

    t_n = args.snapshots
    drops = -(-args.n // t_n)
    t0 = time.perf_counter()
    a3, tau3 = uma.generate_uma_series(
        drops, t_n, args.interval, seed=args.seed + 3, ue_speed_mps=(0.9, 0.9),
        **{**cfg, "batch_size": max(1, args.batch_size // t_n)})
    h3 = uma.frequency_response(a3.reshape(drops * t_n, *a3.shape[2:]),
                                np.repeat(tau3, t_n, axis=0), freqs, **dev)
    t_mob = time.perf_counter() - t0
    print(f"series T={t_n:<3d} e2e   : {h3.shape[0] / t_mob:8.1f} samples/s ({t_mob:.2f} s, "
          f"{drops} drops x {t_n} snapshots {args.interval * 1e3:g} ms apart); "
          f"ratio to single snapshots {(h3.shape[0] / t_mob) / (args.n / t_e2e):.2f}")
    del h3
    ds = uma.rms_delay_spread(a, tau)
    powered = np.sum(np.abs(a) ** 2, axis=1) > 0
    print(
        f"mean |H|^2 per element: {float(np.mean(np.abs(h) ** 2)):.3f}; "
        f"RMS delay spread median {np.median(ds) * 1e9:.0f} ns "
        f"(10-90%: {np.percentile(ds, 10) * 1e9:.0f}-{np.percentile(ds, 90) * 1e9:.0f} ns); "
        f"max delay of powered paths {tau[powered].max() * 1e9:.0f} ns"
    )
    del h2
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
