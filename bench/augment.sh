#!/usr/bin/env bash
# Benchmark of the Augment stage: images/s for the reference pipeline (rotate p 0.9, ±25°) producing the training
# arrays, the whole stage with and without PNG files, each operation alone, and a determinism check (the hash of the
# output with 1 thread, 2 threads and again). Best of a few runs; the machine is shared, so figures vary.
# Usage: bench/augment.sh [--mirror=../shared/datasets/mnist]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./build.sh --target=Verify "${@:---mirror=../shared/datasets/mnist}" --verbosity=minimal >/dev/null
dotnet build bench/AugmentBench -c Release --nologo -v quiet >/dev/null
dotnet bench/AugmentBench/bin/Release/net10.0/linux-x64/AugmentBench.dll artifacts/verify artifacts/.bench-augment
