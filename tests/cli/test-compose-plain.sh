#!/usr/bin/env bash
# Compose files as they are: ready means ready on the plain forms too.
#
#   plain    the most common Compose shape: postgres:15, rabbitmq:3 and
#            redis:7 under their official names, no healthchecks, and a
#            worker with the short `depends_on: [pg, mq, cache]` that connects
#            once to all three at start and exits 1 if one refuses. From cold
#            (down --volumes first, so initdb and RabbitMQ's first boot are in
#            play) `berth up` PLAIN_RUNS times (default 20): each time up exits
#            0, and the worker connected, is running, never exited and never
#            restarted.
#   started  the same with `x-berth-wait: started` on the three dependencies,
#            Compose's literal meaning: berth starts the worker without
#            waiting for their protocol. Made observable by a Redis that
#            sleeps 5 s before it starts listening: the worker's start
#            (State.StartedAt) comes before Redis's "Ready to accept
#            connections", and the worker saw a refusal.
#   exits    a service that exits 1 during `up` (before its sibling is
#            ready; and as soon as it starts) makes `up` fail: non-zero,
#            naming the service, its exit code and its last log lines; no
#            "ready" printed beside it.
#   job      a service with no dependents and restart "no" that exits 0 (a
#            job) during `up` does not fail it.
#
# The official names are made from berth's local images (docker tag), and
# the tags removed at exit when this test made them.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test plain

RUNS=${PLAIN_RUNS:-20}
MANIFEST=$WORK/compose.yaml

# The official names, from berth's local images when they are not there.
for pair in "postgres:15=$BERTH_POSTGRES_IMAGE" "rabbitmq:3=$BERTH_RABBITMQ_IMAGE" "redis:7=$BERTH_REDIS_IMAGE"; do
  name=${pair%%=*}
  if ! docker image inspect "$name" >/dev/null 2>&1; then
    docker tag "${pair#*=}" "$name"
    on_cleanup docker rmi "$name"
  fi
done

# The official images declare VOLUMEs: anonymous volumes, removed at exit.
on_cleanup remove_anonymous_volumes

cp "$BERTH_SRC/tests/cli/readiness-prober.py" "$WORK/prober.py"
chmod 0644 "$WORK/prober.py"

# plain_file [WAIT]: the plain shape; WAIT=started puts x-berth-wait on the
# dependencies and makes Redis sleep 5 s before it starts.
plain_file() {
  local wait=${1:-}
  local x="" redis_start=""
  if [ "$wait" = started ]; then
    x="    x-berth-wait: started"
    redis_start='    entrypoint: ["sh", "-c", "sleep 5; exec docker-entrypoint.sh redis-server"]'
  fi
  cat <<EOF
services:
  pg:
    image: postgres:15
    environment:
      POSTGRES_PASSWORD: plain
$x
  mq:
    image: rabbitmq:3
$x
  cache:
    image: redis:7
$redis_start
$x
  worker:
    image: $RUNTIME_IMAGE
    command: ["python3", "-u", "/srv/prober.py"]
    volumes: ["./prober.py:/srv/prober.py:ro"]
    environment:
      DATABASE_URL: postgres://postgres:plain@pg:5432/postgres
      REDIS_URL: redis://cache:6379/0
      AMQP_URL: amqp://guest:guest@mq:5672/%2F
    depends_on: [pg, mq, cache]
EOF
}

worker_id() { docker ps -aq --filter "label=berth.project=$PROJECT" --filter "label=berth.service=worker"; }
worker_state() { docker inspect -f '{{.State.Status}} restarts={{.RestartCount}} exit={{.State.ExitCode}} finished={{.State.FinishedAt}}' "$(worker_id)"; }
# The log is read whole before grep: under pipefail, grep -q leaving early
# would fail the pipeline by SIGPIPE to docker logs.
worker_log() { docker logs "$(worker_id)" 2>&1 || true; }
worker_reported() { grep -Eq '^(CONNECTED|FAILED)' <<<"$(worker_log)"; }

# --- plain: N cold ups, the worker never exits --------------------------------
plain() {
  local i bad=0 t0 st log
  plain_file >"$MANIFEST"
  for i in $(seq "$RUNS"); do
    note_anonymous_volumes
    capture b down --volumes
    [ "$RC" = 0 ] || fail "run $i: down --volumes exited $RC"
    assert_nothing_left "run $i: down --volumes"
    t0=$(date +%s.%N)
    capture b up
    local up_rc=$RC up_out="$OUT$ERR" took
    took=$(since "$t0")
    note_anonymous_volumes
    if [ -z "$(worker_id)" ]; then
      note "run $i: FAILED: no worker container (up exited $up_rc): $up_out"
      bad=$((bad + 1))
      continue
    fi
    # its one attempt has been logged (it makes it right at start)
    poll 30 "run $i: the worker reports its connection" worker_reported
    st=$(worker_state)
    log=$(docker logs "$(worker_id)" 2>&1 | tail -n 3 | tr '\n' ' ')
    if [ "$up_rc" = 0 ] && [[ $st == "running restarts=0 exit=0 finished=0001-01-01T00:00:00Z" ]] &&
      grep -q '^CONNECTED to postgres as postgres, redis and rabbitmq$' <<<"$(worker_log)"; then
      note "run $i: ok, up in $took s"
    else
      note "run $i: FAILED: up exited $up_rc in $took s; worker: $st; its log: $log"
      [ "$up_rc" = 0 ] || note "  up said: $(tail -n 5 <<<"$up_out" | tr '\n' ' ')"
      bad=$((bad + 1))
    fi
  done
  note_anonymous_volumes
  capture b down --volumes
  [ "$RC" = 0 ] || fail "down --volumes exited $RC"
  assert_nothing_left "plain: down --volumes"
  [ "$bad" = 0 ] || fail "plain: $bad of $RUNS cold ups failed (the worker exited, or up failed)"
}

# --- started: x-berth-wait: started does not wait for the protocol -------------
started() {
  local t_worker t_ready cache
  plain_file started >"$MANIFEST"
  capture b down --volumes
  capture b up
  note "x-berth-wait: started: up exited $RC; worker: $( [ -n "$(worker_id)" ] && worker_state)"
  note_anonymous_volumes
  [ -n "$(worker_id)" ] || fail "started: no worker container"
  cache=$(docker ps -aq --filter "label=berth.project=$PROJECT" --filter "label=berth.service=cache")
  # Redis answers only after its 5 s sleep: wait for its line.
  poll 60 "started: Redis accepts connections" \
    sh -c "docker logs '$cache' 2>&1 | grep 'Ready to accept connections' >/dev/null"
  t_worker=$(docker inspect -f '{{.State.StartedAt}}' "$(worker_id)")
  t_ready=$(docker logs -t "$cache" 2>&1 | grep 'Ready to accept connections' | head -n 1 | cut -d' ' -f1 || true)
  note "started: worker started at $t_worker, Redis ready at $t_ready"
  python3 - "$t_worker" "$t_ready" <<'EOF' || fail "started: the worker started only once Redis answered ($t_worker >= $t_ready): berth waited"
import datetime, re, sys
def t(s):  # RFC 3339 with nanoseconds -> seconds
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", s)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return base.timestamp() + float("0." + (m.group(2) or "0"))
sys.exit(0 if t(sys.argv[1]) < t(sys.argv[2]) else 1)
EOF
  # The worker made its one attempt then, so a dependency refused it.
  poll 30 "started: the worker reports its connection" worker_reported
  grep -q '^FAILED' <<<"$(worker_log)" ||
    fail "started: the worker connected though a dependency was not listening: $(worker_log)"
  note_anonymous_volumes
  capture b down --volumes
  [ "$RC" = 0 ] || fail "down --volumes exited $RC"
  assert_nothing_left "started: down --volumes"
}

# --- exits: a service that exits 1 during up fails up ---------------------------
# exits_file DELAY: `broken` logs 25 lines and exits 1 after DELAY seconds;
# `slow` becomes healthy only after 6 s, so up is still waiting then.
# exits_file DELAY: broken logs 25 lines, waits DELAY s, says why on stderr
# and exits 1. Without a delay the last line goes to stdout too: the engine
# copies stdout and stderr concurrently, so lines written to both in the
# same instant have no defined order in its log.
exits_file() {
  local to_err='>&2'
  [ "$1" != 0 ] || to_err=''
  cat <<EOF
services:
  slow:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "sleep 6; touch /tmp/ready; exec sleep 100000"]
    init: true
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ready"]
      interval: 1s
      retries: 60
  broken:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "for i in \$\$(seq 25); do echo broken log line \$\$i; done; sleep $1; echo cannot go on $to_err; exit 1"]
EOF
}
exits() {
  local delay
  for delay in 1 0; do
    exits_file "$delay" >"$MANIFEST"
    capture b up
    note "broken exits after ${delay}s: up exited $RC; it said:"
    printf '%s\n%s\n' "$OUT" "$ERR" | sed 's/^/#   /' | tail -n 30
    [ "$RC" != 0 ] || fail "exit after ${delay}s: up exited 0 though broken exited 1"
    local all="$OUT"$'\n'"$ERR"
    grep -q 'broken' <<<"$all" || fail "exit after ${delay}s: up does not name the service"
    grep -Eiq '(exit|exited|status|code)[^0-9]{0,20}\b1\b' <<<"$all" ||
      fail "exit after ${delay}s: up does not give the exit code 1"
    grep -q 'cannot go on' <<<"$all" || fail "exit after ${delay}s: up does not show the service's last log line"
    grep -q 'broken log line 25' <<<"$all" || fail "exit after ${delay}s: up does not show the service's log"
    grep -q 'broken log line 7$' <<<"$all" || fail "exit after ${delay}s: up shows fewer than the last 20 log lines"
    ! grep -Eiq '\bis ready\b' <<<"$all" || fail "exit after ${delay}s: up says the project is ready"
    ! grep -Eiq '^ *broken\b.*\bready\b' <<<"$OUT" || fail "exit after ${delay}s: up's summary says broken is ready"
    capture b down --volumes
    [ "$RC" = 0 ] || fail "down --volumes exited $RC"
    assert_nothing_left "exits: down --volumes"
  done
}

# --- job: exit 0, no dependents, restart "no" ----------------------------------
job() {
  # app is healthy after 4 s: up is still waiting when the job exits.
  cat >"$MANIFEST" <<EOF
services:
  app:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "sleep 4; touch /tmp/ready; exec sleep 100000"]
    init: true
    healthcheck:
      test: ["CMD", "test", "-e", "/tmp/ready"]
      interval: 1s
      retries: 60
  seed:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "echo seeded; sleep 1; exit 0"]
    restart: "no"
EOF
  capture b up
  [ "$RC" = 0 ] || fail "job: up exited $RC though the job exited 0"
  local seed
  seed=$(docker ps -aq --filter "label=berth.project=$PROJECT" --filter "label=berth.service=seed")
  [ -n "$seed" ] || fail "job: no container for seed"
  poll 30 "job: seed exits" sh -c "[ \"\$(docker inspect -f '{{.State.Status}}' $seed)\" = exited ]"
  [ "$(docker inspect -f '{{.State.ExitCode}}' "$seed")" = 0 ] || fail "job: seed exited non-zero"
  grep -q seeded <<<"$(docker logs "$seed" 2>&1)" || fail "job: seed did not run"
  capture b down --volumes
  [ "$RC" = 0 ] || fail "down --volumes exited $RC"
  assert_nothing_left "job: down --volumes"
}

round "plain shape, $RUNS cold ups" plain
round "x-berth-wait: started" started
round "a service exits 1 during up" exits
round "a job exits 0" job
rounds_verdict
echo ok
