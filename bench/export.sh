#!/usr/bin/env bash
# Benchmark of the Export stage: writes all 70,000 PNG files from scratch three times and prints files/s for each
# (the writing alone, and the whole stage with manifest, contact sheets and output hashing).
# Usage: bench/export.sh [--mirror=../shared/datasets/mnist]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./build.sh --target=Verify "${@:---mirror=../shared/datasets/mnist}" --verbosity=minimal >/dev/null
# Old outputs are moved aside, not deleted, between runs: deleting 70,000 files keeps the disk busy (discards)
# and would slow the next measurement down.
trash=artifacts/.bench-trash
mkdir -p "$trash"
for run in 1 2 3; do
  [[ -d artifacts/export ]] && mv artifacts/export "$trash/export-$run-$$"
  sync
  start=$(date +%s%N)
  ./build.sh --target=Export --exclusive --verbosity=minimal >/dev/null
  stage_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  python3 - "$run" "$stage_ms" <<'PY'
import json, sys
record = json.load(open("artifacts/export/stage.json"))
m = record["metrics"]
print(json.dumps({"run": int(sys.argv[1]), "files": m["files"], "write_files_per_second": m["files_per_second"],
                  "stage_seconds": int(sys.argv[2]) / 1000, "stage_files_per_second": round(m["files"] / (int(sys.argv[2]) / 1000))}))
PY
done
rm -rf "$trash"
