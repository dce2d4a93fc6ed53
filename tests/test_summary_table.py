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
