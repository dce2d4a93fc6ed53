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
* ``tflite-int16x8``: int8 weights with int16 activations and int16 input and output tensors
  (TFLite's 16x8 mode), calibrated the same way: integer-only kernels at about the size of
  int8, without int8's activation rounding: on CsiNet and CRNet trained to -15.3 / -18.7 dB,
  int8 activations cost 2.8 / 11.9 dB of NMSE and 16x8 0.02 / 0.10 dB, at about 20x int8's
  latency (0.4-0.5 ms a CSI on one thread: TFLite's 16x8 kernels are its reference ones;
  not for encoders with PReLU (ACRNet, BACRNet), which TFLite's 16x8 mode cannot quantise;
  docs/deployment.md);
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

from linksim.export.binary import load_binary_encoder, save_binary_encoder
from linksim.export.formats import (
    FILES,
    FORMATS,
    TFLITE_FORMATS,
    deployable_encoder,
    has_binary_layers,
    parse_formats,
)
from linksim.export.manifest import codeword_error_text, export_codec, markdown_table
from linksim.export.measure import codeword_error_db, keras_latency_ms, load_csi, nmse_db
from linksim.export.worker import (
    INSTALL_HINT,
    PYTHON_ENV,
    ExportError,
    TFLiteUnavailableError,
    convert_tflite,
    require_tflite,
    run_tflite,
    tflite_available,
    tflite_missing,
    worker_python,
)

__all__ = [
    "FILES", "FORMATS", "INSTALL_HINT", "PYTHON_ENV", "TFLITE_FORMATS", "ExportError",
    "TFLiteUnavailableError", "codeword_error_db", "codeword_error_text", "convert_tflite",
    "deployable_encoder", "export_codec", "has_binary_layers", "keras_latency_ms",
    "load_binary_encoder", "load_csi", "markdown_table", "nmse_db", "parse_formats",
    "require_tflite", "run_tflite", "save_binary_encoder", "tflite_available", "tflite_missing",
    "worker_python",
]
