"""UE deployment table of a run: every trained codec exported in every format.

For each ``RUN_DIR/models/<tag>`` (or the ``--codecs`` given) runs
:func:`linksim.export.export_codec` with the run's own scenario as test and calibration data,
and prints one markdown table: size
in bytes, latency for one CSI on one thread, end-to-end NMSE and its change against the float
Keras encoder, per codec and format. States the load average, since latencies on a shared CPU
grow with the load.

    python benchmarks/bench_export.py RUN_DIR [--codecs csinet_cr4_indoor ...] [--out DIR]
                                      [--max-samples N] [--latency-runs 200] [--json out.json]

The TFLite formats need ``pip install linksim[tflite]`` (or ``LINKSIM_TFLITE_PYTHON``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import linksim  # noqa: F401  (sets the Keras backend)
from linksim.export import codeword_error_text, export_codec


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--codecs", nargs="*", default=None, help="model tags (default: all)")
    p.add_argument("--out", type=Path, default=None, help="keep the exports here")
    p.add_argument("--max-samples", type=int, default=None)
    p.add_argument("--latency-runs", type=int, default=200)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    scenario = args.run_dir / "scenario.yaml"
    tags = args.codecs or sorted(d.name for d in (args.run_dir / "models").iterdir()
                                 if (d / "codec.json").is_file())
    out_root = args.out or Path(tempfile.mkdtemp(prefix="linksim-export-"))
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    reports = []
    for tag in tags:
        rep = export_codec(args.run_dir / "models" / tag, out_root / tag, data=scenario,
                           max_samples=args.max_samples, latency_runs=args.latency_runs)
        rep["tag"] = tag
        reports.append(rep)
        print(f"{tag}: done (load {os.getloadavg()[0]:.2f})", flush=True)
    print("\n| codec | format | size [bytes] | latency [ms] median (min) | NMSE [dB] "
          "| ΔNMSE [dB] | codeword error [dB] |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for rep in reports:
        for r in rep["rows"]:
            print(f"| {rep['tag']} | {r['format']} | {r['size_bytes']:,} | "
                  f"{r['latency_ms']:.3f} ({r['latency_min_ms']:.3f}) | "
                  f"{_cell(r['nmse_db'], '.2f')} | "
                  f"{_cell(r['delta_nmse_db'], '+.3f')} | "
                  f"{codeword_error_text(r)} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}; exports in {out_root}")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, default=str))


if __name__ == "__main__":
    main()
