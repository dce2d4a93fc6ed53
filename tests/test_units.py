"""A run as units: resume after a kill redoes only unfinished sweep units; executors."""

import json
import sys

import pandas as pd
import pytest

from linksim.errors import LinksimInputError
from linksim.executor import LocalExecutor, Unit, make_executor
from linksim.pipeline import Run
from linksim.scenario import load_scenario
from tests import scenarios

# Two families on one grid, each trained on and tested on: 2 training units, 2 sweep units.
TWO_SETS = {
    "datasets.uma_b": {**scenarios.TINY["datasets"]["uma_small"],
                       "carrier_frequency_hz": 10e9, "n_train": 200, "n_val": 40, "n_test": 60},
    "training.train_sets": ["uma_small", "uma_b"],
    "evaluation.test_sets": ["uma_small", "uma_b"],
    "feedback": [{"kind": "ideal"}],
    "baselines": [{"kind": "pca", "payload_bits": [512]}],
}


def _run(path, **kw):
    run = Run(load_scenario(path), path, progress=False, echo=lambda *a: None, **kw)
    return run, run.execute()


def test_killed_sweep_resumes_with_only_the_unfinished_units(tmp_path, monkeypatch):
    path = scenarios.write(tmp_path, TWO_SETS)
    from linksim import pipeline

    real = pipeline.run_sweep
    calls = []

    def killed_on_second(*args, **kw):
        calls.append(kw["test_sets"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # what Ctrl-C or SIGTERM (the CLI's handler) does
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "run_sweep", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        _run(path)
    assert calls == [["uma_small"], ["uma_b"]]
    assert not list((tmp_path / "runs").glob("tiny-*"))  # no run directory left
    assert len(list((tmp_path / "cache" / "sweep").glob("tiny-uma_small-*.pkl"))) == 1

    calls.clear()
    monkeypatch.setattr(pipeline, "run_sweep", lambda *a, **kw: (calls.append(kw["test_sets"]),
                                                               real(*a, **kw))[1])
    _, run_dir = _run(path)
    assert calls == [["uma_b"]]  # only the unfinished unit
    units = json.loads((run_dir / "manifest.json").read_text())["units"]
    assert units["sweep"] == {"computed": 1, "reused": 1}
    assert units["train"] == {"computed": 0, "reused": 2}
    assert units["data"]["computed"] == 0
    assert not list((tmp_path / "cache" / "sweep").glob("*.pkl"))  # a finished run's are gone

    # the resumed results equal those of a run that was never interrupted
    monkeypatch.setattr(pipeline, "run_sweep", real)
    _, fresh_dir = _run(path)
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "results.csv"),
                                  pd.read_csv(fresh_dir / "results.csv"))
    assert (run_dir / "results.csv").read_bytes() == (fresh_dir / "results.csv").read_bytes()


def test_sweep_units_equal_one_sweep(tmp_path):
    """Cutting the sweep into one unit per test set changes no number."""
    from linksim.sweep import run_sweep
    from linksim.units import merge_sweeps, per_sample_equal

    path = scenarios.write(tmp_path, TWO_SETS)
    run = Run(load_scenario(path), path, progress=False, echo=lambda *a: None)
    run.load_data()
    trained = run.train_codecs(tmp_path / "scratch")
    classical = run.fit_baselines()
    whole = run_sweep(run.sc, run.datasets, trained, classical)
    parts = merge_sweeps([run_sweep(run.sc, run.datasets, trained, classical, test_sets=[t])
                          for t in run.sc.evaluation.test_sets])
    pd.testing.assert_frame_equal(whole.rows, parts.rows)
    assert per_sample_equal(whole.per_sample, parts.per_sample)
    assert whole.energy == parts.energy and whole.range_floors == parts.range_floors
    # test set x SNR chunks ([0, 20] and [40] dB) x method chunks: the same rows again
    from linksim.sweep import method_count
    from linksim.units import SweepChunk, sweep_chunks

    n = method_count(trained, classical)
    assert n == 5  # LS, then csinet and PCA (512 bits) trained on each of the two sets
    sc = run.sc.model_copy(update={"execution": run.sc.execution.model_copy(
        update={"sweep_snrs_per_unit": 2})})
    chunks = sweep_chunks(sc, n)
    assert chunks == [SweepChunk("uma_small", (0.0, 20.0)), SweepChunk("uma_small", (40.0,)),
                      SweepChunk("uma_b", (0.0, 20.0)), SweepChunk("uma_b", (40.0,))]
    sc = sc.model_copy(update={"execution": sc.execution.model_copy(
        update={"sweep_methods_per_unit": 3})})
    chunks = sweep_chunks(sc, n)
    assert [c.label for c in chunks[:2]] == ["uma_small@0,20dB#m0-2", "uma_small@0,20dB#m3-4"]
    assert len(chunks) == 8
    for order in (chunks, chunks[::-1]):  # the units' results merge in any order
        parts = merge_sweeps([run_sweep(sc, run.datasets, trained, classical,
                                        test_sets=[c.test_set], snr_points=list(c.snrs),
                                        methods=c.methods) for c in order])
        pd.testing.assert_frame_equal(whole.rows, parts.rows)
        assert per_sample_equal(whole.per_sample, parts.per_sample)
        assert whole.energy == parts.energy and whole.range_floors == parts.range_floors
    run.close()


def test_snr_chunked_run_equals_the_run_by_test_set(tmp_path):
    """``execution.sweep_snrs_per_unit`` cuts the sweep into test set x SNR units, and
    ``sweep_methods_per_unit`` into test set x method units: same bytes."""
    _, whole = _run(scenarios.write(tmp_path, TWO_SETS))
    _, chunked = _run(scenarios.write(tmp_path, {**TWO_SETS, "execution": {
        "sweep_snrs_per_unit": 2}}, name="chunked.yaml"))
    assert (whole / "results.csv").read_bytes() == (chunked / "results.csv").read_bytes()
    units = json.loads((chunked / "manifest.json").read_text())["units"]
    assert units["sweep"] == {"computed": 4, "reused": 0}
    assert units["train"]["computed"] == 0  # the models of the first run, from the cache
    _, by_method = _run(scenarios.write(tmp_path, {**TWO_SETS, "execution": {
        "sweep_methods_per_unit": 1}}, name="by_method.yaml"))
    assert (whole / "results.csv").read_bytes() == (by_method / "results.csv").read_bytes()
    units = json.loads((by_method / "manifest.json").read_text())["units"]
    assert units["sweep"] == {"computed": 10, "reused": 0}  # 2 test sets x 5 methods


def test_local_executor_runs_units_in_order():
    out = LocalExecutor().map([Unit("t", str(i), pow, (i, 2)) for i in range(4)])
    assert out == [0, 1, 4, 9]


def test_ray_missing_is_bad_input_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(LinksimInputError, match=r'pip install "linksim\[ray\]"'):
        make_executor("ray")


def test_unreachable_address_is_bad_input_within_seconds():
    pytest.importorskip("ray")
    import time

    t0 = time.perf_counter()
    with pytest.raises(LinksimInputError, match="127.0.0.1:9"):
        make_executor("ray", "127.0.0.1:9")  # the discard port: nothing listens
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("address", ["nonsense", "host:", ":123"])
def test_malformed_address_is_bad_input(address):
    pytest.importorskip("ray")
    with pytest.raises(LinksimInputError, match="--address"):
        make_executor("ray", address)


def test_address_without_ray_executor_is_bad_input():
    with pytest.raises(LinksimInputError, match="--address"):
        make_executor("local", "127.0.0.1:6379")


def test_cli_executor_errors_exit_2(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from linksim.cli import main

    path = scenarios.write(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)
    res = CliRunner().invoke(main, ["run", str(path), "--executor", "ray"])
    assert res.exit_code == 2 and "linksim[ray]" in res.output
    assert not (tmp_path / "runs").exists()  # refused before any work


# -- Ray: a local instance with 2 CPUs ---------------------------------------------------------
@pytest.fixture(scope="module")
def ray_executor():
    ray = pytest.importorskip("ray")
    ex = make_executor("ray", num_cpus=2)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test units below
    yield ex
    ex.close()


SMALL = {**TWO_SETS, "datasets.uma_small.n_train": 120, "datasets.uma_small.n_val": 30,
         "datasets.uma_small.n_test": 50, "datasets.uma_b": {
             **TWO_SETS["datasets.uma_b"], "n_train": 120, "n_val": 30, "n_test": 50}}


def test_ray_run_equals_local_run(tmp_path, ray_executor):
    """Data, training and sweep units on two single-threaded Ray workers give the bytes of a
    local single-threaded run (separate caches: the Ray run generates and trains itself)."""
    from linksim.executor import call_with_threads

    (tmp_path / "local").mkdir()
    (tmp_path / "ray").mkdir()
    local_path = scenarios.write(tmp_path / "local", SMALL)
    ray_path = scenarios.write(tmp_path / "ray", SMALL)
    _, local_dir = call_with_threads(_run, (local_path,), 1)
    _, ray_dir = _run(ray_path, executor=ray_executor)
    assert (ray_dir / "results.csv").read_bytes() == (local_dir / "results.csv").read_bytes()
    units = json.loads((ray_dir / "manifest.json").read_text())["units"]
    assert units == {"data": {"computed": 6, "reused": 0, "shards": 0}, "train": {"computed": 2, "reused": 0},
                     "sweep": {"computed": 2, "reused": 0}}
    assert json.loads((ray_dir / "manifest.json").read_text())["executor"] == "ray"
    for model in (local_dir / "models").iterdir():
        a = json.loads((model / "codec.json").read_text())["weights_blake2b"]
        b = json.loads((ray_dir / "models" / model.name / "codec.json").read_text())
        assert a == b["weights_blake2b"]


def _die_once(marker: str) -> int:
    """Kill this worker process the first time (as a lost node would), succeed the second."""
    import os
    import signal
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return 42


def test_unit_of_a_lost_worker_is_retried(tmp_path, ray_executor):
    marker = tmp_path / "killed"
    assert ray_executor.map([Unit("test", "die-once", _die_once, (str(marker),))]) == [42]
    assert marker.read_text() == "killed once"


def test_ray_reraises_a_units_bad_input(ray_executor):
    with pytest.raises(LinksimInputError, match="field x"):
        ray_executor.map([Unit("test", "bad", _bad_input, ())])


def _bad_input() -> None:
    raise LinksimInputError("field x: bad")


def test_scenario_can_choose_the_executor(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from linksim.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    path = scenarios.write(tmp_path, {"execution": {"executor": "ray", "unit_threads": 2}})
    res = CliRunner().invoke(main, ["run", str(path)])
    assert res.exit_code == 2 and "linksim[ray]" in res.output
    bad = scenarios.write(tmp_path, {"execution": {"executor": "local", "address": "h:1"}},
                          name="bad.yaml")
    res = CliRunner().invoke(main, ["validate", str(bad)])
    assert res.exit_code == 2 and "execution" in res.output and "address" in res.output
