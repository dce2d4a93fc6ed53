"""Installed package versions, recorded in every manifest (run, export, TFLite worker).

Light on purpose (standard library only): the TFLite worker imports it in a process that runs
Keras on TensorFlow and must not import the simulator.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

#: The distributions that determine a run's numbers.
RUN_DISTRIBUTIONS = ("linksim", "numpy", "scipy", "torch", "keras", "sionna-no-rt", "pandas",
                     "h5py", "pydantic")


def package_versions(distributions: tuple[str, ...] = RUN_DISTRIBUTIONS,
                     missing: str | None = "not installed") -> dict[str, str]:
    """``{"python": X.Y.Z, distribution: version}`` for each of ``distributions``; one that is
    not installed maps to ``missing``, or is left out when ``missing`` is None."""
    out = {"python": platform.python_version()}
    for dist in distributions:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            if missing is not None:
                out[dist] = missing
    return out
