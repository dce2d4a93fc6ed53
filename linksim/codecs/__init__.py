"""CSI codecs. Importing this package registers the built-in codecs."""

from linksim.codecs.base import (Codec, available_codecs, get_codec_class,  # noqa: F401
                                 register_codec)
from linksim.codecs.csinet import CsiNet  # noqa: F401
