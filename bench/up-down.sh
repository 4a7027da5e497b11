#!/usr/bin/env bash
# Bringing the reference stack up and down: berth against docker-compose 1.29
# on examples/hockeyhub (berth.yaml for berth, compose.yaml for compose: the
# same six services with equivalent healthchecks), in the same run, the tools
# interleaved round by round so that machine noise hits both.
#
#   bench/up-down.sh [ROUNDS] [NOOP_PER_ROUND]      (default 7 and 3; ROUNDS >= 5)
# Needs: the Docker engine, hyperfine and docker-compose (Debian packages),
# python3, curl, build/berth and the berth-local/* images.
# Writes bench/results/up-down.json (all raw samples) and up-down.md.
#
# Per round and tool: cold up (after down --volumes: fresh volumes, so
# PostgreSQL's initdb and RabbitMQ's first boot are included) to all-ready;
# NOOP_PER_ROUND no-op ups of the running stack (hyperfine); down keeping the
# volumes; then an untimed down --volumes. In berth's round, with its stack
# up, the services' own start-to-/health times are measured standalone, and
# after its down each infra image's own start-to-protocol time: those make up
# the dependency chains that bound a cold up from below.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${1:-7}
noop=${2:-3}
[ "$rounds" -ge 5 ] || { echo "at least 5 rounds" >&2; exit 2; }
[ "$noop" -ge 1 ] || { echo "at least 1 no-op up per round" >&2; exit 2; }
berth=${BERTH:-$root/build/berth}
[ -x "$berth" ] || { echo "build berth first: cmake --build build" >&2; exit 1; }
for t in hyperfine docker-compose docker python3 curl; do
  command -v "$t" >/dev/null || { echo "$t is missing (apt-get install $t)" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer" >&2; exit 1; }

hh=$root/examples/hockeyhub
out_json=$root/bench/results/up-down.json
out_md=$root/bench/results/up-down.md
work=$(mktemp -d /tmp/bench-up-down.XXXXXX)
export BERTH_STATE_DIR=$work/state   # berth's state, private to this run
mkdir -p "$BERTH_STATE_DIR"
unset HH_RABBITMQ_HEALTHCHECK        # compose.yaml's own (correct) RabbitMQ check
export NO_COLOR=1
label=bench.up-down=$$               # on the standalone containers of the chain measurement
bp=bench-berth
cp=bench-compose
B=("$berth" -p "$bp" -f "$hh/berth.yaml")
C=(docker-compose -p "$cp" -f "$hh/compose.yaml")
samples=$work/samples.jsonl
log=$work/log
: >"$samples"

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
  local rc=$?
  set +e
  say "cleaning up"
  docker ps -aq --filter "label=$label" | xargs -r docker rm -fv >/dev/null 2>&1
  "${B[@]}" down --volumes --remove-orphans >>"$log" 2>&1
  "${C[@]}" down -v --remove-orphans >>"$log" 2>&1
  # Whatever the tools left behind (reported as a problem in the run's checks).
  docker ps -aq --filter "label=berth.project=$bp" | xargs -r docker rm -fv >/dev/null 2>&1
  docker network ls -q --filter "label=berth.project=$bp" | xargs -r docker network rm >/dev/null 2>&1
  docker volume ls -q --filter "label=berth.project=$bp" | xargs -r docker volume rm >/dev/null 2>&1
  docker ps -aq --filter "label=com.docker.compose.project=$cp" | xargs -r docker rm -fv >/dev/null 2>&1
  docker network ls -q --filter "label=com.docker.compose.project=$cp" | xargs -r docker network rm >/dev/null 2>&1
  docker volume ls -q --filter "label=com.docker.compose.project=$cp" | xargs -r docker volume rm >/dev/null 2>&1
  # The service images this script built.
  docker images --format '{{.Repository}}:{{.Tag}}' |
    grep -E "^($bp-|${cp}_)" | xargs -r docker rmi >/dev/null 2>&1
  if [ "$rc" -ne 0 ]; then
    echo "failed (exit $rc); last lines of $log:" >&2
    tail -n 30 "$log" >&2
    echo "(work directory kept: $work)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
# The measuring helper: every timing is taken in one process around the
# command (time.monotonic_ns), readiness polled from the host.
cat >"$work/b.py" <<'PY'
import http.client, json, os, socket, struct, subprocess, sys, time, urllib.parse

def now():
    return time.monotonic_ns()

def ms(a, b):
    return round((b - a) / 1e6, 1)

class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

def engine(path):
    c = UnixHTTP(os.environ.get("DOCKER_SOCK", "/var/run/docker.sock"))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return json.loads(r.read())
    finally:
        c.close()

def http_status(url, timeout=2):
    host_port, path = url.split("//", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        c.request("GET", "/" + path)
        return c.getresponse().status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        c.close()

def talk(port, data, timeout=1):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return s.recv(64)

def ready(kind, port):
    """Does the thing on 127.0.0.1:port answer its own protocol?"""
    try:
        if kind == "amqp":      # protocol header -> Connection.Start (a method frame, type 1)
            r = talk(port, b"AMQP\x00\x00\x09\x01")
            return len(r) > 0 and r[0] == 1
        if kind == "postgres":  # startup message -> an authentication request ('R')
            body = struct.pack("!i", 196608) + b"user\x00postgres\x00database\x00postgres\x00\x00"
            r = talk(port, struct.pack("!i", len(body) + 4) + body)
            return r[:1] == b"R"
        if kind == "redis":     # PING -> +PONG, or -NOAUTH when a password is set
            r = talk(port, b"PING\r\n")
            return r.startswith(b"+PONG") or r.startswith(b"-NOAUTH")
        if kind == "http":
            return http_status(f"http://127.0.0.1:{port}/health") == 200
    except OSError:
        return False
    raise SystemExit(f"unknown kind {kind}")

def run(argv, logf):
    with open(logf, "ab") as f:
        f.write(("\n$ " + " ".join(argv) + "\n").encode())
        f.flush()
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=f)

cmd, logf = sys.argv[1], sys.argv[2]
argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
res = {}

if cmd == "berth-cold":
    # berth up returns when every service is ready; check the gateway right after.
    t0 = now()
    p = run(argv, logf)
    t1 = now()
    res = {"ms": ms(t0, t1), "rc": p.returncode,
           "gateway_health_after": http_status("http://127.0.0.1:3000/health")}
    try:
        doc = json.loads(p.stdout)
        res["berth_elapsed_ms"] = doc.get("elapsed_ms")
        res["berth_ready_ms"] = {s["service"]: s.get("ready_ms") for s in doc.get("services", [])}
    except ValueError:
        res["stdout"] = p.stdout.decode(errors="replace")[-2000:]

elif cmd == "compose-cold":
    # up -d, then poll every 50 ms until every container with a healthcheck is
    # healthy and the gateway's /health answers 200.
    project, nsvc = sys.argv[3], int(sys.argv[4])
    flt = json.dumps({"label": [f"com.docker.compose.project={project}"]})
    t0 = now()
    p = run(argv, logf)
    t1 = now()
    res = {"rc": p.returncode, "up_d_ms": ms(t0, t1)}
    first_200 = None
    deadline = t0 + 300 * 10**9
    while now() < deadline:
        cs = engine("/containers/json?all=1&filters=" + urllib.parse.quote(flt))
        gw = http_status("http://127.0.0.1:3000/health", timeout=1)
        t = now()
        if gw == 200 and first_200 is None:
            first_200 = t
        exited = [c["Names"][0] for c in cs if c["State"] != "running"]
        unhealthy = [c["Names"][0] for c in cs if "(healthy)" not in c["Status"]]
        if exited and p.returncode != 0:
            res["error"] = f"exited: {exited}"
            break
        if len(cs) == nsvc and not unhealthy and gw == 200:
            res["ms"] = ms(t0, t)
            break
        time.sleep(0.05)
    else:
        res["error"] = "not all healthy after 300 s"
    res["gateway_first_200_ms"] = ms(t0, first_200) if first_200 else None

elif cmd == "standalone":
    # docker run -d ... then poll 127.0.0.1:PORT every 10 ms for the protocol.
    kind, port = sys.argv[3], int(sys.argv[4])
    t0 = now()
    p = run(argv, logf)
    t1 = now()
    res = {"rc": p.returncode, "run_ms": ms(t0, t1), "container": p.stdout.decode().strip()}
    deadline = t0 + 180 * 10**9
    while p.returncode == 0 and now() < deadline:
        if ready(kind, port):
            res["ms"] = ms(t0, now())
            break
        time.sleep(0.01)
    else:
        res["error"] = "not ready" if p.returncode == 0 else "docker run failed"

elif cmd == "timed":
    t0 = now()
    p = run(argv, logf)
    t1 = now()
    res = {"ms": ms(t0, t1), "rc": p.returncode}

elif cmd == "engine-cpu":
    # CPU time (user + system, reaped children included) of the engine's
    # processes: dockerd, containerd and the containers' shims (which reap
    # runc and the healthcheck execs). Milliseconds.
    names = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy"}
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            raw = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm not in names:
            continue
        f = raw[raw.rindex(")") + 2:].split()
        total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    print(round(total * 1000 / tick, 1))
    sys.exit(0)

elif cmd == "free-port":
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    sys.exit(0)

print(json.dumps(res))
PY
py() { python3 "$work/b.py" "$@"; }

# record ROUND TOOL OP JSON: one sample into samples.jsonl
record() {
  python3 -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(round=int(sys.argv[1]), tool=sys.argv[2], op=sys.argv[3]); print(json.dumps(d))' \
    "$1" "$2" "$3" "$4" >>"$samples"
}
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

# noop_cpu TOOL-COMMAND...: runs hyperfine on the no-op up and prints one
# JSON sample: the wall times, the tool's own CPU per run (hyperfine's
# user + system) and the engine's CPU per run (engine processes' CPU
# during the runs minus their idle rate measured over 2 s just before, when
# healthchecks and the like run anyway).
noop_cpu() {
  local name=$1 cmdline=$2 c0 c1 c2 t1 t2
  c0=$(py engine-cpu x); sleep 2; c1=$(py engine-cpu x)
  t1=$(date +%s.%N)
  hyperfine -N --runs "$noop" --export-json "$work/h.json" -n "$name" "$cmdline" >>"$log" 2>&1
  t2=$(date +%s.%N)
  c2=$(py engine-cpu x)
  python3 - "$work/h.json" "$c0" "$c1" "$c2" "$t1" "$t2" "$noop" <<'PY'
import json, sys
h, c0, c1, c2, t1, t2, n = sys.argv[1:]
r = json.load(open(h))["results"][0]
c0, c1, c2, t1, t2, n = float(c0), float(c1), float(c2), float(t1), float(t2), int(n)
idle_per_s = (c1 - c0) / 2.0
engine = max(0.0, (c2 - c1) - idle_per_s * (t2 - t1)) / n
print(json.dumps({"ms_list": [round(t * 1000, 1) for t in r["times"]],
                  "tool_cpu_ms": round((r["user"] + r["system"]) * 1000, 1),
                  "engine_cpu_ms": round(engine, 1), "engine_idle_cpu_ms_per_s": round(idle_per_s, 1)}))
PY
}

# The published port 3000 is shared by both stacks (and by other users of this
# engine): never start while something else holds it.
port_free() {
  local i
  for i in $(seq 600); do
    python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",3000))' 2>/dev/null && return 0
    [ "$i" = 1 ] && say "port 3000 is busy, waiting (up to 60 s)"
    sleep 0.1
  done
  echo "port 3000 stays busy: $(docker ps --filter publish=3000 --format '{{.Names}}')" >&2
  return 1
}

# objects TOOL: "containers networks volumes" that carry the project's label
objects() {
  local l
  if [ "$1" = berth ]; then l="label=berth.project=$bp"; else l="label=com.docker.compose.project=$cp"; fi
  echo "$(docker ps -aq --filter "$l" | wc -l) $(docker network ls -q --filter "$l" | wc -l) $(docker volume ls -q --filter "$l" | wc -l)"
}
# fingerprint TOOL: the running containers' ids and start times (a no-op up changes none)
fingerprint() {
  local l
  if [ "$1" = berth ]; then l="label=berth.project=$bp"; else l="label=com.docker.compose.project=$cp"; fi
  docker ps -aq --filter "$l" | sort | xargs -r docker inspect -f '{{.Id}} {{.State.StartedAt}} {{.State.Status}}'
}
foreign() {  # containers on the engine that are not ours: a noise indicator
  docker ps -q --filter status=running | xargs -r docker inspect -f '{{index .Config.Labels "berth.project"}}{{index .Config.Labels "com.docker.compose.project"}}' |
    grep -cvE "^($bp|$cp)\$" || true
}
check() {  # check ROUND TOOL WHAT OK DETAIL
  record "$1" "$2" check "$(python3 -c 'import json,sys; print(json.dumps({"what":sys.argv[1],"ok":sys.argv[2]=="1","detail":sys.argv[3]}))' "$3" "$4" "$5")"
  [ "$4" = 1 ] || say "CHECK FAILED ($2, round $1): $3: $5"
}

# Host port -> container env-file, from a running container of berth's stack.
env_of() { docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" | grep -v '^$'; }
net_of() { docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{println $k}}{{end}}' "$1" | head -n1; }

# ---------------------------------------------------------------------------
nsvc=$("${C[@]}" config --services | wc -l)
say "warm-up: build the service images and start/stop each stack once (untimed)"
port_free
"${B[@]}" down --volumes --remove-orphans >>"$log" 2>&1 || true
"${C[@]}" down -v --remove-orphans >>"$log" 2>&1 || true
"${B[@]}" up >>"$log" 2>&1
"${B[@]}" down --volumes >>"$log" 2>&1
"${C[@]}" build -q >>"$log" 2>&1
port_free
"${C[@]}" up -d >>"$log" 2>&1
"${C[@]}" down -v >>"$log" 2>&1
images_before=$(docker images --format '{{.Repository}} {{.ID}}' | grep -E "^($bp-|${cp}_)" | sort)

berth_round() {
  local r=$1 j st before after o
  port_free
  o=$(objects berth)
  [ "$o" = "0 0 0" ] || check "$r" berth "clean before cold up" 0 "containers networks volumes: $o"
  record "$r" berth foreign "{\"running\": $(foreign)}"
  say "round $r: berth cold up"
  j=$(py berth-cold "$log" -- "${B[@]}" up --json)
  record "$r" berth cold_up "$j"
  [ "$(field "$j" rc)" = 0 ] || { say "berth up failed: $j"; check "$r" berth "cold up" 0 "$j"; return 1; }
  st=$(field "$j" gateway_health_after)
  check "$r" berth "gateway /health right after up" "$([ "$st" = 200 ] && echo 1 || echo 0)" "HTTP $st"

  # The services' own start-to-/health times: the same image, environment and
  # network as berth's container, started standalone next to the running stack.
  local svc cport hport id env net
  for svc in user-service:3001 communication-service:3002 api-gateway:3000; do
    cport=${svc#*:}; svc=${svc%:*}
    id="$bp-$svc-1"
    env_of "$id" >"$work/$svc.env"
    net=$(net_of "$id")
    hport=$(py free-port x)
    j=$(py standalone "$log" http "$hport" -- docker run -d --init --label "$label" \
          --network "$net" --env-file "$work/$svc.env" -p "127.0.0.1:$hport:$cport" "$bp-$svc")
    record "$r" chain "$svc" "$j"
    docker rm -fv "$(field "$j" container)" >/dev/null 2>&1 || true
  done
  # Keep the infra containers' configuration for their standalone runs below.
  for svc in postgres redis rabbitmq; do
    env_of "$bp-$svc-1" >"$work/$svc.env"
    docker inspect -f '{{.Config.Image}} {{.Config.Hostname}} {{json .Config.Cmd}}' "$bp-$svc-1" >"$work/$svc.cfg"
  done

  say "round $r: berth no-op up x$noop"
  before=$(fingerprint berth)
  record "$r" berth noop_up "$(noop_cpu "berth up" "${B[*]} up")"
  after=$(fingerprint berth)
  check "$r" berth "no-op up changed nothing" "$([ "$before" = "$after" ] && echo 1 || echo 0)" "$(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"

  say "round $r: berth down"
  j=$(py timed "$log" -- "${B[@]}" down)
  record "$r" berth down "$j"
  o=$(objects berth)
  check "$r" berth "down: no container or network left, 3 volumes kept" "$([ "$o" = "0 0 3" ] && echo 1 || echo 0)" "containers networks volumes: $o"
  "${B[@]}" down --volumes >>"$log" 2>&1
  o=$(objects berth)
  check "$r" berth "down --volumes: nothing left" "$([ "$o" = "0 0 0" ] && echo 1 || echo 0)" "containers networks volumes: $o"

  # Each infra image's own start, standalone and alone on the engine (fresh
  # anonymous volume for its data: a cold start like berth's), same config.
  # Then the three together, as in a cold up, to show what contention costs.
  local kind
  for kind in rabbitmq postgres redis; do
    infra_start "$kind" "$work/$kind.out"
    record "$r" chain "$kind" "$(cat "$work/$kind.out")"
    docker rm -fv "$(field "$(cat "$work/$kind.out")" container)" >/dev/null 2>&1 || true
  done
  for kind in rabbitmq postgres redis; do infra_start "$kind" "$work/$kind.out" & done
  wait
  for kind in rabbitmq postgres redis; do
    record "$r" chain-together "$kind" "$(cat "$work/$kind.out")"
    docker rm -fv "$(field "$(cat "$work/$kind.out")" container)" >/dev/null 2>&1 || true
  done
}

# infra_start KIND OUT: docker run berth's infra container's configuration
# standalone on a free port, time it to its protocol answering; JSON into OUT.
infra_start() {
  local kind=$1 img host cmdj cmd args hport cport
  read -r img host cmdj <"$work/$kind.cfg"
  hport=$(py free-port x)
  case $kind in rabbitmq) cport=5672 ;; postgres) cport=5432 ;; redis) cport=6379 ;; esac
  args=(docker run -d --init --label "$label" --hostname "$host" --env-file "$work/$kind.env"
        -p "127.0.0.1:$hport:$cport" "$img")
  mapfile -t cmd < <(python3 -c 'import json,sys; [print(a) for a in (json.loads(sys.argv[1]) or [])]' "$cmdj")
  py standalone "$log" "$([ "$kind" = rabbitmq ] && echo amqp || echo "$kind")" "$hport" -- "${args[@]}" "${cmd[@]}" >"$2"
}

compose_round() {
  local r=$1 j before after o
  port_free
  o=$(objects compose)
  [ "$o" = "0 0 0" ] || check "$r" compose "clean before cold up" 0 "containers networks volumes: $o"
  record "$r" compose foreign "{\"running\": $(foreign)}"
  say "round $r: compose cold up"
  j=$(py compose-cold "$log" "$cp" "$nsvc" -- "${C[@]}" up -d)
  record "$r" compose cold_up "$j"
  [ -n "$(field "$j" ms)" ] || { say "compose up failed: $j"; return 1; }

  say "round $r: compose no-op up x$noop"
  before=$(fingerprint compose)
  record "$r" compose noop_up "$(noop_cpu "docker-compose up -d" "${C[*]} up -d")"
  after=$(fingerprint compose)
  check "$r" compose "no-op up changed nothing" "$([ "$before" = "$after" ] && echo 1 || echo 0)" "$(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"

  say "round $r: compose down"
  j=$(py timed "$log" -- "${C[@]}" down)
  record "$r" compose down "$j"
  o=$(objects compose)
  check "$r" compose "down: no container or network left, 2 volumes kept" "$([ "$o" = "0 0 2" ] && echo 1 || echo 0)" "containers networks volumes: $o"
  "${C[@]}" down -v >>"$log" 2>&1
  o=$(objects compose)
  check "$r" compose "down -v: nothing left" "$([ "$o" = "0 0 0" ] && echo 1 || echo 0)" "containers networks volumes: $o"
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then berth_round "$r"; compose_round "$r"
  else compose_round "$r"; berth_round "$r"; fi
done
images_after=$(docker images --format '{{.Repository}} {{.ID}}' | grep -E "^($bp-|${cp}_)" | sort)
[ "$images_before" = "$images_after" ] && img_ok=1 || img_ok=0
check 0 both "no image rebuilt during the timed runs" "$img_ok" "$(diff <(echo "$images_before") <(echo "$images_after") | tr '\n' ' ')"
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---------------------------------------------------------------------------
python3 - "$samples" "$out_json" "$out_md" "$rounds" "$noop" "$started" "$finished" "$berth" <<'PY'
import json, sys, statistics as st, platform, subprocess, os
samples_f, out_json, out_md, rounds, noop, started, finished, berth = sys.argv[1:9]
S = [json.loads(l) for l in open(samples_f)]

def sh(c):
    return subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()

def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median_ms": round(st.median(xs), 1), "min_ms": min(xs), "max_ms": max(xs), "n": len(xs)}

def get(tool, op, key="ms"):
    return [s.get(key) for s in S if s["tool"] == tool and s["op"] == op]

raw = {
    "berth": {
        "cold_up_ms": get("berth", "cold_up"),
        "noop_up_ms": [t for s in S if s["tool"] == "berth" and s["op"] == "noop_up" for t in s["ms_list"]],
        "noop_tool_cpu_ms": get("berth", "noop_up", "tool_cpu_ms"),
        "noop_engine_cpu_ms": get("berth", "noop_up", "engine_cpu_ms"),
        "down_ms": get("berth", "down"),
    },
    "compose": {
        "cold_up_ms": get("compose", "cold_up"),
        "cold_up_d_returns_ms": get("compose", "cold_up", "up_d_ms"),
        "cold_gateway_first_200_ms": get("compose", "cold_up", "gateway_first_200_ms"),
        "noop_up_ms": [t for s in S if s["tool"] == "compose" and s["op"] == "noop_up" for t in s["ms_list"]],
        "noop_tool_cpu_ms": get("compose", "noop_up", "tool_cpu_ms"),
        "noop_engine_cpu_ms": get("compose", "noop_up", "engine_cpu_ms"),
        "down_ms": get("compose", "down"),
    },
    "chain": {k: get("chain", k) for k in
              ("postgres", "redis", "rabbitmq", "user-service", "communication-service", "api-gateway")},
    "chain_together": {k: get("chain-together", k) for k in ("postgres", "redis", "rabbitmq")},
}
summary = {tool: {k: stats(v) for k, v in ops.items()} for tool, ops in raw.items()}

def med(tool, op):
    s = summary[tool][op]
    return s["median_ms"] if s else None

ratios = {}
for op in ("cold_up_ms", "noop_up_ms", "down_ms", "noop_tool_cpu_ms", "noop_engine_cpu_ms"):
    b, c = med("berth", op), med("compose", op)
    ratios[op] = {"berth_over_compose": round(b / c, 3) if b and c else None,
                  "compose_over_berth": round(c / b, 2) if b and c else None}

# The dependency chains: each link's own start (median), summed.
ch = {k: med("chain", k) for k in raw["chain"]}
chains = {
    "rabbitmq -> communication-service -> api-gateway":
        [ch["rabbitmq"], ch["communication-service"], ch["api-gateway"]],
    "postgres -> communication-service -> api-gateway":
        [ch["postgres"], ch["communication-service"], ch["api-gateway"]],
    "redis -> communication-service -> api-gateway":
        [ch["redis"], ch["communication-service"], ch["api-gateway"]],
    "postgres -> user-service -> api-gateway":
        [ch["postgres"], ch["user-service"], ch["api-gateway"]],
}
chain_ms = {k: round(sum(v), 1) for k, v in chains.items() if None not in v}
slowest = max(chain_ms, key=chain_ms.get) if chain_ms else None
bc = med("berth", "cold_up_ms")
over = round((bc / chain_ms[slowest] - 1) * 100, 1) if slowest and bc else None
# Per-round pairing too (each berth round's cold up against that round's chain).
per_round = []
for r in range(1, int(rounds) + 1):
    g = lambda k: next((s.get("ms") for s in S if s["round"] == r and s["tool"] == "chain" and s["op"] == k), None)
    b = next((s.get("ms") for s in S if s["round"] == r and s["tool"] == "berth" and s["op"] == "cold_up"), None)
    links = [g(k) for k in slowest.split(" -> ")] if slowest else []
    if b and links and None not in links:
        per_round.append(round((b / sum(links) - 1) * 100, 1))
reported = [s.get("berth_ready_ms") for s in S if s["tool"] == "berth" and s["op"] == "cold_up"]
# The same chains with the infra links started together (as in a cold up).
ct = {k: med("chain_together", k) for k in raw["chain_together"]}
chain_together_ms = {k: round(sum([ct.get(k.split(" -> ")[0])] + v[1:]), 1)
                     for k, v in chains.items() if None not in v and ct.get(k.split(" -> ")[0])}
slowest_t = max(chain_together_ms, key=chain_together_ms.get) if chain_together_ms else None
over_t = round((bc / chain_together_ms[slowest_t] - 1) * 100, 1) if slowest_t and bc else None
# berth's own time outside its services' readiness: cold up minus the critical
# path of the ready times berth reports (infra -> service -> gateway).
own = []
for s in S:
    if s["tool"] == "berth" and s["op"] == "cold_up" and s.get("berth_ready_ms") and s.get("ms"):
        r = s["berth_ready_ms"]
        path = max(max(r["postgres"], r["redis"], r["rabbitmq"]) + r["communication-service"],
                   r["postgres"] + r["user-service"]) + r["api-gateway"]
        own.append(round(s["ms"] - path, 1))
rep_stats = {k: stats([r.get(k) for r in reported if r])
             for k in ("postgres", "redis", "rabbitmq", "user-service", "communication-service", "api-gateway")}

checks = [s for s in S if s["op"] == "check"]
failed = [c for c in checks if not c["ok"]]
foreign = {t: [s["running"] for s in S if s["tool"] == t and s["op"] == "foreign"] for t in ("berth", "compose")}

machine = {
    "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
    "cpus": os.cpu_count(),
    "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    "kernel": f"{platform.system()} {platform.release()}",
    "docker_engine": sh("docker version --format '{{.Server.Version}}'"),
    "storage_driver": sh("docker info --format '{{.Driver}}'"),
    "berth": sh(f"{berth} version"),
    "docker_compose": sh("docker-compose version --short"),
    "hyperfine": sh("hyperfine --version"),
}
targets = {
    "noop_up_under_100ms": (med("berth", "noop_up_ms") or 1e9) < 100,
    "noop_up_10x_faster_than_compose": (ratios["noop_up_ms"]["compose_over_berth"] or 0) >= 10,
    "cold_up_within_10pct_of_slowest_chain": over is not None and over <= 10,
    "down_under_3s": (med("berth", "down_ms") or 1e9) < 3000,
}
method = (
    "Stack: examples/hockeyhub (postgres, redis, rabbitmq, user-service, communication-service, "
    "api-gateway); berth runs berth.yaml as project bench-berth with a private BERTH_STATE_DIR, "
    "docker-compose 1.29 runs compose.yaml (equivalent healthchecks: pg_isready, redis-cli ping, "
    "rabbitmq-diagnostics check_port_connectivity, the services' /health) as project bench-compose. "
    "Before timing, each tool brings the stack up and down once (this builds the three service images "
    "and warms the page cache), so cold up measures start-to-ready, not image builds; the images are "
    f"checked unchanged afterwards. Then {rounds} rounds; in each, one tool then the other (the order "
    "alternates round by round), never both stacks up at once (both publish 127.0.0.1:3000). Per round and "
    "tool: cold up after down --volumes (fresh volumes: initdb and RabbitMQ's first boot included) to "
    "all-ready; berth: `berth up` (it returns when every service answers) and the gateway's /health "
    "checked 200 right after; compose: `docker-compose up -d`, then polled every 50 ms (engine API and "
    "GET 127.0.0.1:3000/health) until every container with a healthcheck is healthy and /health answers "
    f"200. Then {noop} no-op ups of the running stack with hyperfine -N (`berth up`, `docker-compose up -d`), "
    "checked to change no container; then down keeping volumes (`berth down`, `docker-compose down`), "
    "checked to leave no container or network and keep the volumes; then an untimed down --volumes. "
    "Times are wall clock around the command in one process (monotonic clock). "
    "CPU per no-op up: the tool's own (hyperfine's mean user + system time) and the engine's: the CPU "
    "time (user + system, reaped children included) of dockerd, containerd, the containers' shims and "
    "docker-proxy, read from /proc around the no-op runs, minus their idle rate measured over the 2 s "
    "just before (healthchecks run anyway), divided by the number of runs. "
    "Dependency chains: in berth's rounds, with its stack up, each service image is started standalone "
    "(docker run -d with the same environment, network and --init as berth's container, a free host port) "
    "and timed from docker run to /health 200 (polled every 10 ms); after berth's down, each infra image "
    "is started standalone alone on the engine (same image, hostname, environment and command, fresh "
    "anonymous data volume) and timed from docker run to its protocol answering: AMQP header -> "
    "Connection.Start, PostgreSQL startup message -> authentication request, Redis PING -> PONG/NOAUTH. "
    "Then the three are started standalone again, together (as a cold up starts them), and timed the same way. "
    "A chain's own start time is the sum of its links' medians; berth's cold up median is compared "
    "with the slowest chain."
)
doc = {
    "benchmark": "up-down", "started": started, "finished": finished,
    "reproduce": f"bench/up-down.sh {rounds} {noop}",
    "method": method, "machine": machine, "rounds": int(rounds), "noop_per_round": int(noop),
    "summary": summary, "ratios": ratios,
    "chain": {"links_median_ms": ch, "chains_ms": chain_ms, "slowest": slowest,
              "berth_cold_up_median_ms": bc, "berth_over_slowest_chain_pct": over,
              "berth_over_slowest_chain_pct_per_round": per_round,
              "berth_reported_ready_ms": rep_stats,
              "links_infra_together_median_ms": ct, "chains_infra_together_ms": chain_together_ms,
              "slowest_infra_together": slowest_t, "berth_over_slowest_chain_infra_together_pct": over_t,
              "berth_outside_reported_critical_path_ms": own},
    "targets": targets, "checks_failed": failed, "checks_total": len(checks),
    "foreign_running_containers_per_round": foreign,
    "raw": raw, "samples": S,
}
json.dump(doc, open(out_json, "w"), indent=1)

def cell(tool, op):
    s = summary[tool][op]
    if not s:
        return "–"
    return f"{s['median_ms']:.0f} ms ({s['min_ms']:.0f}–{s['max_ms']:.0f}, n={s['n']})"

def ratio(op):
    r = ratios[op]["compose_over_berth"]
    return f"{r:.2f}x" if r else "–"

yes = lambda b: "yes" if b else "**no**"
rows = [
    f"| cold up to all-ready | {cell('berth','cold_up_ms')} | {cell('compose','cold_up_ms')} | {ratio('cold_up_ms')} |",
    f"| no-op up | {cell('berth','noop_up_ms')} | {cell('compose','noop_up_ms')} | {ratio('noop_up_ms')} |",
    f"| down (volumes kept) | {cell('berth','down_ms')} | {cell('compose','down_ms')} | {ratio('down_ms')} |",
    f"| no-op up: the tool's CPU time | {cell('berth','noop_tool_cpu_ms')} | {cell('compose','noop_tool_cpu_ms')} | {ratio('noop_tool_cpu_ms')} |",
    f"| no-op up: the engine's CPU time | {cell('berth','noop_engine_cpu_ms')} | {cell('compose','noop_engine_cpu_ms')} | {ratio('noop_engine_cpu_ms')} |",
]
links = "\n".join(f"| {k} | {cell('chain', k)} |" for k in raw["chain"])
chain_rows = "\n".join(f"| {k} | {v:.0f} ms{' (slowest)' if k == slowest else ''} |" for k, v in chain_ms.items())
rep_rows = "\n".join(f"| {k} | {v['median_ms']:.0f} ms ({v['min_ms']}–{v['max_ms']}) |"
                     for k, v in rep_stats.items() if v)
def rel(p):
    return "n/a" if p is None else (f"{p:.1f}% over" if p >= 0 else f"{-p:.1f}% under")
together_rows = "\n".join(f"| {k} | {cell('chain_together', k)} |" for k in raw["chain_together"])
fail_rows = "\n".join(f"- round {c['round']}, {c['tool']}: {c['what']}: {c['detail']}" for c in failed) or "- none"
md = f"""# Up and down of the reference stack: berth vs docker-compose 1.29

examples/hockeyhub (PostgreSQL, Redis, RabbitMQ, user-service,
communication-service, api-gateway): berth on berth.yaml, docker-compose
1.29 on compose.yaml (the same stack with equivalent healthchecks). Medians
of {rounds} rounds (no-op up: {noop} runs per round), the tools interleaved
round by round; min–max and number of runs in brackets.

| operation | berth median | compose median | ratio compose/berth |
| --- | --- | --- | --- |
{chr(10).join(rows)}

Compose's cold up in detail (medians): `up -d` returns after
{summary['compose']['cold_up_d_returns_ms']['median_ms']:.0f} ms (it waits for the dependencies'
healthchecks itself), the gateway's /health first answers 200 after
{summary['compose']['cold_gateway_first_200_ms']['median_ms']:.0f} ms, and all six containers report
healthy after {med('compose','cold_up_ms'):.0f} ms (the gateway's own healthcheck first runs 1 s
after its start). Against compose's first gateway 200, berth's cold up is
{summary['compose']['cold_gateway_first_200_ms']['median_ms'] / bc:.2f}x faster.

## Targets (issue 4)

| target | result | met |
| --- | --- | --- |
| no-op up under 100 ms | {med('berth','noop_up_ms'):.0f} ms | {yes(targets['noop_up_under_100ms'])} |
| no-op up at least 10x faster than compose | {ratio('noop_up_ms')} | {yes(targets['noop_up_10x_faster_than_compose'])} |
| cold up within 10% of the slowest dependency chain | {rel(over)} | {yes(targets['cold_up_within_10pct_of_slowest_chain'])} |
| down under 3 s | {med('berth','down_ms'):.0f} ms | {yes(targets['down_under_3s'])} |

## Dependency chains

Each link's own start time, standalone (from `docker run` to its protocol or
/health answering; see Method):

| link | median (min–max, n) |
| --- | --- |
{links}

| chain (sum of link medians) | own start time |
| --- | --- |
{chain_rows}

berth's cold up median, {bc:.0f} ms, is {rel(over)} the slowest chain
({slowest}: {chain_ms[slowest]:.0f} ms); per round: {', '.join(f'{p:+.1f}%' for p in per_round)}.

Where berth's cold up goes, by berth's own report (`up --json`, ready_ms per
service: from create to ready, probing and provisioning included; median
(min–max)):

| service | ready |
| --- | --- |
{rep_rows}

berth's own time outside that critical path (cold up minus the reported
infra -> service -> gateway ready times), per round: {', '.join(f'{x:.0f} ms' for x in own)}.

The standalone infra starts above run alone on the engine; in a cold up the
three infra containers start together on {machine['cpus']} CPUs. Started together
(same configuration, standalone), their own start times are:

| link (infra started together) | median (min–max, n) |
| --- | --- |
{together_rows}

and the slowest chain with them is {slowest_t} at
{chain_together_ms.get(slowest_t, 0):.0f} ms; berth's cold up median is {rel(over_t)} it.

## Checks

{len(checks)} checks (gateway 200 right after berth up, no-op changes no
container, down leaves no container or network and keeps the volumes,
down --volumes leaves nothing, no image rebuilt); failed:

{fail_rows}

Other containers running on the engine at the start of each cold up (other
users of the same engine; noise): berth {foreign['berth']}, compose {foreign['compose']}.

## Method

{method}

Raw samples: up-down.json.

Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB, {machine['kernel']};
Docker Engine {machine['docker_engine']} ({machine['storage_driver']}), {machine['berth']},
docker-compose {machine['docker_compose']}, {machine['hyperfine']}; {started} to {finished}.
Reproduce: `bench/up-down.sh {rounds} {noop}` (needs the Docker engine, hyperfine and
docker-compose from Debian, build/berth and the berth-local/* images; about 10 minutes).
"""
open(out_md, "w").write(md)
print(md)
PY
