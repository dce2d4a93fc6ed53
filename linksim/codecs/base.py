"""The codec interface: a UE encoder and a BS decoder (Keras models) and a registry by name.

A codec maps the normalised truncated angular-delay CSI ``x [b, Na, Nt, 2]`` (float32) to a
codeword ``z [b, M]`` at the UE and back at the BS. ``M = 2 Na Nt / CR``.

The decoder ends in an output head (``output_head``): ``"linear"`` (the default; the CSI is
standardised, centred at 0, nothing capped) or ``"sigmoid"`` (paper-faithful: the CsiNet [0, 1]
convention around 0.5, which can only output ``|x| <= s``). The head sets the normaliser's mode
(:class:`linksim.phy.transforms.Normalizer`) and :attr:`Codec.output_bounds`, from which the pipeline
computes the range floor (:meth:`Codec.range_floor_per_sample`).

To add a codec: subclass :class:`Codec`, implement :meth:`Codec.build_encoder` and
:meth:`Codec.build_decoder`, and decorate it with ``@register_codec("name")`` (or publish it in the
``linksim.codecs`` entry-point group of your own package).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import keras
import numpy as np

from linksim.errors import LinksimInputError
from linksim.fsutil import atomic_directory
from linksim.phy.transforms import SAMPLE_NORMALIZATIONS, Normalizer, sample_normalize

#: Decoder output heads: final activation, normaliser mode.
OUTPUT_HEADS = {"linear": ("linear", "standard"), "sigmoid": ("sigmoid", "unit_interval")}

_REGISTRY: dict[str, type[Codec]] = {}


def register_codec(name: str):
    """Class decorator: make a :class:`Codec` subclass available under ``name``."""

    def deco(cls: type[Codec]) -> type[Codec]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_entry_points() -> None:
    for ep in entry_points(group="linksim.codecs"):
        if ep.name not in _REGISTRY:
            _REGISTRY[ep.name] = ep.load()


def available_codecs() -> dict[str, type[Codec]]:
    """All registered codecs, built-in and from the ``linksim.codecs`` entry-point group."""
    import linksim.codecs  # noqa: F401  (registers the built-in codecs)

    _load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def import_codec_class(path: str) -> type[Codec]:
    """Import a codec class from ``"package.module:ClassName"`` (a codec outside linksim)."""
    module_name, _, attr = path.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise LinksimInputError(f"cannot import codec class {path!r} ({exc})") from exc
    if not (isinstance(obj, type) and issubclass(obj, Codec)):
        raise LinksimInputError(f"{path!r} is not a subclass of linksim.codecs.Codec")
    if "name" not in vars(obj):
        obj.name = obj.__name__.lower()  # the label in results and model directories
    return obj


def get_codec_class(name: str) -> type[Codec]:
    """Codec class by registry name or by ``"module:Class"`` path.

    Raises
    ------
    LinksimInputError
        Unknown name (the message lists the registered ones) or a path that does not import.
    """
    if ":" in name:
        return import_codec_class(name)
    codecs = available_codecs()
    if name not in codecs:
        raise LinksimInputError(
            f"unknown codec {name!r}; available: {', '.join(codecs)} "
            "(or give a class as 'package.module:ClassName')")
    return codecs[name]


def check_compression_ratio(cr: int, num_rows: int, num_antennas: int) -> int:
    """Codeword length ``M = 2 Na Nt / CR``; ``ValueError`` if CR does not divide ``2 Na Nt``."""
    total = 2 * num_rows * num_antennas
    if cr < 1 or total % cr:
        raise ValueError(
            f"compression ratio {cr} does not divide 2*Na*Nt = {total}")
    return total // cr



def load_keras_file(path: Path) -> keras.Model:
    """``keras.models.load_model(path, compile=False)`` with the file checked first: a missing
    file and a damaged one (not a ``.keras`` zip archive) are told apart (Keras reports both
    as "File not found").

    Raises
    ------
    ValueError
        The file is missing or is not a readable ``.keras`` archive (message names the path).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path.name} is missing")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path.name} is damaged (not a .keras zip archive)")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path.name} is damaged ({exc})") from exc

class Codec:
    """Base class of all CSI codecs.

    Parameters
    ----------
    compression_ratio : int
        ``CR = 2 Na Nt / M``.
    num_rows : int
        ``Na``, kept delay rows.
    num_antennas : int
        ``Nt``, BS antennas.
    output_head : "linear", "sigmoid" or None
        The decoder's final activation (None: :attr:`default_output_head`). Subclasses build
        their last layer with :attr:`output_activation` and pass this argument on.

    Attributes
    ----------
    encoder : keras.Model
        UE side, ``[b, Na, Nt, 2] -> [b, M]``.
    decoder : keras.Model
        BS side, ``[b, M] -> [b, Na, Nt, 2]`` (in :attr:`output_bounds`).
    normalizer : Normalizer or None
        Input scaling fitted on the training set, saved with the codec.
    sample_normalization : str
        Per-sample scaling at the UE, ``"none"``, ``"power"`` or ``"peak"``
        (:func:`linksim.phy.transforms.sample_normalize`); its gain is fed back (32 bits).
    """

    name = "codec"
    #: Output head of a codec built without ``output_head``.
    default_output_head = "linear"

    def __init__(self, compression_ratio: int, num_rows: int = 32, num_antennas: int = 32,
                 output_head: str | None = None):
        self.compression_ratio = int(compression_ratio)
        self.num_rows = int(num_rows)
        self.num_antennas = int(num_antennas)
        self.output_head = self.default_output_head if output_head is None else str(output_head)
        if self.output_head not in OUTPUT_HEADS:
            raise LinksimInputError(f"output_head must be one of {', '.join(OUTPUT_HEADS)}, "
                                    f"got {output_head!r}")
        self.codeword_length = check_compression_ratio(
            self.compression_ratio, self.num_rows, self.num_antennas)
        self.normalizer: Normalizer | None = None
        self.sample_normalization = "none"
        self.history: list[dict] = []
        self.encoder = self.build_encoder()
        self.decoder = self.build_decoder()

    # -- architecture -------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.num_rows, self.num_antennas, 2)

    @property
    def output_activation(self) -> str:
        """Keras name of the decoder's final activation (``"linear"`` or ``"sigmoid"``)."""
        return OUTPUT_HEADS[self.output_head][0]

    @property
    def normalizer_mode(self) -> str:
        """The :class:`~linksim.phy.transforms.Normalizer` mode that matches the output head."""
        return OUTPUT_HEADS[self.output_head][1]

    @property
    def center(self) -> float:
        """The normalised zero CSI: 0.5 with the sigmoid head, 0 with the linear head."""
        return 0.5 if self.normalizer_mode == "unit_interval" else 0.0

    @property
    def output_bounds(self) -> tuple[float, float]:
        """The decoder's output range in the normalised domain: ``(0, 1)`` for a sigmoid,
        unbounded for a linear head. Override for another head."""
        return (0.0, 1.0) if self.output_head == "sigmoid" else (-np.inf, np.inf)

    def build_encoder(self) -> keras.Model:
        raise NotImplementedError

    def build_decoder(self) -> keras.Model:
        raise NotImplementedError

    def autoencoder(self, link=None) -> keras.Model:
        """End-to-end model ``decoder(link(encoder(x)))`` used for training, ``[b, Na, Nt, 2]``.

        ``link`` is an optional Keras layer ``[b, M] -> [b, M]`` modelling the feedback link in
        training (a straight-through quantiser, codeword noise); ``None`` is the ideal link.
        """
        x = keras.Input(self.input_shape, name="csi")
        z = self.encoder(x)
        if link is not None:
            z = link(z)
        return keras.Model(x, self.decoder(z), name=f"{self.name}_autoencoder")

    def config(self) -> dict:
        """Constructor arguments; ``type(self)(**config)`` rebuilds the architecture."""
        config = {"compression_ratio": self.compression_ratio, "num_rows": self.num_rows,
                  "num_antennas": self.num_antennas}
        if self.accepts_output_head():
            config["output_head"] = self.output_head
        return config

    @classmethod
    def accepts_output_head(cls) -> bool:
        """Whether the constructor takes ``output_head`` (built-in codecs do; a plug-in that
        does not keeps its own head, and its range floor shows what that costs)."""
        params = inspect.signature(cls.__init__).parameters
        return "output_head" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    # -- complexity ---------------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        """Number of parameters (trainable and not) at the UE and at the BS."""
        return {"ue_params": int(self.encoder.count_params()),
                "bs_params": int(self.decoder.count_params())}

    # -- training -----------------------------------------------------------------------------
    def fit(self, x_train: np.ndarray, x_val: np.ndarray, settings, progress: bool = True,
            train_link=None) -> list[dict]:
        """Train on normalised CSI ``[N, Na, Nt, 2]``; keeps the best-on-validation weights.

        The default trains :meth:`autoencoder` end to end with Adam on MSE
        (:func:`linksim.learning.training.train_codec`); ``train_link`` is an optional Keras layer put
        between encoder and decoder during training (quantisation-aware or noisy feedback).
        Codecs that learn differently (e.g. meta-learning) override this.
        """
        from linksim.learning.training import train_codec

        return train_codec(self, x_train, x_val, settings, progress=progress,
                           train_link=train_link)

    # -- inference ----------------------------------------------------------------------------
    def encode(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """UE: normalised CSI ``[b, Na, Nt, 2]`` -> codewords ``[b, M]`` float32."""
        return np.asarray(self.encoder.predict(x, batch_size=batch_size, verbose=0), np.float32)

    def decode(self, z: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """BS: codewords ``[b, M]`` -> normalised CSI ``[b, Na, Nt, 2]`` float32."""
        return np.asarray(self.decoder.predict(z, batch_size=batch_size, verbose=0), np.float32)

    # -- the codec's view of the CSI ---------------------------------------------------------------
    @property
    def power_normalization(self) -> bool:
        """Whether a per-sample gain is fed back (any :attr:`sample_normalization` but none)."""
        return self.sample_normalization != "none"

    @power_normalization.setter
    def power_normalization(self, on: bool) -> None:
        self.sample_normalization = "power" if on else "none"

    def side_info_bits(self) -> int:
        """Bits sent besides the codeword: 32 for the per-sample gain (norm or peak)."""
        return 32 if self.sample_normalization != "none" else 0

    def ue_prepare(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UE: real CSI ``[b, Na, Nt, 2]`` -> (normalised input, per-sample gain ``[b]``)."""
        if self.normalizer is None:
            raise RuntimeError(f"{self.name}: no normaliser; train or load the codec first")
        x, gain = sample_normalize(x, self.sample_normalization)
        return self.normalizer.forward(x), gain

    def bs_restore(self, x_n: np.ndarray, gain: np.ndarray) -> np.ndarray:
        """BS: decoder output ``[b, Na, Nt, 2]`` -> real CSI, undoing the scalings."""
        return self.normalizer.inverse(x_n) * gain[:, None, None, None]

    def range_floor_per_sample(self, x: np.ndarray) -> np.ndarray:
        """What the input/output mapping alone costs: per-sample NMSE (linear) ``[b]`` float64
        of ``x [b, Na, Nt, 2]`` sent through :meth:`ue_prepare`, clamped to
        :attr:`output_bounds` (the best a decoder with this head can output) and restored by
        :meth:`bs_restore`. With a linear head only float32 rounding remains (~-140 dB)."""
        x = np.asarray(x, np.float32)
        x_n, gain = self.ue_prepare(x)
        lo, hi = self.output_bounds
        x_hat = self.bs_restore(np.clip(x_n, lo, hi), gain)
        err = np.sum((x_hat.astype(np.float64) - x) ** 2, axis=(1, 2, 3))
        ref = np.sum(x.astype(np.float64) ** 2, axis=(1, 2, 3))
        return err / np.where(ref > 0, ref, 1.0)

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike, extra_files: dict[str, str] | None = None
             ) -> Path:
        """Write ``codec.json``, ``encoder.keras`` and ``decoder.keras`` (and ``extra_files``,
        name -> text, such as the training history) atomically to ``directory``: everything is
        written under a temporary name first, so the directory appears complete or not at all."""
        directory = Path(directory)
        with atomic_directory(directory) as tmp:
            self.save_models(tmp)
            meta = {"name": self.name, "config": self.config(),
                    "class_path": f"{type(self).__module__}:{type(self).__qualname__}",
                    "normalizer_scale": None if self.normalizer is None else self.normalizer.scale,
                    "normalizer_mode": None if self.normalizer is None else self.normalizer.mode,
                    "sample_normalization": self.sample_normalization,
                    "codeword_length": self.codeword_length,
                    "weights_blake2b": self.weights_digest()}
            (tmp / "codec.json").write_text(json.dumps(meta, indent=2))
            for name, text in (extra_files or {}).items():
                (tmp / name).write_text(text)
        return directory

    def weights_digest(self) -> str:
        """BLAKE2b (128-bit, hex) of every weight array of the encoder and decoder, in order,
        with its shape and dtype: stored in ``codec.json`` by :meth:`save` and checked by
        :meth:`load`, so altered weights in a readable ``.keras`` file are refused."""
        h = hashlib.blake2b(digest_size=16)
        for model in (getattr(self, "encoder", None), getattr(self, "decoder", None)):
            for w in [] if model is None else model.weights:
                a = np.ascontiguousarray(keras.ops.convert_to_numpy(w))
                h.update(f"{a.shape}{a.dtype.str}".encode())
                h.update(a.tobytes())
        return h.hexdigest()

    def save_models(self, directory: Path) -> None:
        """Write the Keras models into ``directory`` (a fresh temporary directory of
        :meth:`save`); codecs whose models share layers override this and :meth:`load_models`."""
        self.encoder.save(directory / "encoder.keras")
        self.decoder.save(directory / "decoder.keras")

    def load_models(self, directory: Path) -> None:
        """Read the Keras models written by :meth:`save_models` into this codec."""
        self.encoder = load_keras_file(directory / "encoder.keras")
        self.decoder = load_keras_file(directory / "decoder.keras")

    @staticmethod
    def load(directory: str | os.PathLike) -> Codec:
        """Load a codec written by :meth:`save` (any registered codec class)."""
        directory = Path(directory)
        meta_file = directory / "codec.json"
        if not meta_file.is_file():
            raise LinksimInputError(f"{meta_file}: not found; not a saved linksim codec")
        try:
            meta = json.loads(meta_file.read_text())
            cls = available_codecs().get(meta["name"]) or import_codec_class(meta["class_path"])
            config = dict(meta["config"])
            if "output_head" not in config and cls.accepts_output_head():
                config["output_head"] = "sigmoid"  # saved before heads existed: all sigmoid
            codec = cls(**config)
            codec.load_models(directory)
            if meta.get("normalizer_scale") is not None:
                codec.normalizer = Normalizer(float(meta["normalizer_scale"]),
                                              meta.get("normalizer_mode") or "unit_interval")
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise LinksimInputError(f"{directory}: cannot load codec ({exc})") from exc
        want = meta.get("weights_blake2b")  # absent in codecs saved before 2026-12-04
        if want is not None and codec.weights_digest() != want:
            raise LinksimInputError(f"{directory}: the weights do not match the checksum in "
                                    "codec.json (the .keras files were changed or damaged)")
        how = meta.get("sample_normalization")
        if how is None:  # saved before the option existed
            how = "power" if meta.get("power_normalization") else "none"
        if how not in SAMPLE_NORMALIZATIONS:
            raise LinksimInputError(f"{meta_file}: unknown sample_normalization {how!r}")
        codec.sample_normalization = how
        return codec
