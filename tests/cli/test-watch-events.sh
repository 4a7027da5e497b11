#!/usr/bin/env bash
# berth watch keeps the container it writes into from the engine's events,
# so a save asks the engine nothing, and it follows the container when it
# restarts, is recreated, stops and starts again. berth watch talks to the
# engine through tests/cli/docker-proxy.py, which writes down every request
# (DOCKER_HOST points berth at it); the service is a python file server
# publishing /app, and every check reads what it serves.
#
#   steady        five saves, each visible in the service: no engine request
#                 at all while they are synced
#   restart       docker restart (same container, new process): berth looks
#                 it up once, at the restart; the next save reaches it with
#                 no engine request
#   recreate      berth up after a change of the service's environment (a
#                 new container): the next save reaches the new container
#                 with no engine request, and so do the files synced before
#   stop, start   docker stop; a save made while it is stopped arrives once
#                 docker start has run, with no further save
#   stream lost   the events stream is cut and refused for a while: saves
#                 still arrive (berth looks the container up), and once the
#                 stream is back saves ask the engine nothing again
#
# No fixed sleeps; every wait is bounded.
set -euo pipefail
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test watch-events
command -v curl >/dev/null || cannot_run "curl not found on the host"

engine_sock=${DOCKER_HOST:-unix:///var/run/docker.sock}
engine_sock=${engine_sock#unix://}
[ -S "$engine_sock" ] || cannot_run "the engine's socket $engine_sock is not a unix socket here"

DIR=$WORK/stack
mkdir -p "$DIR/src"
MANIFEST=$DIR/berth.yaml
PORT=$(free_port)
echo v0 >"$DIR/src/index.html"
# manifest GEN: the service; a new GEN is a new configuration (recreated)
manifest() {
  cat >"$MANIFEST" <<EOF
services:
  web:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "mkdir -p /app && exec python3 -m http.server 8000 --directory /app"]
    environment: {GEN: "$1"}
    ports: ["127.0.0.1:$PORT:8000"]
    probe:
      http: {path: /, port: 8000}
    stop_grace_period: 1s
    watch:
      - path: ./src
        action: sync
        target: /app
EOF
}
up() {
  capture b up --timeout 2m
  [ "$RC" = 0 ] || fail "berth up failed"
  unset RC
}

# ---- the engine's requests, through the proxy ------------------------------

PROXY_SOCK=$WORK/engine.sock
CALLS=$WORK/engine-calls.log
: >"$CALLS"
bg python3 "$BERTH_SRC/tests/cli/docker-proxy.py" "$PROXY_SOCK" "$engine_sock" "$CALLS"
PROXY_PID=${BG_PIDS[${#BG_PIDS[@]} - 1]}
poll 10 "the proxy listens" test -S "$PROXY_SOCK"

# n_calls: requests berth watch made so far
n_calls() { grep -vc '^#' "$CALLS" || true; }
# calls_after N: the requests after the first N lines of the log
calls_after() { tail -n "+$(($1 + 1))" "$CALLS"; }
# inspected_after N ID: an inspect of ID (GET /containers/ID/json) after line N
# (read whole before grep: under pipefail, grep -q leaving early would fail
# the pipeline by SIGPIPE, and a negated one would pass)
inspected_after() { grep -q "^GET /v[0-9.]*/containers/$2/json" <<<"$(calls_after "$1")"; }
# events_after N: the events stream was opened (forwarded) after line N
events_after() { grep -q '^GET /v[0-9.]*/events' <<<"$(calls_after "$1")"; }
lines() { wc -l <"$CALLS"; }

# ---- watch -----------------------------------------------------------------

WATCH_OUT=$DIR/watch.jsonl
start_watch() {
  DOCKER_HOST=unix://$PROXY_SOCK bg "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" watch --json \
    >"$WATCH_OUT" 2>"$DIR/watch.err"
  WATCH_PID=${BG_PIDS[${#BG_PIDS[@]} - 1]}
  poll 15 "berth says it is watching" grep -q '"event":"watching"' "$WATCH_OUT"
}
eval "lib_$(declare -f fail)"
fail() {
  if [ -e "$WATCH_OUT" ]; then
    echo "--- berth watch stdout:" >&2
    cat "$WATCH_OUT" >&2 || true
    echo "--- berth watch stderr:" >&2
    cat "$DIR/watch.err" >&2 || true
    echo "--- engine requests of berth watch:" >&2
    cat "$CALLS" >&2 || true
  fi
  lib_fail "$@"
}
n_synced() { grep -c '"event":"synced"' "$WATCH_OUT" || true; }
synced_more() { [ "$(n_synced)" -gt "$1" ]; }
n_acted() { grep -c '"event":"synced"\|"event":"error"' "$WATCH_OUT" || true; }
acted_more() { [ "$(n_acted)" -gt "$1" ]; }
alive() { kill -0 "$WATCH_PID" 2>/dev/null || fail "berth watch exited"; }

ctr() { id_of web; }
get() { curl -fsS --max-time 5 "http://127.0.0.1:$PORT/$1"; }
serves() { [ "$(get "$2" 2>/dev/null)" = "$1" ]; }

# save NAME VALUE: writes src/NAME, waits until the service serves it and
# berth printed its synced line
save() {
  local before
  before=$(n_synced)
  echo "$2" >"$DIR/src/$1"
  poll 10 "the service serves $1 = $2" serves "$2" "$1"
  poll 5 "berth's synced line for $1" synced_more "$before"
}
# quiet_saves WHAT N: N saves, visible in the service, that make no engine
# request
quiet_saves() {
  local what=$1 n=$2 c0 i
  c0=$(lines)
  for i in $(seq "$n"); do save "quiet-$i.txt" "$what $i $RANDOM"; done
  ! grep -qv -e '^#' -e '^$' <<<"$(calls_after "$c0")" ||
    fail "$what: saves asked the engine: $(calls_after "$c0" | grep -v '^#' | tr '\n' ';')"
  alive
}

# ---- the rounds --------------------------------------------------------------

manifest 1
up
start_watch
poll 15 "berth watch opens the engine's events stream" events_after 0
poll 15 "berth watch looks its container up once" inspected_after 0 "$(docker inspect -f '{{.Id}}' "$(ctr)")"
save first.txt first

note "steady: saves ask the engine nothing"
quiet_saves steady 5

note "restart: docker restart, then a save"
id=$(docker inspect -f '{{.Id}}' "$(ctr)")
started=$(docker inspect -f '{{.State.StartedAt}}' "$id")
l0=$(lines)
docker restart -t 1 "$id" >/dev/null
[ "$(docker inspect -f '{{.State.StartedAt}}' "$id")" != "$started" ] || fail "docker restart did not restart"
poll 15 "berth looks the restarted container up" inspected_after "$l0" "$id"
poll 10 "the service answers after the restart" serves first first.txt
quiet_saves "after docker restart" 2

note "recreate: berth up after a configuration change"
manifest 2
up
new=$(docker inspect -f '{{.Id}}' "$(ctr)")
[ "$new" != "$id" ] || fail "berth up did not recreate the container"
poll 15 "berth looks the new container up" inspected_after "$l0" "$new"
quiet_saves "after berth up recreated the container" 2
serves first first.txt || fail "a file synced before the recreation is not in the new container"

note "stop, start: a save made while stopped arrives after start"
docker stop -t 1 "$new" >/dev/null
acted=$(n_acted)
echo while-stopped >"$DIR/src/while-stopped.txt"
# berth says the change is kept (not applied yet), or wrote it into the
# stopped container's file system: either way, before the start
poll 10 "berth watch handles the save made while stopped" acted_more "$acted"
[ "$(docker inspect -f '{{.State.Running}}' "$new")" = false ] || fail "the container runs again by itself"
docker start "$new" >/dev/null
poll 15 "the save made while the container was stopped arrives after docker start" \
  serves while-stopped while-stopped.txt
alive

note "stream lost: saves still arrive; once it is back, they ask nothing again"
l1=$(lines)
kill -USR1 "$PROXY_PID"
poll 10 "berth watch tries to open the events stream again" \
  sh -c "tail -n +$((l1 + 1)) '$CALLS' | grep -q '^# refused'"
save lost.txt "while lost $RANDOM"
alive
l2=$(lines)
kill -USR2 "$PROXY_PID"
poll 10 "berth watch opens the events stream again" events_after "$l2"
save back.txt "back $RANDOM"
quiet_saves "after the stream came back" 3

[ "$(n_synced)" -ge 15 ] || fail "expected at least 15 synced lines, got $(n_synced)"

note "SIGINT: berth watch ends cleanly (the events thread is stopped and joined)"
kill -INT "$WATCH_PID"
rc=0
wait "$WATCH_PID" || rc=$?
[ "$rc" = 0 ] || fail "berth watch exited with $rc on SIGINT"
! grep -q 'Sanitizer' "$DIR/watch.err" || fail "berth watch: sanitizer report"
