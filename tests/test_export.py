"""UE deployment export (linksim.export, ``linksim export``): Keras, 1-bit and TFLite formats.

The TFLite tests need TensorFlow and LiteRT for the worker's interpreter (``pip install
linksim[tflite]``, or ``LINKSIM_TFLITE_PYTHON`` naming a Python that has them); without them
they are skipped. Everything else runs with the simulator's dependencies only.
"""

import json
import venv

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from linksim import _tflite_worker as worker
from linksim import export
from linksim.cli import main
from linksim.codecs import available_codecs
from linksim.codecs.binary import binary_layers
from linksim.errors import LinksimInputError
from linksim.phy.metrics import nmse_per_sample
from linksim.phy.transforms import Normalizer, real_to_complex, unit_power

NA = NT = 8
CR = 4


#: Fixed (delay row, angle bin) of the paths and their powers: one scatterer geometry, so the
#: CSI lies in a 12-dimensional subspace that a CR4 codec (M = 32) can learn in a few epochs.
PATHS = [(0, 1), (0, 5), (1, 2), (1, 6), (2, 3), (3, 0)]
POWERS = np.array([1.0, 0.6, 0.4, 0.3, 0.2, 0.1], np.float32)


def sparse_csi(rng, n):
    """Angular-delay CSI ``[n, 8, 8, 2]``: Rayleigh-faded gains on the fixed :data:`PATHS`."""
    x = np.zeros((n, NA, NT, 2), np.float32)
    gains = rng.standard_normal((n, len(PATHS), 2)).astype(np.float32)
    for k, (row, col) in enumerate(PATHS):
        x[:, row, col] = np.sqrt(POWERS[k] / 2) * gains[:, k]
    return x


def make_codec(name, rng, epochs=0):
    """A codec on 8 x 8 CSI with a fitted normaliser, trained for ``epochs`` on sparse CSI."""
    keras.utils.set_random_seed(7)
    codec = available_codecs()[name](CR, NA, NT)
    x = sparse_csi(rng, 300)
    codec.normalizer = Normalizer.fit(x, 4)
    if epochs:
        ae = codec.autoencoder()
        ae.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        xn = codec.normalizer.forward(x)
        ae.fit(xn, xn, epochs=epochs, batch_size=50, verbose=0)
    return codec


def invoke(*args):
    return CliRunner().invoke(main, ["export", *map(str, args)])


@pytest.fixture
def saved(tmp_path, rng):
    """``(codec, model dir, test .npy, calibration .npy)`` of a BCsiNet (binary FC)."""
    codec = make_codec("bcsinet", rng)
    model_dir = codec.save(tmp_path / "models" / "bcsinet_cr4_tiny")
    test, cal = tmp_path / "test.npy", tmp_path / "cal.npy"
    np.save(test, codec.normalizer.forward(sparse_csi(rng, 64)))
    np.save(cal, codec.normalizer.forward(sparse_csi(rng, 32)))
    return codec, model_dir, test, cal


@pytest.fixture
def no_tensorflow(tmp_path, monkeypatch):
    """The TFLite worker's interpreter is a bare Python (standard library only)."""
    env = tmp_path / "bare-venv"
    venv.create(env, with_pip=False, symlinks=True)
    monkeypatch.setenv(export.PYTHON_ENV, str(env / "bin" / "python"))


# -- the 1-bit file --------------------------------------------------------------------------
def test_binary_file_stores_one_bit_per_weight_and_rebuilds_the_encoder(tmp_path, rng):
    codec = make_codec("bcsinet", rng)
    path = export.save_binary_encoder(codec, tmp_path / "enc.npz")
    (layer,) = binary_layers(codec.encoder)
    n, m = layer.kernel.shape
    with np.load(path) as f:
        signs = f[f"{layer.name}.signs"]
        assert signs.dtype == np.uint8 and signs.size == -(-n * m // 8)  # 1 bit per weight
        assert f[f"{layer.name}.alpha"].dtype == np.float32
        assert f"{layer.name}.w0" not in f.files  # no float copy of the binary kernel
    rebuilt = export.load_binary_encoder(path)
    kernel = rebuilt.get_layer(layer.name).get_weights()[0]
    alpha, ref_signs = layer.alpha_and_signs()
    np.testing.assert_array_equal(np.sign(kernel), ref_signs)
    np.testing.assert_allclose(np.unique(np.abs(kernel)), [alpha], rtol=1e-6)
    x = codec.normalizer.forward(sparse_csi(rng, 16))
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), codec.encode(x), atol=1e-5)
    # The 1-bit kernel is 32x smaller than its float32 copy in the Keras file.
    assert path.stat().st_size + (31 / 32) * 4 * n * m < 1.1 * export_keras_size(codec, tmp_path)


def export_keras_size(codec, tmp_path):
    export.deployable_encoder(codec).save(tmp_path / "enc.keras")
    return (tmp_path / "enc.keras").stat().st_size


def test_binary_format_rejected_for_a_float_codec(tmp_path, rng):
    codec = make_codec("csinet", rng)
    with pytest.raises(LinksimInputError, match="binary"):
        export.save_binary_encoder(codec, tmp_path / "enc.npz")
    with pytest.raises(LinksimInputError, match="'binary' needs a codec with binary layers"):
        export.parse_formats("keras,binary", codec)


def test_default_formats_and_unknown_format(rng):
    assert "binary" not in export.parse_formats(None, make_codec("csinet", rng))
    assert export.parse_formats(None, make_codec("bcsinet", rng)) == list(export.FORMATS)
    assert export.parse_formats(None, make_codec("bacrnet", rng)) == [
        f for f in export.FORMATS if f != "tflite-int16x8"]  # PReLU: no 16x8 kernel
    with pytest.raises(LinksimInputError, match="unknown format 'onnx'"):
        export.parse_formats("keras,onnx", make_codec("csinet", rng))


# -- metrics and data ------------------------------------------------------------------------
def test_nmse_in_the_normalised_domain_equals_the_csi_nmse(rng):
    """Power normalisation and either normaliser are per-sample affine maps around a centre."""
    x = sparse_csi(rng, 50) * rng.uniform(0.1, 10, (50, 1, 1, 1)).astype(np.float32)
    x_hat = x + 0.3 * rng.standard_normal(x.shape).astype(np.float32)
    xu, gain = unit_power(x)
    norm = Normalizer.fit(xu, 4)
    xn, xn_hat = norm.forward(xu), norm.forward(x_hat / gain[:, None, None, None])
    ref = 10 * np.log10(nmse_per_sample(real_to_complex(x), real_to_complex(x_hat)).mean())
    assert export.nmse_db(xn, xn_hat, 0.5) == pytest.approx(ref, abs=1e-3)
    assert export.nmse_db(xn, np.full_like(xn, 0.5), 0.5) == pytest.approx(0.0, abs=1e-9)
    std = Normalizer.fit(xu, 1.0, "standard")  # the linear head's map, centred at 0
    assert export.nmse_db(std.forward(xu), std.forward(x_hat / gain[:, None, None, None]),
                          0.0) == pytest.approx(ref, abs=1e-3)


def test_npy_data_of_the_wrong_shape_names_the_file(tmp_path, rng):
    codec = make_codec("csinet", rng)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, NA, NT + 1, 2), np.float32))
    with pytest.raises(LinksimInputError, match=r"bad.npy: expected normalised CSI of shape"):
        export.load_csi(bad, codec, "test")


def test_int8_quantisation_of_the_io_tensors_is_within_half_a_step(rng):
    detail = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    x = rng.random((100, 4), dtype=np.float32)
    q = worker._to_input(x, detail)
    assert q.dtype == np.int8
    assert np.abs(worker._from_output(q, detail) - x).max() <= 0.5 / 255 + 1e-7
    assert worker._to_input(np.array([2.0, -1.0]), detail).tolist() == [127, -128]  # clipped


# -- Keras and binary export through the CLI (no TensorFlow) ---------------------------------
def test_cli_exports_keras_and_binary_with_nmse_next_to_the_float_encoder(saved, tmp_path):
    codec, model_dir, test, _ = saved
    out = tmp_path / "deploy"
    res = invoke(model_dir, "--out", out, "--formats", "keras,binary", "--data", test,
                 "--latency-runs", 5)
    assert res.exit_code == 0, res.output
    report = json.loads((out / "export.json").read_text())
    assert {p.name for p in out.iterdir()} == {
        "encoder.keras", "encoder_binary.npz", "codec.json", "export.json", "export.md"}
    x = np.load(test)
    ref = export.nmse_db(x, codec.decode(codec.encode(x)), codec.center)
    assert report["reference_nmse_db"] == pytest.approx(ref, abs=1e-4)
    for row in report["rows"]:
        assert row["size_bytes"] == (out / row["file"]).stat().st_size
        assert row["nmse_db"] == pytest.approx(ref, abs=1e-4)  # same function, float rounding
        assert row["codewords_identical"] or row["codeword_error_db"] < -100
        assert 0 < row["latency_min_ms"] <= row["latency_ms"]
    sizes = {r["format"]: r["size_bytes"] for r in report["rows"]}
    assert sizes["binary"] < sizes["keras"] / 2
    assert "| binary | encoder_binary.npz |" in res.output
    assert json.loads((out / "codec.json").read_text())["normalizer_scale"] == pytest.approx(
        codec.normalizer.scale)
    # A second export replaces the first; a folder that is not an export is refused.
    assert invoke(model_dir, "--out", out, "--formats", "keras", "--latency-runs", 2
                  ).exit_code == 0
    assert not (out / "encoder_binary.npz").exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep")
    res = invoke(model_dir, "--out", other, "--formats", "keras")
    assert res.exit_code == 2 and "not an earlier export" in res.output
    assert (other / "todo.txt").read_text() == "keep"


def test_cli_without_tensorflow_says_what_to_install_and_exits_2(saved, tmp_path, no_tensorflow):
    _, model_dir, test, cal = saved
    out = tmp_path / "deploy"
    res = invoke(model_dir, "--out", out, "--data", test, "--calibration", cal)
    assert res.exit_code == 2, res.output
    assert "pip install linksim[tflite]" in res.output and "tensorflow" in res.output
    assert "Traceback" not in res.output
    assert not out.exists() and not list(tmp_path.glob(".deploy*"))
    assert not export.tflite_available()


def test_cli_int8_without_calibration_and_bad_model_dir_exit_2(saved, tmp_path, no_tensorflow):
    _, model_dir, test, _ = saved
    res = invoke(model_dir, "--out", tmp_path / "d", "--formats", "tflite-int8", "--data", test)
    assert res.exit_code == 2 and "--calibration: tflite-int8 needs" in res.output
    res = invoke(tmp_path, "--out", tmp_path / "d")
    assert res.exit_code == 2 and "not a saved linksim codec" in res.output


def test_int16x8_only_for_encoders_without_prelu(rng, tmp_path):
    """TFLite's 16x8 mode has no PReLU kernel (TensorFlow 2.20: "Quantization to 16x8-bit not
    yet supported for op: 'PRELU'"): ACRNet's encoder does not get the format by default, and
    asking for it exits 2 naming --formats before any work; CsiNet gets it."""
    acrnet = make_codec("acrnet", rng)
    from linksim.export.formats import int16x8_blocker

    assert int16x8_blocker(acrnet) == "PReLU"
    assert "tflite-int16x8" not in export.formats.parse_formats(None, acrnet)
    assert "tflite-int16x8" in export.formats.parse_formats(None, make_codec("csinet", rng))
    model_dir = acrnet.save(tmp_path / "models" / "acrnet_cr4_tiny")
    res = invoke(model_dir, "--out", tmp_path / "d", "--formats", "tflite-int16x8")
    assert res.exit_code == 2 and "--formats: 'tflite-int16x8' cannot quantise" in res.output
    assert not (tmp_path / "d").exists()


# -- TensorFlow Lite (needs the tflite extra) ------------------------------------------------
needs_tflite = pytest.mark.skipif(
    not export.tflite_available(),
    reason=f"TensorFlow / LiteRT not installed for the TFLite worker ({export.INSTALL_HINT})")


@pytest.fixture(scope="module")
def tflite_export(tmp_path_factory):
    """One export of a briefly trained CsiNet in every format, through the CLI."""
    tmp = tmp_path_factory.mktemp("tflite")
    rng = np.random.default_rng(5)
    codec = make_codec("csinet", rng, epochs=8)
    model_dir = codec.save(tmp / "model")
    test, cal = tmp / "test.npy", tmp / "cal.npy"
    np.save(test, codec.normalizer.forward(sparse_csi(rng, 200)))
    np.save(cal, codec.normalizer.forward(sparse_csi(rng, 100)))
    res = invoke(model_dir, "--out", tmp / "deploy", "--data", test, "--calibration", cal,
                 "--latency-runs", 20)
    assert res.exit_code == 0, res.output
    report = json.loads((tmp / "deploy" / "export.json").read_text())
    report["calibration_data"] = np.load(cal)
    return codec, np.load(test), tmp / "deploy", report


@needs_tflite
def test_tflite_files_sizes_and_backend(tflite_export):
    _, _, out, report = tflite_export
    rows = {r["format"]: r for r in report["rows"]}
    assert list(rows) == ["keras", "tflite-float", "tflite-dynamic-int8", "tflite-int8",
                          "tflite-int16x8"]
    assert report["versions"]["tflite_worker"]["keras_backend"] == "tensorflow"
    for f, row in rows.items():
        assert (out / export.FILES[f]).stat().st_size == row["size_bytes"]
        assert np.isfinite(row["latency_ms"]) and 0 < row["latency_min_ms"] <= row["latency_ms"]
    # int8 weights: a quarter of the float32 bytes, plus the graph (the FC is 4096 weights here).
    assert rows["tflite-dynamic-int8"]["size_bytes"] < 0.5 * rows["tflite-float"]["size_bytes"]
    assert rows["tflite-int8"]["size_bytes"] < 0.5 * rows["tflite-float"]["size_bytes"]
    assert rows["tflite-int16x8"]["size_bytes"] < 0.5 * rows["tflite-float"]["size_bytes"]
    # The int8 input grid spans the calibration range (with 0 inside) in 255 steps.
    cal = report["calibration_data"]
    scale, _ = rows["tflite-int8"]["input_quantization"]
    assert 255 * scale == pytest.approx(max(cal.max(), 0) - min(cal.min(), 0), rel=0.02)


def _grid(quantization):
    """``(step, lowest, highest)`` value of an int8 tensor with ``[scale, zero point]``."""
    scale, zero_point = quantization
    return scale, scale * (-128 - zero_point), scale * (127 - zero_point)


@needs_tflite
def test_tflite_codewords_match_the_keras_encoder_within_quantisation_tolerance(
        tflite_export):
    """Float TFLite is the same function (<= 1e-4).

    Full-integer int8, on the CSI inside the calibrated input range (outside it the UE's int8
    input clips, a real effect of calibration, covered by the overall bound): the output rounding
    alone is uniform in +-s/2 (RMS 0.29 s, s the output step); the rounding of the input and of
    the conv activations (steps ~range/255) and of the weights (max|w|/127) enters the FC layer,
    whose n = 2 Na Nt = 128 inputs add their independent errors (RMS ~ sqrt(n) |w|_rms s_h /
    sqrt(12)), a few output steps for trained weights: we allow 2 steps RMS and 6 at most
    (measured 0.9 and 3.0; 1.2 and 4.0 for another training run), and a codeword error 25 dB
    below its power over all samples (measured -30.3 dB). Dynamic-range int8 rounds the weights
    and, on the fly, each int8 kernel's input on its own range (no calibration, no clipping):
    <= -35 dB (measured -43.8 dB)."""
    codec, x, out, report = tflite_export
    rows = {r["format"]: r for r in report["rows"]}
    z_ref = codec.encode(x)
    codewords = export.run_tflite({f: out / export.FILES[f] for f in export.TFLITE_FORMATS}, x)
    np.testing.assert_allclose(codewords["tflite-float"], z_ref, atol=1e-4)
    assert rows["tflite-float"]["codeword_error_db"] < -100
    assert export.codeword_error_db(codewords["tflite-dynamic-int8"], z_ref) < -35

    step, z_lo, z_hi = _grid(rows["tflite-int8"]["output_quantization"])
    _, x_lo, x_hi = _grid(rows["tflite-int8"]["input_quantization"])
    inside = np.all((x >= x_lo) & (x <= x_hi), axis=(1, 2, 3))
    assert inside.mean() > 0.9
    err = codewords["tflite-int8"][inside] - np.clip(z_ref[inside], z_lo, z_hi)
    assert np.sqrt(np.mean(err ** 2)) <= 2 * step
    assert np.abs(err).max() <= 6 * step
    assert export.codeword_error_db(codewords["tflite-int8"], z_ref) < -25
    # The export's own interpreter run gave the same codewords.
    assert rows["tflite-int8"]["codeword_error_db"] == pytest.approx(
        export.codeword_error_db(codewords["tflite-int8"], z_ref), abs=1e-6)
    # 16x8: int16 activations and I/O (steps 256x finer), int8 weights: the weights' rounding
    # is what is left, far below int8's activation rounding
    e16 = export.codeword_error_db(codewords["tflite-int16x8"], z_ref)
    assert rows["tflite-int16x8"]["input_quantization"][0] < rows["tflite-int8"][
        "input_quantization"][0] / 100
    assert e16 < -30 and e16 < rows["tflite-int8"]["codeword_error_db"] - 5


@needs_tflite
def test_end_to_end_nmse_of_each_format_next_to_the_float_encoder(tflite_export):
    """The float TFLite encoder is the Keras one; int8 rounding of a codeword that already
    costs a few dB of NMSE moves it by well under 0.5 dB."""
    codec, x, _, report = tflite_export
    rows = {r["format"]: r for r in report["rows"]}
    ref = export.nmse_db(x, codec.decode(codec.encode(x)), codec.center)
    assert report["reference_nmse_db"] == pytest.approx(ref, abs=1e-4)
    assert ref < -1.5  # the codec learnt something: the deltas are not noise on 0 dB
    assert rows["keras"]["nmse_db"] == pytest.approx(ref, abs=1e-4)
    assert rows["tflite-float"]["nmse_db"] == pytest.approx(ref, abs=1e-3)
    assert abs(rows["tflite-dynamic-int8"]["delta_nmse_db"]) < 0.2
    assert abs(rows["tflite-int8"]["delta_nmse_db"]) < 0.5
    assert abs(rows["tflite-int16x8"]["delta_nmse_db"]) < 0.2


@pytest.mark.slow
def test_scenario_data_is_the_test_set_and_the_training_inputs(tmp_path, rng):
    """``--data SCENARIO``: the test split's true channels and the training split as in
    training, both prepared by the codec (power normalisation, its scale)."""
    from linksim.pipeline import codec_inputs, load_split
    from linksim.scenario import load_scenario
    from linksim.seeding import derive_seed
    from tests import scenarios

    path = scenarios.write(tmp_path)
    sc = load_scenario(path)
    codec = available_codecs()["csinet"](CR, 16, 16)
    codec.normalizer, codec.power_normalization = Normalizer(0.01), True
    model_dir = tmp_path / "models" / "csinet_cr4_uma_small"
    x = export.load_csi(path, codec, "test", max_samples=30, model_dir=model_dir)
    ds, _, _ = load_split(sc.datasets["uma_small"], "test",
                          derive_seed(sc.seed, "dataset", "uma_small", "test"), tmp_path / "cache")
    ref = codec.ue_prepare(codec_inputs(ds, 16, 50, None, None))[0][:30]
    np.testing.assert_allclose(x, ref, atol=1e-6)
    cal = export.load_csi(path, codec, "train", max_samples=10, model_dir=model_dir)
    assert cal.shape == (10, 16, 16, 2)
    # Unit-power CSI scaled by s: every sample has the same energy around 0.5.
    energy = np.sum((cal - 0.5) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(energy, energy[0], rtol=1e-4)
