import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def rayleigh(rng, b, nc, nt):
    """i.i.d. CN(0, 1) channels [b, Nc, Nt]."""
    return ((rng.standard_normal((b, nc, nt)) + 1j * rng.standard_normal((b, nc, nt)))
            / np.sqrt(2)).astype(np.complex64)
