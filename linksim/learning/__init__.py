"""Learning: how codecs are trained, separate from the link's stages (:mod:`linksim.phy`).

========================  ====================================================================
:mod:`.training`          ``Codec.fit``: losses, schedules, early stopping, the training log
:mod:`.torch_graph`       the PyTorch training engine (the Keras model's weights, one graph)
:mod:`.streaming`         training batches drawn on the fly from a channel store
:mod:`.device`            ``training.device``: auto / cpu / cuda[:N], and where tensors live
========================  ====================================================================
"""
