"""Data sets larger than memory: streamed COST 2100 generation and CsiNet training from disk.

1. Generates a COST 2100 indoor training split of ``--n`` samples (Nt = 32, Nc = 1024,
   Na = 32: 8 KiB of complex64 angular-delay data per sample) and a validation split of
   ``--n-val`` samples straight to HDF5 files in a temporary cache
   (:func:`linksim.channels.dataset.generate_to_file`); prints samples/s.
2. Opens them lazily, fits the normaliser in one streaming pass (which computes the codec
   inputs and keeps them in a scratch file), and trains CsiNet CR4 for ``--epochs`` epoch(s)
   reading blocks of ``--block`` samples (:class:`linksim.learning.streaming.StreamedCsi`, as
   ``training.stream: true`` does); prints samples/s of the normaliser pass and of training.
3. With ``--compare-n M``: trains the same codec on the first ``M`` samples in memory
   (arrays, as ``training.stream: false``), streamed, and streamed without the prefetch
   thread, ``--rounds`` interleaved rounds, and prints the training samples/s (median and per
   round; the codec inputs computed beforehand in every case).

Peak resident memory (``ru_maxrss``) of this process after each stage is printed against the
data size; the generator's worker processes are reported separately (``RUSAGE_CHILDREN``, the
largest child). The streamed training reads the codec inputs back from the scratch file, block
by block, in a background thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_streaming.py --n 100000 [--n-val 5000]
        [--block 4096] [--batch-size 200] [--epochs 1] [--compare-n 4000] [--rounds 3]
        [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Heavy imports (torch, Keras) stay inside the functions: the COST 2100 generator's worker
# processes are spawned and re-import this module.

NT, NC, NA = 32, 1024, 32
CONFIG = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": NT,
          "num_subcarriers": NC, "bandwidth_hz": 20e6, "num_delay_rows": NA}
SCALE = "max"


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    """Peak resident set size [MB] (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def train_once(x_train, x_val, epochs: int, batch_size: int, seed: int = 0) -> float:
    """Seconds to train a fresh CsiNet CR4 (default engine) on ``x_train``."""
    import keras  # after linksim (main() imports it first: it sets the Keras backend)

    from linksim.codecs import CsiNet
    from linksim.learning.training import TrainSettings, train_codec

    keras.utils.set_random_seed(seed)
    codec = CsiNet(4, NA, NT)
    t0 = time.perf_counter()
    rows = train_codec(codec, x_train, x_val, TrainSettings(epochs=epochs, batch_size=batch_size,
                                                           seed=seed), progress=False)
    dt = time.perf_counter() - t0
    print(f"    loss {rows[-1]['loss']:.3e}, val {rows[-1]['val_loss']:.3e}")
    return dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000, help="training samples generated")
    p.add_argument("--n-val", type=int, default=2000, help="validation samples generated")
    p.add_argument("--block", type=int, default=4096, help="samples per block read from disk")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--compare-n", type=int, default=0,
                   help="also train in memory and streamed on the first M samples")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the comparison")
    p.add_argument("--cache", type=Path, default=None,
                   help="directory for the data set files (default: a temporary one, removed)")
    args = p.parse_args()

    import torch
    from linksim.channels.dataset import generate_to_file, read_dataset

    import linksim  # noqa: F401  (sets the Keras backend)
    from linksim.learning.streaming import StreamedCsi
    from linksim.phy.transforms import unit_power
    from linksim.pipeline import codec_inputs

    cache = args.cache or Path(tempfile.mkdtemp(prefix="linksim-bench-stream-"))
    cache.mkdir(parents=True, exist_ok=True)
    data_mb = args.n * NA * NT * 8 / 1e6
    print(f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}, load average {os.getloadavg()[0]:.2f}")
    print(f"COST 2100 indoor, Nt={NT} Nc={NC} Na={NA}: n={args.n} training samples = "
          f"{data_mb:.0f} MB of complex64 angular-delay data; cache {cache}")
    print(f"peak RSS after imports: {peak_rss_mb():.0f} MB")
    try:
        t0 = time.perf_counter()
        train_file = generate_to_file(CONFIG, "train", args.n, 1, cache / "train.h5")
        dt = time.perf_counter() - t0
        val_file = generate_to_file(CONFIG, "val", args.n_val, 2, cache / "val.h5")
        print(f"generation: {args.n / dt:,.0f} samples/s ({dt:.1f} s), file "
              f"{train_file.stat().st_size / 1e6:.0f} MB; peak RSS {peak_rss_mb():.0f} MB "
              f"(largest worker {peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB)")

        with read_dataset(train_file, lazy=True) as ds, read_dataset(val_file, lazy=True) as dv:
            kw = {"block": args.block, "batch_size": 250, "sample_normalization": "power",
                  "scratch_dir": cache}
            src = StreamedCsi(ds, NA, **kw)
            t0 = time.perf_counter()
            norm = src.fit_normalizer(SCALE)
            dt = time.perf_counter() - t0
            print(f"normaliser pass: {args.n / dt:,.0f} samples/s ({dt:.1f} s), scale "
                  f"{norm.scale:.4g}; peak RSS {peak_rss_mb():.0f} MB")
            train = src.with_normalizer(norm)
            val = StreamedCsi(dv, NA, normalizer=norm, **kw)
            print(f"training CsiNet CR4, {args.epochs} epoch(s), batch {args.batch_size}, "
                  f"blocks of {args.block}, streamed:")
            dt = train_once(train, val, args.epochs, args.batch_size)
            print(f"training: {args.epochs * args.n / dt:,.0f} samples/s ({dt:.1f} s, "
                  f"validation of {args.n_val} included); peak RSS {peak_rss_mb():.0f} MB "
                  f"for {data_mb:.0f} MB of data")

            if args.compare_n:
                m = min(args.compare_n, args.n)
                mv = min(args.n_val, max(1, m // 10))
                print(f"compare on the first {m} samples (validation {mv}), "
                      f"{args.epochs} epoch(s):")
                x = norm.forward(unit_power(codec_inputs(ds, NA, 250, None, None, limit=m))[0])
                xv = norm.forward(unit_power(codec_inputs(dv, NA, 250, None, None, limit=mv))[0])
                st_train = StreamedCsi(ds, NA, normalizer=norm, limit=m, **kw)
                st_val = StreamedCsi(dv, NA, normalizer=norm, limit=mv, **kw)
                st_train.to_array(), st_val.to_array()  # first pass (untimed, as in memory)
                rates: dict[str, list[float]] = {"in memory": [], "streamed": [],
                                                 "streamed, no prefetch": []}
                for _ in range(args.rounds):  # interleaved: the machine's load drifts
                    for name, (xt, xvv, prefetch) in {
                            "in memory": (x, xv, True), "streamed": (st_train, st_val, True),
                            "streamed, no prefetch": (st_train, st_val, False)}.items():
                        st_train.prefetch = st_val.prefetch = prefetch
                        dt = train_once(xt, xvv, args.epochs, args.batch_size)
                        rates[name].append(args.epochs * m / dt)
                for name, r in rates.items():
                    print(f"  {name}: median {statistics.median(r):,.0f} samples/s "
                          f"(rounds: {', '.join(f'{v:,.0f}' for v in r)})")
        print(f"peak RSS at the end: {peak_rss_mb():.0f} MB")
    finally:
        if args.cache is None:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
