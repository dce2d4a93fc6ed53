"""The BS and UE antenna arrays of the TR 38.901 UMa/UMi front end, and the BS port order.

Three BS layouts and two UE layouts, all built from Sionna's ``PanelArray`` (one panel,
half-wavelength element spacing in both directions):

* BS ULA (no panel given, today's default): one row of ``Nt`` vertically polarised elements;
  port ``n`` is Sionna's element ``n`` (``y`` increasing with ``n``).
* BS panel ``(N1, N2, polarization)``: ``N1`` columns along the panel's horizontal axis ``y``,
  ``N2`` rows along its vertical axis ``z``, single (vertical) or dual polarisation (slants
  -45 and +45 degrees, TR 38.901 model 2 "cross"). ``num_ports = N1 N2 P``.
* UE: one vertical omni element (``Nr = 1``, today's default), or for an even ``Nr`` one row of
  ``Nr / 2`` columns, dual polarised with slants 0 and 90 degrees (``(M, N, P) = (1, Nr/2, 2)``):
  TR 38.843's 4 Rx UE is ``(M, N, P) = (1, 2, 2)``, ``dH = 0.5 lambda``; the 0/90 degree slants
  are TR 38.901 Table 7.8-2's UT assumption (calibration), taken for want of the TR 38.843 text.
  UE antenna ``r = pol * (Nr / 2) + column`` (Sionna's order, kept).

**BS port order (the eType II convention, :mod:`linksim.etype2`).** Port
``p = pol * N1 N2 + n1 N2 + n2``: polarisation 0 (slant -45 degrees) first, then polarisation 1
(+45 degrees); within a polarisation ``n1`` counts columns along ``+y`` and ``n2`` rows along
``+z`` (upwards). A plane wave leaving the panel along the unit vector ``r`` (panel coordinates,
broadside ``+x``) then has the port phases ``exp(j pi (r_y n1 + r_z n2))`` (Sionna's array term
``exp(j 2 pi r . d / lambda)``, TR 38.901 eq. 7.5-22), the DFT beam
``exp(j 2 pi (m1 n1 / (O1 N1) + m2 n2 / (O2 N2)))`` with ``m1 / (O1 N1) = r_y / 2`` and
``m2 / (O2 N2) = r_z / 2`` (mod 1), the same on both polarisations.

Sionna's ``PanelArray`` (2.2, ``AntennaPanel``) numbers a panel's elements column-major with rows
counted **downwards**: element ``i + j N2`` sits at row ``i`` (``z = -i d``) and column ``j``
(``y = j d``), polarisation 1 on elements ``0..N1N2-1`` and polarisation 2 (slant +90 degrees
from the first) on ``N1N2..2N1N2-1``. So only the rows are reversed:
port ``(pol, n1, n2)`` is Sionna element ``pol N1 N2 + n1 N2 + (N2 - 1 - n2)``
(:func:`bs_port_order`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: BS panel polarisations and the Sionna ``polarization_type`` of each.
POLARIZATIONS = {"single": "V", "dual": "cross"}


@dataclass(frozen=True)
class BsPanel:
    """A BS panel: ``n1`` columns (horizontal), ``n2`` rows (vertical), one or two
    polarisations, half-wavelength spacing.

    Attributes
    ----------
    n1, n2 : int
        Columns and rows (>= 1).
    polarization : str
        ``"single"`` (vertical elements) or ``"dual"`` (+-45 degree cross-polarised pairs).
    """

    n1: int
    n2: int
    polarization: str = "dual"

    def __post_init__(self) -> None:
        if self.n1 < 1 or self.n2 < 1:
            raise ValueError(f"n1 and n2 must be >= 1, not ({self.n1}, {self.n2})")
        if self.polarization not in POLARIZATIONS:
            raise ValueError(f"polarization must be 'single' or 'dual', not "
                             f"{self.polarization!r}")

    @property
    def num_polarizations(self) -> int:
        """``P``: 2 for a dual-polarised panel, else 1."""
        return 2 if self.polarization == "dual" else 1

    @property
    def num_ports(self) -> int:
        """``N1 N2 P``."""
        return self.n1 * self.n2 * self.num_polarizations


def bs_port_order(panel: BsPanel) -> np.ndarray:
    """Sionna element index of every BS port (see the module docstring).

    :param panel: The BS panel

    :output order: [N1 N2 P], `np.int64`. ``order[p]`` is the Sionna element of port ``p``;
        ``a_ports = a_sionna[..., order, :]``.
    """
    pol, n1, n2 = np.meshgrid(np.arange(panel.num_polarizations), np.arange(panel.n1),
                              np.arange(panel.n2), indexing="ij")
    nn = panel.n1 * panel.n2
    return (pol * nn + n1 * panel.n2 + (panel.n2 - 1 - n2)).reshape(-1).astype(np.int64)


def check_ue_antennas(num_ue_antennas: int) -> None:
    """``ValueError`` unless ``Nr`` is 1 or even (the supported UE layouts)."""
    nr = int(num_ue_antennas)
    if nr < 1 or (nr > 1 and nr % 2):
        raise ValueError(f"num_ue_antennas must be 1 or an even number (dual-polarised "
                         f"columns), not {num_ue_antennas!r}")


def _panel_array(rows: int, cols: int, polarization: str, polarization_type: str,
                 pattern: str, carrier_frequency_hz: float, device):
    """Sionna ``PanelArray`` of one ``rows x cols`` panel at half wavelength."""
    from sionna.phy.channel.tr38901 import PanelArray

    return PanelArray(num_rows_per_panel=int(rows), num_cols_per_panel=int(cols),
                      polarization=polarization, polarization_type=polarization_type,
                      antenna_pattern=pattern, carrier_frequency=carrier_frequency_hz,
                      device=device)


def make_bs_array(num_bs_antennas: int, panel: BsPanel | None, pattern: str,
                  carrier_frequency_hz: float, device):
    """The BS's Sionna array: the ULA of ``num_bs_antennas`` (``panel`` `None`) or ``panel``.

    :param num_bs_antennas: ``Nt`` of the ULA (ignored with a panel)
    :param panel: The BS panel, or `None` for the ULA
    :param pattern: Element pattern, ``"38.901"`` or ``"omni"``
    :param carrier_frequency_hz: Carrier frequency [Hz] (sets the spacing in metres)
    :param device: Torch device

    :output array: `sionna.phy.channel.tr38901.PanelArray`.
    """
    if panel is None:
        return _panel_array(1, num_bs_antennas, "single", "V", pattern, carrier_frequency_hz,
                            device)
    return _panel_array(panel.n2, panel.n1, panel.polarization,
                        POLARIZATIONS[panel.polarization], pattern, carrier_frequency_hz, device)


def make_ue_array(num_ue_antennas: int, carrier_frequency_hz: float, device):
    """The UE's Sionna array (omni elements): one vertical element for ``Nr = 1``, else one
    row of ``Nr / 2`` dual-polarised (0/90 degree) columns.

    :param num_ue_antennas: ``Nr`` (1 or even)
    :param carrier_frequency_hz: Carrier frequency [Hz]
    :param device: Torch device

    :output array: `sionna.phy.channel.tr38901.PanelArray`.
    """
    check_ue_antennas(num_ue_antennas)
    nr = int(num_ue_antennas)
    if nr == 1:
        return _panel_array(1, 1, "single", "V", "omni", carrier_frequency_hz, device)
    return _panel_array(1, nr // 2, "dual", "VH", "omni", carrier_frequency_hz, device)
