"""3GPP TR 38.843-style evaluation of AI eigenvector-CSI compression (docs/tr38843.md).

* :mod:`~linksim.tr38843.codecs`: eigenvector codecs (CsiNet-style CNN, transformer);
* :mod:`~linksim.tr38843.training`: MSE / SGCS losses, QAT, joint / NW-first / UE-first;
* :mod:`~linksim.tr38843.payload`: eType II payloads and the small / medium / large bins;
* :mod:`~linksim.tr38843.metrics`: SGCS per layer, NMSE, post-MMSE rate;
* :mod:`~linksim.tr38843.config`: the strict study settings and generalization cases;
* :mod:`~linksim.tr38843.study`: :func:`run_study` on channel arrays.
"""

from linksim.tr38843.config import (
    Generalization,
    PayloadBin,
    StudyConfig,
    check_data,
    generalization_runs,
)
from linksim.tr38843.study import run_study

__all__ = ["Generalization", "PayloadBin", "StudyConfig", "check_data", "generalization_runs",
           "run_study"]
