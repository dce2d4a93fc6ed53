"""Where eType II loses SGCS, stage by stage, for every paramCombination of a TR 38.843 study.

For the test eigenvectors of each set of a ``tr38843`` scenario (default
``scenarios/tr38843.yaml``; the channels come from the data cache, generated if missing), prints
the mean SGCS per layer after each stage of the Rel-16 eType II report (TS 38.214 5.2.2.2.5,
``linksim/etype2/coder.py``):

1. ``beams``: projection on the ``2L`` selected oversampled-DFT beams, every one of the ``N3``
   frequency-domain taps kept, no quantisation;
2. ``+fd``: only the ``M_v`` selected frequency-domain basis vectors kept (all ``2 L M_v``
   coefficients, unquantised);
3. ``+k0``: only the ``K0 = ceil(beta 2 L M_1)`` strongest of them kept (unquantised);
4. ``report``: the full report, amplitudes and phases quantised (what the study scores).

Each stage's loss against the previous one says what bounds a paramCombination: the number of
beams ``L``, the frequency-domain basis size ``M_v = ceil(p_v N3 / R)``, the non-zero budget
``beta``, or the quantisers. Run from the repository root::

    python benchmarks/etype2_stages.py [--scenario scenarios/tr38843.yaml] [--n 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from linksim.channels.dataset import default_cache_dir

from linksim.data import load_split
from linksim.errors import LinksimInputError
from linksim.etype2 import compress, payload_bits
from linksim.etype2.coder import sd_coefficients, select_beams, select_fd_basis, spatial_basis
from linksim.etype2.params import PARAM_COMBINATIONS, max_nonzero, num_fd_basis
from linksim.phy.eigen import sgcs_per_layer, subband_eigenvectors
from linksim.scenario import load_scenario
from linksim.seeding import derive_seed
from linksim.tr38843.metrics import normalise_channels


def _rebuild(x: np.ndarray, basis: np.ndarray, n3: int) -> np.ndarray:
    """Precoders ``[b, N3, Nt, v]`` (unit norm per subband and layer) from delay-domain
    coefficients ``x [b, v, 2L, N3]`` (zeros where dropped) on the beams ``basis [b, N1N2, L]``."""
    coef = np.fft.ifft(x, axis=-1) * n3  # c_t = sum_n x_n exp(+j 2 pi t n / N3)
    big_l = basis.shape[-1]
    v = np.concatenate([np.einsum("bpi,blit->btpl", basis, coef[:, :, :big_l]),
                        np.einsum("bpi,blit->btpl", basis, coef[:, :, big_l:])], axis=2)
    norm = np.linalg.norm(v, axis=2, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def stages(v: np.ndarray, n1: int, n2: int, o1: int, o2: int, pc: int
           ) -> tuple[dict[str, np.ndarray], int, int, int]:
    """Mean SGCS per layer ``[v]`` of ``v [b, N3, Nt, v]`` after each stage (module docstring),
    and the combination's ``L``, ``M_v`` and ``K0``."""
    b, n3, _, nl = v.shape
    big_l = PARAM_COMBINATIONS[pc][0]
    mv, k0 = num_fd_basis(pc, n3, nl, 1), max_nonzero(pc, n3, 1)
    q, beams = select_beams(v, n1, n2, o1, o2, big_l)
    basis = spatial_basis(q, beams, n1, n2, o1, o2)
    x = np.fft.fft(sd_coefficients(v, basis), axis=-1) / n3  # [b, v, 2L, N3]
    shift, taps, _ = select_fd_basis(x, mv)
    keep_fd = np.zeros(x.shape[:2] + (n3,), bool)
    np.put_along_axis(keep_fd, (taps + shift[..., None]) % n3, True, axis=-1)
    x_fd = np.where(keep_fd[:, :, None, :], x, 0)
    # the report's budget: the K0 strongest per layer, then the 2 K0 strongest over the layers
    mag = np.where(keep_fd[:, :, None, :], np.abs(x), -1.0).reshape(b, nl, -1)
    in_layer = np.argsort(np.argsort(-mag, axis=-1, kind="stable"), axis=-1) < k0
    flat = np.where(in_layer, mag, -1.0).reshape(b, -1)
    overall = np.argsort(np.argsort(-flat, axis=-1, kind="stable"), axis=-1) < 2 * k0
    keep = (in_layer.reshape(b, -1) & overall).reshape(x.shape) & keep_fd[:, :, None, :]
    x_k0 = np.where(keep, x, 0)
    v_report, _ = compress(v, n1, n2, o1, o2, pc)
    return {name: sgcs_per_layer(v, vh).mean(axis=(0, 1)) for name, vh in (
        ("beams", _rebuild(x, basis, n3)), ("+fd", _rebuild(x_fd, basis, n3)),
        ("+k0", _rebuild(x_k0, basis, n3)), ("report", v_report))}, big_l, mv, k0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="scenarios/tr38843.yaml")
    p.add_argument("--n", type=int, default=300, help="test drops per set (at most the split's)")
    a = p.parse_args(argv)
    sc = load_scenario(Path(a.scenario))
    st = sc.tr38843
    cache = Path(sc.cache_dir) if sc.cache_dir else default_cache_dir()
    names = list(dict.fromkeys(n for c in (st.generalization if isinstance(
        st.generalization, list) else [st.generalization]) for n in (*c.train, *(c.test or ()))))
    for name in names:
        t0 = time.perf_counter()
        ds, path, how = load_split(sc.datasets[name], "test",
                                   derive_seed(sc.seed, "dataset", name, "test"), cache)
        h = ds.channels()[:a.n]
        h = h[:, :, None, :] if h.ndim == 3 else h
        v = subband_eigenvectors(normalise_channels(h), st.subband_size, st.rank)[0]
        n3 = v.shape[1]
        print(f"{name}: {len(v)} test drops ({how}, {path.name}), N3 = {n3}, rank {st.rank}, "
              f"({st.n1}, {st.n2}) x 2 ports")
        print("| pc | L | M_v | K0 | bits | " + " | ".join(
            f"{s} l{layer + 1}" for s in ("beams", "+fd", "+k0", "report")
            for layer in range(st.rank)) + " |")
        print("|---" * (5 + 4 * st.rank) + "|")
        for pc in range(1, 9):
            try:
                bits = payload_bits(st.n1, st.n2, st.o1, st.o2, n3, pc, st.rank)["total"]
            except LinksimInputError as exc:  # a combination the configuration bars
                print(f"| {pc} | not allowed here: {exc} |")
                continue
            sg, big_l, mv, k0 = stages(v, st.n1, st.n2, st.o1, st.o2, pc)
            print(f"| {pc} | {big_l} | {mv} | {k0} | {bits} | " + " | ".join(
                f"{x:.3f}" for s in ("beams", "+fd", "+k0", "report") for x in sg[s]) + " |")
        print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
