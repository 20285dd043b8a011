#!/usr/bin/env bash
# nginx serving a shared run cache (./build.sh --cache-url) from build/cache/nginx.conf on a loopback port:
#   build/cache/nginx.sh install              Debian's nginx, if missing, without starting Debian's own server
#   build/cache/nginx.sh start FOLDER PORT    entries in FOLDER/cache, logs in FOLDER/logs; prints the --cache-url
#   build/cache/nginx.sh stop FOLDER
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage="usage: $0 install | start FOLDER PORT | stop FOLDER"
nginx=$(command -v nginx || echo /usr/sbin/nginx)

case ${1:-} in
  install)
    [[ -x "$nginx" ]] && exit 0
    # The package would start a server on port 80 for the whole machine: policy-rc.d keeps it from starting.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
      trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq nginx >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; }
    ;;
  start)
    folder=${2:?$usage} port=${3:?$usage}
    mkdir -p "$folder/cache" "$folder/logs"
    folder=$(cd "$folder" && pwd)
    # The repository's configuration on this port.
    sed "s/listen 127\.0\.0\.1:8089;/listen 127.0.0.1:$port;/" "$here/nginx.conf" >"$folder/nginx.conf"
    "$nginx" -p "$folder" -c "$folder/nginx.conf" -e stderr
    echo "http://127.0.0.1:$port/"
    ;;
  stop)
    folder=$(cd "${2:?$usage}" && pwd)
    [[ -f "$folder/nginx.pid" ]] || exit 0
    "$nginx" -p "$folder" -c "$folder/nginx.conf" -e stderr -s quit 2>/dev/null
    # nginx removes its pid file as it exits: then the port is free again.
    for _ in $(seq 100); do [[ -f "$folder/nginx.pid" ]] || exit 0; sleep 0.05; done
    echo "$0: nginx in $folder did not stop within 5 s" >&2
    exit 1
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
