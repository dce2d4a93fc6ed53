"""The ``linksim`` command line: run, validate, codecs."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

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
def run(scenario: Path, output_dir: Path | None, retrain: bool, no_progress: bool) -> None:
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

    from linksim.pipeline import Run, summary_table

    runner = Run(sc, scenario, progress=not no_progress, retrain=retrain, echo=click.echo)
    # A terminated run unwinds like Ctrl-C, so its partial run directory is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run_dir = runner.execute()
    except LinksimInputError as exc:
        _fail(exc)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.2f}".format):
        click.echo(summary_table(runner.results).to_string(index=False))
    t = runner.timings
    click.echo(f"run directory: {run_dir}  (data {t['data_s']:.0f} s, training "
               f"{t['training_s']:.0f} s, sweep {t['sweep_s']:.0f} s, total {t['total_s']:.0f} s)")


@main.command()
@click.argument("scenario", type=click.Path(path_type=Path))
def validate(scenario: Path) -> None:
    """Check SCENARIO against the schema; exit code 2 with the offending field if invalid."""
    from linksim.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
    except LinksimInputError as exc:
        _fail(exc)
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
