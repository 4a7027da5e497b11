#!/usr/bin/env bash
# The life of a stack on the real engine, as a user drives it: built-in
# postgres (a database with an owner, schemas and an extension), redis and
# rabbitmq (two vhosts), a python service `app` that uses all three and
# answers HTTP, and a `worker` that calls app by its service name.
#
#   up (cold)  exit 0, summary with URLs; the app connected to every infra
#              (its HTTP answer says so); the worker reached app by DNS on its
#              first try (app was ready before the worker started)
#   ps         every unit running; URLs on 127.0.0.1; ports bound to 127.0.0.1
#   logs       the app's output with its prefix
#   exec       exit code passed through; DATABASE_URL/REDIS_URL/AMQP_URL
#   infra      database, owner, schemas, extension, vhosts really exist
#   env        host URLs that work from the host (a client on the host network)
#   up again   nothing changes: same container ids, "unchanged"
#   change     an environment change recreates app only (infra ids kept)
#   stop/start/restart app
#   down       dependents stop before what they depend on (engine events);
#              containers and networks removed, named volumes kept: a row
#              written before down is there after the next up
#   down --volumes   nothing of the project left
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test life

APP_PORT=$(free_port)
cat >"$WORK/app.py" <<'EOF'
# Connects once to postgres, redis and rabbitmq at start (no retry: a
# failure exits 1), then serves HTTP: / reports what it reached.
import http.server, json, os, sys
import pika, psycopg2, redis

try:
    pg = psycopg2.connect(os.environ["DATABASE_URL"])
    pg.autocommit = True
    with pg.cursor() as c:
        c.execute("CREATE TABLE IF NOT EXISTS orders.visits (note text)")
        c.execute("INSERT INTO orders.visits VALUES ('app started')")
        c.execute("SELECT current_user, current_database()")
        pg_who = "%s@%s" % c.fetchone()
    r = redis.Redis.from_url(os.environ["REDIS_URL"])
    r.incr("app:starts")
    mq = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
    ch = mq.channel()
    ch.queue_declare("app-events")
    ch.basic_publish("", "app-events", b"started")
    mq.close()
except Exception as e:
    print("app: cannot connect: %s: %s" % (type(e).__name__, e), flush=True)
    sys.exit(1)
print("app: connected to postgres (%s), redis and rabbitmq" % pg_who, flush=True)


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
        else:
            with pg.cursor() as c:
                c.execute("SELECT count(*) FROM orders.visits")
                visits = c.fetchone()[0]
            body = json.dumps({"postgres": pg_who, "visits": visits,
                               "redis": r.ping(), "rabbitmq": "published",
                               "greeting": os.environ.get("GREETING")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


http.server.HTTPServer(("", 8000), H).serve_forever()
EOF
cat >"$WORK/worker.py" <<'EOF'
# Calls app by its service name once at start; exits 1 if that fails.
import sys, time, urllib.request
try:
    body = urllib.request.urlopen("http://app:8000/", timeout=5).read().decode()
except Exception as e:
    print("worker: app unreachable: %s" % e, flush=True)
    sys.exit(1)
print("worker: app answered %s" % body, flush=True)
time.sleep(100000)
EOF
chmod 0644 "$WORK/app.py" "$WORK/worker.py"

write_manifest() { # $1: the app's GREETING
  cat >"$MANIFEST" <<EOF
infra:
  db:
    kind: postgres
    databases:
      - name: shop
        owner: shop
        schemas: [orders, billing]
        extensions: [pgcrypto]
  cache:
    kind: redis
  mq:
    kind: rabbitmq
    vhosts: [shop, audit]
services:
  app:
    image: $RUNTIME_IMAGE
    command: ["python3", "-u", "/srv/app.py"]
    volumes: ["./app.py:/srv/app.py:ro"]
    environment:
      GREETING: $1
    ports: ["$APP_PORT:8000"]
    depends_on:
      db: {condition: healthy}
      cache: {condition: healthy}
      mq: {condition: healthy}
    uses:
      db: {database: shop}
      cache: {}
      mq: {vhost: shop}
    probe:
      http: {path: /health, port: 8000}
      interval: 200ms
  worker:
    image: $RUNTIME_IMAGE
    command: ["python3", "-u", "/srv/worker.py"]
    volumes: ["./worker.py:/srv/worker.py:ro"]
    depends_on:
      app: {condition: healthy}
EOF
}
write_manifest hello
UNITS="app cache db mq worker"

app_get() { curl -sf --max-time 5 "http://127.0.0.1:$APP_PORT/"; }
# the units' state, "service=state" sorted
states() { containers | awk '{ printf "%s=%s ", $1, $3 }'; }
all_running() { [ "$(states)" = "app=running cache=running db=running mq=running worker=running " ]; }

# --- up, cold ---------------------------------------------------------------
t=$(date +%s.%N)
capture b up
[ "$RC" = 0 ] || fail "cold up exited $RC"
note "cold up: $(since "$t") s"
grep -q "^$PROJECT is ready in " <<<"$OUT" || fail "no summary line"
for u in $UNITS; do
  grep -Eq "^  $u +running" <<<"$OUT" || fail "summary has no running $u"
done
grep -Eq "^  app +running +http://127\.0\.0\.1:$APP_PORT\$" <<<"$OUT" || fail "summary: app URL"
grep -Eq "^  db +running +postgres://127\.0\.0\.1:[0-9]+\$" <<<"$OUT" || fail "summary: db URL"
all_running || fail "after up: $(states)"
[ "$(n_containers)" = 5 ] || fail "expected 5 containers: $(containers)"

# The app answers and says it reached every infra; the worker reached it.
capture app_get
[ "$RC" = 0 ] || fail "GET http://127.0.0.1:$APP_PORT/ failed"
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["postgres"] == "shop@shop" and d["redis"] is True and d["greeting"] == "hello", d
assert d["visits"] >= 1, d' "$OUT" || fail "app report: $OUT"
worker_called() { b logs worker | grep -q 'worker: app answered'; }
poll 30 "the worker logs its call to app" worker_called

# --- ps ---------------------------------------------------------------------
capture b ps
[ "$RC" = 0 ] || fail "ps exited $RC"
for u in $UNITS; do
  grep -Eq "^$u +running " <<<"$OUT" || fail "ps: $u not running"
done
capture b ps --json
[ "$RC" = 0 ] || fail "ps --json exited $RC"
python3 - "$OUT" "$APP_PORT" <<'EOF' || fail "ps --json: $OUT"
import json, re, sys
units = {u["service"]: u for u in json.loads(sys.argv[1])}
assert sorted(units) == ["app", "cache", "db", "mq", "worker"], sorted(units)
for name, u in units.items():
    assert u["state"] == "running", u
    assert u["replica"] == 1 and u["container"] and u["id"], u
    for url in u["urls"]:
        assert re.fullmatch(r"[a-z]+://127\.0\.0\.1:\d+", url), url
assert units["app"]["urls"] == ["http://127.0.0.1:%s" % sys.argv[2]], units["app"]
for name, scheme in (("db", "postgres"), ("cache", "redis"), ("mq", "amqp")):
    assert len(units[name]["urls"]) == 1 and units[name]["urls"][0].startswith(scheme + "://"), units[name]
assert units["worker"]["urls"] == [], units["worker"]
EOF
# Published ports bind to 127.0.0.1 only.
for id in $(docker ps -q --filter "label=berth.project=$PROJECT"); do
  ips=$(docker inspect -f '{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIp}} {{end}}{{end}}' "$id")
  for ip in $ips; do
    [ "$ip" = 127.0.0.1 ] || fail "container $id publishes on $ip"
  done
done

# Every container runs with an init process (signals reach the program; a
# stop does not wait for the kill timeout).
for id in $(docker ps -q --filter "label=berth.project=$PROJECT"); do
  [ "$(docker inspect -f '{{.HostConfig.Init}}' "$id")" = true ] || fail "container $id runs without init"
done

# --- logs -------------------------------------------------------------------
capture b logs app
[ "$RC" = 0 ] || fail "logs app exited $RC"
grep -Eq '^app +\| app: connected to postgres \(shop@shop\), redis and rabbitmq$' <<<"$OUT" ||
  fail "logs app: no prefixed line"
! grep -q "worker:" <<<"$OUT" || fail "logs app shows the worker's output"
capture b logs
grep -Eq '^worker +\| worker: app answered' <<<"$OUT" || fail "logs: no worker line"
grep -Eq '^app +\| app: connected' <<<"$OUT" || fail "logs: no app line"
# one aligned prefix per service: the bar in the same column on every line
[ "$(awk -F'|' '{ print length($1) }' <<<"$OUT" | sort -u | wc -l)" = 1 ] || fail "logs: prefixes not aligned"

# --- exec -------------------------------------------------------------------
capture b exec app -- sh -c 'exit 7'
[ "$RC" = 7 ] || fail "exec exit 7 gave $RC"
capture b exec app -- printenv DATABASE_URL
[ "$RC" = 0 ] || fail "exec printenv exited $RC"
grep -Eq '^postgres://shop:[^@]+@db:5432/shop$' <<<"$OUT" || fail "DATABASE_URL is $OUT"
capture b exec app -- printenv REDIS_URL AMQP_URL
grep -Eq '^redis://:[^@]+@cache:6379/0$' <<<"$OUT" || fail "REDIS_URL: $OUT"
grep -Eq '^amqp://[^:]+:[^@]+@mq:5672/shop$' <<<"$OUT" || fail "AMQP_URL: $OUT"

# --- what provisioning made really exists -----------------------------------
capture b exec db -- psql -U postgres -d shop -Atc "
  SELECT 'db:' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop';
  SELECT 'schema:' || nspname || ':' || pg_get_userbyid(nspowner) FROM pg_namespace
    WHERE nspname IN ('orders', 'billing') ORDER BY nspname;
  SELECT 'ext:' || extname FROM pg_extension WHERE extname = 'pgcrypto';"
[ "$RC" = 0 ] || fail "psql in db exited $RC"
[ "$OUT" = $'db:shop\nschema:billing:shop\nschema:orders:shop\next:pgcrypto' ] ||
  fail "postgres provisioning: got $OUT"
capture b exec mq -- rabbitmqctl -q list_vhosts
grep -qx shop <<<"$OUT" && grep -qx audit <<<"$OUT" || fail "vhosts: $OUT"

# --- env: host-side URLs that work from the host ----------------------------
capture b env
[ "$RC" = 0 ] || fail "env exited $RC"
grep -Eq "^DB_DATABASE_URL='postgres://shop:[^@]+@127\.0\.0\.1:[0-9]+/shop'\$" <<<"$OUT" ||
  fail "env: DB_DATABASE_URL"
grep -Eq "^CACHE_REDIS_URL='redis://:[^@]+@127\.0\.0\.1:[0-9]+/0'\$" <<<"$OUT" || fail "env: CACHE_REDIS_URL"
grep -Eq "^MQ_AMQP_URL='amqp://[^@]+@127\.0\.0\.1:[0-9]+/shop'\$" <<<"$OUT" || fail "env: MQ_AMQP_URL"
capture b env app
[ "$RC" = 0 ] || fail "env app exited $RC"
env_app=$OUT
(
  set -a; eval "$env_app"; set +a
  [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ] && [ -n "${AMQP_URL:-}" ] ||
    fail "env app lacks a variable: $env_app"
  # the host has no psycopg2: a client on the host's network namespace
  docker run --rm --network host --label "berth.test=$PROJECT" \
    -e DATABASE_URL -e REDIS_URL -e AMQP_URL "$RUNTIME_IMAGE" python3 -c '
import os, pika, psycopg2, redis
c = psycopg2.connect(os.environ["DATABASE_URL"]).cursor()
c.execute("SELECT count(*) FROM orders.visits")
assert c.fetchone()[0] >= 1
assert redis.Redis.from_url(os.environ["REDIS_URL"]).get("app:starts") is not None
pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"])).close()
print("host client ok")' || fail "the URLs of berth env app do not work from the host: $env_app"
)

# --- up again: nothing changes ----------------------------------------------
before=$(container_ids)
t=$(date +%s.%N)
capture b up
[ "$RC" = 0 ] || fail "second up exited $RC"
note "no-op up: $(since "$t") s"
[ "$(container_ids)" = "$before" ] || fail "second up changed containers: $before -> $(container_ids)"
for u in $UNITS; do
  grep -Eq "^$u +unchanged " <<<"$ERR" || fail "second up does not say $u is unchanged"
done
! grep -Eq " (creating|starting|provisioning|stopping) " <<<"$ERR" || fail "second up acted"

# --- an environment change recreates app only -------------------------------
write_manifest hola
capture b up
[ "$RC" = 0 ] || fail "up after an environment change exited $RC"
after=$(container_ids)
for u in db cache mq; do
  [ "$(grep "^$u-1 " <<<"$after")" = "$(grep "^$u-1 " <<<"$before")" ] ||
    fail "$u was recreated for a change of app: $before -> $after"
done
[ "$(grep '^app-1 ' <<<"$after")" != "$(grep '^app-1 ' <<<"$before")" ] || fail "app not recreated"
grep -Eq "^app +creating +recreating" <<<"$ERR" || fail "up does not say it recreates app"
[ "$(n_containers)" = 5 ] || fail "containers after recreate: $(containers)"
all_running || fail "after recreate: $(states)"
capture app_get
grep -q '"greeting": "hola"' <<<"$OUT" || fail "app does not run with the new environment: $OUT"
if [ "$(grep '^worker-1 ' <<<"$after")" = "$(grep '^worker-1 ' <<<"$before")" ]; then
  note "worker (depends on app) kept its container"
else
  note "worker (depends on app) was recreated too"
fi

# --- stop, start, restart ---------------------------------------------------
app_id=$(id_of app)
capture b stop app
[ "$RC" = 0 ] || fail "stop app exited $RC"
[ "$(docker inspect -f '{{.State.Status}}' "$app_id")" = exited ] || fail "app not stopped"
for u in db cache mq; do
  [ "$(docker inspect -f '{{.State.Status}}' "$(id_of $u)")" = running ] || fail "stop app stopped $u"
done
capture b ps
grep -Eq '^app +exited ' <<<"$OUT" || fail "ps after stop: $OUT"
! app_get >/dev/null 2>&1 || fail "app still answers after stop"
capture b start app
[ "$RC" = 0 ] || fail "start app exited $RC"
[ "$(id_of app)" = "$app_id" ] || fail "start recreated app instead of starting it"
app_get >/dev/null || fail "app does not answer after start"
started=$(docker inspect -f '{{.State.StartedAt}}' "$app_id")
capture b restart app
[ "$RC" = 0 ] || fail "restart app exited $RC"
[ "$(id_of app)" = "$app_id" ] || fail "restart recreated app"
[ "$(docker inspect -f '{{.State.StartedAt}}' "$app_id")" != "$started" ] || fail "restart did not restart app"
app_get >/dev/null || fail "app does not answer after restart"
all_running || fail "after restart: $(states)"

# --- down: dependents first; volumes kept -----------------------------------
capture b exec db -- psql -U postgres -d shop -c "INSERT INTO orders.visits VALUES ('before down $$')"
[ "$RC" = 0 ] || fail "insert before down"
t_down=$(date +%s.%N)
capture b down
[ "$RC" = 0 ] || fail "down exited $RC"
t_end=$(date +%s.%N)
note "down: $(since "$t_down") s"
[ "$(n_containers)" = 0 ] || fail "down left containers: $(containers)"
[ "$(n_networks)" = 0 ] || fail "down left networks"
vols=$(docker volume ls -q --filter "label=berth.project=$PROJECT" | sort | tr '\n' ' ')
[ "$vols" = "${PROJECT}_cache-data ${PROJECT}_db-data ${PROJECT}_mq-data " ] ||
  fail "down must keep the named volumes; have: $vols"
# Order, from the engine's events: worker gone before app is signalled, app
# gone before any infra is signalled.
events=$(timeout 20 docker events --since "$t_down" --until "$(awk -v t="$t_end" 'BEGIN { printf "%.3f", t + 1 }')" \
  --filter "label=berth.project=$PROJECT" --filter type=container \
  --filter event=kill --filter event=die \
  --format '{{.TimeNano}} {{.Action}} {{index .Actor.Attributes "berth.service"}}')
python3 - "$events" <<'EOF' || fail "down order; events:"$'\n'"$events"
import sys
first_kill, last_die = {}, {}
for line in sys.argv[1].splitlines():
    t, action, svc = line.split()
    t = int(t)
    if action == "kill":
        first_kill[svc] = min(first_kill.get(svc, t), t)
    elif action == "die":
        last_die[svc] = max(last_die.get(svc, 0), t)
assert sorted(last_die) == ["app", "cache", "db", "mq", "worker"], last_die
assert last_die["worker"] < first_kill["app"], "app signalled before worker was gone"
for infra in ("db", "cache", "mq"):
    assert last_die["app"] < first_kill[infra], infra + " signalled before app was gone"
kills = [first_kill[i] for i in ("db", "cache", "mq")]
print("# infra stopped in parallel: %s (signals %.0f ms apart, first exit %.0f ms after the first signal)" % (
    max(kills) < min(last_die[i] for i in ("db", "cache", "mq")),
    (max(kills) - min(kills)) / 1e6, (min(last_die[i] for i in ("db", "cache", "mq")) - min(kills)) / 1e6))
EOF

# --- up after down: the data survived ---------------------------------------
t=$(date +%s.%N)
capture b up
[ "$RC" = 0 ] || fail "up after down exited $RC"
note "up over kept volumes: $(since "$t") s"
all_running || fail "after up over kept volumes: $(states)"
capture b exec db -- psql -U postgres -d shop -Atc "SELECT count(*) FROM orders.visits WHERE note = 'before down $$'"
[ "$OUT" = 1 ] || fail "the row written before down is gone (got '$OUT')"
capture app_get
python3 -c 'import json,sys; d = json.loads(sys.argv[1]); assert d["visits"] >= 4, d' "$OUT" ||
  fail "app after down/up: $OUT"

# --- down --volumes: nothing left -------------------------------------------
t=$(date +%s.%N)
capture b down --volumes
[ "$RC" = 0 ] || fail "down --volumes exited $RC"
note "down --volumes: $(since "$t") s"
assert_nothing_left "down --volumes"
[ -z "$(docker volume ls -q --filter "name=^${PROJECT}_")" ] || fail "volumes named after the project remain"
echo ok
