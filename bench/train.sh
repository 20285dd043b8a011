#!/usr/bin/env bash
# Benchmark of training: runs Train and Evaluate from scratch in a scratch artifacts folder, once with MKL's Intel
# code path forced and once without, and prints one JSON line per run: images/s, GFLOP/s (reference model:
# 17.8 MFLOP per training image), seconds per epoch, peak RSS, test accuracy.
# Usage: bench/train.sh [--set train.epochs=2 ...]   (other --set options pass through, e.g. train.model=compact)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mirror=../shared/datasets/mnist
for mkl in true false; do
  scratch=artifacts/.bench-train-$mkl
  rm -rf "$scratch"
  mkdir -p artifacts
  if ! ./build.sh --target=Evaluate --artifacts="$scratch" --mirror="$mirror" --verbosity=minimal \
      --set transfer.enabled=false --set train.mkl_intel_path=$mkl "$@" >"$scratch.log" 2>&1; then
    cat "$scratch.log" >&2
    exit 1
  fi
  python3 - "$scratch" <<'PY'
import json, sys
folder = sys.argv[1]
train = json.load(open(f"{folder}/train/stage.json"))
evaluate = json.load(open(f"{folder}/evaluate/stage.json"))
m = train["metrics"]
p = {key.removeprefix("train."): value for key, value in train["parameters"].items()}
flops = 17.8e6 if p["model"] == "reference" else None
print(json.dumps({"model": p["model"], "epochs": p["epochs"], "batch_size": p["batch_size"], "threads": train["tools"]["torch_threads"],
                  "mkl_cpu_path": train["tools"]["mkl_cpu_path"], "images_per_second": m["images_per_second"],
                  "gflops_per_second": round(m["images_per_second"] * flops / 1e9, 1) if flops else None,
                  "seconds_per_epoch": m["seconds_per_epoch"], "train_seconds": round(m["seconds_per_epoch"] * m["epochs_trained"], 1),
                  "peak_rss_mb": m["peak_rss_mb"], "test_accuracy": round(evaluate["metrics"]["accuracy"], 4),
                  "test_binary_accuracy": round(evaluate["metrics"]["binary_accuracy"], 4)}))
PY
  rm -rf "$scratch" "$scratch.log"
done
