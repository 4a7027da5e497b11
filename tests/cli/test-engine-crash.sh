#!/usr/bin/env bash
# Crash safety: `berth up` killed with SIGKILL at several points of a cold
# start (creating, starting, probing, provisioning), then `berth up` again
# must converge: exit 0, exactly one container per unit, nothing orphaned
# (containers, networks, volumes, labelled or merely named after the
# project), the database and the vhost provisioned, and the credentials the
# services got actually work. A further `up` changes nothing.
#
# Also: killed while recreating a service whose configuration changed; two
# ups racing; `down` killed midway then run again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test crash

write_manifest() { # $1: a value in app's environment
  cat >"$MANIFEST" <<EOF
infra:
  db:
    kind: postgres
    databases:
      - name: shop
        owner: shop
        schemas: [orders]
        extensions: [pgcrypto]
  cache:
    kind: redis
  mq:
    kind: rabbitmq
    vhosts: [main, shop]
    users:
      - name: shop
        permissions:
          shop: {}
services:
  app:
    image: $RUNTIME_IMAGE
    command: ["sleep", "100000"]
    replicas: 2
    environment:
      ROUND: "$1"
    depends_on:
      db: {condition: healthy}
      cache: {condition: healthy}
      mq: {condition: healthy}
    uses:
      db: {database: shop}
      cache: {}
      mq: {vhost: shop}
EOF
}
write_manifest 0
EXPECTED="app-1 app-2 cache-1 db-1 mq-1"

# The services' own credentials work: one connection to each, from app.
connect_check() { # $1: replica
  b exec --index "$1" app -- python3 -c '
import os, pika, psycopg2, redis
c = psycopg2.connect(os.environ["DATABASE_URL"]).cursor()
c.execute("SELECT to_regnamespace(%s) IS NOT NULL, current_user", ("orders",))
assert c.fetchone() == (True, "shop")
assert redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"])).close()'
}

converged() { # $1: the round
  local round=$1 units names nets vols
  units=$(docker ps -a --filter "label=berth.project=$PROJECT" \
    --format '{{.Label "berth.service"}}-{{.Label "berth.replica"}}' | sort | tr '\n' ' ')
  [ "$units" = "$EXPECTED " ] || fail "$round: units are '$units', want '$EXPECTED' (one each): $(containers)"
  [ "$(containers | awk '$3 != "running"' | wc -l)" = 0 ] || fail "$round: not all running: $(containers)"
  names=$(docker ps -a --filter "name=^/$PROJECT-" --format '{{.Names}}' | sort | tr '\n' ' ')
  [ "$names" = "$PROJECT-app-1 $PROJECT-app-2 $PROJECT-cache-1 $PROJECT-db-1 $PROJECT-mq-1 " ] ||
    fail "$round: containers named after the project: $names"
  nets=$(docker network ls --format '{{.Name}}' | grep -E "^${PROJECT}_" | sort | tr '\n' ' ' || true)
  [ "$nets" = "${PROJECT}_default " ] || fail "$round: networks: '$nets'"
  [ "$(n_networks)" = 1 ] || fail "$round: $(n_networks) labelled networks"
  vols=$(docker volume ls --format '{{.Name}}' | grep -E "^${PROJECT}_" | sort | tr '\n' ' ' || true)
  [ "$vols" = "${PROJECT}_cache-data ${PROJECT}_db-data ${PROJECT}_mq-data " ] ||
    fail "$round: volumes: '$vols'"
  [ "$(n_volumes)" = 3 ] || fail "$round: $(n_volumes) labelled volumes"
  # no anonymous volume: every mount is one of the named ones
  local id m
  for id in $(docker ps -aq --filter "label=berth.project=$PROJECT"); do
    for m in $(docker inspect -f '{{range .Mounts}}{{.Type}}:{{.Name}} {{end}}' "$id"); do
      case $m in volume:${PROJECT}_*) ;; *) fail "$round: container $id mounts $m" ;; esac
    done
  done
  capture b exec db -- psql -U postgres -d shop -Atc \
    "SELECT nspname || ':' || pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'orders'
     UNION ALL SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'"
  [ "$OUT" = $'orders:shop\npgcrypto' ] || fail "$round: postgres not provisioned: '$OUT'"
  capture b exec mq -- rabbitmqctl -q list_permissions -p shop
  grep -Eq '^shop\s' <<<"$OUT" || fail "$round: rabbitmq not provisioned: $OUT"
  for r in 1 2; do
    capture connect_check $r
    [ "$RC" = 0 ] || fail "$round: app-$r cannot use its connection URLs"
  done
  # converged means stable: one more up changes nothing
  local before
  before=$(container_ids)
  capture b up
  [ "$RC" = 0 ] || fail "$round: the up after convergence exited $RC"
  [ "$(container_ids)" = "$before" ] || fail "$round: an up after convergence changed containers"
  [ "$(grep -c ' unchanged ' <<<"$ERR")" = 5 ] || fail "$round: the up after convergence acted"
}

# Starts `berth up`, SIGKILLs it at TRIGGER ("after SECONDS" or "at REGEX":
# the first progress line matching), then runs `berth up` and checks.
kill_up() { # $1: round name, $2: after|at, $3: seconds or regex
  local round=$1 how=$2 what=$3 log=$WORK/killed-$RANDOM.log t0 pid hit=no
  : >"$log"
  t0=$(date +%s.%N)
  "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" up >/dev/null 2>"$log" &
  pid=$!
  BG_PIDS+=("$pid")
  if [ "$how" = after ]; then
    sleep "$what" # the kill point itself, not a synchronisation
    kill -0 "$pid" 2>/dev/null && hit=yes
  else
    local end=$(($(date +%s) + 120))
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
      if grep -Eq "$what" "$log"; then
        hit=yes
        break
      fi
      sleep 0.02
    done
  fi
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ $hit = yes ]; then
    note "$round: killed after $(since "$t0") s; last progress: $(tail -n 2 "$log" | tr -s ' ' | tr '\n' ';')"
  else
    note "$round: up ended before the kill point; its output: $(tr -s ' ' <"$log" | tr '\n' ';')"
    [ "$how" = after ] || fail "$round: the kill point ($what) never came"
  fi
  t0=$(date +%s.%N)
  capture b up
  [ "$RC" = 0 ] || fail "$round: up after the kill exited $RC"
  note "$round: converging up took $(since "$t0") s"
  converged "$round"
}

# Each round starts from what it needs; a failed round is reported and the
# next one still runs (lib-engine.sh: round).
cold() { # nothing of the project on the engine, the manifest as first written
  write_manifest 0
  if [ "$(n_containers)$(n_networks)$(n_volumes)" != 000 ]; then
    capture b down --volumes
    [ "$RC" = 0 ] || fail "down --volumes exited $RC"
    assert_nothing_left "down --volumes"
  fi
}
running() { # the stack up and converged, the manifest as first written
  write_manifest 0
  capture b up
  [ "$RC" = 0 ] || fail "setting up the stack: up exited $RC"
}

kill_cold() { # $1: round, $2: after|at, $3: seconds or regex
  cold
  kill_up "$@"
}

# Killed while recreating: app's configuration changed, killed once a
# replica is being recreated (old one stopping or gone).
kill_recreate() {
  running
  write_manifest 1
  kill_up "kill while recreating app" at '^app(-2)? +creating +recreating'
  for r in 1 2; do
    capture b exec --index $r app -- printenv ROUND
    [ "$OUT" = 1 ] || fail "app-$r does not run the new configuration (ROUND=$OUT)"
  done
}

# Two ups racing from cold (a second terminal, a script): whatever each of
# them reports, the next up converges: one container per unit, one network.
race() {
  cold
  "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" up >/dev/null 2>"$WORK/race1.log" &
  local p1=$!
  "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" up >/dev/null 2>"$WORK/race2.log" &
  local p2=$!
  BG_PIDS+=("$p1" "$p2")
  local rc1=0 rc2=0
  wait "$p1" || rc1=$?
  wait "$p2" || rc2=$?
  note "racing ups exited $rc1 and $rc2"
  [ "$rc1" = 0 ] || note "  first: $(grep '^berth:' "$WORK/race1.log" | head -c 300)"
  [ "$rc2" = 0 ] || note "  second: $(grep '^berth:' "$WORK/race2.log" | head -c 300)"
  local t0
  t0=$(date +%s.%N)
  capture b up
  [ "$RC" = 0 ] || fail "racing ups: the up after them exited $RC"
  note "racing ups: converging up took $(since "$t0") s"
  converged "racing ups"
}

# down killed once it stops containers, then down again: nothing left but
# the volumes; then down --volumes: nothing at all.
kill_down() {
  running
  : >"$WORK/down.log"
  "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" down >/dev/null 2>"$WORK/down.log" &
  local pid=$!
  BG_PIDS+=("$pid")
  while ! grep -q ' stopping ' "$WORK/down.log" && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  note "down killed; last progress: $(tail -n 1 "$WORK/down.log" | tr -s ' ')"
  capture b down
  [ "$RC" = 0 ] || fail "down after a killed down exited $RC"
  [ "$(n_containers)$(n_networks)$(n_volumes)" = 003 ] ||
    fail "after down: $(n_containers) containers, $(n_networks) networks, $(n_volumes) volumes"
  capture b down --volumes
  [ "$RC" = 0 ] || fail "down --volumes exited $RC"
  assert_nothing_left "down --volumes"
}

round "kill at 0.5 s" kill_cold "kill at 0.5 s" after 0.5
round "kill at 2 s" kill_cold "kill at 2 s" after 2
round "kill while rabbitmq is provisioned" kill_cold "kill while rabbitmq is provisioned" at '^mq +provisioning '
round "kill at 4 s" kill_cold "kill at 4 s" after 4
round "kill while recreating" kill_recreate
round "racing ups" race
round "kill during down" kill_down
rounds_verdict
echo ok
