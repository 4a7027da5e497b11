#!/usr/bin/env bash
# Bringing two stacks up and down: berth against docker-compose 1.29, in the
# same run, the tools interleaved round by round so that machine noise hits
# both:
#   - the reference stack, examples/hockeyhub (berth.yaml for berth,
#     compose.yaml for compose: the same six services with equivalent
#     healthchecks);
#   - the plain stack, bench/plain/compose.yaml for both (issue 9): a Compose
#     file with Compose healthchecks only, infra under image names berth does
#     not recognise, and a worker that exits if a dependency refuses it.
#
#   bench/up-down.sh [ROUNDS] [NOOP_PER_ROUND]      (default 7 and 3; ROUNDS >= 5)
#   UP_DOWN_STACKS=plain bench/up-down.sh ...       only the plain stack, into
#                                                   up-down-plain.json and .md
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
#
# The plain stack, per round and tool, after the reference stack: cold up
# (after down --volumes) to all containers running and every healthcheck
# healthy (berth: also when `berth up` returned); whether the worker exited
# or restarted, after the cold up and after the no-op ups; NOOP_PER_ROUND
# no-op ups (hyperfine); down keeping the volumes; an untimed down --volumes.
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
stacks=${UP_DOWN_STACKS:-both}
case $stacks in
  both) out_json=$root/bench/results/up-down.json out_md=$root/bench/results/up-down.md ;;
  plain) out_json=$root/bench/results/up-down-plain.json out_md=$root/bench/results/up-down-plain.md ;;
  *) echo "UP_DOWN_STACKS is both or plain" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/bench-up-down.XXXXXX)
export BERTH_STATE_DIR=$work/state   # berth's state, private to this run
mkdir -p "$BERTH_STATE_DIR"
unset HH_RABBITMQ_HEALTHCHECK        # compose.yaml's own (correct) RabbitMQ check
export NO_COLOR=1
label=bench.up-down=$$               # on the standalone containers of the chain measurement
# The gateway's host port: 3000 as in the example, or, when something else
# on this engine holds 3000 (another user's hockeyhub), a free one, on a copy
# of the example that differs in that port only.
gw_port=3000
if ! python3 -c 'import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 3000))' 2>/dev/null; then
  gw_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cp -r "$hh" "$work/hockeyhub"
  rm -rf "$work"/hockeyhub/*/__pycache__
  hh=$work/hockeyhub
  sed -i "s/- \"3000:3000\"/- \"$gw_port:3000\"/" "$hh/berth.yaml"
  sed -i "s/\"127.0.0.1:3000:3000\"/\"127.0.0.1:$gw_port:3000\"/" "$hh/compose.yaml"
  grep -q "\"$gw_port:3000\"" "$hh/berth.yaml" && grep -q "127.0.0.1:$gw_port:3000" "$hh/compose.yaml" ||
    { echo "could not move the gateway to port $gw_port" >&2; exit 1; }
  echo "port 3000 is busy ($(docker ps --filter publish=3000 --format '{{.Names}}')): the gateway is published on $gw_port" >&2
fi
export GW_PORT=$gw_port
bp=bench-berth
cp=bench-compose
B=("$berth" -p "$bp" -f "$hh/berth.yaml")
C=(docker-compose -p "$cp" -f "$hh/compose.yaml")
pl=$root/bench/plain
bp2=bench-plain-berth
cp2=bench-plain-compose
PB=("$berth" -p "$bp2" -f "$pl/compose.yaml")
PC=(docker-compose -p "$cp2" -f "$pl/compose.yaml")
unset PLAIN_RABBITMQ_HEALTHCHECK     # the plain stack's own (correct) RabbitMQ check
plain_images="plain-pg:bench plain-mq:bench plain-cache:bench"
plain_images_new=""                  # the ones this run builds (removed at exit)
for i in $plain_images; do
  docker image inspect "$i" >/dev/null 2>&1 || plain_images_new+=" $i"
done
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
  "${PB[@]}" down --volumes --remove-orphans >>"$log" 2>&1
  "${PC[@]}" down -v --remove-orphans >>"$log" 2>&1
  # Whatever the tools left behind (reported as a problem in the run's checks).
  local l
  for l in "berth.project=$bp2" "com.docker.compose.project=$cp2"; do
    docker ps -aq --filter "label=$l" | xargs -r docker rm -fv >/dev/null 2>&1
    docker network ls -q --filter "label=$l" | xargs -r docker network rm >/dev/null 2>&1
    docker volume ls -q --filter "label=$l" | xargs -r docker volume rm >/dev/null 2>&1
  done
  # shellcheck disable=SC2086 # a list of names
  [ -z "$plain_images_new" ] || docker rmi $plain_images_new >/dev/null 2>&1
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
GW = os.environ.get("GW_PORT", "3000")
argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
res = {}

if cmd == "berth-cold":
    # berth up returns when every service is ready; check the gateway right after.
    t0 = now()
    p = run(argv, logf)
    t1 = now()
    res = {"ms": ms(t0, t1), "rc": p.returncode,
           "gateway_health_after": http_status(f"http://127.0.0.1:{GW}/health")}
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
        gw = http_status(f"http://127.0.0.1:{GW}/health", timeout=1)
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

elif cmd == "plain-cold":
    # The plain stack, either tool: run the command (berth up --json, or
    # docker-compose up -d), then poll the engine every 50 ms until the
    # project's NSVC containers are all running and none has a health that
    # is not healthy (starting, unhealthy): "all healthy". A container that
    # is not running ends the wait (the worker exited).
    label, nsvc = sys.argv[3], int(sys.argv[4])
    flt = json.dumps({"label": [label]})
    t0 = now()
    p = run(argv, logf)
    t1 = now()
    res = {"rc": p.returncode, "cmd_ms": ms(t0, t1)}
    try:
        doc = json.loads(p.stdout)
        res["berth_elapsed_ms"] = doc.get("elapsed_ms")
        res["berth_ready_ms"] = {s["service"]: s.get("ready_ms") for s in doc.get("services", [])}
    except ValueError:
        if p.stdout.strip():
            res["stdout"] = p.stdout.decode(errors="replace")[-2000:]
    deadline = t0 + 300 * 10**9
    while now() < deadline:
        cs = engine("/containers/json?all=1&filters=" + urllib.parse.quote(flt))
        t = now()
        down = [c["Names"][0].lstrip("/") + " " + c["Status"] for c in cs if c["State"] != "running"]
        waiting = [c["Names"][0] for c in cs if "(health: " in c["Status"] or "(unhealthy)" in c["Status"]]
        if down:  # the command has returned: every container should run
            res["error"] = f"not running: {down}"
            break
        if len(cs) == nsvc and not waiting:
            res["ms"] = ms(t0, t)
            break
        if p.returncode != 0 and t - t1 > 10 * 10**9:
            res["error"] = f"the command failed and the stack is not healthy 10 s later: {waiting}"
            break
        time.sleep(0.05)
    else:
        res["error"] = "not all healthy after 300 s"

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

# The published port (3000, or gw_port) is shared by both stacks (and by other users of this
# engine): never start while something else holds it.
port_free() {
  local i
  for i in $(seq 600); do
    python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1])))' "$gw_port" 2>/dev/null && return 0
    [ "$i" = 1 ] && say "port $gw_port is busy, waiting (up to 60 s)"
    sleep 0.1
  done
  echo "port $gw_port stays busy: $(docker ps --filter "publish=$gw_port" --format '{{.Names}}')" >&2
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
    grep -cvE "^($bp|$cp|$bp2|$cp2)\$" || true
}
# the same two for any label (the plain stack's projects)
objects_l() {
  echo "$(docker ps -aq --filter "label=$1" | wc -l) $(docker network ls -q --filter "label=$1" | wc -l) $(docker volume ls -q --filter "label=$1" | wc -l)"
}
fingerprint_l() {
  docker ps -aq --filter "label=$1" | sort | xargs -r docker inspect -f '{{.Id}} {{.State.StartedAt}} {{.State.Status}}'
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
if [ "$stacks" = both ]; then
  port_free
  "${B[@]}" down --volumes --remove-orphans >>"$log" 2>&1 || true
  "${C[@]}" down -v --remove-orphans >>"$log" 2>&1 || true
  "${B[@]}" up >>"$log" 2>&1
  "${B[@]}" down --volumes >>"$log" 2>&1
  "${C[@]}" build -q >>"$log" 2>&1
  port_free
  "${C[@]}" up -d >>"$log" 2>&1 || say "warm-up: docker-compose up failed (see $log); going on"
  "${C[@]}" down -v >>"$log" 2>&1
fi
# The plain stack: berth builds its three images (plain-*:bench), compose
# uses them as they are.
"${PB[@]}" down --volumes --remove-orphans >>"$log" 2>&1 || true
"${PC[@]}" down -v --remove-orphans >>"$log" 2>&1 || true
"${PB[@]}" up >>"$log" 2>&1 || true   # before issue 9 the worker may exit
"${PB[@]}" down --volumes >>"$log" 2>&1
"${PC[@]}" up -d >>"$log" 2>&1 || say "warm-up: docker-compose up of the plain stack failed; going on"
"${PC[@]}" down -v >>"$log" 2>&1
images_re="^($bp-|${cp}_|plain-(pg|mq|cache) )"
images_before=$(docker images --format '{{.Repository}} {{.ID}}' | grep -E "$images_re" | sort)

berth_round() {
  local r=$1 j st before after o
  port_free
  o=$(objects berth)
  [ "$o" = "0 0 0" ] || check "$r" berth "clean before cold up" 0 "containers networks volumes: $o"
  record "$r" berth foreign "{\"running\": $(foreign)}"
  say "round $r: berth cold up"
  j=$(py berth-cold "$log" -- "${B[@]}" up --json)
  record "$r" berth cold_up "$j"
  if [ "$(field "$j" rc)" != 0 ]; then  # a failed check; the run goes on
    check "$r" berth "cold up" 0 "$j"
    "${B[@]}" down --volumes >>"$log" 2>&1 || true
    return 0
  fi
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
  # berth writes Redis's config (its password) into the container before
  # it starts: the standalone run mounts the same file.
  docker cp "$bp-redis-1:/usr/local/etc/redis/redis.conf" "$work/redis.conf" >>"$log" 2>&1 || true

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
        -p "127.0.0.1:$hport:$cport")
  [ "$kind" != redis ] || [ ! -s "$work/redis.conf" ] ||
    args+=(-v "$work/redis.conf:/usr/local/etc/redis/redis.conf:ro")
  args+=("$img")
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
  if [ -z "$(field "$j" ms)" ]; then  # a failed check; the run goes on
    check "$r" compose "cold up" 0 "$j"
    "${C[@]}" down -v >>"$log" 2>&1 || true
    return 0
  fi

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

# worker_check ROUND TOOL WHEN CONTAINER: has the plain stack's worker exited
# or restarted? One sample (op "worker") and one check.
worker_check() {
  local r=$1 tool=$2 when=$3 c=$4 st conn
  st=$(docker inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{.State.FinishedAt}}' "$c" 2>/dev/null || echo "missing 0 0 -")
  conn=0
  docker logs "$c" 2>&1 | grep -q '^worker: CONNECTED' && conn=1
  record "$r" "$tool" worker "$(python3 - "$when" "$st" "$conn" <<'PY'
import json, sys
when, st, conn = sys.argv[1], sys.argv[2].split(), sys.argv[3] == "1"
status, restarts, code, finished = st[0], int(st[1]), int(st[2]), st[3]
exited = status != "running" or restarts > 0 or not finished.startswith("0001-")
print(json.dumps({"when": when, "status": status, "restarts": restarts, "exit_code": code,
                  "finished_at": finished, "connected": conn, "exited": exited}))
PY
)"
  local ok=0
  [[ $st == "running 0 0 0001-"* ]] && [ "$conn" = 1 ] && ok=1
  check "$r" "$tool" "plain: the worker connected and never exited ($when)" "$ok" "state: $st; connected: $conn; log: $(docker logs "$c" 2>&1 | tail -n 2 | tr '\n' ' ')"
}

# plain_round ROUND berth|compose: the plain stack, one tool.
plain_round() {
  local r=$1 tool=$2 label worker j o before after
  local -a up down downv
  local noopcmd
  if [ "$tool" = berth ]; then
    label=berth.project=$bp2 worker=$bp2-worker-1
    up=("${PB[@]}" up --json) down=("${PB[@]}" down) downv=("${PB[@]}" down --volumes)
    noopcmd="${PB[*]} up"
  else
    label=com.docker.compose.project=$cp2 worker=${cp2}_worker_1
    up=("${PC[@]}" up -d) down=("${PC[@]}" down) downv=("${PC[@]}" down -v)
    noopcmd="${PC[*]} up -d"
  fi
  o=$(objects_l "$label")
  [ "$o" = "0 0 0" ] || check "$r" "plain-$tool" "clean before cold up" 0 "containers networks volumes: $o"
  record "$r" "plain-$tool" foreign "{\"running\": $(foreign)}"
  say "round $r: plain stack, $tool cold up"
  j=$(py plain-cold "$log" "$label" 5 -- "${up[@]}")
  record "$r" "plain-$tool" cold_up "$j"
  check "$r" "plain-$tool" "cold up to all healthy" "$([ -n "$(field "$j" ms)" ] && [ "$(field "$j" rc)" = 0 ] && echo 1 || echo 0)" "$j"
  worker_check "$r" "plain-$tool" "after cold up" "$worker"
  if [ -n "$(field "$j" ms)" ]; then
    say "round $r: plain stack, $tool no-op up x$noop"
    before=$(fingerprint_l "$label")
    record "$r" "plain-$tool" noop_up "$(noop_cpu "$tool up (plain)" "$noopcmd")"
    after=$(fingerprint_l "$label")
    check "$r" "plain-$tool" "no-op up changed nothing" "$([ "$before" = "$after" ] && echo 1 || echo 0)" "$(diff <(echo "$before") <(echo "$after") | tr '\n' ' ')"
    worker_check "$r" "plain-$tool" "after the no-op ups" "$worker"
  fi
  say "round $r: plain stack, $tool down"
  j=$(py timed "$log" -- "${down[@]}")
  record "$r" "plain-$tool" down "$j"
  o=$(objects_l "$label")
  check "$r" "plain-$tool" "down: no container or network left, 3 volumes kept" "$([ "$o" = "0 0 3" ] && echo 1 || echo 0)" "containers networks volumes: $o"
  "${downv[@]}" >>"$log" 2>&1
  o=$(objects_l "$label")
  check "$r" "plain-$tool" "down --volumes: nothing left" "$([ "$o" = "0 0 0" ] && echo 1 || echo 0)" "containers networks volumes: $o"
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    [ "$stacks" = plain ] || { berth_round "$r"; compose_round "$r"; }
    plain_round "$r" berth; plain_round "$r" compose
  else
    [ "$stacks" = plain ] || { compose_round "$r"; berth_round "$r"; }
    plain_round "$r" compose; plain_round "$r" berth
  fi
done
images_after=$(docker images --format '{{.Repository}} {{.ID}}' | grep -E "$images_re" | sort)
[ "$images_before" = "$images_after" ] && img_ok=1 || img_ok=0
check 0 both "no image rebuilt during the timed runs" "$img_ok" "$(diff <(echo "$images_before") <(echo "$images_after") | tr '\n' ' ')"
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---------------------------------------------------------------------------
python3 - "$samples" "$out_json" "$out_md" "$rounds" "$noop" "$started" "$finished" "$berth" "$stacks" <<'PY'
import json, sys, statistics as st, platform, subprocess, os
samples_f, out_json, out_md, rounds, noop, started, finished, berth, stacks = sys.argv[1:10]
S = [json.loads(l) for l in open(samples_f)]
have_ref = any(s["tool"] in ("berth", "compose") and s["op"] == "cold_up" for s in S)
# The previous result file, for "no worse than before" on the reference stack.
try:
    prev = json.load(open(out_json))
except (OSError, ValueError):
    prev = None

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
foreign = {t: [s["running"] for s in S if s["tool"] == t and s["op"] == "foreign"]
           for t in ("berth", "compose", "plain-berth", "plain-compose")}

# The plain stack (bench/plain/compose.yaml), tools "plain-berth" and "plain-compose".
def noop_list(tool):
    return [t for s in S if s["tool"] == tool and s["op"] == "noop_up" for t in s["ms_list"]]
raw_plain = {}
for t in ("berth", "compose"):
    tool = "plain-" + t
    raw_plain[t] = {
        "cold_up_ms": get(tool, "cold_up"),
        "cold_cmd_returns_ms": get(tool, "cold_up", "cmd_ms"),
        "noop_up_ms": noop_list(tool),
        "noop_tool_cpu_ms": get(tool, "noop_up", "tool_cpu_ms"),
        "noop_engine_cpu_ms": get(tool, "noop_up", "engine_cpu_ms"),
        "down_ms": get(tool, "down"),
    }
summary_plain = {t: {k: stats(v) for k, v in ops.items()} for t, ops in raw_plain.items()}
def pmed(t, op):
    x = summary_plain[t][op]
    return x["median_ms"] if x else None
ratios_plain = {}
for op in ("cold_up_ms", "noop_up_ms", "down_ms", "noop_tool_cpu_ms", "noop_engine_cpu_ms"):
    b, c = pmed("berth", op), pmed("compose", op)
    ratios_plain[op] = {"berth_over_compose": round(b / c, 3) if b and c else None,
                        "compose_over_berth": round(c / b, 2) if b and c else None}
# The worker, per round and tool: did it exit or restart (after the cold up,
# after the no-op ups)? A cold up that failed counts as an exit too.
workers = {}
for t in ("berth", "compose"):
    tool = "plain-" + t
    rows = []
    for r in range(1, int(rounds) + 1):
        ws = [s for s in S if s["tool"] == tool and s["op"] == "worker" and s["round"] == r]
        cold = next((s for s in S if s["tool"] == tool and s["op"] == "cold_up" and s["round"] == r), {})
        rows.append({"round": r, "exited": any(w["exited"] for w in ws) or not ws,
                     "connected": all(w["connected"] for w in ws) and bool(ws),
                     "cold_up_ok": cold.get("rc") == 0 and cold.get("ms") is not None,
                     "states": [{k: w[k] for k in ("when", "status", "restarts", "exit_code", "finished_at")} for w in ws],
                     "cold_up_error": cold.get("error")})
    workers[t] = rows
berth_ready_plain = [s.get("berth_ready_ms") for s in S if s["tool"] == "plain-berth" and s["op"] == "cold_up"]
rep_plain = {k: stats([r.get(k) for r in berth_ready_plain if r])
             for k in ("pg", "mq", "cache", "worker", "web")}

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
# Issue 9: the plain stack's targets, and the reference stack no worse than
# the result file this run replaces (its medians; noise aside).
prev_ref = {op: (prev or {}).get("summary", {}).get("berth", {}).get(op) for op in ("cold_up_ms", "noop_up_ms", "down_ms")}
targets_plain = {
    "cold_up_le_compose": (pmed("berth", "cold_up_ms") or 1e9) <= (pmed("compose", "cold_up_ms") or 0),
    "noop_up_under_100ms": (pmed("berth", "noop_up_ms") or 1e9) <= 100,
    "noop_up_5x_faster_than_compose": (ratios_plain["noop_up_ms"]["compose_over_berth"] or 0) >= 5,
    "worker_never_exits": all(not w["exited"] and w["cold_up_ok"] for w in workers["berth"]),
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
    "with the slowest chain. "
    "The plain stack: bench/plain/compose.yaml for both tools (projects bench-plain-berth and "
    "bench-plain-compose; the three infra images plain-*:bench are built by berth in the untimed "
    "warm-up and used as they are by compose), measured in each round after the reference stack, "
    "one tool then the other (alternating). Cold up after down --volumes: `berth up --json` or "
    "`docker-compose up -d`, then the engine polled every 50 ms until the project's five containers "
    "all run and none has a health other than healthy (a container that is not running ends the "
    "wait: an exit); the time is from the start of the command. The worker is inspected after the "
    "cold up and after the no-op ups (state, RestartCount, ExitCode, FinishedAt, and its log line "
    "'worker: CONNECTED'). No-op ups, down and down --volumes as for the reference stack."
)
if os.environ.get("GW_PORT", "3000") != "3000":
    method += (f" In this run 127.0.0.1:3000 was held by another user of the engine: the reference "
               f"stack ran from a copy of examples/hockeyhub whose gateway is published on "
               f"{os.environ['GW_PORT']} instead, its only difference.")
doc = {
    "benchmark": "up-down", "started": started, "finished": finished,
    "reproduce": ("" if stacks == "both" else f"UP_DOWN_STACKS={stacks} ") + f"bench/up-down.sh {rounds} {noop}",
    "stacks": stacks,
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
    "plain": {"stack": "bench/plain/compose.yaml", "summary": summary_plain, "ratios": ratios_plain,
              "targets": targets_plain, "workers": workers, "berth_reported_ready_ms": rep_plain,
              "raw": raw_plain},
    "reference_previous": {"file_started": (prev or {}).get("started"), "berth_median_ms": prev_ref},
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
def pcell(t, op):
    x = summary_plain[t][op]
    if not x:
        return "–"
    return f"{x['median_ms']:.0f} ms ({x['min_ms']:.0f}–{x['max_ms']:.0f}, n={x['n']})"
def pratio(op):
    r = ratios_plain[op]["compose_over_berth"]
    return f"{r:.2f}x" if r else "–"
def fmt(v):
    return "–" if v is None else f"{v:.0f} ms"
prows = [
    f"| cold up to all healthy | {pcell('berth','cold_up_ms')} | {pcell('compose','cold_up_ms')} | {pratio('cold_up_ms')} |",
    f"| cold up: the command returns | {pcell('berth','cold_cmd_returns_ms')} | {pcell('compose','cold_cmd_returns_ms')} | – |",
    f"| no-op up | {pcell('berth','noop_up_ms')} | {pcell('compose','noop_up_ms')} | {pratio('noop_up_ms')} |",
    f"| down (volumes kept) | {pcell('berth','down_ms')} | {pcell('compose','down_ms')} | {pratio('down_ms')} |",
    f"| no-op up: the tool's CPU time | {pcell('berth','noop_tool_cpu_ms')} | {pcell('compose','noop_tool_cpu_ms')} | {pratio('noop_tool_cpu_ms')} |",
    f"| no-op up: the engine's CPU time | {pcell('berth','noop_engine_cpu_ms')} | {pcell('compose','noop_engine_cpu_ms')} | {pratio('noop_engine_cpu_ms')} |",
]
def wcell(w):
    if not w["cold_up_ok"] and w["cold_up_error"]:
        tag = "**cold up failed**"
    elif w["exited"]:
        tag = "**exited**"
    else:
        tag = "ran"
    last = w["states"][-1] if w["states"] else None
    return tag + (f" ({last['status']}, exit {last['exit_code']}, {last['restarts']} restarts)" if last and w["exited"] else "")
wrows = "\n".join(f"| {wb['round']} | {wcell(wb)} | {wcell(wc)} |" for wb, wc in zip(workers["berth"], workers["compose"]))
prep_rows = "\n".join(f"| {k} | {v['median_ms']:.0f} ms ({v['min_ms']}–{v['max_ms']}) |" for k, v in rep_plain.items() if v)
n_exit = {t: sum(1 for w in workers[t] if w["exited"]) for t in workers}
def round_ms(tool, r):
    x = next((s for s in S if s["tool"] == tool and s["op"] == "cold_up" and s["round"] == r), {})
    return "–" if x.get("ms") is None else f"{x['ms'] / 1000:.1f}"
per_round_plain = ", ".join(f"{round_ms('plain-berth', r)}/{round_ms('plain-compose', r)}"
                            for r in range(1, int(rounds) + 1))
md = f"""# Up and down: berth vs docker-compose 1.29

Two stacks, measured in the same run, the tools interleaved round by round:
the reference stack (examples/hockeyhub) and the plain stack
(bench/plain/compose.yaml, issue 9).

## The plain stack

bench/plain/compose.yaml, the same file for both tools: PostgreSQL, RabbitMQ
and Redis under image names of their own (`plain-pg:bench`, ..., which berth
does not recognise by name), each with its own Compose healthcheck
(`pg_isready`, `rabbitmq-diagnostics -q check_port_connectivity`,
`redis-cli ping`; every `interval: 1s`); a worker that connects once to all
three at start and exits 1 if any refuses, depending on them with
`condition: service_healthy`; a web service depending on the worker, with a
python healthcheck. No x-berth keys, no berth.yaml. Medians of {rounds}
rounds (no-op up: {noop} runs per round); min–max and number of runs in
brackets. "All healthy": every container running and every healthcheck
reported healthy by the engine, polled every 50 ms from the start of the
command (berth's `up` returns when it considers the stack ready; its return
is the second row).

| operation | berth median | compose median | ratio compose/berth |
| --- | --- | --- | --- |
{chr(10).join(prows)}

Cold up to all healthy per round, berth/compose, in seconds: {per_round_plain}.

The worker, per round (exited: not running, restarted, or finished at some
point, after the cold up or after the no-op ups):

| round | berth | compose |
| --- | --- | --- |
{wrows}

Exits: berth {n_exit['berth']} of {rounds}, compose {n_exit['compose']} of {rounds}.

berth's own report (`up --json`, ready_ms per service, median (min–max)):

| service | ready |
| --- | --- |
{prep_rows or '| – | – |'}

### Targets (issue 9)

| target | result | met |
| --- | --- | --- |
| plain: cold up <= docker-compose's | {fmt(pmed('berth','cold_up_ms'))} vs {fmt(pmed('compose','cold_up_ms'))} | {yes(targets_plain['cold_up_le_compose'])} |
| plain: no-op up <= 100 ms | {fmt(pmed('berth','noop_up_ms'))} | {yes(targets_plain['noop_up_under_100ms'])} |
| plain: no-op up >= 5x faster than docker-compose | {pratio('noop_up_ms')} | {yes(targets_plain['noop_up_5x_faster_than_compose'])} |
| plain: the worker never exits (berth) | {n_exit['berth']} exits in {rounds} rounds | {yes(targets_plain['worker_never_exits'])} |
| reference: cold up no worse than before | {fmt(med('berth','cold_up_ms'))} (before: {fmt((prev_ref['cold_up_ms'] or {}).get('median_ms'))}) | see numbers |
| reference: no-op up no worse than before | {fmt(med('berth','noop_up_ms'))} (before: {fmt((prev_ref['noop_up_ms'] or {}).get('median_ms'))}) | see numbers |

("Before" is the result file this run replaced, started {(prev or {}).get('started', '–')}.)

"""
md_ref = f"""## The reference stack

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

### Targets (issue 4)

| target | result | met |
| --- | --- | --- |
| no-op up under 100 ms | {med('berth','noop_up_ms'):.0f} ms | {yes(targets['noop_up_under_100ms'])} |
| no-op up at least 10x faster than compose | {ratio('noop_up_ms')} | {yes(targets['noop_up_10x_faster_than_compose'])} |
| cold up within 10% of the slowest dependency chain | {rel(over)} | {yes(targets['cold_up_within_10pct_of_slowest_chain'])} |
| down under 3 s | {med('berth','down_ms'):.0f} ms | {yes(targets['down_under_3s'])} |

### Dependency chains

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

""" if have_ref else "## The reference stack\n\nNot measured in this run (UP_DOWN_STACKS=plain).\n\n"
md_tail = f"""## Checks

{len(checks)} checks (gateway 200 right after berth up, no-op changes no
container, down leaves no container or network and keeps the volumes,
down --volumes leaves nothing, no image rebuilt; on the plain stack: cold up
to all healthy, the worker connected and never exited, and the same checks
of no-op up and down); failed:

{fail_rows}

Other containers running on the engine at the start of each cold up (other
users of the same engine; noise): berth {foreign['berth']}, compose {foreign['compose']};
plain stack: berth {foreign['plain-berth']}, compose {foreign['plain-compose']}.

## Method

{method}

Raw samples: up-down.json.

Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB, {machine['kernel']};
Docker Engine {machine['docker_engine']} ({machine['storage_driver']}), {machine['berth']},
docker-compose {machine['docker_compose']}, {machine['hyperfine']}; {started} to {finished}.
Reproduce: `{doc['reproduce']}` (needs the Docker engine, hyperfine and
docker-compose from Debian, build/berth and the berth-local/* images; about 10 minutes).
"""
md = md + md_ref + md_tail
open(out_md, "w").write(md)
print(md)
PY
