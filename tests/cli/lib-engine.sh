# shellcheck shell=bash
# Shared by tests/cli/test-engine-*.sh: the real berth binary against the
# real Docker engine, as a user drives it.
#
#   engine_test NAME   checks the machine (engine, docker CLI, local images),
#                      then sets up one isolated run:
#                        PROJECT   bt-NAME-<pid>: unique per run
#                        WORK      a private directory; the manifest is
#                                  $WORK/berth.yaml (MANIFEST)
#                        BERTH_STATE_DIR  private to this run
#                      and an EXIT trap that runs `berth down --volumes` and
#                      then removes anything still labelled with the project
#                      (or with berth.test=$PROJECT, for helper containers),
#                      whatever the outcome.
#   b ARGS...          berth for this project: $BERTH --no-color -p $PROJECT
#                      -f $MANIFEST ARGS...
#   capture CMD...     runs CMD; sets RC, OUT (stdout), ERR (stderr)
#   fail MSG           prints MSG (and what the last capture printed) and exits 1
#   poll SECONDS DESC CMD...   retries CMD every 0.2 s until it succeeds, at
#                      most SECONDS; fails naming DESC otherwise
#   on_cleanup CMD...  also runs CMD at exit, before the project's removal
#   round NAME CMD...  runs CMD as one round of a test: a failure is
#                      reported, the project purged, the next round runs;
#                      rounds_verdict at the end fails if any round did
#   bg CMD...          starts CMD in the background, remembered so the
#                      cleanup ends it (by pid) if the test did not
#
# Exit status 77 (skipped) when the machine cannot run the tests, except in
# CI (CI set), where that is a failure: a missing engine never passes.
set -euo pipefail

: "${BERTH:?path to the berth binary (ctest sets it)}"
BERTH_SRC=${BERTH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T_START=$(date +%s.%N)

fail() {
  echo "FAIL: $*" >&2
  if [ -n "${RC+set}" ]; then
    printf -- '--- last command: exit %s\n--- stdout:\n%s\n--- stderr:\n%s\n' \
      "$RC" "${OUT:-}" "${ERR:-}" >&2
  fi
  exit 1
}
cannot_run() {
  echo "$(basename "$0"): $*" >&2
  [ -z "${CI:-}" ] || exit 1
  exit 77
}
# seconds since $1 (a date +%s.%N), one decimal
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
note() { echo "# $*"; }

capture() {
  local o e
  o=$(mktemp "$WORK/out.XXXXXX")
  e=$(mktemp "$WORK/err.XXXXXX")
  set +e
  "$@" >"$o" 2>"$e"
  RC=$?
  set -e
  OUT=$(cat "$o")
  ERR=$(cat "$e")
  rm -f "$o" "$e"
}

b() { "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" "$@"; }

poll() {
  local secs=$1 desc=$2
  shift 2
  local end=$(($(date +%s%N) / 1000000 + secs * 1000))
  until "$@" >/dev/null 2>&1; do
    [ $(($(date +%s%N) / 1000000)) -lt "$end" ] || fail "not within ${secs}s: $desc"
    sleep 0.2
  done
}

# on_cleanup CMD...: also run CMD (words) when the test exits
CLEANUP_CMDS=()
on_cleanup() { CLEANUP_CMDS+=("$(printf '%q ' "$@")"); }

BG_PIDS=()
bg() {
  "$@" &
  BG_PIDS+=($!)
}
kill_bg() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Every container of the project: "SERVICE REPLICA STATE ID", sorted.
containers() {
  docker ps -a --filter "label=berth.project=$PROJECT" \
    --format '{{.Label "berth.service"}} {{.Label "berth.replica"}} {{.State}} {{.ID}}' | sort
}
n_containers() { docker ps -aq --filter "label=berth.project=$PROJECT" | wc -l; }
n_networks() { docker network ls -q --filter "label=berth.project=$PROJECT" | wc -l; }
n_volumes() { docker volume ls -q --filter "label=berth.project=$PROJECT" | wc -l; }
# "SERVICE ID" of each container, sorted: compares runs
container_ids() {
  docker ps -a --filter "label=berth.project=$PROJECT" \
    --format '{{.Label "berth.service"}}-{{.Label "berth.replica"}} {{.ID}}' | sort
}
id_of() { container_ids | awk -v s="$1-1" '$1 == s { print $2 }'; }

# Nothing of the project is left on the engine.
assert_nothing_left() {
  local what=${1:-}
  local c n v
  c=$(n_containers) n=$(n_networks) v=$(n_volumes)
  [ "$c$n$v" = 000 ] ||
    fail "$what: left behind: $c container(s), $n network(s), $v volume(s): $(containers)" \
      "$(docker network ls --filter "label=berth.project=$PROJECT" --format '{{.Name}}')" \
      "$(docker volume ls --filter "label=berth.project=$PROJECT" --format '{{.Name}}')"
}

# `berth down --volumes`, then whatever is still labelled with the project
# (or berth.test=$PROJECT) removed with the docker CLI. Never fails.
purge_project() {
  local ids label
  [ -n "${PROJECT:-}" ] || return 0
  if [ -s "${MANIFEST:-}" ]; then
    timeout 60 "$BERTH" --no-color -p "$PROJECT" -f "$MANIFEST" down --volumes >/dev/null 2>&1 || true
  fi
  for label in "berth.project=$PROJECT" "berth.test=$PROJECT"; do
    mapfile -t ids < <(docker ps -aq --filter "label=$label")
    [ ${#ids[@]} -eq 0 ] || docker rm -f -v "${ids[@]}" >/dev/null 2>&1 || true
    mapfile -t ids < <(docker network ls -q --filter "label=$label")
    [ ${#ids[@]} -eq 0 ] || docker network rm "${ids[@]}" >/dev/null 2>&1 || true
    mapfile -t ids < <(docker volume ls -q --filter "label=$label")
    [ ${#ids[@]} -eq 0 ] || docker volume rm -f "${ids[@]}" >/dev/null 2>&1 || true
  done
}

# round NAME CMD...: runs CMD in a subshell (with set -e); a failure is
# recorded in FAILED_ROUNDS, the project purged, and the test goes on.
FAILED_ROUNDS=()
round() {
  local name=$1 rc t0
  shift
  note "--- $name"
  t0=$(date +%s.%N)
  set +e
  (
    trap kill_bg EXIT
    set -e
    "$@"
  )
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    note "--- $name: ok ($(since "$t0") s)"
  else
    note "--- $name: FAILED ($(since "$t0") s)"
    FAILED_ROUNDS+=("$name")
    purge_project
  fi
}
# exits 1 naming the failed rounds, if any
rounds_verdict() {
  unset RC
  [ ${#FAILED_ROUNDS[@]} -eq 0 ] || fail "failed rounds: $(printf '[%s] ' "${FAILED_ROUNDS[@]}")"
}

engine_cleanup() {
  local rc=$?
  set +e
  kill_bg
  for cmd in "${CLEANUP_CMDS[@]}"; do
    eval "$cmd" >/dev/null 2>&1
  done
  purge_project
  [ -z "${WORK:-}" ] || rm -rf "$WORK"
  [ -z "${BERTH_STATE_DIR:-}" ] || rm -rf "$BERTH_STATE_DIR"
  echo "# $(basename "$0"): $( [ "$rc" = 0 ] && echo ok || echo "exit $rc") in $(since "$T_START") s"
  exit "$rc"
}

engine_test() {
  command -v docker >/dev/null || cannot_run "docker CLI not found"
  command -v python3 >/dev/null || cannot_run "python3 not found on the host"
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    cannot_run "Docker engine not reachable (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock})"
  [ -x "$BERTH" ] || cannot_run "no berth binary at $BERTH"
  local names key missing=()
  names=$("$BERTH_SRC/tests/images/build.sh" --print) || fail "tests/images/build.sh --print failed"
  eval "$names"
  for key in BERTH_POSTGRES_IMAGE BERTH_REDIS_IMAGE BERTH_RABBITMQ_IMAGE BERTH_RUNTIME_IMAGE; do
    docker image inspect "${!key}" >/dev/null 2>&1 || missing+=("${!key}")
  done
  [ ${#missing[@]} -eq 0 ] ||
    cannot_run "image(s) missing: ${missing[*]}; run tests/images/build.sh to build them"
  # shellcheck disable=SC2034 # used by the tests
  RUNTIME_IMAGE=$BERTH_RUNTIME_IMAGE
  PROJECT=bt-$1-$$
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-$PROJECT.XXXXXX")
  MANIFEST=$WORK/berth.yaml
  BERTH_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/berth-state-$PROJECT.XXXXXX")
  export BERTH_STATE_DIR
  unset COMPOSE_PROJECT_NAME COMPOSE_PROFILES
  trap engine_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  note "project $PROJECT, manifest $MANIFEST"
}

# Anonymous volumes (an image's VOLUME, e.g. redis's /data) carry no project
# label, and `berth down --volumes` leaves them: a test whose containers mount
# some calls note_anonymous_volumes while the containers exist (before each
# down; from a round's subshell too: the list is a file) and registers
# `on_cleanup remove_anonymous_volumes` once, which removes the project's
# containers and then every volume noted.
note_anonymous_volumes() {
  docker ps -aq --filter "label=berth.project=$PROJECT" |
    xargs -r docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{println .Name}}{{end}}{{end}}' 2>/dev/null |
    grep -E '^[0-9a-f]{64}$' >>"$WORK/anonymous-volumes" || true
}
remove_anonymous_volumes() {
  local v
  [ -s "$WORK/anonymous-volumes" ] || return 0
  purge_project
  sort -u "$WORK/anonymous-volumes" | while read -r v; do
    docker volume rm -f "$v" >/dev/null 2>&1 || true
  done
}
