"""Tiny scenarios for the tests (written to tmp_path by the tests)."""

import copy

import yaml

TINY = {
    "name": "tiny",
    "seed": 3,
    "output_dir": "runs",
    "cache_dir": "cache",
    "datasets": {"uma_small": {
        "family": "uma", "carrier_frequency_hz": 28e9, "num_subcarriers": 128,
        "subcarrier_spacing_hz": 120e3, "num_bs_antennas": 16,
        "n_train": 300, "n_val": 60, "n_test": 100}},
    "preprocessing": {"num_delay_rows": 16},  # the defaults: unit norm, standardised, linear
    "estimation": {"pilot_snr_db": [0, 20, 40]},
    "codecs": [{"name": "csinet", "compression_ratios": [4]}],
    "feedback": [{"kind": "ideal"}, {"kind": "uniform", "bits": 4}],
    "training": {"train_sets": ["uma_small"], "epochs": 1, "batch_size": 50,
                 "learning_rate": 3e-3},
    "evaluation": {"test_sets": ["uma_small"], "batch_size": 50},
}


def write(tmp_path, changes=None, name="scenario.yaml"):
    """Write TINY (deep-copied, with ``changes`` applied by dotted key) and return its path."""
    data = copy.deepcopy(TINY)
    data["output_dir"] = str(tmp_path / "runs")
    data["cache_dir"] = str(tmp_path / "cache")
    for key, value in (changes or {}).items():
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is DELETE:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


DELETE = object()
