#!/usr/bin/env bash
# A throwaway registry on 127.0.0.1 for the pull test (Debian's
# docker-registry; the engine trusts 127.0.0.0/8 without TLS).
#   local-registry.sh start DIR   -> prints the port, runs until stop
#   local-registry.sh push DIR SRC_IMAGE NAME -> pushes SRC_IMAGE as 127.0.0.1:PORT/NAME
#   local-registry.sh stop DIR
set -euo pipefail
cmd=$1 dir=$2
case $cmd in
  start)
    command -v docker-registry >/dev/null || { echo "docker-registry is not installed" >&2; exit 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$dir/data"
    cat >"$dir/config.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $dir/data}}
http: {addr: 127.0.0.1:$port}
YAML
    setsid docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
    echo "$port" >"$dir/port"
    for _ in $(seq 1 100); do
      curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && { echo "$port"; exit 0; }
      sleep 0.1
    done
    cat "$dir/log" >&2
    exit 1
    ;;
  push)
    port=$(cat "$dir/port")
    docker tag "$3" "127.0.0.1:$port/$4" >/dev/null
    docker push "127.0.0.1:$port/$4" >/dev/null
    docker rmi "127.0.0.1:$port/$4" >/dev/null
    ;;
  stop)
    [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
    rm -rf "$dir"
    ;;
esac
