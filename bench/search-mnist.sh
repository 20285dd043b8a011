#!/usr/bin/env bash
# A TPE study with median pruning against the grid of the same ranges, on a subset of MNIST (tests/make_mnist_subset.py:
# the first TRAIN training and TEST test images): learning rate, batch size, schedule and augmentation size, the compact
# CNN, EPOCHS epochs, one libtorch thread (two cores shared by other work slow down more than one). Prints both studies' tables, then the epochs each trained and the best test accuracy each reached.
# A quality comparison: run it on a loaded machine if need be, the times it prints are not the point.
# Usage: bench/search-mnist.sh [--train=5000] [--test=1000] [--epochs=4] [--trials=16]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
train=5000 test=1000 epochs=4 trials=16
for arg in "$@"; do
  case $arg in
    --train=*) train=${arg#*=} ;;
    --test=*) test=${arg#*=} ;;
    --epochs=*) epochs=${arg#*=} ;;
    --trials=*) trials=${arg#*=} ;;
    *) echo "bench/search-mnist.sh: unknown argument '$arg' (--train=N, --test=N, --epochs=N, --trials=N)" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 tests/make_mnist_subset.py ../shared/datasets/mnist "$work/mnist" --train "$train" --test "$test"
common=(--mirror="$work/mnist" --set download.dataset="$work/mnist/mnist-subset.json" --set verify.validation=1000
  --set transfer.enabled=false --set train.model=compact --set train.epochs="$epochs" --set train.threads=1)

# The grid: two values of each, 16 runs, every one trained to the end.
./build.sh --artifacts="$work/grid" "${common[@]}" --sweep train.learning_rate=0.0003,0.003 --sweep train.batch_size=32,128 \
  --sweep train.learning_rate_schedule=exponential,one_cycle --sweep augment.samples=500,4000 --report="$work/grid.json" >"$work/grid.log"
./build.sh --artifacts="$work/grid" --target=Experiments --format=json >"$work/grid-experiments.json"
# The study: the same ranges, TPE, pruned by the median of the earlier trials.
./build.sh --artifacts="$work/study" "${common[@]}" --search=tpe --trials="$trials" --study=mnist --prune=median \
  --space train.learning_rate='log(0.0003,0.003)' --space train.batch_size='choice(32,64,128)' \
  --space train.learning_rate_schedule='choice(exponential,one_cycle)' --space augment.samples='int(500,4000)' >"$work/study.log"
./build.sh --artifacts="$work/study" --target=Experiments --study=mnist --format=md >"$work/study.md"
./build.sh --artifacts="$work/study" --target=Experiments --study=mnist --format=json >"$work/study.json"

/usr/bin/python3 - "$work" "$epochs" <<'PY'
import json, sys
work, epochs = sys.argv[1], int(sys.argv[2])
grid = json.load(open(f"{work}/grid.json"))["points"]
experiments = {e["id"]: e for e in json.load(open(f"{work}/grid-experiments.json"))}
print("| grid point | accuracy |\n|---|---|")
accuracies = []
for point in grid:
    accuracy = experiments[point["experiment"]]["metrics"]["accuracy"]
    accuracies.append(accuracy)
    print(f"| {' '.join(point['point'])} | {accuracy:.4f} |")
print()
print(open(f"{work}/study.md").read())
study = json.load(open(f"{work}/study.json"))
complete = [t for t in study["trials"] if t["state"] == "complete"]
study_epochs = sum(t["epochs"] for t in study["trials"])
grid_epochs = len(grid) * epochs
best_grid, best_study = max(accuracies), max(t["values"]["accuracy"] for t in complete)
print(f"\n| | runs | epochs trained | best test accuracy |\n|---|---|---|---|")
print(f"| grid | {len(grid)} | {grid_epochs} | {best_grid:.4f} |")
print(f"| TPE + median pruning | {len(study['trials'])} ({sum(t['state'] == 'pruned' for t in study['trials'])} pruned) | {study_epochs} | {best_study:.4f} |")
print(f"\nepochs saved: {1 - study_epochs / grid_epochs:.0%}; best accuracy {'reached' if best_study >= best_grid else 'not reached'} ({best_study:.4f} vs {best_grid:.4f})")
PY
