"""The ``linksim`` command line: run, validate, codecs, generate, datasets, stats, export."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
import numpy as np

import linksim
from linksim.errors import LinksimInputError


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(linksim.__version__, prog_name="linksim")
def main() -> None:
    """linksim: link-level simulation of deep-learning CSI feedback in FDD massive MIMO.

    channels -> pilots + LS estimation -> angular-delay truncation -> UE encoder -> feedback
    link -> BS decoder -> MRT precoding -> NMSE, cosine similarity, beamforming gain, rate.
    """


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--output-dir", type=click.Path(path_type=Path), default=None,
              help="Override the scenario's output_dir.")
@click.option("--retrain", is_flag=True, help="Train codecs even if a cached model exists.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
              help="Where the run's units (data splits, models, sweep units) execute: in this "
                   "process, or as Ray tasks (pip install \"linksim[ray]\"). Default: the "
                   "scenario's execution.executor (local).")
@click.option("--address", default=None,
              help="Ray head to join (host:port, ray://host:port or auto); without it, "
                   "--executor ray starts a local Ray instance. Default: execution.address.")
@click.option("--unit-threads", type=click.IntRange(min=1), default=None,
              help="CPU threads per unit on Ray (units sharing a node do not oversubscribe it). "
                   "Default: execution.unit_threads (1).")
def run(scenario: Path, output_dir: Path | None, retrain: bool, no_progress: bool,
        executor: str | None, address: str | None, unit_threads: int | None) -> None:
    """Run SCENARIO: generate or load channels, train or load codecs, sweep the pilot SNR.

    Writes a run directory with results.csv, manifest.json, nmse_vs_snr.png, bfgain_vs_snr.png,
    training logs and the trained models, then prints a summary table.
    """
    from linksim.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        if output_dir is not None:
            sc = sc.model_copy(update={"output_dir": output_dir})
    except LinksimInputError as exc:
        _fail(exc)
    import pandas as pd

    from linksim.executor import make_executor
    from linksim.pipeline import Run
    from linksim.summary import generalization_text, summary_table

    ex = sc.execution
    kind = executor or ex.executor
    if address is None and kind == "ray":
        address = ex.address
    unit_threads = unit_threads or ex.unit_threads
    try:
        where = make_executor(kind, address)
    except LinksimInputError as exc:
        _fail(exc)
    runner = Run(sc, scenario, progress=not no_progress, retrain=retrain, echo=click.echo,
                 warn=lambda msg: click.echo(f"WARNING: {msg}", err=True), executor=where,
                 unit_threads=unit_threads)
    # A terminated run unwinds like Ctrl-C, so its partial run directory is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run_dir = runner.execute()
    except LinksimInputError as exc:
        _fail(exc)
    finally:
        where.close()
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:.2f}".format):
        if sc.tr38843 is not None:
            from linksim.tr38843.stage import summary_text

            click.echo(summary_text(runner.results))
        else:
            click.echo(summary_table(runner.results).to_string(index=False))
            matrix = generalization_text(runner.results)
            if matrix:
                click.echo(f"\n{matrix}")
    t = runner.timings
    stages = (("data", "data_s"), ("study" if sc.tr38843 is not None else "training",
                                   "training_s"), ("sweep", "sweep_s"), ("total", "total_s"))
    took = ", ".join(f"{name} {t[key]:.0f} s" for name, key in stages if key in t)
    click.echo(f"run directory: {run_dir}  ({took})")
    for msg in runner.warnings:  # again at the end, where they are seen
        click.echo(f"WARNING: {msg}", err=True)


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
def validate(scenario: Path) -> None:
    """Check SCENARIO against the schema; exit code 2 with the offending field if invalid."""
    from linksim.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        if sc.codecs:
            from linksim.pipeline import check_codecs

            check_codecs(sc)  # build them as run does
    except LinksimInputError as exc:
        _fail(exc)
    if sc.tr38843 is not None:
        from linksim.tr38843.stage import cases

        st = sc.tr38843
        click.echo(f"{scenario}: valid (TR 38.843 study: {len(sc.datasets)} data sets, "
                   f"{len(cases(st))} generalization cases, codecs {', '.join(st.codecs)}, "
                   f"payload bins {', '.join(st.payload_bins)}, rank {st.rank})")
        return
    n_codecs = sum(len(c.compression_ratios) for c in sc.codecs)
    click.echo(f"{scenario}: valid ({len(sc.datasets)} data sets, {n_codecs} codec x CR, "
               f"{len(sc.feedback)} feedback links, {len(sc.estimation.pilot_snr_db)} SNR points)")


@main.command()
@click.option("--na", default=32, show_default=True, help="Kept delay rows Na.")
@click.option("--nt", default=32, show_default=True, help="BS antennas Nt.")
@click.option("--cr", "crs", multiple=True, type=int, default=(4, 8, 16, 32), show_default=True,
              help="Compression ratios to list (repeat the option).")
@click.option("--complexity", "with_complexity", is_flag=True,
              help="Also list multiply-accumulates per sample and weight memory in bits.")
def codecs(na: int, nt: int, crs: tuple[int, ...], with_complexity: bool) -> None:
    """List the registered codecs with their parameter counts at the UE and the BS.

    With --complexity, also the multiply-accumulates per CSI sample (the papers' "FLOPs":
    convolutions and FC layers only) and the bits to store the weights, at the UE and the BS.
    """
    from linksim.codecs.base import available_codecs, check_compression_ratio

    header = f"{'codec':<14}{'CR':>4}{'M':>7}{'UE params':>12}{'BS params':>12}"
    if with_complexity:
        header += f"{'UE MACs':>13}{'BS MACs':>13}{'UE mem bits':>14}{'BS mem bits':>14}"
    click.echo(header)
    for name, cls in available_codecs().items():
        for cr in crs:
            try:
                m = check_compression_ratio(cr, na, nt)
            except ValueError:
                continue
            codec = cls(cr, na, nt)
            pc = codec.parameter_counts()
            line = f"{name:<14}{cr:>4}{m:>7}{pc['ue_params']:>12,}{pc['bs_params']:>12,}"
            if with_complexity:
                line += _complexity_columns(codec)
            click.echo(line)


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
def generate(scenario: Path, no_progress: bool) -> None:
    """Generate (or find in the cache) every split of every data set of SCENARIO.

    Prints one line per split: data set/split, file, samples, seconds, mean energy kept by the
    truncation (the generator's, for families stored as angular-delay channels; to the
    scenario's Na delay rows for impulse responses; "-" where unknown, e.g. CsiNet files).
    ``csinet_mat`` files are read and checked, not cached.
    """
    import time

    from linksim.errors import DatasetError
    from linksim.pipeline import load_split
    from linksim.scenario import load_scenario
    from linksim.seeding import derive_seed

    try:
        sc = load_scenario(scenario)
    except LinksimInputError as exc:
        _fail(exc)
    from linksim.channels.dataset import default_cache_dir

    cache_dir = Path(sc.cache_dir) if sc.cache_dir else default_cache_dir()
    for name, cfg in sc.datasets.items():
        for split in ("train", "val", "test"):
            if not cfg.has_split(split):
                continue
            t0 = time.perf_counter()
            try:
                ds, path, how = load_split(cfg, split, derive_seed(sc.seed, "dataset", name,
                                                                   split),
                                           cache_dir, progress=not no_progress, lazy=True)
            except (DatasetError, LinksimInputError) as exc:
                _fail(exc)
            with ds:  # a lazy data set: the split is read batch by batch, never whole
                click.echo(f"{name}/{split}: {path}  n={len(ds)}  {how} in "
                           f"{time.perf_counter() - t0:.1f} s  energy kept "
                           f"{_energy_text(ds, sc.preprocessing.num_delay_rows)}")


def _energy_text(ds, num_rows: int, batch_size: int = 500) -> str:
    """Mean energy kept by truncation to ``num_rows`` delay rows.

    For angular-delay data sets, the generator's truncation (recorded per sample; "-" where
    unknown); for impulse-response data sets, computed from the channels.
    """
    from linksim.channels.dataset import AdDataset
    from linksim.phy.transforms import energy_kept

    if isinstance(ds, AdDataset):
        e = np.asarray(ds.energy_kept, dtype=np.float64)
    else:
        e = np.concatenate([energy_kept(h, num_rows) for h in ds.batches(batch_size)] or [[]])
    e = e[np.isfinite(e)]
    return f"{e.mean():.4f}" if e.size else "-"


@main.command()
@click.option("--cache-dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Cache folder (default $LINKSIM_CACHE or ~/.cache/linksim).")
def datasets(cache_dir: Path | None) -> None:
    """List the cached channel data sets: family, split, n, Nt, size, path."""
    from linksim.channels.dataset import default_cache_dir, describe_file

    cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
    files = sorted(cache_dir.glob("*.h5")) if cache_dir.is_dir() else []
    if not files:
        click.echo(f"no cached data sets in {cache_dir}")
        return
    click.echo(f"{'family':<12}{'split':<7}{'n':>8}{'Nt':>5}{'MB':>9}  path")
    for path in files:
        d = describe_file(path)
        click.echo(f"{d['family']:<12}{d['split']:<7}{d['n']:>8}{d['nt']:>5}"
                   f"{path.stat().st_size / 1e6:>9.1f}  {path}")


@main.command()
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Cache folder (default $LINKSIM_CACHE or ~/.cache/linksim).")
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also look in this run output folder (e.g. runs).")
@click.option("--prune", is_flag=True, help="Remove the leftovers found.")
def cache(cache_dir: Path | None, output_dir: Path | None, prune: bool) -> None:
    """List (or --prune) what interrupted runs left behind: unfinished run directories
    (.NAME-STAMP.partial), cache files (.ENTRY.XXXX.tmp) and model directories whose owning
    process is gone, and data shards whose split is already merged. Work in progress, whose lock is held, is never listed. linksim run
    prunes its own cache and output folder when it starts."""
    from linksim import housekeeping
    from linksim.channels.dataset import default_cache_dir

    cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
    items = housekeeping.stale_items(cache_dir, output_dir)
    if not items:
        click.echo(f"no leftovers in {cache_dir}" + (f" or {output_dir}" if output_dir else ""))
        return
    for item in items:
        click.echo(f"{item.size / 1e6:>9.1f} MB  {item.kind:<28}{item.path}")
    if prune:
        freed = housekeeping.prune(items)
        click.echo(f"removed {len(items)} ({freed / 1e6:.1f} MB)")
    else:
        click.echo(f"{len(items)} leftovers; linksim cache --prune removes them")


@main.command()
@click.argument("dataset_file", type=click.Path(path_type=Path))
@click.option("--output", "prefix", type=click.Path(path_type=Path), default=None,
              help="PNG prefix: writes PREFIX_cdf.png and PREFIX_ad_examples.png "
                   "(default: the data set file name, in the current folder).")
@click.option("--max-samples", type=click.IntRange(min=1), default=None,
              help="Use only the first N samples.")
@click.option("--num-delay-rows", type=click.IntRange(min=1), default=32, show_default=True,
              help="Na kept for channels stored as impulse responses.")
def stats(dataset_file: Path, prefix: Path | None, max_samples: int | None,
          num_delay_rows: int) -> None:
    """Channel statistics of a cached data set file (delay/angular spread, sparsity, energy).

    Prints the summary table and writes the CDF plot and |H_ad| example images.
    """
    from linksim.channels.dataset import read_dataset
    from linksim.errors import DatasetError

    try:
        ds = read_dataset(dataset_file)
    except DatasetError as exc:
        _fail(exc)
    from linksim import stats as st

    h_ad, values = _dataset_stats(ds, num_delay_rows, max_samples)
    label = str(ds.meta.get("generator", "data"))
    table = st.summarise({label: values})
    click.echo(f"{dataset_file}: {label}, {len(ds)} samples")
    click.echo(table.to_string(index=False, float_format="%.4g"))
    prefix = prefix if prefix is not None else Path(dataset_file.stem)
    cdf, img = Path(f"{prefix}_cdf.png"), Path(f"{prefix}_ad_examples.png")
    st.plot_stats({label: values}, cdf)
    st.plot_ad_examples({label: h_ad}, img)
    click.echo(f"wrote {cdf} and {img}")


def _dataset_stats(ds, num_delay_rows: int, max_samples: int | None):
    """``(first few [4, Na, Nt] channels, statistics dict)`` of either kind of data set."""
    from linksim import stats as st
    from linksim.channels.dataset import AdDataset
    from linksim.phy.transforms import truncated_angular_delay

    n = len(ds) if max_samples is None else min(len(ds), max_samples)
    if isinstance(ds, AdDataset):
        values = st.ad_statistics(ds.h_ad[:n], ds.meta.get("delay_resolution_s"),
                                  ds.energy_kept[:n] if np.isfinite(ds.energy_kept).any()
                                  else None)
        return ds.h_ad[:4], values
    values = st.dataset_statistics(ds, num_rows=num_delay_rows, max_samples=n)
    return truncated_angular_delay(ds.channels(0, 4), num_delay_rows), values


@main.command("export")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Output folder (written atomically; an earlier export there is replaced).")
@click.option("--formats", default=None,
              help="Comma-separated subset of keras, tflite-float, tflite-dynamic-int8, "
                   "tflite-int8, tflite-int16x8, binary  [default: every format that applies]")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Scenario YAML (its test set) or .npy of normalised CSI [N, Na, Nt, 2]: "
                   "end-to-end NMSE of each format.")
@click.option("--calibration", type=click.Path(path_type=Path), default=None,
              help="Scenario YAML (its training set) or .npy of normalised training CSI for "
                   "tflite-int8 and tflite-int16x8  [default: the --data scenario's training "
                   "set]")
@click.option("--num-calibration", type=click.IntRange(min=1), default=200, show_default=True,
              help="Calibration samples (the first ones).")
@click.option("--max-samples", type=click.IntRange(min=1), default=None,
              help="Use only the first N test samples.")
@click.option("--latency-runs", type=click.IntRange(min=1), default=200, show_default=True,
              help="Timed runs per latency (median of one CSI on one thread).")
def export(model_dir: Path, out_dir: Path, formats: str | None, data: Path | None,
           calibration: Path | None, num_calibration: int, max_samples: int | None,
           latency_runs: int) -> None:
    """Export the UE encoder of a saved codec (RUN_DIR/models/<tag>) for deployment.

    Keras file, TensorFlow Lite float32 / dynamic-range int8 / full-integer int8 (needs
    `pip install linksim[tflite]`), and for binarised encoders the 1-bit weights. Prints and
    writes (export.json, export.md) each format's size, latency for one CSI on one thread and,
    with --data, the end-to-end NMSE with the Keras decoder next to the float encoder's.
    """
    from linksim.export import export_codec, markdown_table

    try:
        report = export_codec(model_dir, out_dir, formats, data, calibration, num_calibration,
                              max_samples, latency_runs, echo=click.echo)
    except LinksimInputError as exc:
        _fail(exc)
    click.echo(markdown_table(report))
    click.echo(f"wrote {out_dir}")


def _complexity_columns(codec) -> str:
    """The MAC and memory columns of ``linksim codecs --complexity`` ("n/a" if not countable)."""
    from linksim.complexity import UnsupportedLayerError, complexity

    try:
        c = complexity(codec)
    except UnsupportedLayerError:
        return f"{'n/a':>13}{'n/a':>13}{'n/a':>14}{'n/a':>14}"
    return (f"{c['ue_macs']:>13,}{c['bs_macs']:>13,}"
            f"{c['ue_memory_bits']:>14,}{c['bs_memory_bits']:>14,}")

if __name__ == "__main__":
    main()


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write the page (default RUN_DIR/report.html).")
def report(run_dir: Path, out: Path | None) -> None:
    """Write a self-contained HTML report of RUN_DIR: configuration, results table, figures."""
    from linksim.report import build_report

    try:
        path = build_report(run_dir, out)
    except LinksimInputError as exc:
        _fail(exc)
    click.echo(f"report: {path}")
