#!/usr/bin/env bash
# What an exec healthcheck costs the service it checks. RabbitMQ under an
# image name berth does not know (so only its Compose healthcheck says what
# it is), healthcheck `rabbitmq-diagnostics -q check_port_connectivity`:
# every run of it boots an Erlang VM, about 1 s of CPU, on a 2-core machine
# where RabbitMQ itself boots. Variants, interleaved round by round (the
# order rotates), each sample a cold start (fresh container and volume):
#
#   base      docker run, no healthcheck: the service's own boot (on a
#             network of its own, as the tools' containers are)
#   new30     berth up (BERTH, build/berth), interval 30s: berth runs the check
#   new30u    the same, the check written so berth does not recognise it
#             (rabbitmq-diag''nostics in a shell): berth's paced exec alone
#   old30     berth up (OLD_REV, before the pacing), interval 30s
#   new1      berth up, interval 1s: the engine runs the check, berth waits
#             for its health_status
#   compose30, compose1   docker-compose 1.29 up -d, then until healthy
#
# An external prober (python, from the host) watches the container: the
# Docker API for its IP, then an AMQP protocol header to its port 5672 every
# 50 ms; the engine's events for every exec run in the container; the
# container's cgroup (cpuacct.usage) for its CPU, probes included.
#
#   bench/probe-cost.sh [ROUNDS]       (default 5, at least 5)
# Env: BERTH (new binary), BERTH_OLD (old binary; else OLD_REV, default
# 4330ac7, is built from git into the run's temporary directory),
# PROBECOST_COMPOSE=0 to skip docker-compose, PROBECOST_VARIANTS="base new30"
# to run only those.
# Needs: the Docker engine (cgroup v1 or v2), docker-compose (Debian package),
# python3, cmake and a C compiler (for the old build), berth-local/rabbitmq:3.
# Writes bench/results/probe-cost.json (all raw samples) and probe-cost.md.
# Each round holds /tmp/berth-engine.lock (other benches and tests wait).
set -euo pipefail
say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${1:-5}
[ "$rounds" -ge 1 ] || { echo "ROUNDS is a count of rounds" >&2; exit 2; }
[ "$rounds" -ge 5 ] || say "fewer than 5 rounds: a smoke run, not a measurement"
berth=${BERTH:-$root/build/berth}
old_rev=${OLD_REV:-4330ac7}
with_compose=${PROBECOST_COMPOSE:-1}
[ -x "$berth" ] || { echo "build berth first: cmake --build build" >&2; exit 1; }
for t in docker python3 flock; do
  command -v "$t" >/dev/null || { echo "$t is missing" >&2; exit 1; }
done
[ "$with_compose" = 0 ] || command -v docker-compose >/dev/null ||
  { echo "docker-compose is missing (apt-get install docker-compose, or PROBECOST_COMPOSE=0)" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "the Docker engine does not answer" >&2; exit 1; }
docker image inspect berth-local/rabbitmq:3 >/dev/null 2>&1 ||
  { echo "berth-local/rabbitmq:3 is missing: tests/images/build.sh" >&2; exit 1; }

image=probecost-mq:bench
work=$(mktemp -d /tmp/bench-probe-cost.XXXXXX)
export NO_COLOR=1
samples=$work/samples.jsonl
log=$work/log
lock=/tmp/berth-engine.lock
: >"$samples"

read -r -a variants <<<"${PROBECOST_VARIANTS:-base new30 new30u old30 new1}"
[ "$with_compose" = 0 ] || [ -n "${PROBECOST_VARIANTS:-}" ] || variants+=(compose30 compose1)

# Project (and container) names per variant: berth names its container
# PROJECT-mq-1, docker-compose 1.29 PROJECT_mq_1.
project() { echo "probecost-$1"; }
container() {
  case $1 in
    base) echo probecost-base-mq ;;
    compose*) echo "$(project "$1")_mq_1" ;;
    *) echo "$(project "$1")-mq-1" ;;
  esac
}
tool() { # VARIANT: the command line, minus the subcommand
  case $1 in
    new*) echo "$berth -p $(project "$1") -f $work/$1.yml" ;;
    old*) echo "$berth_old -p $(project "$1") -f $work/$1.yml" ;;
    compose*) echo "docker-compose -p $(project "$1") -f $work/$1.yml" ;;
  esac
}
remove() { # VARIANT: its container, volume and network, whatever made them
  local v=$1 p
  p=$(project "$v")
  case $v in
    base) docker rm -fv "$(container base)" >/dev/null 2>&1; docker network rm probecost-base >/dev/null 2>&1 || true ;;
    compose*) $(tool "$v") down -v -t 2 >>"$log" 2>&1 || true ;;
    *) BERTH_STATE_DIR=$work/state-${v:0:3} $(tool "$v") down --volumes >>"$log" 2>&1 || true ;;
  esac
  docker rm -fv "$(container "$v")" >/dev/null 2>&1 || true
  { docker volume ls -q | grep -E "^(${p}_|probecost-base$)" || true; } |
    if [ "$v" = base ]; then grep -x probecost-base || true; else grep -v -x probecost-base || true; fi |
    xargs -r docker volume rm >/dev/null 2>&1 || true
  for l in berth.project com.docker.compose.project; do
    docker network ls -q --filter "label=$l=$p" | xargs -r docker network rm >/dev/null 2>&1 || true
  done
}

cleanup() {
  local rc=$?
  set +e
  say "cleaning up"
  [ -n "${prober_pid:-}" ] && kill "$prober_pid" 2>/dev/null
  for v in "${variants[@]}"; do remove "$v"; done
  docker image rm "$image" >/dev/null 2>&1
  if [ "$rc" -ne 0 ]; then
    echo "failed (exit $rc); last lines of $log:" >&2
    tail -n 30 "$log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The old binary: built from git, berth alone, into the run's directory.
berth_old=${BERTH_OLD:-}
if [ -z "$berth_old" ]; then
  say "building berth at $old_rev"
  mkdir -p "$work/old"
  git -C "$root" archive "$old_rev" | tar -x -C "$work/old"
  cmake -S "$work/old" -B "$work/old/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$log" 2>&1
  cmake --build "$work/old/build" -j2 --target berth >>"$log" 2>&1
  berth_old=$work/old/build/berth
fi
[ -x "$berth_old" ] || { echo "no old berth at $berth_old" >&2; exit 1; }
docker tag berth-local/rabbitmq:3 "$image"

check='["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"]'
unrecognised='["CMD-SHELL", "rabbitmq-diag'"''"'nostics -q check_port_connectivity"]'
compose_file() { # TEST INTERVAL
  cat <<EOF
services:
  mq:
    image: $image
    healthcheck:
      test: $1
      interval: $2
      retries: 120
    volumes: ["mqdata:/var/lib/rabbitmq"]
volumes:
  mqdata: {}
EOF
}
compose_file "$check" 30s >"$work/new30.yml"
compose_file "$unrecognised" 30s >"$work/new30u.yml"
cp "$work/new30.yml" "$work/old30.yml"
cp "$work/new30.yml" "$work/compose30.yml"
compose_file "$check" 1s >"$work/new1.yml"
cp "$work/new1.yml" "$work/compose1.yml"
mkdir -p "$work/state-new" "$work/state-old"
# What berth makes of the files (the unrecognised one must not be rabbitmq).
for v in new30 new30u new1; do
  kind=$(BERTH_STATE_DIR=$work/state-new $(tool $v) config --json 2>>"$log" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["services"]["mq"]["kind"] or "none")' 2>>"$log" || echo "?")
  echo "$v: berth's kind of mq: $kind" >>"$log"
done

# The prober: CONTAINER DIR. Files it writes in DIR: ready (AMQP answered),
# healthy (the engine said so), out.json when DIR/stop appears (or after
# 180 s). Cheap on purpose: one process, sockets only.
cat >"$work/prober.py" <<'PY'
import calendar, http.client, json, os, socket, sys, threading, time, urllib.parse
name, d = sys.argv[1], sys.argv[2]
class U(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/var/run/docker.sock")
events, out = [], {"name": name}
def watch():
    c = U("docker")
    f = json.dumps({"container": [name], "type": ["container"]})
    c.request("GET", "/events?filters=" + urllib.parse.quote(f))
    r = c.getresponse()
    dec, buf = json.JSONDecoder(), ""
    while True:
        chunk = r.read1(65536).decode()
        if not chunk:
            return
        buf += chunk
        while buf.strip():
            buf = buf.lstrip()
            try:
                e, n = dec.raw_decode(buf)
            except ValueError:
                break
            buf = buf[n:]
            a = e.get("Action", "")
            events.append((e.get("timeNano", 0) / 1e9, a))
            if a.startswith("health_status: healthy"):
                open(os.path.join(d, "healthy"), "w").close()
threading.Thread(target=watch, daemon=True).start()
def cpu(cid):
    for p in ("/sys/fs/cgroup/cpuacct/docker/%s/cpuacct.usage" % cid,
              "/sys/fs/cgroup/system.slice/docker-%s.scope/cpu.stat" % cid,
              "/sys/fs/cgroup/docker/%s/cpu.stat" % cid):
        try:
            t = open(p).read()
        except OSError:
            continue
        if p.endswith("usage"):
            return int(t) / 1e9
        return int(t.split("usage_usec ")[1].split()[0]) / 1e6
    return None
def host_busy():  # seconds of CPU the whole machine spent busy, all cores
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")
def started_at(s):  # 2026-12-02T13:20:01.123456789Z, UTC
    base, frac = s.rstrip("Z").split(".") if "." in s else (s.rstrip("Z"), "0")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + float("0." + frac)
end = time.time() + 180
api = U("docker")
ip = cid = None
while time.time() < end and not ip:
    try:
        api.request("GET", "/containers/%s/json" % name)
        r = api.getresponse()
        body = r.read()
        if r.status == 200:
            j = json.loads(body)
            nets = j["NetworkSettings"]["Networks"] or {}
            ips = [n["IPAddress"] for n in nets.values() if n.get("IPAddress")]
            if j["State"]["Running"] and ips:
                ip, cid, out["started"] = ips[0], j["Id"], started_at(j["State"]["StartedAt"])
                out["busy_seen"], out["cpu_seen"] = host_busy(), cpu(cid)
    except (OSError, http.client.HTTPException):
        api = U("docker")
    if not ip:
        time.sleep(0.05)
out["probes"] = 0
while ip and time.time() < end and "amqp" not in out:
    out["probes"] += 1
    try:
        with socket.create_connection((ip, 5672), timeout=0.5) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            s.settimeout(2)
            if s.recv(1)[:1] == b"\x01":  # a method frame: connection.start
                out["amqp"], out["cpu_amqp"], out["busy_amqp"] = time.time(), cpu(cid), host_busy()
                open(os.path.join(d, "ready"), "w").close()
                break
    except OSError:
        pass
    time.sleep(0.05)
while time.time() < end and not os.path.exists(os.path.join(d, "stop")):
    time.sleep(0.05)
out["cpu_stop"] = cpu(cid) if cid else None
out["events"] = list(events)
json.dump(out, open(os.path.join(d, "out.json.tmp"), "w"))
os.rename(os.path.join(d, "out.json.tmp"), os.path.join(d, "out.json"))
PY

now() { date +%s.%N; }
until_file() { # FILE SECONDS
  local i
  for ((i = 0; i < $2 * 20; i++)); do [ -e "$1" ] && return 0; sleep 0.05; done
  return 1
}

# One cold sample of VARIANT in round R (the caller holds the engine lock).
sample() {
  local v=$1 r=$2 d=$work/s-$1-$2 t0 t_ret="" rc=0 cpu_ret="" cid
  mkdir -p "$d"
  remove "$v"
  python3 "$work/prober.py" "$(container "$v")" "$d" &
  prober_pid=$!
  sleep 0.2 # its event stream is open before anything starts
  t0=$(now)
  case $v in
    base)
      docker network create probecost-base >>"$log" 2>&1 || rc=$?
      docker run -d --name "$(container base)" --network probecost-base --network-alias mq \
        -v probecost-base:/var/lib/rabbitmq "$image" >>"$log" 2>&1 || rc=$?
      until_file "$d/ready" 150 || rc=124
      ;;
    compose*)
      $(tool "$v") up -d >>"$log" 2>&1 || rc=$?
      until_file "$d/healthy" 150 || rc=124
      t_ret=$(now)
      ;;
    *)
      BERTH_STATE_DIR=$work/state-${v:0:3} $(tool "$v") up --timeout 150s >>"$log" 2>&1 || rc=$?
      t_ret=$(now)
      ;;
  esac
  if [ -n "$t_ret" ]; then
    cid=$(docker inspect -f '{{.Id}}' "$(container "$v")" 2>/dev/null || true)
    cpu_ret=$(cat "/sys/fs/cgroup/cpuacct/docker/$cid/cpuacct.usage" 2>/dev/null ||
      sed -n 's/^usage_usec //p' "/sys/fs/cgroup/system.slice/docker-$cid.scope/cpu.stat" 2>/dev/null | sed 's/$/000/' || true)
  fi
  until_file "$d/ready" 30 || true # the service's own answer, if up returned first
  touch "$d/stop"
  wait "$prober_pid" || true
  prober_pid=
  remove "$v"
  python3 - "$d/out.json" "$v" "$r" "$t0" "${t_ret:-}" "${cpu_ret:-}" "$rc" >>"$samples" <<'PY'
import json, sys
p, v, r, t0, t_ret, cpu_ret, rc = sys.argv[1:]
o = json.load(open(p))
t0, st = float(t0), o.get("started")
end = float(t_ret) if t_ret else o.get("amqp")  # what counts as "ready" for the exec count
ex = [t for t, a in o["events"] if a.startswith("exec_create")]
s = {"variant": v, "round": int(r), "rc": int(rc),
     "start_after_cmd_s": st - t0 if st else None,
     "amqp_after_start_s": o["amqp"] - st if st and "amqp" in o else None,
     "ret_after_start_s": float(t_ret) - st if st and t_ret else None,
     "ret_after_cmd_s": float(t_ret) - t0 if t_ret else None,
     "execs_at_ready": sum(1 for t in ex if end and t <= end),
     "execs_total": len(ex),
     "exec_times_after_start_s": [round(t - st, 3) for t in ex] if st else [],
     "cpu_at_amqp_s": o.get("cpu_amqp"),
     "cpu_at_ret_s": int(cpu_ret) / 1e9 if cpu_ret else None,
     "amqp_probes": o.get("probes"),
     # the rest of the machine, from the container seen running to AMQP-ready
     "other_cpu_s": (o["busy_amqp"] - o["busy_seen"]) - (o["cpu_amqp"] - o["cpu_seen"])
                    if "busy_amqp" in o and o.get("cpu_seen") is not None else None}
print(json.dumps(s))
PY
  say "$v round $r: $(tail -n 1 "$samples")"
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
n=${#variants[@]}
exec 9>"$lock"
for r in $(seq "$rounds"); do
  flock 9 # one round at a time: its variants see the same machine
  for ((i = 0; i < n; i++)); do
    sample "${variants[$(((i + r - 1) % n))]}" "$r"
  done
  flock -u 9
done
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

kinds=$(grep "berth's kind" "$log" | tr '\n' ';')
python3 - "$samples" "$root/bench/results" "$rounds" "$started" "$finished" "$old_rev" "$kinds" <<'PY'
import json, statistics as st, subprocess, sys
samples, out, rounds, started, finished, old_rev, kinds = sys.argv[1:]
S = [json.loads(l) for l in open(samples)]
def sh(c):
    return subprocess.run(["sh", "-c", c], capture_output=True, text=True).stdout.strip()
names = {
    "base": "(a) docker run, no healthcheck",
    "new30": "(b) berth up, interval 30s (berth runs the check)",
    "new30u": "(b') the same, check not recognised as rabbitmq",
    "old30": f"(c) berth up at {old_rev}, interval 30s",
    "new1": "(d) berth up, interval 1s (the engine runs it)",
    "compose30": "docker-compose 1.29, interval 30s",
    "compose1": "docker-compose 1.29, interval 1s",
}
def med(v, k, fmt="{:.2f}"):
    xs = [s[k] for s in S if s["variant"] == v and s[k] is not None]
    return fmt.format(st.median(xs)) if xs else "-"
def rng(v, k):
    xs = [s[k] for s in S if s["variant"] == v and s[k] is not None]
    return f"{min(xs):.2f}–{max(xs):.2f}" if xs else "-"
rows = []
for v, name in names.items():
    if not any(s["variant"] == v for s in S):
        continue
    fails = sum(1 for s in S if s["variant"] == v and s["rc"] != 0)
    rows.append(f"| {name} | {med(v, 'amqp_after_start_s')} s ({rng(v, 'amqp_after_start_s')}) "
                f"| {med(v, 'ret_after_start_s')} s | {med(v, 'execs_at_ready', '{:.0f}')} "
                f"| {med(v, 'cpu_at_amqp_s')} s | {med(v, 'cpu_at_ret_s')} s | {med(v, 'other_cpu_s')} s | {fails} |")
def m(v, k):
    xs = [s[k] for s in S if s["variant"] == v and s[k] is not None]
    return st.median(xs) if xs else None
def paired(v):  # the median, over rounds, of (v - base) in the same round
    b = {s["round"]: s["amqp_after_start_s"] for s in S if s["variant"] == "base"}
    d = [s["amqp_after_start_s"] - b[s["round"]] for s in S if s["variant"] == v
         and s["amqp_after_start_s"] is not None and b.get(s["round"]) is not None]
    return st.median(d) if d else None
deltas = [f"{v} {m(v, 'amqp_after_start_s') - m('base', 'amqp_after_start_s'):+.2f} s "
          f"(paired by round: {paired(v):+.2f} s)"
          for v in names if v != "base" and m(v, "amqp_after_start_s") is not None
          and m("base", "amqp_after_start_s") is not None and paired(v) is not None]
engine = sh("docker version -f '{{.Server.Version}}'")
machine = (f"{sh('nproc')} CPUs, Docker Engine {engine}, "
           f"docker-compose {sh('docker-compose version --short 2>/dev/null') or '-'}")
md = f"""# What an exec healthcheck costs the service it checks

Medians of {rounds} cold runs per variant (range of AMQP-ready in brackets),
variants interleaved round by round. Table in bench/results/probe-cost.md is
rewritten by each run; the method is in bench/probe-cost.sh's header.

| variant | AMQP answers, after start | up returns (compose: healthy), after start | execs run until then | container CPU at AMQP-ready | container CPU when up returns | rest of the machine's CPU until AMQP-ready | failed runs |
| --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

AMQP-ready against (a), the difference of medians (and the median of each
round's difference): {"; ".join(deltas) or "-"}.

"After start" is after the container's State.StartedAt. AMQP-ready: the first
AMQP protocol header answered by connection.start, probed from the host every
50 ms. Execs: exec_create events in the container (berth's and the engine's
healthchecks) until up returned (compose: until health_status healthy;
docker run: until AMQP answered). CPU: the container's cgroup, every exec
included. The rest of the machine: every CPU second spent outside the
container (berth, dockerd, the prober, anything else) from the container
seen running to AMQP-ready; large values mean a noisy sample.
berth's recognition: {kinds}
Machine: {machine}; {started} to {finished}. Reproduce: `bench/probe-cost.sh {rounds}`.
Raw samples: probe-cost.json.
"""
json.dump({"benchmark": "probe-cost", "reproduce": f"bench/probe-cost.sh {rounds}", "old_rev": old_rev,
           "started": started, "finished": finished, "machine": machine, "samples": S},
          open(f"{out}/probe-cost.json", "w"), indent=1)
open(f"{out}/probe-cost.md", "w").write(md)
print(md)
PY
