"""The ``binary`` format: an encoder with 1-bit weights in one uncompressed ``.npz``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from linksim.errors import LinksimInputError
from linksim.export.formats import deployable_encoder
from linksim.fsutil import atomic_path


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
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
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

