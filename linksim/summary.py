"""What a run prints and tabulates from ``results.csv``: the summary table and the
generalization matrix (training set x test set) at each pilot SNR.

Pure functions of the results data frame (one row per method x test set x SNR point, columns
:data:`linksim.sweep.RESULT_COLUMNS`); the CLI prints them, the run writes the matrix to
``generalization.csv`` and :func:`linksim.plots.plot_generalization_vs_snr` draws it.
"""

from __future__ import annotations

import pandas as pd


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: NMSE (AD) at the lowest, a middle and the highest SNR (each once: one or two
    SNR points give one or two columns); other metrics at the highest."""
    snrs = sorted(df["pilot_snr_db"].unique())
    pick = sorted({snrs[0], snrs[len(snrs) // 2], snrs[-1]})
    keys = ["codec", "compression_ratio", "train_feedback", "feedback", "feedback_snr_db",
            "train_set", "test_set", "payload_bits"]
    d = df.copy()
    d[keys] = d[keys].astype(object).fillna("-")
    table = d.pivot_table(index=keys, columns="pilot_snr_db", values="nmse_ad_db",
                          aggfunc="first", sort=False)[pick]
    table.columns = [f"NMSE_ad@{s:g}dB" for s in pick]
    top = d[d["pilot_snr_db"] == snrs[-1]].set_index(keys)
    for col, name in (("nmse_sf_db", f"NMSE_sf@{snrs[-1]:g}"), ("rho", "rho"),
                      ("sgcs_subband", "SGCS_sb"), ("bf_gain_db", "BFgain_dB"),
                      ("bf_gain_eigen_db", "BFgain_eig_dB"), ("se_bps_hz", "SE"),
                      ("measured_bits", "sent"), ("range_floor_db", "floor_dB")):
        if col in top:
            table[name] = top[col]
    return table.reset_index().rename(columns={"payload_bits": "bits"})


#: Columns naming a learned method apart from its training set: one matrix per combination.
MATRIX_KEYS = ["codec", "compression_ratio", "feedback"]


def _ideal_codec_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Codec rows over the ideal link, trained over the ideal link, at pilot-SNR points (no
    feedback-SNR point): the rows that compare training sets."""
    d = df[(df["kind"] == "codec") & (df["feedback"] == "ideal")]
    if "train_feedback" in d:
        d = d[d["train_feedback"].fillna("ideal") == "ideal"]
    if "feedback_snr_db" in d:
        d = d[d["feedback_snr_db"].isna()]
    return d


def matrix_rows(df: pd.DataFrame, classical: bool = True) -> pd.DataFrame:
    """The rows of ``df`` that form a train x test matrix: codecs over the ideal link and,
    with ``classical``, classical compressors fitted per training set (PCA), each only where
    they were trained on at least two sets and tested on at least two."""
    parts = [_ideal_codec_rows(df)]
    if classical:
        cl = df[df["kind"] == "classical"]
        if "feedback_snr_db" in cl:
            cl = cl[cl["feedback_snr_db"].isna()]
        parts.append(cl)
    keep = []
    for d in parts:
        for _, g in d.groupby(["codec", "compression_ratio", "payload_bits"], sort=False,
                              dropna=False):
            if g["train_set"].nunique() >= 2 and g["test_set"].nunique() >= 2:
                keep.append(g)
    return pd.concat(keep) if keep else df.iloc[:0]


def generalization_matrix(df: pd.DataFrame, metric: str = "nmse_ad_db") -> pd.DataFrame:
    """``metric`` of every trained method as a training set x test set matrix at each pilot
    SNR: one row per (method, pilot SNR [dB], training set), one column per test set, the
    in-domain entries on the diagonal. Empty when no method was trained on two sets and tested
    on two.

    >>> generalization_matrix(results)   # doctest: +SKIP
    method          pilot_snr_db  train_set   cost_out  uma28
    csinet CR4           -5.0     cost_out     -1.2     -0.3
    ...
    """
    d = matrix_rows(df)
    if d.empty:
        return pd.DataFrame()
    d = d.copy()
    d["method"] = [
        f"{r.codec} CR{int(r.compression_ratio)}" if r.kind == "codec"
        else f"{r.codec} {int(r.payload_bits)} bits"
        for r in d.itertuples()]
    wide = d.pivot_table(index=["method", "pilot_snr_db", "train_set"], columns="test_set",
                         values=metric, aggfunc="first", sort=False)
    wide.columns.name = None
    return wide.reset_index()


def generalization_text(df: pd.DataFrame) -> str:
    """The matrix of :func:`generalization_matrix` as the run prints it: per method, one line
    per pilot SNR and one column per (training set, test set) pair, grouped by training set.
    Empty when there is no matrix."""
    matrix = generalization_matrix(df)
    if matrix.empty:
        return ""
    out = [("Generalization: NMSE_ad [dB] of each training set (upper header) on each test set "
            "(lower header), per pilot SNR [dB]; also in generalization.csv")]
    for method, block in matrix.groupby("method", sort=False):
        table = (block.drop(columns="method").set_index(["pilot_snr_db", "train_set"])
                 .unstack("train_set").swaplevel(axis=1))
        trains = list(dict.fromkeys(block["train_set"]))
        table = table[[c for t in trains for c in table.columns if c[0] == t]]
        table.columns.names = ["trained on", "tested on"]
        out.append(f"{method}\n{table.to_string(float_format=lambda v: f'{v:.2f}')}")
    return "\n".join(out)
