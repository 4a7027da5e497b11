#!/usr/bin/env bash
# Ready means ready, measured: a service with N replicas connects ONCE at
# start to PostgreSQL, Redis and RabbitMQ, with no retry, and logs whether
# that first attempt worked. berth (protocol readiness and provisioning)
# against docker-compose 1.29 with the usual healthchecks (pg_isready,
# redis-cli ping, rabbitmq-diagnostics -q ping), in the same run, from a
# cold start each round (fresh volumes). How many replicas failed their
# first connection is the result; tests/cli/test-engine-readiness.sh
# asserts berth's side (none fail), this script only measures both.
#
#   bench/readiness.sh [ROUNDS] [REPLICAS]      (default 3 and 20)
# Needs: the Docker engine, docker-compose (Debian package), python3,
# build/berth and the berth-local/* images.
# Writes bench/results/readiness.json and readiness.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${1:-3}
n=${2:-20}
berth=${BERTH:-$root/build/berth}
[ -x "$berth" ] || { echo "build berth first: cmake --build build" >&2; exit 1; }
for t in docker-compose docker python3; do
  command -v "$t" >/dev/null || { echo "$t is missing (apt-get install $t)" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer" >&2; exit 1; }
# shellcheck source=/dev/null
. <(grep -E '^BERTH_[A-Z_]+=' "$root/templates/images.env" | sed 's/^/: ${/; s/=/:=/; s/$/}/')
export BERTH_POSTGRES_IMAGE BERTH_REDIS_IMAGE BERTH_RABBITMQ_IMAGE BERTH_RUNTIME_IMAGE

work=$(mktemp -d /tmp/bench-readiness.XXXXXX)
export BERTH_STATE_DIR=$work/state NO_COLOR=1
mkdir -p "$BERTH_STATE_DIR"
bp=bench-ready-berth
cp=bench-ready-compose
samples=$work/samples.jsonl
log=$work/log
: >"$samples"
say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The same prober as tests/cli/test-engine-readiness.sh.
cp "$root/tests/cli/readiness-prober.py" "$work/prober.py"
chmod 0644 "$work/prober.py"

cat >"$work/berth.yaml" <<EOF
infra:
  db: {kind: postgres, databases: [{name: app, owner: app}]}
  cache: {kind: redis}
  mq: {kind: rabbitmq, vhosts: [app], users: [{name: app, permissions: {app: {}}}]}
services:
  prober:
    image: $BERTH_RUNTIME_IMAGE
    command: ["python3", "-u", "/srv/prober.py"]
    volumes: ["./prober.py:/srv/prober.py:ro"]
    replicas: $n
    restart: "no"
    uses: {db: {database: app}, cache: {}, mq: {vhost: app}}
EOF
cat >"$work/docker-compose.yml" <<EOF
version: "2.4"
services:
  db:
    image: $BERTH_POSTGRES_IMAGE
    environment: {POSTGRES_PASSWORD: pw}
    healthcheck: {test: ["CMD", "pg_isready", "-U", "postgres"], interval: 1s, retries: 120}
  cache:
    image: $BERTH_REDIS_IMAGE
    healthcheck: {test: ["CMD", "redis-cli", "ping"], interval: 1s, retries: 120}
  mq:
    image: $BERTH_RABBITMQ_IMAGE
    environment: {RABBITMQ_DEFAULT_USER: app, RABBITMQ_DEFAULT_PASS: app}
    healthcheck: {test: ["CMD", "rabbitmq-diagnostics", "-q", "ping"], interval: 1s, retries: 120}
  prober:
    image: $BERTH_RUNTIME_IMAGE
    command: ["python3", "-u", "/srv/prober.py"]
    volumes: ["./prober.py:/srv/prober.py:ro"]
    restart: "no"
    environment:
      DATABASE_URL: postgres://postgres:pw@db:5432/postgres
      REDIS_URL: redis://cache:6379/0
      AMQP_URL: amqp://app:app@mq:5672/%2F
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_healthy}
      mq: {condition: service_healthy}
EOF
B=("$berth" -p "$bp" -f "$work/berth.yaml")
C=(docker-compose -p "$cp" -f "$work/docker-compose.yml")

cleanup() {
  local rc=$?
  set +e
  "${B[@]}" down --volumes >>"$log" 2>&1
  (cd "$work" && "${C[@]}" down -v -t 2 >>"$log" 2>&1)
  if [ "$rc" -ne 0 ]; then
    echo "failed (exit $rc); last lines of $log:" >&2
    tail -n 30 "$log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# counts LOGS-COMMAND...: "connected failed" of the prober replicas
counts() {
  local out
  out=$("$@" 2>/dev/null || true)
  echo "$(grep -c 'CONNECTED' <<<"$out" || true) $(grep -c 'FAILED' <<<"$out" || true)"
}
# wait_reported LOGS-COMMAND...: until every replica has said how it went (60 s at most)
wait_reported() {
  local i c f
  for i in $(seq 300); do
    read -r c f < <(counts "$@")
    [ $((c + f)) -lt "$n" ] || return 0
    sleep 0.2
  done
}
record() { # TOOL ROUND UP_MS CONNECTED FAILED
  printf '{"tool":"%s","round":%s,"up_ms":%s,"connected":%s,"failed":%s}\n' "$@" >>"$samples"
}
now_ms() { date +%s%3N; }

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for r in $(seq "$rounds"); do
  say "round $r: berth cold up"
  "${B[@]}" down --volumes >>"$log" 2>&1 || true
  t=$(now_ms)
  "${B[@]}" up >>"$log" 2>&1
  up=$(($(now_ms) - t))
  wait_reported "${B[@]}" logs prober
  read -r c f < <(counts "${B[@]}" logs prober)
  record berth "$r" "$up" "$c" "$f"
  "${B[@]}" down --volumes >>"$log" 2>&1

  say "round $r: docker-compose cold up"
  (cd "$work" && "${C[@]}" down -v -t 2 >>"$log" 2>&1) || true
  t=$(now_ms)
  (cd "$work" && timeout 180 "${C[@]}" up -d --scale prober="$n" >>"$log" 2>&1) || true
  up=$(($(now_ms) - t))
  wait_reported "${C[@]}" logs --no-color prober
  read -r c f < <(counts "${C[@]}" logs --no-color prober)
  record compose "$r" "$up" "$c" "$f"
  (cd "$work" && "${C[@]}" down -v -t 2 >>"$log" 2>&1) || true
done
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

python3 - "$samples" "$root/bench/results" "$rounds" "$n" "$started" "$finished" <<'PY'
import json, statistics as st, subprocess, sys
samples, out, rounds, n, started, finished = sys.argv[1:]
S = [json.loads(l) for l in open(samples)]
def sh(c):
    return subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()
def col(tool, k):
    return [s[k] for s in S if s["tool"] == tool]
rows = []
for tool, name in (("berth", "berth (protocol readiness)"), ("compose", "docker-compose 1.29 (healthchecks)")):
    ups, ok, bad = col(tool, "up_ms"), col(tool, "connected"), col(tool, "failed")
    rows.append(f"| {name} | {st.median(ups):.0f} ms | {sum(ok)} | {sum(bad)} | {', '.join(map(str, bad))} |")
engine_version = sh("docker version -f '{{.Server.Version}}'")
machine = f"{sh('nproc')} CPUs, Docker Engine {engine_version}, docker-compose {sh('docker-compose version --short')}"
md = f"""# First connections after a cold up: berth vs docker-compose 1.29

A service with {n} replicas connects once at start, with no retry, to
PostgreSQL, Redis and RabbitMQ and logs whether that worked. berth waits
for each server's protocol and provisions the database, vhost and users;
docker-compose waits for the usual healthchecks (pg_isready, redis-cli ping,
rabbitmq-diagnostics -q ping, every 1 s). {rounds} rounds, each a cold start
(fresh volumes), the tools one after the other in the same run.

| tool | up, median | replicas connected (all rounds) | failed their first connection | failed per round |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

"up" is the command's own wall time (berth up returns when everything is
ready; docker-compose up -d returns once the healthchecks passed and the
replicas started). Machine: {machine}; {started} to {finished}.
Reproduce: `bench/readiness.sh {rounds} {n}`. Raw samples: readiness.json.
"""
json.dump({"benchmark": "readiness", "reproduce": f"bench/readiness.sh {rounds} {n}",
           "started": started, "finished": finished, "samples": S}, open(f"{out}/readiness.json", "w"), indent=1)
open(f"{out}/readiness.md", "w").write(md)
print(md)
PY
