"""The common-budget codec comparison table (docs/codecs.md) from a finished run directory.

    linksim run scenarios/codec_zoo.yaml
    python benchmarks/bench_codecs.py --csv bench.csv        # optional: latency column
    python benchmarks/codec_table.py runs/codec_zoo-<stamp> [--bench bench.csv]

Prints a markdown table, one row per codec x CR (and per classical compressor x payload) at the
highest pilot SNR of the run, ideal feedback: payload bits, NMSE (angular-delay), the codec's
range floor (what its input/output mapping alone costs), rho, beamforming gain, UE/BS parameters, UE memory in float32
equivalents (binary weights at 1/32), UE/BS multiply-accumulates, training samples/s measured in
the run (from the per-epoch log, validation included) and, with ``--bench``, the UE encoder
latency for one CSI on one thread. The ``no_feedback`` row (NMSE 0 dB) is the reference every
codec must beat; it is also what a model that outputs the training mean reaches on this data
(the mean of unit-power channels with random phases is ~0).
"""

from __future__ import annotations

import argparse
import json
import numbers
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd

import linksim  # noqa: F401  (sets the Keras backend)
from linksim.codecs import Codec
from linksim.complexity import complexity


def training_rate(run_dir: Path, tag: str, n_train: int) -> float:
    """Samples/s over all epochs of the run's training log ``training_<tag>.csv``."""
    log = pd.read_csv(run_dir / f"training_{tag}.csv")
    return len(log) * n_train / log["seconds"].sum()


def build_table(run_dir: Path, bench: pd.DataFrame | None = None) -> pd.DataFrame:
    res = pd.read_csv(run_dir / "results.csv")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    snr = res["pilot_snr_db"].max()
    res = res[(res.pilot_snr_db == snr) & (res.feedback.isin(["ideal", "none"])
                                           | res.kind.ne("codec"))]
    rows = []
    for _, r in res.iterrows():
        row = {"codec": r.codec,
               "CR": r.compression_ratio, "bits": r.payload_bits, "NMSE_ad dB": r.nmse_ad_db,
               "range floor dB": r.get("range_floor_db", float("nan")), "rho": r.rho,
               "BF gain dB": r.bf_gain_db}
        if r.kind == "codec":
            tag = f"{r.codec}_cr{int(r.compression_ratio)}_{r.train_set}"
            codec = Codec.load(run_dir / "models" / tag)
            c = complexity(codec)
            ue_bits = codec.ue_memory_bits() if hasattr(codec, "ue_memory_bits") \
                else c["ue_memory_bits"]
            n_train = manifest["datasets"][f"{r.train_set}/train"]["n"]
            row.update({"UE params": c["ue_params"], "UE mem (float32 eq.)": round(ue_bits / 32),
                        "UE MACs": c["ue_macs"], "BS params": c["bs_params"],
                        "BS MACs": c["bs_macs"],
                        "train samples/s": round(training_rate(run_dir, tag, n_train))})
            if bench is not None:
                b = bench[(bench.codec == r.codec) & (bench.cr == r.compression_ratio)]
                if len(b):
                    lat = b.iloc[0].get("ue_latency_exported_ms")
                    row["UE latency ms"] = lat if pd.notna(lat) else b.iloc[0].ue_latency_ms
        rows.append(row)
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """Markdown pipe table; floats with 2 decimals, whole numbers with thousands separators."""
    def fmt(v):
        if isinstance(v, float):
            if pd.isna(v) or v == float("-inf"):
                return "" if pd.isna(v) else "-inf"
            return f"{int(v):,}" if v.is_integer() and abs(v) >= 2 else f"{v:.2f}"
        return f"{v:,}" if isinstance(v, numbers.Integral) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |"
              for row in df.astype(object).itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--bench", type=Path, default=None, help="CSV of bench_codecs.py --csv")
    args = p.parse_args()
    bench = pd.read_csv(args.bench) if args.bench else None
    table = build_table(args.run_dir, bench)
    print(to_markdown(table))


if __name__ == "__main__":
    main()
