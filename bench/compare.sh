#!/usr/bin/env bash
# Side by side on this host: each peer and the project's stage run alternately (peer, project, peer, project, …)
# after a warm-up, and the table gives each side's median and the median of the pairwise ratios, so that a noisy
# neighbour slows both sides of a pair alike. Also the limit: libtorch's single-precision GEMM on large matrices with
# every thread (bench/TorchProbe), against which Train's GFLOP/s (17.8 MFLOP per training image, reference model) is
# shown as a fraction.
#
#   bench/compare.sh                      3 pairs of each figure
#   PAIRS=5 TRAIN_EPOCHS=4 bench/compare.sh
#   bench/compare.sh train                only some figures (train, export, augment, featurize)
#   bench/compare.sh --table              the table of the last run's measurements again
#   ISA=avx2 bench/compare.sh train       libtorch limited to AVX2/FMA on both sides (ATen, oneDNN, MKL): an
#                                         AVX-512 host running the code paths an AVX2-only host takes (not its speed)
#
# Peers: ../shared/bench/seed_pytorch.py (PyTorch, with the glibc tunables its README documents),
# ../shared/bench/seed_export.py (matplotlib imsave), Augmentor 0.2.12 (import Augmentor, or AUGMENTOR_SRC=a checkout
# of mdbloice/Augmentor at 0.2.12; without it PIL's rotate in a loop stands in, and the table says so).
# bench/featurize-peer/peer.js (onnxruntime-node, ONNX Runtime's own Node.js binding, pinned in its package-lock.json
# and installed by `npm ci`): the featurizer graph the stage runs, on the stage's preprocessed tensors, inference only,
# with the stage's batch size and thread count (FEATURIZE_THREADS, default the core count, set on both sides).
# Debian's python3-torch, python3-matplotlib, python3-pil, python3-tqdm and nodejs/npm are installed when missing (root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

pairs=${PAIRS:-3}
case ${ISA:-} in
  "") ;;
  avx2) export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ;;
  *) echo "bench/compare.sh: ISA must be avx2 or unset, not '$ISA'" >&2; exit 2 ;;
esac
epochs=${TRAIN_EPOCHS:-3}          # steady state: every epoch after the first
export_n=${EXPORT_N:-5000}         # images per split for the project (3 splits), images for the peer
augment_n=${AUGMENT_N:-10000}
featurize_size=${FEATURIZE_SIZE:-64}
featurize_threads=${FEATURIZE_THREADS:-$(nproc)}
featurize_batch=${FEATURIZE_BATCH:-64}
featurize_peer_n=${FEATURIZE_PEER_N:-5000}  # preprocessed images the peer runs (3×size² float32 each)
mnist=${MNIST:-../shared/datasets/mnist}
models=${MODELS:-../shared/models}
peers=${PEERS:-../shared/bench}
figures=${*:-train export augment featurize}
table_only=false
if [[ ${1:-} == --table ]]; then table_only=true; fi
py=/usr/bin/python3
work=artifacts/.bench-compare
results=$work/results.jsonl

for f in "$mnist/train-images-idx3-ubyte.gz" "$models/mobilenetv2-12-int8.onnx" "$peers/seed_pytorch.py" "$peers/seed_export.py"; do
  [[ -f $f ]] || { echo "compare: $f not found (set MNIST, MODELS or PEERS)" >&2; exit 2; }
done

if $table_only; then :; elif ! $py -c "import torch, matplotlib, PIL, tqdm" 2>/dev/null; then
  echo "== installing the peers: python3-torch python3-matplotlib python3-pil python3-tqdm"
  # The archive folder is moved because some images delete /var/cache/apt/archives/*.deb after every dpkg call,
  # which breaks installs large enough to take several.
  mkdir -p /var/tmp/apt-archives/partial
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dir::Cache::Archives=/var/tmp/apt-archives/ \
    python3-torch python3-matplotlib python3-pil python3-tqdm libopenblas0-pthread >/dev/null
fi
if ! $table_only && [[ " $figures " == *" featurize "* ]] && ! command -v npm >/dev/null; then
  echo "== installing the featurize peer's runtime: nodejs npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
augmentor_path=${AUGMENTOR_SRC:-}
if PYTHONPATH=$augmentor_path $py -c "import Augmentor; assert Augmentor.__version__ == '0.2.12'" 2>/dev/null; then
  augment_peer="Augmentor 0.2.12"
else
  augment_peer="PIL rotate loop (Augmentor 0.2.12 not found: set AUGMENTOR_SRC)"
fi

if ! $table_only; then
echo "== building the host and the probe"
./build.sh --tree >/dev/null
dotnet build bench/TorchProbe -c Release -v q -nologo >/dev/null
probe=$(find bench/TorchProbe/bin/Release -name TorchProbe -type f -perm -u+x | head -1)

rm -rf "$work"; mkdir -p "$work"
build() { ./build.sh --artifacts="$work/artifacts" --mirror="$mnist" --mirror="$models" --verbosity=quiet "$@" >"$work/last.log" 2>&1 \
  || { cat "$work/last.log" >&2; echo "compare: ./build.sh $* failed" >&2; exit 1; }; }
metric() { $py -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics'][sys.argv[2]])" "$work/artifacts/$1/stage.json" "$2"; }
record() { echo "{\"figure\": \"$1\", \"side\": \"$2\", \"pair\": $3, \"value\": $4}" >>"$results"; }
echo "== preparing: Download, Verify and Export once (Augmentor's source images are Export's PNG files)"
build --target=Export --set export.limit="$export_n"
mkdir -p "$work/augmentor-source"
find "$work/artifacts/export/train" -name '*.png' | sort | head -n "$export_n" | while read -r f; do ln -s "$PWD/$f" "$work/augmentor-source/"; done

project_train() {
  build --target=Train --exclusive --force --set augment.join_training=false --set train.epochs="$epochs"
  $py -c "import json,sys,statistics as s; e=json.load(open(sys.argv[1]))['metrics']['epochs'][1:]; print(round(s.median(x['images_per_second'] for x in e)))" \
    "$work/artifacts/train/stage.json"
}
peer_train() {
  GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 $py "$peers/seed_pytorch.py" "$mnist" "$epochs" \
    | $py -c "import json,sys,statistics as s; r=json.loads(sys.stdin.read()); print(round(60000/s.median(r['epoch_s'][1:])))"
}
project_export() { build --target=Export --exclusive --force --set export.limit="$export_n"; metric export files_per_second; }
peer_export() { $py "$peers/seed_export.py" "$mnist" "$export_n" "$work/peer-export" | $py -c "import json,sys; print(json.loads(sys.stdin.read())['export_png_per_s'])"; }
project_augment() { build --target=Augment --exclusive --force --set augment.png=true --set augment.samples="$augment_n"; metric augment images_per_second; }
peer_augment() {
  rm -rf "$work/augmentor-source/output"
  { PYTHONPATH=$augmentor_path $py - "$work/augmentor-source" "$augment_n" 2>/dev/null <<'PY'
import os, random, sys, time
folder, n = sys.argv[1], int(sys.argv[2])
try:
    import Augmentor
    p = Augmentor.Pipeline(folder)
    p.rotate(probability=0.9, max_left_rotation=25, max_right_rotation=25)
    t = time.perf_counter(); p.sample(n, multi_threaded=True); s = time.perf_counter() - t
except ImportError:
    # Augmentor's rotate: expand, crop the largest inner rectangle, resize back; written as PNG.
    from PIL import Image
    import math
    files = sorted(os.listdir(folder)); out = os.path.join(folder, "output"); os.makedirs(out, exist_ok=True)
    t = time.perf_counter()
    for i in range(n):
        im = Image.open(os.path.join(folder, random.choice(files)))
        if random.random() < 0.9:
            w, h = im.size; a = random.randint(-25, 25); r = math.radians(abs(a))
            im2 = im.rotate(a, expand=True, resample=Image.BICUBIC)
            cw = w * math.cos(r) - h * math.sin(r) if w > h else w
            im = im2.crop(((im2.size[0] - cw) / 2, (im2.size[1] - cw) / 2, (im2.size[0] + cw) / 2, (im2.size[1] + cw) / 2)).resize((w, h), resample=Image.BICUBIC)
        im.save(os.path.join(out, f"{i}.png"))
    s = time.perf_counter() - t
print(f"\n{round(n / s)}")
PY
  } | tail -n 1  # on a line of its own: Augmentor's messages come first and the last has no newline
}
featurize_set=(--set featurize.input_size="$featurize_size" --set featurize.threads="$featurize_threads" --set featurize.batch_size="$featurize_batch")
project_featurize() {
  build --target=Featurize --exclusive --force "${featurize_set[@]}"
  # The whole stage's rate on stdout; how its time split (reading and preparing tensors, the CNN, writing) to the results.
  $py - "$work/artifacts/featurize/stage.json" "$results" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
with open(sys.argv[2], "a") as out:
    out.write(json.dumps({"figure": "featurize_split", "side": "project", "pair": 0,
                          "value": {k: m[k] for k in ("seconds", "preprocess_seconds", "wait_seconds", "inference_seconds", "write_seconds")}}) + "\n")
print(round(m["images"] / m["seconds"]))
PY
}
prepare_featurize_peer() {
  echo "== preparing the featurize peer: npm ci (onnxruntime-node), the featurizer graph and $featurize_peer_n preprocessed images"
  (cd bench/featurize-peer && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  dotnet build bench/FeaturizeProbe -c Release -v q -nologo >/dev/null
  dotnet bench/FeaturizeProbe/bin/Release/net10.0/linux-x64/FeaturizeProbe.dll inputs "$work/artifacts/verify" "$models/mobilenetv2-12-int8.onnx" \
    "$featurize_size" "$featurize_peer_n" "$work/featurize-peer"
}
peer_featurize() {
  node bench/featurize-peer/peer.js "$work/featurize-peer/featurizer.onnx" "$work/featurize-peer/inputs.f32" "$featurize_size" "$featurize_batch" "$featurize_threads" \
    | $py -c "import json,sys; print(json.loads(sys.stdin.read())['images_per_second'])"
}
gemm() { "$probe" gemm | $py -c "import json,sys; print(json.loads(sys.stdin.read())['gflops_per_second'])"; }

for figure in $figures; do
  declare -F "project_$figure" >/dev/null || { echo "compare: unknown figure '$figure' (train, export, augment, featurize)" >&2; exit 2; }
  echo "== $figure: warm-up, then $pairs pairs"
  if [[ $figure == featurize ]]; then prepare_featurize_peer; fi
  project_"$figure" >/dev/null
  declare -F "peer_$figure" >/dev/null && peer_"$figure" >/dev/null
  for pair in $(seq 1 "$pairs"); do
    if declare -F "peer_$figure" >/dev/null; then
      v=$(peer_"$figure"); record "$figure" peer "$pair" "$v"; echo "   pair $pair: peer $v"
    fi
    v=$(project_"$figure"); record "$figure" project "$pair" "$v"; echo "   pair $pair: project $v"
    if [[ $figure == train ]]; then v=$(gemm); record gemm probe "$pair" "$v"; echo "   pair $pair: GEMM probe $v GFLOP/s"; fi
  done
done

fi
cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(awk -F': ' '/^cpu family/ {print $2; exit}' /proc/cpuinfo), model $(awk -F': ' '/^model\t/ {print $2; exit}' /proc/cpuinfo), $(grep -qw avx512f /proc/cpuinfo && echo "AVX-512" || echo "no AVX-512"))${ISA:+, libtorch limited to AVX2 (ISA=avx2)}"
$py - "$results" "$cpu" "$(nproc)" "$augment_peer" "$epochs" "$export_n" "$augment_n" "$featurize_size" "$featurize_threads" "$featurize_batch" <<'PY'
import json, statistics as s, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cpu, cores, augment_peer, epochs, export_n, augment_n, featurize_size, featurize_threads, featurize_batch = sys.argv[2:]
def values(figure, side): return [r["value"] for r in sorted(rows, key=lambda r: r["pair"]) if r["figure"] == figure and r["side"] == side]
peers = {"train": f"PyTorch (seed_pytorch.py, glibc tunables), epochs 2–{epochs}",
         "export": f"matplotlib imsave (seed_export.py), {export_n} images", "augment": f"{augment_peer}, {augment_n} images as PNG",
         "featurize": f"onnxruntime-node (inference only, same graph, tensors, batch {featurize_batch} and {featurize_threads} threads); project: the whole stage at {featurize_size}×{featurize_size}"}
units = {"train": "images/s", "export": "files/s", "augment": "images/s", "featurize": "images/s"}
print(f"\nHost: {cpu}, {cores} cores. Medians over {max(r['pair'] for r in rows)} alternating pairs.\n")
print("| figure | project (median) | peer (median) | ratio (median of pairs) | peer |")
print("|---|---|---|---|---|")
for figure in ["train", "export", "augment", "featurize"]:
    mine, theirs = values(figure, "project"), values(figure, "peer")
    if not mine: continue
    ratio = f"{s.median(a / b for a, b in zip(mine, theirs)):.2f}×" if theirs else ""
    peer = f"{s.median(theirs):,.0f}" if theirs else ""
    print(f"| {figure} ({units[figure]}) | {s.median(mine):,.0f} | {peer} | {ratio} | {peers[figure]} |")
probe = values("gemm", "probe")
if probe and values("train", "project"):
    train = s.median(values("train", "project")) * 17.8e6 / 1e9
    print(f"\nLimit: GEMM probe {s.median(probe):.0f} GFLOP/s (median; libtorch mm 4096², all threads); "
          f"Train {train:.0f} GFLOP/s = {train / s.median(probe):.0%} of it (17.8 MFLOP per training image, reference model).")
splits = values("featurize_split", "project")
if splits:
    share = lambda key: s.median(x[key] / x["seconds"] for x in splits)
    print(f"\nFeaturize's time (median of {len(splits)} runs): the CNN {share('inference_seconds'):.0%}, writing features {share('write_seconds'):.0%}, "
          f"waiting for a prepared batch {share('wait_seconds'):.0%} (reading and preparing tensors, on a worker beside the CNN: {share('preprocess_seconds'):.0%}); "
          f"the CNN alone runs {s.median(x['seconds'] / x['inference_seconds'] for x in splits):.2f}× the stage's rate.")
PY
