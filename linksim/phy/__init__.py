"""The link's signal-processing stages, in the order a CSI report travels (one module per stage,
small pure functions on arrays; shapes, dtypes and units in every docstring).

========================  ====================================================================
:mod:`.estimation`        orthogonal pilots, AWGN and LS estimation at the UE
:mod:`.transforms`        space-frequency <-> truncated angular-delay; codec input normalisation
:mod:`.feedback`          the feedback link: quantisation, noise, bit errors, entropy coding
:mod:`.bits`              bit packing and scalar quantisers shared by the link and baselines
:mod:`.precoding`         BS precoding: MRT, subband eigen-beamforming
:mod:`.eigen`             per-subband eigenvector CSI of multi-antenna UEs
:mod:`.metrics`           NMSE, cosine similarity, SGCS, beamforming gain and rate
========================  ====================================================================

Orchestration (scenario, run, sweep, report, CLI) lives in :mod:`linksim`, learning (training,
the PyTorch engine, streaming, devices) in :mod:`linksim.learning`, deployment in
:mod:`linksim.export`.
"""
