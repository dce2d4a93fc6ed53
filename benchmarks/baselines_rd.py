"""Rate-distortion of the classical baselines (linksim/baselines/) on one scenario data set.

    python benchmarks/baselines_rd.py                       # COST2100 indoor of codec_zoo.yaml
    python benchmarks/baselines_rd.py --csv rd.csv --budgets 256 1024 4096

For each payload budget in bits: top-K (polar values; value bits and amplitude step tuned on
``--n-tune`` training samples), PCA/KLT (fitted on the whole training split, bits allocated by
reverse water-filling) and the DFT beam codebook (3GPP Type II-like quantisation: 3-bit wideband
amplitude, 1-bit subband amplitude, 3-bit subband phase) at two subband sizes. Evaluated on the
test split, perfect CSI at the UE (no pilot noise): NMSE in the truncated angular-delay domain
and over all subcarriers, subband SGCS (dominant eigenvector), and the beamforming gain of
per-subcarrier MRT and of per-subband eigen-beamforming on the reconstruction
(``10 log10(Nt)`` = 15.05 dB for Nt = 32 with perfect CSI and MRT). Prints a markdown table;
``--csv`` writes the tidy rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
from linksim.channels.dataset import AdDataset, default_cache_dir

import linksim  # noqa: F401  (sets the Keras backend)
from linksim import baselines
from linksim.errors import LinksimInputError
from linksim.phy import metrics, precoding, transforms
from linksim.pipeline import load_split
from linksim.scenario import load_scenario
from linksim.seeding import derive_seed

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = [128, 256, 512, 1024, 2048, 4096, 8192, 16384]


def load(scenario: Path, name: str, split: str, n: int | None) -> tuple[np.ndarray, int, int]:
    """``(h_ad [N, Na, Nt], Nc, Na)`` of one split (first ``n`` samples)."""
    sc = load_scenario(scenario)
    cfg = sc.datasets[name]
    seed = derive_seed(sc.seed, "dataset", name, split)
    cache = Path(sc.cache_dir) if sc.cache_dir else default_cache_dir()
    ds, _, _ = load_split(cfg, split, seed, cache)
    na = sc.preprocessing.num_delay_rows
    if isinstance(ds, AdDataset) and ds.num_delay_rows == na:
        h_ad = ds.h_ad[:n]
        nc = ds.num_subcarriers
    else:
        h_sf = ds.channels(0, n)
        h_ad, nc = transforms.truncated_angular_delay(h_sf, na), h_sf.shape[1]
    return np.ascontiguousarray(h_ad), nc, na


def evaluate(codec: baselines.Baseline, h_ad: np.ndarray, nc: int, sgcs_subband: int,
             batch: int) -> dict:
    """Metrics of one baseline on the test CSI (perfect CSI at the UE)."""
    terms: dict[str, list] = {k: [] for k in ("nmse_ad", "nmse_sf", "sgcs_sb", "bits",
                                              "g_mrt", "g_eig", "p_elem")}
    for start in range(0, len(h_ad), batch):
        x_ad = h_ad[start:start + batch]
        h = transforms.rebuild_space_frequency(x_ad, nc)
        if codec.domain == "angular_delay":
            x_hat, bits = codec.compress(x_ad)
            h_hat = transforms.rebuild_space_frequency(x_hat, nc)
        else:
            h_hat, bits = codec.compress(h)
            x_hat = transforms.truncated_angular_delay(h_hat, x_ad.shape[1])
        rng = np.random.default_rng(start)  # random beams only where h_hat is empty
        terms["nmse_ad"].append(metrics.nmse_per_sample(x_ad, x_hat))
        terms["nmse_sf"].append(metrics.nmse_per_sample(h, h_hat))
        terms["sgcs_sb"].append(metrics.sgcs_subband(h, h_hat, sgcs_subband).mean(axis=1))
        terms["bits"].append(bits)
        terms["g_mrt"].append(precoding.beam_power(h, precoding.mrt(h_hat, rng)).sum(axis=1))
        w_eig = precoding.eigen_beamforming_subband(h_hat, sgcs_subband, rng)
        terms["g_eig"].append(precoding.beam_power(h, w_eig).sum(axis=1))
        terms["p_elem"].append(np.sum(transforms.abs2(h), axis=(1, 2), dtype=np.float64)
                               / h.shape[2])
    t = {k: np.concatenate(v) for k, v in terms.items()}
    return {"bits_used_mean": float(t["bits"].mean()), "bits_used_max": int(t["bits"].max()),
            "nmse_ad_db": metrics.to_db(t["nmse_ad"].mean()),
            "nmse_sf_db": metrics.to_db(t["nmse_sf"].mean()),
            "sgcs_subband": float(t["sgcs_sb"].mean()),
            "bf_gain_mrt_db": metrics.to_db(t["g_mrt"].sum() / t["p_elem"].sum()),
            "bf_gain_eig_db": metrics.to_db(t["g_eig"].sum() / t["p_elem"].sum())}


def to_markdown(df: pd.DataFrame, index: bool = False) -> str:
    """Markdown pipe table, floats with 2 decimals (empty where missing)."""
    if index:
        df = df.reset_index()

    def fmt(v) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |"
              for row in df.astype(object).itertuples(index=False)]
    return "\n".join(lines)


def settings(codec: baselines.Baseline) -> str:
    d = codec.describe()
    if isinstance(codec, baselines.TopK):
        return f"K={d['k']}, A/P={d['value_bits'][0]}/{d['value_bits'][1]} b, " \
               f"{d['amp_step_db']} dB"
    if isinstance(codec, baselines.PCA):
        b = np.asarray(d["coeff_bits"])
        return f"{b.size} comp., {b.max()}..{b.min()} b"
    return f"L={d['num_beams']}, sb={d['subband_size']}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios/codec_zoo.yaml")
    ap.add_argument("--dataset", default="indoor")
    ap.add_argument("--budgets", type=int, nargs="+", default=BUDGETS)
    ap.add_argument("--n-test", type=int, default=None, help="test samples (default: all)")
    ap.add_argument("--n-tune", type=int, default=500, help="training samples to tune top-K")
    ap.add_argument("--sgcs-subband", type=int, default=32,
                    help="subband size [subcarriers] of SGCS and eigen-beamforming")
    ap.add_argument("--dft-subbands", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--baselines", nargs="+", default=None,
                    help="only these (name prefixes: topk, pca, dft)")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--csv", type=Path, default=None)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    h_train, nc, na = load(args.scenario, args.dataset, "train", None)
    h_test, _, _ = load(args.scenario, args.dataset, "test", args.n_test)
    nt = h_train.shape[2]
    klt = baselines.PCA.klt(h_train)
    print(f"data {args.dataset}: train {len(h_train)}, test {len(h_test)}, Na={na}, Nt={nt}, "
          f"Nc={nc}; KLT {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    left = 1.0 - np.cumsum(klt[0]) / klt[0].sum()
    print("KLT energy outside the first n components: " + ", ".join(
        f"n={n}: {metrics.to_db(max(left[n - 1], 0.0)):.1f} dB"
        for n in (16, 64, 256, 512) if n <= left.size), file=sys.stderr)

    rows, done = [], {}
    for budget in args.budgets:
        makers = {
            "topk": lambda b=budget: baselines.TopK.for_payload(
                b, (na, nt), h_train=h_train[:args.n_tune]),
            "pca": lambda b=budget: baselines.PCA.for_payload(b).fit(h_train, klt=klt),
        }
        for sb in args.dft_subbands:
            makers[f"dft_sb{sb}"] = lambda b=budget, sb=sb: baselines.DFTCodebook.for_payload(
                b, nt, nc, sb)
        for name, make in makers.items():
            if args.baselines and not any(name.startswith(b) for b in args.baselines):
                continue
            t1 = time.perf_counter()
            try:
                codec = make()
            except LinksimInputError:
                continue  # budget below the scheme's smallest report
            row = {"baseline": name, "budget_bits": budget, "payload_bits": codec.payload_bits,
                   "settings": settings(codec)}
            key = (name, str(codec.describe()))
            if key not in done:  # a saturated scheme (e.g. all beams) repeats its report
                done[key] = evaluate(codec, h_test, nc, args.sgcs_subband, args.batch)
            row.update(done[key])
            row["seconds"] = round(time.perf_counter() - t1, 1)
            rows.append(row)
            print(f"{name:10s} {budget:6d} bits: NMSE_ad {row['nmse_ad_db']:7.2f} dB "
                  f"({row['seconds']} s)", file=sys.stderr)
    df = pd.DataFrame(rows)
    if args.csv:
        tmp = args.csv.with_suffix(args.csv.suffix + ".tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(args.csv)

    pivot = df.pivot(index="budget_bits", columns="baseline", values="nmse_ad_db")
    pivot = pivot[[c for c in ["topk", "pca", *[f"dft_sb{s}" for s in args.dft_subbands]]
                   if c in pivot.columns]]
    print(f"\nNMSE_ad [dB] vs payload budget [bits] ({args.dataset}, {len(h_test)} test "
          "samples)\n")
    print(to_markdown(pivot, index=True))
    cols = ["baseline", "budget_bits", "bits_used_mean", "settings", "nmse_ad_db", "nmse_sf_db",
            "sgcs_subband", "bf_gain_mrt_db", "bf_gain_eig_db"]
    print(f"\nAll metrics (SGCS and eigen-BF on {args.sgcs_subband}-subcarrier subbands)\n")
    print(to_markdown(df[cols].sort_values(["baseline", "budget_bits"])))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
