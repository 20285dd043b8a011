#!/usr/bin/env bash
# Benchmark of the Featurize stage: for each input size, featurizes all 70,000 images from scratch (the whole stage,
# timed) and trains a quick linear probe on the features (softmax regression, bench/FeaturizeProbe) for accuracy.
# Prints one JSON line per size. The last size is left in artifacts/featurize: list the default last.
# Usage: bench/featurize.sh [sizes...]   (default: 32 96 64; the models come from PIPELINE_MODELS_MIRROR, default ../shared/models)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIPELINE_MODELS_MIRROR="${PIPELINE_MODELS_MIRROR:-../shared/models}"
sizes=("${@:-32 96 64}")
./build.sh --target=Verify --mirror=../shared/datasets/mnist --verbosity=minimal >/dev/null
dotnet build bench/FeaturizeProbe -c Release --nologo -v quiet >/dev/null
for size in ${sizes[*]}; do
  start=$(date +%s%N)
  ./build.sh --target=Featurize --exclusive --force --set featurize.input_size="$size" --verbosity=minimal >/dev/null
  stage_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  probe=$(dotnet bench/FeaturizeProbe/bin/Release/net10.0/linux-x64/FeaturizeProbe.dll artifacts/featurize 20)
  python3 - "$stage_ms" "$probe" <<'PY'
import json, sys
m = json.load(open("artifacts/featurize/stage.json"))["metrics"]
probe = json.loads(sys.argv[2])
print(json.dumps({"input_size": probe["input_size"], "images": m["images"], "featurize_seconds": m["seconds"],
                  "images_per_second": m["images_per_second"], "stage_seconds": int(sys.argv[1]) / 1000,
                  "probe_test_accuracy": probe["test_accuracy"], "probe_validation_accuracy": probe["validation_accuracy"],
                  "probe_seconds": probe["probe_seconds"]}))
PY
done
