"""Every random draw of a run flows from the scenario seed through named sub-seeds."""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(seed: int, *labels: object) -> int:
    """Deterministic 32-bit sub-seed (valid for numpy, torch and Keras) for ``(seed, *labels)``, e.g. ``(1, "pilots", "uma", 10.0)``."""
    blob = repr((int(seed),) + tuple(str(x) for x in labels)).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little")


def rng_for(seed: int, *labels: object) -> np.random.Generator:
    """A numpy Generator seeded with :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(seed, *labels))
