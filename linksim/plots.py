"""Figures of a run: NMSE and beamforming gain versus pilot SNR and versus feedback SNR,
training curves."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from linksim.fsutil import atomic_path


def method_label(row: pd.Series) -> str:
    """Legend label of a results row: codec, CR, feedback, train -> test."""
    if row["kind"] == "baseline":
        label = row["codec"]
    elif row["kind"] == "classical":
        label = f"{row['codec']} {int(row['payload_bits'])}b"
        if row["train_set"] not in ("-", None) and isinstance(row["train_set"], str):
            label += f" [{row['train_set']}]"
    else:
        label = f"{row['codec']} CR{int(row['compression_ratio'])} {row['feedback']}"
        tf = row.get("train_feedback")
        if isinstance(tf, str) and tf != "ideal":
            label += f" (trained {tf})"
        label += f" [{row['train_set']}]"
    return f"{label} on {row['test_set']}"


def _save(fig, path: Path) -> None:
    """Write a figure as PNG through :func:`linksim.fsutil.atomic_path` and close it."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)


def _pilot_axis(df: pd.DataFrame) -> pd.DataFrame:
    """Rows without a feedback SNR (those go to :func:`plot_vs_feedback_snr`)."""
    if "feedback_snr_db" not in df:
        return df
    return df[df["feedback_snr_db"].isna()]


def _lines(ax, df: pd.DataFrame, metric: str) -> None:
    df = _pilot_axis(df)
    labels = df.apply(method_label, axis=1)
    for label, grp in df.groupby(labels, sort=False):
        grp = grp.sort_values("pilot_snr_db")
        y = grp[metric].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            continue
        style = "--" if grp["kind"].iloc[0] == "baseline" else "-"
        ax.plot(grp["pilot_snr_db"], y, style, marker="o", ms=3, label=label)


def plot_nmse_vs_snr(df: pd.DataFrame, path: Path) -> None:
    """Two panels: NMSE in truncated angular-delay and in space-frequency vs pilot SNR."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, metric, title in ((axes[0], "nmse_ad_db", "truncated angular-delay (papers' NMSE)"),
                              (axes[1], "nmse_sf_db", "space-frequency, all subcarriers")):
        _lines(ax, df, metric)
        ax.set_title(title)
        ax.set_xlabel("pilot SNR [dB]")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("NMSE [dB]")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    _save(fig, path)


def plot_bfgain_vs_snr(df: pd.DataFrame, path: Path, num_antennas: int) -> None:
    """MRT beamforming gain vs pilot SNR, with the perfect-CSI bound 10 log10(Nt)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _lines(ax, df, "bf_gain_db")
    ax.axhline(10 * np.log10(num_antennas), color="k", lw=0.8, ls=":",
               label=f"10 log10(Nt) = {10 * np.log10(num_antennas):.2f} dB")
    ax.set_xlabel("pilot SNR [dB]")
    ax.set_ylabel("beamforming gain [dB]")
    ax.set_title("MRT beamforming gain over a single-antenna link")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    _save(fig, path)


def plot_vs_feedback_snr(df: pd.DataFrame, path: Path, num_antennas: int,
                         max_pilot_points: int = 3) -> bool:
    """NMSE and beamforming gain vs feedback SNR, one line per link and pilot SNR.

    Uses the rows with a feedback SNR (AWGN links, bit errors set by an SNR); pilot SNRs are
    thinned to ``max_pilot_points`` (lowest, middle, highest). Returns False (and writes
    nothing) when the run has no feedback-SNR axis.
    """
    if "feedback_snr_db" not in df or df["feedback_snr_db"].isna().all():
        return False
    d = df[df["feedback_snr_db"].notna()]
    snrs = sorted(d["pilot_snr_db"].unique())
    if len(snrs) > max_pilot_points:
        idx = np.linspace(0, len(snrs) - 1, max_pilot_points).round().astype(int)
        snrs = [snrs[i] for i in idx]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for snr_i, snr in enumerate(snrs):
        sub = d[d["pilot_snr_db"] == snr]
        for label, grp in sub.groupby(sub.apply(method_label, axis=1), sort=False):
            grp = grp.sort_values("feedback_snr_db")
            style = ["-", "--", ":"][snr_i % 3]
            tag = f"{label}, pilot {snr:g} dB"
            axes[0].plot(grp["feedback_snr_db"], grp["nmse_ad_db"], style, marker="o", ms=3,
                         label=tag)
            axes[1].plot(grp["feedback_snr_db"], grp["bf_gain_db"], style, marker="o", ms=3)
    axes[1].axhline(10 * np.log10(num_antennas), color="k", lw=0.8, ls=":")
    for ax, ylabel in ((axes[0], "NMSE, truncated angular-delay [dB]"),
                       (axes[1], "MRT beamforming gain [dB]")):
        ax.set_xlabel("feedback SNR [dB]")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_title("reconstruction vs feedback SNR")
    axes[1].set_title(f"beamforming gain (dotted: 10 log10(Nt) = {10 * np.log10(num_antennas):.1f})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    _save(fig, path)
    return True


def _link_family(name: str) -> str:
    """``uniform4b+ec`` -> ``uniform+ec``: the link without its resolution."""
    return re.sub(r"\d+b", "", name)


def rate_distortion_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Codec rows for NMSE vs payload: highest pilot SNR, no feedback-SNR axis, and per link the
    model trained for that link when there is one (else the model trained on the ideal link)."""
    d = df[(df["kind"] == "codec") & (df["pilot_snr_db"] == df["pilot_snr_db"].max())]
    if "feedback_snr_db" in d:
        d = d[d["feedback_snr_db"].isna()]
    if d.empty:
        return d
    d = d.copy()
    tf = d["train_feedback"].fillna("ideal") if "train_feedback" in d else "ideal"
    fb = d["feedback"].str.replace("+ec", "", regex=False)
    d["_rank"] = np.where(tf == fb, 0, np.where(tf == "ideal", 1, 2))
    keys = ["codec", "compression_ratio", "train_set", "test_set", "feedback"]
    d = d.sort_values("_rank").groupby(keys, sort=False).head(1)
    return d[d["_rank"] < 2].drop(columns="_rank")


def plot_nmse_vs_bits(df: pd.DataFrame, path: Path) -> bool:
    """Rate-distortion: NMSE vs bits actually sent per CSI report, one line per codec, CR and
    link family (uniform, mu-law, with or without entropy coding), and one dashed line per
    classical compressor. Returns False (and writes nothing) with fewer than two payloads."""
    d = rate_distortion_rows(df)
    top = df[df["pilot_snr_db"] == df["pilot_snr_db"].max()]
    classical = top[top["kind"] == "classical"]
    if d["measured_bits"].nunique() + classical["measured_bits"].nunique() < 2:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, tr, te), grp in classical.groupby(["codec", "train_set", "test_set"], sort=False):
        grp = grp.sort_values("measured_bits")
        ax.plot(grp["measured_bits"], grp["nmse_ad_db"], "--", marker="s", ms=4,
                label=f"{name} (classical) [{tr} -> {te}]")
    fam = d["feedback"].map(_link_family)
    for (codec, cr, tr, te, f), grp in d.groupby(
            [d["codec"], d["compression_ratio"], d["train_set"], d["test_set"], fam], sort=False):
        grp = grp.sort_values("measured_bits")
        ax.plot(grp["measured_bits"], grp["nmse_ad_db"], marker="o", ms=4,
                label=f"{codec} CR{int(cr)} {f} [{tr} -> {te}]")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("feedback payload per CSI report [bits] (measured)")
    ax.set_ylabel("NMSE, truncated angular-delay [dB]")
    ax.set_title(f"rate-distortion at pilot SNR {top['pilot_snr_db'].iloc[0]:g} dB")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    _save(fig, path)
    return True


def plot_training_curve(rows: list[dict], path: Path, title: str) -> None:
    """Training and validation MSE per epoch (log scale)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ep = [r["epoch"] for r in rows]
    ax.semilogy(ep, [r["loss"] for r in rows], marker="o", ms=3, label="train")
    ax.semilogy(ep, [r["val_loss"] for r in rows], marker="o", ms=3, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (normalised domain)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    _save(fig, path)


def plot_generalization_vs_snr(df: pd.DataFrame, path: Path) -> bool:
    """The train x test matrix at every pilot SNR: one panel per test set, NMSE versus pilot
    SNR for each trained method and training set (solid in domain, dashed across families),
    with the uncompressed LS estimate for reference. Returns False (and writes nothing) when no
    method was trained on two sets and tested on two."""
    from linksim.summary import matrix_rows

    d = matrix_rows(df)
    if d.empty:
        return False
    tests = list(dict.fromkeys(d["test_set"]))
    trains = list(dict.fromkeys(d["train_set"]))
    colours = {t: f"C{i}" for i, t in enumerate(trains)}
    fig, axes = plt.subplots(1, len(tests), figsize=(5.5 * len(tests), 4.2), sharey=True,
                             squeeze=False)
    ls = _pilot_axis(df[(df["kind"] == "baseline") & (df["codec"] == "ls_uncompressed")])
    markers = "osd^v<>"
    methods = list(dict.fromkeys(zip(d["codec"], d["payload_bits"], strict=True)))
    for ax, test in zip(axes[0], tests, strict=True):
        for mi, (codec, bits) in enumerate(methods):
            for train in trains:
                g = d[(d["codec"] == codec) & (d["payload_bits"] == bits)
                      & (d["train_set"] == train) & (d["test_set"] == test)]
                if g.empty:
                    continue
                g = g.sort_values("pilot_snr_db")
                name = (f"{codec} CR{int(g['compression_ratio'].iloc[0])}"
                        if g["kind"].iloc[0] == "codec" else f"{codec} {int(bits)}b")
                ax.plot(g["pilot_snr_db"], g["nmse_ad_db"], "-" if train == test else "--",
                        color=colours[train], marker=markers[mi % len(markers)], ms=3,
                        label=f"{name}, trained on {train}")
        g = ls[ls["test_set"] == test].sort_values("pilot_snr_db")
        if not g.empty:
            ax.plot(g["pilot_snr_db"], g["nmse_ad_db"], ":", color="0.5", label="LS, no compression")
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_title(f"tested on {test}")
        ax.set_xlabel("pilot SNR [dB]")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("NMSE, truncated angular-delay [dB]")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="upper center", ncol=2,
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    fig.suptitle("generalization: solid = trained and tested on the same family, "
                 "dashed = across families", fontsize=10)
    _save(fig, path)
    return True


def plot_sgcs_vs_payload(df: pd.DataFrame, path: Path) -> bool:
    """TR 38.843 study (:mod:`linksim.tr38843.stage`): SGCS per layer against payload bits,
    eType II per paramCombination as a line and each AI codec (per training type) as markers,
    for the first generalization case, mean over its test sets. Returns False (no file) when
    there is nothing to draw."""
    layers = sorted(int(c[6:]) for c in df.columns if c.startswith("sgcs_l") and c[6:].isdigit())
    if df.empty or not layers:
        return False
    d = df[df["case"] == df["case"].iloc[0]]
    fig, axes = plt.subplots(1, len(layers), figsize=(5.5 * len(layers), 4), squeeze=False)
    for ax, layer in zip(axes[0], layers, strict=True):
        col = f"sgcs_l{layer}"
        et = (d[d["kind"] == "etype2"].groupby("payload_bits", as_index=False)[col].mean()
              .sort_values("payload_bits"))
        ax.plot(et["payload_bits"].astype(float), et[col], "k-o", label="eType II")
        ai = d[d["kind"] == "ai"]
        for (codec, ttype), g in ai.groupby(["codec", "training_type"]):
            g = g.groupby("payload_bits", as_index=False)[col].mean()
            ax.plot(g["payload_bits"].astype(float), g[col], "s--", label=f"{codec} {ttype}")
        ax.set_xlabel("payload [bits]")
        ax.set_ylabel(f"SGCS, layer {layer}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"SGCS against payload ({d['case'].iloc[0]})")
    _save(fig, path)
    return True
