"""What the export measures, and on what: the latency of a Keras encoder, the NMSE and codeword
error of an exported encoder, and the normalised CSI from a scenario or a ``.npy`` file."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from linksim.errors import LinksimInputError


# -- latency and codewords of a Keras encoder ----------------------------------------------------
def keras_latency_ms(model, x1: np.ndarray, runs: int = 200, warmup: int = 20
                     ) -> tuple[float, float]:
    """``(median, minimum)`` wall time [ms] of one call of a Keras ``model`` on one CSI
    ``x1 [1, Na, Nt, 2]`` with one PyTorch thread (direct call under ``torch.no_grad``, as a
    deployed model runs). The minimum is the robust figure on a CPU shared with other jobs."""
    import keras
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        xt = keras.ops.convert_to_tensor(np.asarray(x1, np.float32))
        times = []
        with torch.no_grad():
            for i in range(warmup + runs):
                t = time.perf_counter()
                model(xt, training=False)
                if i >= warmup:
                    times.append(time.perf_counter() - t)
    finally:
        torch.set_num_threads(threads)
    return 1e3 * statistics.median(times), 1e3 * min(times)


def keras_codewords(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Codewords ``[N, M]`` float32 of a Keras encoder ``model`` for normalised CSI ``x``."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32)


# -- data and metrics ----------------------------------------------------------------------------
def nmse_db(x_n: np.ndarray, x_hat_n: np.ndarray, center: float) -> float:
    """NMSE [dB] of the CSI from normalised CSI ``[N, Na, Nt, 2]`` and its reconstruction:
    ``10 log10 mean_i ||x_i - x_hat_i||^2 / ||x_i||^2`` with ``x = x_n - center`` (the
    normaliser's zero CSI; see :mod:`linksim.export` for why this equals the NMSE of the
    un-normalised CSI)."""
    from linksim.phy.metrics import nmse_per_sample, to_db

    return to_db(float(nmse_per_sample(x_n - center, x_hat_n - center).mean()))


def codeword_error_db(z: np.ndarray, z_ref: np.ndarray) -> float:
    """Error power of codewords ``z [N, M]`` relative to the reference's power [dB]."""
    from linksim.phy.metrics import to_db

    err = np.sum((z.astype(np.float64) - z_ref) ** 2)
    return to_db(float(err / np.sum(z_ref.astype(np.float64) ** 2)))


class _FirstSamples:
    """The first ``n`` samples of a data set (for :func:`linksim.pipeline.codec_inputs`)."""

    def __init__(self, ds, n: int | None):
        self.ds, self.n = ds, len(ds) if n is None else min(int(n), len(ds))

    def __len__(self) -> int:
        return self.n

    @property
    def num_antennas(self) -> int:
        return self.ds.num_antennas

    def channels(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.ds.channels(start, self.n if stop is None else min(stop, self.n))


def _pick(names: list[str], model_dir: Path | None) -> str:
    """The data set a model directory was trained on (run tags end in ``_<data set>``), else
    the first."""
    if model_dir is not None:
        hits = [n for n in names if f"_{n}" in model_dir.name]
        if hits:
            return max(hits, key=len)
    return names[0]


def load_csi(source: str | os.PathLike, codec, split: str, max_samples: int | None = None,
             model_dir: Path | None = None) -> np.ndarray:
    """Normalised codec input ``[N, Na, Nt, 2]`` float32 from a scenario or a ``.npy`` file.

    Parameters
    ----------
    source : path
        ``.yaml`` / ``.yml`` scenario: its training set (``split="train"``: the channels as in
        training, LS estimates at ``training.pilot_snr_db`` if set) or its test set
        (``split="test"``: the true channels), prepared by the codec (power normalisation,
        its fitted scale). Any other file: a ``.npy`` of normalised CSI.
    codec : Codec
        Decides the shape, and the normalisation of scenario data.
    split : {"train", "test"}
    max_samples : int, optional
        Keep the first ``max_samples``.
    model_dir : path, optional
        Picks the scenario's data set whose name ends the model directory's name.

    Raises
    ------
    LinksimInputError
        Unreadable file, invalid scenario, or a shape other than ``[N, *codec.input_shape]``.
    """
    source = Path(source)
    if source.suffix.lower() in (".yaml", ".yml"):
        x = _scenario_csi(source, codec, split, max_samples, model_dir)
    else:
        try:
            x = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise LinksimInputError(f"{source}: cannot read a .npy array ({exc})") from exc
        if max_samples is not None:
            x = x[:max_samples]
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(codec.input_shape) or len(x) == 0:
        shape = ", ".join(map(str, codec.input_shape))
        raise LinksimInputError(f"{source}: expected normalised CSI of shape [N, {shape}] for "
                                f"this codec, got {list(x.shape)}")
    if not np.issubdtype(x.dtype, np.floating) or not np.all(np.isfinite(x)):
        raise LinksimInputError(f"{source}: CSI must be finite floats")
    return np.ascontiguousarray(x, np.float32)


def _scenario_csi(path: Path, codec, split: str, max_samples: int | None,
                  model_dir: Path | None) -> np.ndarray:
    from linksim.channels.dataset import default_cache_dir
    from linksim.pipeline import codec_inputs, load_split
    from linksim.scenario import load_scenario
    from linksim.seeding import derive_seed, rng_for

    sc = load_scenario(path)
    if codec.normalizer is None:
        raise LinksimInputError(f"{codec.name}: the saved codec has no normaliser; give "
                                "normalised CSI as a .npy file instead of a scenario")
    names = sc.training.train_sets if split == "train" else sc.evaluation.test_sets
    name = _pick(list(names), model_dir)
    cache_dir = Path(sc.cache_dir) if sc.cache_dir else default_cache_dir()
    ds, _, _ = load_split(sc.datasets[name], split, derive_seed(sc.seed, "dataset", name, split),
                          cache_dir)
    snr = sc.training.pilot_snr_db if split == "train" else None
    rng = rng_for(sc.seed, "train-pilots", name, split) if snr is not None else None
    x = codec_inputs(_FirstSamples(ds, max_samples), sc.preprocessing.num_delay_rows,
                     sc.evaluation.batch_size, snr, rng, sc.estimation.pilot_length,
                     sc.estimation.noise_reference)
    if x.shape[1:] != tuple(codec.input_shape):
        raise LinksimInputError(f"{path}: data set {name!r} gives CSI {list(x.shape[1:])}, the "
                                f"codec expects {list(codec.input_shape)}")
    return codec.ue_prepare(x)[0]

