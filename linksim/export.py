"""UE deployment: export a trained codec's encoder and measure what each format costs.

Formats (file names in :data:`FILES`):

* ``keras``: the backend-portable Keras file of the deployable encoder (for BCsiNet / BACRNet
  :meth:`export_encoder`, whose binary FC is a plain ``Dense`` holding ``alpha sign(W)``);
* ``tflite-float``: TensorFlow Lite, float32;
* ``tflite-dynamic-int8``: int8 weights, float activations between ops, each int8 kernel
  quantising its input on the fly with that input's own range (TFLite's "dynamic range"
  quantisation, the 8-bit "dynamic quantisation" of the CLLWCsiNet seed, Table V; TFLite leaves
  weight tensors under 1,024 entries in float);
* ``tflite-int8``: full-integer int8 (weights, activations, int8 input and output tensors), its
  ranges calibrated on normalised training CSI;
* ``binary`` (codecs with binary layers only): the 1-bit weights, ``np.packbits`` of
  ``sign(W) >= 0`` plus ``alpha`` and the float bias per binary layer, every other weight in
  float32, and the architecture as JSON, in one uncompressed ``.npz`` (:func:`save_binary_encoder`,
  :func:`load_binary_encoder`).

TensorFlow is the deployment toolchain only (``pip install linksim[tflite]``): the TFLite work
runs in a separate process, ``python -m linksim._tflite_worker``, under Keras' TensorFlow
backend, with the interpreter named by ``$LINKSIM_TFLITE_PYTHON`` (default: this one). The
simulator never imports TensorFlow.

For each format :func:`export_codec` reports the file size in bytes, the latency of one CSI on
one thread (median; LiteRT interpreter for TFLite, Keras on PyTorch for ``keras`` and
``binary``), and, given test data, the end-to-end NMSE when the exported encoder replaces the
Keras one: its codewords go through the ideal feedback link into the codec's Keras decoder in
this process. The NMSE is that of the truncated angular-delay CSI (the papers' number),
computed in the normalised domain, where it is the same number: ``x_n = c + x / (g s')`` with
a per-sample gain ``g`` (sample normalisation), the normaliser's scale ``s'`` and centre ``c``
(0 for the linear head, 0.5 for the sigmoid head), so
``||x - x_hat||^2 / ||x||^2 = ||x_n - x_hat_n||^2 / ||x_n - c||^2``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from linksim.errors import LinksimInputError
from linksim.fsutil import as_if_created_normally
from linksim.versions import package_versions

FORMATS = ("keras", "tflite-float", "tflite-dynamic-int8", "tflite-int8", "binary")
TFLITE_FORMATS = ("tflite-float", "tflite-dynamic-int8", "tflite-int8")
FILES = {"keras": "encoder.keras", "tflite-float": "encoder_float32.tflite",
         "tflite-dynamic-int8": "encoder_dynamic_int8.tflite",
         "tflite-int8": "encoder_int8.tflite", "binary": "encoder_binary.npz"}
#: What to install for the TFLite formats.
INSTALL_HINT = "pip install linksim[tflite]"
#: Environment variable naming the Python interpreter of the TFLite worker.
PYTHON_ENV = "LINKSIM_TFLITE_PYTHON"


class TFLiteUnavailableError(LinksimInputError):
    """TensorFlow or LiteRT is not installed for the TFLite worker (the message says what to
    install)."""


class ExportError(LinksimInputError):
    """The TFLite worker failed on this model (the message carries its last error line)."""


# -- the TFLite worker ---------------------------------------------------------------------------
def worker_python() -> str:
    """Interpreter of the TFLite worker: ``$LINKSIM_TFLITE_PYTHON`` or the current one."""
    return os.environ.get(PYTHON_ENV) or sys.executable


def _worker_command(python: str, *args: str) -> list[str]:
    """Command running :mod:`linksim._tflite_worker` with *this* linksim package.

    The package is loaded from its folder by file location, so the worker's interpreter (another
    virtual environment, say) needs TensorFlow, LiteRT, Keras and numpy but not linksim itself,
    and no folder is put ahead of that interpreter's own packages.
    """
    package = Path(__file__).resolve().parent
    init = str(package / "__init__.py")
    boot = (
        "import importlib.util, runpy, sys\n"
        f"spec = importlib.util.spec_from_file_location('linksim', {init!r},"
        f" submodule_search_locations=[{str(package)!r}])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['linksim'] = module\n"
        "spec.loader.exec_module(module)\n"
        "sys.argv = ['linksim._tflite_worker', *sys.argv[1:]]\n"
        "runpy.run_module('linksim._tflite_worker', run_name='__main__', alter_sys=True)\n")
    return [python, "-c", boot, *args]


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["KERAS_BACKEND"] = "tensorflow"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _unavailable(python: str, what: str) -> TFLiteUnavailableError:
    return TFLiteUnavailableError(
        f"the TensorFlow Lite formats need TensorFlow and LiteRT ({what} for {python}); install "
        f"them with: {INSTALL_HINT}  (or set {PYTHON_ENV} to a Python that has them)")


def tflite_missing(python: str | None = None) -> list[str]:
    """Modules (``tensorflow``, ``ai_edge_litert``) the worker's interpreter lacks; cheap, since
    nothing is imported. Raises :class:`TFLiteUnavailableError` if the interpreter itself does
    not run."""
    python = python or worker_python()
    try:
        proc = subprocess.run(_worker_command(python, "--probe"), capture_output=True,
                              text=True, env=_worker_env(), timeout=120, check=False)
        return list(json.loads(proc.stdout.strip().splitlines()[-1])["missing"])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, KeyError) as exc:
        raise _unavailable(python, f"cannot run the worker interpreter: {exc}") from exc


def tflite_available(python: str | None = None) -> bool:
    """Whether the TFLite formats can be produced (see :func:`tflite_missing`)."""
    try:
        return not tflite_missing(python)
    except TFLiteUnavailableError:
        return False


def require_tflite(python: str | None = None) -> None:
    """Raise :class:`TFLiteUnavailableError` (with the install command) unless available."""
    python = python or worker_python()
    missing = tflite_missing(python)
    if missing:
        raise _unavailable(python, f"missing: {', '.join(missing)}")


def _call_worker(job: dict, calibration: np.ndarray | None, inputs: np.ndarray | None,
                 python: str | None, what: str) -> dict:
    """Run one worker job (see :mod:`linksim._tflite_worker`); arrays travel as ``.npy`` files,
    the codewords come back as ``entry["codewords"]`` (``[N, M]`` float32 or None)."""
    from linksim import _tflite_worker as worker

    python = python or worker_python()
    with tempfile.TemporaryDirectory(prefix="linksim-tflite-") as scratch:
        scratch = Path(scratch)
        job = {**job, "calibration": None, "inputs": None, "outputs_dir": str(scratch),
               "result": str(scratch / "result.json")}
        for key, arr in (("calibration", calibration), ("inputs", inputs)):
            if arr is not None:
                np.save(scratch / f"{key}.npy", np.ascontiguousarray(arr, np.float32))
                job[key] = str(scratch / f"{key}.npy")
        (scratch / "job.json").write_text(json.dumps(job))
        try:
            proc = subprocess.run(_worker_command(python, str(scratch / "job.json")),
                                  capture_output=True, text=True, env=_worker_env(),
                                  check=False)
        except OSError as exc:
            raise _unavailable(python, f"cannot run the worker interpreter: {exc}") from exc
        if proc.returncode == worker.EXIT_MISSING:
            tag = [ln for ln in proc.stderr.splitlines() if ln.startswith(worker.MISSING_TAG)]
            raise _unavailable(python, "missing: " + (
                tag[-1].removeprefix(worker.MISSING_TAG).strip() if tag else "?"))
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise ExportError(f"{what} failed "
                              f"({lines[-1] if lines else f'exit code {proc.returncode}'})")
        result = json.loads((scratch / "result.json").read_text())
        for entry in result["formats"].values():
            path = entry.pop("outputs")
            entry["codewords"] = None if path is None else np.load(path)
    return result


def convert_tflite(keras_file: str | os.PathLike, targets: dict[str, Path],
                   calibration: np.ndarray | None = None, inputs: np.ndarray | None = None,
                   latency_runs: int = 200, warmup_runs: int = 20, batch_size: int = 256,
                   python: str | None = None) -> dict:
    """Convert a Keras encoder file to TFLite in the worker process; run and time each model.

    Parameters
    ----------
    keras_file : path
        ``encoder.keras`` (any backend), ``[b, Na, Nt, 2] -> [b, M]``.
    targets : dict
        ``{format: path}`` for formats in :data:`TFLITE_FORMATS`; files written atomically.
    calibration : [N, Na, Nt, 2] float32, optional
        Normalised training CSI, the representative data set of ``tflite-int8`` (required for it).
    inputs : [N, Na, Nt, 2] float32, optional
        Normalised CSI to encode with every model.
    latency_runs, warmup_runs : int
        Timed and untimed invocations on one CSI with one thread.
    batch_size : int
        Samples per interpreter call for ``inputs``.
    python : str, optional
        The worker's interpreter (default :func:`worker_python`).

    Returns
    -------
    dict
        ``{"versions": {...}, "keras_backend": "tensorflow", "formats": {format: {"file",
        "size_bytes", "latency_ms", "input_quantization", "output_quantization",
        "codewords"}}}``; ``codewords`` is the ``[N, M]`` float32 output for ``inputs``
        (dequantised for int8) or None; quantisation is ``[scale, zero point]`` (``[0, 0]``
        for a float tensor).

    Raises
    ------
    TFLiteUnavailableError
        TensorFlow or LiteRT missing for the worker's interpreter.
    ExportError
        The conversion or the interpreter failed.
    """
    if "tflite-int8" in targets and calibration is None:
        raise LinksimInputError("tflite-int8 needs calibration data (normalised training CSI)")
    job = {"keras_model": str(Path(keras_file).resolve()),
           "targets": {f: str(Path(p).resolve()) for f, p in targets.items()},
           "latency_runs": int(latency_runs), "warmup_runs": int(warmup_runs),
           "batch_size": int(batch_size)}
    return _call_worker(job, calibration, inputs, python,
                        f"{keras_file}: TensorFlow Lite conversion")


def run_tflite(files: dict[str, str | os.PathLike], x: np.ndarray, batch_size: int = 256,
               python: str | None = None) -> dict[str, np.ndarray]:
    """Encode normalised CSI ``x [N, Na, Nt, 2]`` with existing ``.tflite`` encoders.

    Runs the LiteRT interpreter in the worker process (an int8 model's input is quantised and
    its output dequantised there). Returns ``{key: codewords [N, M] float32}`` for the keys of
    ``files``.
    """
    job = {"keras_model": None, "targets": {k: str(Path(p).resolve()) for k, p in files.items()},
           "latency_runs": 0, "batch_size": int(batch_size)}
    result = _call_worker(job, None, np.asarray(x, np.float32), python, "LiteRT inference")
    return {k: entry["codewords"] for k, entry in result["formats"].items()}


# -- the Keras and 1-bit formats -----------------------------------------------------------------
def deployable_encoder(codec):
    """The encoder as deployed: ``codec.export_encoder()`` where the codec has one (binary FC
    as a plain ``Dense`` holding ``alpha sign(W)``), else the encoder itself."""
    export = getattr(codec, "export_encoder", None)
    return export() if callable(export) else codec.encoder


def has_binary_layers(codec) -> bool:
    """Whether the codec's encoder has 1-bit (:class:`~linksim.codecs.binary.BinaryDense`)
    layers."""
    from linksim.codecs.binary import binary_layers

    return bool(binary_layers(codec.encoder))


def _save_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        as_if_created_normally(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_binary_encoder(codec, path: str | os.PathLike) -> Path:
    """Write the encoder with 1-bit weights to ``path`` (``.npz``, uncompressed, no pickle).

    Entries: ``architecture`` (UTF-8 JSON of the deployable encoder, as uint8), and per layer
    with weights, by layer name: for a binary layer ``<name>.signs`` (``np.packbits`` of
    ``W >= 0`` over the C-order kernel, uint8, ``ceil(n m / 8)`` bytes), ``<name>.shape``
    (int64 ``[n, m]``), ``<name>.alpha`` (float32) and ``<name>.bias`` (float32 ``[m]``); for
    every other layer ``<name>.w0``, ``<name>.w1``, ... (float32, in ``get_weights`` order).

    Raises
    ------
    LinksimInputError
        The codec has no binary layer.
    """
    from linksim.codecs.binary import binary_layers

    binary = {layer.name: layer for layer in binary_layers(codec.encoder)}
    if not binary:
        raise LinksimInputError(f"{codec.name}: no binary layers; the 'binary' format applies "
                                "to binarised encoders (BCsiNet, BACRNet)")
    model = deployable_encoder(codec)
    arrays = {"architecture": np.frombuffer(model.to_json().encode(), np.uint8)}
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name in binary:
            alpha, signs = binary[layer.name].alpha_and_signs()
            arrays[f"{layer.name}.signs"] = np.packbits(signs.ravel() > 0)
            arrays[f"{layer.name}.shape"] = np.asarray(signs.shape, np.int64)
            arrays[f"{layer.name}.alpha"] = np.float32(alpha)
            if binary[layer.name].use_bias:
                arrays[f"{layer.name}.bias"] = np.asarray(weights[1], np.float32)
        else:
            for i, w in enumerate(weights):
                arrays[f"{layer.name}.w{i}"] = np.asarray(w, np.float32)
    path = Path(path)
    _save_npz_atomic(path, arrays)
    return path


def load_binary_encoder(path: str | os.PathLike):
    """Rebuild the Keras encoder from a file of :func:`save_binary_encoder`; its binary layers
    hold ``alpha sign(W)`` again (outputs equal the codec's encoder up to float rounding)."""
    import keras

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        model = keras.models.model_from_json(arrays["architecture"].tobytes().decode())
        for layer in model.layers:
            if f"{layer.name}.signs" in arrays:
                shape = tuple(int(s) for s in arrays[f"{layer.name}.shape"])
                bits = np.unpackbits(arrays[f"{layer.name}.signs"], count=int(np.prod(shape)))
                kernel = arrays[f"{layer.name}.alpha"] * np.where(bits, 1.0, -1.0).astype(
                    np.float32).reshape(shape)
                bias = [arrays[f"{layer.name}.bias"]] if f"{layer.name}.bias" in arrays else []
                layer.set_weights([kernel, *bias])
            elif f"{layer.name}.w0" in arrays:
                n = sum(1 for k in arrays if k.startswith(f"{layer.name}.w"))
                layer.set_weights([arrays[f"{layer.name}.w{i}"] for i in range(n)])
    except (OSError, ValueError, KeyError) as exc:
        raise LinksimInputError(f"{path}: not a linksim binary encoder file ({exc})") from exc
    return model


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


def _predict(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), np.float32)


# -- data and metrics ----------------------------------------------------------------------------
def nmse_db(x_n: np.ndarray, x_hat_n: np.ndarray, center: float) -> float:
    """NMSE [dB] of the CSI from normalised CSI ``[N, Na, Nt, 2]`` and its reconstruction:
    ``10 log10 mean_i ||x_i - x_hat_i||^2 / ||x_i||^2`` with ``x = x_n - center`` (the
    normaliser's zero CSI; see the module docstring for why this equals the NMSE of the
    un-normalised CSI)."""
    from linksim.metrics import nmse_per_sample, to_db

    return to_db(float(nmse_per_sample(x_n - center, x_hat_n - center).mean()))


def codeword_error_db(z: np.ndarray, z_ref: np.ndarray) -> float:
    """Error power of codewords ``z [N, M]`` relative to the reference's power [dB]."""
    from linksim.metrics import to_db

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


# -- the whole export ----------------------------------------------------------------------------
def parse_formats(text: str | None, codec) -> list[str]:
    """Formats from a comma-separated list; ``None``: every format that applies to the codec.

    Raises
    ------
    LinksimInputError
        Unknown format, empty list, or ``binary`` for a codec without binary layers.
    """
    if text is None:
        return [f for f in FORMATS if f != "binary" or has_binary_layers(codec)]
    formats = list(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    if not formats:
        raise LinksimInputError(f"--formats: empty list; choose from {', '.join(FORMATS)}")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise LinksimInputError(f"--formats: unknown format {bad[0]!r}; choose from "
                                f"{', '.join(FORMATS)}")
    if "binary" in formats and not has_binary_layers(codec):
        raise LinksimInputError(f"--formats: 'binary' needs a codec with binary layers (BCsiNet, "
                                f"BACRNet); {codec.name} has none")
    return formats


def _prepare_out_dir(out_dir: Path) -> Path:
    """Temporary folder beside ``out_dir``; refuses a non-empty ``out_dir`` that is not an
    earlier export (one with ``export.json``), which is replaced at the end."""
    if out_dir.exists() and (not out_dir.is_dir() or (
            any(out_dir.iterdir()) and not (out_dir / "export.json").is_file())):
        raise LinksimInputError(f"{out_dir}: exists and is not an earlier export; choose another "
                                "--out or remove it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial",
                                dir=out_dir.parent))
    as_if_created_normally(tmp)
    return tmp


def export_codec(model_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 formats: list[str] | str | None = None, data: str | os.PathLike | None = None,
                 calibration: str | os.PathLike | None = None, num_calibration: int = 200,
                 max_samples: int | None = None, latency_runs: int = 200,
                 echo=None) -> dict:
    """Export the encoder of a saved codec in every format and measure each.

    Parameters
    ----------
    model_dir : path
        A codec written by :meth:`linksim.codecs.Codec.save` (``RUN_DIR/models/<tag>``).
    out_dir : path
        Written atomically: the encoder files (:data:`FILES`), ``codec.json`` (the scale the UE
        normalises with), ``export.json`` and ``export.md`` (the table).
    formats : list or comma-separated str, optional
        Subset of :data:`FORMATS`; default every format that applies.
    data : path, optional
        Scenario (its test set) or ``.npy`` of normalised CSI: the end-to-end NMSE per format.
    calibration : path, optional
        Scenario (its training set) or ``.npy`` of normalised training CSI for ``tflite-int8``;
        default the training set of ``data`` when that is a scenario.
    num_calibration : int
        Calibration samples (the first ones).
    max_samples : int, optional
        Test samples (the first ones); default all.
    latency_runs : int
        Timed runs per latency (median reported).
    echo : callable, optional
        Progress lines.

    Returns
    -------
    dict
        The content of ``export.json``: codec, sources, versions, ``reference_nmse_db`` (the
        simulator's float Keras encoder) and ``rows``, one per format with ``format``, ``file``,
        ``size_bytes``, ``latency_ms`` and ``latency_min_ms`` (median and minimum), ``nmse_db``,
        ``delta_nmse_db`` (vs the reference), ``codeword_error_db`` (codeword error power vs
        the reference encoder's codewords; None when ``codewords_identical``).

    Raises
    ------
    LinksimInputError
        Not a saved codec, bad format list or data, missing calibration data for
        ``tflite-int8``, an output folder that is not an earlier export;
        :class:`TFLiteUnavailableError` without TensorFlow / LiteRT (with the install command).
    """
    from linksim.codecs.base import Codec

    echo = echo or (lambda msg: None)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    codec = Codec.load(model_dir)
    formats = parse_formats(formats if formats is None or isinstance(formats, str)
                            else ",".join(formats), codec)
    if "tflite-int8" in formats and calibration is None:
        if data is not None and Path(data).suffix.lower() in (".yaml", ".yml"):
            calibration = data
        else:
            raise LinksimInputError("--calibration: tflite-int8 needs normalised training CSI; "
                                    "give --calibration SCENARIO.yaml|CAL.npy (or --data "
                                    "SCENARIO.yaml)")
    if any(f in TFLITE_FORMATS for f in formats):
        require_tflite()
    x_test = None if data is None else load_csi(data, codec, "test", max_samples, model_dir)
    x_cal = None
    if "tflite-int8" in formats:
        x_cal = load_csi(calibration, codec, "train", num_calibration, model_dir)

    tmp = _prepare_out_dir(out_dir)
    try:
        report = _export_into(tmp, codec, formats, x_test, x_cal, latency_runs, echo)
        report.update({"model_dir": str(model_dir), "data": None if data is None else str(data),
                       "calibration": None if x_cal is None else str(calibration),
                       "n_calibration": 0 if x_cal is None else len(x_cal)})
        shutil.copy(model_dir / "codec.json", tmp / "codec.json")
        (tmp / "export.json").write_text(json.dumps(report, indent=2))
        (tmp / "export.md").write_text(markdown_table(report) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for row in report["rows"]:
        row["file"] = str(out_dir / Path(row["file"]).name)
    return report


def _export_into(folder: Path, codec, formats: list[str], x_test, x_cal, latency_runs: int,
                 echo) -> dict:
    """Write every format into ``folder`` and measure it (see :func:`export_codec`)."""
    import keras

    x1 = (x_test if x_test is not None else x_cal if x_cal is not None else
          np.full((1, *codec.input_shape), codec.center, np.float32))[:1]
    z_ref = None if x_test is None else codec.encode(x_test)
    ref_nmse = (None if x_test is None
                else nmse_db(x_test, codec.decode(z_ref), codec.center))
    codewords: dict[str, np.ndarray | None] = {}
    rows: dict[str, dict] = {}
    keras_file = folder / FILES["keras"]
    deployable = deployable_encoder(codec)
    deployable.save(keras_file)
    if "keras" in formats:
        echo(f"keras: {keras_file.name}")
        model = keras.models.load_model(keras_file, compile=False)
        median, fastest = keras_latency_ms(model, x1, latency_runs)
        rows["keras"] = {"latency_ms": median, "latency_min_ms": fastest}
        codewords["keras"] = None if x_test is None else _predict(model, x_test)
    if "binary" in formats:
        path = save_binary_encoder(codec, folder / FILES["binary"])
        echo(f"binary: {path.name}")
        model = load_binary_encoder(path)
        median, fastest = keras_latency_ms(model, x1, latency_runs)
        rows["binary"] = {"latency_ms": median, "latency_min_ms": fastest}
        codewords["binary"] = None if x_test is None else _predict(model, x_test)
    tflite = [f for f in formats if f in TFLITE_FORMATS]
    versions = package_versions(("linksim", "keras", "torch", "numpy"), missing=None)
    if tflite:
        echo(f"TensorFlow Lite ({', '.join(tflite)}) in a worker process ...")
        result = convert_tflite(keras_file, {f: folder / FILES[f] for f in tflite}, x_cal, x_test,
                                latency_runs=latency_runs)
        versions["tflite_worker"] = {**result["versions"],
                                     "keras_backend": result["keras_backend"]}
        for f, entry in result["formats"].items():
            rows[f] = {"latency_ms": entry["latency_ms"], "latency_min_ms": entry["latency_min_ms"],
                       "input_quantization": entry["input_quantization"],
                       "output_quantization": entry["output_quantization"]}
            codewords[f] = entry["codewords"]
    if "keras" not in formats:
        keras_file.unlink()
    out = []
    for f in formats:
        row = {"format": f, "file": FILES[f], "size_bytes": (folder / FILES[f]).stat().st_size,
               **rows[f], "nmse_db": None, "delta_nmse_db": None, "codeword_error_db": None,
               "codewords_identical": None}
        z = codewords.get(f)
        if z is not None:
            row["nmse_db"] = nmse_db(x_test, codec.decode(z), codec.center)
            row["delta_nmse_db"] = row["nmse_db"] - ref_nmse
            row["codewords_identical"] = bool(np.array_equal(z, z_ref))
            if not row["codewords_identical"]:
                row["codeword_error_db"] = codeword_error_db(z, z_ref)
        out.append(row)
    n_test = 0 if x_test is None else len(x_test)
    return {"codec": codec.name, "config": codec.config(),
            "codeword_length": codec.codeword_length, "n_test": n_test,
            "reference_nmse_db": ref_nmse,
            "latency": f"median (min) of {latency_runs} runs, one CSI, one thread "
                       "(keras/binary: Keras on PyTorch; tflite: LiteRT interpreter)",
            "versions": versions, "rows": out}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def codeword_error_text(row: dict) -> str:
    """The codeword error of a report row for a table: dB, ``exact`` or ``-`` (no test data)."""
    return "exact" if row.get("codewords_identical") else _fmt(row["codeword_error_db"], ".1f")


def markdown_table(report: dict) -> str:
    """The export report as a markdown table (one row per format), with a title line."""
    ref = report.get("reference_nmse_db")
    title = (f"{report['codec']} CR{report['config']['compression_ratio']} "
             f"(M = {report['codeword_length']}); float Keras encoder NMSE "
             f"{_fmt(ref, '.2f')} dB on {report.get('n_test', 0)} test CSI; latency: "
             f"{report['latency']}")
    header = ("| format | file | size [bytes] | latency [ms] median (min) | NMSE [dB] "
              "| ΔNMSE [dB] | codeword error [dB] |")
    lines = [title, "", header, "|---|---|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(f"| {r['format']} | {Path(r['file']).name} | {r['size_bytes']:,} | "
                     f"{r['latency_ms']:.3f} ({r['latency_min_ms']:.3f}) | "
                     f"{_fmt(r['nmse_db'], '.2f')} | "
                     f"{_fmt(r['delta_nmse_db'], '+.3f')} | "
                     f"{codeword_error_text(r)} |")
    return "\n".join(lines)
