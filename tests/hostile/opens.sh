#!/usr/bin/env bash
# "berth reads only the files the manifest names" (docs/security.md):
# `berth config` of a project that names a file outside it, and of one
# whose include and env_file point inside it, run under strace. Every file
# berth opens must be the project's own, one the manifest names, or the
# system's (libraries, locale, /proc/self, /dev/null and /dev/urandom).
set -euo pipefail
: "${BERTH:?path to the berth binary}"
command -v strace >/dev/null || { echo "strace is missing (apt-get install strace)" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-opens.XXXXXX)
trap 'rm -rf "$work"' EXIT
proj=$work/shop
mkdir -p "$proj/svc" "$work/elsewhere"
echo "SECRET=not-for-berth" >"$work/elsewhere/unnamed.env"
echo "NAMED=1" >"$work/elsewhere/named.env"
echo "A=1" >"$proj/svc/app.env"
echo "TAG=1" >"$proj/.env"
cat >"$proj/svc/db.yaml" <<'YAML'
services:
  db: {image: postgres:15}
YAML
cat >"$proj/compose.yaml" <<YAML
include: [svc/db.yaml]
services:
  api:
    image: shop/api:\${TAG}
    env_file: [svc/app.env, $work/elsewhere/named.env]
    depends_on: [db]
YAML
log=$work/strace.log
# LeakSanitizer cannot run under ptrace; the other tests check leaks.
(cd "$proj" && env -u BERTH_STATE_DIR ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=open,openat,openat2,creat -o "$log" \
  "$BERTH" config --json >/dev/null)
# The paths opened with success.
opened=$(grep -vE '= -1 ' "$log" | sed -nE 's/.*open(at2?)?\((AT_FDCWD, )?"([^"]*)".*/\3/p' | sort -u)
fail=0
while IFS= read -r f; do
  [ -n "$f" ] || continue
  case $f in
    "$proj" | "$proj"/*) ;;
    "$work/elsewhere/named.env") ;;
    /etc/* | /usr/* | /lib/* | /lib64/* | /proc/self/* | /proc/sys/* | /sys/* | /dev/null | /dev/urandom | /dev/tty) ;;
    /proc/[0-9]*/*) ;; # ASan and the loader read their own maps
    *) echo "FAIL: berth config opened $f, which the manifest does not name"; fail=1 ;;
  esac
done <<<"$opened"
grep -q "$proj/svc/app.env" <<<"$opened" || { echo "FAIL: strace saw no open of the env_file; the check proves nothing"; fail=1; }
grep -q unnamed.env <<<"$opened" && { echo "FAIL: berth opened a file nothing names"; fail=1; }
[ $fail = 0 ] && echo "ok: berth config opened $(wc -l <<<"$opened") files, all the project's, named or the system's"
exit $fail
