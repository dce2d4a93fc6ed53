"""Large splits in shards: sharded generation gives the file of one-go generation, through the
cache, the executors and a rerun after a kill."""

import json
import sys

import h5py
import pytest
from linksim.channels import shards
from linksim.channels.dataset import generate_to_file, load_or_generate, split_path

from linksim import housekeeping
from linksim.executor import LocalExecutor
from linksim.pipeline import Run
from linksim.scenario import load_scenario
from tests import scenarios

COST = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": 8,
        "num_subcarriers": 64, "bandwidth_hz": 20e6, "num_delay_rows": 8}
N, SEED = 600, 7  # 3 shards of at most 256 samples (COST2100_TASK 256)


@pytest.fixture
def tiny_shards(monkeypatch):
    monkeypatch.setattr(shards, "SHARD_SAMPLES", 256)


def _same_file(a, b):
    """Same attributes (format, meta, checksums) and byte-identical arrays."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert dict(fa.attrs) == dict(fb.attrs)
        assert set(fa) == set(fb)
        for k in fa:
            x, y = fa[k][...], fb[k][...]
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def _one_go(tmp_path, g=COST, n=N, seed=SEED):
    path = split_path(g, "train", n, seed, tmp_path / "one-go")
    return generate_to_file(g, "train", n, seed, path)


def test_sharded_cost2100_equals_one_go(tmp_path, tiny_shards):
    ranges = shards.shard_ranges(COST, N)
    assert ranges == [(0, 256), (256, 512), (512, 600)]
    path = split_path(COST, "train", N, SEED, tmp_path / "sharded")
    for lo, hi in reversed(ranges):  # any order: each shard on its own
        shard, reused = shards.generate_shard(COST, "train", N, SEED, path, lo, hi)
        assert not reused and shard == shards.shard_path(path, lo, hi) and shard.is_file()
    shards.merge_shards(COST, "train", N, SEED, path, ranges)
    reference = _one_go(tmp_path)
    assert path.name == reference.name  # same cache key
    _same_file(path, reference)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # shards and locks gone


@pytest.mark.filterwarnings("ignore::UserWarning")  # Sionna's validity notes
def test_sharded_uma_series_equals_one_go(tmp_path, monkeypatch):
    """UMa with 3 snapshots per drop: shards start at whole Sionna calls (6 drops here)."""
    from linksim.channels import dataset

    monkeypatch.setattr(dataset, "GENERATION_BATCH", 20)
    monkeypatch.setattr(shards, "SHARD_SAMPLES", 30)
    g = {"family": "uma", "carrier_frequency_hz": 3.5e9, "num_subcarriers": 16,
         "subcarrier_spacing_hz": 30e3, "num_bs_antennas": 4, "ue_speed_mps": 3.0,
         "num_snapshots": 3, "snapshot_interval_s": 1e-3}
    n = 67
    ranges = shards.shard_ranges(g, n)
    assert ranges == [(0, 36), (36, 67)]
    path = split_path(g, "train", n, 5, tmp_path / "sharded")
    shards.build_from_shards(g, "train", n, 5, path, ranges)
    reference = _one_go(tmp_path, g, n, 5)
    _same_file(path, reference)


def test_small_split_is_one_shard(tiny_shards):
    assert shards.shard_ranges(COST, 256) == [(0, 256)]
    with pytest.raises(ValueError, match="do not cover"):
        shards.build_from_shards(COST, "train", N, SEED, split_path(COST, "train", N, SEED),
                                 [(0, 256), (300, 600)])


def test_killed_shard_set_is_resumed(tmp_path, tiny_shards, monkeypatch):
    """A run killed mid-shard left shard 0 complete, shard 1's temporary file, and shard 2
    damaged: the rerun (the cache's own path) reuses shard 0, makes the others and merges."""
    cache = tmp_path / "cache"
    path = split_path(COST, "train", N, SEED, cache)
    for lo, hi in [(0, 256), (512, 600)]:
        shards.generate_shard(COST, "train", N, SEED, path, lo, hi)
    partial = cache / f".{shards.shard_path(path, 256, 512).name}.abc123.tmp"
    partial.write_bytes(b"half")
    damaged = shards.shard_path(path, 512, 600)
    with h5py.File(damaged, "r+") as f:
        f["h_ad"][0] = 0  # content no longer matches its checksum
    stale = housekeeping.stale_items(cache)
    assert [i.path for i in stale] == [partial]  # the killed write; complete shards are kept
    housekeeping.prune(stale)

    written = []
    real = shards.write_plan
    monkeypatch.setattr(shards, "write_plan",
                        lambda plan, split, n, p, offset=0: written.append(p.name) or
                        real(plan, split, n, p, offset))
    with pytest.warns(UserWarning, match="generating the shard again"):
        _ds, got, cached = load_or_generate(COST, "train", N, SEED, cache)
    assert not cached and got == path
    assert written == [shards.shard_path(path, 256, 512).name, damaged.name, path.name]
    _same_file(path, _one_go(tmp_path))
    assert not list(cache.glob(".*shard*"))


def test_shard_left_beside_a_merged_split_is_stale(tmp_path, tiny_shards):
    cache = tmp_path / "cache"
    path = split_path(COST, "train", N, SEED, cache)
    shard, _ = shards.generate_shard(COST, "train", N, SEED, path, 0, 256)
    assert housekeeping.stale_items(cache) == []  # kept for a rerun while the split is missing
    load_or_generate(COST, "train", N, SEED, cache)  # merges, reusing it
    assert not shard.exists()
    shards.generate_shard(COST, "train", N, SEED, path, 0, 256)
    assert [(i.path, i.kind) for i in housekeeping.stale_items(cache)] == [
        (shard, "merged data shard")]


# -- through a run's units --------------------------------------------------------------------
def _cost_run(tmp_path, executor):
    changes = {"datasets": {"indoor": {**COST, "n_train": N, "n_val": 40, "n_test": 60}},
               "training.train_sets": ["indoor"], "evaluation.test_sets": ["indoor"],
               "preprocessing.num_delay_rows": 8}
    path = scenarios.write(tmp_path, changes)
    run = Run(load_scenario(path), path, progress=False, echo=lambda *a: None,
              executor=executor)
    run.model_plan = list  # no models: the data units only
    return run


def _units_make_the_one_go_file(tmp_path, executor):
    run = _cost_run(tmp_path, executor)
    run.run_units_remotely()
    assert run.units["data"] == {"computed": 3, "reused": 0, "shards": 3}
    from linksim.seeding import derive_seed

    seed = derive_seed(run.sc.seed, "dataset", "indoor", "train")
    g = run.sc.datasets["indoor"].generator_config()
    path = split_path(g, "train", N, seed, run.cache_dir)
    _same_file(path, _one_go(tmp_path, g, N, seed))
    assert not list(run.cache_dir.glob(".*shard*"))
    json.dumps(run.units)  # goes into the manifest


def test_shard_units_on_the_local_executor(tmp_path, tiny_shards):
    _units_make_the_one_go_file(tmp_path, LocalExecutor())


@pytest.fixture(scope="module")
def ray_executor():
    ray = pytest.importorskip("ray")
    from linksim.executor import make_executor

    ex = make_executor("ray", num_cpus=2)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ex
    ex.close()


@pytest.mark.slow  # ~30 s of worker start-up and imports, plus the Ray start
def test_shard_units_on_ray(tmp_path, tiny_shards, ray_executor):
    """The driver cuts the split (the workers keep the default shard size): the same file.
    The quick variant is the local executor's test above (the same units)."""
    _units_make_the_one_go_file(tmp_path, ray_executor)
