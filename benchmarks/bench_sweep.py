"""Cost of the evaluation sweep's per-method metrics (``Run._link_terms``), stage by stage.

One batch of COST2100-style indoor channels (Nc = 1024, Nt = 32, Na = 32 rows kept) and a
"reconstruction" (the truncated channel plus noise at -10 dB NMSE) stand for one method on one
batch of the sweep. Prints milliseconds per batch of each stage, the samples/s of the whole
metric set, and the subband principal eigenvectors by ``numpy.linalg.eigh`` against
``torch.linalg.eigh`` (what linksim uses), with their ratio and agreement (SGCS between the two
results; 1 up to phase). Run from the repository root::

    python benchmarks/bench_sweep.py [--batch 250] [--subband 48] [--threads 1] [--repeats 3]
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

from channels.cost2100 import generate_cost2100_ad
from linksim import metrics, precoding, transforms
from linksim.estimation import complex_normal


def _best_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=250, help="channels per sweep batch")
    p.add_argument("--subband", type=int, default=48, help="subcarriers per subband")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per stage (best kept)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    na, nc = 32, 1024
    h_ad = generate_cost2100_ad(args.batch, "indoor_5.3GHz", num_subcarriers=nc,
                                num_delay_rows=na, seed=1)[0]
    rng = np.random.default_rng(2)
    noise = complex_normal(rng, h_ad.shape) * np.sqrt(
        0.1 * np.mean(np.abs(h_ad) ** 2, axis=(1, 2), keepdims=True))
    h = transforms.rebuild_space_frequency(h_ad, nc)
    h_ad_hat = (h_ad + noise).astype(np.complex64)
    print(f"batch {args.batch}, Nc {nc}, Nt {h.shape[-1]}, subband {args.subband}, torch threads "
          f"{args.threads}, load average {os.getloadavg()[0]:.2f} (before)")

    def eig_numpy(x):
        blocks = precoding.subband_blocks(x, args.subband)
        cov = np.matmul(blocks.transpose(0, 1, 3, 2), blocks.conj())
        return np.linalg.eigh(cov)[1][..., -1]

    stages = {
        "rebuild space-frequency": lambda: transforms.rebuild_space_frequency(h_ad_hat, nc),
        "NMSE (AD + SF) and rho": lambda: (metrics.nmse_per_sample(h_ad, h_ad_hat),
                                           metrics.nmse_per_sample(h, h),
                                           metrics.cosine_similarity(h, h)),
        "MRT + beamforming terms": lambda: metrics.beamforming_terms(
            h, precoding.mrt(h, rng), 10.0),
        "subband eigenvectors (torch, linksim)": lambda: precoding.subband_principal_eigenvectors(
            h, args.subband),
        "subband eigenvectors (numpy eigh)": lambda: eig_numpy(h),
    }
    ms = {name: _best_ms(fn, args.repeats) for name, fn in stages.items()}
    for name, t in ms.items():
        print(f"  {name:40s} {t:8.1f} ms")
    # one eigendecomposition per method: SGCS and eigen-BF share it (the true channel's is
    # computed once per batch for all methods)
    per_method = sum(t for name, t in ms.items() if "numpy" not in name)
    print(f"metrics of one method: {per_method:.0f} ms per batch = "
          f"{1e3 * args.batch / per_method:.0f} samples/s")
    ratio = ms["subband eigenvectors (numpy eigh)"] / ms["subband eigenvectors (torch, linksim)"]
    v_t = precoding.subband_principal_eigenvectors(h, args.subband)[0]
    v_n = eig_numpy(h)
    agree = np.abs(np.sum(v_t.conj() * v_n, axis=-1)) ** 2
    print(f"eigenvectors torch vs numpy: {ratio:.2f}x faster; |v_t^H v_n|^2 min {agree.min():.6f}")
    print(f"load average {os.getloadavg()[0]:.2f} (after)")


if __name__ == "__main__":
    main()
