#!/usr/bin/env bash
# The hostile manifests too large or too odd for tests/cases/ (a 1 MiB
# scalar, a FIFO, thousands of files read), generated here at run time.
# Each must be refused with its error, or accepted, as tests/hostile/README.md
# lists, within 5 s and 512 MB, with no raw control character in what berth
# prints. berth runs with its address space limited to 2 GiB (ulimit -v);
# a sanitized binary (ASan reserves terabytes of shadow address space)
# gets ASan's own limit instead: ASAN_OPTIONS=hard_rss_limit_mb=2048.
#
#   BERTH=build/berth tests/hostile/run.sh [CASE...]      (default: all)
set -euo pipefail
: "${BERTH:?path to the berth binary}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d /tmp/berth-hostile.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$here/hostile.py" "$BERTH" "$work" "$@"
