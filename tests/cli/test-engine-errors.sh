#!/usr/bin/env bash
# Clear errors, and nothing left half-done: each failing `berth up` says
# what is wrong on stderr (naming the port and its holder, the image, the
# socket, the service and its last probe and log lines, the manifest's
# line), exits non-zero, and the next `up` with the cause fixed works.
#
#   host port conflict: a host process; a container of another project; a
#     running service changed to publish a port that is taken (the running
#     container must be left alone)
#   missing image
#   unreachable engine
#   probe timeout
#   a dependency that exits before it is ready
#   invalid manifest: exit 2 before touching the engine
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test errors

# web publishes $2 and serves HTTP on 8000; redis is there so that a
# half-done stack would show (a container, a volume, a network).
write_manifest() { # $1: web's image, $2: web's host port
  cat >"$MANIFEST" <<EOF
infra:
  cache:
    kind: redis
services:
  web:
    image: $1
    command: ["python3", "-m", "http.server", "8000"]
    ports: ["$2:8000"]
    depends_on:
      cache: {condition: healthy}
    probe:
      http: {path: /, port: 8000}
      interval: 200ms
EOF
}
serves() { curl -sf --max-time 3 -o /dev/null "http://127.0.0.1:$1/"; }
# the fixed up works: exit 0, web answers, one container each
fixed_up_works() { # $1: case, $2: port
  capture b up
  [ "$RC" = 0 ] || fail "$1: up with the cause fixed exited $RC"
  serves "$2" || fail "$1: web does not answer on 127.0.0.1:$2 after the fixed up"
  [ "$(containers | awk '{ print $1 "-" $2 "-" $3 }' | tr '\n' ' ')" = "cache-1-running web-1-running " ] ||
    fail "$1: after the fixed up: $(containers)"
  capture b down --volumes
  [ "$RC" = 0 ] || fail "$1: down --volumes exited $RC"
  assert_nothing_left "$1: down --volumes"
}
# the error is on stderr, stdout has no summary
no_summary() { ! grep -q "is ready" <<<"$OUT" || fail "$1: a failed up printed a summary"; }

# Each case starts with nothing of the project on the engine; a failed case
# is reported and the next one still runs (lib-engine.sh: round).

port_process() {
  local port holder
  port=$(free_port)
  bg python3 -m http.server --bind 127.0.0.1 "$port" --directory "$WORK" >/dev/null 2>&1
  holder=${BG_PIDS[-1]}
  poll 10 "python3 http.server listens on $port" serves "$port"
  write_manifest "$RUNTIME_IMAGE" "$port"
  capture b up
  [ "$RC" != 0 ] || fail "port conflict: up exited 0"
  note "port conflict (process): $ERR"
  grep -q "127.0.0.1:$port" <<<"$ERR" || fail "port conflict: the port is not named"
  grep -q "web" <<<"$ERR" || fail "port conflict: the service is not named"
  grep -Eq "python3.*$holder|$holder.*python3" <<<"$ERR" ||
    fail "port conflict: the holder (python3, pid $holder) is not named"
  no_summary "port conflict"
  assert_nothing_left "port conflict"
  kill "$holder"
  wait "$holder" 2>/dev/null || true
  fixed_up_works "port conflict (process)" "$port"
}

port_container() {
  local port other=$PROJECT-holder
  port=$(free_port)
  docker run -d --name "$other" --label "berth.test=$PROJECT" -p "127.0.0.1:$port:8000" \
    "$RUNTIME_IMAGE" python3 -m http.server 8000 >/dev/null
  write_manifest "$RUNTIME_IMAGE" "$port"
  capture b up
  [ "$RC" != 0 ] || fail "port conflict (container): up exited 0"
  note "port conflict (container): $ERR"
  grep -q "127.0.0.1:$port" <<<"$ERR" || fail "port conflict (container): the port is not named"
  grep -q "$other" <<<"$ERR" || fail "port conflict (container): the container $other is not named"
  no_summary "port conflict (container)"
  assert_nothing_left "port conflict (container)"
  docker rm -f "$other" >/dev/null
  fixed_up_works "port conflict (container)" "$port"
}

# web runs on one port; the manifest moves it to a port a host process
# holds. up must refuse before touching web: web keeps running as it was.
port_changed() {
  local port1 port2 holder id
  port1=$(free_port)
  write_manifest "$RUNTIME_IMAGE" "$port1"
  capture b up
  [ "$RC" = 0 ] || fail "port change: first up exited $RC"
  id=$(id_of web)
  port2=$(free_port)
  bg python3 -m http.server --bind 127.0.0.1 "$port2" --directory "$WORK" >/dev/null 2>&1
  holder=${BG_PIDS[-1]}
  poll 10 "python3 http.server listens on $port2" serves "$port2"
  write_manifest "$RUNTIME_IMAGE" "$port2"
  capture b up
  [ "$RC" != 0 ] || fail "port change: up exited 0"
  note "port change to a taken port: $ERR"
  grep -q "127.0.0.1:$port2" <<<"$ERR" || fail "port change: the port is not named"
  grep -Eq "python3.*$holder|$holder.*python3" <<<"$ERR" ||
    fail "port change: the holder (python3, pid $holder) is not named"
  [ "$(id_of web)" = "$id" ] && [ "$(docker inspect -f '{{.State.Status}}' "$id" 2>/dev/null)" = running ] ||
    fail "port change: the running web was touched although its new port is taken: $(containers)"
  serves "$port1" || fail "port change: web no longer answers on its old port"
  kill "$holder"
  wait "$holder" 2>/dev/null || true
  fixed_up_works "port change" "$port2"
}

missing_image() {
  local port t
  port=$(free_port)
  write_manifest berth-local/nope:1 "$port"
  t=$(date +%s.%N)
  capture b up
  [ "$RC" != 0 ] || fail "missing image: up exited 0"
  note "missing image ($(since "$t") s): $ERR"
  grep -q "berth-local/nope:1" <<<"$ERR" || fail "missing image: the image is not named"
  no_summary "missing image"
  assert_nothing_left "missing image"
  write_manifest "$RUNTIME_IMAGE" "$port"
  fixed_up_works "missing image" "$port"
}

no_engine() {
  local port
  port=$(free_port)
  write_manifest "$RUNTIME_IMAGE" "$port"
  capture env DOCKER_HOST=unix:///nonexistent.sock "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" up
  [ "$RC" != 0 ] || fail "unreachable engine: up exited 0"
  note "unreachable engine: $ERR"
  [ "$(wc -l <<<"$ERR")" = 1 ] || fail "unreachable engine: not one line"
  grep -q "unix:///nonexistent.sock" <<<"$ERR" || fail "unreachable engine: the socket is not named"
  no_summary "unreachable engine"
  assert_nothing_left "unreachable engine"
  fixed_up_works "unreachable engine" "$port"
}

probe_timeout() {
  local t
  cat >"$MANIFEST" <<EOF
services:
  web:
    image: $RUNTIME_IMAGE
    command: ["python3", "-u", "-c", "print('web: booting'); print('web: still booting'); import time; time.sleep(100000)"]
    probe: {tcp: 9999}
EOF
  t=$(date +%s.%N)
  capture b up --timeout 5s
  [ "$RC" != 0 ] || fail "probe timeout: up exited 0"
  note "probe timeout after $(since "$t") s: $ERR"
  grep -q "web" <<<"$ERR" || fail "probe timeout: the service is not named"
  grep -Eqi "not ready|timed out|timeout" <<<"$ERR" || fail "probe timeout: does not say it timed out"
  grep -Eqi "last probe:.*(refused|9999)" <<<"$ERR" || fail "probe timeout: no last probe result"
  grep -q "web: booting" <<<"$ERR" && grep -q "web: still booting" <<<"$ERR" ||
    fail "probe timeout: its log lines are not shown"
  no_summary "probe timeout"
  cat >"$MANIFEST" <<EOF
services:
  web:
    image: $RUNTIME_IMAGE
    command: ["python3", "-m", "http.server", "9999"]
    probe: {tcp: 9999}
EOF
  capture b up --timeout 60s
  [ "$RC" = 0 ] || fail "probe timeout: the fixed up exited $RC"
  [ "$(containers | awk '{ print $1 "-" $2 "-" $3 }')" = "web-1-running" ] ||
    fail "probe timeout: after the fixed up: $(containers)"
  capture b down --volumes
  assert_nothing_left "probe timeout: down --volumes"
}

dependency_exits() {
  cat >"$MANIFEST" <<EOF
services:
  migrate:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "echo 'migrate: no schema file'; exit 3"]
    probe: {tcp: 9999}
  web:
    image: $RUNTIME_IMAGE
    command: ["sleep", "100000"]
    depends_on:
      migrate: {condition: healthy}
EOF
  capture b up --timeout 60s
  [ "$RC" != 0 ] || fail "dependency exits: up exited 0"
  note "dependency exits: $ERR"
  grep -q "migrate" <<<"$ERR" || fail "dependency exits: the service is not named"
  grep -Eq '(code|status|exit|exited|with) 3\b' <<<"$ERR" || fail "dependency exits: the exit code is not given"
  grep -q "migrate: no schema file" <<<"$ERR" || fail "dependency exits: its log is not shown"
  [ -z "$(docker ps -aq --filter "label=berth.project=$PROJECT" --filter label=berth.service=web)" ] ||
    fail "dependency exits: web was created although its dependency failed"
  capture b down --volumes
  assert_nothing_left "dependency exits: down --volumes"
}

invalid_manifest() {
  cat >"$MANIFEST" <<EOF
services:
  web:
    image: $RUNTIME_IMAGE
    enviroment: {A: b}
EOF
  capture b up
  [ "$RC" = 2 ] || fail "invalid manifest: up exited $RC, want 2"
  grep -q "berth.yaml:4:5: error: services.web.enviroment: unknown key" <<<"$ERR" ||
    fail "invalid manifest: no located error"
  no_summary "invalid manifest"
  assert_nothing_left "invalid manifest"
  # before the engine: the same with no engine at all is still a manifest error
  capture env DOCKER_HOST=unix:///nonexistent.sock "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" up
  [ "$RC" = 2 ] || fail "invalid manifest without engine: exit $RC, want 2"
  ! grep -q "nonexistent.sock" <<<"$ERR" || fail "invalid manifest: berth contacted the engine first"
}

round "port held by a host process" port_process
round "port held by a container" port_container
round "running service moved to a taken port" port_changed
round "missing image" missing_image
round "unreachable engine" no_engine
round "probe timeout" probe_timeout
round "dependency exits before ready" dependency_exits
round "invalid manifest" invalid_manifest
rounds_verdict
echo ok
