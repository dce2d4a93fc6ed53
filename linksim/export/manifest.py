"""The whole export: every format written into a new folder and measured, the manifest
(``export.json``) and its table (``export.md``); the folder replaces ``out_dir`` at the end."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from linksim.errors import LinksimInputError
from linksim.export.binary import load_binary_encoder, save_binary_encoder
from linksim.export.formats import (
    CALIBRATED_FORMATS,
    FILES,
    TFLITE_FORMATS,
    deployable_encoder,
    parse_formats,
)
from linksim.export.measure import (
    codeword_error_db,
    keras_codewords,
    keras_latency_ms,
    load_csi,
    nmse_db,
)
from linksim.export.worker import convert_tflite, require_tflite
from linksim.fsutil import atomic_directory
from linksim.versions import package_versions


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an ``out_dir`` that is a file, or a non-empty folder that is not an earlier export
    (one with ``export.json``); an earlier export is replaced at the end."""
    if out_dir.exists() and (not out_dir.is_dir() or (
            any(out_dir.iterdir()) and not (out_dir / "export.json").is_file())):
        raise LinksimInputError(f"{out_dir}: exists and is not an earlier export; choose another "
                                "--out or remove it")


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
        Scenario (its training set) or ``.npy`` of normalised training CSI for ``tflite-int8``
        and ``tflite-int16x8``;
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
    calibrated = [f for f in CALIBRATED_FORMATS if f in formats]
    if calibrated and calibration is None:
        if data is not None and Path(data).suffix.lower() in (".yaml", ".yml"):
            calibration = data
        else:
            raise LinksimInputError(f"--calibration: {calibrated[0]} needs normalised training "
                                    "CSI; "
                                    "give --calibration SCENARIO.yaml|CAL.npy (or --data "
                                    "SCENARIO.yaml)")
    if any(f in TFLITE_FORMATS for f in formats):
        require_tflite()
    x_test = None if data is None else load_csi(data, codec, "test", max_samples, model_dir)
    x_cal = None
    if calibrated:
        x_cal = load_csi(calibration, codec, "train", num_calibration, model_dir)

    _check_out_dir(out_dir)
    with atomic_directory(out_dir, suffix=".partial") as tmp:
        report = _export_into(tmp, codec, formats, x_test, x_cal, latency_runs, echo)
        report.update({"model_dir": str(model_dir), "data": None if data is None else str(data),
                       "calibration": None if x_cal is None else str(calibration),
                       "n_calibration": 0 if x_cal is None else len(x_cal)})
        shutil.copy(model_dir / "codec.json", tmp / "codec.json")
        (tmp / "export.json").write_text(json.dumps(report, indent=2))
        (tmp / "export.md").write_text(markdown_table(report) + "\n")
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
        codewords["keras"] = None if x_test is None else keras_codewords(model, x_test)
    if "binary" in formats:
        path = save_binary_encoder(codec, folder / FILES["binary"])
        echo(f"binary: {path.name}")
        model = load_binary_encoder(path)
        median, fastest = keras_latency_ms(model, x1, latency_runs)
        rows["binary"] = {"latency_ms": median, "latency_min_ms": fastest}
        codewords["binary"] = None if x_test is None else keras_codewords(model, x_test)
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
