"""CSI codecs. Importing this package registers the built-in codecs."""

from linksim.codecs.base import Codec, available_codecs, get_codec_class, register_codec  # noqa: F401
from linksim.codecs.crnet import CRNet  # noqa: F401
from linksim.codecs.csinet import CsiNet  # noqa: F401
