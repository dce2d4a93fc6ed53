"""Data sets larger than memory: streamed generation, lazy reading, training from disk."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from linksim.channels import cost2100, dataset
from linksim.channels.dataset import (
    AdDataset,
    generate,
    generate_to_file,
    load_or_generate,
    read_dataset,
    write_ad,
)

import linksim  # noqa: F401  (sets the Keras backend before keras is used)
from linksim.errors import DatasetError
from linksim.learning.streaming import StreamedCsi
from linksim.phy.transforms import Normalizer, unit_power
from linksim.pipeline import codec_inputs

NA, NC, NT = 8, 64, 8
COST = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": NT,
        "num_subcarriers": NC, "bandwidth_hz": 20e6, "num_delay_rows": NA}


def _file_contents(path):
    """Arrays (with chunk shapes) and attributes of an HDF5 data set file."""
    with h5py.File(path) as f:
        arrays = {k: (f[k][...], f[k].chunks, f[k].dtype) for k in f}
        attrs = {k: f.attrs[k] for k in f.attrs}
    attrs["meta"] = json.loads(attrs["meta"])
    return arrays, attrs


def _assert_same_file(a, b):
    arr_a, att_a = _file_contents(a)
    arr_b, att_b = _file_contents(b)
    assert arr_a.keys() == arr_b.keys() and att_a == att_b
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k][0], arr_b[k][0])
        assert arr_a[k][1:] == arr_b[k][1:]


# -- streamed generation ------------------------------------------------------------------------

@pytest.mark.parametrize("pool", [False, True])
def test_streamed_cost2100_generation_is_bit_identical(tmp_path, monkeypatch, pool):
    """Written task by task (serially, or by the process pool), the file holds exactly the
    samples of ``generate_cost2100_ad`` and what the in-memory path wrote."""
    n = 150
    monkeypatch.setattr(dataset, "COST2100_TASK", 32)
    if pool:
        monkeypatch.setattr(dataset, "COST2100_POOL_MIN", 64)
    path = generate_to_file(COST, "train", n, 7, tmp_path / "streamed.h5")
    h_ad, kept = cost2100.generate_cost2100_ad(n, "indoor_5.3GHz", NT, NC, 20e6, NA, seed=7)
    back = read_dataset(path)
    np.testing.assert_array_equal(back.h_ad, h_ad)
    np.testing.assert_array_equal(back.energy_kept, kept)
    assert back.meta["energy_kept_mean"] == float(np.mean(kept))
    assert back.meta["split"] == "train" and back.num_subcarriers == NC
    # the in-memory path (generate, then write the whole arrays) writes the same file
    ds = generate(COST, n, 7)
    ds.meta["split"] = "train"
    write_ad(tmp_path / "memory.h5", ds)
    _assert_same_file(path, tmp_path / "memory.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.h5", "streamed.h5"]


def test_streamed_uma_generation_is_bit_identical(tmp_path, monkeypatch):
    """UMa drops are drawn one Sionna call at a time, each seeded by its index: the samples of
    ``generate_uma_series`` with the same batching."""
    from linksim.channels import uma

    monkeypatch.setattr(dataset, "GENERATION_BATCH", 4)  # 2 drops x 2 snapshots per call
    g = {"family": "uma", "carrier_frequency_hz": 28e9, "num_subcarriers": 32,
         "subcarrier_spacing_hz": 120e3, "num_bs_antennas": 4, "ue_speed_mps": 3.0,
         "num_snapshots": 2, "snapshot_interval_s": 1e-3, "bs_antenna_pattern": "omni",
         "ue_orientation": "upright"}
    n = 11  # 6 drops in 3 calls, the last snapshot cut
    path = generate_to_file(g, "test", n, 5, tmp_path / "uma.h5")
    a, tau = uma.generate_uma_series(6, 2, 1e-3, num_bs_antennas=4, carrier_frequency_hz=28e9,
                                     ue_speed_mps=(3.0, 3.0), seed=5, batch_size=2,
                                     antenna_pattern="omni", ue_orientation="upright")
    back = read_dataset(path)
    np.testing.assert_array_equal(back.a, a.reshape(12, 4, -1)[:n])
    np.testing.assert_array_equal(back.tau, np.repeat(tau, 2, axis=0)[:n])
    mem = generate(g, n, 5)
    mem.meta["split"] = "test"
    dataset.write_cir(tmp_path / "memory.h5", mem)
    _assert_same_file(path, tmp_path / "memory.h5")


def test_interrupted_generation_leaves_no_file(tmp_path, monkeypatch):
    calls = []
    real = cost2100._ad_blocks

    def flaky(*args):
        calls.append(args[-2:])
        if len(calls) == 3:
            raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a split
        return real(*args)

    monkeypatch.setattr(dataset, "COST2100_TASK", 32)
    monkeypatch.setattr(cost2100, "_ad_blocks", flaky)
    with pytest.raises(KeyboardInterrupt):
        load_or_generate(COST, "train", 200, 1, tmp_path / "cache")
    assert calls == [(0, 32), (32, 64), (64, 96)]
    # neither the split nor a temporary file; only the entry's (empty, released) lock file,
    # which stays by design (deleting a lock file others may wait on is racy)
    left = list((tmp_path / "cache").iterdir())
    assert [p.suffix for p in left] == [".lock"] and left[0].stat().st_size == 0
    # the next attempt generates the split from scratch
    monkeypatch.setattr(cost2100, "_ad_blocks", real)
    ds, path, cached = load_or_generate(COST, "train", 200, 1, tmp_path / "cache")
    assert not cached and len(ds) == 200
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]


# -- lazy reading -------------------------------------------------------------------------------

def _open_files() -> int:
    return h5py.h5f.get_obj_count(h5py.h5f.OBJ_ALL, h5py.h5f.OBJ_FILE)


def test_lazy_read_equals_eager_and_closes(tmp_path):
    path = generate_to_file(COST, "val", 70, 2, tmp_path / "d.h5")
    before = _open_files()
    eager = read_dataset(path)
    with read_dataset(path, lazy=True) as lazy:
        assert lazy.lazy and not eager.lazy
        assert isinstance(lazy.h_ad, h5py.Dataset) and isinstance(lazy.energy_kept, np.ndarray)
        assert (len(lazy), lazy.num_antennas, lazy.num_delay_rows) == (70, NT, NA)
        np.testing.assert_array_equal(lazy.h_ad[10:30], eager.h_ad[10:30])
        np.testing.assert_array_equal(lazy.energy_kept, eager.energy_kept)
        np.testing.assert_array_equal(lazy.channels(5, 40), eager.channels(5, 40))
        assert lazy.meta == eager.meta
        assert _open_files() == before + 1
    assert _open_files() == before
    # impulse-response data sets too
    cir = dataset.CirDataset(np.ones((6, 3, 2), np.complex64), np.zeros((6, 2), np.float32),
                             np.arange(8) * 1e3, {"split": "x"})
    dataset.write_cir(tmp_path / "c.h5", cir)
    lazy = read_dataset(tmp_path / "c.h5", lazy=True)
    assert isinstance(lazy.a, h5py.Dataset)
    np.testing.assert_array_equal(lazy.channels(1, 4), cir.channels(1, 4))
    lazy.close()
    del lazy
    assert _open_files() == before


def test_lazy_read_errors_name_the_file_and_close_it(tmp_path):
    before = _open_files()
    junk = tmp_path / "junk.h5"
    junk.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(DatasetError, match="junk.h5: corrupt or unreadable"):
        read_dataset(junk, lazy=True)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DatasetError, match="foreign.h5: not a linksim channel data set"):
        read_dataset(foreign, lazy=True)
    bad = tmp_path / "shapes.h5"
    write_ad(bad, AdDataset(np.ones((5, 2, 3), np.complex64), np.ones(5, np.float32), 8))
    with h5py.File(bad, "a") as f:
        del f["energy_kept"]
        f["energy_kept"] = np.ones(3)
    with pytest.raises(DatasetError, match="shapes.h5: corrupt data set"):  # the checksum
        read_dataset(bad, lazy=True)
    with h5py.File(bad, "a") as f:  # without checksums (files written before them)
        del f.attrs["checksums"]
    with pytest.raises(DatasetError, match="shapes.h5: inconsistent array shapes"):
        read_dataset(bad, lazy=True)
    with pytest.raises(DatasetError, match="missing.h5: data set file not found"):
        read_dataset(tmp_path / "missing.h5", lazy=True)
    assert _open_files() == before


# -- the streamed source ------------------------------------------------------------------------

class _Reads:
    """An array-like that records the number of samples of every read."""

    def __init__(self, data):
        self.data, self.sizes, self.shape, self.dtype = data, [], data.shape, data.dtype
        self.ndim = data.ndim

    def __getitem__(self, sl):
        out = self.data[sl]
        self.sizes.append(len(out))
        return out


def _lazy_random(tmp_path, n=530, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, NA, NT, 2)).astype(np.float32).view(np.complex64)[..., 0]
    h *= rng.uniform(0.1, 3.0, (n, 1, 1)).astype(np.float32)  # unequal sample powers
    write_ad(tmp_path / "r.h5", AdDataset(h, np.ones(n, np.float32), NC))
    return read_dataset(tmp_path / "r.h5", lazy=True)


def _rows_sorted(x):
    flat = x.reshape(len(x), -1)
    return flat[np.lexsort(flat.T[::-1])]


def test_stream_reads_blocks_and_covers_every_sample_once(tmp_path):
    ds = _lazy_random(tmp_path)
    ds.h_ad = rec = _Reads(ds.h_ad)
    norm = Normalizer(2.0)
    src = StreamedCsi(ds, NA, block=100, batch_size=40, normalizer=norm,
                      power_normalization=True)
    # reference: the in-memory path (codec_inputs, unit power, normaliser)
    x_mem = norm.forward(unit_power(codec_inputs(ds, NA, 40, None, None))[0])
    rec.sizes.clear()
    epochs = []
    for epoch in range(2):
        batches = list(src.epoch_batches(epoch, 64, seed=3))
        assert [len(b) for b in batches] == [64] * 8 + [18]  # ceil(530 / 64) batches
        epochs.append(np.concatenate(batches))
        assert 0 < max(rec.sizes) <= 100  # never more than a block read at a time
        assert sum(rec.sizes) == (epoch + 1) * 530  # each sample read once per epoch
    for x in epochs:  # a permutation of the in-memory inputs: every sample exactly once
        np.testing.assert_array_equal(_rows_sorted(x), _rows_sorted(x_mem))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled per epoch ...
    again = np.concatenate(list(src.epoch_batches(1, 64, seed=3)))
    np.testing.assert_array_equal(again, epochs[1])  # ... reproducibly
    # in order: exactly the in-memory array
    np.testing.assert_array_equal(np.concatenate(list(src.ordered_batches(64))), x_mem)
    np.testing.assert_array_equal(src.to_array(), x_mem)
    ds.close()


def test_scratch_file_computes_each_block_once(tmp_path):
    ds = _lazy_random(tmp_path)
    ds.h_ad = rec = _Reads(ds.h_ad)
    scratch = tmp_path / "scratch"
    kw = {"block": 100, "batch_size": 40, "snr_db": 10.0, "seed": 2, "labels": ("x",)}
    src = StreamedCsi(ds, NA, scratch_dir=scratch, **kw)
    norm = src.fit_normalizer(4.0)  # the first pass computes and keeps every block
    reads = sum(rec.sizes)
    assert reads == 530
    train = src.with_normalizer(norm)
    first = np.concatenate(list(train.epoch_batches(0, 64, seed=1)))
    assert sum(rec.sizes) == reads  # later passes read the scratch file, not the data set
    plain = StreamedCsi(ds, NA, normalizer=norm, **kw)  # recomputes every pass
    np.testing.assert_array_equal(first, np.concatenate(list(plain.epoch_batches(0, 64, 1))))
    assert list(scratch.iterdir()) == []  # anonymous: nothing to clean up
    train.close()
    np.testing.assert_array_equal(src.raw_block(4), plain.raw_block(4))  # recomputed
    src.close()
    ds.close()


def test_stream_pilot_noise_does_not_depend_on_read_order(tmp_path):
    ds = _lazy_random(tmp_path, n=300)
    kw = {"block": 64, "batch_size": 25, "snr_db": 5.0, "seed": 1, "labels": ("p", "d", "train")}
    src = StreamedCsi(ds, NA, **kw)
    backwards = [src.raw_block(i) for i in reversed(range(src.num_blocks))][::-1]
    serial = StreamedCsi(ds, NA, prefetch=False, **kw)
    for i, x in enumerate(backwards):
        np.testing.assert_array_equal(x, serial.raw_block(i))
    clean = StreamedCsi(ds, NA, block=64, batch_size=25).raw_block(2)
    noise = backwards[2] - clean
    snr = 10 * np.log10(np.mean(clean ** 2) / np.mean(noise ** 2))
    assert 0 < snr < 10 + 10 * np.log10(NC / NA)  # noisy, at about the pilot SNR after truncation
    ds.close()


@pytest.mark.parametrize("rule", ["max", 4.0])
def test_streaming_normaliser_fit_equals_in_memory_fit(tmp_path, rule):
    ds = _lazy_random(tmp_path)
    src = StreamedCsi(ds, NA, block=77, batch_size=30, power_normalization=True)
    x = unit_power(codec_inputs(ds, NA, 30, None, None))[0]
    streamed, memory = src.fit_normalizer(rule), Normalizer.fit(x, rule)
    if rule == "max":
        assert streamed.scale == memory.scale
    else:
        assert streamed.scale == pytest.approx(memory.scale, rel=1e-12)
    with pytest.raises(ValueError, match="all zero"):
        Normalizer.fit_stream([np.zeros((3, 2, 2, 2))], rule)
    ds.close()


# -- training from disk -------------------------------------------------------------------------

@pytest.mark.parametrize("fast", [True, False])
def test_train_codec_accepts_a_streamed_source(tmp_path, fast):
    from linksim.codecs import CsiNet
    from linksim.learning.training import TrainSettings, train_codec

    ds = _lazy_random(tmp_path, n=120)
    src = StreamedCsi(ds, NA, block=50, batch_size=20, normalizer=Normalizer(8.0))
    import keras

    keras.utils.set_random_seed(0)
    codec = CsiNet(4, NA, NT)
    rows = train_codec(codec, src, src, TrainSettings(epochs=2, batch_size=32, fast=fast),
                       progress=False)
    assert len(rows) == 2 and all(np.isfinite([r["loss"], r["val_loss"]]).all() for r in rows)
    # validation is the MSE over the whole source (the best epoch's weights are kept)
    x = src.to_array()
    assert min(r["val_loss"] for r in rows) == pytest.approx(
        float(np.mean((codec.decode(codec.encode(x)) - x) ** 2)), rel=1e-3)
    ds.close()


COST_SCENARIO = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": 16,
                 "num_subcarriers": 128, "bandwidth_hz": 20e6, "num_delay_rows": 16,
                 "n_train": 800, "n_val": 100, "n_test": 60}


def test_streamed_training_end_to_end(tmp_path):
    """``training.stream``: the training splits stay on disk, a CsiNet trained from them beats
    the model that outputs the training mean, and the model key tells it from in-memory
    training (whose key the new fields leave unchanged)."""
    from linksim.pipeline import Run
    from linksim.scenario import load_scenario
    from tests import scenarios

    path = scenarios.write(tmp_path, {
        "datasets": {"indoor": dict(COST_SCENARIO)}, "training.train_sets": ["indoor"],
        "evaluation.test_sets": ["indoor"], "estimation.pilot_snr_db": [20],
        "training.epochs": 12, "training.batch_size": 25, "training.stream": True, "training.stream_block": 128,
        "feedback": [{"kind": "ideal"}]})
    sc = load_scenario(path)
    run = Run(sc, path, progress=False, echo=lambda *a: None)
    run.load_data()
    assert run.datasets[("indoor", "train")].lazy and run.datasets[("indoor", "val")].lazy
    assert not run.datasets[("indoor", "test")].lazy
    (tmp_path / "out").mkdir()
    [tc] = run.train_codecs(tmp_path / "out")
    # the mean-output model on the validation inputs, in the codec's normalised domain
    x_tr = tc.codec.ue_prepare(run._inputs("indoor", "train"))[0]
    x_val = tc.codec.ue_prepare(run._inputs("indoor", "val"))[0]
    mse_mean = float(np.mean((x_val - x_tr.mean(axis=0)) ** 2))
    mse_codec = float(np.mean((tc.codec.decode(tc.codec.encode(x_val)) - x_val) ** 2))
    assert mse_codec < 0.6 * mse_mean  # 0.44 when written
    assert min(r["val_loss"] for r in tc.codec.history) == pytest.approx(mse_codec, rel=1e-3)
    # normaliser fitted over the whole split, in one pass
    assert tc.codec.normalizer.scale == pytest.approx(Normalizer.fit(
        unit_power(run._inputs("indoor", "train"))[0],
        sc.preprocessing.scale_rule(tc.codec.output_head), tc.codec.normalizer_mode).scale,
        rel=1e-12)
    assert len(tc.links) == 1
    # model keys: streaming is part of the key; off, the key is that of before the option
    spec, fb = sc.codecs[0], sc.training.feedback_list()[0]
    key_stream = run._model_key(spec, 4, "indoor", fb)
    off = sc.model_copy(update={"training": sc.training.model_copy(update={"stream": False})})
    key_off = Run(off, path)._model_key(spec, 4, "indoor", fb)
    assert key_stream != key_off
    assert "stream" not in off.training.model_dump()
    for ds in run.datasets.values():
        ds.close()


def test_stream_settings_are_validated(tmp_path):
    from linksim.errors import LinksimInputError
    from linksim.pipeline import Run
    from linksim.scenario import load_scenario
    from tests import scenarios

    with pytest.raises(LinksimInputError, match="stream_block"):
        load_scenario(scenarios.write(tmp_path, {"training.stream_block": 0}))
    path = scenarios.write(tmp_path, {"training.stream": True,
                                      "codecs": [{"name": "csiinr", "compression_ratios": [4]}]})
    run = Run(load_scenario(path), path, progress=False, echo=lambda *a: None)
    with pytest.raises(LinksimInputError, match="training.stream: codec csiinr"):
        run.train_codecs(tmp_path)
