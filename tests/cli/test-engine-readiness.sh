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
# With BERTH_TEST_COMPOSE_CONTRAST=1 and docker-compose installed, the same
# prober also runs under docker-compose with the usual healthchecks
# (pg_isready, redis-cli ping, rabbitmq-diagnostics ping): how many of its
# replicas fail is printed, not asserted (that is the tools' behaviour, not
# berth's).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test ready

N=20
cat >"$WORK/prober.py" <<'EOF'
# One attempt per dependency, at start. Any failure: exit 1.
import os, socket, sys, time
import pika, psycopg2, redis
me = socket.gethostname()
try:
    c = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5).cursor()
    c.execute("SELECT current_user")
    who = c.fetchone()[0]
    assert redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5).ping()
    mq = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"] + "?connection_attempts=1&socket_timeout=5"))
    mq.channel().queue_declare("probe-" + me)
    mq.close()
except Exception as e:
    print("FAILED %s: %s" % (type(e).__name__, e), flush=True)
    sys.exit(1)
print("CONNECTED to postgres as %s, redis and rabbitmq" % who, flush=True)
time.sleep(100000)
EOF
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

# --- optional: the same prober under docker-compose with healthchecks -------
if [ "${BERTH_TEST_COMPOSE_CONTRAST:-}" = 1 ] && command -v docker-compose >/dev/null; then
  CP=$PROJECT-compose
  cat >"$WORK/docker-compose.yml" <<EOF
version: "2.4"
services:
  db:
    image: $BERTH_POSTGRES_IMAGE
    environment: {POSTGRES_PASSWORD: pw}
    labels: {berth.test: $PROJECT}
    healthcheck: {test: ["CMD", "pg_isready", "-U", "postgres"], interval: 1s, retries: 120}
  cache:
    image: $BERTH_REDIS_IMAGE
    labels: {berth.test: $PROJECT}
    healthcheck: {test: ["CMD", "redis-cli", "ping"], interval: 1s, retries: 120}
  mq:
    image: $BERTH_RABBITMQ_IMAGE
    environment: {RABBITMQ_DEFAULT_USER: app, RABBITMQ_DEFAULT_PASS: app}
    labels: {berth.test: $PROJECT}
    healthcheck: {test: ["CMD", "rabbitmq-diagnostics", "-q", "ping"], interval: 1s, retries: 120}
  prober:
    image: $RUNTIME_IMAGE
    command: ["python3", "-u", "/srv/prober.py"]
    volumes: ["./prober.py:/srv/prober.py:ro"]
    labels: {berth.test: $PROJECT}
    environment:
      DATABASE_URL: postgres://postgres:pw@db:5432/postgres
      REDIS_URL: redis://cache:6379/0
      AMQP_URL: amqp://app:app@mq:5672/%2F
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_healthy}
      mq: {condition: service_healthy}
EOF
  on_cleanup docker-compose -f "$WORK/docker-compose.yml" -p "$CP" down -v -t 2
  t=$(date +%s.%N)
  set +e
  (cd "$WORK" && timeout 180 docker-compose -p "$CP" up -d --scale prober=$N >/dev/null 2>&1)
  set -e
  note "compose: up -d in $(since "$t") s"
  compose_reported() {
    [ "$(cd "$WORK" && docker-compose -p "$CP" logs --no-color prober 2>/dev/null |
      grep -Ec '\| (CONNECTED|FAILED)')" -ge "$N" ]
  }
  for _ in $(seq 150); do # informational: at most 30 s
    ! compose_reported || break
    sleep 0.2
  done
  out=$(cd "$WORK" && docker-compose -p "$CP" logs --no-color prober 2>/dev/null || true)
  note "compose contrast: $(grep -c 'CONNECTED' <<<"$out" || true) of $N replicas connected," \
    "$(grep -c 'FAILED' <<<"$out" || true) failed their first connection"
  grep -o 'FAILED.*' <<<"$out" | sort | uniq -c | sed 's/^/#   /' | head -5 || true
  (cd "$WORK" && docker-compose -p "$CP" down -v -t 2 >/dev/null 2>&1) || true
fi
echo ok
