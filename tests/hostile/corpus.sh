#!/usr/bin/env bash
# The hostile corpus (docs/security.md, "How it is tested"): every case of
# tests/cases/, and every case a tests/hostile/gen-*.sh writes, read by
# `berth config` under the bounds a cloned repository must not break:
#
#   - the exit status the case documents: 0 with expected.json, 2 with
#     expected.err, or the number in a generated case's `exit` file;
#   - under 5 s of wall time (timeout) and 512 MB of peak RSS (GNU time);
#   - an address space of 2 GiB: RLIMIT_AS (prlimit) for a plain build.
#     ASan reserves terabytes of shadow memory at start, which no AS limit
#     allows, so a sanitized build gets ASan's own bound instead:
#     hard_rss_limit_mb=2048 ends the run with a report beyond 2 GiB, and
#     allocator_may_return_null=1 makes a huge malloc fail as it would
#     under the limit, not abort; its quarantine of freed memory (256 MB
#     by default, counted in RSS) is cut to 64 MB so the 512 MB bound
#     measures berth, not ASan (use after free of recent frees is still
#     caught, and the other tests keep the default);
#   - no raw control character on stdout or stderr: no byte 0x00-0x08,
#     0x0b-0x1f or 0x7f, and no C1 control (U+0080-U+009F in UTF-8);
#   - no sanitizer report.
#
# Each case runs as its `args` say (default config --json), and once more
# without --json, so config's text output is checked too.
#
#   BERTH=build-asan/berth tests/hostile/corpus.sh            # the whole corpus
#   BERTH=build/berth tests/hostile/corpus.sh tests/cases/X   # some cases
#
# A generator tests/hostile/gen-NAME.sh is run as `gen-NAME.sh OUTDIR` and
# writes case directories into OUTDIR, laid out as tests/cases/ ones (the
# manifest, optional args and env) with expected.json, expected.err (then
# compared in full by tests/cases/run.sh) or an `exit` file.
set -euo pipefail
: "${BERTH:?path to the berth binary}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cases_dir=$(cd "$here/../cases" && pwd)
SECONDS_MAX=${HOSTILE_SECONDS:-5}
RSS_MAX_KB=$(( ${HOSTILE_RSS_MB:-512} * 1024 ))
AS_MAX=$(( 2 * 1024 * 1024 * 1024 ))

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if grep -q __asan_init "$BERTH"; then
  asan=1
  limit=()
  san_env=(ASAN_OPTIONS="detect_leaks=1:hard_rss_limit_mb=2048:allocator_may_return_null=1:quarantine_size_mb=64:abort_on_error=0"
           UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
else
  asan=0
  limit=(prlimit --as="$AS_MAX" --)
  san_env=()
fi

dirs=()
generated=()
if [ $# -gt 0 ]; then
  for a in "$@"; do dirs+=("$(cd "$a" && pwd)"); done
else
  for d in "$cases_dir"/*/; do dirs+=("${d%/}"); done
  for gen in "$here"/gen-*.sh; do
    [ -e "$gen" ] || continue
    out="$work/$(basename "$gen" .sh)"
    mkdir -p "$out"
    bash "$gen" "$out" || { echo "FAIL $(basename "$gen"): the generator failed"; exit 1; }
    for d in "$out"/*/; do dirs+=("${d%/}"); generated+=("${d%/}"); done
  done
fi

# One run of berth in case dir $1 with arguments $2; sets EXIT, SECS, RSS_KB
# and leaves the output in $work/out and $work/err.
run_one() {
  local dir=$1 args=$2
  local envs=(PATH="$PATH" HOME="$HOME" NO_COLOR=1 "${san_env[@]}")
  if [ -f "$dir/env" ]; then while IFS= read -r l; do [ -n "$l" ] && envs+=("$l"); done <"$dir/env"; fi
  local t0 t1
  t0=$(date +%s.%N)
  set +e
  # shellcheck disable=SC2086
  (cd "$dir" && exec /usr/bin/time -f %M -o "$work/rss" timeout -s KILL "$SECONDS_MAX" \
    "${limit[@]}" env -i "${envs[@]}" "$BERTH" $args) >"$work/out" 2>"$work/err" </dev/null
  EXIT=$?
  set -e
  t1=$(date +%s.%N)
  SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  # GNU time writes "Command exited with non-zero status N" before %M.
  RSS_KB=$(tail -n 1 "$work/rss" 2>/dev/null || echo 0)
  case $RSS_KB in '' | *[!0-9]*) RSS_KB=0 ;; esac
}

fail=0 n=0 max_secs=0 max_rss=0 max_case=
for dir in "${dirs[@]}"; do
  name=${dir#"$cases_dir"/}
  name=${name#"$work"/}
  if [ -f "$dir/exit" ]; then want=$(cat "$dir/exit")
  elif [ -f "$dir/expected.json" ]; then want=0
  elif [ -f "$dir/expected.err" ]; then want=2
  else echo "FAIL $name: no expected.json, expected.err or exit"; fail=1; continue; fi
  args="config --json"
  [ -f "$dir/args" ] && args=$(cat "$dir/args")
  runs=("$args")
  [ "${args/--json/}" != "$args" ] && runs+=("${args//--json/}")
  for a in "${runs[@]}"; do
    n=$((n + 1))
    run_one "$dir" "$a"
    problems=()
    # timeout -s KILL: 137 (or 124, as coreutils versions differ).
    if [ "$EXIT" = 137 ] || [ "$EXIT" = 124 ]; then problems+=("killed after ${SECONDS_MAX} s")
    elif [ "$EXIT" != "$want" ]; then problems+=("exit $EXIT, expected $want"); fi
    [ "$RSS_KB" -le "$RSS_MAX_KB" ] || problems+=("peak RSS $((RSS_KB / 1024)) MB over $((RSS_MAX_KB / 1024)) MB")
    for f in out err; do
      if LC_ALL=C grep -aqP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$work/$f"; then
        byte=$(LC_ALL=C grep -aoP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$work/$f" | head -n 1 | od -An -tx1 | tr -d ' \n' | sed 's/0a$//')
        problems+=("a raw control character (0x$byte) on std$f")
      fi
    done
    if grep -aqE 'runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' "$work/err"; then
      problems+=("a sanitizer report")
    fi
    if [ ${#problems[@]} -gt 0 ]; then
      fail=1
      echo "FAIL $name (berth $a): $(IFS=';'; echo "${problems[*]}")"
      head -c 2000 "$work/err" | LC_ALL=C sed 's/[\x00-\x08\x0b-\x1f\x7f]/?/g'
    else
      echo "ok   $name (berth $a): ${SECS} s, $((RSS_KB / 1024)) MB"
    fi
    if awk -v a="$SECS" -v b="$max_secs" 'BEGIN { exit !(a > b) }'; then max_secs=$SECS; fi
    if [ "$RSS_KB" -gt "$max_rss" ]; then max_rss=$RSS_KB max_case=$name; fi
  done
done
# Generated cases with an expected output are compared in full too.
for dir in "${generated[@]}"; do
  if [ -f "$dir/expected.json" ] || [ -f "$dir/expected.err" ]; then
    bash "$cases_dir/run.sh" "$dir" || fail=1
  fi
done
echo "# $n runs of $((${#dirs[@]})) cases ($([ $asan = 1 ] && echo "ASan+UBSan, hard_rss_limit_mb=2048, quarantine 64 MB" || echo "RLIMIT_AS 2 GiB")):" \
  "slowest ${max_secs} s, largest peak RSS $((max_rss / 1024)) MB ($max_case)"
exit $fail
