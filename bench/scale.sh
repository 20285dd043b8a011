#!/usr/bin/env bash
# Memory and time as the data grows: a folder dataset of tinted colour Fashion-MNIST images (tests/make_folder_dataset.py)
# read at image_size SIZE, at N, 2N and 4N images, through Verify → Augment → Train (one epoch, MODEL) → Evaluate, each
# stage alone in its own process (--exclusive) under /usr/bin/time -v. Prints per stage: wall time, images/s, peak RSS.
#
#   bench/scale.sh                       N=2500 SIZE=128 MODEL=pooled BATCH=64 SAMPLES=1000 EPOCH_IMAGES=0
#   N=2500 SIZE=580 BATCH=4 EPOCH_IMAGES=500 bench/scale.sh    the 10 GB point (4N = 10,000 images of 3×580×580)
#
# EPOCH_IMAGES caps Train's epoch (train.epoch_images; 0 = the whole split): memory does not depend on it, and a
# whole epoch over 10 GB takes hours on 2 cores. Train's images/s counts the images it trained on.
#
# The source has 1,000 images per class (the IDX test split): N is at most 2,500 (4N = 10,000 files).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${N:-2500}; size=${SIZE:-128}; model=${MODEL:-pooled}; batch=${BATCH:-64}; samples=${SAMPLES:-1000}; epoch_images=${EPOCH_IMAGES:-0}
work=${WORK:-/tmp/pipeline-scale}
fashion=${FASHION:-../shared/datasets/fashion-mnist}
py=/usr/bin/python3
mkdir -p "$work"
printf '%-7s %-9s %9s %8s %10s %10s\n' images stage seconds images/s peak_MB decoded_GB
for k in 1 2 4; do
  images=$((k * n)); data="$work/data-$images"; art="$work/artifacts-$images"
  if [[ ! -d $data ]]; then
    $py tests/make_folder_dataset.py "$data" --per-class $((images / 10)) --formats jpg > /dev/null
  fi
  cat > "$work/scale-$images.json" <<JSON
{ "name": "scale$images", "kind": "folder", "path": "$data", "channels": 3, "image_size": $size }
JSON
  common=(--artifacts="$art" --mirror="$fashion" --set "download.dataset=$work/scale-$images.json" --set train.epochs=1
          --set train.model=$model --set train.batch_size=$batch --set train.epoch_images=$epoch_images --set augment.samples=$samples --set evaluate.min_accuracy=0 --set transfer.enabled=false)
  for stage in Download Verify Augment Train Evaluate; do
    log="$work/$stage-$images.log"
    /usr/bin/time -v ./build.sh --target=$stage --exclusive "${common[@]}" > "$log" 2>&1 || { echo "$stage failed: $log" >&2; tail -5 "$log" >&2; exit 1; }
    if [[ $stage == Download ]]; then
      # The heap the host ran on (build.sh preloads tcmalloc when installed; PIPELINE_MALLOC=glibc opts out).
      [[ $k == 1 ]] && echo "# host heap: $($py -c 'import json, sys; print(json.load(open(sys.argv[1]))["tools"].get("malloc"))' "$art/download/stage.json")"
      continue
    fi
    secs=$(grep 'Elapsed (wall' "$log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(grep 'Maximum resident' "$log" | awk '{print int($NF/1024)}')
    count=$images; [[ $stage == Augment ]] && count=$samples
    [[ $stage == Train && $epoch_images -gt 0 && $epoch_images -lt $images ]] && count=$epoch_images
    gb=$(awk -v i="$images" -v s="$size" 'BEGIN { printf "%.2f", i * 3 * s * s / 1e9 }')
    printf '%-7s %-9s %9.1f %8.0f %10s %10s\n' "$images" "$stage" "$secs" "$(awk -v c=$count -v t=$secs 'BEGIN{print c/(t>0?t:1)}')" "$rss" "$gb"
  done
done
