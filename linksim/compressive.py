"""Old import path of :mod:`linksim.baselines.compressive`: the compressive-sensing baselines
live in :mod:`linksim.baselines`, one module per recovery."""

from linksim.baselines.compressive import *
