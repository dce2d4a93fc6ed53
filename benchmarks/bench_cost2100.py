"""Throughput of the COST 2100 generator (linksim.channels.cost2100.generate_cost2100_ad).

Prints samples/s for each environment at the CsiNet output size (Na x Nt = 32 x 32 truncated
angular-delay, Nc = 1024 subcarriers over 20 MHz), end to end (geometry, per-element paths,
NUFFT delay rows and total energy, angular DFT), with the process count and the machine's load
average before and after each run. Run from the repository root::

    python benchmarks/bench_cost2100.py [--n-indoor 4096] [--n-semiurban 1024] [--workers 2]
                                        [--batch-size 256] [--env NAME ...] [--repeats 1]
                                        [--baseline OLD_COST2100.py]

With ``--workers > 1`` the time includes starting the process pool (spawn, ~0.5 s), so use
enough samples. Each worker runs one BLAS/OpenMP thread. Targets on the 2-core project machine
(idle): indoor >= 1,000 samples/s, semi-urban NLOS >= 300 samples/s. Other processes on the
machine slow it down: compare numbers only at similar load averages, or use ``--baseline``
with a saved copy of an older ``channels/cost2100.py``: both versions then run alternately
(``--repeats`` times each, best time kept) and the speed ratio new / old is printed, which is
much less sensitive to the load than either number. The CPU time per sample (all processes,
pool start-up and imports included) depends least on the load: ``workers / cpu`` approximates
the throughput on an idle machine with that many cores.

``--env indoor_5.3GHz indoor_5.3GHz_reference`` times the calibrated CsiNet indoor family (with
dense multipath, ~1.5x the CPU time per sample) against the published indoor set in one run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from linksim.channels import cost2100


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
    p.add_argument("--repeats", type=int, default=1, help="timed runs per version (best kept)")
    p.add_argument("--baseline", type=Path, default=None,
                   help="a saved older cost2100.py to time alternately with the current one")
    p.add_argument("--env", nargs="*", default=list(cost2100.ENVIRONMENTS),
                   choices=list(cost2100.ENVIRONMENTS))
    return p.parse_args(argv)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _baseline_module(path: Path):
    """Import a saved module file by name (its folder goes on sys.path, which spawned workers
    inherit)."""
    path = path.resolve()
    if not path.is_file():
        raise SystemExit(f"--baseline: no such file {path}")
    sys.path.insert(0, str(path.parent))
    return importlib.import_module(path.stem)


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its finished child processes."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def _time(module, n: int, name: str, kw: dict) -> tuple[float, float, np.ndarray]:
    """Wall time [s], CPU time of all processes [s] (workers included) and energy kept."""
    c0, t0 = _cpu_s(), time.perf_counter()
    _, kept = module.generate_cost2100_ad(n, name, **kw)
    return time.perf_counter() - t0, _cpu_s() - c0, kept


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
    versions = {"current": cost2100}
    if args.baseline is not None:
        versions["baseline"] = _baseline_module(args.baseline)
    for name in args.env:
        n = args.n_indoor if name.startswith("indoor") else args.n_semiurban
        for module in versions.values():
            module.generate_cost2100_ad(cost2100.RNG_BLOCK, name, **{**kw, "workers": 1})  # warm
        best = dict.fromkeys(versions, np.inf)
        cpu = dict.fromkeys(versions, np.inf)
        load_before = _load()
        for _ in range(max(1, args.repeats)):
            for label, module in versions.items():
                dt, dc, kept = _time(module, n, name, kw)
                best[label] = min(best[label], dt)
                cpu[label] = min(cpu[label], dc)
                if label == "current":
                    kept_now = kept
        line = (f"{name:24s} n={n:6d} {n / best['current']:8.0f} samples/s  "
                f"({best['current']:.2f} s, cpu {1e3 * cpu['current'] / n:.2f} ms/sample)")
        if "baseline" in versions:
            line += (f"  baseline {n / best['baseline']:8.0f} samples/s "
                     f"(cpu {1e3 * cpu['baseline'] / n:.2f} ms/sample)  current/baseline: "
                     f"speed {best['baseline'] / best['current']:.2f}, "
                     f"cpu {cpu['baseline'] / cpu['current']:.2f}")
        print(f"{line}  energy kept median {np.median(kept_now):.3f} min {kept_now.min():.3f}  "
              f"load before {load_before} after {_load()}")


if __name__ == "__main__":
    main()
