"""The calibrated COST 2100 families reproduce the compressive-sensing rows of the CsiNet paper's
Table I (docs/channels.md, "COST 2100 calibration against CsiNet Table I").

Slow (about 4 minutes on the 2-core project machine, one process): 200 samples of each family,
seed 0, Gaussian measurement matrix seed 0, float32 measurements, through
``benchmarks.cs_recovery.calibration_row`` (the numbers of ``python benchmarks/cs_recovery.py
--env NAME --n 200 --calibration``). The paper's two columns are read as docs/channels.md
argues it ran them: TVAL3 with its regularisation tuned at CR 4 and kept, LASSO with one
regularisation for every CR (``alpha = 0.1`` of ``lam_max``). Checked within 1.5 dB at CR 4
and 16, indoor and outdoor:

- TV (TVAL3-like), best ``mu`` at CR 4 against the TVAL3 column; at CR 16 both the best ``mu``
  and the CR-4 ``mu`` kept;
- LASSO with ``alpha = 0.1`` at CR 4 and 16 against the LASSO column;

and, indoor, that a LASSO tuned per CR is far better than the paper's LASSO at CR 4 (so the
best-per-CR reading of that column does not fit the data its TVAL3 column fits).
"""

from __future__ import annotations

import pytest
from linksim.channels.cost2100 import generate_cost2100_ad

from benchmarks.cs_recovery import CALIBRATION_MUS, PAPER_NMSE_DB, calibration_row

pytestmark = pytest.mark.slow

N, SEED = 200, 0
TOL_DB = 1.5
FAMILIES = {"indoor_5.3GHz": "indoor", "outdoor_300MHz": "outdoor"}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request):
    h, _ = generate_cost2100_ad(N, request.param, seed=SEED)  # 1024 tones over 20 MHz
    return request.param, FAMILIES[request.param], calibration_row(h, seed=0)


def test_tv_matches_tval3_column(family):
    _, paper, row = family
    want = PAPER_NMSE_DB["tv"][paper]
    assert row["tv4_mu"] not in (CALIBRATION_MUS[4][0], CALIBRATION_MUS[4][-1])  # interior
    assert abs(row["tv4"] - want[4]) < TOL_DB, row
    assert abs(row["tv16"] - want[16]) < TOL_DB, row
    assert abs(row["tv16_fixed"] - want[16]) < TOL_DB, row


def test_fixed_alpha_lasso_matches_lasso_column(family):
    _, paper, row = family
    want = PAPER_NMSE_DB["lasso"][paper]
    assert abs(row["lasso4_fixed"] - want[4]) < TOL_DB, row
    assert abs(row["lasso16_fixed"] - want[16]) < TOL_DB, row


def test_tuned_lasso_beats_the_paper_lasso_indoor(family):
    name, paper, row = family
    if name != "indoor_5.3GHz":
        pytest.skip("indoor only")
    # far better than the paper's LASSO, within a few dB of its TVAL3
    assert row["lasso4"] < PAPER_NMSE_DB["lasso"][paper][4] - 3.0, row
    assert row["lasso4"] > PAPER_NMSE_DB["tv"][paper][4] - 1.0, row
