"""Compressive-sensing recovery NMSE (LASSO, TV, OMP of linksim.baselines) against the CsiNet
paper's Table I, on COST2100 channels generated here or on stored data.

    python benchmarks/cs_recovery.py --env indoor_5.3GHz [--crs 4 16 32 64] [--n 300]
    python benchmarks/cs_recovery.py --npy h_ad.npy --paper outdoor
    python benchmarks/cs_recovery.py --h5 ~/.cache/linksim/<key>.h5 --paper indoor
    python benchmarks/cs_recovery.py --mat DATA_Htestin.mat --paper indoor
    python benchmarks/cs_recovery.py --env indoor_5.3GHz --n 200 --study

``--study`` prints, instead, the readings of the paper's LASSO and TVAL3 set-ups (best or fixed
regularisation, few iterations, the data's own scale, the stored [0, 1] offset: see
:func:`lasso_study`); run it on ``indoor_5.3GHz_reference`` and ``indoor_5.3GHz`` for the
before / after table of the COST 2100 calibration (docs/channels.md).

For each compression ratio ``CR = N / M`` (``N = 2 Na Nt`` real entries, ``M`` float32
measurements ``A x / ||x||`` of a Gaussian ``A``, seed ``--matrix-seed``), every method's
regularisation is searched over its whole grid on the same samples and the best kept (the
paper's "best regularisation per CR": an oracle choice, optimistic by the grid's resolution):
LASSO ``alpha`` (warm-started path over ``Lasso.ALPHA_GRID``), TV ``mu`` (``MU_GRID``) and OMP's
sparsity ``K`` (one pursuit gives every ``K``). NMSE is ``10 log10 mean_b ||x - x_hat||^2 /
||x||^2`` over the truncated ``Na x Nt`` angular-delay matrix, as in the paper. Times: the
grid search, and the decode of all samples at the chosen value (a cold start: its NMSE, in
the ``decode`` columns, checks that the path's value is converged).

The functions :func:`lasso_nmse`, :func:`tv_nmse`, :func:`omp_nmse` (``(NMSE dB, chosen
value)``), :func:`recovery_curve` (the whole grid) and :func:`load_channels` are importable, e.g.
to calibrate a channel generator against the paper's CS numbers::

    from benchmarks.cs_recovery import lasso_nmse, load_channels
    nmse_db, alpha = lasso_nmse(load_channels(env="indoor_5.3GHz", n=300), cr=4)

The solvers run numpy's OpenBLAS on ``linksim.baselines.sensing.SOLVER_BLAS_THREADS`` threads (1:
their many small products are many times slower multithreaded next to another busy process);
the script prints it and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from linksim.baselines import compressive, sensing
from linksim.errors import LinksimInputError

#: CsiNet paper (Wen et al. 2018), Table I, NMSE [dB] at CR 4 / 16 / 32 / 64 on its COST2100
#: data sets (indoor 5.3 GHz, outdoor semi-urban 300 MHz).
PAPER_NMSE_DB = {
    "lasso": {"indoor": {4: -7.59, 16: -2.72, 32: -1.03, 64: -0.14},
              "outdoor": {4: -5.08, 16: -1.01, 32: -0.24, 64: -0.06}},
    "tv": {"indoor": {4: -14.87, 16: -2.61, 32: -0.27, 64: 0.63},
           "outdoor": {4: -6.90, 16: -0.43, 32: 0.46, 64: 0.76}},
}
#: Paper scenario of each COST2100 environment.
PAPER_SCENARIO = {"indoor_5.3GHz": "indoor", "indoor_5.3GHz_reference": "indoor",
                  "outdoor_300MHz": "outdoor", "semiurban_300MHz_los": "outdoor",
                  "semiurban_300MHz_nlos": "outdoor"}
METHODS = ("lasso", "tv", "omp")


def load_channels(env: str | None = None, n: int = 300, seed: int = 0,
                  npy: str | Path | None = None, h5: str | Path | None = None,
                  mat: str | Path | None = None, mat_key: str = "HT", num_delay_rows: int = 32,
                  num_bs_antennas: int = 32, workers: int = 1, bandwidth_hz: float = 20e6,
                  overrides: dict | None = None) -> np.ndarray:
    """Truncated angular-delay channels ``[n, Na, Nt]`` complex64 from exactly one source.

    Parameters
    ----------
    env : str or None
        COST2100 environment (``linksim.channels.cost2100.ENVIRONMENTS``), generated with
        ``generate_cost2100_ad(n, env, num_bs_antennas, 1024 subcarriers, bandwidth_hz,
        num_delay_rows, seed)``; ``overrides`` replace fields of the environment
        (``dataclasses.replace``, e.g. ``{"dmc_power_fraction": 0.1}``).
    n : int
        Samples (the first ``n`` of a file).
    npy : path or None
        A ``.npy`` of ``h_ad [N, Na, Nt]`` complex.
    h5 : path or None
        A linksim data set file (``linksim.channels.dataset``): angular-delay sets are read as stored,
        impulse-response sets transformed (first ``num_delay_rows`` delay rows).
    mat : path or None
        A CsiNet ``.mat`` file (``linksim.channels.csinet_mat.read_csinet_mat``, variable ``mat_key``).
    """
    sources = [s for s in (env, npy, h5, mat) if s is not None]
    if len(sources) != 1:
        raise LinksimInputError("cs_recovery: give exactly one of env, npy, h5, mat")
    if env is not None:
        import dataclasses

        from linksim.channels.cost2100 import generate_cost2100_ad, get_environment

        environment = get_environment(env)
        if overrides:
            environment = dataclasses.replace(environment, **overrides)
        h_ad, _ = generate_cost2100_ad(n, environment, num_bs_antennas=num_bs_antennas,
                                       bandwidth_hz=bandwidth_hz, num_delay_rows=num_delay_rows,
                                       seed=seed, workers=workers)
    elif npy is not None:
        h_ad = np.load(npy, mmap_mode="r")[:n]
    elif mat is not None:
        from linksim.channels.csinet_mat import read_csinet_mat

        h_ad = read_csinet_mat(mat, key=mat_key)[:n]
    else:
        from linksim.channels.dataset import AdDataset, read_dataset

        from linksim.phy.transforms import truncated_angular_delay

        with read_dataset(Path(h5), lazy=True) as ds:
            if isinstance(ds, AdDataset):
                h_ad = np.asarray(ds.h_ad[:n])
            else:
                h_ad = truncated_angular_delay(ds.channels(0, n), num_delay_rows)
    h_ad = np.ascontiguousarray(h_ad)
    if h_ad.ndim != 3 or h_ad.dtype.kind != "c" or h_ad.shape[0] == 0:
        raise LinksimInputError(f"cs_recovery: expected complex h_ad [N, Na, Nt], got "
                                f"{h_ad.dtype} {list(h_ad.shape)}")
    return h_ad.astype(np.complex64, copy=False)


def num_measurements(shape: tuple[int, int], cr: float) -> int:
    """``M = round(2 Na Nt / CR)``."""
    m = round(2 * shape[0] * shape[1] / cr)
    if m < 1:
        raise LinksimInputError(f"cs_recovery: CR {cr} leaves no measurement")
    return m


def make(kind: str, shape: tuple[int, int], cr: float, seed: int = 0,
         measurement_bits: int = 32, **options) -> compressive.CompressiveSensing:
    """The ``kind`` baseline at compression ratio ``cr`` (float32 measurements by default)."""
    if kind not in compressive.SCHEMES:
        raise LinksimInputError(f"cs_recovery: kind must be one of {METHODS}, got {kind!r}")
    return compressive.SCHEMES[kind](shape, num_measurements(shape, cr),
                                     measurement_bits=measurement_bits, seed=seed, **options)


def recovery_curve(kind: str, h_ad: np.ndarray, cr: float, values=None, seed: int = 0,
                   measurement_bits: int = 32, **options) -> dict:
    """NMSE [dB] of each regularisation value (default: the method's whole grid) on ``h_ad``.

    With quantised measurements (``measurement_bits < 32``) the quantiser's range is fitted on
    ``h_ad`` first. Returns ``{value: NMSE dB}``.
    """
    bl = make(kind, tuple(h_ad.shape[1:]), cr, seed, measurement_bits, **options)
    bl.fit_quantiser(h_ad)
    values = bl.default_grid() if values is None else list(values)
    nmse = bl.sweep(h_ad, values)
    return {v: float(10 * np.log10(e)) for v, e in zip(values, nmse, strict=True)}


def _best(kind: str, h_ad: np.ndarray, cr: float, values, seed: int, **options
          ) -> tuple[float, float | int]:
    curve = recovery_curve(kind, h_ad, cr, values, seed, **options)
    value = min(curve, key=curve.get)
    return curve[value], value


def lasso_nmse(h_ad: np.ndarray, cr: float, alphas=None, seed: int = 0, **options
               ) -> tuple[float, float]:
    """Best LASSO NMSE [dB] over ``alphas`` (default ``Lasso.ALPHA_GRID``) and its ``alpha``.

    ``h_ad [b, Na, Nt]`` complex; ``options``: ``measurement_bits``, ``iterations``,
    ``path_iterations``, ``penalty``.
    """
    return _best("lasso", h_ad, cr, alphas, seed, **options)


def tv_nmse(h_ad: np.ndarray, cr: float, mus=None, seed: int = 0, **options
            ) -> tuple[float, float]:
    """Best TV NMSE [dB] over ``mus`` (default ``TotalVariation.MU_GRID``) and its ``mu``."""
    return _best("tv", h_ad, cr, mus, seed, **options)


def omp_nmse(h_ad: np.ndarray, cr: float, sparsities=None, seed: int = 0, **options
             ) -> tuple[float, int]:
    """Best OMP NMSE [dB] over ``sparsities`` (default ``OMP.default_grid()``) and its ``K``."""
    return _best("omp", h_ad, cr, sparsities, seed, **options)


# -- how was the paper's LASSO run? (issue 15: the LASSO and TVAL3 columns) --------------------

def real_vectors(h_ad: np.ndarray) -> np.ndarray:
    """``[b, Na, Nt]`` complex -> ``x = [Re, Im]`` rows ``[b, 2 Na Nt]`` float64 (the layout of
    ``linksim.baselines.sensing``)."""
    flat = np.asarray(h_ad).reshape(len(h_ad), -1)
    return np.concatenate([flat.real, flat.imag], axis=1).astype(np.float64)


def unit_interval(x: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, float]:
    """CsiNet's stored form ``x_n = 0.5 + x / (2 s)``, ``s`` the largest ``|x|`` of the data set
    (``linksim.phy.transforms.Normalizer``, mode ``"unit_interval"``, rule ``"max"``)."""
    s = float(np.max(np.abs(x))) if scale is None else float(scale)
    return 0.5 + x / (2.0 * s), s


def study_curve(kind: str, x: np.ndarray, cr: float, values, seed: int = 0, offset: float = 0.0,
                lam: str = "relative", iterations: int | None = None,
                normalise: bool = True, shape: tuple[int, int] = (32, 32), **options) -> dict:
    """NMSE [dB] per regularisation value of recovering real vectors ``x [b, N]`` (any scale,
    possibly offset) from ``y = A x``, the error taken against ``x - offset``:
    ``10 log10 mean_b ||x_hat - x||^2 / ||x - offset||^2`` (CsiNet's NMSE of [0, 1]-stored data
    after subtracting 0.5).

    ``lam``: ``"relative"`` (LASSO ``lam = alpha lam_max(y)`` per sample, the warm-started path
    of :class:`linksim.baselines.Lasso`), ``"absolute"`` (one ``lam`` for every sample, on the
    data's own scale: ``normalise`` is then ignored and ``y = A x`` unscaled; warm-started path
    as well). ``shape``: ``(Na, Nt)`` of the images. ``iterations``: LASSO with that many FISTA iterations from zero and no
    continuation, each value solved cold (a solver stopped early). ``normalise``: measure
    ``A x / ||x||`` and rescale the estimate (what the UE does here); TV's ``mu`` is scale
    dependent, so this keeps its grid meaningful.
    """
    x = np.asarray(x, np.float64)
    bl = make(kind, shape, cr, seed, 32, **options)
    values = list(values)
    absolute = kind == "lasso" and lam == "absolute"
    norm = np.sqrt(np.sum(x * x, axis=1)) if (normalise and not absolute) else np.ones(len(x))
    y = (x / norm[:, None]) @ bl.matrix.T
    y = y.astype(np.float32).astype(np.float64)  # float32 measurements, as the UE sends
    ref = np.sum((x - offset) ** 2, axis=1)
    out = np.zeros(len(values))
    with sensing.blas_threads(sensing.SOLVER_BLAS_THREADS):
        if kind == "lasso" and (absolute or iterations is not None):
            lmax = bl.lam_max(y)
            if iterations is not None:
                sols = ((i, bl.fista(y, (values[i] if absolute else values[i] * lmax)
                                     * np.ones(len(y)), iterations=int(iterations)))
                        for i in range(len(values)))
            else:
                def path():
                    order = np.argsort(-np.asarray(values, np.float64), kind="stable")
                    xs, start, its = None, lmax, bl.iterations
                    for i in order:
                        target = np.full(len(y), float(values[i]))
                        xs = bl.fista(y, target, x0=xs, lam_start=np.maximum(start, target),
                                      iterations=its)
                        yield int(i), xs
                        start, its = target, bl.path_iterations
                sols = path()
        else:
            sols = bl._solve_path(y, values)
        for i, x_hat in sols:
            err = np.sum((x_hat * norm[:, None] - x) ** 2, axis=1)
            out[i] = np.mean(err / ref)
    return {v: float(10 * np.log10(e)) for v, e in zip(values, out, strict=True)}


def sample_distances(env: str, n: int, seed: int = 0) -> np.ndarray:
    """BS-MS distances [m] of the first ``n`` samples of ``generate_cost2100_ad(n, env,
    seed=seed)`` (for a free-space path loss ``1 / d`` on the amplitudes)."""
    from linksim.channels.cost2100 import draw_samples

    return np.concatenate([np.hypot(d.ms[:, 0], d.ms[:, 1]) for _, d in draw_samples(n, env, seed)])


#: Readings of the paper's LASSO column tested by :func:`lasso_study` (row labels).
STUDY_ITERATIONS = (10, 20, 30, 100)


def lasso_study(h_ad: np.ndarray, crs=(4, 16, 32, 64), seed: int = 0,
                distances: np.ndarray | None = None, tv: bool = True, echo=print) -> dict:
    """NMSE [dB] per CR of the readings of the paper's LASSO (and TVAL3) set-up on ``h_ad``.

    Rows (label -> {CR: NMSE dB}):

    - LASSO, best ``alpha`` per CR (``lam = alpha lam_max(y)``, unit-norm measurements);
    - LASSO, one ``alpha`` for all CRs: the best of CR 4, the best of CR 16 and
      :data:`CALIBRATION_ALPHA`;
    - LASSO stopped after 10 / 20 / 30 / 100 FISTA iterations from zero (no continuation), best
      ``alpha`` per CR;
    - LASSO on the data's own scale ``x / (2 s)`` (``s`` the data set's largest entry, no
      per-sample normalisation) with one absolute ``lam`` for all samples and CRs (the best of
      CR 4, the best of CR 16), with unit-power samples and, given ``distances``, with a
      free-space path loss ``1 / d`` on each sample's amplitude (``d >= 1 m``) before the
      scaling;
    - LASSO on the stored [0, 1] data ``0.5 + x / (2 s)``, NMSE after subtracting 0.5, best
      ``alpha`` per CR;
    - TV (``tv=True``): best ``mu`` per CR, one ``mu`` for all CRs (the best of CR 4), and on the
      stored [0, 1] data (best ``mu``).
    """
    from linksim.baselines import Lasso, TotalVariation

    crs = list(crs)
    x = real_vectors(h_ad)
    rows: dict[str, dict] = {}

    def add(label, vals):
        rows[label] = vals
        echo(f"  {label}: " + ", ".join(f"CR {c} {v:.2f}" for c, v in vals.items()))

    alphas = list(Lasso.ALPHA_GRID)
    curves = {c: study_curve("lasso", x, c, alphas, seed) for c in crs}
    add("LASSO, best alpha per CR", {c: min(curves[c].values()) for c in crs})
    fixed = []
    for ref in (4, 16):
        if ref in curves:
            a = min(curves[ref], key=curves[ref].get)
            fixed.append(a)
            add(f"LASSO, alpha fixed at the CR-{ref} best ({a:.3g})",
                {c: curves[c][a] for c in crs})
    if CALIBRATION_ALPHA not in fixed:
        add(f"LASSO, alpha fixed at {CALIBRATION_ALPHA:g} (the calibration value)",
            {c: curves[c][CALIBRATION_ALPHA] for c in crs})
    few = [a for a in alphas if a >= 1e-3]
    for k in STUDY_ITERATIONS:
        add(f"LASSO, {k} FISTA iterations, best alpha",
            {c: min(study_curve("lasso", x, c, few, seed, iterations=k).values()) for c in crs})
    weights = {"unit-power samples": np.ones(len(x))}
    if distances is not None:
        weights["path loss 1/d"] = 1.0 / np.maximum(np.asarray(distances, np.float64), 1.0)
    for name, w in weights.items():
        xs, _ = unit_interval(x * w[:, None])
        xs -= 0.5
        peak = float(np.median(np.max(np.abs(xs), axis=1)))
        lams = [peak * 10.0 ** (e / 4) for e in range(-16, 1)]
        abs_curves = {c: study_curve("lasso", xs, c, lams, seed, lam="absolute") for c in crs}
        for ref in (4, 16):
            if ref in abs_curves:
                lam_ref = min(abs_curves[ref], key=abs_curves[ref].get)
                add(f"LASSO on x/(2s), {name}, one lam for all (the CR-{ref} best, "
                    f"{lam_ref / peak:.3g} x median peak)",
                    {c: abs_curves[c][lam_ref] for c in crs})
    xn, _ = unit_interval(x)
    add("LASSO on 0.5 + x/(2s), NMSE of x_hat - 0.5, best alpha",
        {c: min(study_curve("lasso", xn, c, alphas, seed, offset=0.5).values())
         for c in crs})
    if tv:
        mus = [m for m in TotalVariation.MU_GRID if 1.0 <= m <= 1e5]
        tvc = {c: study_curve("tv", x, c, mus, seed) for c in crs}
        add("TV, best mu per CR", {c: min(tvc[c].values()) for c in crs})
        m4 = min(tvc[crs[0]], key=tvc[crs[0]].get)
        add(f"TV, mu fixed at the CR-{crs[0]} best ({m4:g})", {c: tvc[c][m4] for c in crs})
        add("TV on 0.5 + x/(2s), NMSE of x_hat - 0.5, best mu",
            {c: min(study_curve("tv", xn, c, list(TotalVariation.MU_GRID), seed,
                                offset=0.5).values()) for c in crs[:1]})
    return rows


#: The calibration check (:func:`calibration_row`, tests/test_cost2100_calibration.py): the
#: paper's LASSO read as one ``alpha`` for every CR, its TVAL3 as the ``mu`` tuned at CR 4.
CALIBRATION_ALPHA = 0.1
#: ``alpha`` range searched at each CR (values of ``Lasso.ALPHA_GRID`` within it).
CALIBRATION_ALPHA_RANGE = {4: (3e-4, 0.11), 16: (0.009, 0.6)}
CALIBRATION_MUS = {4: [316.227766, 1e3, 3162.27766, 1e4, 31622.776602, 1e5],
                   16: [10.0, 31.622777, 100.0, 316.227766, 1000.0]}


def calibration_row(h_ad: np.ndarray, seed: int = 0) -> dict:
    """The quick calibration check at CR 4 and 16 (NMSE dB; grids around the optima):

    ``tv4`` best ``mu`` of ``CALIBRATION_MUS[4]`` (``tv4_mu``), ``tv16`` best at CR 16 and
    ``tv16_fixed`` at ``tv4_mu`` (TVAL3 tuned once); ``lasso4_fixed`` / ``lasso16_fixed`` with
    ``alpha = CALIBRATION_ALPHA``; ``lasso4`` / ``lasso16`` best ``alpha`` of the grid values
    within ``CALIBRATION_ALPHA_RANGE``.
    """
    from linksim.baselines import Lasso

    x = real_vectors(h_ad)
    grid = {cr: [a for a in Lasso.ALPHA_GRID if lo <= a <= hi]
            for cr, (lo, hi) in CALIBRATION_ALPHA_RANGE.items()}
    out = {}
    for cr in (4, 16):
        lc = study_curve("lasso", x, cr, grid[cr], seed)
        out[f"lasso{cr}"] = min(lc.values())
        out[f"lasso{cr}_alpha"] = min(lc, key=lc.get)
        out[f"lasso{cr}_fixed"] = lc[CALIBRATION_ALPHA]
    t4 = study_curve("tv", x, 4, CALIBRATION_MUS[4], seed)
    out["tv4_mu"] = min(t4, key=t4.get)
    out["tv4"] = t4[out["tv4_mu"]]
    t16 = study_curve("tv", x, 16, sorted(set(CALIBRATION_MUS[16]) | {out["tv4_mu"]}), seed)
    out["tv16"] = min(t16.values())
    out["tv16_mu"] = min(t16, key=t16.get)
    out["tv16_fixed"] = t16[out["tv4_mu"]]
    return out


def calibration_text(row: dict, paper: str | None) -> str:
    """One-line summary of :func:`calibration_row` beside the paper's numbers."""
    p = (lambda m, cr: f" (paper {PAPER_NMSE_DB[m][paper][cr]:.2f})") if paper else \
        (lambda m, cr: "")
    return (f"TV CR4 {row['tv4']:.2f}{p('tv', 4)} at mu={row['tv4_mu']:g}; "
            f"TV CR16 best {row['tv16']:.2f} / at the CR-4 mu {row['tv16_fixed']:.2f}"
            f"{p('tv', 16)}; LASSO alpha={CALIBRATION_ALPHA:g} CR4 {row['lasso4_fixed']:.2f}"
            f"{p('lasso', 4)}, CR16 {row['lasso16_fixed']:.2f}{p('lasso', 16)}; "
            f"LASSO best alpha CR4 {row['lasso4']:.2f} (alpha={row['lasso4_alpha']:g}), "
            f"CR16 {row['lasso16']:.2f} (alpha={row['lasso16_alpha']:g})")


def study_table(rows: dict, paper: str | None) -> str:
    """Markdown table of :func:`lasso_study` rows (and the paper's columns)."""
    crs = sorted({c for r in rows.values() for c in r})
    lines = ["| reading | " + " | ".join(f"CR {c}" for c in crs) + " |",
             "|---|" + "---|" * len(crs)]
    if paper:
        for m, lab in (("lasso", "LASSO"), ("tv", "TVAL3")):
            lines.append(f"| paper {lab} ({paper}) | "
                         + " | ".join(f"{PAPER_NMSE_DB[m][paper].get(int(c), float('nan')):.2f}"
                                      for c in crs) + " |")
    for label, vals in rows.items():
        lines.append(f"| {label} | " + " | ".join(
            f"{vals[c]:.2f}" if c in vals else "" for c in crs) + " |")
    return "\n".join(lines)


def run(h_ad: np.ndarray, crs, methods=METHODS, seed: int = 0, measurement_bits: int = 32,
        decode_timing: bool = True, echo=print) -> list[dict]:
    """One row per (CR, method): best NMSE, chosen value, search time, decode time/NMSE."""
    rows = []
    shape = tuple(h_ad.shape[1:])
    reg = {"lasso": "alpha", "tv": "mu", "omp": "sparsity"}
    for cr in crs:
        for kind in methods:
            t0 = time.perf_counter()
            curve = recovery_curve(kind, h_ad, cr, None, seed, measurement_bits)
            t_search = time.perf_counter() - t0
            value = min(curve, key=curve.get)
            row = {"cr": cr, "m": num_measurements(shape, cr), "method": kind,
                   "nmse_db": curve[value], "value": value, "search_s": t_search,
                   "grid_size": len(curve)}
            if decode_timing:
                bl = make(kind, shape, cr, seed, measurement_bits, **{reg[kind]: value})
                bl.fit_quantiser(h_ad)
                t0 = time.perf_counter()
                h_hat, _ = bl.compress(h_ad)
                row["decode_ms_per_sample"] = 1e3 * (time.perf_counter() - t0) / len(h_ad)
                x = h_ad.reshape(len(h_ad), -1)
                err = np.sum(np.abs(x - h_hat.reshape(len(h_ad), -1)) ** 2, axis=1)
                row["decode_nmse_db"] = float(10 * np.log10(np.mean(
                    err / np.sum(np.abs(x) ** 2, axis=1))))
            echo(f"  CR {cr:>3} {kind:<5}: {row['nmse_db']:7.2f} dB at {reg[kind]}={value:g} "
                 f"(grid of {len(curve)}, {t_search:.1f} s"
                 + (f"; decode {row['decode_nmse_db']:.2f} dB, "
                    f"{row['decode_ms_per_sample']:.1f} ms/sample)" if decode_timing else ")"))
            rows.append(row)
    return rows


def table(rows: list[dict], paper: str | None) -> str:
    """Markdown table: ours beside the paper's, per CR."""
    crs = sorted({r["cr"] for r in rows})
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    reg = {"lasso": "alpha", "tv": "mu", "omp": "K"}
    head = ["CR", "M"]
    for m in methods:
        head += [f"{m} dB", reg[m]]
        if m in PAPER_NMSE_DB and paper:
            head.append(f"paper {'TVAL3' if m == 'tv' else 'LASSO'} dB")
        head.append(f"{m} search s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cr in crs:
        by = {r["method"]: r for r in rows if r["cr"] == cr}
        cells = [f"{cr:g}", str(next(iter(by.values()))["m"])]
        for m in methods:
            r = by.get(m)
            cells += [f"{r['nmse_db']:.2f}", f"{r['value']:g}"] if r else ["", ""]
            if m in PAPER_NMSE_DB and paper:
                p = PAPER_NMSE_DB[m][paper].get(int(cr)) if float(cr).is_integer() else None
                cells.append("" if p is None else f"{p:.2f}")
            cells.append(f"{r['search_s']:.1f}" if r else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--env", help="COST2100 environment to generate")
    src.add_argument("--npy", type=Path, help=".npy of h_ad [N, Na, Nt] complex")
    src.add_argument("--h5", type=Path, help="linksim data set file (HDF5)")
    src.add_argument("--mat", type=Path, help="CsiNet .mat file")
    ap.add_argument("--mat-key", default="HT")
    ap.add_argument("--crs", type=float, nargs="+", default=[4, 16, 32, 64])
    ap.add_argument("--n", type=int, default=300, help="samples")
    ap.add_argument("--seed", type=int, default=0, help="channel seed (--env)")
    ap.add_argument("--matrix-seed", type=int, default=0, help="seed of the measurement matrix")
    ap.add_argument("--measurement-bits", type=int, default=32)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--paper", choices=["indoor", "outdoor"], default=None,
                    help="paper column to compare with (default: from --env)")
    ap.add_argument("--na", type=int, default=32, help="delay rows (--env, CIR data sets)")
    ap.add_argument("--nt", type=int, default=32, help="BS antennas (--env)")
    ap.add_argument("--workers", type=int, default=1, help="generation processes (--env)")
    ap.add_argument("--no-decode-timing", action="store_true")
    ap.add_argument("--bandwidth", type=float, default=20e6, help="bandwidth [Hz] (--env)")
    ap.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                    help="override fields of the --env environment (dataclasses.replace), "
                         "e.g. dmc_power_fraction=0.1 dmc_paths=10")
    ap.add_argument("--calibration", action="store_true",
                    help="instead of the plain table: the quick calibration check at CR 4 and "
                         "16 (calibration_row)")
    ap.add_argument("--study", action="store_true",
                    help="instead of the plain table: the readings of the paper's LASSO and "
                         "TVAL3 set-ups (lasso_study), with --env also under a path loss")
    args = ap.parse_args(argv)
    crs = [int(c) if float(c).is_integer() else c for c in args.crs]

    t0 = time.perf_counter()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = int(value) if value.lstrip("-").isdigit() else float(value)
    h_ad = load_channels(env=args.env, n=args.n, seed=args.seed, npy=args.npy, h5=args.h5,
                         mat=args.mat, mat_key=args.mat_key, num_delay_rows=args.na,
                         num_bs_antennas=args.nt, workers=args.workers,
                         bandwidth_hz=args.bandwidth, overrides=overrides)
    source = args.env or args.npy or args.h5 or args.mat
    if args.env:
        source = f"{source} ({args.bandwidth / 1e6:g} MHz" + "".join(
            f", {k}={v}" for k, v in overrides.items()) + ")"
    paper = args.paper or PAPER_SCENARIO.get(args.env or "")
    print(f"{source}: {h_ad.shape[0]} samples of {h_ad.shape[1]}x{h_ad.shape[2]} "
          f"({time.perf_counter() - t0:.1f} s); paper column: {paper or '-'}; "
          f"solver BLAS threads {sensing.SOLVER_BLAS_THREADS}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    if args.calibration:
        row = calibration_row(h_ad, args.matrix_seed)
        print(calibration_text(row, paper) + f"\n{time.perf_counter() - t0:.0f} s")
        return 0
    if args.study:
        dist = sample_distances(args.env, args.n, args.seed) if args.env else None
        rows = lasso_study(h_ad, crs, args.matrix_seed, dist,
                           echo=lambda s: print(s, flush=True))
        print(f"\n{study_table(rows, paper)}\n\ntotal {time.perf_counter() - t0:.0f} s, "
              f"load average {os.getloadavg()[0]:.2f}")
        return 0
    rows = run(h_ad, crs, args.methods, args.matrix_seed, args.measurement_bits,
               not args.no_decode_timing, echo=lambda s: print(s, flush=True))
    print(f"\n{table(rows, paper)}\n\ntotal {time.perf_counter() - t0:.0f} s, load average "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
