"""A grid of training units run by the local executor and by Ray, wall time and ratio.

The grid: CsiNet at CR 4, 8, 16 and 32 on one small UMa data set (4 training units, then one
sweep unit). Both executors start from a cache holding the data (generated once, beforehand)
and no models, so the timed part is training and the sweep. The local executor runs the units
one after the other with ``--local-threads`` torch threads; Ray runs them on ``--workers``
single-threaded workers of a local instance (started before the clock, as a cluster would be).

    python benchmarks/bench_grid.py                 # 2 workers, the 2-core project machine
    python benchmarks/bench_grid.py --epochs 4 --n-train 4000

On two cores the gain is bounded by two: both executors use both cores (local: one process,
two threads; Ray: two processes, one thread each), and Ray adds worker start-up and each
worker's reading of the data and models.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import yaml


def scenario(root: Path, n_train: int, epochs: int) -> dict:
    return {
        "name": "grid", "seed": 1, "output_dir": str(root / "runs"),
        "cache_dir": str(root / "cache"),
        "datasets": {"uma": {
            "family": "uma", "carrier_frequency_hz": 28e9, "num_subcarriers": 256,
            "subcarrier_spacing_hz": 120e3, "num_bs_antennas": 32,
            "n_train": n_train, "n_val": max(100, n_train // 10), "n_test": 500}},
        "preprocessing": {"num_delay_rows": 32},
        "estimation": {"pilot_snr_db": [0, 20, 40]},
        "codecs": [{"name": "csinet", "compression_ratios": [4, 8, 16, 32]}],
        "feedback": [{"kind": "ideal"}],
        "training": {"train_sets": ["uma"], "epochs": epochs, "batch_size": 200,
                     "learning_rate": 3e-3},
        "evaluation": {"test_sets": ["uma"], "batch_size": 250},
    }


def timed_run(path: Path, executor, threads: int) -> float:
    import torch

    from linksim.pipeline import Run
    from linksim.scenario import load_scenario

    torch.set_num_threads(threads)
    run = Run(load_scenario(path), path, progress=False, echo=lambda *a: None,
              executor=executor, unit_threads=1)
    t0 = time.perf_counter()
    run.execute()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="Ray workers (one thread each)")
    ap.add_argument("--local-threads", type=int, default=2, help="torch threads, local run")
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()

    from linksim.executor import LocalExecutor, make_executor
    from linksim.pipeline import Run
    from linksim.scenario import load_scenario

    root = Path(tempfile.mkdtemp(prefix="bench_grid-"))
    try:
        data_root = root / "data"
        data_root.mkdir()
        spec = scenario(data_root, args.n_train, args.epochs)
        (data_root / "s.yaml").write_text(yaml.safe_dump(spec))
        warm = Run(load_scenario(data_root / "s.yaml"), progress=False, echo=lambda *a: None)
        warm.load_data()  # the data, once, into data_root/cache
        warm.close()
        times = {}
        ray = make_executor("ray", num_cpus=args.workers)  # started before the clock
        try:
            for name, executor, threads in (("local", LocalExecutor(), args.local_threads),
                                            ("ray", ray, 1)):
                d = root / name
                shutil.copytree(data_root / "cache", d / "cache")
                (d / "s.yaml").write_text(yaml.safe_dump(scenario(d, args.n_train,
                                                                  args.epochs)))
                times[name] = timed_run(d / "s.yaml", executor, threads)
                print(f"{name:>6}: {times[name]:7.1f} s  (4 training units + 1 sweep unit)")
        finally:
            ray.close()
        print(f"local / ray wall time: {times['local'] / times['ray']:.2f}x "
              f"({args.workers} Ray workers x 1 thread against {args.local_threads} local "
              f"threads; {args.n_train} samples x {args.epochs} epochs per model)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
