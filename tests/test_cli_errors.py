"""Bad input: one clear message naming the field or file, exit code 2, no run directory."""

import numpy as np
import pytest
from click.testing import CliRunner
from linksim.channels.dataset import cache_key

from linksim.cli import main
from linksim.scenario import load_scenario
from linksim.seeding import derive_seed
from tests import scenarios


def invoke(*args):
    return CliRunner().invoke(main, list(map(str, args)))


@pytest.mark.parametrize("changes,expected", [
    ({"datasets.uma_small.bogus_key": 1}, "datasets.uma_small.uma.bogus_key: unknown key"),
    ({"colour": "red"}, "colour: unknown key"),
    ({"training.epochs": "many"}, "training.epochs"),
    ({"estimation.pilot_snr_db": []}, "estimation.pilot_snr_db: the SNR list is empty"),
    ({"codecs.0.compression_ratios": [3]},
     "codecs[0].compression_ratios: compression ratio 3 does not divide 2*Na*Nt = 512"),
    ({"codecs.0.name": "nocodec"}, "codecs[0].name: unknown codec 'nocodec'"),
    ({"evaluation.test_sets": ["elsewhere"]}, "evaluation.test_sets: unknown data set 'elsewhere'"),
    ({"preprocessing.num_delay_rows": 500}, "num_delay_rows"),
    ({"datasets.uma_small.family": "cost9999"}, "datasets.uma_small"),
    # non-finite physical numbers (issue 17, class 2)
    ({"estimation.pilot_snr_db": [float("nan")]},
     "estimation.pilot_snr_db.0: Input should be a finite number"),
    ({"training.learning_rate": float("inf")}, "training.learning_rate: Input should be a finite"),
    ({"training.lr_min": float("nan")}, "training.lr_min: Input should be a finite number"),
    ({"evaluation.downlink_snr_db": float("-inf")}, "evaluation.downlink_snr_db: Input should"),
    ({"datasets.uma_small.carrier_frequency_hz": float("inf")}, "carrier_frequency_hz: Input"),
    ({"preprocessing.scale": float("nan")}, "preprocessing.scale"),
    ({"feedback": [{"kind": "awgn", "snr_db": [float("nan")]}]}, "feedback.0.awgn.snr_db.0"),
    # duplicates in lists where a repeat means nothing (class 4)
    ({"estimation.pilot_snr_db": [10, 10.0]},
     "estimation.pilot_snr_db: 10.0 is listed twice; give each value once"),
    ({"codecs.0.compression_ratios": [4, 4]},
     "codecs.0.compression_ratios: 4 is listed twice"),
    ({"evaluation.test_sets": ["uma_small", "uma_small"]}, "evaluation.test_sets: 'uma_small' is"),
    ({"training.train_sets": ["uma_small", "uma_small"]}, "training.train_sets: 'uma_small' is"),
    ({"feedback": [{"kind": "awgn", "snr_db": [0, 0]}]}, "feedback.0.awgn.snr_db: 0.0 is listed"),
    # strict integers and booleans (class 11)
    ({"seed": True}, "seed: Input should be a valid integer"),
    ({"training.epochs": 2.5}, "training.epochs: Input should be a valid integer"),
    ({"training.batch_size": "20"}, "training.batch_size: Input should be a valid integer"),
    ({"training.stream": "yes"}, "training.stream: Input should be a valid boolean"),
    ({"training.stream": 1}, "training.stream: Input should be a valid boolean"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_bad_scenario_exits_2_naming_the_field(tmp_path, changes, expected, command):
    path = scenarios.write(tmp_path, changes)
    res = invoke(command, path)
    assert res.exit_code == 2, res.output
    assert expected in res.output
    assert str(path) in res.output
    assert not (tmp_path / "runs").exists()
    assert "Traceback" not in res.output


def test_missing_file(tmp_path):
    res = invoke("run", tmp_path / "absent.yaml")
    assert res.exit_code == 2
    assert "absent.yaml: cannot read scenario file" in res.output


def test_not_yaml(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: [unclosed\n")
    res = invoke("validate", p)
    assert res.exit_code == 2 and "broken.yaml: not valid YAML" in res.output


def test_duplicate_yaml_key_is_rejected(tmp_path):
    """The plain YAML loader keeps the last of two equal keys; a scenario refuses them."""
    p = tmp_path / "dup.yaml"
    p.write_text(scenarios.write(tmp_path).read_text() + "seed: 5\n")  # 'seed' is already set
    res = invoke("validate", p)
    assert res.exit_code == 2, res.output
    assert "dup.yaml: not valid YAML (key 'seed' is given twice in one mapping" in res.output
    assert "Traceback" not in res.output


def test_binary_scenario_file(tmp_path):
    p = tmp_path / "model.bin"
    p.write_bytes(bytes(range(256)))
    res = invoke("run", p)
    assert res.exit_code == 2, res.output
    assert "model.bin: not a text (UTF-8) file" in res.output
    assert not (tmp_path / "runs").exists()


def test_valid_scenario_validates(tmp_path):
    res = invoke("validate", scenarios.write(tmp_path))
    assert res.exit_code == 0 and "valid" in res.output


def test_shipped_scenarios_validate():
    from pathlib import Path

    for path in sorted(Path(__file__).parent.parent.glob("scenarios/*.yaml")):
        load_scenario(path)


def test_unreadable_cached_dataset_is_moved_aside_and_regenerated(tmp_path):
    """A cache file that is not HDF5 at all (truncated, overwritten): the run says so, keeps it
    as ``<name>.corrupt-<stamp>``, generates the split again and completes."""
    path = scenarios.write(tmp_path)
    sc = load_scenario(path)
    cfg = sc.datasets["uma_small"]
    seed = derive_seed(sc.seed, "dataset", "uma_small", "train")
    key = cache_key(cfg.generator_config(), "train", cfg.n_train, seed)
    bad = tmp_path / "cache" / f"uma-train-{key}.h5"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(np.random.default_rng(0).bytes(1000))
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert f"{bad}: corrupt or unreadable data set" in res.output
    assert "moved to" in res.output and "generated again" in res.output
    [aside] = bad.parent.glob(f"{bad.name}.corrupt-*")
    assert aside.read_bytes() == np.random.default_rng(0).bytes(1000)
    assert bad.is_file() and len(list((tmp_path / "runs").iterdir())) == 1


def test_foreign_hdf5_is_rejected(tmp_path):
    import h5py
    from linksim.channels.dataset import read_cir

    from linksim.errors import DatasetError

    p = tmp_path / "foreign.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DatasetError, match="foreign.h5: not a linksim channel data set"):
        read_cir(p)


def test_help_everywhere():
    for args in ([], ["run"], ["validate"], ["codecs"]):
        res = invoke(*args, "--help")
        assert res.exit_code == 0 and "Usage:" in res.output


def test_codecs_lists_parameter_counts():
    res = invoke("codecs", "--cr", 4)
    assert res.exit_code == 0
    assert "csinet" in res.output and "1,049,134" in res.output and "1,054,090" in res.output


def test_pilot_length_below_nt_is_rejected(tmp_path):
    res = invoke("validate", scenarios.write(tmp_path, {"estimation.pilot_length": 8}))
    assert res.exit_code == 2 and "estimation.pilot_length: Tp=8 must be >= Nt=16" in res.output


@pytest.mark.parametrize("case", ["file", "too_long", "under_a_file"])
def test_bad_output_location_exits_2_before_work(tmp_path, case):
    """A run directory that cannot be made is bad input: exit 2 with the path, nothing left."""
    changes = {}
    if case == "file":
        target = tmp_path / "runs_file"
        target.write_text("not a directory")
        changes["output_dir"] = str(target)
    elif case == "under_a_file":
        (tmp_path / "afile").write_text("x")
        changes["output_dir"] = str(tmp_path / "afile" / "runs")
    else:
        changes["name"] = "n" * 300  # the run directory's name exceeds the file system's limit
    path = scenarios.write(tmp_path, changes)
    before = sorted(p.name for p in tmp_path.iterdir())
    res = invoke("run", path, "--no-progress")
    assert res.exit_code == 2, res.output
    assert "output_dir:" in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created
    assert not (tmp_path / "cache").exists()  # no work started


def test_runs_started_in_the_same_second_get_distinct_directories(tmp_path):
    from linksim.pipeline import reserve_run_dir

    reserved = [reserve_run_dir(tmp_path / "runs", "same") for _ in range(3)]
    tmps = {t for t, _, _ in reserved}
    finals = {f for _, f, _ in reserved}
    assert all(lock.is_locked for _, _, lock in reserved)
    assert len(tmps) == 3 and len(finals) == 3
    assert all(t.is_dir() and t.name.startswith(".same-") for t in tmps)


def test_data_sets_larger_than_memory_are_refused_up_front(tmp_path):
    """``n_train: 10**12`` validates as a number, but ``run`` refuses it before allocating
    anything (issue 17, class 3), naming the field and the memory it would need."""
    path = scenarios.write(tmp_path, {"datasets.uma_small.n_train": 10**12})
    res = invoke("run", path, "--no-progress")
    assert res.exit_code == 2, res.output
    assert "datasets.uma_small.n_train: the run's data sets need about" in res.output
    assert "PB of memory" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


def test_resource_estimates():
    """The estimates scale with the split sizes; streamed splits cost no memory; a full disk is
    refused with the cache named."""
    from pathlib import Path

    from linksim.errors import LinksimInputError
    from linksim.resources import check_resources, split_disk_bytes, split_memory_bytes

    sc = load_scenario(Path(__file__).parent.parent / "scenarios" / "cost2100_indoor.yaml")
    cfg = sc.datasets["indoor"]
    assert split_disk_bytes(cfg, 10_000) == 10_000 * (32 * 32 * 8 + 4)  # the cached h5 files
    assert split_memory_bytes(cfg, 10_000, 32, on_disk=True) == 0
    assert split_memory_bytes(cfg, 20_000, 32, False) == 2 * split_memory_bytes(cfg, 10_000, 32,
                                                                                False)
    splits = [("indoor", "train", cfg, 10_000, False, False)]
    est = check_resources(splits, 32, Path("/nonexistent"), memory=10**12, free=10**12)
    assert est["disk_bytes"] == split_disk_bytes(cfg, 10_000)
    with pytest.raises(LinksimInputError, match=r"datasets.indoor.n_train: generating the data "
                                                r"sets needs about 82 MB in the cache"):
        check_resources(splits, 32, Path("/nonexistent"), memory=10**12, free=10**6)
    cached = [("indoor", "train", cfg, 10_000, False, True)]
    assert check_resources(cached, 32, Path("/x"), memory=10**12, free=10**6)["disk_bytes"] == 0


def test_each_family_counts_its_cached_bytes():
    """The size guard asks the family: UMa (UMi) keeps 24 (23) paths' gains per antenna pair and delays, COST2100
    its kept rows and their energy, a read family nothing."""
    from types import SimpleNamespace

    from linksim.resources import split_disk_bytes

    uma = SimpleNamespace(family="uma", num_bs_antennas=16, scenario="uma", num_ue_antennas=1)
    umi = SimpleNamespace(family="uma", num_bs_antennas=32, scenario="umi", num_ue_antennas=4)
    cost = SimpleNamespace(family="cost2100", num_bs_antennas=32, num_delay_rows=32)
    mat = SimpleNamespace(family="csinet_mat", num_bs_antennas=32, num_delay_rows=32)
    assert split_disk_bytes(uma, 10) == 10 * 24 * (16 * 8 + 4)
    assert split_disk_bytes(umi, 10) == 10 * 23 * (4 * 32 * 8 + 4)  # UMi: 23 paths, Nr = 4
    assert split_disk_bytes(cost, 10) == 10 * (32 * 32 * 8 + 4)
    assert split_disk_bytes(mat, 10) == 0
