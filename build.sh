#!/usr/bin/env bash
# Runs the pipeline's Cake host: ./build.sh [--target=Task] [options]  (./build.sh --help lists them).
# Like Cake.Frosting's `dotnet run --project build/Build.csproj -- "$@"`, but the host is rebuilt only when a
# source or build file is newer than the last build, so an up-to-date rerun starts in a fraction of a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
host="$root/build/bin/Release/Build.dll"
stamp="$root/build/obj/.host-built"

# build/report/ (the report page's script and its node_modules) is read when a report is written, not built.
stale() {
  [[ ! -f "$host" || ! -f "$stamp" ]] && return 0
  [[ -n "$(find "$root/build" "$root/src" "$root/tools" "$root"/Directory.* "$root/global.json" \
      \( -path '*/bin' -o -path '*/obj' -o -path "$root/build/report" \) -prune -o -newer "$stamp" -type f -print -quit)" ]]
}

if stale; then
  echo "Building the pipeline host (build/Build.csproj)..." >&2
  if ! log=$(dotnet build "$root/build/Build.csproj" -c Release --nologo -v quiet 2>&1); then
    echo "$log" >&2
    exit 1
  fi
  touch "$stamp"
fi

# libtorch's large aligned buffers fragment glibc's heap (Train at 580×580 held 1.4–2.0 GB for 0.4 GB live): the host
# runs on tcmalloc when it is installed (Debian: libtcmalloc-minimal4), 0.75 GB there and no slower; docs/scaling.md.
case "${PIPELINE_MALLOC:-tcmalloc}" in
  tcmalloc)
    lib="/usr/lib/$(uname -m)-linux-gnu/libtcmalloc_minimal.so.4"
    [[ -f "$lib" ]] || lib="/usr/lib64/libtcmalloc_minimal.so.4"
    if [[ -f "$lib" && "${LD_PRELOAD:-}" != *libtcmalloc* ]]; then
      export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
    elif [[ ! -f "$lib" && -n "${PIPELINE_MALLOC:-}" ]]; then
      echo "PIPELINE_MALLOC=tcmalloc: libtcmalloc_minimal.so.4 is not installed (Debian: apt-get install libtcmalloc-minimal4)" >&2
      exit 2
    fi ;;
  glibc) ;;
  *) echo "PIPELINE_MALLOC must be tcmalloc or glibc, not '$PIPELINE_MALLOC'" >&2; exit 2 ;;
esac
exec dotnet "$host" "$@"
