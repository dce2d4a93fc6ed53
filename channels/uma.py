"""3GPP TR 38.901 UMa NLOS channel impulse responses through Sionna (PyTorch).

This module is the only place in the project that imports Sionna. It turns
Sionna's system-level UMa model into plain NumPy arrays:

* :func:`generate_uma_cir` draws ``n`` single-sector downlink drops (one BS with a
  horizontal ULA of ``Nt`` half-wavelength-spaced, vertically polarised elements,
  one single-antenna UE, NLOS forced for every link, no path loss, no shadow
  fading) and returns the path coefficients and path delays.
* :func:`generate_uma_series` draws the same drops observed at ``T`` instants
  ``dt`` apart (moving UE): the "QuaDRiGa-like" snapshot series of the
  CLLWCsiNet setting (TR 38.901 time evolution: per-ray Doppler phases only).
* :func:`frequency_response` evaluates the channel on a set of baseband
  subcarrier frequencies by one batched complex matrix product (much faster on
  the CPU than Sionna's ``cir_to_ofdm_channel``).
* :func:`subcarrier_frequencies` reproduces Sionna's subcarrier grid.
* :func:`validity_notes` lists the TR 38.901 validity caveats for a carrier
  frequency (and bandwidth), for the run manifest.

Facts checked against Sionna 2.2.0 (see ``tests/test_uma.py``):

* ``a`` from Sionna is [B, 1, 1, 1, Nt, P, T] with ``P = 24`` for UMa NLOS
  (20 clusters, the two strongest split into three sub-clusters each); ``tau``
  is [B, 1, 1, P].
* Delays are normalised by Sionna as in TR 38.901 step 5: ``tau[:, 0] == 0``,
  all delays are >= 0 and the paths come sorted by increasing delay. The two
  strongest clusters' sub-clusters sit at +1.28 and +2.56 times the cluster
  delay spread (1.6 ns at 28 GHz). About 2 % of the paths have zero power
  (clusters more than 25 dB below the strongest are zeroed, their delays kept;
  such padding delays can reach tens of microseconds). With the default
  settings at 28 GHz the power-weighted RMS delay spread has median ~170 ns
  (10-90 %: ~50-600 ns); powered paths reach ~27 us in rare drops.
* Cluster powers are normalised to sum to one and path loss and shadow fading
  are disabled, but the element patterns and polarisation enter the
  coefficients. Mean per-element power ``E|H|^2`` measured at 28 GHz:
  1.0 with ``antenna_pattern="omni"`` and ``ue_orientation="upright"``;
  0.58 with omni and Sionna's random UE orientation (the UE's vertical
  element is randomly tilted, so part of the power lands in the
  cross-polarised terms, which are attenuated by the XPR); ~1.8 (+2.6 dB)
  with the default ``"38.901"`` BS pattern (8 dBi boresight, BS pointed at
  the sector centre) and random UE orientation; 3.1 with ``"38.901"`` and an
  upright UE. Normalise downstream if unit power is needed.
* The per-sample power fluctuates (the 20 rays of a cluster add with random
  phases); only the mean over drops has the values above.

Reproducibility: every random number used here comes from Sionna's
``config.torch_rng(device)`` generator, which this module re-seeds for every
generation batch from ``numpy.random.SeedSequence(seed, spawn_key=(i,))``
(``i`` = batch index) and restores afterwards. Topology generation
(``gen_single_sector_topology``) and the LSP, ray and coefficient samplers all
use that generator; nothing draws from NumPy's or torch's global RNG. Because
Sionna draws every random tensor for a whole batch at once, a sample depends on
the batch it was drawn in: the output is a deterministic function of
``(seed, batch_size, num_bs_antennas, carrier_frequency_hz, ue_speed_mps,
antenna_pattern, ue_orientation, device)`` (same machine and software
versions; one and two torch threads were checked to give bit-identical
results) and the first ``n`` samples do not depend on ``n``
(full batches are always drawn and the surplus discarded). ``batch_size`` is
therefore part of any cache key.

Device: every function runs on the CPU unless given ``device`` (a torch device or its name;
``"cuda"`` is the current CUDA device). On a GPU the draws come from CUDA's generator, which
gives other numbers than the CPU's for the same seed: the channels are other (equally
distributed) samples, so a cache of generated channels must tell the two apart.
:func:`frequency_response` has no random draws: the same result on any device up to float32
rounding.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from linksim.channels.cir import (
    frequency_response,
    rms_delay_spread,
    subcarrier_frequencies,
)
from tqdm.auto import tqdm

from linksim.learning.device import sionna_device

__all__ = [
    "NUM_PATHS_NLOS",
    "batch_seed",
    "draw_uma_batch",
    "draw_uma_series",
    "frequency_response",
    "generate_uma_cir",
    "generate_uma_series",
    "make_uma_model",
    "rms_delay_spread",
    "set_uma_topology",
    "subcarrier_frequencies",
    "validity_notes",
]

#: Number of paths Sionna returns for UMa NLOS: 20 clusters, the 2 strongest
#: split into 3 sub-clusters each.
NUM_PATHS_NLOS = 24

_LSP_FLOOR_HZ = 6e9  # TR 38.901 Table 7.5-6 note: UMa LSPs use fc = 6 GHz below 6 GHz
_VALID_MIN_HZ = 0.5e9  # TR 38.901 validity range 0.5 - 100 GHz
_VALID_MAX_HZ = 100e9


def validity_notes(carrier_frequency_hz: float, bandwidth_hz: float | None = None) -> list[str]:
    """TR 38.901 validity caveats for a UMa carrier frequency (and bandwidth).

    Below 6 GHz the UMa large-scale parameters (delay and angle spreads, cluster ZOD offset) are
    computed with fc = 6 GHz (TR 38.901 Table 7.5-6 note, followed by Sionna's
    ``clip_carrier_frequency_lsp``). Below 0.5 GHz TR 38.901 does not apply at all; Sionna has no
    check and treats such a carrier like any carrier below 6 GHz: 6 GHz statistics, with the
    wavelength (element spacing in metres), the Doppler shifts and the path loss (disabled here)
    following the actual carrier.

    :param carrier_frequency_hz: Carrier frequency [Hz]
    :param bandwidth_hz: Simulated bandwidth ``Nc x subcarrier spacing`` [Hz]; `None` skips
        the bandwidth check (TR 38.901 models bandwidths up to 10 % of the centre frequency,
        at most 2 GHz)

    :output notes: `list` of `str`. Human-readable caveats, empty if the
        frequency (and bandwidth) is in the range where the UMa parameters apply
        as such (6 GHz to 100 GHz).
    """
    fc = float(carrier_frequency_hz)
    notes = []
    if fc < _VALID_MIN_HZ:
        notes.append(
            f"carrier {fc / 1e9:g} GHz is below the 0.5 GHz lower limit of TR 38.901 "
            "(0.5-100 GHz); Sionna accepts it silently and, as for any carrier below 6 GHz, "
            "draws the large-scale parameters at 6 GHz: the model is used outside its "
            "validity range (only wavelength, Doppler and path loss scale to the carrier)"
        )
    if fc < _LSP_FLOOR_HZ:
        notes.append(
            f"carrier {fc / 1e9:g} GHz is below 6 GHz: TR 38.901 UMa computes the "
            "large-scale parameters (delay/angle spreads) with fc = 6 GHz, so only "
            "wavelength, Doppler and path loss follow the actual carrier"
        )
    if fc > _VALID_MAX_HZ:
        notes.append(f"carrier {fc / 1e9:g} GHz is above the 100 GHz upper limit of TR 38.901")
    if bandwidth_hz is not None and float(bandwidth_hz) > min(0.1 * fc, 2e9):
        notes.append(
            f"bandwidth {float(bandwidth_hz) / 1e6:g} MHz exceeds the TR 38.901 limit of "
            f"10 % of the carrier (at most 2 GHz): {min(0.1 * fc, 2e9) / 1e6:g} MHz here"
        )
    return notes


def batch_seed(seed: int, batch_index: int) -> int:
    """64-bit seed of generation batch ``batch_index`` for the user seed ``seed``.

    Derived with ``numpy.random.SeedSequence(seed, spawn_key=(batch_index,))``,
    i.e. the ``batch_index``-th child of ``SeedSequence(seed).spawn(...)``.

    :param seed: Non-negative user seed
    :param batch_index: Index of the generation batch

    :output seed: `int` in ``[0, 2**64)``.
    """
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(batch_index),))
    lo, hi = ss.generate_state(2, dtype=np.uint32)
    return int(lo) | (int(hi) << 32)


def make_uma_model(
    num_bs_antennas: int,
    carrier_frequency_hz: float,
    *,
    antenna_pattern: str = "38.901",
    device: str | torch.device = "cpu",
):
    """Sionna UMa downlink model: BS ULA of ``Nt`` V-polarised elements, 1x1 omni UE.

    Path loss and shadow fading are disabled, the O2I model is "low" (unused:
    all UEs are outdoor).

    :param num_bs_antennas: Number of BS antennas ``Nt`` (one row, half-wavelength spacing)
    :param carrier_frequency_hz: Carrier frequency [Hz]
    :param antenna_pattern: BS element pattern, ``"38.901"`` or ``"omni"``
    :param device: Torch device (or its name)

    :output model: `sionna.phy.channel.tr38901.UMa`.
    """
    from sionna.phy.channel.tr38901 import PanelArray, UMa

    device = sionna_device(device)

    bs = PanelArray(
        num_rows_per_panel=1,
        num_cols_per_panel=int(num_bs_antennas),
        polarization="single",
        polarization_type="V",
        antenna_pattern=antenna_pattern,
        carrier_frequency=carrier_frequency_hz,
        device=device,
    )
    ut = PanelArray(
        num_rows_per_panel=1,
        num_cols_per_panel=1,
        polarization="single",
        polarization_type="V",
        antenna_pattern="omni",
        carrier_frequency=carrier_frequency_hz,
        device=device,
    )
    return UMa(
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
    device: str | torch.device = "cpu",
) -> None:
    """Drop ``batch_size`` outdoor UEs in one UMa sector and force NLOS.

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
    :param device: Torch device (or its name)
    """
    from sionna.phy.channel import gen_single_sector_topology

    device = sionna_device(device)

    vmin, vmax = (float(v) for v in ue_speed_mps)
    topo = gen_single_sector_topology(
        int(batch_size),
        num_ut=1,
        scenario="uma",
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
    model, num_time_samples: int, sampling_frequency_hz: float
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

    :output a: [B, T, Nt, P], `torch.complex64`. Path coefficients.
    :output tau: [B, P], `torch.float32`. Path delays [s] (the same for every snapshot).
    """
    a, tau = model(num_time_samples=int(num_time_samples),
                   sampling_frequency=float(sampling_frequency_hz))
    # a: [B, num_rx=1, rx_ant=1, num_tx=1, Nt, P, T]; tau: [B, 1, 1, P]
    return a[:, 0, 0, 0].permute(0, 3, 1, 2), tau[:, 0, 0, :]


def draw_uma_batch(model) -> tuple[torch.Tensor, torch.Tensor]:
    """One snapshot of the CIRs of the model's current topology.

    :param model: Model with a topology set by :func:`set_uma_topology`

    :output a: [B, Nt, P], `torch.complex64`. Path coefficients.
    :output tau: [B, P], `torch.float32`. Path delays [s].
    """
    a, tau = draw_uma_series(model, 1, 1.0)
    return a[:, 0], tau


@contextlib.contextmanager
def _seeded_sionna_rng(device: str) -> Iterator[torch.Generator]:
    """Yield Sionna's generator for ``device``; restore its state on exit."""
    from sionna.phy import config

    gen = config.torch_rng(device)
    state = gen.get_state()
    try:
        yield gen
    finally:
        gen.set_state(state)


@contextlib.contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
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


def check_counts(n: int, batch_size: int, seed: int) -> None:
    """``ValueError`` unless ``n >= 0`` drops, ``batch_size >= 1`` and ``seed >= 0``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if int(seed) < 0:
        raise ValueError("seed must be >= 0")


_check_counts = check_counts  # the name used below


def iter_series_calls(
    n: int,
    num_snapshots: int,
    snapshot_interval_s: float,
    *,
    num_bs_antennas: int,
    carrier_frequency_hz: float,
    ue_speed_mps: tuple[float, float],
    seed: int,
    batch_size: int,
    antenna_pattern: str,
    ue_orientation: str,
    device: str,
):
    """The Sionna calls of ``n`` drops of ``num_snapshots`` snapshots, one at a time (no
    checks): yields ``(lo, a [b, T, Nt, P] complex64, tau [b, P] float32)`` for drops
    ``lo:lo + b``, call ``i`` drawn from the generator seeded with ``batch_seed(seed, i)`` and
    holding ``batch_size`` drops (``b`` is smaller only for the last call). ``device``: a
    torch device or its name (``"cuda"`` is the current CUDA device)."""
    device = sionna_device(device)
    with torch.no_grad():
        model = make_uma_model(
            int(num_bs_antennas), carrier_frequency_hz, antenna_pattern=antenna_pattern,
            device=device
        )
    with _seeded_sionna_rng(device) as gen:
        for i in range(-(-n // batch_size)):
            with torch.no_grad():
                gen.manual_seed(batch_seed(seed, i))
                set_uma_topology(
                    model,
                    batch_size,
                    ue_speed_mps,
                    ue_orientation=ue_orientation,
                    device=device,
                )
                a, tau = draw_uma_series(model, int(num_snapshots), 1.0 / snapshot_interval_s)
            if a.shape[-1] != NUM_PATHS_NLOS:
                raise RuntimeError(f"unexpected number of paths {a.shape[-1]}")
            lo = i * batch_size
            hi = min(n, lo + batch_size)
            yield (lo, a[: hi - lo].cpu().numpy().astype(np.complex64, copy=False),
                   tau[: hi - lo].cpu().numpy().astype(np.float32, copy=False))


def _draw_series(
    n: int,
    num_snapshots: int,
    snapshot_interval_s: float,
    *,
    num_bs_antennas: int,
    carrier_frequency_hz: float,
    ue_speed_mps: tuple[float, float],
    seed: int,
    batch_size: int,
    num_threads: int | None,
    progress: bool,
    antenna_pattern: str,
    ue_orientation: str,
    device: str,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` drops of ``num_snapshots`` snapshots: a [n, T, Nt, P], tau [n, P] (no checks)."""
    a_out = np.empty((n, int(num_snapshots), int(num_bs_antennas), NUM_PATHS_NLOS),
                     dtype=np.complex64)
    tau_out = np.empty((n, NUM_PATHS_NLOS), dtype=np.float32)
    bar = tqdm(total=n, desc="generate uma", unit="drop", disable=not progress, leave=False)
    with _torch_threads(num_threads), bar:
        for lo, a, tau in iter_series_calls(
                n, num_snapshots, snapshot_interval_s, num_bs_antennas=num_bs_antennas,
                carrier_frequency_hz=carrier_frequency_hz, ue_speed_mps=ue_speed_mps,
                seed=seed, batch_size=batch_size, antenna_pattern=antenna_pattern,
                ue_orientation=ue_orientation, device=device):
            a_out[lo:lo + len(a)] = a
            tau_out[lo:lo + len(a)] = tau
            bar.update(len(a))
    return a_out, tau_out


def generate_uma_series(
    n: int,
    num_snapshots: int,
    snapshot_interval_s: float,
    *,
    num_bs_antennas: int = 32,
    carrier_frequency_hz: float = 28e9,
    ue_speed_mps: tuple[float, float] = (0.9, 0.9),
    seed: int = 0,
    batch_size: int = 100,
    num_threads: int | None = None,
    progress: bool = False,
    antenna_pattern: str = "38.901",
    ue_orientation: str = "random",
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` UMa NLOS drops, each observed at ``num_snapshots`` instants.

    Same drops as :func:`generate_uma_cir` (a moving UE: speed uniform in ``ue_speed_mps``,
    direction uniform in the horizontal plane), sampled at ``t = 0, dt, ..., (T-1) dt`` with
    ``dt = snapshot_interval_s``. Within a drop only the per-ray Doppler phases change
    (:func:`draw_uma_series`); delays, angles and powers stay those of the drop, so a series
    is valid while the track ``v (T-1) dt`` is short (no drifting, no spatial consistency).
    The mean snapshot correlation at lag ``dt`` is close to ``J0(2 pi f_D dt)`` with
    ``f_D = v f_c / c`` (``tests/test_uma_mobility.py``).

    Snapshot 0 of every drop is the sample :func:`generate_uma_cir` draws with the same seed,
    ``batch_size`` and other arguments (the random draws depend neither on ``T`` nor on
    ``dt``): bit-identical for ``T = 1``, equal up to float32 rounding (~2e-7 relative) for
    ``T > 1``.
    Deterministic for ``(seed, batch_size, ...)`` as :func:`generate_uma_cir`; ``batch_size``
    counts drops per Sionna call, each call holds ``batch_size x T`` snapshots (keep it near
    ``1000 / T``). Validity caveats of :func:`validity_notes` are raised as `UserWarning`.

    :param n: Number of drops
    :param num_snapshots: Snapshots per drop ``T`` (>= 1)
    :param snapshot_interval_s: Time between snapshots ``dt`` [s] (> 0)
    :param num_bs_antennas: Number of BS antennas ``Nt``
    :param carrier_frequency_hz: Carrier frequency [Hz]
    :param ue_speed_mps: (min, max) UE speed [m/s]
    :param seed: Non-negative seed; all randomness derives from it
    :param batch_size: Drops per Sionna call (and per RNG stream)
    :param num_threads: torch intra-op threads during generation (``None``: unchanged)
    :param progress: Show a progress bar
    :param antenna_pattern: BS element pattern, ``"38.901"`` or ``"omni"``
    :param ue_orientation: ``"random"`` or ``"upright"`` (see :func:`set_uma_topology`)
    :param device: Torch device (or its name) for Sionna; see the module docstring

    :output a: [n, T, Nt, P], `np.complex64`. Path coefficients per snapshot.
    :output tau: [n, P], `np.float32`. Path delays [s], shared by the drop's snapshots.
    """
    n, batch_size = int(n), int(batch_size)
    _check_counts(n, batch_size, seed)
    if int(num_snapshots) != num_snapshots or num_snapshots < 1:
        raise ValueError(f"num_snapshots must be an integer >= 1, not {num_snapshots!r}")
    if not float(snapshot_interval_s) > 0:
        raise ValueError(f"snapshot_interval_s must be > 0, not {snapshot_interval_s!r}")
    for note in validity_notes(carrier_frequency_hz):
        warnings.warn(note, UserWarning, stacklevel=2)
    return _draw_series(
        n, int(num_snapshots), float(snapshot_interval_s), num_bs_antennas=num_bs_antennas,
        carrier_frequency_hz=carrier_frequency_hz, ue_speed_mps=ue_speed_mps, seed=seed,
        batch_size=batch_size, num_threads=num_threads, progress=progress,
        antenna_pattern=antenna_pattern, ue_orientation=ue_orientation, device=device)


def generate_uma_cir(
    n: int,
    *,
    num_bs_antennas: int = 32,
    carrier_frequency_hz: float = 28e9,
    ue_speed_mps: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
    batch_size: int = 1000,
    num_threads: int | None = None,
    progress: bool = False,
    antenna_pattern: str = "38.901",
    ue_orientation: str = "random",
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` TR 38.901 UMa NLOS downlink CIRs (one snapshot each).

    Each sample is an independent single-sector drop (UE outdoor, uniform in
    the sector, NLOS forced, speed uniform in ``ue_speed_mps``, random
    direction). No path loss, no shadow fading. Mean per-element power
    ``E|H|^2``: 1.0 with ``antenna_pattern="omni", ue_orientation="upright"``,
    ~1.8 with the defaults (``"38.901"`` BS pattern, random UE orientation);
    see the module docstring. Delays are sorted, ``tau[:, 0] == 0`` (TR 38.901
    normalisation, done by Sionna). All ``P = 24`` paths are kept, including
    the ~2 % with zero power. Time series of the same drops:
    :func:`generate_uma_series`.

    Speed: ~750 samples/s at Nt = 32 with two torch threads on an otherwise
    idle 2-core machine. Small batches with two threads slow down many-fold
    when another process competes for the cores; use ``num_threads=1`` there.

    The output is deterministic for a given ``(seed, batch_size)`` and the other
    arguments on the same machine/software; it does depend on ``batch_size``
    (Sionna draws whole batches at once), so include it in cache keys. Full
    batches of ``batch_size`` are always drawn, so the result for ``n`` is the
    first ``n`` samples of the result for any larger ``n``. Sionna's generator
    state and torch's thread count are restored on return.

    Validity: TR 38.901 covers 0.5-100 GHz and UMa uses fc = 6 GHz for its
    large-scale parameters below 6 GHz; a `UserWarning` lists the caveats of
    :func:`validity_notes` when there are any.

    :param n: Number of samples
    :param num_bs_antennas: Number of BS antennas ``Nt``
    :param carrier_frequency_hz: Carrier frequency [Hz]
    :param ue_speed_mps: (min, max) UE speed [m/s]
    :param seed: Non-negative seed; all randomness derives from it
    :param batch_size: Samples per Sionna call (and per RNG stream)
    :param num_threads: torch intra-op threads during generation (``None``: unchanged)
    :param progress: Show a progress bar
    :param antenna_pattern: BS element pattern, ``"38.901"`` (3-sector BS
        element, 8 dBi, pointed at the sector centre) or ``"omni"``
    :param ue_orientation: ``"random"`` (Sionna's drop: UE bearing, downtilt
        and slant uniform in [-90, 90) degrees) or ``"upright"`` (UE element
        vertical); see :func:`set_uma_topology`
    :param device: Torch device (or its name) for Sionna; see the module docstring

    :output a: [n, Nt, P], `np.complex64`. Path coefficients.
    :output tau: [n, P], `np.float32`. Path delays [s].
    """
    n, batch_size = int(n), int(batch_size)
    _check_counts(n, batch_size, seed)
    for note in validity_notes(carrier_frequency_hz):
        warnings.warn(note, UserWarning, stacklevel=2)
    a, tau = _draw_series(
        n, 1, 1.0, num_bs_antennas=num_bs_antennas, carrier_frequency_hz=carrier_frequency_hz,
        ue_speed_mps=ue_speed_mps, seed=seed, batch_size=batch_size, num_threads=num_threads,
        progress=progress, antenna_pattern=antenna_pattern, ue_orientation=ue_orientation,
        device=device)
    return a[:, 0], tau
