#!/usr/bin/env bash
# A no-op `berth up` of a running, healthy stack runs nothing in it.
#
# Compose files whose services have Compose exec healthchecks (interval 1s):
# a Redis on berth's local image with `redis-cli ping` (recognised as redis),
# and python services with a CMD-SHELL check. The engine runs those checks
# itself all along; once `berth up` has brought the stack up and the engine
# reports every container healthy, a second `berth up` must be ready without
# running any of them again: no exec created through the API (POST
# /containers/ID/exec), no container changed, exit 0. Its API calls are
# counted through a logging proxy in front of the engine (docker-proxy.py):
# on a 2-service and a 4-service stack of the same two images, the count
# must be the same: the stack is listed at once, each image and network
# inspected once, no service probed or inspected one by one
# (NOOP_PER_SERVICE=N allows N more calls per added service).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test noop

PER_SERVICE=${NOOP_PER_SERVICE:-0}

# compose_file N: N services, half redis, half python, all with exec checks
compose_file() {
  local n=$1 i
  echo "services:"
  for i in $(seq "$n"); do
    if [ $((i % 2)) = 1 ]; then
      cat <<EOF
  cache$i:
    image: $BERTH_REDIS_IMAGE
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      timeout: 5s
      retries: 30
EOF
    else
      cat <<EOF
  app$i:
    image: $RUNTIME_IMAGE
    command: ["python3", "-c", "import time; open('/tmp/up', 'w').close(); time.sleep(100000)"]
    init: true
    healthcheck:
      test: ["CMD-SHELL", "test -e /tmp/up"]
      interval: 1s
      timeout: 5s
      retries: 30
EOF
    fi
  done
}

# The engine's view: every container of the project running and healthy.
all_healthy() {
  local st
  st=$(docker ps -aq --filter "label=berth.project=$PROJECT" |
    xargs -r docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' | sort -u)
  [ "$st" = running/healthy ] || return 1
  # and the engine's listing says so too: it trails inspect by a moment,
  # and berth's no-op up reads the listing (a unit it does not settle costs
  # an inspect, which the call count would show)
  st=$(docker ps -a --filter "label=berth.project=$PROJECT" --format '{{.Status}}' |
    sed 's/.*(\(healthy\))$/\1/' | sort -u)
  [ "$st" = healthy ]
}

# redis's image declares VOLUME /data: anonymous volumes, removed at exit.
on_cleanup remove_anonymous_volumes

SOCK=$WORK/engine.sock
PROXY_LOG=$WORK/api.log
engine_sock=${DOCKER_HOST:-unix:///var/run/docker.sock}
engine_sock=${engine_sock#unix://}
bg python3 "$BERTH_SRC/tests/cli/docker-proxy.py" "$SOCK" "$engine_sock" "$PROXY_LOG"
poll 10 "the API proxy listens" test -S "$SOCK"
# The proxy itself passes calls through.
DOCKER_HOST=unix://$SOCK docker version --format '{{.Server.Version}}' >/dev/null ||
  fail "docker through the proxy failed"
grep -q '/version' "$PROXY_LOG" || fail "the proxy logged no call: $(cat "$PROXY_LOG")"

# noop_calls N: brings an N-service stack up, waits for the engine's health,
# runs one no-op up through the proxy; sets CALLS (its number of API calls)
noop_calls() {
  local n=$1 before after execs
  MANIFEST=$WORK/compose-$n.yaml
  compose_file "$n" >"$MANIFEST"
  capture b up
  note_anonymous_volumes
  [ "$RC" = 0 ] || fail "$n services: up exited $RC"
  [ "$(n_containers)" = "$n" ] || fail "$n services: expected $n containers: $(containers)"
  poll 60 "$n services: the engine reports every container healthy" all_healthy
  before=$(container_ids)
  : >"$PROXY_LOG"
  capture env DOCKER_HOST="unix://$SOCK" "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" up
  [ "$RC" = 0 ] || fail "$n services: no-op up exited $RC"
  after=$(container_ids)
  [ "$before" = "$after" ] || fail "$n services: no-op up changed containers: $before / $after"
  grep -Eqi 'ready|unchanged|up to date' <<<"$OUT$ERR" ||
    fail "$n services: no-op up did not say the stack is ready"
  # Not counted: up's events stream, opened in parallel with the work, so
  # whether its request goes out before a no-op up ends is a race.
  CALLS=$(grep -vc '^GET /[^ ]*events' "$PROXY_LOG" || true)
  [ "$CALLS" -gt 0 ] || fail "$n services: no API call went through the proxy"
  execs=$(grep -Ec '^POST /(v[0-9.]+/)?(containers/[^/]+/exec|exec/[^/]+/start)' "$PROXY_LOG" || true)
  note "$n services: no-op up made $CALLS API calls, $execs exec call(s):"
  sed 's/^/#   /' "$PROXY_LOG"
  [ "$execs" = 0 ] || fail "$n services: no-op up ran $execs exec call(s) on a healthy stack:"$'\n'"$(cat "$PROXY_LOG")"
  all_healthy || fail "$n services: not healthy after the no-op up"
  note_anonymous_volumes
  capture b down --volumes
  [ "$RC" = 0 ] || fail "$n services: down --volumes exited $RC"
  assert_nothing_left "$n services: down --volumes"
}

noop_calls 2
calls2=$CALLS
noop_calls 4
calls4=$CALLS
note "API calls of a no-op up: $calls2 with 2 services, $calls4 with 4"
[ "$calls4" -le $((calls2 + 2 * PER_SERVICE)) ] ||
  fail "a no-op up's API calls grow with the services: $calls2 with 2, $calls4 with 4 (allowed: +$PER_SERVICE per added service)"

echo ok
