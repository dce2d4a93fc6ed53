"""Is the TR 38.843 study's AI result bound by its training budget? Train the eigenvector codecs
of ``scenarios/tr38843.yaml`` (Case 1 on UMa, joint training, the small payload bin) for several
epoch counts on the scenario's own cached splits and print test SGCS per layer, the rate gain
over eType II of the bin, and the final training loss (``1 - training SGCS``).

    python benchmarks/tr38843_budget.py 8 32 128      # epoch counts; ~11 min on 2 cores

A training SGCS far above the test SGCS says the 1,200 training drops, not the steps, bound the
result (docs/tr38843.md, "Results").
"""

from __future__ import annotations

import argparse
import time

import torch
from linksim.channels.dataset import default_cache_dir

from linksim.data import load_split
from linksim.scenario import load_scenario
from linksim.seeding import derive_seed
from linksim.tr38843 import run_study


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("epochs", type=int, nargs="+", help="epoch counts to train for")
    ap.add_argument("--scenario", default="scenarios/tr38843.yaml")
    ap.add_argument("--set", default="uma", help="data set of the scenario (Case 1 on it)")
    ap.add_argument("--bin", default="small", help="payload bin of the scenario")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sc = load_scenario(args.scenario)
    cache = sc.cache_dir or default_cache_dir()
    channels = tuple(load_split(sc.datasets[args.set], split,
                                derive_seed(sc.seed, "dataset", args.set, split), cache)[0]
                     .channels() for split in ("train", "test"))
    cfg = sc.tr38843
    first = cfg.generalization[0] if isinstance(cfg.generalization, list) else cfg.generalization
    case1 = first.model_copy(update={"case": 1, "train": [args.set], "test": None,
                                     "training_types": ["joint"]})
    for epochs in args.epochs:
        c = cfg.model_copy(update={"generalization": case1, "epochs": epochs,
                                   "payload_bins": {args.bin: cfg.payload_bins[args.bin]}})
        t0 = time.perf_counter()
        df = run_study({args.set: channels}, c, seed=sc.seed)
        for _, r in df[df["kind"] == "ai"].iterrows():
            print(f"epochs {epochs:4d}  {r.codec:16s} test SGCS layer 1 {r.sgcs_l1:.3f} layer 2 "
                  f"{r.sgcs_l2:.3f}  gain over eType II {r.gain_pct:6.1f} %  training loss "
                  f"{r.train_loss:.3f}", flush=True)
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
