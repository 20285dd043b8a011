#!/usr/bin/env bash
# Runs the tests: ./test.sh [dotnet test options], e.g. ./test.sh --filter Category=Unit (see tests/README.md).
# Everything the suite needs outside NuGet is set up here, and only here: Debian's python3-pil and python3-onnx (the
# checks against PIL and onnx.checker), nginx (the shared-cache tests), five font packages (digits rendered for
# Predict's framing check), chromium and npm (the report's browser tests: Playwright drives /usr/bin/chromium; the
# Report task runs npm ci on build/report/package-lock.json), libtcmalloc-minimal4 (the heap build.sh runs the host
# on) and a single-node Slurm cluster (the Cluster tests). As root it installs what is missing and starts the cluster
# (stopped again at the end); as another user it stops at once naming what is missing and the command that installs it
# (exit 2). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

say() { echo "test.sh: $*"; }
stop() { echo "test.sh: $*" >&2; exit 2; }

command -v dotnet >/dev/null || stop "dotnet (the .NET 10 SDK) is not on PATH"
for mirror in ../shared/datasets/mnist ../shared/datasets/fashion-mnist ../shared/models; do
  [[ -d $mirror ]] || stop "the offline mirror $mirror is missing: the tests read the datasets and models beside the repository"
done

# The unit tests need none of the system packages: the fast loop checks nothing and installs nothing.
unit_only=false
for ((i = 1; i <= $#; i++)); do
  arg=${!i}
  if [[ $arg == --filter ]]; then next=$((i + 1)); arg="--filter=${!next:-}"; fi
  [[ $arg == --filter=Category=Unit ]] && unit_only=true
done

if $unit_only; then
  say "unit tests only: no system package or cluster is needed, none is checked"
else
  missing=()
  /usr/bin/python3 -c "import PIL" 2>/dev/null || missing+=(python3-pil)
  /usr/bin/python3 -c "import onnx" 2>/dev/null || missing+=(python3-onnx)
  [[ -x "$(command -v nginx || echo /usr/sbin/nginx)" ]] || missing+=(nginx)
  command -v slurmctld >/dev/null || missing+=(slurm-wlm)
  command -v munged >/dev/null || missing+=(munge)
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  command -v npm >/dev/null || missing+=(npm)
  # The heap build.sh runs the host on (docs/scaling.md): CI's large-data check holds Train's memory to it.
  [[ -f /usr/lib/$(uname -m)-linux-gnu/libtcmalloc_minimal.so.4 ]] || missing+=(libtcmalloc-minimal4)
  # The fonts that tests/make_font_digits.py renders digits from, for Predict's framing check.
  for font in truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core opentype/comic-neue/ComicNeue-Regular.otf:fonts-comic-neue \
      opentype/dancingscript/DancingScript-Regular.otf:fonts-dancingscript \
      opentype/kaushanscript/KaushanScript-Regular.otf:fonts-kaushanscript truetype/humor-sans/Humor-Sans.ttf:fonts-humor-sans; do
    [[ -f /usr/share/fonts/${font%%:*} ]] || missing+=("${font##*:}")
  done
  if [[ $(id -u) -ne 0 ]]; then
    if ((${#missing[@]})); then
      stop "missing Debian packages: ${missing[*]}
install them with:  sudo apt-get install -y ${missing[*]}
(or run sudo ./test.sh once: it installs them, keeps Debian's nginx from starting, and starts the Slurm cluster)"
    fi
    build/slurm/local-cluster.sh status >/dev/null 2>&1 \
      || stop "the Slurm cluster is not up: start it with  sudo build/slurm/local-cluster.sh start"
    say "python3-pil, python3-onnx, nginx, slurm-wlm, munge, chromium, npm, libtcmalloc-minimal4 and the fonts are installed; the Slurm cluster is up"
  else
    if ((${#missing[@]})); then
      say "installing ${missing[*]} (Debian packages; nginx through build/cache/nginx.sh install, which keeps Debian's server from starting)"
      apt-get update -qq || stop "apt-get update failed"
      others=()
      for package in "${missing[@]}"; do [[ $package == nginx ]] || others+=("$package"); done
      if ((${#others[@]})); then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${others[@]}" >/dev/null || stop "apt-get install ${others[*]} failed"
      fi
      build/cache/nginx.sh install || stop "build/cache/nginx.sh install failed"
    else
      say "python3-pil, python3-onnx, nginx, slurm-wlm, munge, chromium, npm, libtcmalloc-minimal4 and the fonts are installed"
    fi
    if build/slurm/local-cluster.sh status >/dev/null 2>&1; then
      say "the Slurm cluster is up"
    else
      say "starting the single-node Slurm cluster (build/slurm/local-cluster.sh start; stopped again at the end)"
      build/slurm/local-cluster.sh start || stop "the Slurm cluster did not start"
      trap 'say "stopping the Slurm cluster it started"; build/slurm/local-cluster.sh stop >/dev/null' EXIT
    fi
  fi
fi

say "dotnet test Pipeline.sln $*"
log=$(mktemp)
dotnet test Pipeline.sln "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# One summary line per test assembly: "Passed!  - Failed:     0, Passed:    33, Skipped:     0, Total: ...".
sum() { grep -E '^(Passed|Failed)! +- ' "$log" | grep -Eo "$1: +[0-9]+" | awk '{s += $2} END {print s + 0}'; }
passed=$(sum Passed) failed=$(sum Failed) skipped=$(sum Skipped)
rm -f "$log"
echo
line="$passed passed, $failed failed"
((skipped)) && line+=", $skipped skipped"
echo "$line"
if ((status != 0 || failed != 0)); then exit 1; fi
if ((passed == 0)); then say "no test ran" >&2; exit 1; fi
exit 0
