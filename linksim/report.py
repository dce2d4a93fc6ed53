"""``linksim report RUN_DIR``: one self-contained HTML page per run.

The page holds the configuration (scenario, seed, versions, timings), the results table and one
figure per question, each drawn from the run's files (``results.csv``, ``manifest.json``,
``per_sample.h5``), with PNGs embedded so that the page can be mailed or archived alone:

* NMSE and beamforming gain vs pilot SNR;
* NMSE and beamforming gain vs feedback SNR (runs with a feedback-SNR axis);
* NMSE vs payload bits per CSI report (rate-distortion; codecs at every link, classical
  baselines);
* NMSE vs UE parameters and vs UE multiply-accumulates (seed 001 Fig. 2/3);
* the generalization heat map, train set x test set (runs with several sets);
* CDFs of the per-sample SGCS.

Figures whose data the run lacks are left out, and the page says so.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from linksim import plots
from linksim.errors import LinksimInputError
from linksim.fsutil import write_text_atomic


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _top_snr(df: pd.DataFrame) -> pd.DataFrame:
    """Rows at the highest pilot SNR without a feedback-SNR point."""
    d = df[df["pilot_snr_db"] == df["pilot_snr_db"].max()]
    return d[d["feedback_snr_db"].isna()] if "feedback_snr_db" in d else d


def _figure_file(draw, *args) -> str | None:
    """Run a :mod:`linksim.plots` function that writes a PNG; return it base64-encoded."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fig.png"
        out = draw(*args[:1], path, *args[1:])
        if out is False or not path.is_file():
            return None
        return base64.b64encode(path.read_bytes()).decode()


def fig_complexity(df: pd.DataFrame, manifest: dict) -> str | None:
    """NMSE vs UE parameters and vs UE MACs, ideal link, highest pilot SNR."""
    cx = pd.DataFrame(manifest.get("codecs", []))
    if cx.empty or "ue_macs" not in cx:
        return None
    d = _top_snr(df)
    d = d[(d["kind"] == "codec") & (d["feedback"] == "ideal")]
    if "train_feedback" in d and (d["train_feedback"].fillna("ideal") == "ideal").any():
        d = d[d["train_feedback"].fillna("ideal") == "ideal"]
    d = d.merge(cx[["name", "compression_ratio", "train_set", "ue_params", "ue_macs"]]
                .drop_duplicates(["name", "compression_ratio", "train_set"]),
                left_on=["codec", "compression_ratio", "train_set"],
                right_on=["name", "compression_ratio", "train_set"])
    d = d[d["train_set"] == d["test_set"]] if (d["train_set"] == d["test_set"]).any() else d
    if d.empty:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, col, xlabel in ((axes[0], "ue_params", "UE encoder parameters"),
                            (axes[1], "ue_macs", "UE encoder multiply-accumulates per CSI")):
        for _, r in d.iterrows():
            ax.scatter(r[col], r["nmse_ad_db"], s=30)
            ax.annotate(f"{r['codec']} CR{int(r['compression_ratio'])}", (r[col], r["nmse_ad_db"]),
                        fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("NMSE, truncated angular-delay [dB]")
    fig.suptitle(f"accuracy vs UE cost (ideal link, pilot SNR {d['pilot_snr_db'].iloc[0]:g} dB, "
                 "trained and tested on the same set)", fontsize=10)
    return _png(fig)


def fig_generalization(df: pd.DataFrame) -> str | None:
    """Heat map of NMSE, train set x test set, one panel per codec x CR (ideal link) and per
    classical compressor x payload fitted on several training sets (PCA)."""
    top = _top_snr(df)
    d = top[(top["kind"] == "codec") & (top["feedback"] == "ideal")]
    if "train_feedback" in d:
        d = d[d["train_feedback"].fillna("ideal") == "ideal"]
    if d.empty or (d["train_set"].nunique() < 2 and d["test_set"].nunique() < 2):
        return None
    groups = [(f"{codec} CR{int(cr)}", g)
              for (codec, cr), g in d.groupby(["codec", "compression_ratio"], sort=False)]
    cl = top[top["kind"] == "classical"]
    for (codec, bits), g in cl.groupby(["codec", "payload_bits"], sort=False):
        if g["train_set"].nunique() >= 2:  # fitted per training set: a matrix of its own
            groups.append((f"{codec} {int(bits)} bits", g))
    fig, axes = plt.subplots(1, len(groups), figsize=(5.0 * len(groups), 4.2), squeeze=False,
                             layout="constrained")
    for ax, (title, g) in zip(axes[0], groups, strict=True):
        table = g.pivot_table(index="train_set", columns="test_set", values="nmse_ad_db",
                              aggfunc="first")
        im = ax.imshow(table.to_numpy(), cmap="viridis_r", vmin=min(-1.0, np.nanmin(table)),
                       vmax=max(1.0, np.nanmax(table)))
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
        for (i, j), v in np.ndenumerate(table.to_numpy()):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=9,
                    color="w" if v > np.nanmean(table.to_numpy()) else "k")
        ax.set_xlabel("test set")
        ax.set_ylabel("training set")
        ax.set_title(f"{title}: NMSE [dB]", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return _png(fig)


def fig_sgcs_cdf(df: pd.DataFrame, run_dir: Path, max_lines: int = 12) -> str | None:
    """Empirical CDFs of the per-sample SGCS at the highest pilot SNR (the first ``max_lines``
    methods without a feedback-SNR point)."""
    path = run_dir / "per_sample.h5"
    if not path.is_file():
        return None
    from linksim.pipeline import read_per_sample

    d = _top_snr(df)
    d = d[d["codec"] != "perfect"].head(max_lines)
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for idx, row in d.iterrows():
        per = read_per_sample(path, int(idx))
        if "sgcs" not in per:
            continue
        x = np.sort(per["sgcs"])
        ax.step(x, np.arange(1, x.size + 1) / x.size, where="post",
                ls="--" if row["kind"] == "baseline" else "-", label=plots.method_label(row))
    ax.set_xlabel("SGCS per sample (MRT beam on the reconstruction, normalised gain)")
    ax.set_ylabel("CDF")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(f"SGCS distribution at pilot SNR {d['pilot_snr_db'].iloc[0]:g} dB")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return _png(fig)


def _read_run(run_dir: Path) -> tuple[pd.DataFrame, dict]:
    results, manifest = run_dir / "results.csv", run_dir / "manifest.json"
    for f in (results, manifest):
        if not f.is_file():
            raise LinksimInputError(f"{f}: not found; {run_dir} is not a linksim run directory")
    try:  # UnicodeDecodeError and JSON errors are ValueErrors
        df = pd.read_csv(results)
    except (ValueError, OSError) as exc:
        raise LinksimInputError(f"{results}: cannot read the results table ({exc})") from exc
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise LinksimInputError(f"{manifest}: cannot read the manifest ({exc})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("scenario", {}), dict):
        raise LinksimInputError(f"{manifest}: not a linksim manifest (a JSON object with the "
                                f"run's scenario expected, found {type(meta).__name__})")
    missing = {"codec", "pilot_snr_db", "nmse_ad_db"} - set(df.columns)
    if missing:
        raise LinksimInputError(f"{results}: not a linksim results table (no column "
                                f"{', '.join(sorted(missing))})")
    return df, meta


def build_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the run's report page (default ``RUN_DIR/report.html``, written atomically).

    Raises
    ------
    LinksimInputError
        ``run_dir`` is not a run directory (no ``results.csv`` / ``manifest.json``).
    """
    from linksim.pipeline import summary_table

    run_dir = Path(run_dir)
    df, manifest = _read_run(run_dir)
    out = Path(out) if out is not None else run_dir / "report.html"
    datasets = list(manifest.get("scenario", {}).get("datasets", {}).values())
    nt = int(datasets[0].get("num_bs_antennas", 32)) if datasets else 32
    figures = [
        ("NMSE vs pilot SNR", _figure_file(plots.plot_nmse_vs_snr, df)),
        ("Beamforming gain vs pilot SNR", _figure_file(plots.plot_bfgain_vs_snr, df, nt)),
        ("NMSE and beamforming gain vs feedback SNR",
         _figure_file(plots.plot_vs_feedback_snr, df, nt)),
        ("NMSE vs payload bits (rate-distortion)", _figure_file(plots.plot_nmse_vs_bits, df)),
        ("NMSE vs UE parameters and UE multiply-accumulates", fig_complexity(df, manifest)),
        ("Generalization: training set x test set", fig_generalization(df)),
        ("CDF of the per-sample SGCS", fig_sgcs_cdf(df, run_dir)),
    ]
    sc = manifest.get("scenario", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>linksim report: {html.escape(str(sc.get('name', run_dir.name)))}</title>",
        ("<style>body{font-family:sans-serif;max-width:1150px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #bbb;"
        "padding:2px 6px;text-align:right}pre{background:#f4f4f4;padding:.6em;font-size:12px;"
        "overflow-x:auto}img{max-width:100%}</style></head><body>"),
        f"<h1>linksim run {html.escape(run_dir.name)}</h1>",
        (f"<p>scenario <b>{html.escape(str(sc.get('name')))}</b>, seed {manifest.get('seed')}, "
        f"created {html.escape(str(manifest.get('created_utc')))}</p>"),
        ("<h2>Results</h2><p>NMSE in the truncated angular-delay domain at three pilot SNRs; "
        "the other metrics at the highest pilot SNR. <code>bits</code>: payload formula per "
        "CSI report, <code>sent</code>: bits measured.</p>"),
        summary_table(df).to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-"),
        ("<p><code>floor_dB</code>: the range floor, the NMSE that a codec's input/output "
         "mapping alone costs on the test set (normalise, clamp to what its decoder can output, "
         "map back); a codec's NMSE cannot go below it.</p>"),
    ]
    warnings = manifest.get("warnings") or []
    if warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(
            f"<li>{html.escape(str(w))}</li>" for w in warnings) + "</ul>")
    parts.append("<h2>Figures</h2>")
    missing = []
    for title, png in figures:
        if png is None:
            missing.append(title)
            continue
        parts.append(f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{png}'>")
    if missing:
        parts.append("<p><i>Not in this run (no data for them): "
                     f"{html.escape('; '.join(missing))}.</i></p>")
    parts += [
        "<h2>Configuration</h2><pre>",
        html.escape(json.dumps(sc, indent=2)),
        "</pre><h2>Versions, platform, timings</h2><pre>",
        html.escape(json.dumps({k: manifest.get(k) for k in ("versions", "platform",
                                                             "timings_s", "datasets")},
                               indent=2, default=str)),
        "</pre></body></html>",
    ]
    write_text_atomic(out, "\n".join(parts))
    return out
