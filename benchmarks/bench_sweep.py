"""Cost of the evaluation sweep: one method's metric set, and a whole sweep.

1. **Metric set of one method** on one batch of COST2100-style indoor channels (Nc 1024, Nt 32,
   Na 32 rows kept, subband 48) and a "reconstruction" (the truncated channel plus noise at
   -10 dB NMSE): the direct definitions (rebuild the space-frequency channel, form MRT beams,
   ``eigh`` of every subband covariance: the sweep of linksim up to 2026-12-03) against
   :func:`linksim.phy.metrics.link_metrics`, in the same run, with the largest relative difference
   of the summarised numbers. The per-batch :class:`linksim.phy.metrics.ChannelReference` (shared
   by all methods and SNR points of a batch) is timed apart.
2. **Whole sweep** (:func:`linksim.sweep.run_sweep`): ``--n`` test channels x ``--snrs`` pilot
   SNR points x 3 methods (LS uncompressed, PCA and top-K at 1,024 bits) plus the perfect and
   no-feedback rows; estimation, compression, metrics and rows included. Prints
   sample-evaluations/s per method (``n x snrs / seconds``), and the same sweep on the first
   ``--reference-n`` channels with the direct definitions in place of
   :func:`linksim.phy.metrics.link_metrics` (same estimates, compressors and rows; the ratio of
   the two rates; with ``--reference-n`` equal to ``--n`` also how far the rows differ).

Both parts print whether issue 16's targets (3,000 samples/s; 1,000 sample-evaluations/s per
method, on two cores) are met.

Run from the repository root on an idle machine::

    python benchmarks/bench_sweep.py [--batch 250] [--threads 2] [--n 1000] [--snrs 10]
                                     [--reference-n 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from linksim.channels.cost2100 import generate_cost2100_ad
from linksim.channels.dataset import AdDataset

from linksim import baselines
from linksim.phy import metrics, precoding, transforms
from linksim.phy.estimation import complex_normal
from linksim.sweep import run_sweep

NC, NA, SUBBAND, DL_SNR = 1024, 32, 48, 10.0


def _best_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def direct_metrics(h, h_ad, h_ad_hat, rng):
    """The metric set from the definitions (the sweep before 2026-12-04; it also computes the
    true eigenvectors, which that sweep did once per batch: timed apart and subtracted)."""
    return metrics.link_metrics_reference(h, h_ad, h_ad_hat, None, rng, SUBBAND, DL_SNR)


def metric_set(batch: int, repeats: int) -> None:
    h_ad_full = generate_cost2100_ad(batch, "indoor_5.3GHz", num_subcarriers=NC,
                                     num_delay_rows=NA, seed=1)[0]
    h = transforms.rebuild_space_frequency(h_ad_full, NC)
    h_ad = transforms.truncated_angular_delay(h, NA)
    rng = np.random.default_rng(2)
    noise = complex_normal(rng, h_ad.shape) * np.sqrt(
        0.1 * np.mean(np.abs(h_ad) ** 2, axis=(1, 2), keepdims=True))
    h_ad_hat = (h_ad + noise).astype(np.complex64)
    ref = metrics.ChannelReference(h, NA, SUBBAND, DL_SNR)

    t_true = _best_s(lambda: precoding.subband_principal_eigenvectors(h, SUBBAND), repeats)
    t_all = _best_s(lambda: direct_metrics(h, h_ad, h_ad_hat, rng), repeats)
    # less the true eigenvectors (once per batch in that sweep); on a loaded machine their
    # timing can exceed the whole set's, then the whole set is kept
    t_old = t_all - t_true if t_true < t_all / 2 else t_all
    t_new = _best_s(lambda: metrics.link_metrics(ref, h_ad_hat=h_ad_hat, rng=rng), repeats)
    t_ref = _best_s(lambda: metrics.ChannelReference(h, NA, SUBBAND, DL_SNR), repeats)
    old = metrics.summarise(direct_metrics(h, h_ad, h_ad_hat, rng))
    new = metrics.summarise(metrics.link_metrics(ref, h_ad_hat=h_ad_hat, rng=rng))
    lin = {k: (10 ** (v / 10) if k.endswith("_db") else v) for k, v in old.items()}
    diff = max(abs((10 ** (new[k] / 10) if k.endswith("_db") else new[k]) - v) / abs(v)
               for k, v in lin.items() if v)
    print(f"metric set of one method, batch {batch}:")
    print(f"  direct definitions (before)   {1e3 * t_old:8.1f} ms = {batch / t_old:7.0f} samples/s")
    print(f"  link_metrics                  {1e3 * t_new:8.1f} ms = {batch / t_new:7.0f} samples/s"
          f"   ({t_old / t_new:.1f}x)")
    print(f"  ChannelReference, per batch   {1e3 * t_ref:8.1f} ms (shared by all methods and "
          "SNR points)")
    print(f"  largest relative difference of the summarised metrics: {diff:.1e}")
    rate = batch / t_new
    print(f"  target >= 3,000 samples/s: {'met' if rate >= 3000 else 'short'} ({rate:.0f})")


def whole_sweep(n: int, num_snrs: int, batch: int, n_reference: int = 0) -> None:
    h_ad, kept = generate_cost2100_ad(n, "indoor_5.3GHz", num_subcarriers=NC,
                                      num_delay_rows=NA, seed=3)[:2]
    ds = AdDataset(h_ad.astype(np.complex64), np.asarray(kept, np.float32), NC)
    train = generate_cost2100_ad(1000, "indoor_5.3GHz", num_subcarriers=NC,
                                 num_delay_rows=NA, seed=4)[0]
    pca = baselines.PCA.for_payload(1024).fit(train)
    pca.train_set = "indoor"
    topk = baselines.TopK.for_payload(1024, (NA, 32), h_train=train[:500])
    topk.train_set = "indoor"
    snrs = list(np.linspace(-5, 40, num_snrs))
    sc = SimpleNamespace(
        seed=1, estimation=SimpleNamespace(pilot_snr_db=snrs, pilot_length=32,
                                           noise_reference="per_sample"),
        preprocessing=SimpleNamespace(num_delay_rows=NA),
        evaluation=SimpleNamespace(test_sets=["indoor"], batch_size=batch,
                                   subband_size=SUBBAND, downlink_snr_db=DL_SNR))
    def direct(ref, *, h_ad_hat=None, h_hat=None, rng=None):
        if h_ad_hat is None:
            h_ad_hat = transforms.truncated_angular_delay(h_hat, NA)
        return metrics.link_metrics_reference(ref.h, ref.h_ad, h_ad_hat, h_hat, rng, SUBBAND,
                                              DL_SNR)

    runs = {}
    for name, size, fn in (("link_metrics", n, metrics.link_metrics),
                           ("direct definitions (before)", n_reference, direct)):
        if size <= 0:
            continue
        ds_n = AdDataset(ds.h_ad[:size], ds.energy_kept[:size], NC) if size < n else ds
        with mock.patch.object(metrics, "link_metrics", fn):
            t0 = time.perf_counter()
            res = run_sweep(sc, {("indoor", "test"): ds_n}, [], [pca, topk])
            runs[name] = (size, time.perf_counter() - t0, res.rows)
    print(f"whole sweep: channels x {num_snrs} SNR points x 3 methods (LS, PCA, top-K) "
          f"+ perfect, no feedback, {len(res.rows)} rows:")
    for name, (size, t, _) in runs.items():
        print(f"  {name:28s} {size:5d} channels {t:6.1f} s = {size * num_snrs / t:5.0f} "
              f"sample-evaluations/s per method ({3 * size * num_snrs / t:.0f} for the three)")
    rate = n * num_snrs / runs["link_metrics"][1]
    line = f"  target >= 1,000 per method: {'met' if rate >= 1000 else 'short'} ({rate:.0f})"
    if len(runs) == 2:
        (_, t_new, new), (size, t_old, old) = runs.values()
        line += f"; {(n / t_new) / (size / t_old):.1f}x the direct definitions"
        if size == n:
            line += f", rows equal to {_row_difference(new, old):.1e} (relative)"
    print(line)


def _row_difference(new, old) -> float:
    """Largest relative difference of the metric columns of two results tables (dB columns in
    linear terms)."""
    cols = ["nmse_ad_db", "nmse_sf_db", "rho", "bf_gain_db", "bf_gain_loss_db", "sgcs",
            "sgcs_subband", "bf_gain_eigen_db", "se_bps_hz"]
    a, b = new[cols].to_numpy(), old[cols].to_numpy()
    db = np.array([c.endswith("_db") for c in cols])
    a, b = np.where(db, 10 ** (a / 10), a), np.where(db, 10 ** (b / 10), b)
    ok = np.isfinite(b) & (b != 0)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok])))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=250, help="channels per sweep batch")
    p.add_argument("--threads", type=int, default=2, help="torch threads and FFT workers")
    p.add_argument("--repeats", type=int, default=3, help="timed runs (best kept)")
    p.add_argument("--n", type=int, default=1000, help="test channels of the whole sweep")
    p.add_argument("--snrs", type=int, default=10, help="pilot SNR points of the whole sweep")
    p.add_argument("--reference-n", type=int, default=100,
                   help="test channels of the whole sweep with the direct definitions (0: none)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    transforms.FFT_WORKERS = args.threads
    print(f"Nc {NC}, Nt 32, Na {NA}, subband {SUBBAND}, threads {args.threads}, "
          f"load average {os.getloadavg()[0]:.2f} (before)")
    metric_set(args.batch, args.repeats)
    whole_sweep(args.n, args.snrs, args.batch, args.reference_n)
    print(f"load average {os.getloadavg()[0]:.2f} (after)")


if __name__ == "__main__":
    main()
