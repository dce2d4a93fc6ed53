"""The model cache of the eigenvector codecs: a trained UE/NW pair is saved once and read back
by a rerun of the same study, instead of being trained again.

A pair is one ``.npz`` file in the run's model cache (``<cache>/models/``), named
``tr38843-<codec>-<bin>-<loss>-<training type>-<train sets>-<key>.npz``. The key
(:func:`pair_key`) is a SHA-256 of everything that determines the trained weights: the codec,
its input shape and codeword length, the loss, the training type, the fit settings (epochs,
batch, learning rate, seed, quantiser bits, and ``vq_dim`` for a vector quantiser only, so
that the keys of scalar-quantised pairs are those from before vector quantisation existed)
and a digest of the training eigenvectors
themselves (so the data set, the mix of Case 3 and the eigenvector settings are all in it).
The file holds the deployed encoder's and decoder's weights (NumPy arrays, so a GPU-trained
pair loads on a CPU), the vector quantiser's codebook (if any) and the loss histories; it is written atomically
(:func:`linksim.fsutil.atomic_path`). An unreadable file is removed and the pair trained again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from linksim.errors import LinksimInputError
from linksim.fsutil import atomic_path
from linksim.tr38843.codecs import EigenCodec
from linksim.tr38843.training import Deployed, FitSettings, VectorQuantiser

#: Version of the file layout and of what the key covers; part of the key.
MODEL_FORMAT = 1


def pair_key(codec: str, input_shape: tuple[int, ...], codeword_length: int, loss: str,
             training_type: str, settings: FitSettings, x: np.ndarray) -> str:
    """16 hex digits of SHA-256 over what determines a trained pair (module docstring);
    ``x [N, S, Nt, 2L]`` float32 are the training eigenvectors."""
    x = np.ascontiguousarray(x, np.float32)
    fit = dataclasses.asdict(settings)
    if fit.get("vq_dim") is None:  # scalar quantiser: the key as before vq_dim existed
        fit.pop("vq_dim", None)
    key = {"format": MODEL_FORMAT, "codec": codec, "input_shape": list(input_shape),
           "codeword_length": int(codeword_length), "loss": loss,
           "training_type": training_type, "settings": fit,
           "x": [list(x.shape), hashlib.sha256(x.tobytes()).hexdigest()]}
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def pair_path(model_dir: Path, codec: str, bin_name: str, loss: str, training_type: str,
              train: tuple[str, ...], key: str) -> Path:
    """The cache file of one pair in ``model_dir``."""
    return Path(model_dir) / (f"tr38843-{codec}-{bin_name}-{loss}-{training_type}-"
                              f"{'+'.join(train)}-{key}.npz")


def save_pair(path: Path, dep: Deployed) -> None:
    """Write the deployed pair's weights and loss histories to ``path`` (atomically)."""
    arrays = {f"enc_{i}": w for i, w in enumerate(dep.encoder.get_weights())}
    arrays |= {f"dec_{i}": w for i, w in enumerate(dep.decoder.get_weights())}
    meta = {"format": MODEL_FORMAT, "training_type": dep.training_type,
            "history": {k: [float(v) for v in h] for k, h in dep.history.items()}}
    if dep.quantiser is not None:
        arrays["codebook"] = dep.quantiser.codebook_array()
        meta["vq"] = {"bits": dep.quantiser.bits, "dim": dep.quantiser.dim}
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)


def load_pair(path: Path, make_codec: Callable[[int], EigenCodec]) -> Deployed | None:
    """The pair saved at ``path`` in a fresh codec of ``make_codec``, or ``None`` when there is
    no file. A file that cannot be read into the codec is removed (with a warning) and ``None``
    returned, so that the pair is trained again."""
    path = Path(path)
    if not path.is_file():
        return None
    codec = make_codec(0)
    try:
        with np.load(path) as f:
            meta = json.loads(str(f["meta"]))
            enc = [f[f"enc_{i}"] for i in range(len(codec.encoder.get_weights()))]
            dec = [f[f"dec_{i}"] for i in range(len(codec.decoder.get_weights()))]
            vq = (VectorQuantiser(meta["vq"]["bits"], meta["vq"]["dim"], f["codebook"])
                  if "vq" in meta else None)
        codec.encoder.set_weights(enc)
        codec.decoder.set_weights(dec)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError,
            LinksimInputError) as exc:
        path.unlink(missing_ok=True)
        warnings.warn(f"eigenvector codec cache entry {path} unreadable ({exc}); training it "
                      "again", stacklevel=2)
        return None
    return Deployed(meta["training_type"], codec.encoder, codec.decoder, codec, codec,
                    meta["history"], vq)
