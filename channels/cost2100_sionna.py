"""The COST 2100 generator as a Sionna ``ChannelModel``, for Sionna's own OFDM and MIMO blocks.

:class:`Cost2100ChannelModel` implements ``sionna.phy.channel.ChannelModel`` (Sionna 2.2,
PyTorch): a call ``model(batch_size, num_time_steps, sampling_frequency)`` returns the path
coefficients ``a`` and delays ``tau`` of the next ``batch_size`` snapshots of
:func:`linksim.channels.cost2100.generate_cost2100_paths` (same seed, same samples), so
``sionna.phy.channel.cir_to_ofdm_channel`` on linksim's subcarriers gives the space-frequency
channel of our generator, and its truncated angular-delay transform our closed-form
:func:`~linksim.channels.cost2100.generate_cost2100_ad` output (tests/test_cost2100_sionna.py).

Link layout (downlink, as everywhere in linksim): the transmitter is the BS with its
``Nt``-element ULA, the receiver the single-antenna MS; one link. Per path and BS element the
coefficient carries the element's carrier phase ``exp(-j 2 pi f_c tau_abs)`` (the array
response folded into ``a``). The delays are per element by default (spherical wavefront, and
the delay across the array that a wide band sees): ``tau`` is
``[batch, 1, 1, 1, Nt, P]``, a shape ``cir_to_ofdm_channel`` and ``cir_to_time_channel``
accept. ``per_antenna_delays=False`` gives the plain ``[batch, 1, 1, P]`` of the interface, one
delay per path (its mean over the elements), exact at the carrier only: at the band edge
``f = B / 2`` the phase error at the array's ends reaches ``pi B (Nt - 1) lambda / (2 c)`` for a
path along the array, ~0.09 rad at 5.3 GHz and ~1.6 rad at 300 MHz (``Nt = 32``, 20 MHz).

Snapshots are independent and static (the generator has no time evolution): the coefficients
are the same for all ``num_time_steps`` and ``sampling_frequency`` is not used. Paths are
padded with zero coefficients (and zero delays) to the largest count of the call.
"""

from __future__ import annotations

import numpy as np
import torch
from linksim.channels.cost2100_env import Cost2100Environment, get_environment
from linksim.channels.cost2100_paths import generate_cost2100_paths_range
from sionna.phy.channel import ChannelModel


class Cost2100ChannelModel(ChannelModel):
    """COST 2100-style channels (:mod:`linksim.channels.cost2100`) as a Sionna channel model.

    Parameters
    ----------
    environment : str or Cost2100Environment
        A key of ``linksim.channels.cost2100.ENVIRONMENTS`` or a parameter set.
    num_bs_antennas : int
        ``Nt``, the BS (transmitter) ULA at half a wavelength.
    seed : int
        Non-negative seed: call after call, the model returns samples ``0, 1, 2, ...`` of
        ``generate_cost2100_paths(..., seed=seed)`` (:meth:`reset` starts over).
    per_antenna_delays : bool
        ``tau [batch, 1, 1, 1, Nt, P]`` per element (exact, default) or ``[batch, 1, 1, P]``
        per path (exact at the carrier only; see the module docstring).
    precision : {"single", "double"}, optional
        Sionna's precision (default: Sionna's ``config.precision``). ``"double"`` returns the
        generator's float64 delays and complex128 coefficients, ``"single"`` the float32 /
        complex64 values of :func:`~linksim.channels.cost2100.generate_cost2100_paths`.
    device : str, optional
        Torch device of the outputs (default: Sionna's ``config.device``); the generation runs
        in NumPy on the CPU.

    Outputs of a call
    -----------------
    a : [batch, 1, 1, 1, Nt, P, num_time_steps] torch complex
        Path coefficients (unit total power per sample and element, no path loss).
    tau : [batch, 1, 1, 1, Nt, P] or [batch, 1, 1, P] torch float
        Path delays [s], relative to the sample's first arrival.
    """

    def __init__(self, environment: str | Cost2100Environment, num_bs_antennas: int = 32,
                 seed: int = 0, per_antenna_delays: bool = True, precision: str | None = None,
                 device: str | None = None) -> None:
        super().__init__(precision=precision, device=device)
        self._env = get_environment(environment)
        if int(num_bs_antennas) < 1:
            raise ValueError("num_bs_antennas must be >= 1")
        if int(seed) < 0:
            raise ValueError("seed must be >= 0")
        self._nt = int(num_bs_antennas)
        self._seed = int(seed)
        self._per_antenna_delays = bool(per_antenna_delays)
        self._next = 0

    @property
    def environment(self) -> Cost2100Environment:
        """The environment's parameter set."""
        return self._env

    @property
    def num_tx(self) -> int:
        """Transmitters: the one BS."""
        return 1

    @property
    def num_tx_ant(self) -> int:
        """BS antennas ``Nt``."""
        return self._nt

    @property
    def num_rx(self) -> int:
        """Receivers: the one MS."""
        return 1

    @property
    def num_rx_ant(self) -> int:
        """MS antennas (1)."""
        return 1

    @property
    def next_sample(self) -> int:
        """Index of the generator sample the next call starts with."""
        return self._next

    def reset(self, sample: int = 0) -> None:
        """Continue with generator sample ``sample`` (0: start over)."""
        if int(sample) < 0:
            raise ValueError("sample must be >= 0")
        self._next = int(sample)

    def __call__(self, batch_size: int, num_time_steps: int = 1,
                 sampling_frequency: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, num_time_steps = int(batch_size), int(num_time_steps)
        if batch_size < 0 or num_time_steps < 1:
            raise ValueError("need batch_size >= 0 and num_time_steps >= 1")
        start = self._next
        g, tau = generate_cost2100_paths_range(start, start + batch_size, self._env, self._nt,
                                               self._seed, double=self.precision == "double")
        self._next = start + batch_size
        b, nt, p = g.shape
        a = torch.as_tensor(np.ascontiguousarray(g)).to(device=self.device, dtype=self.cdtype)
        a = a.reshape(b, 1, 1, 1, nt, p, 1).repeat(1, 1, 1, 1, 1, 1, num_time_steps)
        tau_t = torch.as_tensor(np.ascontiguousarray(tau)).to(device=self.device,
                                                              dtype=self.dtype)
        if self._per_antenna_delays:
            return a, tau_t.reshape(b, 1, 1, 1, nt, p)
        return a, tau_t.mean(dim=1).reshape(b, 1, 1, p)
