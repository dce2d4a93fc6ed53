"""3GPP TR 38.843-style evaluation of AI eigenvector-CSI compression (docs/tr38843.md).

* :mod:`~linksim.tr38843.codecs`: eigenvector codecs (CsiNet-, CRNet-, ACRNet-style CNNs,
  transformer);
* :mod:`~linksim.tr38843.training`: MSE / SGCS losses, scalar QAT and vector quantisation,
  joint / NW-first / UE-first;
* :mod:`~linksim.tr38843.payload`: eType II payloads and the small / medium / large bins;
* :mod:`~linksim.tr38843.metrics`: SGCS per layer, NMSE, post-MMSE rate;
* :mod:`~linksim.tr38843.config`: the strict study settings and generalization cases;
* :mod:`~linksim.tr38843.study`: :func:`run_study` on channel arrays;
* :mod:`~linksim.tr38843.stage`: the study as a stage of ``linksim run`` (a ``tr38843:`` scenario).
"""

from linksim.tr38843.config import (
    Generalization,
    PayloadBin,
    StudyConfig,
    check_data,
    generalization_runs,
)


def __getattr__(name: str):
    """``run_study`` on first use: importing the package (e.g. to validate a scenario's
    ``tr38843`` section) does not import Keras."""
    if name == "run_study":
        from linksim.tr38843.study import run_study

        return run_study
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Generalization", "PayloadBin", "StudyConfig", "check_data", "generalization_runs",
           "run_study"]
