"""linksim: link-level simulator for deep-learning CSI feedback in FDD massive MIMO.

The Keras backend is fixed here, before Keras is imported anywhere, so that a user never has
to export ``KERAS_BACKEND``. An explicit ``KERAS_BACKEND`` in the environment still wins.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
# With the optional TensorFlow extra installed, Keras imports TensorFlow lazily (for seeding);
# keep its C++ start-up banner out of the simulator's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
