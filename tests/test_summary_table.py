"""The summary table printed after a run: one column per distinct SNR, never twice."""

import numpy as np
import pandas as pd
import pytest

from linksim.pipeline import summary_table


def rows(snrs):
    return pd.DataFrame([{
        "codec": "csinet", "compression_ratio": 4, "train_feedback": "ideal", "feedback": "ideal",
        "feedback_snr_db": np.nan, "train_set": "a", "test_set": "a", "payload_bits": 16416,
        "pilot_snr_db": s, "nmse_ad_db": -s / 10, "nmse_sf_db": -s / 10, "rho": 0.9,
        "range_floor_db": -150.0} for s in snrs])


@pytest.mark.parametrize("snrs,columns", [
    ([40.0], ["NMSE_ad@40dB"]),
    ([10.0, 40.0], ["NMSE_ad@10dB", "NMSE_ad@40dB"]),
    ([0.0, 10.0, 20.0, 40.0], ["NMSE_ad@0dB", "NMSE_ad@20dB", "NMSE_ad@40dB"]),
])
def test_one_column_per_distinct_snr(snrs, columns):
    table = summary_table(rows(snrs))
    nmse = [c for c in table.columns if c.startswith("NMSE_ad@")]
    assert nmse == columns
    assert table.columns.is_unique
    assert table.loc[0, f"NMSE_ad@{snrs[-1]:g}dB"] == pytest.approx(-snrs[-1] / 10)
    assert table.loc[0, "floor_dB"] == -150.0


def matrix_rows(trains=("cost", "uma"), tests=("cost", "uma"), snrs=(0.0, 40.0)):
    """Results rows of a codec and a per-training-set PCA, each trained on ``trains`` and
    tested on ``tests``; NMSE encodes (train, test, SNR) so that misplaced entries show."""
    out = []
    for kind, codec, cr, bits, fb in (("codec", "csinet", 4, 16416, "ideal"),
                                      ("classical", "pca_float", np.nan, 16416, "digital")):
        for i, tr in enumerate(trains):
            for j, te in enumerate(tests):
                for s in snrs:
                    out.append({"kind": kind, "codec": codec, "compression_ratio": cr,
                                "train_feedback": "ideal" if kind == "codec" else np.nan,
                                "feedback": fb, "feedback_snr_db": np.nan, "train_set": tr,
                                "test_set": te, "payload_bits": bits, "pilot_snr_db": s,
                                "nmse_ad_db": -(10 * i + j + s / 100)})
    out.append({"kind": "baseline", "codec": "ls_uncompressed", "feedback": "ideal",
                "train_set": "-", "test_set": "cost", "payload_bits": 65536, "pilot_snr_db": 0.0,
                "nmse_ad_db": -5.0, "feedback_snr_db": np.nan})
    return pd.DataFrame(out)


def test_generalization_matrix_places_every_train_test_pair(tmp_path):
    from linksim.plots import plot_generalization_vs_snr
    from linksim.summary import generalization_matrix, generalization_text

    df = matrix_rows()
    m = generalization_matrix(df)
    assert list(m.columns) == ["method", "pilot_snr_db", "train_set", "cost", "uma"]
    assert sorted(m["method"].unique()) == ["csinet CR4", "pca_float 16416 bits"]
    assert len(m) == 2 * 2 * 2  # methods x SNRs x training sets
    row = m[(m["method"] == "csinet CR4") & (m["pilot_snr_db"] == 40.0) & (m["train_set"] == "uma")]
    assert row["cost"].item() == pytest.approx(-10.4) and row["uma"].item() == pytest.approx(-11.4)
    text = generalization_text(df)
    assert "trained on" in text and "csinet CR4" in text and "-11.40" in text
    assert plot_generalization_vs_snr(df, tmp_path / "g.png") and (tmp_path / "g.png").stat().st_size


def test_no_matrix_without_two_training_and_two_test_sets(tmp_path):
    from linksim.plots import plot_generalization_vs_snr
    from linksim.summary import generalization_matrix, generalization_text

    for df in (matrix_rows(trains=("cost",)), matrix_rows(tests=("uma",))):
        assert generalization_matrix(df).empty
        assert generalization_text(df) == ""
        assert not plot_generalization_vs_snr(df, tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()
