#!/usr/bin/env bash
# The no-op rerun and the warm-clone restore, each as a whole process (./build.sh with the host already built):
#   1. a cold run computes the stages up to TARGET into a scratch artifacts folder and sends them to an nginx shared
#      cache (build/cache/nginx.conf on a free loopback port);
#   2. no-op: the same command again, RUNS times, every stage up to date;
#   3. warm clone: RUNS times, an empty artifacts folder (and so an empty run cache) restores every stage from nginx.
# Prints one JSON object: each run's seconds, the medians, and nginx's requests for one restore.
#
#   bench/cache.sh                                   TARGET=Export RUNS=3, all 70,000 exported files
#   bench/cache.sh --set export.limit=20             a small case (seconds instead of minutes for the cold run)
#
# Options after the script's name go to every ./build.sh; KEEP_WORK=1 keeps the runs' logs and reports (the scratch
# folder is named on stderr). Figures are only worth reading on a quiet machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target=${TARGET:-Export}; runs=${RUNS:-3}
mirror=$(cd ../shared/datasets/mnist 2>/dev/null && pwd) || { echo "bench/cache.sh: the offline mirror ../shared/datasets/mnist is missing" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-cache-bench.XXXXXX")
nginx_folder=""
cleanup() {
  [[ -n $nginx_folder ]] && build/cache/nginx.sh stop "$nginx_folder" >/dev/null 2>&1
  if [[ -n ${KEEP_WORK:-} ]]; then echo "bench/cache.sh: the runs' logs and reports are in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

./build.sh --help >/dev/null # builds the host: not part of any figure
url=""
for _ in 1 2 3 4 5; do # another process may take the free port first
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if url=$(build/cache/nginx.sh start "$work/nginx" "$port" 2>/dev/null); then nginx_folder="$work/nginx"; break; fi
  url=""
done
[[ -n $url ]] || { echo "bench/cache.sh: nginx did not start from build/cache/nginx.conf (install it: build/cache/nginx.sh install)" >&2; exit 1; }

# run NAME ARTIFACTS: one ./build.sh, its report in $work/NAME.json; prints its wall seconds.
run() {
  local start=$(date +%s%N)
  ./build.sh --target="$target" --artifacts="$2" --mirror="$mirror" --cache-url="$url" --report="$work/$1.json" \
    "${@:3}" >"$work/$1.log" 2>&1 || { echo "bench/cache.sh: the $1 run failed (see below)" >&2; tail -20 "$work/$1.log" >&2; exit 1; }
  echo "$(( ($(date +%s%N) - start) / 1000000 ))"
}
# expect NAME RESULT: every task of the run's report has RESULT (up-to-date, restored-shared).
expect() {
  /usr/bin/python3 - "$work/$1.json" "$2" <<'PY' || { echo "bench/cache.sh: the $1 run did not find every stage $2" >&2; exit 1; }
import json, sys
tasks = json.load(open(sys.argv[1]))["tasks"]
others = [f'{t["task"]}: {t["result"]}' for t in tasks if t["result"] != sys.argv[2]]
if others: sys.exit(", ".join(others))
PY
}

run cold "$work/first" "$@" >/dev/null
noop=(); restore=(); requests=0
for i in $(seq "$runs"); do
  noop+=("$(run "noop-$i" "$work/first" "$@")")
  expect "noop-$i" up-to-date
done
for i in $(seq "$runs"); do
  rm -rf "$work/clone"
  before=$(wc -l <"$work/nginx/logs/access.log")
  restore+=("$(run "restore-$i" "$work/clone" "$@")")
  expect "restore-$i" restored-shared
  requests=$(( $(wc -l <"$work/nginx/logs/access.log") - before ))
done
files=$(find "$work/clone" -path "$work/clone/.*" -prune -o -type f -print | wc -l)
/usr/bin/python3 - "$target" "$files" "$requests" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "${noop[*]}" "${restore[*]}" <<'PY'
import json, statistics, sys
target, files, requests, cores, load = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
noop = [int(ms) / 1000 for ms in sys.argv[6].split()]
restore = [int(ms) / 1000 for ms in sys.argv[7].split()]
print(json.dumps({
    "target": target, "files": files, "cores": cores, "load_average": load,
    "noop_seconds": noop, "noop_median_seconds": statistics.median(noop),
    "restore_seconds": restore, "restore_median_seconds": statistics.median(restore),
    "restore_requests": requests,
}))
PY
