import os

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two torch threads oversubscribe the shared 2-core machine; one thread is ~4x faster.
    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def rayleigh(rng, b, nc, nt):
    """i.i.d. CN(0, 1) channels [b, Nc, Nt]."""
    return ((rng.standard_normal((b, nc, nt)) + 1j * rng.standard_normal((b, nc, nt)))
            / np.sqrt(2)).astype(np.complex64)
