"""CSI codecs. Importing this package registers the built-in codecs."""

from linksim.codecs.acrnet import ACRNet, BACRNet  # noqa: F401
from linksim.codecs.base import Codec, available_codecs, get_codec_class, register_codec  # noqa: F401
from linksim.codecs.bcsinet import BCsiNet, BCsiNetA2, BCsiNetB3  # noqa: F401
from linksim.codecs.cllwcsinet import CLLWCsiNet  # noqa: F401
from linksim.codecs.crnet import CRNet  # noqa: F401
from linksim.codecs.csiinr import CsiInr  # noqa: F401
from linksim.codecs.csinet import CsiNet  # noqa: F401
