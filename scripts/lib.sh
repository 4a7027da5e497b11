# Shared by scripts/quickstart and scripts/test. Sourced, not run.
# Everything here is idempotent: it checks first and acts only when needed.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages berth needs to build, test and run its local engine.
BERTH_PACKAGES=(
  build-essential cmake pkg-config git curl ca-certificates
  libcurl4-openssl-dev libyaml-dev libuv1-dev libcjson-dev libsqlite3-dev libarchive-dev
  libcmocka-dev clang clang-format libclang-rt-14-dev
  docker.io debootstrap docker-registry strace
)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'berth: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=() p
  for p in "${BERTH_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

engine_socket() {
  local host=${DOCKER_HOST:-unix:///var/run/docker.sock}
  case $host in
    unix://*) printf '%s\n' "${host#unix://}" ;;
    *) die "DOCKER_HOST=$host: berth and its tests need a unix socket" ;;
  esac
}

engine_answers() {
  curl -sf --max-time 2 --unix-socket "$(engine_socket)" http://docker/_ping >/dev/null 2>&1
}

# Starts dockerd when nothing answers on the socket, and waits until it
# does. An engine that was already running is used as it is and never
# stopped; one started here keeps running after the tests (later runs reuse
# it and its image cache).
ensure_engine() {
  engine_answers && return 0
  local sock
  sock=$(engine_socket)
  [ "$sock" = /var/run/docker.sock ] ||
    die "no Docker engine answers on $sock; start it, or unset DOCKER_HOST to let berth start one"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    say "starting the Docker engine (systemctl start docker)"
    as_root systemctl start docker || true
  fi
  if ! engine_answers; then
    say "starting the Docker engine (dockerd, log in /var/log/berth-dockerd.log)"
    as_root sh -c 'setsid nohup dockerd >>/var/log/berth-dockerd.log 2>&1 </dev/null &'
  fi
  local i
  for i in $(seq 1 120); do
    engine_answers && return 0
    sleep 0.5
  done
  tail -n 20 /var/log/berth-dockerd.log >&2 2>/dev/null || true
  die "the Docker engine did not answer on $sock within 60 s (log above)"
}

build_images() {
  say "building local images (tests/images/build.sh)"
  as_root "$ROOT/tests/images/build.sh"
}

# cmake_build DIR [cmake args...]
cmake_build() {
  local dir=$1
  shift
  cmake -S "$ROOT" -B "$ROOT/$dir" "$@" >/dev/null
  cmake --build "$ROOT/$dir" -j "$(nproc)"
}
