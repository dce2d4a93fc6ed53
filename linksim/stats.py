"""Channel statistics on truncated angular-delay data (and on path data where there is some).

All statistics are per sample, vectorised over the batch, computed from ``H_ad[b, m, a]`` in
linksim's layout (``m`` delay row, ``a`` angle bin; :mod:`linksim.phy.transforms`):

- power-delay profile ``P_d[b, m] = sum_a |H_ad[b, m, a]|^2`` and angle power profile
  ``P_a[b, a] = sum_m |H_ad[b, m, a]|^2``;
- RMS delay spread from ``P_d`` (:func:`rms_delay_spread_ad`), in seconds;
- BS angular spread from ``P_a`` (:func:`angular_spread_ad`), in DFT bins (circular) or in
  degrees for a half-wavelength ULA;
- sparsity: the fraction of entries needed to hold 90 % of the energy (:func:`sparsity`) and the
  Gini index of the magnitudes (:func:`gini_index`);
- energy kept by the truncation (:func:`linksim.phy.transforms.energy_kept`, needs the full channel).

Both spreads are taken on the DFT grid, so they include the leakage of off-grid paths (an
off-grid single path has a nonzero spread) and only see the truncated window (see
:func:`rms_delay_spread_ad`). :func:`ad_statistics` bundles them into a dict of arrays whose keys
name the unit; :func:`summarise` turns such dicts into the table ``linksim stats`` prints and
:func:`plot_stats` into CDFs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from linksim.fsutil import atomic_path
from linksim.phy.transforms import abs2, energy_kept, truncated_angular_delay

#: Statistic key -> (axis label, unit). Keys not listed are plotted and summarised by name.
STAT_LABELS: dict[str, tuple[str, str]] = {
    "delay_spread_ns": ("RMS delay spread, truncated AD rows", "ns"),
    "delay_spread_taps": ("RMS delay spread, truncated AD rows", "delay taps"),
    "path_delay_spread_ns": ("RMS delay spread, all paths", "ns"),
    "angular_spread_bins": ("BS angular spread (circular)", "DFT bins"),
    "angular_spread_deg": ("BS angular spread (ULA, asin)", "deg"),
    "sparsity_90": ("entries holding 90% of the energy", "fraction of Na*Nt"),
    "gini": ("Gini index of |H_ad|", ""),
    "energy_kept": ("energy kept by truncation", "fraction"),
}


# --------------------------------------------------------------------------------------------
# Profiles and per-sample statistics
# --------------------------------------------------------------------------------------------

def delay_resolution(num_subcarriers: int, subcarrier_spacing_hz: float) -> float:
    """Width of one delay row, ``1 / (Nc * scs)`` [s] (32.6 ns for 1024 x 30 kHz)."""
    return 1.0 / (num_subcarriers * subcarrier_spacing_hz)


def delay_profile(h_ad_trunc: np.ndarray) -> np.ndarray:
    """Power-delay profile ``[b, Na]`` float64: power of each delay row summed over angles."""
    return np.sum(abs2(h_ad_trunc), axis=-1, dtype=np.float64)


def angle_profile(h_ad_trunc: np.ndarray) -> np.ndarray:
    """Angle power profile ``[b, Nt]`` float64: power of each angle bin summed over delays."""
    return np.sum(abs2(h_ad_trunc), axis=-2, dtype=np.float64)


def _weighted_std(p: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Power-weighted standard deviation of positions ``x [K]`` under profiles ``p [b, K]``.

    Zero-energy samples give NaN.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        w = p / np.sum(p, axis=-1, keepdims=True)
    mean = w @ x
    return np.sqrt(np.maximum(w @ (x * x) - mean * mean, 0.0))


def rms_delay_spread_ad(h_ad_trunc: np.ndarray, delay_resolution_s: float) -> np.ndarray:
    """RMS delay spread from the power-delay profile of the truncated angular-delay matrix.

    ``sigma = res * sqrt(sum_m p_m m^2 - (sum_m p_m m)^2)`` with ``p_m`` the normalised
    power of delay row ``m``.

    The truncation clips it: energy beyond row ``Na - 1`` (paths longer than the window, and
    the leakage of early off-grid paths, which wraps around to the last rows ``Nc - 1, ...``)
    is not seen, so for channels longer than the window this underestimates the spread of the
    paths (compare with the path-based spread and with the energy kept). Off-grid paths leak
    into neighbouring rows and add spread.

    Parameters
    ----------
    h_ad_trunc : [b, Na, Nt] complex
        Truncated angular-delay channels.
    delay_resolution_s : float
        Width of one delay row [s], ``1 / (Nc scs)``; pass 1.0 to get the spread in rows.

    Returns
    -------
    spread : [b] float64
        Seconds (rows if ``delay_resolution_s = 1``); NaN for an all-zero sample.
    """
    pdp = delay_profile(h_ad_trunc)
    return _weighted_std(pdp, np.arange(pdp.shape[-1], dtype=np.float64)) * delay_resolution_s


def _centred_bins(nt: int) -> np.ndarray:
    """Angle bins mapped to ``[-Nt/2, Nt/2)``, ``[Nt]`` float64 (bin ``a`` and ``a - Nt``)."""
    a = np.arange(nt)
    return (((a + nt // 2) % nt) - nt // 2).astype(np.float64)


def angle_bin_degrees(num_angle_bins: int) -> np.ndarray:
    """Direction of each angle bin for a half-wavelength ULA, ``[Nt]`` degrees.

    Bin ``a`` holds the phase progression ``exp(+j 2 pi n a / Nt)`` = ``exp(j pi n sin(theta))``,
    so ``sin(theta) = 2 a' / Nt`` with ``a'`` the bin centred to ``[-Nt/2, Nt/2)``; theta is
    measured from broadside, in ``[-90, 90)`` degrees (bin ``Nt/2`` is endfire, -90).
    """
    return np.degrees(np.arcsin(2.0 * _centred_bins(num_angle_bins) / num_angle_bins))


def angular_spread_ad(h_ad_trunc: np.ndarray, unit: str = "bins") -> np.ndarray:
    """BS angular spread from the angle power profile of the truncated angular-delay matrix.

    Parameters
    ----------
    h_ad_trunc : [b, Na, Nt] complex
        Truncated angular-delay channels.
    unit : {"bins", "deg"}
        ``"bins"``: circular RMS spread in DFT bins. The DFT angle axis is periodic (spatial
        frequency ``sin(theta)`` wraps at +-1), so the bins are unwrapped around the cut that
        gives the smallest spread, as TR 38.901 annex A does for angles:
        ``min_D sqrt(E[x_D^2] - E[x_D]^2)`` with ``x_D = ((a - D + Nt/2) mod Nt) - Nt/2``.
        Two equal bins ``a1, a2`` give ``d/2`` with ``d`` their circular distance; invariant to
        a cyclic shift and to the mirror ``a -> -a``.
        ``"deg"``: RMS spread of the bin directions ``theta_a = asin(2 a' / Nt)`` of a
        half-wavelength ULA (:func:`angle_bin_degrees`), linear in ``[-90, 90]`` degrees from
        broadside, no wrap; the endfire bin ``Nt/2`` (where +90 and -90 alias) is placed at
        whichever of the two gives the smaller spread, so the spread is invariant to the
        mirror ``a -> -a``. Power near endfire inflates it: bins ``Nt/2 - 1`` and
        ``Nt/2 + 1`` are neighbours on the DFT axis but about 139 degrees apart for Nt = 32.

    Returns
    -------
    spread : [b] float64
        Bins or degrees; 0 for a single on-grid bin; NaN for an all-zero sample.
    """
    pap = angle_profile(h_ad_trunc)
    nt = pap.shape[-1]
    if unit == "deg":
        deg = angle_bin_degrees(nt)
        spread = _weighted_std(pap, deg)
        if nt % 2 == 0:  # endfire bin: sin(theta) = -1 and +1 alias; take the closer side
            deg[nt // 2] = 90.0
            spread = np.fmin(spread, _weighted_std(pap, deg))
        return spread
    if unit != "bins":
        raise ValueError(f"unit must be 'bins' or 'deg', got {unit!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        w = pap / np.sum(pap, axis=-1, keepdims=True)  # [b, Nt]
    a = np.arange(nt)
    shifts = (((a[None, :] - a[:, None] + nt // 2) % nt) - nt // 2).astype(np.float64)  # [D, a]
    mean = w @ shifts.T  # [b, D]
    var = w @ (shifts * shifts).T - mean * mean
    return np.sqrt(np.maximum(np.min(var, axis=-1), 0.0))


def sparsity(h_ad_trunc: np.ndarray, fraction: float = 0.9) -> np.ndarray:
    """Fraction of entries needed to hold ``fraction`` of each sample's energy.

    The smallest ``k`` such that the ``k`` strongest entries of ``|H_ad|^2`` hold at least
    ``fraction`` of the energy, divided by ``Na Nt``: ``1 / (Na Nt)`` for a single path on the
    grid, ``ceil(fraction Na Nt) / (Na Nt)`` (about ``fraction``) for a flat matrix.

    Parameters
    ----------
    h_ad_trunc : [b, Na, Nt] complex
    fraction : float in (0, 1]

    Returns
    -------
    s : [b] float64
        In ``[1 / (Na Nt), 1]``; NaN for an all-zero sample.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    p = abs2(h_ad_trunc).reshape(h_ad_trunc.shape[0], -1).astype(np.float64)
    p = -np.sort(-p, axis=-1)  # descending
    cum = np.cumsum(p, axis=-1)
    total = cum[:, -1:]
    k = np.sum(cum < fraction * total * (1.0 - 1e-12), axis=-1) + 1
    out = k / p.shape[-1]
    return np.where(total[:, 0] > 0, out, np.nan)


def gini_index(h_ad_trunc: np.ndarray) -> np.ndarray:
    """Gini index of the magnitudes ``|H_ad|`` (Hurley and Rickard's sparsity measure).

    ``G = 1 - 2 sum_k (c_(k) / ||c||_1) (n - k + 1/2) / n`` over the ``n = Na Nt`` magnitudes
    sorted ascending: 0 for a flat matrix, ``1 - 1/n`` for a single nonzero entry; invariant to
    scaling.

    Returns
    -------
    g : [b] float64
        NaN for an all-zero sample.
    """
    c = np.sort(np.abs(h_ad_trunc).reshape(h_ad_trunc.shape[0], -1).astype(np.float64), axis=-1)
    n = c.shape[-1]
    weights = (n - np.arange(1, n + 1) + 0.5) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - 2.0 * (c @ weights) / np.sum(c, axis=-1)


def ad_statistics(h_ad_trunc: np.ndarray, delay_resolution_s: float | None = None,
                  energy: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """All angular-delay statistics of a set of channels.

    Parameters
    ----------
    h_ad_trunc : [b, Na, Nt] complex
    delay_resolution_s : float, optional
        Row width [s]; without it (e.g. the CsiNet files, whose bandwidth was never published)
        the delay spread is reported in taps.
    energy : [b] float, optional
        Energy kept by the truncation, if the full channel was available.

    Returns
    -------
    stats : dict of [b] float64
        Keys ``delay_spread_ns`` (or ``delay_spread_taps``), ``angular_spread_bins``,
        ``angular_spread_deg``, ``sparsity_90``, ``gini`` and, if given, ``energy_kept``.
    """
    out: dict[str, np.ndarray] = {}
    if delay_resolution_s is None:
        out["delay_spread_taps"] = rms_delay_spread_ad(h_ad_trunc, 1.0)
    else:
        out["delay_spread_ns"] = rms_delay_spread_ad(h_ad_trunc, delay_resolution_s) * 1e9
    out["angular_spread_bins"] = angular_spread_ad(h_ad_trunc, "bins")
    out["angular_spread_deg"] = angular_spread_ad(h_ad_trunc, "deg")
    out["sparsity_90"] = sparsity(h_ad_trunc, 0.9)
    out["gini"] = gini_index(h_ad_trunc)
    if energy is not None:
        out["energy_kept"] = np.asarray(energy, dtype=np.float64)
    return out


def dataset_statistics(ds, num_rows: int = 32, batch_size: int = 256,
                       max_samples: int | None = None) -> dict[str, np.ndarray]:
    """Statistics of a linksim channel data set (:class:`linksim.channels.dataset.CirDataset`).

    The channels are rebuilt batch by batch (``ds.channels``), transformed and truncated to
    ``num_rows`` delay rows; besides :func:`ad_statistics` (with the energy kept) this adds
    ``path_delay_spread_ns``, the RMS delay spread of the paths themselves
    (:func:`linksim.channels.uma.rms_delay_spread`), which the truncation does not clip.

    Parameters
    ----------
    ds : CirDataset
        ``a [N, Nt, P]``, ``tau [N, P]``, uniformly spaced ``frequencies_hz [Nc]``.
    num_rows : int
        ``Na`` delay rows kept.
    batch_size : int
        Channels rebuilt at a time.
    max_samples : int, optional
        Use only the first ``max_samples`` samples.

    Returns
    -------
    stats : dict of [N] float64
    """
    from linksim.channels.uma import rms_delay_spread

    n = len(ds) if max_samples is None else min(len(ds), max_samples)
    f = np.asarray(ds.frequencies_hz, dtype=np.float64)
    spacing = np.diff(f)
    if f.size < 2 or not np.allclose(spacing, spacing[0], rtol=1e-9):
        raise ValueError("delay statistics need uniformly spaced subcarriers")
    resolution = delay_resolution(f.size, float(spacing[0]))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, n, batch_size):
        h = ds.channels(start, min(start + batch_size, n))
        parts.append(ad_statistics(truncated_angular_delay(h, num_rows), resolution,
                                   energy_kept(h, num_rows)))
    stats = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    stats["path_delay_spread_ns"] = rms_delay_spread(ds.a[:n], ds.tau[:n]) * 1e9
    return stats


# --------------------------------------------------------------------------------------------
# Summary table
# --------------------------------------------------------------------------------------------

def _by_family(stats) -> dict[str, Mapping[str, np.ndarray]]:
    """Accept ``{stat: array}`` (one unnamed family) or ``{family: {stat: array}}``."""
    if stats and all(isinstance(v, Mapping) for v in stats.values()):
        return dict(stats)
    return {"data": stats}


def summarise(stats: Mapping) -> pd.DataFrame:
    """Summary table of per-sample statistics: what ``linksim stats`` prints.

    Parameters
    ----------
    stats : dict
        ``{statistic: [N] array}`` for one data set, or ``{family: {statistic: [N] array}}``.

    Returns
    -------
    table : pandas.DataFrame
        One row per family and statistic, columns ``family, statistic, unit, n`` (finite
        samples), ``mean, median, p10, p90`` (NaNs, e.g. all-zero samples, left out).
        Print it with ``table.to_string(index=False, float_format="%.4g")``.
    """
    rows = []
    for family, fam_stats in _by_family(stats).items():
        for name, values in fam_stats.items():
            v = np.asarray(values, dtype=np.float64).ravel()
            v = v[np.isfinite(v)]
            q = np.percentile(v, [10, 50, 90]) if v.size else np.full(3, np.nan)
            rows.append({"family": family, "statistic": name,
                         "unit": STAT_LABELS.get(name, (name, ""))[1], "n": int(v.size),
                         "mean": float(np.mean(v)) if v.size else np.nan,
                         "median": float(q[1]), "p10": float(q[0]), "p90": float(q[2])})
    return pd.DataFrame(rows, columns=["family", "statistic", "unit", "n", "mean", "median",
                                       "p10", "p90"])


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def _save_figure(fig, path: Path) -> None:
    """Write a figure atomically (:func:`linksim.fsutil.atomic_path`); the format is the
    extension of ``path`` (PNG without one)."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120,
                        bbox_inches="tight")
    finally:
        plt.close(fig)


def plot_stats(stats_by_family: Mapping[str, Mapping[str, np.ndarray]], path) -> None:
    """Empirical CDFs, one panel per statistic, one line per channel family.

    Parameters
    ----------
    stats_by_family : dict
        ``{family: {statistic: [N] array}}`` (e.g. :func:`ad_statistics` per family); a
        statistic missing from a family is skipped there.
    path : path-like
        Output image (format from the suffix), written atomically.
    """
    families = _by_family(stats_by_family)
    names: list[str] = []
    for fam_stats in families.values():
        names += [k for k in fam_stats if k not in names]
    ncols = min(3, max(len(names), 1))
    nrows = max(1, -(-len(names) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        label, unit = STAT_LABELS.get(name, (name, ""))
        for family, fam_stats in families.items():
            if name not in fam_stats:
                continue
            v = np.sort(np.asarray(fam_stats[name], dtype=np.float64).ravel())
            v = v[np.isfinite(v)]
            if v.size:
                ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", label=family)
        ax.set_xlabel(f"{label} [{unit}]" if unit else label)
        ax.set_ylabel("CDF")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    _save_figure(fig, Path(path))


def plot_ad_examples(h_ad_by_family: Mapping[str, np.ndarray], path,
                     num_examples: int = 4) -> None:
    """``|H_ad|`` images of the first few samples of each family.

    Parameters
    ----------
    h_ad_by_family : dict
        ``{family: [N, Na, Nt] complex}`` truncated angular-delay channels.
    path : path-like
        Output image, written atomically.
    num_examples : int
        Samples shown per family (one row per family); each image is normalised to its own
        peak, delay tap down the vertical axis, angle bin along the horizontal one.
    """
    families = list(h_ad_by_family.items())
    nrows, ncols = max(len(families), 1), max(num_examples, 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.8 * ncols + 1.0, 2.7 * nrows),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    image = None
    for row, (family, h_ad) in enumerate(families):
        for col in range(ncols):
            ax = axes[row, col]
            if col >= len(h_ad):
                ax.axis("off")
                continue
            mag = np.abs(np.asarray(h_ad[col]))
            peak = float(mag.max())
            image = ax.imshow(mag / peak if peak > 0 else mag, aspect="auto", origin="upper",
                              cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(f"{family} #{col}", fontsize=9)
            ax.set_xlabel("angle bin")
            if col == 0:
                ax.set_ylabel("delay tap")
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="|H_ad| / peak")
    _save_figure(fig, Path(path))
