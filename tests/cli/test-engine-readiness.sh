#!/usr/bin/env bash
# Ready means ready: dependents never start before PostgreSQL, Redis and
# RabbitMQ accept their protocol and are provisioned.
#
# A service with 20 replicas connects ONCE at start to postgres (as the
# database's owner role, which provisioning creates), redis (with its
# password) and rabbitmq (as a user on a vhost, both made by provisioning);
# no retry: any failure exits 1. From a cold start (fresh volumes, so
# RabbitMQ's slow first boot is in play), `berth up` must leave all 20
# running, each having logged its success. Then the same after `down` with
# the volumes kept (a warm boot over existing data, provisioning again).
#
# The same prober under docker-compose with the usual healthchecks is a
# measurement, not a test: bench/readiness.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test ready

N=20
# The prober is shared with bench/readiness.sh.
cp "$BERTH_SRC/tests/cli/readiness-prober.py" "$WORK/prober.py"
chmod 0644 "$WORK/prober.py"
cat >"$MANIFEST" <<EOF
infra:
  db:
    kind: postgres
    databases:
      - name: app
        owner: app
        schemas: [app]
  cache:
    kind: redis
  mq:
    kind: rabbitmq
    vhosts: [main, app]
    users:
      - name: app
        permissions:
          app: {}
services:
  prober:
    image: $RUNTIME_IMAGE
    command: ["python3", "-u", "/srv/prober.py"]
    volumes: ["./prober.py:/srv/prober.py:ro"]
    replicas: $N
    restart: "no"
    depends_on:
      db: {condition: healthy}
      cache: {condition: healthy}
      mq: {condition: healthy}
    uses:
      db: {database: app}
      cache: {}
      mq: {vhost: app}
EOF

# every replica has said how its attempt went
all_reported() {
  [ "$(b logs prober 2>/dev/null | grep -Ec '\| (CONNECTED|FAILED)')" -ge "$N" ]
}

check_round() { # $1: what this round is
  local round=$1
  t=$(date +%s.%N)
  capture b up
  [ "$RC" = 0 ] || fail "$round: up exited $RC"
  note "$round: up in $(since "$t") s"
  poll 60 "$round: all $N replicas report" all_reported
  capture b logs prober
  local ok bad
  ok=$(grep -Ec '^prober(-[0-9]+)? +\| CONNECTED to postgres as app, redis and rabbitmq$' <<<"$OUT" || true)
  bad=$(grep -E '\| FAILED' <<<"$OUT" || true)
  [ -z "$bad" ] || fail "$round: replicas failed their first connection:"$'\n'"$bad"
  [ "$ok" = "$N" ] || fail "$round: $ok of $N replicas logged success"
  for i in $(seq 2 $N); do
    grep -Eq "^prober-$i +\| CONNECTED" <<<"$OUT" || fail "$round: replica $i has no success line"
  done
  capture b ps --json
  python3 - "$OUT" "$N" <<'EOF' || fail "$round: ps --json: $OUT"
import json, sys
units = json.loads(sys.argv[1])
probers = [u for u in units if u["service"] == "prober"]
assert sorted(u["replica"] for u in probers) == list(range(1, int(sys.argv[2]) + 1)), probers
bad = [u for u in units if u["state"] != "running"]
assert not bad, "not running: %s" % bad
EOF
  # the engine agrees: none exited, none restarted
  local exited
  exited=$(docker ps -a --filter "label=berth.project=$PROJECT" --filter status=exited -q | wc -l)
  [ "$exited" = 0 ] || fail "$round: $exited container(s) exited: $(containers)"
  [ "$(n_containers)" = $((N + 3)) ] || fail "$round: expected $((N + 3)) containers: $(containers)"
}

# --- cold: fresh volumes -----------------------------------------------------
[ "$(n_volumes)" = 0 ] || fail "volumes exist before the cold start"
check_round "cold start"

# --- warm: down keeps the volumes; infra boots over its data ----------------
capture b down
[ "$RC" = 0 ] || fail "down exited $RC"
[ "$(n_volumes)" = 3 ] || fail "down did not keep the 3 volumes"
check_round "warm start"

capture b down --volumes
[ "$RC" = 0 ] || fail "down --volumes exited $RC"
assert_nothing_left "down --volumes"

echo ok
