"""eType II configuration (TS 38.214 clause 5.2.2.2.5): the paramCombination-r16 table and
the amplitude and phase alphabets, the validated ``(L, p_v, beta)``, ``M_v`` and ``K0`` of a
configuration, the payload bits per field (TS 38.212 Table 6.3.2.1.2-1A) and the report's fields
(:class:`ETypeIIReport`). The conventions and what is verified against the spec are in
:mod:`linksim.etype2`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from linksim.errors import LinksimInputError

#: paramCombination-r16 -> (L, p_v for v in {1, 2}, p_v for v in {3, 4} (None: not allowed), beta)
#: (TS 38.214 Table 5.2.2.2.5-1). All values are exact binary fractions.
PARAM_COMBINATIONS: dict[int, tuple[int, float, float | None, float]] = {
    1: (2, 1 / 4, 1 / 8, 1 / 4),
    2: (2, 1 / 4, 1 / 8, 1 / 2),
    3: (4, 1 / 4, 1 / 8, 1 / 4),
    4: (4, 1 / 4, 1 / 8, 1 / 2),
    5: (4, 1 / 4, 1 / 4, 3 / 4),
    6: (4, 1 / 2, 1 / 4, 1 / 2),
    7: (6, 1 / 4, None, 1 / 2),
    8: (6, 1 / 4, None, 3 / 4),
}

#: Reference amplitude p1 for k1 = 0..15 (Table 5.2.2.2.5-2; k1 = 0 is reserved -> NaN).
REF_AMPLITUDES = np.array([np.nan] + [2.0 ** (-(15 - k) / 4) for k in range(1, 16)])
#: Differential amplitude p2 for k2 = 0..7 (Table 5.2.2.2.5-3).
DIFF_AMPLITUDES = np.array([2.0 ** (-(7 - k) / 2) for k in range(8)])
#: Phase alphabet size (16-PSK, 4 bits).
N_PSK = 16


# --------------------------------------------------------------------------- configuration


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise LinksimInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _params(param_combination, rank, n1: int, n2: int, n3: int, r: int, strict: bool
            ) -> tuple[int, float, float]:
    """Validated ``(L, p_v, beta)`` for this configuration."""
    if (isinstance(param_combination, bool)
            or not isinstance(param_combination, int | np.integer)
            or int(param_combination) not in PARAM_COMBINATIONS):
        raise LinksimInputError(f"param_combination (paramCombination-r16) must be one of 1..8, "
                                f"got {param_combination!r}")
    pc = int(param_combination)
    rank = _check_int("rank", rank, 1)
    if rank > 4:
        raise LinksimInputError(f"rank must be 1..4 for the eType II codebook, got {rank}")
    if r not in (1, 2):
        raise LinksimInputError(f"r (numberOfPMI-SubbandsPerCQI-Subband) must be 1 or 2, got {r!r}")
    big_l, p12, p34, beta = PARAM_COMBINATIONS[pc]
    if rank > 2 and p34 is None:
        raise LinksimInputError(f"rank {rank} is not allowed with param_combination {pc} "
                                f"(p_v undefined for ranks 3-4 in Table 5.2.2.2.5-1)")
    if big_l > n1 * n2:
        raise LinksimInputError(f"param_combination {pc} needs L = {big_l} beams but N1*N2 = "
                                f"{n1 * n2} orthogonal beams exist")
    ports = 2 * n1 * n2
    if strict:
        if ports == 4 and pc >= 3:
            raise LinksimInputError(f"param_combination {pc} is not allowed with 4 CSI-RS ports "
                                    f"(38.214 5.2.2.2.5 allows 1, 2)")
        if pc in (7, 8) and ports < 32:
            raise LinksimInputError(f"param_combination {pc} needs at least 32 CSI-RS ports "
                                    f"(2*N1*N2 = {ports}); pass strict=False to allow it")
        if pc in (7, 8) and r == 2:
            raise LinksimInputError(f"param_combination {pc} is not allowed with r = 2")
    p_v = p12 if rank <= 2 else p34
    mv = math.ceil(p_v * n3 / r)
    if mv > n3:
        raise LinksimInputError(f"n3 = {n3} is too small for M_v = {mv}")
    return big_l, p_v, beta


def num_fd_basis(param_combination: int, n3: int, rank: int, r: int = 1) -> int:
    """``M_v = ceil(p_v N3 / R)``, the FD basis vectors per layer (no configuration bars)."""
    if param_combination not in PARAM_COMBINATIONS:
        raise LinksimInputError(f"param_combination must be one of 1..8, got {param_combination!r}")
    _, p12, p34, _ = PARAM_COMBINATIONS[param_combination]
    p_v = p12 if rank <= 2 else p34
    if p_v is None:
        raise LinksimInputError(f"rank {rank} is not allowed with param_combination "
                                f"{param_combination}")
    return math.ceil(p_v * n3 / r)


def max_nonzero(param_combination: int, n3: int, r: int = 1) -> int:
    """``K0 = ceil(beta 2 L M_1)``, the most non-zero coefficients per layer."""
    if param_combination not in PARAM_COMBINATIONS:
        raise LinksimInputError(f"param_combination must be one of 1..8, got {param_combination!r}")
    big_l, p12, _, beta = PARAM_COMBINATIONS[param_combination]
    return math.ceil(beta * 2 * big_l * math.ceil(p12 * n3 / r))


# --------------------------------------------------------------------------- payload


def _clog2(x: int) -> int:
    return math.ceil(math.log2(x)) if x > 1 else 0


def payload_bits(n1: int, n2: int, o1: int, o2: int, n3: int, param_combination: int,
                 rank: int, k_nz: int | None = None, r: int = 1, max_rank: int | None = None,
                 strict: bool = True) -> dict[str, int]:
    """PMI payload of one eType II report, per field (TS 38.212 Table 6.3.2.1.2-1A widths).

    Parameters
    ----------
    n1, n2, o1, o2 : int
        Panel dimensions and DFT oversampling factors (``2 N1 N2`` ports).
    n3 : int
        PMI subbands ``N3``.
    param_combination : int
        paramCombination-r16, 1..8.
    rank : int
        Reported rank ``v``, 1..4.
    k_nz : int or None
        Total non-zero coefficients over all layers, ``v <= K_NZ <= min(v K0', 2 K0)`` with
        ``K0' = min(K0, 2 L M_v)``. ``None``: that maximum.
    r : int
        numberOfPMI-SubbandsPerCQI-Subband ``R`` (1 or 2).
    max_rank : int or None
        Highest rank the RI restriction allows; it sets the part-1 NNZ width
        (``ceil(log2 K0)`` if 1, ``ceil(log2 2K0)`` otherwise). ``None``: more than 1.
    strict : bool
        Enforce the configuration bars of 38.214 5.2.2.2.5 (pc 7/8 need >= 32 ports and R = 1;
        pc 3-8 not with 4 ports).

    Returns
    -------
    dict[str, int]
        Bits of ``i11, i12, i15, i16, i17, i18, i23, i24, i25`` (each summed over layers),
        ``part1_nnz`` (the NNZ indicator of CSI part 1), ``part2`` (sum of the ``i`` fields) and
        ``total`` (``part1_nnz + part2``). RI, CQI and LI are not counted.

    Raises
    ------
    LinksimInputError
        A configuration outside the spec, or ``k_nz`` out of range; the message names the field.
    """
    n1, n2 = _check_int("n1", n1, 1), _check_int("n2", n2, 1)
    o1, o2 = _check_int("o1", o1, 1), _check_int("o2", o2, 1)
    n3 = _check_int("n3", n3, 1)
    big_l, _, _ = _params(param_combination, rank, n1, n2, n3, r, strict)
    mv = num_fd_basis(param_combination, n3, rank, r)
    k0 = max_nonzero(param_combination, n3, r)
    k_max = min(rank * min(k0, 2 * big_l * mv), 2 * k0)
    if k_nz is None:
        k_nz = k_max
    if isinstance(k_nz, bool) or not isinstance(k_nz, int | np.integer) \
            or not rank <= k_nz <= k_max:
        raise LinksimInputError(f"k_nz must be an integer in {rank}..{k_max} "
                                f"(rank .. min(rank*K0, 2*K0)), got {k_nz!r}")
    k_nz = int(k_nz)
    bits = {
        "i11": _clog2(o1 * o2),
        "i12": _clog2(math.comb(n1 * n2, big_l)),
        "i15": _clog2(2 * mv) if n3 > 19 else 0,
        "i16": rank * _clog2(math.comb(2 * mv - 1, mv - 1) if n3 > 19
                             else math.comb(n3 - 1, mv - 1)),
        "i17": rank * 2 * big_l * mv,
        "i18": _clog2(k_nz) if rank == 1 else rank * _clog2(2 * big_l),
        "i23": 4 * rank,
        "i24": 3 * (k_nz - rank),
        "i25": 4 * (k_nz - rank),
    }
    bits["part1_nnz"] = _clog2(k0) if max_rank == 1 else _clog2(2 * k0)
    bits["part2"] = sum(bits[k] for k in ("i11", "i12", "i15", "i16", "i17", "i18", "i23",
                                          "i24", "i25"))
    bits["total"] = bits["part1_nnz"] + bits["part2"]
    return bits


# --------------------------------------------------------------------------- the report


@dataclass
class ETypeIIReport:
    """One eType II report per sample (arrays over the batch ``b``; ``v`` layers).

    Attributes
    ----------
    n1, n2, o1, o2, n3, param_combination, r : int
        The configuration.
    q : [b, 2] int64
        Rotation ``(q1, q2)`` (``i_{1,1}``).
    beams : [b, L] int64
        Orthogonal beam indices ``k = N1 k2 + k1``, ascending (the set of ``i_{1,2}``).
    m_initial : [b] int64
        Window start for ``N3 > 19`` (``i_{1,5} = m_initial mod 2M_v``); 0 otherwise.
    fd_basis : [b, v, M_v] int64
        Remapped FD indices ``n3^(f)`` in ``0..N3-1``, ascending, ``fd_basis[..., 0] = 0``.
    bitmap : [b, v, 2L, M_v] bool
        ``i_{1,7,l}``: non-zero coefficients.
    strongest : [b, v] int64
        Row ``i*`` of the strongest coefficient (at ``f = 0``).
    k1 : [b, v, 2] int64
        Reference amplitude index per polarisation (15 for the strongest's polarisation).
    k2, c : [b, v, 2L, M_v] int64
        Differential amplitude (0..7) and phase (0..15) indices; meaningful where ``bitmap``.
    """

    n1: int
    n2: int
    o1: int
    o2: int
    n3: int
    param_combination: int
    r: int
    q: np.ndarray
    beams: np.ndarray
    m_initial: np.ndarray
    fd_basis: np.ndarray
    bitmap: np.ndarray
    strongest: np.ndarray
    k1: np.ndarray
    k2: np.ndarray
    c: np.ndarray

    @property
    def rank(self) -> int:
        return self.bitmap.shape[1]

    @property
    def k_nz(self) -> np.ndarray:
        """``[b, v]`` int64, non-zero coefficients per layer."""
        return self.bitmap.sum(axis=(-2, -1))

    def sci(self) -> np.ndarray:
        """``[b, v]`` int64, the strongest coefficient indicator ``i_{1,8,l}``."""
        if self.rank > 1:
            return self.strongest.copy()
        col0 = self.bitmap[..., 0]  # [b, v, 2L]
        upto = np.arange(col0.shape[-1]) <= self.strongest[..., None]
        return (col0 & upto).sum(axis=-1) - 1

    def payload_bits(self) -> np.ndarray:
        """``[b]`` int64, total bits (part-1 NNZ + PMI fields) with each sample's ``K_NZ``."""
        totals = self.k_nz.sum(axis=1)
        cache: dict[int, int] = {}
        for k in np.unique(totals):
            cache[int(k)] = payload_bits(self.n1, self.n2, self.o1, self.o2, self.n3,
                                         self.param_combination, self.rank, int(k), self.r,
                                         strict=False)["total"]
        return np.array([cache[int(k)] for k in totals], dtype=np.int64)

