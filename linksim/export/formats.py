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
