"""Fault test (issue 17): a run killed with SIGKILL at each stage (generation, training, sweep)
leaves nothing that breaks the next run: the rerun completes, its results equal those of an
uninterrupted run, and no leftover (unfinished run directory, cache temporary, model temporary,
run lock) remains."""

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from linksim.cli import main
from linksim.housekeeping import stale_items
from tests import scenarios

SMALL = {"estimation.pilot_snr_db": [20], "feedback": [{"kind": "ideal"}],
         "datasets.uma_small.n_train": 200, "datasets.uma_small.n_val": 40,
         "datasets.uma_small.n_test": 60, "baselines": [{"kind": "pca", "payload_bits": [512]}]}

# Runs the CLI with one function replaced by "do the work, then SIGKILL this process".
KILLER = textwrap.dedent("""
    import os, signal, sys
    import {module} as m
    target = {target}
    real = getattr(target, "{name}")

    def killing(*args, **kwargs):
        out = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return out

    setattr(target, "{name}", killing)
    from linksim.cli import main
    main(["run", sys.argv[1], "--no-progress"])
""")

STAGES = {
    # the split written in full, not yet renamed into the cache
    "generation": ("linksim.channels.dataset", "m", "_write_checksums"),
    # the encoder and decoder written to the model's temporary directory, not yet renamed
    "training": ("linksim.codecs.base", "m.Codec", "save_models"),
    # the baselines fitted, the sweep about to write rows into the partial run directory
    "sweep": ("linksim.pipeline", "m.Run", "fit_baselines"),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    res = CliRunner().invoke(main, ["run", str(scenarios.write(tmp, SMALL)), "--no-progress"])
    assert res.exit_code == 0, res.output
    [run_dir] = (tmp / "runs").iterdir()
    return pd.read_csv(run_dir / "results.csv")


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill_at_each_stage_then_rerun(tmp_path, stage, reference):
    module, target, name = STAGES[stage]
    (tmp_path / "killer.py").write_text(KILLER.format(module=module, target=target, name=name))
    path = scenarios.write(tmp_path, SMALL)
    env = dict(os.environ, PYTHONPATH=os.getcwd(), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(tmp_path / "killer.py"), str(path)], check=False,
                          env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    left = stale_items(tmp_path / "cache", tmp_path / "runs")
    assert left, f"the kill at {stage} should leave something behind"
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "leftovers of interrupted runs" in res.output
    assert stale_items(tmp_path / "cache", tmp_path / "runs") == []
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 1 and not runs[0].startswith("."), runs  # no partial, no lock file
    got = pd.read_csv(tmp_path / "runs" / runs[0] / "results.csv")
    pd.testing.assert_frame_equal(got, reference)
