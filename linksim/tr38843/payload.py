"""Payloads: the eType II payload of each paramCombination and the payload bins in which AI
codecs are compared with it (TR 38.843 evaluations compare at matched payloads).

**Bins.** The RAN1 evaluations of AI CSI compression group results in three payload ranges,
"small", "medium" and "large" (the CSI feedback payloads X, Y, Z). The defaults of
:data:`DEFAULT_BINS` are the ranges as we remember the RAN1 agreement (RAN1#110bis-e/#111 era):
small ``<= 80`` bits, medium ``100 .. 140`` bits, large ``>= 230`` bits. They could not be
verified against the TR text or a company summary here (the ``search`` tool found no source).
They fit the 32-port rank-1 case: ``(N1, N2, O1, O2) = (8, 2, 4, 4)``, ``N3 = 13`` gives
paramCombination 1 = 65 bits (small), 3 = 115 (medium), 5 / 7 / 6 / 8 = 231 / 249 / 285 / 335
(large), 2 = 95 and 4 = 173 in no bin. Other panels need their own bins (the study's config).

**Matching.** A bin holds every paramCombination whose eType II payload (all fields at the
maximum ``K_NZ``, :func:`linksim.etype2.payload_bits`) lies in it; its *reference* is the one
with the smallest payload. An AI codec in the bin gets ``M = floor(P_ref / B)`` codeword entries
of ``B`` bits, so its payload ``M B <= P_ref <=`` every eType II payload of the bin.

**Vector quantisation** (``quantizer: vector``, :class:`linksim.tr38843.training.VectorQuantiser`)
cuts the codeword into ``M / d`` sub-vectors of ``d`` entries (``vq_dim``), each sent as the
index of one of ``2^(B d)`` code vectors, i.e. ``B d`` bits. Its payload is
``(M / d) B d = M B`` bits, the scalar quantiser's, with
``M = d floor(P_ref / (B d))`` (the largest multiple of ``d`` within the budget; the scalar
``floor(P_ref / B)`` when ``d`` divides it), so it falls in the same bins.
"""

from __future__ import annotations

from linksim.errors import LinksimInputError
from linksim.etype2 import PARAM_COMBINATIONS, payload_bits

#: Most bits per vector-quantised sub-vector (``B d``): a codebook of ``2^12 = 4096`` vectors.
VQ_MAX_BITS = 12

#: name -> (lowest, highest) payload in bits, ``None`` = unbounded above.
DEFAULT_BINS: dict[str, tuple[int, int | None]] = {"small": (0, 80), "medium": (100, 140),
                                                   "large": (230, None)}


def etype2_payloads(n1: int, n2: int, o1: int, o2: int, n3: int, rank: int) -> dict[int, int]:
    """Total eType II payload (bits) of each paramCombination 1..8 allowed for this
    configuration (TS 38.214 bars applied: e.g. 7/8 need 32 ports, 3-8 not with 4 ports,
    7/8 not above rank 2); ``{pc: bits}``, ascending ``pc``."""
    out = {}
    for pc in PARAM_COMBINATIONS:
        try:
            out[pc] = payload_bits(n1, n2, o1, o2, n3, pc, rank)["total"]
        except LinksimInputError:
            continue
    return out


def bin_members(payloads: dict[int, int], bins: dict[str, tuple[int, int | None]]
                ) -> dict[str, list[int]]:
    """paramCombinations in each bin, sorted by payload (the first is the bin's reference).

    Raises
    ------
    LinksimInputError
        A bin that no paramCombination reaches (the message names it and lists the payloads).
    """
    out = {}
    for name, (lo, hi) in bins.items():
        pcs = [pc for pc, bits in payloads.items() if bits >= lo and (hi is None or bits <= hi)]
        if not pcs:
            listing = ", ".join(f"pc{pc}={bits}" for pc, bits in payloads.items())
            raise LinksimInputError(f"payload_bins.{name}: no eType II paramCombination has a "
                                    f"payload in [{lo}, {'inf' if hi is None else hi}] bits "
                                    f"(payloads: {listing})")
        out[name] = sorted(pcs, key=lambda pc: (payloads[pc], pc))
    return out


def codeword_length(budget_bits: int, bits_per_entry: int, field: str = "quantizer_bits",
                    vq_dim: int = 1) -> int:
    """``M = floor(budget / B)``, the AI codeword entries within a bin's budget; with vector
    quantisation of ``d = vq_dim`` entries per sub-vector ``M = d floor(budget / (B d))`` (the
    payload ``M B`` either way; module docstring).

    Raises
    ------
    LinksimInputError
        ``M < 1`` (the budget is below ``B``, or ``B d``); the message names ``field`` (and
        ``vq_dim`` when ``d > 1``).
    """
    d = int(vq_dim)
    m = int(budget_bits) // (int(bits_per_entry) * d) * d
    if m < 1:
        if d > 1:
            raise LinksimInputError(f"vq_dim: sub-vectors of {d} entries at {bits_per_entry} "
                                    f"bits each ({d * bits_per_entry} bits) do not fit in a "
                                    f"budget of {budget_bits} bits")
        raise LinksimInputError(f"{field}: {bits_per_entry} bits per entry leave no codeword "
                                f"entry in a budget of {budget_bits} bits")
    return m
