"""Throughput of the COST 2100 generator (channels.cost2100.generate_cost2100_ad).

Prints samples/s for each environment at the CsiNet output size (Na x Nt = 32 x 32 truncated
angular-delay, Nc = 1024 subcarriers over 20 MHz), end to end (geometry, per-element paths,
closed-form delay rows, angular DFT and the energy kept), with the process count and the
machine's load average before and after each run. Run from the repository root::

    python benchmarks/bench_cost2100.py [--n-indoor 4096] [--n-semiurban 1024] [--workers 2]
                                        [--batch-size 256] [--env NAME ...]

With ``--workers > 1`` the time includes starting the process pool (spawn, ~0.5 s), so use
enough samples. Each worker runs one BLAS/OpenMP thread. Targets on the 2-core project machine
(idle): indoor >= 1,000 samples/s, semi-urban NLOS >= 300 samples/s. Other processes on the
machine slow it down: compare numbers only at similar load averages.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from channels import cost2100


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-indoor", type=int, default=4096, help="samples, indoor")
    p.add_argument("--n-semiurban", type=int, default=1024, help="samples, semi-urban")
    p.add_argument("--workers", type=int, default=2, help="processes")
    p.add_argument("--batch-size", type=int, default=256, help="samples per task")
    p.add_argument("--nt", type=int, default=32)
    p.add_argument("--nc", type=int, default=1024)
    p.add_argument("--na", type=int, default=32)
    p.add_argument("--bandwidth", type=float, default=20e6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env", nargs="*", default=list(cost2100.ENVIRONMENTS),
                   choices=list(cost2100.ENVIRONMENTS))
    return p.parse_args(argv)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    print(f"Nt={args.nt} Nc={args.nc} Na={args.na} B={args.bandwidth / 1e6:g} MHz "
          f"workers={args.workers} (pool workers: 1 BLAS/OpenMP thread each) "
          f"batch_size={args.batch_size} "
          f"cpus={os.cpu_count()} numpy={np.__version__} "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    kw = {"num_bs_antennas": args.nt, "num_subcarriers": args.nc,
          "bandwidth_hz": args.bandwidth, "num_delay_rows": args.na, "seed": args.seed,
          "workers": args.workers, "batch_size": args.batch_size}
    for name in args.env:
        n = args.n_indoor if name.startswith("indoor") else args.n_semiurban
        cost2100.generate_cost2100_ad(cost2100.RNG_BLOCK, name, **{**kw, "workers": 1})  # warm
        load_before = _load()
        t0 = time.perf_counter()
        _, kept = cost2100.generate_cost2100_ad(n, name, **kw)
        dt = time.perf_counter() - t0
        print(f"{name:24s} n={n:6d} {n / dt:8.0f} samples/s  ({dt:.2f} s)  "
              f"energy kept median {np.median(kept):.3f} min {kept.min():.3f}  "
              f"load before {load_before} after {_load()}")


if __name__ == "__main__":
    main()
