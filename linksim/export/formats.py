"""The export formats: their names, file names, the encoder as deployed, and the choice of
formats for a codec (see :mod:`linksim.export` for what each format is)."""

from __future__ import annotations

from linksim.errors import LinksimInputError

FORMATS = ("keras", "tflite-float", "tflite-dynamic-int8", "tflite-int8", "tflite-int16x8",
           "binary")
TFLITE_FORMATS = ("tflite-float", "tflite-dynamic-int8", "tflite-int8", "tflite-int16x8")
#: The full-integer formats: their activation ranges are calibrated on training CSI.
CALIBRATED_FORMATS = ("tflite-int8", "tflite-int16x8")
FILES = {"keras": "encoder.keras", "tflite-float": "encoder_float32.tflite",
         "tflite-dynamic-int8": "encoder_dynamic_int8.tflite",
         "tflite-int8": "encoder_int8.tflite", "tflite-int16x8": "encoder_int16x8.tflite",
         "binary": "encoder_binary.npz"}


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


def int16x8_blocker(codec) -> str | None:
    """The class name of the first layer of the encoder that TFLite's 16x8 mode cannot quantise
    (PReLU: "Quantization to 16x8-bit not yet supported for op: 'PRELU'", TensorFlow 2.20;
    ACRNet and BACRNet), or ``None``. Nested models included. The encoder itself is read: its
    deployable form (:func:`deployable_encoder`) differs only in the binary FC, and building it
    would copy the model."""
    def walk(model):
        for layer in model.layers:
            if hasattr(layer, "layers"):
                found = walk(layer)
                if found:
                    return found
            elif "prelu" in type(layer).__name__.lower():
                return type(layer).__name__
        return None

    return walk(codec.encoder)


def _applies(fmt: str, codec) -> bool:
    if fmt == "binary":
        return has_binary_layers(codec)
    if fmt == "tflite-int16x8":
        return int16x8_blocker(codec) is None
    return True


def parse_formats(text: str | None, codec) -> list[str]:
    """Formats from a comma-separated list; ``None``: every format that applies to the codec
    (``binary`` only with binary layers, ``tflite-int16x8`` only without PReLU).

    Raises
    ------
    LinksimInputError
        Unknown format, empty list, ``binary`` for a codec without binary layers, or
        ``tflite-int16x8`` for an encoder with a layer that mode cannot quantise.
    """
    if text is None:
        return [f for f in FORMATS if _applies(f, codec)]
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
    blocker = int16x8_blocker(codec) if "tflite-int16x8" in formats else None
    if blocker:
        raise LinksimInputError(f"--formats: 'tflite-int16x8' cannot quantise {codec.name}'s "
                                f"{blocker} layers (TFLite's 16x8 mode has no "
                                "kernel for them); use tflite-int8 or tflite-dynamic-int8")
    return formats
