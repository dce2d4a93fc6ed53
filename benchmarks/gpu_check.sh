#!/usr/bin/env bash
# The GPU checks of scale-out (docs/devices.md, "Checking a GPU"), as one short script:
#   1. training samples/s of every codec on CUDA (bench_training.py, the tuned PyTorch twin and
#      linksim's engine; target: CsiNet CR4 >= 100,000 samples/s on an H200-class GPU);
#   2. UMa NLOS generation on CUDA at Nc 1024, Nt 32 (bench_channels.py; target >= 20,000
#      drops/s end to end);
#   3. a few epochs of the paper-budget recipe for CsiNet CR4 on COST2100 indoor through
#      `linksim run` (scenarios/paper_budget.yaml cut to one codec, 3 epochs, 20,000 samples),
#      from which the time per paper budget (1,000 epochs of 100,000) follows.
# Run from the repository root on a machine where PyTorch sees a GPU and linksim's
# dependencies import (docs/devices.md says how); logs go to ${OUT:-gpu_check}/.
#   bash benchmarks/gpu_check.sh        # about 6-8 minutes on one H200
set -uo pipefail
out=${OUT:-gpu_check}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
$py - <<'PY' 2>&1 | tee "$out/env.txt" || exit 1
import torch
assert torch.cuda.is_available(), "PyTorch sees no CUDA GPU"
print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))
PY
$py benchmarks/bench_training.py --codec all --device cuda --n 20000 --repeats 3 \
    --engines torch_tuned keras 2>&1 | tee "$out/training.txt"
$py benchmarks/bench_channels.py --device cuda --n 20000 --batch-size 2000 --snapshots 1 \
    2>&1 | tee "$out/channels.txt"
probe="$out/paper_budget_probe.yaml"
$py - "$probe" "$out" <<'PY'
import sys, yaml
sc = yaml.safe_load(open("scenarios/paper_budget.yaml"))
sc["name"], sc["output_dir"] = "paper_budget_probe", sys.argv[2] + "/runs"
sc["datasets"] = {"indoor": {**sc["datasets"]["indoor"], "n_train": 20000, "n_val": 2000,
                             "n_test": 2000}}
sc["codecs"] = [{"name": "csinet", "compression_ratios": [4]}]
sc["baselines"] = []
sc["training"].update(train_sets=["indoor"], epochs=3, warmup_epochs=1, device="cuda")
sc["evaluation"]["test_sets"] = ["indoor"]
yaml.safe_dump(sc, open(sys.argv[1], "w"))
PY
LINKSIM_CACHE=${LINKSIM_CACHE:-/tmp/linksim_gpu_cache} timeout 300 \
    $py -m linksim.cli run "$probe" --retrain 2>&1 | tee "$out/paper_budget_probe.txt"
