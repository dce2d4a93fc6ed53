"""TensorFlow Lite conversion and LiteRT inference of a UE encoder, in a process of its own.

Run by :mod:`linksim.export.worker`, never imported by the simulator: it needs TensorFlow and LiteRT
(``pip install linksim[tflite]``) and Keras on its TensorFlow backend, while the simulator runs
Keras on PyTorch. Two entry points::

    python -m linksim._tflite_worker --probe      # JSON on stdout: missing modules, versions
    python -m linksim._tflite_worker JOB.json     # convert, run, time; writes the result JSON

The job (JSON) names

* ``keras_model``: the backend-portable ``encoder.keras``, ``[b, Na, Nt, 2] -> [b, M]``, or
  null to run existing ``.tflite`` files (then only LiteRT is used; any keys);
* ``targets``: ``{format: .tflite path}`` with formats ``tflite-float`` (float32),
  ``tflite-dynamic-int8`` (int8 weights, float activations) and ``tflite-int8`` (int8 weights and
  activations, int8 input and output tensors; calibrated on ``calibration``) and
  ``tflite-int16x8`` (int8 weights, int16 activations and input/output tensors, calibrated the
  same way);
* ``calibration``: ``.npy`` of normalised training CSI ``[N, Na, Nt, 2]`` float32 (the
  representative data set of ``tflite-int8`` and ``tflite-int16x8``), or null;
* ``inputs``: ``.npy`` of normalised CSI ``[N, Na, Nt, 2]`` to encode with every format, or
  null; ``outputs_dir``: where the codewords ``codewords<i>.npy`` ``[N, M]`` float32 go;
* ``latency_runs``, ``warmup_runs``: timed and untimed invocations on one CSI, one thread
  (``latency_runs: 0``: not timed);
* ``batch_size``: samples per interpreter call for ``inputs``; ``result``: the result JSON path.

The result maps each format to its file, size in bytes, median and minimum latency [ms] of
one invocation (``set_tensor``, ``invoke``, ``get_tensor``) on one CSI with ``num_threads=1``,
the codeword file, and the (scale, zero point) of the input and output tensors (``[0, 0]`` for
float).
The integer models' codewords are dequantised here: ``z = s (q - zp)``; their float input is
quantised as ``q = clip(round(x / s) + zp, qmin, qmax)`` of the tensor's integer type.

Exit codes: 0 done, 3 TensorFlow or LiteRT missing (stderr names them), anything else a failure
(the traceback is on stderr).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

from linksim.fsutil import write_bytes_atomic
from linksim.versions import package_versions

#: The modules the worker needs besides linksim's own dependencies.
REQUIRED_MODULES = ("tensorflow", "ai_edge_litert")
#: Distributions whose versions are reported.
DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "keras", "numpy")
#: Exit code for "TensorFlow or LiteRT is not installed".
EXIT_MISSING = 3
#: Prefix of the stderr line that names the missing modules.
MISSING_TAG = "linksim-tflite-missing:"
FORMATS = ("tflite-float", "tflite-dynamic-int8", "tflite-int8", "tflite-int16x8")


def missing_modules() -> list[str]:
    """Required modules that this interpreter cannot import (found by spec, not imported)."""
    return [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]


def convert(model, fmt: str, calibration=None) -> bytes:
    """TFLite flatbuffer of a Keras ``model`` in format ``fmt`` (see the module docstring)."""
    import numpy as np
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if fmt in ("tflite-dynamic-int8", "tflite-int8", "tflite-int16x8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if fmt in ("tflite-int8", "tflite-int16x8"):
        if calibration is None:
            raise ValueError(f"{fmt} needs calibration data")
        cal = np.asarray(calibration, np.float32)

        def representative():
            for i in range(len(cal)):
                yield [cal[i:i + 1]]

        converter.representative_dataset = representative
    if fmt == "tflite-int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if fmt == "tflite-int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
    return converter.convert()


def _quantization(detail) -> tuple[float, int]:
    scale, zero_point = detail["quantization"]
    return float(scale), int(zero_point)


def _to_input(x, detail):
    """Float CSI -> the input tensor's dtype (quantised for an int8 input)."""
    import numpy as np

    if detail["dtype"] == np.float32:
        return np.ascontiguousarray(x, np.float32)
    scale, zp = _quantization(detail)
    info = np.iinfo(detail["dtype"])
    q = np.clip(np.round(x / scale) + zp, info.min, info.max)
    return q.astype(detail["dtype"])


def _from_output(y, detail):
    """Output tensor -> float32 codewords (dequantised for an int8 output)."""
    import numpy as np

    if detail["dtype"] == np.float32:
        return np.asarray(y, np.float32)
    scale, zp = _quantization(detail)
    return (scale * (y.astype(np.float32) - zp)).astype(np.float32)


def interpreter(model_path: Path, num_threads: int = 1):
    """LiteRT interpreter of a ``.tflite`` file (default CPU kernels, XNNPACK included)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(model_path), num_threads=num_threads)


def run_batches(model_path: Path, x, batch_size: int):
    """Codewords ``[N, M]`` float32 of float CSI ``x [N, Na, Nt, 2]`` through the interpreter."""
    import numpy as np

    it = interpreter(model_path)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    outputs, shape = [], None
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        if shape != xb.shape:
            it.resize_tensor_input(inp["index"], list(xb.shape))
            it.allocate_tensors()
            shape = xb.shape
        it.set_tensor(inp["index"], _to_input(xb, inp))
        it.invoke()
        outputs.append(_from_output(it.get_tensor(out["index"]), out))
    return np.concatenate(outputs)


def latency_ms(model_path: Path, x1, runs: int, warmup: int) -> tuple[float, float]:
    """``(median, minimum)`` wall time [ms] of one invocation on one CSI ``x1 [1, Na, Nt, 2]``,
    one thread (the minimum is the robust figure on a CPU shared with other jobs)."""
    it = interpreter(model_path, num_threads=1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(inp["index"], list(x1.shape))
    it.allocate_tensors()
    q = _to_input(x1, inp)
    times = []
    for i in range(warmup + runs):
        t = time.perf_counter()
        it.set_tensor(inp["index"], q)
        it.invoke()
        it.get_tensor(out["index"])
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times), 1e3 * min(times)


def run_job(job: dict) -> dict:
    """Convert (if ``keras_model`` is set), run and time every target of ``job``; returns the
    result dict. Without ``keras_model`` the targets are existing ``.tflite`` files and only
    LiteRT is used."""
    import numpy as np

    calibration = np.load(job["calibration"]) if job.get("calibration") else None
    inputs = np.load(job["inputs"]) if job.get("inputs") else None
    result = {"versions": package_versions(DISTRIBUTIONS, missing=None), "keras_backend": None,
              "formats": {}}
    model = None
    if job.get("keras_model"):
        import keras
        import tensorflow as tf

        import linksim.codecs  # noqa: F401  (registers linksim's serialisable layers)

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        model = keras.models.load_model(job["keras_model"], compile=False)
        result["keras_backend"] = keras.backend.backend()
    for i, (fmt, target) in enumerate(job["targets"].items()):
        target = Path(target)
        if model is not None:
            if fmt not in FORMATS:
                raise ValueError(f"unknown TFLite format {fmt!r}")
            write_bytes_atomic(target, convert(model, fmt, calibration))
        it = interpreter(target)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        x1 = inputs if inputs is not None else calibration
        x1 = (np.full((1, *inp["shape"][1:]), 0.5, np.float32) if x1 is None
              else np.asarray(x1[:1], np.float32))
        runs = int(job.get("latency_runs", 200))
        median, fastest = (latency_ms(target, x1, runs, int(job.get("warmup_runs", 20)))
                           if runs > 0 else (None, None))
        entry = {"file": str(target), "size_bytes": target.stat().st_size,
                 "input_quantization": list(_quantization(inp)),
                 "output_quantization": list(_quantization(out)),
                 "latency_ms": median, "latency_min_ms": fastest, "outputs": None}
        if inputs is not None:
            path = Path(job["outputs_dir"]) / f"codewords{i}.npy"
            np.save(path, run_batches(target, inputs, int(job.get("batch_size", 256))))
            entry["outputs"] = str(path)
        result["formats"][fmt] = entry
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m linksim._tflite_worker (--probe | JOB.json)", file=sys.stderr)
        return 2
    missing = missing_modules()
    if argv[0] == "--probe":
        print(json.dumps({"missing": missing,
                          "versions": package_versions(DISTRIBUTIONS, missing=None)}))
        return 0
    if missing:
        print(f"{MISSING_TAG} {','.join(missing)}", file=sys.stderr)
        return EXIT_MISSING
    # Keras picks its backend at import: TensorFlow here, whatever the caller's environment says.
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != "tensorflow":
        raise RuntimeError("keras was imported before the worker chose the TensorFlow backend")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    job = json.loads(Path(argv[0]).read_text())
    result = run_job(job)
    write_bytes_atomic(Path(job["result"]), json.dumps(result, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
