"""The simulator's side of the TFLite worker process (:mod:`linksim._tflite_worker`): which
interpreter runs it and how, whether it has TensorFlow and LiteRT, and one job per call (the
job JSON and the arrays as ``.npy`` files in a scratch folder, the result JSON and codewords
back)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from linksim.errors import LinksimInputError
from linksim.export.formats import CALIBRATED_FORMATS

#: What to install for the TFLite formats.
INSTALL_HINT = "pip install linksim[tflite]"
#: Environment variable naming the Python interpreter of the TFLite worker.
PYTHON_ENV = "LINKSIM_TFLITE_PYTHON"


class TFLiteUnavailableError(LinksimInputError):
    """TensorFlow or LiteRT is not installed for the TFLite worker (the message says what to
    install)."""


class ExportError(LinksimInputError):
    """The TFLite worker failed on this model (the message carries its last error line)."""


def worker_python() -> str:
    """Interpreter of the TFLite worker: ``$LINKSIM_TFLITE_PYTHON`` or the current one."""
    return os.environ.get(PYTHON_ENV) or sys.executable


def _worker_command(python: str, *args: str) -> list[str]:
    """Command running :mod:`linksim._tflite_worker` with *this* linksim package.

    The package is loaded from its folder by file location, so the worker's interpreter (another
    virtual environment, say) needs TensorFlow, LiteRT, Keras and numpy but not linksim itself,
    and no folder is put ahead of that interpreter's own packages.
    """
    package = Path(__file__).resolve().parents[1]
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
        Normalised training CSI, the representative data set of ``tflite-int8`` and
        ``tflite-int16x8`` (required for them).
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
    calibrated = [f for f in CALIBRATED_FORMATS if f in targets]
    if calibrated and calibration is None:
        raise LinksimInputError(f"{calibrated[0]} needs calibration data (normalised training "
                                "CSI)")
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

