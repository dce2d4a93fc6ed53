"""A complete small codec of one's own, used without editing linksim.

Name it in a scenario as ``docs.examples.my_codec:LinearCodec`` (the module must be importable:
run linksim from the directory that contains ``docs/``, or install your package), or publish it
in your package's ``linksim.codecs`` entry-point group to use a short name::

    [project.entry-points."linksim.codecs"]
    linear = "my_package.my_codec:LinearCodec"
"""

import keras
from keras import layers

from linksim.codecs import Codec


class LinearCodec(Codec):
    """A linear auto-encoder: flatten, FC to the codeword (UE); FC back, output head (BS).

    Options from the scenario (``codecs[i].options``) arrive as constructor keywords; here
    ``hidden`` is an optional width of an extra layer at the BS. ``output_head`` comes from
    ``preprocessing.output_head`` (linear by default, sigmoid paper-faithful): pass it on and end
    the decoder in ``self.output_activation``, so that the normaliser matches what the decoder
    can output. (A codec that does not take ``output_head`` keeps ``default_output_head``.)
    """

    name = "linear"

    def __init__(self, compression_ratio, num_rows=32, num_antennas=32, hidden: int = 0,
                 output_head=None):
        self.hidden = int(hidden)
        super().__init__(compression_ratio, num_rows, num_antennas, output_head)

    def config(self) -> dict:
        return {**super().config(), "hidden": self.hidden}

    def build_encoder(self) -> keras.Model:
        x = keras.Input(self.input_shape, name="csi")
        z = layers.Dense(self.codeword_length, name="fc")(layers.Flatten()(x))
        return keras.Model(x, z, name="linear_encoder")

    def build_decoder(self) -> keras.Model:
        z = keras.Input((self.codeword_length,), name="codeword")
        y = z
        if self.hidden:
            y = layers.Dense(self.hidden, activation="relu", name="hidden")(y)
        y = layers.Dense(2 * self.num_rows * self.num_antennas,
                         activation=self.output_activation)(y)
        return keras.Model(z, layers.Reshape(self.input_shape)(y), name="linear_decoder")
