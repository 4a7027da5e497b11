#!/usr/bin/env bash
# berth watch on the real engine, as a developer uses it: a python static
# file server (image built from ./app, serving /app) with watch rules, and
# `berth watch --json` in the background; every check reads the JSON action
# lines and what the container really holds (HTTP through the published port,
# or docker exec).
#
#   sync          an edit changes what curl gets, container not restarted
#                 (same id, same StartedAt)
#   burst         1000 writes (50 files x 20) -> exactly one synced action,
#                 with the last content of every file
#   unchanged     rewriting a file with the same content -> no action
#   delete        a removed file is removed in the container
#   rename        mv a b -> a gone, b there; a renamed directory too
#   new dir       mkdir -p new/deep + a file -> in the container
#   rm -rf dir    the directory is gone from the container, not only its files
#   symlink       a symlink arrives as a symlink; removing it removes it
#   ignore        the rule's ignore globs, .dockerignore of the build context
#                 and editor temp files (x.swp, y~, 4913, .#lock) never reach
#                 the container and cause no action
#   gitignore     .gitignore files with git's rules: a pattern without a slash
#                 matches at any depth, one with a slash is anchored to the
#                 .gitignore's directory
#   dockerignore  patterns are relative to the build context also when the
#                 rule watches a subdirectory of it
#   rebuild       a change under a rebuild rule: new image, new container,
#                 the service answers with the new content
#   rebuild file  a rule whose path is a file (docs: path: ./api/package.json)
#   rebuild busy  during a slow rebuild another service's saves are synced,
#                 and the service's own saves become exactly one more rebuild
#   errors        container removed while watching -> an error event naming
#                 the service, watching goes on; after berth up the next
#                 change is delivered, with the earlier files
#   errors, deletion   a file deleted while the container was gone is gone
#                 after berth up and the next change
#   errors, stopped    a change made while the container is stopped reaches
#                 it once it runs again (with the next change)
#   mode          a chmod alone (content unchanged) reaches the container
#   up --watch    up, then watching in the same process
#   cli           flags after SERVICE are flags; an unknown service is an error
#
# Every "no action" check is closed by a sentinel change: the next action
# must carry only the sentinel. No fixed sleeps; every wait is bounded.
set -euo pipefail
# shellcheck source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"
engine_test watch
PROJECT=bw-watch-$$
note "project (for this test) $PROJECT"
command -v curl >/dev/null || cannot_run "curl not found on the host"

# Images built for the project go too (after the containers are removed).
remove_images() {
  local ids
  mapfile -t ids < <(docker image ls -q --filter "label=berth.project=$PROJECT"
    docker image ls -q --filter "reference=$PROJECT-*")
  [ ${#ids[@]} -eq 0 ] || docker image rm -f "${ids[@]}" >/dev/null 2>&1 || true
}
trap 'rc=$?; set +e; kill_bg; purge_project; remove_images; (exit $rc); engine_cleanup' EXIT

# ---- the stack -------------------------------------------------------------

# new_stack NAME: a fresh project directory $DIR with app/ (Dockerfile
# serving /app from src/) and an empty manifest; PORT is the published port,
# IMAGE the round's own image (built by the first up).
new_stack() {
  DIR=$WORK/$1
  IMAGE=$PROJECT-$1:dev
  mkdir -p "$DIR/app/src"
  MANIFEST=$DIR/berth.yaml
  PORT=$(free_port)
  cat >"$DIR/app/Dockerfile" <<EOF
FROM $RUNTIME_IMAGE
COPY src/ /app/
CMD ["python3", "-m", "http.server", "8000", "--directory", "/app"]
EOF
  echo v0 >"$DIR/app/src/index.html"
}

# manifest RULES: the web service with the given watch rules (YAML lines,
# indented for the list under watch:)
manifest() {
  cat >"$MANIFEST" <<EOF
services:
  web:
    build: ./app
    image: $IMAGE
    ports: ["127.0.0.1:$PORT:8000"]
    probe:
      http: {path: /index.html, port: 8000}
    stop_grace_period: 1s
    watch:
$1
EOF
}
SYNC_RULE='      - path: ./app/src
        action: sync
        target: /app'

up() {
  capture b up --timeout 2m
  [ "$RC" = 0 ] || fail "berth up failed"
  unset RC
}
down() { b down --volumes >/dev/null 2>&1 || true; }

# ---- watch -----------------------------------------------------------------

# start_watch [ARGS...]: berth watch --json in the background; waits for
# its first "watching" line. WATCH_OUT is its stdout.
start_watch() {
  WATCH_OUT=$DIR/watch.jsonl
  bg "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" watch --json "$@" \
    >"$WATCH_OUT" 2>"$DIR/watch.err"
  WATCH_PID=${BG_PIDS[${#BG_PIDS[@]} - 1]}
  wait_watching 15
}
# wait_watching SECONDS: until the "watching" line; fails at once, with its
# output, if the watching process exits first
wait_watching() {
  local end=$(($(date +%s%N) / 1000000 + $1 * 1000))
  until grep -q '"event":"watching"' "$WATCH_OUT"; do
    if ! kill -0 "$WATCH_PID" 2>/dev/null; then
      wait "$WATCH_PID" 2>/dev/null && RC=0 || RC=$?
      wfail "berth exited (status $RC) instead of watching"
    fi
    [ $(($(date +%s%N) / 1000000)) -lt "$end" ] || wfail "not within $1 s: berth says it is watching"
    sleep 0.05
  done
}
stop_watch() {
  kill -INT "$WATCH_PID" 2>/dev/null || true
  local i
  for i in $(seq 50); do
    kill -0 "$WATCH_PID" 2>/dev/null || break
    sleep 0.1
  done
  ! kill -0 "$WATCH_PID" 2>/dev/null || fail "berth watch did not stop on SIGINT within 5 s"
  ! grep -q 'Sanitizer' "$DIR/watch.err" || fail "berth watch: sanitizer report"
}
watch_dump() {
  echo "--- berth watch stdout:" >&2
  cat "$WATCH_OUT" >&2 || true
  echo "--- berth watch stderr:" >&2
  cat "$DIR/watch.err" >&2 || true
}
wfail() { fail "$@"; }
# Every failure (also from poll) shows what berth watch printed.
eval "lib_$(declare -f fail)"
fail() {
  [ -z "${WATCH_OUT:-}" ] || [ ! -e "$WATCH_OUT" ] || watch_dump
  lib_fail "$@"
}

# n_events EVENT: how many EVENT lines berth watch printed so far
n_events() { grep -c "\"event\":\"$1\"" "$WATCH_OUT" || true; }
# wait_events EVENT N [SECONDS]: until at least N EVENT lines
wait_events() {
  local what=$1 n=$2 secs=${3:-15}
  local end=$(($(date +%s%N) / 1000000 + secs * 1000))
  until [ "$(n_events "$what")" -ge "$n" ]; do
    if [ "$what" != error ] && [ "$(n_events error)" -gt "$ERRORS_OK" ]; then
      wfail "berth watch reported an error while $n $what event(s) were expected"
    fi
    [ $(($(date +%s%N) / 1000000)) -lt "$end" ] ||
      wfail "not within ${secs}s: $n \"$what\" event(s) (have $(n_events "$what"))"
    sleep 0.05
  done
}
ERRORS_OK=0
# last_event: the last action line (not watching/output)
last_event() { grep -v '"event":"watching"' "$WATCH_OUT" | tail -n 1; }
# field JSON KEY
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# Every stdout line is one JSON object with the documented keys.
check_json_lines() {
  python3 - "$WATCH_OUT" <<'PY' || wfail "berth watch --json printed a line that is not an action object"
import json, sys
keys = {"service", "event", "files", "deleted", "ms", "detail"}
events = {"watching", "synced", "restarted", "executed", "rebuilt", "output", "error"}
for n, line in enumerate(open(sys.argv[1]), 1):
    o = json.loads(line)
    assert isinstance(o, dict) and keys <= set(o) and o["event"] in events, (n, line)
PY
}

# sentinel BEFORE [IGNORED...]: writes a new file under src/ and waits for
# the action that carries it; then none of the IGNORED paths (under /app) may
# be in the container, and the sentinel's action must carry only it (files 1,
# deleted 0) and be the only synced action since BEFORE (a count of synced
# lines). inotify delivers the earlier changes first, so any action they
# caused is printed before the sentinel's, or they ride in the sentinel's
# batch: no sleep needed.
sentinel() {
  local before=$1 name=sentinel-$RANDOM.txt ev f leaked=()
  shift
  echo "sentinel $RANDOM" >"$DIR/app/src/$name"
  wait_events synced $((before + 1))
  for f in "$@"; do
    absent "/app/$f" || leaked+=("$f")
  done
  [ ${#leaked[@]} = 0 ] || wfail "ignored paths reached the container: ${leaked[*]}"
  [ "$(n_events synced)" = $((before + 1)) ] ||
    wfail "expected exactly one action (the sentinel's), got $(($(n_events synced) - before))${BURST_GAP:+ (after a burst whose writer paused at most $BURST_GAP ms)}"
  ev=$(grep '"event":"synced"' "$WATCH_OUT" | tail -n 1)
  [ "$(field "$ev" files)" = 1 ] && [ "$(field "$ev" deleted)" = 0 ] ||
    wfail "the sentinel's action carried more than the sentinel: $ev"
  in_ctr test -f "/app/$name" || fail "the sentinel $name is not in the container"
}

# ---- the container ---------------------------------------------------------

ctr() { id_of web; }
in_ctr() { docker exec "$(ctr)" "$@"; }
started_at() { docker inspect -f '{{.Id}} {{.State.StartedAt}}' "$(ctr)"; }
get() { curl -fsS --max-time 5 "http://127.0.0.1:$PORT/$1"; }
# serves WANT PATH: the server returns exactly WANT for PATH
serves() { [ "$(get "$2" 2>/dev/null)" = "$1" ]; }
absent() { ! in_ctr test -e "$1"; }

# ---- rounds ----------------------------------------------------------------

round_sync() {
  new_stack sync
  manifest "$SYNC_RULE"
  up
  serves v0 index.html || fail "the image does not serve src/index.html"
  local before
  before=$(started_at)
  start_watch
  echo v1 >"$DIR/app/src/index.html"
  poll 10 "curl returns the edited index.html" serves v1 index.html
  wait_events synced 1
  ev=$(last_event)
  [ "$(field "$ev" service)" = web ] && [ "$(field "$ev" files)" = 1 ] ||
    wfail "unexpected action line: $ev"
  printf 'line 1\nline 2\n' >"$DIR/app/src/index.html"
  poll 10 "curl returns the second edit" serves "$(printf 'line 1\nline 2')" index.html
  wait_events synced 2
  [ "$(started_at)" = "$before" ] ||
    fail "the container was restarted or recreated by a sync: before '$before', after '$(started_at)'"
  # modes are kept (the file is moved in whole, mode and all)
  printf '#!/bin/sh\necho ran\n' >"$WORK/run.sh"
  chmod 755 "$WORK/run.sh"
  mv "$WORK/run.sh" "$DIR/app/src/run.sh"
  wait_events synced 3
  [ "$(in_ctr /app/run.sh)" = ran ] || fail "an executable file lost its mode in the container"
  check_json_lines
  stop_watch
  [ "$(started_at)" = "$before" ] || fail "stopping berth watch touched the container"
  down
}

round_burst() {
  new_stack burst
  mkdir -p "$DIR/app/src/b"
  for i in $(seq 50); do echo "initial $i" >"$DIR/app/src/b/f$i.txt"; done
  manifest "$SYNC_RULE"
  up
  # A 100 ms quiet period: on a loaded CI machine the writer can stall for
  # more than the 20 ms default; what this round checks is the batching.
  start_watch --quiet-ms 100
  # 1000 writes in a tight loop (like a git checkout): 50 files rewritten
  # 20 times (truncate + write each time), on open files so that the writer
  # itself takes a few ms; it reports its longest pause between two writes.
  local gap
  gap=$(python3 - "$DIR/app/src/b" <<'PY'
import os, sys, time
d = sys.argv[1]
fds = [os.open(f"{d}/f{i}.txt", os.O_WRONLY) for i in range(1, 51)]
last, gap = time.monotonic(), 0.0
for r in range(20):
    for i, fd in enumerate(fds, 1):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"round {r} file {i}\n".encode(), 0)
        now = time.monotonic()
        gap, last = max(gap, now - last), now
for fd in fds:
    os.close(fd)
print(int(gap * 1000))
PY
  )
  note "the writer's longest pause between two writes: $gap ms"
  wait_events synced 1
  ev=$(last_event)
  [ "$(field "$ev" files)" = 50 ] ||
    wfail "the burst's first action did not carry the 50 files (writer's longest pause $gap ms): $ev"
  BURST_GAP=$gap sentinel 1
  want=$(for i in $(seq 50); do cat "$DIR/app/src/b/f$i.txt"; done)
  got=$(in_ctr sh -c 'for i in $(seq 50); do cat /app/b/f$i.txt; done')
  [ "$got" = "$want" ] || fail "the container does not have the last content of every file"
  check_json_lines
  down
}

round_unchanged() {
  new_stack unchanged
  echo same >"$DIR/app/src/same.txt"
  echo same >"$WORK/same.copy"
  manifest "$SYNC_RULE"
  up
  start_watch
  # the same bytes again: rewritten, copied over, touched
  echo same >"$DIR/app/src/same.txt"
  cp "$WORK/same.copy" "$DIR/app/src/same.txt"
  touch "$DIR/app/src/same.txt"
  sentinel 0
  [ "$(n_events error)" = 0 ] || wfail "errors reported"
  down
}

round_delete_rename_newdir() {
  new_stack files
  echo a >"$DIR/app/src/a.txt"
  echo gone >"$DIR/app/src/gone.txt"
  mkdir -p "$DIR/app/src/d1/sub"
  echo in-d1 >"$DIR/app/src/d1/sub/x.txt"
  manifest "$SYNC_RULE"
  up
  in_ctr test -f /app/gone.txt || fail "the image lacks gone.txt"
  start_watch
  # delete
  rm "$DIR/app/src/gone.txt"
  poll 10 "gone.txt removed in the container" absent /app/gone.txt
  wait_events synced 1
  ev=$(last_event)
  [ "$(field "$ev" deleted)" = 1 ] || wfail "the deletion is not counted in the action: $ev"
  # rename a file
  mv "$DIR/app/src/a.txt" "$DIR/app/src/b.txt"
  poll 10 "b.txt in the container" serves a b.txt
  poll 10 "a.txt gone from the container" absent /app/a.txt
  # rename a directory
  mv "$DIR/app/src/d1" "$DIR/app/src/d2"
  poll 10 "d2/sub/x.txt in the container" serves in-d1 d2/sub/x.txt
  poll 10 "d1 gone from the container" absent /app/d1
  # a new directory tree; then a file written later in it (watched too)
  mkdir -p "$DIR/app/src/new/deep" && echo deep >"$DIR/app/src/new/deep/f.txt"
  poll 10 "new/deep/f.txt in the container" serves deep new/deep/f.txt
  echo later >"$DIR/app/src/new/deep/g.txt"
  poll 10 "new/deep/g.txt in the container" serves later new/deep/g.txt
  [ "$(n_events error)" = 0 ] || wfail "errors reported"
  check_json_lines
  down
}

round_delete_dir() {
  new_stack rmdir
  mkdir -p "$DIR/app/src/old/deep"
  echo 1 >"$DIR/app/src/old/one.txt"
  echo 2 >"$DIR/app/src/old/deep/two.txt"
  manifest "$SYNC_RULE"
  up
  serves 2 old/deep/two.txt || fail "the image lacks old/deep/two.txt"
  start_watch
  rm -rf "$DIR/app/src/old"
  poll 10 "old/deep/two.txt gone from the container" absent /app/old/deep/two.txt
  poll 10 "old/one.txt gone from the container" absent /app/old/one.txt
  poll 5 "the directory old/ (removed with rm -rf) gone from the container" absent /app/old
  down
}

round_ignore() {
  new_stack ignore
  # .dockerignore of the build context (./app; ** matches at any depth)
  printf '**/*.bak\n' >"$DIR/app/.dockerignore"
  manifest "$SYNC_RULE
        ignore: [\"*.log\", \"tmp/\", \"**/*.test.js\"]"
  up
  start_watch
  local s=$DIR/app/src
  mkdir -p "$s/tmp" "$s/lib"
  echo x >"$s/debug.log"          # rule glob
  echo x >"$s/tmp/scratch.txt"    # rule glob (a directory)
  echo x >"$s/lib/a.test.js"      # rule glob with **
  echo x >"$s/old.bak"            # .dockerignore
  echo x >"$s/x.swp"              # editor droppings
  echo x >"$s/y~"
  echo x >"$s/4913"
  echo x >"$s/.#lock"
  sentinel 0 debug.log tmp lib/a.test.js old.bak x.swp 'y~' 4913 '.#lock'
  [ "$(n_events error)" = 0 ] || wfail "errors reported"
  down
}

round_gitignore() {
  new_stack gitignore
  # the project's .gitignore (git's rules): no slash -> any depth; a slash
  # -> anchored to the project directory; trailing slash -> directories
  printf '*.pyc\ncache/\n/app/src/generated/\n' >"$DIR/.gitignore"
  # the rule's own directory's .gitignore
  printf 'local.env\n' >"$DIR/app/src/.gitignore"
  manifest "$SYNC_RULE"
  up
  start_watch
  local s=$DIR/app/src
  mkdir -p "$s/pkg/cache" "$s/generated" "$s/deep/er"
  echo x >"$s/top.pyc"
  echo x >"$s/pkg/mod.pyc"
  echo x >"$s/pkg/cache/blob"
  echo x >"$s/generated/out.js"
  echo x >"$s/local.env"
  echo x >"$s/deep/er/local.env"
  sentinel 0 top.pyc pkg/mod.pyc pkg/cache generated local.env deep/er/local.env
  down
}

round_dockerignore_subdir() {
  new_stack dockerignore
  # The rule watches app/src, the build context is app: .dockerignore
  # patterns are paths in the context.
  printf 'src/secret.txt\nsrc/drafts\n' >"$DIR/app/.dockerignore"
  manifest "$SYNC_RULE"
  up
  start_watch
  mkdir -p "$DIR/app/src/drafts"
  echo x >"$DIR/app/src/secret.txt"
  echo x >"$DIR/app/src/drafts/d.txt"
  sentinel 0 secret.txt drafts
  down
}

# The rebuild image serves /app/deps/requirements.txt from the image.
rebuild_stack() {
  new_stack "$1"
  mkdir -p "$DIR/app/deps"
  echo 'requests==2.0' >"$DIR/app/deps/requirements.txt"
  cat >>"$DIR/app/Dockerfile" <<'EOF'
COPY deps/requirements.txt /app/deps/requirements.txt
EOF
}
new_container() {
  local id
  id=$(ctr)
  [ -n "$id" ] && [ "$id" != "$1" ]
}
check_rebuilt() {
  local old_id=$1 old_image=$2 ev
  wait_events rebuilt 1 120
  ev=$(grep '"event":"rebuilt"' "$WATCH_OUT" | tail -n 1)
  [ "$(field "$ev" service)" = web ] || wfail "rebuilt names another service: $ev"
  poll 5 "a new container for web after \"rebuilt\" (the old one: $old_id)" new_container "$old_id"
  [ "$(docker inspect -f '{{.Image}}' "$(ctr)")" != "$old_image" ] || fail "rebuild kept the same image"
  poll 20 "the service answers with the new requirements.txt" serves 'requests==2.1' deps/requirements.txt
  [ "$(docker inspect -f '{{.State.Running}}' "$(ctr)")" = true ] || fail "the new container is not running"
  check_json_lines
}

round_rebuild() {
  rebuild_stack rebuild
  manifest "$SYNC_RULE
      - path: ./app/deps
        action: rebuild"
  up
  serves 'requests==2.0' deps/requirements.txt || fail "the image does not serve deps/requirements.txt"
  local old_id old_image
  old_id=$(ctr)
  old_image=$(docker inspect -f '{{.Image}}' "$old_id")
  start_watch
  wait_events watching 2
  echo 'requests==2.1' >"$DIR/app/deps/requirements.txt"
  check_rebuilt "$old_id" "$old_image"
  # sync still works on the new container
  echo after-rebuild >"$DIR/app/src/index.html"
  poll 10 "sync into the rebuilt container" serves after-rebuild index.html
  down
}

round_rebuild_file_rule() {
  rebuild_stack rebuild-file
  manifest "      - path: ./app/deps/requirements.txt
        action: rebuild"
  up
  local old_id old_image
  old_id=$(ctr)
  old_image=$(docker inspect -f '{{.Image}}' "$old_id")
  start_watch
  echo 'requests==2.1' >"$DIR/app/deps/requirements.txt"
  check_rebuilt "$old_id" "$old_image"
  down
}

# rebuild, busy: a rebuild of web that takes seconds (RUN sleep in its
# Dockerfile) does not stop watching. side's saves made meanwhile are synced
# before web's rebuild ends, and web's own saves made meanwhile become one
# more rebuild, with their last content (not one per save, none lost).
round_rebuild_busy() {
  rebuild_stack rebuild-busy
  echo 'RUN sleep 4' >>"$DIR/app/Dockerfile"
  mkdir -p "$DIR/side"
  echo s0 >"$DIR/side/s.txt"
  manifest '      - path: ./app/deps
        action: rebuild'
  cat >>"$MANIFEST" <<EOF
  side:
    image: $RUNTIME_IMAGE
    command: ["python3", "-c", "import time; time.sleep(100000)"]
    stop_grace_period: 1s
    watch:
      - path: ./side
        action: sync
        target: /srv
EOF
  up
  local old_image ev
  old_image=$(docker inspect -f '{{.Image}}' "$(ctr)")
  start_watch
  wait_events watching 2
  echo 'requests==2.1' >"$DIR/app/deps/requirements.txt"
  echo s1 >"$DIR/side/s.txt"
  wait_events synced 1
  # Two more saves of web's rule, each seen (side's sync after it proves
  # its quiet period passed) while the first rebuild still runs.
  echo 'requests==2.2' >"$DIR/app/deps/requirements.txt"
  echo s2 >"$DIR/side/s.txt"
  wait_events synced 2
  echo 'requests==2.3' >"$DIR/app/deps/requirements.txt"
  echo s3 >"$DIR/side/s.txt"
  wait_events synced 3
  [ "$(n_events rebuilt)" = 0 ] ||
    wfail "the rebuild ended before side's saves were synced: the test cannot tell"
  [ "$(docker exec "$(id_of side)" cat /srv/s.txt)" = s3 ] ||
    fail "side's last save is not in its container"
  ev=$(grep '"event":"synced"' "$WATCH_OUT" | tail -n 1)
  [ "$(field "$ev" service)" = side ] || wfail "the synced line names another service: $ev"
  wait_events rebuilt 2 180
  poll 20 "web answers with the last requirements.txt" serves 'requests==2.3' deps/requirements.txt
  [ "$(docker inspect -f '{{.Image}}' "$(ctr)")" != "$old_image" ] || fail "rebuild kept the same image"
  # A sentinel on side: every rebuild web's saves caused is printed by now.
  echo s4 >"$DIR/side/s.txt"
  wait_events synced 4
  [ "$(n_events rebuilt)" = 2 ] ||
    wfail "saves during a rebuild: expected one more rebuild, got $(($(n_events rebuilt) - 1))"
  check_json_lines
  down
}

round_errors() {
  new_stack errors
  manifest "$SYNC_RULE"
  up
  start_watch
  echo before >"$DIR/app/src/before.txt"
  poll 10 "before.txt synced" serves before before.txt
  wait_events synced 1
  docker rm -f "$(ctr)" >/dev/null
  echo while-gone >"$DIR/app/src/while-gone.txt"
  wait_events error 1
  ev=$(grep '"event":"error"' "$WATCH_OUT" | tail -n 1)
  [ "$(field "$ev" service)" = web ] || wfail "the error does not name the service: $ev"
  kill -0 "$WATCH_PID" 2>/dev/null || wfail "berth watch exited after the error"
  up
  ERRORS_OK=1
  echo next >"$DIR/app/src/next.txt"
  poll 10 "the next change reaches the new container" serves next next.txt
  poll 5 "the change made while the container was gone reaches it" serves while-gone while-gone.txt
  poll 5 "a file synced to the old container is in the new one" serves before before.txt
  kill -0 "$WATCH_PID" 2>/dev/null || wfail "berth watch exited"
  check_json_lines
  down
}

round_errors_deletion() {
  new_stack errors-del
  echo doomed >"$DIR/app/src/doomed.txt"
  manifest "$SYNC_RULE"
  up
  serves doomed doomed.txt || fail "the image lacks doomed.txt"
  start_watch
  docker rm -f "$(ctr)" >/dev/null
  rm "$DIR/app/src/doomed.txt"
  wait_events error 1
  up
  ERRORS_OK=1
  echo next >"$DIR/app/src/next.txt"
  poll 10 "the next change reaches the new container" serves next next.txt
  poll 5 "doomed.txt, deleted while the container was gone, is gone from the new one" \
    absent /app/doomed.txt
  down
}

round_errors_stopped() {
  new_stack errors-stop
  manifest "$SYNC_RULE"
  up
  start_watch
  docker stop -t 1 "$(ctr)" >/dev/null
  echo while-stopped >"$DIR/app/src/while-stopped.txt"
  wait_events error 1
  docker start "$(ctr)" >/dev/null
  ERRORS_OK=1
  poll 10 "the service answers again" serves v0 index.html
  echo next >"$DIR/app/src/next.txt"
  poll 10 "the next change reaches the container" serves next next.txt
  poll 5 "the change made while the container was stopped reaches it" \
    serves while-stopped while-stopped.txt
  down
}

round_symlink() {
  new_stack symlink
  manifest "$SYNC_RULE"
  up
  start_watch
  ln -s index.html "$DIR/app/src/link.html"
  poll 10 "link.html in the container" in_ctr test -L /app/link.html
  [ "$(in_ctr readlink /app/link.html)" = index.html ] || fail "link.html does not point to index.html"
  echo through-link >"$DIR/app/src/index.html"
  poll 10 "index.html edited" serves through-link index.html
  serves through-link link.html || fail "the link does not serve index.html's content"
  rm "$DIR/app/src/link.html"
  poll 10 "link.html removed" absent /app/link.html
  [ "$(n_events error)" = 0 ] || wfail "errors reported"
  down
}

round_mode() {
  new_stack mode
  printf '#!/bin/sh\necho ran\n' >"$DIR/app/src/tool.sh"
  chmod 644 "$DIR/app/src/tool.sh"
  manifest "$SYNC_RULE"
  up
  ! in_ctr test -x /app/tool.sh || fail "tool.sh is executable in the image already"
  start_watch
  chmod 755 "$DIR/app/src/tool.sh"
  poll 5 "chmod +x on the host reaches the container" in_ctr test -x /app/tool.sh
  down
}

# The usage line is `berth watch [SERVICE...] [--quiet-ms N] [--json]`:
# a flag after a service name is a flag (a bad value is refused), and a
# service that does not exist is an error naming it, not silently skipped.
round_cli() {
  new_stack cli
  manifest "$SYNC_RULE"
  capture timeout 3 "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" watch web --quiet-ms bogus
  [ "$RC" = 2 ] || fail "berth watch web --quiet-ms bogus: expected exit 2 (bad flag), got $RC"
  capture timeout 3 "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" watch --quiet-ms bogus web
  [ "$RC" = 2 ] || fail "berth watch --quiet-ms bogus web: expected exit 2 (bad flag), got $RC"
  capture timeout 3 "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" watch web nosuch
  [ "$RC" != 124 ] && [ "$RC" != 0 ] ||
    fail "berth watch web nosuch: expected an error (no service nosuch), got exit $RC"
  [[ $ERR == *nosuch* ]] || fail "berth watch web nosuch: the error does not name nosuch"
}

round_up_watch() {
  new_stack upwatch
  manifest "$SYNC_RULE"
  WATCH_OUT=$DIR/watch.jsonl
  bg "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" up --watch --json \
    >"$WATCH_OUT" 2>"$DIR/watch.err"
  WATCH_PID=${BG_PIDS[${#BG_PIDS[@]} - 1]}
  wait_watching 120
  serves v0 index.html || fail "the service does not answer after up --watch"
  echo via-up >"$DIR/app/src/index.html"
  poll 10 "up --watch syncs an edit" serves via-up index.html
  stop_watch
  [ "$(docker inspect -f '{{.State.Running}}' "$(ctr)")" = true ] ||
    fail "stopping up --watch stopped the stack"
  down
}

# WATCH_ROUNDS=REGEX runs only the rounds whose name matches (development).
if [ -n "${WATCH_ROUNDS:-}" ]; then
  eval "lib_$(declare -f round)"
  round() { if [[ $1 =~ $WATCH_ROUNDS ]]; then lib_round "$@"; fi; }
fi
round "sync: an edit changes the answer, no restart" round_sync
round "burst: 1000 writes, one action" round_burst
round "unchanged save: no action" round_unchanged
round "delete, rename, new directory" round_delete_rename_newdir
round "delete a directory tree" round_delete_dir
round "symlink: synced as a symlink" round_symlink
round "ignore: rule globs, .dockerignore, editor temp files" round_ignore
round "ignore: .gitignore with git's rules" round_gitignore
round "ignore: .dockerignore relative to the build context" round_dockerignore_subdir
round "rebuild: a dependency change rebuilds the service" round_rebuild
round "rebuild: a rule on a single file" round_rebuild_file_rule
round "rebuild, busy: other saves go on, own saves coalesce" round_rebuild_busy
round "errors: container gone, then up again" round_errors
round "errors: a deletion while the container is gone" round_errors_deletion
round "errors: a change while the container is stopped" round_errors_stopped
round "mode: chmod +x alone is synced" round_mode
round "up --watch" round_up_watch
round "cli: flags after SERVICE, unknown service" round_cli
rounds_verdict
