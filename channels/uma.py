"""3GPP TR 38.901 UMa (and UMi) NLOS channel impulse responses through Sionna (PyTorch).

This module and the two it builds on, :mod:`linksim.channels.uma_model` (Sionna's models, one
call at a time) and :mod:`linksim.channels.antenna_arrays` (the BS and UE arrays, the BS port
order), are the only places in the project that import Sionna's TR 38.901 models. They turn
Sionna's system-level UMa / UMi models into plain NumPy arrays:

* :func:`generate_uma_cir` draws ``n`` single-sector downlink drops (by default one BS with a
  horizontal ULA of ``Nt`` half-wavelength-spaced, vertically polarised elements,
  one single-antenna UE, NLOS forced for every link, no path loss, no shadow
  fading) and returns the path coefficients and path delays. ``scenario="umi"`` draws UMi
  street canyon instead, ``bs_panel`` puts a (dual-polarised) 2-D panel at the BS with its ports
  in the eType II order, ``num_ue_antennas > 1`` a dual-polarised UE array; the coefficients
  then gain an ``Nr`` axis, ``a [n, Nr, Nt, P]``.
* :func:`generate_uma_series` draws the same drops observed at ``T`` instants
  ``dt`` apart (moving UE): the "QuaDRiGa-like" snapshot series of the
  CLLWCsiNet setting (TR 38.901 time evolution: per-ray Doppler phases only).
* :func:`frequency_response` evaluates the channel on a set of baseband
  subcarrier frequencies by one batched complex matrix product (much faster on
  the CPU than Sionna's ``cir_to_ofdm_channel``).
* :func:`subcarrier_frequencies` reproduces Sionna's subcarrier grid.
* :func:`validity_notes` lists the TR 38.901 validity caveats for a carrier
  frequency (and bandwidth), for the run manifest.

Facts checked against Sionna 2.2.0 for the default UMa ULA (see ``tests/test_uma.py``):

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
``(seed, batch_size, num_bs_antennas (or bs_panel), num_ue_antennas, scenario,
carrier_frequency_hz, ue_speed_mps, antenna_pattern, ue_orientation, device)`` (same machine and software
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

import warnings

import numpy as np
import torch
from linksim.channels.antenna_arrays import BsPanel, bs_port_order, check_ue_antennas
from linksim.channels.cir import (
    frequency_response,
    rms_delay_spread,
    subcarrier_frequencies,
)
from linksim.channels.uma_model import (
    NUM_PATHS,
    NUM_PATHS_NLOS,
    SCENARIOS,
    draw_uma_batch,
    draw_uma_series,
    make_uma_model,
    seeded_sionna_rng,
    set_uma_topology,
    torch_threads,
)
from tqdm.auto import tqdm

from linksim.learning.device import sionna_device

__all__ = [
    "NUM_PATHS",
    "NUM_PATHS_NLOS",
    "SCENARIOS",
    "BsPanel",
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

#: TR 38.901 Table 7.5-6 notes: the large-scale parameters use fc = 6 GHz below 6 GHz (UMa) and
#: fc = 2 GHz below 2 GHz (UMi), as Sionna's ``clip_carrier_frequency_lsp``.
_LSP_FLOOR_HZ = {"uma": 6e9, "umi": 2e9}
_VALID_MIN_HZ = 0.5e9  # TR 38.901 validity range 0.5 - 100 GHz
_VALID_MAX_HZ = 100e9


def validity_notes(carrier_frequency_hz: float, bandwidth_hz: float | None = None,
                   scenario: str = "uma") -> list[str]:
    """TR 38.901 validity caveats for a UMa (or UMi) carrier frequency (and bandwidth).

    Below 6 GHz the UMa large-scale parameters (delay and angle spreads, cluster ZOD offset) are
    computed with fc = 6 GHz (TR 38.901 Table 7.5-6 note, followed by Sionna's
    ``clip_carrier_frequency_lsp``); UMi does the same below 2 GHz with fc = 2 GHz. Below
    0.5 GHz TR 38.901 does not apply at all; Sionna has no check and treats such a carrier like
    any carrier below the floor: floor statistics, with the wavelength (element spacing in
    metres), the Doppler shifts and the path loss (disabled here) following the actual carrier.

    :param carrier_frequency_hz: Carrier frequency [Hz]
    :param bandwidth_hz: Simulated bandwidth ``Nc x subcarrier spacing`` [Hz]; `None` skips
        the bandwidth check (TR 38.901 models bandwidths up to 10 % of the centre frequency,
        at most 2 GHz)
    :param scenario: ``"uma"`` or ``"umi"``

    :output notes: `list` of `str`. Human-readable caveats, empty if the
        frequency (and bandwidth) is in the range where the scenario's parameters apply
        as such (6 GHz, UMi 2 GHz, to 100 GHz).
    """
    fc = float(carrier_frequency_hz)
    floor, name = _LSP_FLOOR_HZ[scenario], SCENARIOS[scenario]
    notes = []
    if fc < _VALID_MIN_HZ:
        notes.append(
            f"carrier {fc / 1e9:g} GHz is below the 0.5 GHz lower limit of TR 38.901 "
            f"(0.5-100 GHz); Sionna accepts it silently and, as for any carrier below "
            f"{floor / 1e9:g} GHz, draws the large-scale parameters at {floor / 1e9:g} GHz: "
            "the model is used outside its validity range (only wavelength, Doppler and path loss scale to the carrier)"
        )
    if fc < floor:
        notes.append(
            f"carrier {fc / 1e9:g} GHz is below {floor / 1e9:g} GHz: TR 38.901 {name} computes "
            f"the large-scale parameters (delay/angle spreads) with fc = {floor / 1e9:g} GHz, "
            "so only "
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
    scenario: str = "uma",
    bs_panel: BsPanel | None = None,
    num_ue_antennas: int = 1,
    first_call: int = 0,
):
    """The Sionna calls of ``n`` drops of ``num_snapshots`` snapshots, one at a time (no
    checks): yields ``(lo, a [b, T, (Nr,) Nt, P] complex64, tau [b, P] float32)`` for drops
    ``lo:lo + b`` (the ``Nr`` axis only when ``num_ue_antennas > 1``; ``Nt`` = the panel's
    ports in the eType II order of :func:`~linksim.channels.antenna_arrays.bs_port_order`
    when ``bs_panel`` is given), call ``i`` drawn from the generator seeded with
    ``batch_seed(seed, i)`` and holding ``batch_size`` drops (``b`` is smaller only for the
    last call). ``device``: a torch device or its name (``"cuda"`` is the current CUDA
    device). ``first_call``: the first call made (drops from ``first_call * batch_size`` on,
    the same as in a draw from call 0: a shard of a split)."""
    device = sionna_device(device)
    ports = None if bs_panel is None else bs_port_order(bs_panel)
    with torch.no_grad():
        model = make_uma_model(
            int(num_bs_antennas), carrier_frequency_hz, antenna_pattern=antenna_pattern,
            scenario=scenario, bs_panel=bs_panel, num_ue_antennas=num_ue_antennas,
            device=device
        )
    with seeded_sionna_rng(device) as gen:
        for i in range(int(first_call), -(-n // batch_size)):
            with torch.no_grad():
                gen.manual_seed(batch_seed(seed, i))
                set_uma_topology(
                    model,
                    batch_size,
                    ue_speed_mps,
                    ue_orientation=ue_orientation,
                    scenario=scenario,
                    device=device,
                )
                a, tau = draw_uma_series(model, int(num_snapshots), 1.0 / snapshot_interval_s,
                                         ports)
            if a.shape[-1] != NUM_PATHS[scenario]:
                raise RuntimeError(f"unexpected number of paths {a.shape[-1]}")
            lo = i * batch_size
            hi = min(n, lo + batch_size)
            yield (lo, a[: hi - lo].cpu().numpy().astype(np.complex64, copy=False),
                   tau[: hi - lo].cpu().numpy().astype(np.float32, copy=False))


def cir_shape(num_bs_antennas: int, scenario: str = "uma", bs_panel: BsPanel | None = None,
              num_ue_antennas: int = 1) -> tuple[int, ...]:
    """Per-sample shape of the path coefficients: ``(Nt, P)``, or ``(Nr, Nt, P)`` for a
    multi-antenna UE (``Nt`` = the panel's port count when ``bs_panel`` is given)."""
    nt = int(num_bs_antennas) if bs_panel is None else bs_panel.num_ports
    nr = int(num_ue_antennas)
    return (nt, NUM_PATHS[scenario]) if nr == 1 else (nr, nt, NUM_PATHS[scenario])


def _draw_series(
    n: int,
    num_snapshots: int,
    snapshot_interval_s: float,
    *,
    num_threads: int | None,
    progress: bool,
    **call_kw,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` drops of ``num_snapshots`` snapshots: a [n, T, (Nr,) Nt, P], tau [n, P] (no
    checks); ``call_kw`` are :func:`iter_series_calls`' keywords."""
    shape = cir_shape(call_kw["num_bs_antennas"], call_kw["scenario"], call_kw["bs_panel"],
                      call_kw["num_ue_antennas"])
    a_out = np.empty((n, int(num_snapshots), *shape), dtype=np.complex64)
    tau_out = np.empty((n, shape[-1]), dtype=np.float32)
    bar = tqdm(total=n, desc="generate uma", unit="drop", disable=not progress, leave=False)
    with torch_threads(num_threads), bar:
        for lo, a, tau in iter_series_calls(n, num_snapshots, snapshot_interval_s, **call_kw):
            a_out[lo:lo + len(a)] = a
            tau_out[lo:lo + len(a)] = tau
            bar.update(len(a))
    return a_out, tau_out


def _check_arrays(scenario: str, bs_panel: BsPanel | None, num_ue_antennas: int) -> None:
    """``ValueError`` for an unknown scenario or UE antenna count, or a non-panel ``bs_panel``."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be 'uma' or 'umi', not {scenario!r}")
    if bs_panel is not None and not isinstance(bs_panel, BsPanel):
        raise ValueError(f"bs_panel must be a BsPanel, not {type(bs_panel).__name__}")
    check_ue_antennas(num_ue_antennas)


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
    scenario: str = "uma",
    bs_panel: BsPanel | None = None,
    num_ue_antennas: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` UMa (or UMi) NLOS drops, each observed at ``num_snapshots`` instants.

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
    :param scenario: ``"uma"`` or ``"umi"``
    :param bs_panel: BS panel (ports in the eType II order), `None`: ULA of ``num_bs_antennas``
    :param num_ue_antennas: ``Nr``, 1 or even (see :mod:`linksim.channels.antenna_arrays`)

    :output a: [n, T, Nt, P] (``Nr = 1``) or [n, T, Nr, Nt, P], `np.complex64`. Path
        coefficients per snapshot.
    :output tau: [n, P], `np.float32`. Path delays [s], shared by the drop's snapshots.
    """
    n, batch_size = int(n), int(batch_size)
    _check_counts(n, batch_size, seed)
    if int(num_snapshots) != num_snapshots or num_snapshots < 1:
        raise ValueError(f"num_snapshots must be an integer >= 1, not {num_snapshots!r}")
    if not float(snapshot_interval_s) > 0:
        raise ValueError(f"snapshot_interval_s must be > 0, not {snapshot_interval_s!r}")
    _check_arrays(scenario, bs_panel, num_ue_antennas)
    for note in validity_notes(carrier_frequency_hz, scenario=scenario):
        warnings.warn(note, UserWarning, stacklevel=2)
    return _draw_series(
        n, int(num_snapshots), float(snapshot_interval_s), num_bs_antennas=num_bs_antennas,
        carrier_frequency_hz=carrier_frequency_hz, ue_speed_mps=ue_speed_mps, seed=seed,
        batch_size=batch_size, num_threads=num_threads, progress=progress,
        antenna_pattern=antenna_pattern, ue_orientation=ue_orientation, device=device,
        scenario=scenario, bs_panel=bs_panel, num_ue_antennas=num_ue_antennas)


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
    scenario: str = "uma",
    bs_panel: BsPanel | None = None,
    num_ue_antennas: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` TR 38.901 UMa (or UMi) NLOS downlink CIRs (one snapshot each).

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
    :param scenario: ``"uma"`` or ``"umi"``
    :param bs_panel: BS panel (ports in the eType II order), `None`: ULA of ``num_bs_antennas``
    :param num_ue_antennas: ``Nr``, 1 or even (see :mod:`linksim.channels.antenna_arrays`)

    :output a: [n, Nt, P] (``Nr = 1``) or [n, Nr, Nt, P], `np.complex64`. Path coefficients.
    :output tau: [n, P], `np.float32`. Path delays [s].
    """
    n, batch_size = int(n), int(batch_size)
    _check_counts(n, batch_size, seed)
    _check_arrays(scenario, bs_panel, num_ue_antennas)
    for note in validity_notes(carrier_frequency_hz, scenario=scenario):
        warnings.warn(note, UserWarning, stacklevel=2)
    a, tau = _draw_series(
        n, 1, 1.0, num_bs_antennas=num_bs_antennas, carrier_frequency_hz=carrier_frequency_hz,
        ue_speed_mps=ue_speed_mps, seed=seed, batch_size=batch_size, num_threads=num_threads,
        progress=progress, antenna_pattern=antenna_pattern, ue_orientation=ue_orientation,
        device=device, scenario=scenario, bs_panel=bs_panel, num_ue_antennas=num_ue_antennas)
    return a[:, 0], tau
