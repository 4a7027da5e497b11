#!/usr/bin/env bash
# Generates the control-character cases of the hostile corpus into $1: every
# C0 control, DEL, every C1 control and the bidirectional overrides, in a
# key (refused: unknown key), in a value (accepted; NUL refused: no argv
# or environment can carry one), in a .env value
# interpolated into the manifest (raw bytes, not YAML escapes; accepted),
# and in the name of the manifest file given with -f (refused: the file
# holds an unknown key, and the diagnostic names the file). Each case says
# only its exit status (`exit`); tests/hostile/corpus.sh checks that nothing
# reaches stdout or stderr raw.
set -euo pipefail
out=${1:?output directory}
# YAML escapes of the characters: \xNN for C0 and DEL, \uNNNN above.
escapes=()
for i in $(seq 0 31) 127; do escapes+=("$(printf 'x%02x' "$i")"); done
for i in $(seq 128 159); do escapes+=("$(printf 'u%04x' "$i")"); done
for cp in 200e 200f 2028 2029 202a 202b 202c 202d 202e 2066 2067 2068 2069; do escapes+=("u$cp"); done

for e in "${escapes[@]}"; do
  d="$out/key-$e"
  mkdir -p "$d"
  printf 'name: k\nservices:\n  api:\n    image: app\n    "imgae\\%s": x\n' "$e" >"$d/berth.yaml"
  echo 2 >"$d/exit"

  d="$out/value-$e"
  mkdir -p "$d"
  printf 'name: v\nservices:\n  api:\n    image: "app\\%sx"\n    environment:\n      A: "1\\%s2"\n    labels:\n      l: "\\%s"\n' \
    "$e" "$e" "$e" >"$d/berth.yaml"
  if [ "$e" = x00 ]; then echo 2; else echo 0; fi >"$d/exit"
done

# Raw bytes through .env and a file name: C0 (but NUL and newline, which
# no line-based file or file name can hold) and DEL, and C1 in UTF-8.
raw=()
for i in $(seq 1 9) $(seq 11 31) 127; do raw+=("$(printf '%02x' "$i")"); done
for i in $(seq 128 159); do raw+=("c2$(printf '%02x' "$i")"); done
for r in "${raw[@]}"; do
  # shellcheck disable=SC2001 # ${r//??/...} cannot name the match before bash 5.2
  bytes=$(printf '%bx' "$(sed 's/../\\x&/g' <<<"$r")")
  bytes=${bytes%x}
  d="$out/dotenv-$r"
  mkdir -p "$d"
  # shellcheck disable=SC2016 # ${TAG} is for berth to interpolate
  printf 'name: e\nservices:\n  api:\n    image: "app:${TAG}"\n' >"$d/berth.yaml"
  printf "TAG='a%sb'\n" "$bytes" >"$d/.env"
  echo 0 >"$d/exit"

  [ "$r" = 09 ] && continue # a tab would split the args line into two words
  d="$out/file-name-$r"
  mkdir -p "$d"
  printf 'name: f\nservices:\n  api:\n    image: app\n    imgae: x\n' >"$d/b${bytes}.yaml"
  printf '%s\n' "-f b${bytes}.yaml config --json" >"$d/args"
  echo 2 >"$d/exit"
done
