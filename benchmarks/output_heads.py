"""Codec input normalisation and decoder output head, candidates side by side on one budget.

Trains one codec (default CsiNet CR4) once per candidate on the same data, seed and recipe, and
prints the test NMSE (truncated angular-delay, true channel, ideal feedback) next to the
candidate's range floor (what its input/output mapping alone costs on the test set) and the
training time. The table of docs/conventions.md ("Codec input and output head") comes from::

    python benchmarks/output_heads.py --environment indoor_5.3GHz --n-train 10000 --epochs 10

Candidates (``head / per-sample scaling / scale rule``):

- ``paper``: sigmoid / none / max (CsiNet's exact set-up);
- ``paper+power``: sigmoid / power / max (the papers' max rule on unit-norm CSI);
- ``sigmoid-4rms``: sigmoid / power / 4 x RMS (linksim's default before the fidelity fix);
- ``sigmoid-peak``: sigmoid / peak / max (per-sample peak fed back: every entry fits, no clip);
- ``linear-none``: linear / none / 1 x RMS (standardised);
- ``linear-power``: linear / power / 1 x RMS (unit-norm, then standardised);
- ``linear-peak``: linear / peak / 1 x RMS.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from linksim.channels.dataset import default_cache_dir

from linksim.codecs.base import get_codec_class
from linksim.learning.training import TrainSettings
from linksim.phy import transforms
from linksim.phy.metrics import to_db
from linksim.pipeline import codec_inputs, load_split
from linksim.scenario import Cost2100Channel
from linksim.seeding import derive_seed

#: label -> (output head, per-sample scaling, normaliser rule)
CANDIDATES = {
    "paper": ("sigmoid", "none", "max"),
    "paper+power": ("sigmoid", "power", "max"),
    "sigmoid-4rms": ("sigmoid", "power", 4.0),
    "sigmoid-peak": ("sigmoid", "peak", "max"),
    "linear-none": ("linear", "none", 1.0),
    "linear-power": ("linear", "power", 1.0),
    "linear-peak": ("linear", "peak", 1.0),
}


def nmse_db(x: np.ndarray, x_hat: np.ndarray) -> float:
    """``10 log10 mean_b ||x - x_hat||^2 / ||x||^2`` over ``[b, Na, Nt, 2]``."""
    err = np.sum((x_hat.astype(np.float64) - x) ** 2, axis=(1, 2, 3))
    return to_db(float(np.mean(err / np.sum(x.astype(np.float64) ** 2, axis=(1, 2, 3)))))


def load(environment: str, n_train: int, n_val: int, n_test: int, seed: int, na: int = 32):
    """Real truncated angular-delay CSI ``[N, Na, Nt, 2]`` of the three splits (cached)."""
    cfg = Cost2100Channel(environment=environment, n_train=n_train, n_val=n_val, n_test=n_test)
    out = {}
    for split in ("train", "val", "test"):
        ds, _, _ = load_split(cfg, split, derive_seed(seed, "dataset", environment, split),
                              default_cache_dir())
        out[split] = codec_inputs(ds, na, 500, None, None)
    return out


def run_candidate(label: str, data: dict, codec_name: str, cr: int, settings: TrainSettings,
                  seed: int) -> dict:
    """Train one candidate; its test NMSE, range floor and training seconds."""
    head, how, rule = CANDIDATES[label]
    unit = {k: transforms.sample_normalize(v, how)[0] for k, v in data.items()}
    keras.utils.set_random_seed(seed)
    cls = get_codec_class(codec_name)
    codec = cls(cr, data["train"].shape[1], data["train"].shape[2], output_head=head)
    codec.sample_normalization = how
    codec.normalizer = transforms.Normalizer.fit(unit["train"], rule, codec.normalizer_mode)
    xn = {k: codec.normalizer.forward(v) for k, v in unit.items()}
    t0 = time.perf_counter()
    history = codec.fit(xn["train"], xn["val"], settings, progress=False)
    seconds = time.perf_counter() - t0
    x = data["test"]
    x_n, gain = codec.ue_prepare(x)
    x_hat = codec.bs_restore(codec.decode(codec.encode(x_n)), gain)
    floor = to_db(float(codec.range_floor_per_sample(x).mean()))
    return {"candidate": label, "head": head, "per_sample": how, "rule": rule,
            "nmse_db": nmse_db(x, x_hat), "range_floor_db": floor,
            "best_val_mse": min(r["val_loss"] for r in history), "train_s": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--environment", default="indoor_5.3GHz")
    ap.add_argument("--codec", default="csinet")
    ap.add_argument("--cr", type=int, default=4)
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    args = ap.parse_args()
    import torch

    data = load(args.environment, args.n_train, max(1, args.n_train // 10), args.n_test,
                args.seed)
    settings = TrainSettings(epochs=args.epochs, batch_size=args.batch_size,
                             learning_rate=args.lr, schedule="cosine", lr_min=5e-5,
                             warmup_epochs=1, seed=args.seed)
    print(f"{args.codec} CR{args.cr} on {args.environment}: {args.n_train} x {args.epochs} "
          f"epochs, batch {args.batch_size}, lr {args.lr:g} cosine; {len(data['test'])} test "
          f"samples; torch threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}")
    print(f"{'candidate':<14}{'head':<9}{'per-sample':<11}{'rule':<6}{'NMSE dB':>9}"
          f"{'floor dB':>10}{'train s':>9}")
    for label in args.candidates:
        r = run_candidate(label, data, args.codec, args.cr, settings, args.seed)
        print(f"{label:<14}{r['head']:<9}{r['per_sample']:<11}{r['rule']!s:<6}"
              f"{r['nmse_db']:>9.2f}{r['range_floor_db']:>10.1f}{r['train_s']:>9.0f}",
              flush=True)


if __name__ == "__main__":
    main()
