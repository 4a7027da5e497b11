#!/usr/bin/env bash
# Global flags against a command's own: after the command's name, a flag
# the command declares is the command's. `berth logs -f api` follows api,
# as `docker compose logs -f api` does; -f before the command (or after a
# command without -f of its own) still names the manifest.
#
#   no engine needed   which argument berth reads as the manifest
#   logs -f SERVICE    follows: lines written after it started arrive, it
#                      keeps running, and only SERVICE's lines
#   logs -f --tail 2   --tail is logs' flag, not a manifest path
#   exec SVC CMD -f    everything after the service is the command's
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-engine.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-engine.sh"

# --- which argument is the manifest (no engine needed) ----------------------
empty=$(mktemp -d "${TMPDIR:-/tmp}/berth-flags.XXXXXX")
trap 'rm -rf "$empty"' EXIT
say() { (cd "$empty" && "$BERTH" --no-color "$@" 2>&1) || true; }

out=$(say -f /nonexistent logs -f api)
grep -q "/nonexistent" <<<"$out" || fail "berth -f /nonexistent logs -f api: /nonexistent not named: $out"
! grep -q "api" <<<"$out" || fail "berth -f /nonexistent logs -f api: api read as a file: $out"

out=$(say logs -f api)
grep -q "no manifest in" <<<"$out" || fail "berth logs -f api: not the missing-manifest error: $out"
! grep -q "api" <<<"$out" || fail "berth logs -f api: api read as a file: $out"

out=$(say logs -f --tail 2)
! grep -q -- "--tail" <<<"$out" || fail "berth logs -f --tail 2: --tail read as a file: $out"

out=$(say logs --file /nonexistent -f)
grep -q "/nonexistent" <<<"$out" || fail "berth logs --file /nonexistent -f: manifest not read: $out"

# A command without -f of its own: -f after its name is still the manifest.
for cmd in up ps config; do
  out=$(say "$cmd" -f /nonexistent)
  grep -q "/nonexistent" <<<"$out" || fail "berth $cmd -f /nonexistent: manifest not read: $out"
done

# exec's command is its own: tail -f is not a manifest, -v not verbosity.
out=$(say -f /nonexistent exec api tail -f /var/log/app.log)
grep -q "/nonexistent" <<<"$out" || fail "berth -f /nonexistent exec api tail -f ...: /nonexistent not named: $out"
! grep -q "app.log" <<<"$out" || fail "berth exec api tail -f /var/log/app.log: the log read as a manifest: $out"

out=$("$BERTH" help logs)
grep -q -- "-f, --follow" <<<"$out" || fail "berth help logs: -f not described: $out"
rm -rf "$empty"
trap - EXIT

# --- logs -f on the real engine ----------------------------------------------
engine_test flags

cat >"$MANIFEST" <<EOF
services:
  api:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "i=0; while :; do i=\$\$((i+1)); echo tick \$\$i; sleep 0.2; done"]
  other:
    image: $RUNTIME_IMAGE
    command: ["sh", "-c", "echo other says hello; exec sleep 100000"]
EOF
cd "$WORK" # berth.yaml found without -f: `berth logs -f api` as typed

capture b up --no-wait
[ "$RC" = 0 ] || fail "up exited $RC"
# last tick number api printed so far, 0 for none
last_tick() { grep -o 'tick [0-9]*' "$1" | awk '{ n = $2 } END { print n + 0 }'; }
ticked() { b logs api >"$WORK/now" 2>&1 && [ "$(last_tick "$WORK/now")" -ge 5 ]; }
poll 30 "api prints five ticks" ticked
before=$(last_tick "$WORK/now")

follow_out=$WORK/follow.out
bg "$BERTH" --no-color -p "$PROJECT" logs -f api >"$follow_out" 2>&1
pid=${BG_PIDS[-1]}
after_start() { [ "$(last_tick "$follow_out")" -gt $((before + 5)) ]; }
poll 30 "logs -f api prints the ticks written after it started" after_start
kill -0 "$pid" 2>/dev/null || fail "logs -f api ended by itself: $(cat "$follow_out")"
grep -Eq '^api +\| tick [0-9]+$' "$follow_out" || fail "logs -f api: no prefixed tick: $(cat "$follow_out")"
! grep -q "other says hello" "$follow_out" || fail "logs -f api shows other's output"
kill -INT "$pid"
wait "$pid" 2>/dev/null || true

# --tail 2 is logs': the first lines are the last two ticks, then it follows.
tail_out=$WORK/tail.out
now=$(last_tick "$follow_out")
bg "$BERTH" --no-color -p "$PROJECT" logs -f --tail 2 >"$tail_out" 2>&1
pid=${BG_PIDS[-1]}
followed() { [ "$(last_tick "$tail_out")" -gt $((now + 5)) ]; }
poll 30 "logs -f --tail 2 follows" followed
first=$(grep -o 'tick [0-9]*' "$tail_out" | head -1 | awk '{ print $2 }')
[ "$first" -gt 2 ] || fail "logs -f --tail 2 started at tick $first: --tail not applied"
kill -0 "$pid" 2>/dev/null || fail "logs -f --tail 2 ended by itself: $(cat "$tail_out")"
kill -INT "$pid"
wait "$pid" 2>/dev/null || true
