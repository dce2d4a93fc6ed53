"""DFT beam codebook in space-frequency ``h [b, Nc, Nt]``: ``L`` strongest orthogonal beams of an
oversampled DFT grid (single-polarised ULA), chosen wideband, with quantised wideband amplitude and
per-subband amplitude and phase, in the spirit of 3GPP Rel-15 Type II.

Beams follow :mod:`linksim.phy.transforms`: an antenna phase progression ``exp(+j 2 pi n a / Nt)`` is
angle bin ``a``, and the BS receives ``h_k^H w`` for beam ``w``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft

from linksim.baselines.base import SCALE_BITS, Baseline, check_bits, check_csi
from linksim.errors import LinksimInputError
from linksim.phy.bits import (
    BitReader,
    amplitude_levels_db,
    bits_to_uint,
    combinatorial_bits,
    dequantise_phase,
    float32_to_bits,
    index_bits,
    quantise_phase,
    quantise_to_levels,
    subset_to_bits,
    uint_to_bits,
)
from linksim.phy.precoding import subband_blocks, subband_sizes
from linksim.phy.transforms import abs2

#: 3 dB power steps in amplitude, the 3GPP Type II amplitude alphabet ``{1, sqrt(1/2), ...}``.
TYPE2_AMP_STEP_DB = 10.0 * math.log10(2.0)


def dft_beams(num_antennas: int, indices: np.ndarray, oversampling: int) -> np.ndarray:
    """Oversampled DFT beams ``b_m[n] = exp(j 2 pi n m / (O Nt)) / sqrt(Nt)``, unit norm.

    ``indices [...]`` -> ``[..., Nt]`` complex64. Beams ``m = O i + q``, ``i = 0 .. Nt-1``, of
    one rotation ``q`` are orthonormal; beam ``O a`` is angle bin ``a`` of
    :mod:`linksim.phy.transforms`.
    """
    n = np.arange(num_antennas)
    phase = 2 * np.pi * np.asarray(indices)[..., None] * n / (oversampling * num_antennas)
    return (np.exp(1j * phase) / np.sqrt(num_antennas)).astype(np.complex64)


class DFTCodebook(Baseline):
    """``L`` oversampled DFT beams chosen wideband, per-subband amplitude and phase.

    In the spirit of 3GPP Rel-15 Type II for a single-polarised ULA of ``Nt`` antennas and
    oversampling ``O`` (``O1 = 4``):

    1. Subband means ``hbar_s = mean_{k in s} h_k`` (the least-squares constant per subband).
    2. Beam coefficients ``c_{s,m} = b_m^H hbar_s`` for all ``O Nt`` beams (zero-padded FFT).
       For each rotation ``q`` the ``L`` orthogonal beams of largest energy
       ``sum_s n_s |c_{s,m}|^2`` (``n_s`` subcarriers); the rotation with the most energy in its
       ``L`` beams wins. This maximises the energy the piecewise-constant reconstruction keeps.
    3. Wideband amplitude ``p_l = max_s |c_{s,l}| / A`` with ``A = max_{s,l} |c_{s,l}|`` (the
       float32 scale); the strongest beam (``p = 1``) is indicated and not sent; the others on
       ``wb_amp_bits`` with ``wb_amp_step_db`` steps and a zero level (3GPP: 3 bits, 3 dB).
    4. Per subband and beam with ``p_hat_l > 0``: amplitude ``|c_{s,l}| / (A p_hat_l)`` on
       ``sb_amp_bits`` (steps ``sb_amp_step_db``, no zero; 3GPP: 1 bit, ``{1, sqrt(1/2)}``) and
       phase on ``2^sb_phase_bits``-PSK (3GPP: 2 or 3 bits). Beams with ``p_hat = 0`` send
       nothing per subband, so reports vary in length.

    Unlike 3GPP, which normalises the strongest beam's coefficient to 1 in every subband (the
    subband's common phase and gain do not matter to a precoder), the strongest beam's subband
    amplitude and phase are sent too, so that the channel itself, not only its direction, is
    rebuilt (NMSE). The BS sets ``h_hat_k = sum_l c_hat_{s,l} b_{m_l}`` for every ``k`` in
    subband ``s``.

    Bits: ``32 + ceil(log2 O) + ceil(log2 C(Nt, L)) + ceil(log2 L) + (L - 1) wb_amp_bits
    + N_nz S (sb_amp_bits + sb_phase_bits)``, ``N_nz <= L`` beams with non-zero wideband
    amplitude; ``payload_bits`` is the worst case ``N_nz = L``.
    """

    name = "dft_codebook"
    domain = "space_frequency"

    def __init__(self, num_beams: int, num_antennas: int, num_subcarriers: int,
                 subband_size: int, oversampling: int = 4, wb_amp_bits: int = 3,
                 sb_amp_bits: int = 1, sb_phase_bits: int = 3,
                 wb_amp_step_db: float = TYPE2_AMP_STEP_DB,
                 sb_amp_step_db: float = TYPE2_AMP_STEP_DB):
        self.nt = check_bits("dft_codebook: num_antennas", num_antennas, 1, 1 << 16)
        self.nc = check_bits("dft_codebook: num_subcarriers", num_subcarriers, 1, 1 << 20)
        self.L = check_bits("dft_codebook: num_beams", num_beams, 1, self.nt)
        self.sizes = subband_sizes(self.nc, subband_size)
        self.subband_size = int(subband_size)
        self.O = check_bits("dft_codebook: oversampling", oversampling, 1, 64)
        self.wb_amp_bits = check_bits("dft_codebook: wb_amp_bits", wb_amp_bits, 1)
        self.sb_amp_bits = check_bits("dft_codebook: sb_amp_bits", sb_amp_bits, 0)
        self.sb_phase_bits = check_bits("dft_codebook: sb_phase_bits", sb_phase_bits, 1)
        for name, step in (("wb_amp_step_db", wb_amp_step_db), ("sb_amp_step_db", sb_amp_step_db)):
            if not (isinstance(step, int | float) and step > 0):
                raise LinksimInputError(f"dft_codebook: {name} must be > 0, got {step!r}")
        self.wb_levels = amplitude_levels_db(self.wb_amp_bits, wb_amp_step_db, with_zero=True)
        self.sb_levels = amplitude_levels_db(self.sb_amp_bits, sb_amp_step_db, with_zero=False)
        self.steps_db = (float(wb_amp_step_db), float(sb_amp_step_db))

    @property
    def num_subbands(self) -> int:
        return len(self.sizes)

    def _header_bits(self) -> int:
        return (SCALE_BITS + index_bits(self.O) + combinatorial_bits(self.nt, self.L)
                + index_bits(self.L) + (self.L - 1) * self.wb_amp_bits)

    @property
    def _beam_bits(self) -> int:
        return self.num_subbands * (self.sb_amp_bits + self.sb_phase_bits)

    @property
    def payload_bits(self) -> int:
        return self._header_bits() + self.L * self._beam_bits

    @classmethod
    def for_payload(cls, bits: int, num_antennas: int, num_subcarriers: int, subband_size: int,
                    **options) -> DFTCodebook:
        """The largest ``L`` whose worst-case report fits in ``bits``."""
        best = None
        for n_beams in range(1, num_antennas + 1):
            cand = cls(n_beams, num_antennas, num_subcarriers, subband_size, **options)
            if cand.payload_bits <= bits:
                best = cand
        if best is None:
            raise LinksimInputError(f"dft_codebook: payload of {bits} bits is below one beam")
        return best

    def describe(self) -> dict:
        return {**super().describe(), "num_beams": self.L, "subband_size": self.subband_size,
                "oversampling": self.O, "wb_amp_bits": self.wb_amp_bits,
                "sb_amp_bits": self.sb_amp_bits, "sb_phase_bits": self.sb_phase_bits,
                "amp_steps_db": list(self.steps_db)}

    def encode(self, h: np.ndarray) -> dict[str, np.ndarray]:
        """``[b, Nc, Nt]`` -> report ``{scale, rot, beams [b, L], strongest, q_wb [b, L],
        q_amp [b, S, L], q_phase [b, S, L]}`` (``q_wb`` of the strongest beam is 0, not sent;
        subband symbols of beams with zero wideband amplitude are not sent)."""
        check_csi(h, (self.nc, self.nt), "dft_codebook")
        b = h.shape[0]
        hbar = subband_blocks(h, self.subband_size).sum(axis=2) / self.sizes[:, None]
        c_all = scipy.fft.fft(hbar, n=self.O * self.nt, axis=-1) / np.sqrt(self.nt)
        c_all = c_all.reshape(b, self.num_subbands, self.nt, self.O)  # beam m = O i + q
        energy = np.einsum("s,bsiq->biq", self.sizes.astype(np.float64), abs2(c_all))
        top = -np.sort(-energy, axis=1)[:, :self.L].sum(axis=1)  # [b, O]
        # first rotation within 1e-6 of the best: with L = Nt every rotation is a complete
        # basis holding the same energy, and rounding alone must not pick the winner
        rot = np.argmax(top >= top.max(axis=1, keepdims=True) * (1 - 1e-6), axis=1)
        e_rot = np.take_along_axis(energy, rot[:, None, None], axis=2)[..., 0]  # [b, Nt]
        beams = np.sort(np.argpartition(-e_rot, self.L - 1, axis=1)[:, :self.L]
                        if self.L < self.nt else np.broadcast_to(np.arange(self.nt), (b, self.nt)),
                        axis=1)
        c_rot = np.take_along_axis(c_all, rot[:, None, None, None], axis=3)[..., 0]
        c = np.take_along_axis(c_rot, beams[:, None, :], axis=2)  # [b, S, L]
        amp = np.abs(c)
        wb = amp.max(axis=1)  # [b, L]
        strongest = np.argmax(wb, axis=1)
        scale = wb.max(axis=1).astype(np.float32)
        q_wb = quantise_to_levels(wb / np.where(scale > 0, scale, 1.0)[:, None], self.wb_levels)
        np.put_along_axis(q_wb, strongest[:, None], 0, axis=1)
        p_hat = self.wb_levels[q_wb] * scale[:, None]  # [b, L]
        rel = np.clip(amp / np.where(p_hat > 0, p_hat, 1.0)[:, None, :], 0.0, 1.0)
        q_amp = quantise_to_levels(rel, self.sb_levels)
        q_phase = quantise_phase(np.angle(c), self.sb_phase_bits)
        return {"scale": scale, "rot": rot, "beams": beams, "strongest": strongest, "q_wb": q_wb,
                "q_amp": q_amp, "q_phase": q_phase}

    def coefficients(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Dequantised beam coefficients ``c_hat [b, S, L]`` (0 for beams with ``p_hat = 0``)."""
        p_hat = self.wb_levels[report["q_wb"]] * report["scale"][:, None].astype(np.float64)
        return (p_hat[:, None, :] * self.sb_levels[report["q_amp"]]
                * np.exp(1j * dequantise_phase(report["q_phase"], self.sb_phase_bits)))

    def decode(self, report: dict[str, np.ndarray]) -> np.ndarray:
        """Report -> ``[b, Nc, Nt]`` complex64, constant over each subband."""
        m = self.O * report["beams"] + report["rot"][:, None]
        vecs = dft_beams(self.nt, m, self.O)  # [b, L, Nt]
        h_sb = np.einsum("bsl,bln->bsn", self.coefficients(report).astype(np.complex64), vecs)
        return np.repeat(h_sb, self.sizes, axis=1).astype(np.complex64)

    def report_bits(self, report: dict[str, np.ndarray]) -> np.ndarray:
        nonzero = np.count_nonzero(self.wb_levels[report["q_wb"]] > 0, axis=1)
        return self._header_bits() + nonzero.astype(np.int64) * self._beam_bits

    def to_bits(self, report: dict[str, np.ndarray]) -> list[np.ndarray]:
        b = report["scale"].shape[0]
        keep = np.ones((b, self.L), bool)
        np.put_along_axis(keep, report["strongest"][:, None], False, axis=1)
        wb_sent = report["q_wb"][keep].reshape(b, self.L - 1)
        head = np.concatenate([
            float32_to_bits(report["scale"]), uint_to_bits(report["rot"][:, None],
                                                           index_bits(self.O)),
            subset_to_bits(report["beams"], self.nt), uint_to_bits(report["strongest"][:, None], index_bits(self.L)),
            uint_to_bits(wb_sent, self.wb_amp_bits)], axis=1)
        # per beam (increasing beam order), per subband: amplitude then phase
        sb = np.concatenate([
            uint_to_bits(report["q_amp"].transpose(0, 2, 1).reshape(b, -1),
                         self.sb_amp_bits).reshape(b, self.L, self.num_subbands, self.sb_amp_bits),
            uint_to_bits(report["q_phase"].transpose(0, 2, 1).reshape(b, -1),
                         self.sb_phase_bits).reshape(b, self.L, self.num_subbands,
                                                     self.sb_phase_bits)],
            axis=3).reshape(b, self.L, self._beam_bits)
        nonzero = self.wb_levels[report["q_wb"]] > 0
        return [np.concatenate([head[i], sb[i][nonzero[i]].ravel()]) for i in range(b)]

    def from_bits(self, stream: list[np.ndarray]) -> dict[str, np.ndarray]:
        hb = self._header_bits()
        rd = BitReader(np.stack([s[:hb] for s in stream]))
        scale = rd.float32()
        rot = rd.uint(1, index_bits(self.O))[:, 0]
        beams = rd.subset(self.nt, self.L)
        strongest = rd.uint(1, index_bits(self.L))[:, 0]
        wb_sent = rd.uint(self.L - 1, self.wb_amp_bits)
        b = len(stream)
        keep = np.ones((b, self.L), bool)
        np.put_along_axis(keep, strongest[:, None], False, axis=1)
        q_wb = np.zeros((b, self.L), np.int64)
        q_wb[keep] = wb_sent.ravel()
        nonzero = self.wb_levels[q_wb] > 0
        per = self.sb_amp_bits + self.sb_phase_bits
        q_amp = np.zeros((b, self.L, self.num_subbands), np.int64)
        q_phase = np.zeros_like(q_amp)
        for i, s in enumerate(stream):
            n_nz = int(nonzero[i].sum())
            if s.size != hb + n_nz * self._beam_bits:
                raise LinksimInputError("dft_codebook: bitstream length does not match its "
                                        "wideband amplitudes")
            fields = s[hb:].reshape(n_nz * self.num_subbands, per)
            if self.sb_amp_bits:
                q_amp[i, nonzero[i]] = bits_to_uint(fields[:, :self.sb_amp_bits],
                                                    self.sb_amp_bits).reshape(n_nz, -1)
            q_phase[i, nonzero[i]] = bits_to_uint(fields[:, self.sb_amp_bits:],
                                                  self.sb_phase_bits).reshape(n_nz, -1)
        return {"scale": scale, "rot": rot, "beams": beams, "strongest": strongest,
                "q_wb": q_wb, "q_amp": q_amp.transpose(0, 2, 1),
                "q_phase": q_phase.transpose(0, 2, 1)}
