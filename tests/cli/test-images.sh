#!/usr/bin/env bash
# The local images (tests/images/) used as a user uses the official ones:
# settings written for postgres:15, redis:7, rabbitmq:3 and python:3 work
# unchanged. Servers and a python client (the runtime image) share one
# user-defined network; the client reaches each server by container name.
#
#   postgres  POSTGRES_USER/_PASSWORD/_DB, /docker-entrypoint-initdb.d (.sql
#             and .sh run once); psycopg2 reads the seeded rows; a wrong
#             password is refused; no POSTGRES_PASSWORD: exits, says so
#   redis     `redis-server --requirepass` in the arguments form: NOAUTH
#             without the password, PONG with it
#   rabbitmq  RABBITMQ_DEFAULT_USER/_PASS/_VHOST; pika publishes to a queue
#             on that vhost and gets the message back
#   all       run with --init, `docker stop -t 10` returns in under 5 s
#
# Uses the docker CLI only; builds nothing (tests/images/build.sh does).
# Everything it creates is labelled berth.test=cli-images-<pid> and removed
# on exit, failed or not.
set -euo pipefail

BERTH_SRC=${BERTH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RUN_ID=cli-images-$$
LABEL=berth.test=$RUN_ID
PREFIX=berth-$RUN_ID # container, network and volume names
READY_SECONDS=60     # bound on every server becoming ready
STOP_MAX=5           # seconds `docker stop -t 10` may take
T_START=$(date +%s.%N)

fail() { echo "FAIL: $*" >&2; exit 1; }
# the machine cannot run the test: skipped, except in CI where it fails
cannot_run() {
  echo "test-images: $*" >&2
  [ -z "${CI:-}" ] || exit 1
  exit 77
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

command -v docker >/dev/null || cannot_run "docker CLI not found"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
  cannot_run "Docker engine not reachable (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock})"

# image names: templates/images.env, overridden by the environment
names=$("$BERTH_SRC/tests/images/build.sh" --print) || fail "tests/images/build.sh --print failed"
eval "$names"
missing=()
for key in BERTH_POSTGRES_IMAGE BERTH_REDIS_IMAGE BERTH_RABBITMQ_IMAGE BERTH_RUNTIME_IMAGE; do
  [ -n "${!key:-}" ] || fail "$key not set by tests/images/build.sh --print"
  docker image inspect "${!key}" >/dev/null 2>&1 || missing+=("${!key} ($key)")
done
[ ${#missing[@]} -eq 0 ] ||
  cannot_run "image(s) missing: ${missing[*]}; run tests/images/build.sh to build them"

# --- cleanup: everything carrying our label, even on failure ----------------
TMP=
cleanup() {
  local rc=$? ids
  set +e
  mapfile -t ids < <(docker ps -aq --filter "label=$LABEL")
  # -v: also any anonymous volume (there should be none: all are named)
  [ ${#ids[@]} -eq 0 ] || docker rm -f -v "${ids[@]}" >/dev/null
  mapfile -t ids < <(docker volume ls -q --filter "label=$LABEL")
  [ ${#ids[@]} -eq 0 ] || docker volume rm -f "${ids[@]}" >/dev/null
  mapfile -t ids < <(docker network ls -q --filter "label=$LABEL")
  [ ${#ids[@]} -eq 0 ] || docker network rm "${ids[@]}" >/dev/null
  [ -z "$TMP" ] || rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-test-images.XXXXXX")

NET=$PREFIX
PG=$PREFIX-postgres
PG_NOPW=$PREFIX-postgres-nopw
REDIS=$PREFIX-redis
RABBIT=$PREFIX-rabbitmq
CLIENT=$PREFIX-client

PG_USER=berth PG_PASSWORD='pg-s3cret' PG_DB=berthdb
REDIS_PASSWORD=s3cret
MQ_USER=berth MQ_PASSWORD='mq-s3cret' MQ_VHOST=berthvh

docker network create --label "$LABEL" "$NET" >/dev/null
# named, labelled volumes at each image's VOLUME (else anonymous ones)
volume() { docker volume create --label "$LABEL" "$PREFIX-$1" >/dev/null; echo "$PREFIX-$1"; }
run() { docker run -d --init --label "$LABEL" "$@" >/dev/null; }

# --- postgres init directory, as in the official image's documentation ------
mkdir "$TMP/initdb"
cat >"$TMP/initdb/10-schema.sql" <<'EOF'
CREATE TABLE greetings (id serial PRIMARY KEY, msg text NOT NULL);
INSERT INTO greetings (msg) VALUES ('hello from 10-schema.sql');
EOF
cat >"$TMP/initdb/20-seed.sh" <<'EOF'
#!/bin/bash
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<-EOSQL
	INSERT INTO greetings (msg) VALUES ('hello from 20-seed.sh as $POSTGRES_USER');
EOSQL
EOF
# the entrypoint runs them as postgres (uid 999): world-readable
chmod 0755 "$TMP" "$TMP/initdb" "$TMP/initdb/20-seed.sh"
chmod 0644 "$TMP/initdb/10-schema.sql"

# --- start every server at once; they boot concurrently ---------------------
T_SERVERS=$(date +%s.%N)
run --name "$PG" --network "$NET" \
  -e POSTGRES_USER="$PG_USER" -e POSTGRES_PASSWORD="$PG_PASSWORD" -e POSTGRES_DB="$PG_DB" \
  -v "$(volume pgdata)":/var/lib/postgresql/data \
  -v "$TMP/initdb":/docker-entrypoint-initdb.d:ro \
  "$BERTH_POSTGRES_IMAGE"
run --name "$REDIS" --network "$NET" -v "$(volume redisdata)":/data \
  "$BERTH_REDIS_IMAGE" --requirepass "$REDIS_PASSWORD"
run --name "$RABBIT" --network "$NET" \
  -e RABBITMQ_DEFAULT_USER="$MQ_USER" -e RABBITMQ_DEFAULT_PASS="$MQ_PASSWORD" \
  -e RABBITMQ_DEFAULT_VHOST="$MQ_VHOST" \
  -v "$(volume rabbitdata)":/var/lib/rabbitmq \
  "$BERTH_RABBITMQ_IMAGE"
# the same postgres settings without POSTGRES_PASSWORD: must refuse to start
run --name "$PG_NOPW" -e POSTGRES_USER="$PG_USER" -e POSTGRES_DB="$PG_DB" \
  -v "$(volume pgdata-nopw)":/var/lib/postgresql/data \
  "$BERTH_POSTGRES_IMAGE"
# the client: configured through its environment, as an app would be
run --name "$CLIENT" --network "$NET" \
  -e PG_HOST="$PG" -e PG_USER="$PG_USER" -e PG_PASSWORD="$PG_PASSWORD" -e PG_DB="$PG_DB" \
  -e REDIS_HOST="$REDIS" -e REDIS_PASSWORD="$REDIS_PASSWORD" \
  -e AMQP_URL="amqp://$MQ_USER:$MQ_PASSWORD@$RABBIT:5672/$MQ_VHOST" \
  "$BERTH_RUNTIME_IMAGE" sleep infinity

# --- the client program (python, run in the client container) ---------------
cat >"$TMP/client.py" <<'EOF'
import logging, os, sys, time

logging.getLogger("pika").setLevel(logging.CRITICAL)  # one line per failed attempt otherwise
E = os.environ


def pg_connect(password):
    import psycopg2
    return psycopg2.connect(host=E["PG_HOST"], port=5432, user=E["PG_USER"], password=password,
                            dbname=E["PG_DB"], connect_timeout=3)


def redis_conn(password=None):
    import redis
    c = redis.Connection(host=E["REDIS_HOST"], port=6379, password=password,
                         socket_timeout=3, socket_connect_timeout=3)
    c.connect()
    return c


def amqp_connect(url):
    import pika
    p = pika.URLParameters(url)
    p.connection_attempts, p.socket_timeout, p.blocked_connection_timeout = 1, 3, 10
    return pika.BlockingConnection(p)


def probe(svc):
    if svc == "postgres":
        pg_connect(E["PG_PASSWORD"]).close()
    elif svc == "redis":
        c = redis_conn(E["REDIS_PASSWORD"])
        c.send_command("PING")
        c.read_response()
        c.disconnect()
    elif svc == "rabbitmq":
        amqp_connect(E["AMQP_URL"]).close()
    else:
        raise SystemExit("unknown service " + svc)


def wait(svc, seconds):
    """Poll until svc accepts a real client session, at most `seconds`."""
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            probe(svc)
            return
        except Exception as e:  # not up yet (refused, booting, ...)
            last = "%s: %s" % (type(e).__name__, str(e).strip() or repr(e))
        if time.monotonic() >= deadline:
            sys.exit("not ready yet, last error: " + last)
        time.sleep(0.2)


def check_postgres():
    import psycopg2
    conn = pg_connect(E["PG_PASSWORD"])
    with conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, current_database()")
        who = cur.fetchone()
        assert who == (E["PG_USER"], E["PG_DB"]), "connected as %r, want %r" % (who, (E["PG_USER"], E["PG_DB"]))
        cur.execute("SELECT msg FROM greetings ORDER BY id")
        rows = [r[0] for r in cur.fetchall()]
    conn.close()
    want = ["hello from 10-schema.sql", "hello from 20-seed.sh as " + E["PG_USER"]]
    assert rows == want, "initdb rows %r, want %r" % (rows, want)
    try:
        pg_connect("not-" + E["PG_PASSWORD"]).close()
    except psycopg2.OperationalError as e:
        assert "password authentication failed" in str(e), "wrong password refused, but: %s" % e
    else:
        raise AssertionError("a wrong password was accepted")
    print("postgres: %s@%s rows %r; wrong password refused" % (E["PG_USER"], E["PG_DB"], rows))


def check_redis():
    import redis
    c = redis_conn()
    c.send_command("PING")
    try:
        r = c.read_response()
    except redis.exceptions.AuthenticationError as e:
        noauth = str(e)
    else:
        raise AssertionError("PING without the password answered %r" % (r,))
    finally:
        c.disconnect()
    try:
        redis_conn("not-" + E["REDIS_PASSWORD"]).disconnect()
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as e:
        # redis 7 answers WRONGPASS, which redis-py 4.3 raises as ResponseError
        assert "WRONGPASS" in str(e) or "invalid" in str(e), "wrong password refused, but: %s" % e
    else:
        raise AssertionError("a wrong password was accepted")
    c = redis_conn(E["REDIS_PASSWORD"])
    c.send_command("PING")
    pong = c.read_response()
    c.disconnect()
    assert pong in (b"PONG", "PONG"), "PING answered %r" % (pong,)
    r = redis.Redis(host=E["REDIS_HOST"], password=E["REDIS_PASSWORD"], socket_timeout=3)
    r.set("berth:test", "v1")
    assert r.get("berth:test") == b"v1"
    print("redis: without password %r; with it %s" % (noauth, pong.decode()))


def check_rabbitmq():
    import pika
    conn = amqp_connect(E["AMQP_URL"])
    ch = conn.channel()
    ch.confirm_delivery()  # publish returns once the broker has the message
    q = "berth-test"
    ch.queue_declare(queue=q)
    body = ("hello %d" % os.getpid()).encode()
    ch.basic_publish(exchange="", routing_key=q, body=body,
                     properties=pika.BasicProperties(content_type="text/plain"), mandatory=True)
    got = None
    for _ in range(50):
        method, props, got = ch.basic_get(queue=q, auto_ack=True)
        if method is not None:
            break
        time.sleep(0.1)
    assert got == body, "got back %r, want %r" % (got, body)
    conn.close()
    print("rabbitmq: %s: published and got back %r" % (E["AMQP_URL"].split("@")[1], got.decode()))


cmd = sys.argv[1]
if cmd == "wait":
    wait(sys.argv[2], sys.argv[3])
else:
    try:
        globals()["check_" + cmd]()
    except AssertionError as e:
        sys.exit(str(e))
EOF

client() { docker exec -i "$CLIENT" python3 - "$@" <"$TMP/client.py"; }

logs() { # CONTAINER: its last 30 log lines, on stderr
  echo "--- last 30 log lines of $1:" >&2
  docker logs --tail 30 "$1" 2>&1 | sed 's/^/  | /' >&2 || true
}

DEADLINE=$(awk -v t="$T_SERVERS" -v s="$READY_SECONDS" 'BEGIN { printf "%d", t + s }')
wait_ready() { # SERVICE CONTAINER
  local svc=$1 ctr=$2 state left out=
  while :; do
    state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$ctr")
    if [ "${state%% *}" != running ]; then
      logs "$ctr"
      fail "$svc: container stopped before accepting connections (status ${state% *}, exit code ${state#* })"
    fi
    left=$((DEADLINE - $(date +%s)))
    if [ "$left" -le 0 ]; then
      logs "$ctr"
      fail "$svc: not ready ${READY_SECONDS} s after start${out:+ ($out)}"
    fi
    # poll in slices, so a server that died is noticed within seconds
    out=$(client wait "$svc" "$((left < 5 ? left : 5))" 2>&1) && break
    out=$(tail -n 1 <<<"$out")
  done
  echo "$svc: ready $(since "$T_SERVERS") s after start"
}

check() { # SERVICE CONTAINER
  local out
  out=$(client "$1" 2>&1) || { echo "$out" >&2; logs "$2"; fail "$1: ${out##*$'\n'}"; }
  echo "$out"
}

wait_ready postgres "$PG"
check postgres "$PG"
wait_ready redis "$REDIS"
check redis "$REDIS"
wait_ready rabbitmq "$RABBIT"
check rabbitmq "$RABBIT"

# --- postgres without POSTGRES_PASSWORD: exits non-zero, says why -----------
code=$(timeout 60 docker wait "$PG_NOPW") || {
  logs "$PG_NOPW"
  fail "postgres without POSTGRES_PASSWORD: still running after 60 s"
}
out=$(docker logs "$PG_NOPW" 2>&1)
[ "$code" != 0 ] || { logs "$PG_NOPW"; fail "postgres without POSTGRES_PASSWORD exited 0"; }
grep -q POSTGRES_PASSWORD <<<"$out" || {
  logs "$PG_NOPW"
  fail "postgres without POSTGRES_PASSWORD: exit $code, but POSTGRES_PASSWORD not mentioned"
}
echo "postgres without POSTGRES_PASSWORD: exit $code, $(grep -m1 POSTGRES_PASSWORD <<<"$out" | sed 's/^ *//')"

# --- docker stop: the stop signal reaches the server through --init ---------
for ctr in "$PG" "$REDIS" "$RABBIT"; do
  t0=$(date +%s.%N)
  docker stop -t 10 "$ctr" >/dev/null
  took=$(since "$t0")
  code=$(docker inspect -f '{{.State.ExitCode}}' "$ctr")
  echo "${ctr#"$PREFIX-"}: docker stop took $took s, exit code $code"
  if awk -v t="$took" -v m="$STOP_MAX" 'BEGIN { exit !(t > m) }'; then
    logs "$ctr"
    fail "${ctr#"$PREFIX-"}: docker stop -t 10 took $took s (limit $STOP_MAX s): did the stop signal reach the server?"
  fi
done

echo "all in $(since "$T_START") s"
echo "ok"
