"""Sionna's TR 38.901 UMa / UMi system-level models, one NLOS snapshot series at a time.

The low-level half of :mod:`linksim.channels.uma` (which draws whole data sets from a seed):

* :func:`make_uma_model` builds the model of a scenario (``"uma"`` or ``"umi"``) with the BS and
  UE arrays of :mod:`linksim.channels.antenna_arrays`;
* :func:`set_uma_topology` drops one outdoor UE per sample in one sector and forces NLOS;
* :func:`draw_uma_series` / :func:`draw_uma_batch` draw the path coefficients and delays, BS
  antennas in the port order of :func:`linksim.channels.antenna_arrays.bs_port_order` when
  given one;
* :func:`seeded_sionna_rng` and :func:`torch_threads` hold Sionna's generator and torch's
  thread count for a generation and restore them.

Every random number comes from Sionna's ``config.torch_rng(device)`` generator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from linksim.channels.antenna_arrays import BsPanel, make_bs_array, make_ue_array

from linksim.learning.device import sionna_device

#: Number of paths Sionna returns for NLOS, per scenario: UMa 20 clusters, UMi 19 clusters,
#: the 2 strongest of each split into 3 sub-clusters (TR 38.901 Table 7.5-6, step 11).
NUM_PATHS = {"uma": 24, "umi": 23}
#: Number of paths Sionna returns for UMa NLOS.
NUM_PATHS_NLOS = NUM_PATHS["uma"]
#: The scenarios and their Sionna model class names.
SCENARIOS = {"uma": "UMa", "umi": "UMi"}


def make_uma_model(
    num_bs_antennas: int,
    carrier_frequency_hz: float,
    *,
    antenna_pattern: str = "38.901",
    scenario: str = "uma",
    bs_panel: BsPanel | None = None,
    num_ue_antennas: int = 1,
    device: str | torch.device = "cpu",
):
    """Sionna UMa (or UMi) downlink model; by default a BS ULA of ``Nt`` V-polarised elements
    and a 1x1 omni UE.

    Path loss and shadow fading are disabled, the O2I model is "low" (unused: all UEs are
    outdoor).

    :param num_bs_antennas: Number of BS antennas ``Nt`` of the ULA (one row, half-wavelength
        spacing); ignored when ``bs_panel`` is given
    :param carrier_frequency_hz: Carrier frequency [Hz]
    :param antenna_pattern: BS element pattern, ``"38.901"`` or ``"omni"``
    :param scenario: ``"uma"`` or ``"umi"`` (TR 38.901 UMa / UMi street canyon)
    :param bs_panel: BS panel (:class:`~linksim.channels.antenna_arrays.BsPanel`), `None`: ULA
    :param num_ue_antennas: ``Nr``, 1 or even
        (:func:`~linksim.channels.antenna_arrays.make_ue_array`)
    :param device: Torch device (or its name)

    :output model: `sionna.phy.channel.tr38901.UMa` or ``UMi``.
    """
    from sionna.phy.channel import tr38901

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be 'uma' or 'umi', not {scenario!r}")
    device = sionna_device(device)
    bs = make_bs_array(num_bs_antennas, bs_panel, antenna_pattern, carrier_frequency_hz, device)
    ut = make_ue_array(num_ue_antennas, carrier_frequency_hz, device)
    return getattr(tr38901, SCENARIOS[scenario])(
        carrier_frequency=carrier_frequency_hz,
        o2i_model="low",
        ut_array=ut,
        bs_array=bs,
        direction="downlink",
        enable_pathloss=False,
        enable_shadow_fading=False,
        device=device,
    )


def set_uma_topology(
    model,
    batch_size: int,
    ue_speed_mps: tuple[float, float],
    *,
    ue_orientation: str = "random",
    scenario: str = "uma",
    device: str | torch.device = "cpu",
) -> None:
    """Drop ``batch_size`` outdoor UEs in one UMa (or UMi) sector and force NLOS.

    Draws from Sionna's ``config.torch_rng(device)`` (the same number of draws
    whatever ``ue_orientation``). Resets the model's topology first, so the
    batch size may change between calls.

    :param model: Model from :func:`make_uma_model`
    :param batch_size: Number of drops
    :param ue_speed_mps: (min, max) UE speed [m/s], drawn uniformly
    :param ue_orientation: ``"random"``: Sionna's drop, UE bearing, downtilt
        and slant uniform in [-90, 90) degrees (the UE's vertical element is
        then partly cross-polarised, mean power ~0.58 with omni elements);
        ``"upright"``: all three angles 0, UE element vertical
    :param scenario: ``"uma"`` or ``"umi"``: the scenario's BS height and UE distances
    :param device: Torch device (or its name)
    """
    from sionna.phy.channel import gen_single_sector_topology

    device = sionna_device(device)

    vmin, vmax = (float(v) for v in ue_speed_mps)
    topo = gen_single_sector_topology(
        int(batch_size),
        num_ut=1,
        scenario=scenario,
        indoor_probability=0.0,
        min_ut_velocity=vmin,
        max_ut_velocity=vmax,
        device=device,
    )
    ut_loc, bs_loc, ut_orient, bs_orient, ut_vel, in_state = topo
    if ue_orientation == "upright":
        ut_orient = torch.zeros_like(ut_orient)
    elif ue_orientation != "random":
        raise ValueError(f"ue_orientation must be 'random' or 'upright', not {ue_orientation!r}")
    model.reset_topology()
    model.set_topology(ut_loc, bs_loc, ut_orient, bs_orient, ut_vel, in_state, los=False)


def draw_uma_series(
    model, num_time_samples: int, sampling_frequency_hz: float,
    bs_ports: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIR time series of the model's current topology (TR 38.901 step 11 with mobility).

    Every drop keeps its large-scale parameters, clusters, ray angles and delays for the whole
    series; only the per-ray Doppler phase ``exp(j 2 pi (r_rx . v) t / lambda)`` evolves
    (TR 38.901 eq. 7.5-22). Snapshot ``t`` is taken at time ``t / sampling_frequency_hz``; the
    first one (``t = 0``) is :func:`draw_uma_batch`'s sample for the same generator state, up to
    float32 rounding (Sionna's reductions run over the longer time axis; ~2e-7 relative).

    :param model: Model with a topology set by :func:`set_uma_topology`
    :param num_time_samples: Number of snapshots ``T``
    :param sampling_frequency_hz: Snapshot rate [Hz] (1 / snapshot interval)
    :param bs_ports: [Nt] int, Sionna's BS element of each port
        (:func:`~linksim.channels.antenna_arrays.bs_port_order`); `None`: Sionna's order

    :output a: [B, T, Nt, P] (single-antenna UE) or [B, T, Nr, Nt, P] (``Nr > 1``),
        `torch.complex64`. Path coefficients.
    :output tau: [B, P], `torch.float32`. Path delays [s] (the same for every snapshot).
    """
    a, tau = model(num_time_samples=int(num_time_samples),
                   sampling_frequency=float(sampling_frequency_hz))
    # a: [B, num_rx=1, Nr, num_tx=1, Nt, P, T]; tau: [B, 1, 1, P]
    a = a[:, 0, :, 0]
    if bs_ports is not None:
        a = a[:, :, torch.as_tensor(bs_ports, device=a.device)]
    a = a.permute(0, 4, 1, 2, 3)  # [B, T, Nr, Nt, P]
    if a.shape[2] == 1:
        a = a[:, :, 0]
    return a, tau[:, 0, 0, :]


def draw_uma_batch(model, bs_ports: np.ndarray | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """One snapshot of the CIRs of the model's current topology.

    :param model: Model with a topology set by :func:`set_uma_topology`
    :param bs_ports: As for :func:`draw_uma_series`

    :output a: [B, Nt, P] or [B, Nr, Nt, P] (``Nr > 1``), `torch.complex64`. Path coefficients.
    :output tau: [B, P], `torch.float32`. Path delays [s].
    """
    a, tau = draw_uma_series(model, 1, 1.0, bs_ports)
    return a[:, 0], tau


@contextlib.contextmanager
def seeded_sionna_rng(device: str) -> Iterator[torch.Generator]:
    """Yield Sionna's generator for ``device``; restore its state on exit."""
    from sionna.phy import config

    gen = config.torch_rng(device)
    state = gen.get_state()
    try:
        yield gen
    finally:
        gen.set_state(state)


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (``None``: unchanged)."""
    if num_threads is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)
