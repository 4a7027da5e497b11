#!/usr/bin/env bash
# "A manifest can never run anything on the host" (docs/security.md) holds
# first because berth starts no process at all: its binary imports no
# function that creates one (fork, exec*, system, popen, posix_spawn), and
# its sources call none of the library functions that would do it for
# berth (libuv's uv_spawn, libarchive's external-program filters, dlopen).
# What runs, runs in a container, through the engine.
set -euo pipefail
: "${BERTH:?path to the berth binary}"
: "${BERTH_SRC:?path to the source tree}"
fail=0
spawners='fork|vfork|clone|clone3|execl|execle|execlp|execv|execve|execveat|execvp|execvpe|fexecve|system|popen|posix_spawn|posix_spawnp|dlopen|dlmopen'
imports=$(nm -D --undefined-only "$BERTH" | awk '{print $NF}' | sed 's/@.*//')
imported=$(grep -xE "$spawners" <<<"$imports" || true)
if [ -n "$imported" ]; then
  echo "FAIL: $BERTH imports functions that start processes: ${imported//$'\n'/ }"
  fail=1
fi
# Sanity: the check can see imports at all.
grep -qx curl_easy_init <<<"$imports" || {
  echo "FAIL: nm shows no curl_easy_init import in $BERTH; the check above proves nothing"; fail=1; }
calls=$(cd "$BERTH_SRC" || exit 1; grep -rnE '\b(uv_spawn|archive_(read|write)_(support|add)_filter_(all|program)[a-z_]*|dlopen|popen|system|posix_spawnp?|exec[lv]p?e?|fork)\(' \
  core cmd compose seed include 2>/dev/null || true)
if [ -n "$calls" ]; then
  echo "FAIL: the sources call what starts a process on the host:"
  echo "$calls"
  fail=1
fi
[ $fail = 0 ] && echo "ok: berth starts no process on the host (no spawning import, no spawning call)"
exit $fail
