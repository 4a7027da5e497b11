#!/usr/bin/env bash
# Runs one manifest case of tests/cases/ (or all with --all), comparing
# `berth config` with what the case expects:
#   CASE/args          extra arguments for berth (one line, shell words), optional;
#                      default: config --json in CASE
#   CASE/env           KEY=VALUE lines exported first, optional
#   CASE/expected.json the JSON printed for a valid manifest (exit 0), or
#   CASE/expected.err  for an invalid one: exit 2 and stderr exactly this file
#                      (CASE stands for the case dir)
# With --update the expected file of each case is rewritten from what berth
# prints now: review the diff before committing it.
set -euo pipefail
: "${BERTH:?path to the berth binary}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
update=0
cases=()
for a in "$@"; do
  case $a in
    --update) update=1 ;;
    --all) for d in "$here"/*/; do cases+=("${d%/}"); done ;;
    *) cases+=("$(cd "$a" && pwd)") ;;
  esac
done
fail=0
for dir in "${cases[@]}"; do
  name=$(basename "$dir")
  [ -f "$dir/expected.json" ] || [ -f "$dir/expected.err" ] || [ "$update" = 1 ] || {
    echo "FAIL $name: no expected.json or expected.err"; fail=1; continue; }
  args="config --json"
  [ -f "$dir/args" ] && args=$(cat "$dir/args")
  out=$(mktemp) err=$(mktemp)
  set +e
  (
    cd "$dir"
    # A clean environment: only what the case sets (and PATH, HOME).
    envs=(PATH="$PATH" HOME="$HOME" NO_COLOR=1)
    if [ -f env ]; then while IFS= read -r l; do [ -n "$l" ] && envs+=("$l"); done <env; fi
    # shellcheck disable=SC2086
    exec env -i "${envs[@]}" "$BERTH" $args
  ) >"$out" 2>"$err"
  code=$?
  set -e
  # Absolute paths differ per checkout: CASE stands for the case directory.
  sed -i "s|$dir|CASE|g" "$out" "$err"
  if [ "$update" = 1 ]; then
    if [ "$code" = 0 ]; then cp "$out" "$dir/expected.json"; rm -f "$dir/expected.err"
    else cp "$err" "$dir/expected.err"; rm -f "$dir/expected.json"; fi
    echo "updated $name (exit $code)"
  elif [ -f "$dir/expected.json" ]; then
    if [ "$code" != 0 ]; then
      echo "FAIL $name: exit $code, expected 0"; cat "$err"; fail=1
    elif ! python3 - "$dir/expected.json" "$out" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
if a != b:
    import difflib
    x = json.dumps(a, indent=1, sort_keys=True).splitlines()
    y = json.dumps(b, indent=1, sort_keys=True).splitlines()
    print("\n".join(difflib.unified_diff(x, y, "expected", "actual", lineterm="", n=2)))
    sys.exit(1)
PY
    then echo "FAIL $name: output differs (above)"; fail=1
    else echo "ok   $name"; fi
  else
    if [ "$code" != 2 ]; then
      echo "FAIL $name: exit $code, expected 2"; cat "$err"; fail=1
    else
      # stderr must be the expected file, line for line: an extra
      # diagnostic is as much a failure as a missing one.
      if python3 - "$dir/expected.err" "$err" <<'PY'
import difflib, sys
want = open(sys.argv[1]).read().splitlines()
got = open(sys.argv[2]).read().splitlines()
if want != got:
    print("\n".join(difflib.unified_diff(want, got, "expected.err", "stderr", lineterm="", n=1)))
    sys.exit(1)
PY
      then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
    fi
  fi
  rm -f "$out" "$err"
done
exit $fail
