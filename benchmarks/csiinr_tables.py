"""CSI-INR tables on our data: NMSE versus inference steps s_in (like seed Table IV) and NMSE
versus bits per CSI (rate-distortion, like seed Figs. 5/6) beside CsiNet at equal payload bits.

One command trains, for every compression ratio, a CSI-INR codec (the options of the scenario's
``csiinr`` entry) and a CsiNet on the same samples with the same budget (epochs, batch, learning
rate of ``--epochs`` / the scenario's training block), then

* NMSE (truncated angular-delay, mean of per-sample NMSE, in dB) of CSI-INR on the test set for
  each ``s_in`` with the float32 codeword;
* for both codecs and every ``B`` in ``--bits``: uniform B-bit quantisation of the codeword
  (range = min/max of the training codewords) with and without entropy coding
  (:class:`linksim.phy.feedback.FeedbackLink`, ANS via ``constriction``, symbol model fitted on the
  training codewords); the fixed-length payload ``B M``, the measured entropy-coded bits per CSI
  (mean length of the actual messages, which decode to exactly the quantised codeword: checked),
  the saving, and the NMSE (the same with and without entropy coding: lossless).

Power normalisation sends the CSI norm as 32 more bits per report for both codecs; the bit
counts below are the codeword's only. Writes ``csiinr_tables.md``, ``sin.csv``, ``rd.csv``,
``rd.png`` and the training logs to ``--out`` (built in a hidden directory, renamed at the end).

    python benchmarks/csiinr_tables.py --out runs/csiinr_tables [--scenario scenarios/csiinr.yaml]
        [--crs 16 64] [--n-train 1000] [--epochs 2] [--bits 3 4 5 6 8 14] [--sin 0 1 2 3 5 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import torch
from linksim.channels.dataset import default_cache_dir

import linksim  # noqa: F401  (sets the Keras backend)
from linksim.codecs import CsiInr, CsiNet
from linksim.learning.training import TrainSettings
from linksim.phy import metrics, transforms
from linksim.phy.feedback import FeedbackLink, Quantizer
from linksim.pipeline import codec_inputs, load_split
from linksim.scenario import load_scenario
from linksim.seeding import derive_seed

ROOT = Path(__file__).resolve().parent.parent
#: Entropy-coding saving reported by the seed (Table III, b = 3..8, n = 4..128).
PAPER_SAVING = "6.0-24.6 %"


#: The normalised zero CSI of the scenario's output head (0.5 sigmoid, 0 linear); set by main.
CENTER = 0.0


def nmse_db(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Mean per-sample NMSE [dB] of normalised CSI ``[b, Na, Nt, 2]`` (the papers' E{.})."""
    h = transforms.real_to_complex(x - CENTER)
    return float(10 * np.log10(np.mean(metrics.nmse_per_sample(
        h, transforms.real_to_complex(x_hat - CENTER)))))


def load_data(sc, n: dict[str, int]) -> dict[str, np.ndarray]:
    """Normalised CSI per split as the pipeline prepares it (per-sample scaling, the scale and
    map of the scenario's output head)."""
    name = sc.training.train_sets[0]
    cfg, pre = sc.datasets[name], sc.preprocessing
    raw = {}
    for split in ("train", "val", "test"):
        ds, _, _ = load_split(cfg, split, derive_seed(sc.seed, "dataset", name, split),
                              Path(sc.cache_dir) if sc.cache_dir else default_cache_dir())
        x = codec_inputs(ds, pre.num_delay_rows, 250, None, None)[:n[split]]
        raw[split] = transforms.sample_normalize(x, pre.sample_normalization)[0]
    mode = "standard" if pre.output_head == "linear" else "unit_interval"
    norm = transforms.Normalizer.fit(raw["train"], pre.scale_rule(), mode)
    return {k: norm.forward(v) for k, v in raw.items()}


def rate_distortion(codec, label: str, xs: dict, bits_list: list[int]) -> list[dict]:
    """Rows of NMSE versus payload for one trained codec (float32 and every ``B``)."""
    z_train, z_test = codec.encode(xs["train"]), codec.encode(xs["test"])
    m = codec.codeword_length
    rows = [{"codec": label, "CR": codec.compression_ratio, "M": m, "B": 32,
             "fixed bits/CSI": 32 * m, "coded bits/CSI": np.nan, "ideal bits/CSI": np.nan,
             "saving %": np.nan, "ideal saving %": np.nan, "NMSE dB": nmse_db(xs["test"], codec.decode(z_test))}]
    for bits in bits_list:
        link = FeedbackLink(Quantizer(bits), entropy_coding=True).fit(z_train)
        q = link.quantizer.quantise(z_test)
        if not np.array_equal(link.entropy.decode(link.entropy.encode(q), m), q):
            raise RuntimeError(f"{label}: entropy decoding did not give back the symbols")
        z_rx, coded = link.transmit(z_test)
        rows.append({"codec": label, "CR": codec.compression_ratio, "M": m, "B": bits,
                     "fixed bits/CSI": bits * m, "coded bits/CSI": float(np.mean(coded)),
                     "ideal bits/CSI": float(np.mean(link.entropy.information_bits(q))),
                     "saving %": 100.0 * (1.0 - np.mean(coded) / (bits * m)),
                     "ideal saving %": 100.0 * (1.0 - np.mean(link.entropy.information_bits(q))
                                                / (bits * m)),
                     "NMSE dB": nmse_db(xs["test"], codec.decode(z_rx))})
    return rows


def plot_rd(rd: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (codec, cr), g in rd[rd.B < 32].groupby(["codec", "CR"], sort=False):
        line = ax.plot(g["coded bits/CSI"], g["NMSE dB"], "o-", label=f"{codec} CR{cr} (EC)")[0]
        ax.plot(g["fixed bits/CSI"], g["NMSE dB"], "--", color=line.get_color(), alpha=0.5,
                label=f"{codec} CR{cr} (fixed length)")
        f32 = rd[(rd.codec == codec) & (rd.CR == cr) & (rd.B == 32)]
        ax.plot(f32["fixed bits/CSI"], f32["NMSE dB"], "s", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("bits per CSI (codeword; squares: float32)")
    ax.set_ylabel("NMSE [dB] (truncated angular-delay)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def to_markdown(df: pd.DataFrame, floats: str = "{:.2f}") -> str:
    def fmt(v):
        if isinstance(v, float):
            return "" if np.isnan(v) else floats.format(v)
        return f"{v:,}" if isinstance(v, (int, np.integer)) else str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |"
              for row in df.astype(object).itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "csiinr.yaml")
    p.add_argument("--crs", type=int, nargs="+", default=[16, 64])
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-val", type=int, default=200)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--bits", type=int, nargs="+", default=[3, 4, 5, 6, 8, 14])
    p.add_argument("--sin", type=int, nargs="+", default=[0, 1, 2, 3, 5, 8])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import keras

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    sc = load_scenario(args.scenario)
    spec = next(c for c in sc.codecs if c.name == "csiinr")
    tr = sc.training
    settings = {"epochs": args.epochs, "batch_size": tr.batch_size,
                "learning_rate": tr.learning_rate, "schedule": tr.schedule, "lr_min": tr.lr_min,
                "warmup_epochs": tr.warmup_epochs}
    global CENTER
    CENTER = 0.5 if sc.preprocessing.output_head == "sigmoid" else 0.0
    xs = load_data(sc, {"train": args.n_train, "val": args.n_val, "test": args.n_test})
    na, nt = xs["train"].shape[1:3]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", suffix=".partial",
                                dir=args.out.parent))
    try:
        sin_rows, rd_rows, info = [], [], {"codecs": []}
        for cr in args.crs:
            for cls, options in ((CsiInr, spec.options), (CsiNet, {})):
                tag = f"{cls.name}_cr{cr}"
                keras.utils.set_random_seed(derive_seed(sc.seed, "init", tag))
                codec = cls(cr, na, nt, output_head=sc.preprocessing.output_head, **options)
                t0 = time.perf_counter()
                codec.fit(xs["train"], xs["val"], TrainSettings(
                    **settings, seed=derive_seed(sc.seed, "train", tag)), progress=False)
                seconds = time.perf_counter() - t0
                pd.DataFrame(codec.history).to_csv(tmp / f"training_{tag}.csv", index=False)
                info["codecs"].append({"codec": cls.name, "CR": cr, "train_seconds": seconds,
                                       "samples_per_s": args.epochs * len(xs["train"]) / seconds,
                                       **codec.parameter_counts()})
                print(f"{tag}: trained in {seconds:.0f} s", flush=True)
                if cls is CsiInr:
                    row = {"CR": cr, "M": codec.codeword_length}
                    for s in args.sin:
                        row[f"s_in={s}"] = nmse_db(xs["test"],
                                                   codec.decode(codec.modulate(xs["test"], s)))
                    sin_rows.append(row)
                    info["codecs"][-1].update(codec.base_network_counts())
                rd_rows += rate_distortion(codec, cls.name, xs, args.bits)
        sin_df, rd_df = pd.DataFrame(sin_rows), pd.DataFrame(rd_rows)
        sin_df.to_csv(tmp / "sin.csv", index=False)
        rd_df.to_csv(tmp / "rd.csv", index=False)
        plot_rd(rd_df, tmp / "rd.png")
        ec = rd_df[rd_df.B < 32]
        saving = ec.groupby("codec")[["saving %", "ideal saving %"]].agg(["min", "max"])
        text = [(f"Data: {sc.training.train_sets[0]} of {args.scenario.name}, "
                 f"{len(xs['train'])} training / {len(xs['val'])} validation / "
                 f"{len(xs['test'])} test samples; {args.epochs} epochs, batch "
                 f"{tr.batch_size}, lr {tr.learning_rate:g} for every codec; CSI-INR options "
                 f"{json.dumps(spec.options)}."), "",
                "NMSE [dB] of CSI-INR versus UE inference steps s_in (float32 codeword):", "",
                to_markdown(sin_df), "",
                ("NMSE [dB] versus bits per CSI (codeword only), uniform quantisation, fixed "
                 "length and entropy coded:"), "", to_markdown(rd_df), "",
                "Entropy-coding saving over the fixed-length B M bits, measured from the coded "
                "bytes (ideal code length -log2 p in brackets): " + "; ".join(
                    f"{c} {r[('saving %', 'min')]:.1f} to {r[('saving %', 'max')]:.1f} % "
                    f"({r[('ideal saving %', 'min')]:.1f} to {r[('ideal saving %', 'max')]:.1f} %)"
                    for c, r in saving.iterrows())
                + f"; paper, CSI-INR: {PAPER_SAVING}.", "",
                "Training: " + "; ".join(f"{c['codec']} CR{c['CR']} {c['train_seconds']:.0f} s "
                                         f"({c['samples_per_s']:.1f} samples/s)"
                                         for c in info["codecs"]) + ".",
                f"Total {time.perf_counter() - t_start:.0f} s, torch threads {args.threads}."]
        (tmp / "csiinr_tables.md").write_text("\n".join(text) + "\n")
        (tmp / "info.json").write_text(json.dumps(info, indent=2, default=float))
        if args.out.exists():
            shutil.rmtree(args.out)
        os.replace(tmp, args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print("\n".join(text))


if __name__ == "__main__":
    main()
