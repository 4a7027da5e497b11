#!/usr/bin/env bash
# How long reading a large manifest takes: berth config -q against
# docker-compose 1.29 config -q, on the same generated 200-service Compose
# file, in the same run. Medians of repeated runs (hyperfine), plus
# berth's own in-process parse time without process start-up.
#
#   bench/manifest-parse.sh [SERVICES]      (default 200)
# Needs: hyperfine, docker-compose (Debian packages), build/berth.
# Writes bench/results/manifest-parse.md.
#
#   bench/manifest-parse.sh --scale [N...]  (default 1000 10000 50000)
# How the time grows with the number of services (issue 10: loading was
# quadratic, 50,000 services took 34 s; the target is under 1 s): each N
# services with an image, one environment entry and a depends_on on the
# one before, read by berth config -q; with BERTH_BEFORE=/path/to/berth,
# that binary too, in the same run. Writes bench/results/manifest-scale.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
berth=${BERTH:-$root/build/berth}
[ -x "$berth" ] || { echo "build berth first: cmake --build build" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "apt-get install hyperfine" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "${1:-}" = --scale ]; then
  shift
  sizes=("$@")
  [ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
  cmds=()
  for n in "${sizes[@]}"; do
    python3 - "$n" >"$work/s$n.yaml" <<'PY'
import sys
n = int(sys.argv[1])
print("services:")
for i in range(n):
    print(f"  s{i}:\n    image: registry.example.com/svc:{i}\n    environment: [SERVICE=s{i}]")
    if i:
        print(f"    depends_on: [s{i - 1}]")
PY
    cmds+=(-n "berth $n" "$berth -f $work/s$n.yaml config -q")
    if [ -n "${BERTH_BEFORE:-}" ]; then
      cmds+=(-n "before $n" "$BERTH_BEFORE -f $work/s$n.yaml config -q")
    fi
  done
  # Few runs: the quadratic binary takes half a minute at 50,000.
  hyperfine -N --warmup 1 --runs 5 --export-json "$work/h.json" "${cmds[@]}" >/dev/null
  python3 - "$work/h.json" "$root/bench/results/manifest-scale.md" "${BERTH_BEFORE:-}" <<'PY'
import json, sys, platform, subprocess, datetime
h, out, before = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
note = f'; "before" is {before}' if before else ""
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
rows = "\n".join(
    f"| {r['command']} | {r['median']*1000:.0f} | {r['user']*1000:.0f} | {min(r['times'])*1000:.0f} | {max(r['times'])*1000:.0f} |"
    for r in h["results"])
text = f"""# Reading N services: how the time grows

Generated Compose files: N services, each with an image, one environment
entry and a depends_on on the one before. `berth -f FILE config -q`, whole
process (start-up included), median of 5 runs after one warm-up, all in the
same run{note}.

| command | median ms | user ms | min ms | max ms |
| --- | --- | --- | --- | --- |
{rows}

Target (issue 10): 50,000 services in under 1 s.

Machine: {cpu}, {platform.system()} {platform.release()}; {datetime.date.today()}.
Reproduce: `bench/manifest-parse.sh --scale` (BERTH_BEFORE=path/to/old/berth
to compare).
"""
open(out, "w").write(text)
print(text)
PY
  exit 0
fi

n=${1:-200}

# A realistic service: build or image, env, ports, volumes, depends_on with
# conditions, healthcheck, labels, networks.
python3 - "$n" >"$work/compose.yaml" <<'PY'
import sys
n = int(sys.argv[1])
print("services:")
for i in range(n):
    dep = ("      svc%d:\n        condition: service_started" % (i - 1)) if i else ""
    print(f"""  svc{i}:
    image: registry.example.com/team/svc{i}:1.{i}
    command: ["node", "server.js", "--port", "{3000 + i}"]
    environment:
      NODE_ENV: development
      SERVICE_NAME: svc{i}
      DATABASE_URL: postgres://app:${{DB_PASSWORD:-dev}}@db:5432/svc{i}
      LOG_LEVEL: ${{LOG_LEVEL:-info}}
    ports:
      - "{10000 + i}:{3000 + i}"
    volumes:
      - ./src/svc{i}:/app/src:ro
      - data{i}:/data
    depends_on:
      db:
        condition: service_healthy
{dep}
    healthcheck:
      test: ["CMD-SHELL", "curl -fs http://localhost:{3000 + i}/health"]
      interval: 5s
      timeout: 2s
      retries: 10
    labels:
      team: platform
      tier: "{i % 3}"
    networks: [backend]""")
print("""  db:
    image: postgres:15-alpine
    environment: {POSTGRES_PASSWORD: dev}
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
      interval: 2s
    networks: [backend]
networks:
  backend: {}
volumes:""")
for i in range(n):
    print(f"  data{i}: {{}}")
PY
lines=$(wc -l <"$work/compose.yaml")
cd "$work"
peer=()
if command -v docker-compose >/dev/null; then
  peer=(-n "docker-compose 1.29 config -q" "docker-compose -f compose.yaml config -q")
fi
hyperfine -N --warmup 3 --runs 30 --export-json "$work/h.json" \
  -n "berth config -q" "$berth -f compose.yaml config -q" \
  -n "berth config --json" "$berth -f compose.yaml config --json" \
  "${peer[@]}" >/dev/null
python3 - "$work/h.json" "$n" "$lines" "$root/bench/results/manifest-parse.md" <<'PY'
import json, sys, platform, subprocess, datetime
h = json.load(open(sys.argv[1]))
n, lines, out = sys.argv[2], sys.argv[3], sys.argv[4]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
rows = "\n".join(
    f"| {r['command']} | {r['median']*1000:.1f} | {min(r['times'])*1000:.1f} | {max(r['times'])*1000:.1f} | {len(r['times'])} |"
    for r in h["results"])
text = f"""# Reading a {n}-service manifest

Generated Compose file: {n} services ({lines} lines), each with image, command,
environment with interpolation, ports, a bind and a named volume, depends_on
with conditions, healthcheck, labels and a network; plus a postgres service.
Each command reads, interpolates, merges and validates the whole file and
exits; times are whole-process wall clock (start-up included), medians of
30 runs after 3 warm-ups, all commands in the same run.

| command | median ms | min ms | max ms | runs |
| --- | --- | --- | --- | --- |
{rows}

Target (issue 3): berth parses a 200-service manifest in under 50 ms.

Machine: {cpu}, {platform.system()} {platform.release()}; {datetime.date.today()}.
Reproduce: `bench/manifest-parse.sh {n}` (needs hyperfine and docker-compose
from Debian, and build/berth).
"""
open(out, "w").write(text)
print(text)
PY
