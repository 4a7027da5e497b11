#!/usr/bin/env bash
# Issue 5's scenario on the reference stack: examples/hockeyhub (copied to a
# private directory, so the repository is never touched) up, `berth watch
# --json` in the background, handlers edited, answers read through the
# gateway's published port.
#
#   sync          user-service's rule changed to `action: sync` (the copy's
#                 berth.yaml), the service run under a small in-container
#                 reloader (as a dev server with --reload does): editing a
#                 handler (a new field in the user JSON) changes the
#                 gateway's answer, and the container is not restarted (same
#                 id, same StartedAt); one synced action for user-service
#   sync+restart  communication-service keeps the example's rule: editing a
#                 handler (a new field in /api/messages/events/count) changes
#                 the gateway's answer after one restarted action; the same
#                 container, restarted (StartedAt moves on)
#   the others    the gateway is neither restarted nor recreated by either
#                 change, nor is the service that was not edited
set -euo pipefail
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test watch-hh
PROJECT=bw-hh-$$
note "project (for this test) $PROJECT"
command -v curl >/dev/null || cannot_run "curl not found on the host"

remove_images() {
  local ids
  mapfile -t ids < <(docker image ls -q --filter "label=berth.project=$PROJECT"
    docker image ls -q --filter "reference=$PROJECT-*")
  [ ${#ids[@]} -eq 0 ] || docker image rm -f "${ids[@]}" >/dev/null 2>&1 || true
}
trap 'rc=$?; set +e; kill_bg; purge_project; remove_images; (exit $rc); engine_cleanup' EXIT

HH=$WORK/hockeyhub
cp -r "$BERTH_SRC/examples/hockeyhub" "$HH"
rm -rf "$HH"/*/__pycache__
MANIFEST=$HH/berth.yaml
GW_PORT=$(free_port)

# The copy's berth.yaml: the gateway on a free port of 127.0.0.1 (tests run
# side by side), user-service with a sync rule under a reloader.
python3 - "$MANIFEST" "$GW_PORT" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
def sub(old, new):
    global text
    assert text.count(old) == 1, old
    text = text.replace(old, new)
sub('      - "3000:3000"', f'      - "127.0.0.1:{port}:3000"')
reloader = '''    # Runs app.py again when its content changes (a dev server's --reload).
    command:
      - python3
      - -c
      - |
        import signal, subprocess, sys, time
        def src():
            try:
                return open("/app/app.py", "rb").read()
            except OSError:
                return None
        child = None
        def stop(*_):
            if child:
                child.terminate()
                child.wait()
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        while True:
            seen = src()
            child = subprocess.Popen([sys.executable, "-u", "/app/app.py"])
            while child.poll() is None and src() == seen:
                time.sleep(0.1)
            if child.poll() is None:
                child.terminate()
                child.wait()
            else:
                time.sleep(0.5)
    watch:
      - path: ./user-service
        action: sync
'''
sub('''    watch:
      - path: ./user-service
        action: sync+restart
''', reloader)
open(path, "w").write(text)
PY
capture b config -q
[ "$RC" = 0 ] || fail "the edited copy of berth.yaml does not validate"

GW=http://127.0.0.1:$GW_PORT
# gw PATH: the gateway's answer (body)
gw() { curl -fsS --max-time 5 "$GW$1"; }
# json_get JSON KEY: the value of KEY, or "<none>"
json_get() { python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "<none>"))' "$1" "$2"; }
# answers PATH KEY VALUE: the gateway's JSON for PATH has KEY = VALUE
answers() {
  local body
  body=$(gw "$1") || return 1
  [ "$(json_get "$body" "$2")" = "$3" ]
}
started() { docker inspect -f '{{.Id}} {{.State.StartedAt}}' "$(id_of "$1")"; }

note "up (the reference stack: postgres, redis, rabbitmq, three services)"
capture b up --timeout 4m
[ "$RC" = 0 ] || fail "berth up of the hockeyhub copy failed"
unset RC

# A user to read back through the gateway.
user=$(curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' \
  -d "{\"name\": \"Ann\", \"email\": \"ann-$$@example.org\"}" "$GW/api/users") ||
  fail "POST /api/users through the gateway failed"
uid=$(json_get "$user" id)
answers "/api/users/$uid" name Ann || fail "GET /api/users/$uid does not return Ann"
answers "/api/users/$uid" rev "<none>" || fail "the user JSON has a rev field already"
answers /api/messages/events/count rev "<none>" || fail "events/count has a rev field already"

users0=$(started user-service)
comm0=$(started communication-service)
gw0=$(started api-gateway)

WATCH_OUT=$WORK/watch.jsonl
bg "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" watch --json >"$WATCH_OUT" 2>"$WORK/watch.err"
WATCH_PID=${BG_PIDS[${#BG_PIDS[@]} - 1]}
watch_dump() {
  echo "--- berth watch stdout:" >&2
  cat "$WATCH_OUT" >&2 || true
  echo "--- berth watch stderr:" >&2
  cat "$WORK/watch.err" >&2 || true
}
eval "lib_$(declare -f fail)"
fail() {
  watch_dump
  lib_fail "$@"
}
# n_events SERVICE EVENT
n_events() { grep "\"service\":\"$1\"" "$WATCH_OUT" | grep -c "\"event\":\"$2\"" || true; }
# wait_event SERVICE EVENT N SECONDS
wait_event() {
  local end=$(($(date +%s%N) / 1000000 + $4 * 1000))
  until [ "$(n_events "$1" "$2")" -ge "$3" ]; do
    kill -0 "$WATCH_PID" 2>/dev/null || fail "berth watch exited"
    [ "$(grep -c '"event":"error"' "$WATCH_OUT")" = 0 ] || fail "berth watch reported an error"
    [ $(($(date +%s%N) / 1000000)) -lt "$end" ] || fail "not within $4 s: $3 $2 action(s) for $1"
    sleep 0.05
  done
}
for s in user-service communication-service api-gateway; do
  wait_event "$s" watching 1 15
done

note "sync: edit a handler of user-service"
python3 - "$HH/user-service/app.py" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
old = '        "id": row["id"],\n'
assert s.count(old) == 1
open(p, "w").write(s.replace(old, old + '        "rev": "R1",\n'))
PY
poll 30 "the gateway answers with the edited user JSON (rev R1)" answers "/api/users/$uid" rev R1
wait_event user-service synced 1 5
answers "/api/users/$uid" name Ann || fail "the user is not Ann any more"
[ "$(started user-service)" = "$users0" ] ||
  fail "a sync rule restarted or recreated user-service: '$users0' -> '$(started user-service)'"
[ "$(n_events user-service synced)" = 1 ] && [ "$(n_events user-service restarted)" = 0 ] ||
  fail "expected one synced action for user-service"

note "sync+restart: edit a handler of communication-service"
python3 - "$HH/communication-service/app.py" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
old = '{"queue": QUEUE, "messages": self.broker.queue_count()}'
assert s.count(old) == 1
open(p, "w").write(s.replace(old, '{"queue": QUEUE, "messages": self.broker.queue_count(), "rev": "C1"}'))
PY
wait_event communication-service restarted 1 60
poll 30 "the gateway answers with the edited events/count (rev C1)" answers /api/messages/events/count rev C1
comm1=$(started communication-service)
[ "${comm1% *}" = "${comm0% *}" ] || fail "sync+restart recreated communication-service (a new container)"
[ "$comm1" != "$comm0" ] || fail "sync+restart did not restart communication-service (StartedAt unchanged)"
[ "$(n_events communication-service restarted)" = 1 ] ||
  fail "expected one restarted action for communication-service"

note "the rest of the stack untouched"
[ "$(started api-gateway)" = "$gw0" ] || fail "the gateway was restarted or recreated"
[ "$(started user-service)" = "$users0" ] || fail "user-service was restarted by communication-service's change"
[ "$(n_events api-gateway synced)$(n_events api-gateway restarted)" = 00 ] ||
  fail "the gateway got an action though none of its files changed"
answers "/api/users/$uid" rev R1 || fail "user-service lost its edit"
python3 - "$WATCH_OUT" <<'PY' || fail "berth watch --json printed a line that is not an action object"
import json, sys
keys = {"service", "event", "files", "deleted", "ms", "detail"}
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert isinstance(o, dict) and keys <= set(o), line
PY
note "ok: $(grep -v '"watching"' "$WATCH_OUT" | tr '\n' ' ')"
