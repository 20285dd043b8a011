#!/usr/bin/env bash
# nginx serving a shared run cache from build/cache/nginx.conf on a loopback port:
#   build/cache/nginx.sh start FOLDER PORT   entries in FOLDER/cache; prints the --cache-url
#   build/cache/nginx.sh stop FOLDER
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command=${1:-} folder=${2:-}
if [[ -z "$folder" ]]; then
  echo "usage: $0 start FOLDER PORT | stop FOLDER" >&2
  exit 2
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [[ ! -x "$nginx" ]]; then
  echo "$0: nginx is not installed (Debian: apt-get install -y nginx)" >&2
  exit 1
fi
folder=$(mkdir -p "$folder" && cd "$folder" && pwd)
case $command in
  start)
    port=${3:?"usage: $0 start FOLDER PORT"}
    mkdir -p "$folder/cache" "$folder/logs"
    # The repository's configuration on this port.
    sed "s/listen 127\.0\.0\.1:8089;/listen 127.0.0.1:$port;/" "$here/nginx.conf" >"$folder/nginx.conf"
    "$nginx" -p "$folder" -c "$folder/nginx.conf" -e stderr
    echo "http://127.0.0.1:$port/"
    ;;
  stop)
    [[ -f "$folder/nginx.pid" ]] || exit 0
    "$nginx" -p "$folder" -c "$folder/nginx.conf" -e stderr -s quit 2>/dev/null
    # nginx removes its pid file as it exits: then the port is free again.
    for _ in $(seq 100); do [[ -f "$folder/nginx.pid" ]] || exit 0; sleep 0.05; done
    echo "$0: nginx in $folder did not stop within 5 s" >&2
    exit 1
    ;;
  *)
    echo "usage: $0 start FOLDER PORT | stop FOLDER" >&2
    exit 2
    ;;
esac
