"""The HDF5 data set store: AdDataset round trip, dispatch on the format, error paths."""

import h5py
import numpy as np
import pytest
from linksim.channels.dataset import (
    AD_FORMAT,
    AdDataset,
    CirDataset,
    describe_file,
    read_ad,
    read_dataset,
    write_ad,
    write_cir,
)

from linksim.errors import DatasetError
from linksim.phy.transforms import truncated_angular_delay


def _ad(n=20, na=8, nt=4, nc=64, seed=0):
    rng = np.random.default_rng(seed)
    h = (rng.standard_normal((n, na, nt)) + 1j * rng.standard_normal((n, na, nt)))
    return AdDataset(h.astype(np.complex64), rng.uniform(0.9, 1, n).astype(np.float32), nc,
                     {"config": {"family": "cost2100"}, "split": "test"})


def test_ad_round_trip_and_channels_are_the_truncated_channel(tmp_path):
    ds = _ad()
    path = tmp_path / "d" / "ad.h5"
    write_ad(path, ds)
    assert [p.name for p in path.parent.iterdir()] == ["ad.h5"]  # no temporary file left
    back = read_dataset(path)
    assert isinstance(back, AdDataset)
    np.testing.assert_array_equal(back.h_ad, ds.h_ad)
    np.testing.assert_array_equal(back.energy_kept, ds.energy_kept)
    assert back.meta == ds.meta
    assert (len(back), back.num_antennas, back.num_subcarriers) == (20, 4, 64)
    with h5py.File(path) as f:
        assert f.attrs["format"] == AD_FORMAT and f["h_ad"].chunks is not None
    h = back.channels(3, 9)
    assert h.shape == (6, 64, 4) and h.dtype == np.complex64
    # Transforming back gives the stored rows; the unitary transform keeps the energy.
    np.testing.assert_allclose(truncated_angular_delay(h, 8), ds.h_ad[3:9], atol=2e-5)
    np.testing.assert_allclose(np.sum(np.abs(h) ** 2, axis=(1, 2)),
                               np.sum(np.abs(ds.h_ad[3:9]) ** 2, axis=(1, 2)), rtol=1e-4)
    assert sum(len(b) for b in back.batches(7)) == 20
    assert describe_file(path) == {"family": "cost2100", "split": "test", "n": 20, "nt": 4,
                                   "format": AD_FORMAT}


def test_read_dataset_dispatches_to_cir(tmp_path):
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((5, 4, 3)) + 0j).astype(np.complex64)
    cir = CirDataset(a, rng.uniform(0, 1e-6, (5, 3)).astype(np.float32),
                     np.arange(16) * 30e3, {"config": {"family": "uma"}, "split": "train"})
    write_cir(tmp_path / "c.h5", cir)
    back = read_dataset(tmp_path / "c.h5")
    assert isinstance(back, CirDataset)
    np.testing.assert_array_equal(back.a, a)
    assert describe_file(tmp_path / "c.h5")["nt"] == 4


def test_error_paths_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="missing.h5: data set file not found"):
        read_dataset(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(DatasetError, match="junk.h5: corrupt or unreadable"):
        read_dataset(junk)
    assert describe_file(junk)["family"] == "?"
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DatasetError, match="foreign.h5: not a linksim channel data set"):
        read_dataset(foreign)
    with pytest.raises(DatasetError, match="foreign.h5: not a linksim channel data set"):
        read_ad(foreign)
    # Right format attribute, wrong version / missing array / inconsistent shapes.
    good = tmp_path / "good.h5"
    write_ad(good, _ad())
    for name, edit in (("version", lambda f: f.attrs.__setitem__("format_version", 99)),
                       ("missing", lambda f: f.__delitem__("energy_kept")),
                       ("shapes", lambda f: (f.__delitem__("energy_kept"),
                                             f.create_dataset("energy_kept", data=np.ones(3))))):
        bad = tmp_path / f"{name}.h5"
        bad.write_bytes(good.read_bytes())
        with h5py.File(bad, "a") as f:
            edit(f)
        with pytest.raises(DatasetError, match=f"{name}.h5: "):
            read_dataset(bad)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    write_ad(tmp_path / "ok.h5", _ad())

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_ad(tmp_path / "x.h5", _ad())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.h5"]


def test_cache_files_and_model_directories_follow_the_umask(tmp_path):
    """Cache entries are written under temporary names (mode 0600 / 0700) and renamed into
    place; once in place they carry the mode ``open``/``mkdir`` would give (0666 / 0777 less
    the umask), so a cache shared by a group stays readable (issue 17, class 11)."""
    import os
    import stat

    from linksim.codecs.csinet import CsiNet
    from linksim.phy.transforms import Normalizer

    old = os.umask(0o002)
    try:
        path = tmp_path / "ad.h5"
        write_ad(path, _ad())
        assert stat.S_IMODE(path.stat().st_mode) == 0o664
        codec = CsiNet(compression_ratio=4, num_rows=8, num_antennas=4)
        codec.normalizer = Normalizer(1.0, "standard")
        model = codec.save(tmp_path / "model")
        assert stat.S_IMODE(model.stat().st_mode) == 0o775
        for f in model.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o664, f.name
    finally:
        os.umask(old)


@pytest.mark.parametrize("payload", ["finite", "nan"])
def test_changed_bytes_inside_a_cached_split_are_detected_and_regenerated(tmp_path, payload):
    """Issue 17, class 1: overwriting 4 KiB inside a cached data set with finite bytes (or NaN)
    used to change 128 samples silently. The content checksum written with the file catches it
    on load; the cache moves the file aside and generates the split again, identical to the
    original."""
    import warnings

    from linksim.channels.dataset import CacheRepairWarning, load_or_generate, split_path

    cfg = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": 8,
           "num_subcarriers": 64, "bandwidth_hz": 20e6, "num_delay_rows": 8}
    ds, path, cached = load_or_generate(cfg, "train", 600, 7, tmp_path)
    assert not cached and path == split_path(cfg, "train", 600, 7, tmp_path)
    reference = ds.h_ad.copy()
    with h5py.File(path, "r") as f:
        offset = f["h_ad"].id.get_offset()  # None when chunked: find the first chunk
        if offset is None:
            offset = f["h_ad"].id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    fill = (np.full(512, np.nan, np.float64) if payload == "nan"
            else np.random.default_rng(1).standard_normal(512)).tobytes()
    raw[offset + 4096:offset + 8192] = fill
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="does not match the checksum"):
        read_dataset(path)
    with pytest.warns(CacheRepairWarning, match="corrupt data set"):
        ds2, path2, cached2 = load_or_generate(cfg, "train", 600, 7, tmp_path)
    assert not cached2 and path2 == path
    np.testing.assert_array_equal(ds2.h_ad, reference)
    assert len(list(tmp_path.glob(f"{path.name}.corrupt-*"))) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_or_generate(cfg, "train", 600, 7, tmp_path)  # now clean and from the cache


def test_lazy_reads_are_checked_too(tmp_path):
    ds = _ad(n=50)
    path = tmp_path / "ad.h5"
    write_ad(path, ds)
    with h5py.File(path, "r+") as f:
        f["h_ad"][3] = f["h_ad"][3] * 2
    with pytest.raises(DatasetError, match="'h_ad' does not match"):
        read_dataset(path, lazy=True)


def test_two_runs_sharing_a_cache_build_an_entry_once(tmp_path, monkeypatch):
    """Issue 17, class 6: the cache entry's file lock makes a second user wait for the first
    one's split and read it, instead of generating it again (or reading it half-written)."""
    import threading
    import time

    from linksim.channels import dataset

    calls = []
    real = dataset.generate_to_file

    def slow_generate(*args, **kwargs):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # long enough for the other thread to reach the lock
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "generate_to_file", slow_generate)
    cfg = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": 8,
           "num_subcarriers": 64, "bandwidth_hz": 20e6, "num_delay_rows": 8}
    results = [None, None]

    def user(i):
        results[i] = dataset.load_or_generate(cfg, "test", 100, 3, tmp_path)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(r[2] for r in results) == [False, True]  # one generated, one from cache
    np.testing.assert_array_equal(results[0][0].h_ad, results[1][0].h_ad)


def test_pooled_generation_equals_serial(tmp_path, monkeypatch):
    """Splits of at least COST2100_POOL_MIN samples are generated by a worker pool (workers
    that die with their parent): same file content as one process."""
    from linksim.channels import dataset

    cfg = {"family": "cost2100", "environment": "indoor_5.3GHz", "num_bs_antennas": 4,
           "num_subcarriers": 32, "bandwidth_hz": 20e6, "num_delay_rows": 4}
    n = dataset.COST2100_POOL_MIN + 100
    pooled, _, _ = dataset.load_or_generate(cfg, "test", n, 5, tmp_path / "pool")
    monkeypatch.setattr(dataset, "COST2100_WORKERS", 1)
    serial, _, _ = dataset.load_or_generate(cfg, "test", n, 5, tmp_path / "serial")
    np.testing.assert_array_equal(pooled.h_ad, serial.h_ad)
