#!/usr/bin/env bash
# Builds berth's local images, idempotently, without any container registry:
#
#   BERTH_BASE_IMAGE      debootstrap --variant=minbase bookworm, docker import
#   BERTH_POSTGRES_IMAGE  tests/images/postgres/  (conventions of postgres:15)
#   BERTH_REDIS_IMAGE     tests/images/redis/     (conventions of redis:7)
#   BERTH_RABBITMQ_IMAGE  tests/images/rabbitmq/  (conventions of rabbitmq:3)
#   BERTH_RUNTIME_IMAGE   tests/images/python/    (python3 + psycopg2/redis/pika)
#
# Names come from templates/images.env; the environment overrides each one.
# Only names starting with berth-local/ are built; any other name (e.g.
# postgres:15) is taken as it is: used if present locally, else pulled.
#
# Every built image carries the label berth.recipe=<sha256 of its recipe>; an
# image whose label already matches is left alone ("up to date").
#
# usage: build.sh [--force] [--print]
#   --print   print the resolved KEY=VALUE image names and exit (no docker)
#   --force   rebuild every berth-local image even if up to date (no cache)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ENV_FILE=${BERTH_IMAGES_ENV:-$ROOT/templates/images.env}

# Bump to rebuild every image, e.g. after changing how this script builds the
# base image (what the base/ directory holds is hashed already).
RECIPE_VERSION=1
SUITE=bookworm
VARIANT=minbase
LOCAL_PREFIX=berth-local/
SERVICES=(postgres redis rabbitmq python)
declare -A SERVICE_KEY=(
	[postgres]=BERTH_POSTGRES_IMAGE
	[redis]=BERTH_REDIS_IMAGE
	[rabbitmq]=BERTH_RABBITMQ_IMAGE
	[python]=BERTH_RUNTIME_IMAGE
)

die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }

force=0 print=0
for arg in "$@"; do
	case $arg in
		--force) force=1 ;;
		--print) print=1 ;;
		-h | --help) usage; exit 0 ;;
		*) echo "build.sh: unknown option: $arg" >&2; usage >&2; exit 2 ;;
	esac
done

# --- image names: images.env gives defaults, the environment wins ----------
KEYS=()
load_env() {
	local line key val
	[ -r "$ENV_FILE" ] || die "cannot read $ENV_FILE"
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		[[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || die "$ENV_FILE: not KEY=VALUE: $line"
		key=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
		KEYS+=("$key")
		# same as : "${KEY:=VAL}" (unset or empty in the environment -> default)
		[ -n "${!key:-}" ] || printf -v "$key" '%s' "$val"
		export "${key?}"
	done <"$ENV_FILE"
	for key in BERTH_BASE_IMAGE "${SERVICE_KEY[@]}"; do
		[ -n "${!key:-}" ] || die "$ENV_FILE: $key is not set"
	done
}
load_env

if [ "$print" = 1 ]; then
	for key in "${KEYS[@]}"; do printf '%s=%s\n' "$key" "${!key}"; done
	exit 0
fi

# --- helpers ------------------------------------------------------------------
command -v docker >/dev/null || die "docker CLI not found"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
	die "Docker engine not reachable (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"
# The legacy builder is enough for these Dockerfiles; without the buildx
# plugin, DOCKER_BUILDKIT=1 in the environment would make `docker build` fail.
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0

is_local() { [[ $1 == "$LOCAL_PREFIX"* ]]; }

image_label() { # NAME -> value of berth.recipe, empty if no image/label
	local v
	v=$(docker image inspect -f '{{ index .Config.Labels "berth.recipe" }}' "$1" 2>/dev/null) || v=
	[ "$v" = '<no value>' ] && v=
	printf '%s' "$v"
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

hash_tree() { # DIR -> one line per file: +x, content hash, path (sorted)
	local f
	(
		cd "$1"
		find . \( -type f -o -type l \) -print0 | LC_ALL=C sort -z |
			while IFS= read -r -d '' f; do
				if [ -L "$f" ]; then
					printf 'link %s %s\n' "$(readlink "$f")" "$f"
				else
					# only the executable bit: checkouts differ in umask, not in +x
					printf '%s %s %s\n' "$([ -x "$f" ] && echo x || echo -)" "$(sha256sum <"$f" | cut -c1-64)" "$f"
				fi
			done
	)
}

sha() { sha256sum | cut -c1-64; }

elapsed() { printf '%ds' $((SECONDS - $1)); }

remove_if_replaced() { # OLD_ID NAME: drop the image a rebuild replaced
	local new
	[ -n "$1" ] || return 0
	new=$(image_id "$2")
	[ "$1" = "$new" ] || docker image rm "$1" >/dev/null 2>&1 || true
}

external() { # NAME: not ours to build; make sure it is there
	if docker image inspect "$1" >/dev/null 2>&1; then
		echo "$1: not a ${LOCAL_PREFIX} image, not built; present locally"
	else
		echo "$1: not a ${LOCAL_PREFIX} image, not built; pulling it"
		if ! docker pull "$1"; then
			echo "$1: pull failed; unset the variable to build the ${LOCAL_PREFIX} default, or load the image yourself" >&2
			return 1
		fi
	fi
}

# --- apt configuration of this machine ---------------------------------------
# Prints "URI<TAB>SUITE<TAB>COMPONENTS" for every enabled `deb` entry of the
# host whose suite is $SUITE or $SUITE-*, deb822 files first, then one-line.
host_apt_entries() {
	local f deb822=() oneline=()
	for f in /etc/apt/sources.list.d/*.sources; do [ -r "$f" ] && deb822+=("$f"); done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -r "$f" ] && oneline+=("$f"); done
	{
		if [ ${#deb822[@]} -gt 0 ]; then
			awk '
				function flush(  i, j, n, m, U, S) {
					if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no") {
						n = split(uris, U, /[ \t]+/); m = split(suites, S, /[ \t]+/)
						for (i = 1; i <= m; i++) for (j = 1; j <= n; j++)
							if (U[j] != "" && S[i] != "") print U[j] "\t" S[i] "\t" comps
					}
					types = uris = suites = comps = last = ""; enabled = "yes"
				}
				BEGIN { enabled = "yes" }
				FNR == 1 { flush() }
				/^#/ { next }
				/^[ \t]*$/ { flush(); next }
				/^[ \t]/ {
					v = $0; sub(/^[ \t]+/, "", v)
					if (last == "types") types = types " " v
					else if (last == "uris") uris = uris " " v
					else if (last == "suites") suites = suites " " v
					else if (last == "components") comps = comps " " v
					next
				}
				{
					k = tolower($0); sub(/:.*/, "", k)
					v = $0; sub(/^[^:]*:[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
					last = k
					if (k == "types") types = v
					else if (k == "uris") uris = v
					else if (k == "suites") suites = v
					else if (k == "components") comps = v
					else if (k == "enabled") enabled = tolower(v)
				}
				END { flush() }' "${deb822[@]}"
		fi
		if [ ${#oneline[@]} -gt 0 ]; then
			awk '
				$1 == "deb" {
					i = 2
					if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
					c = ""
					for (k = i + 2; k <= NF && $k !~ /^#/; k++) c = c (c == "" ? "" : " ") $k
					print $i "\t" $(i + 1) "\t" c
				}' "${oneline[@]}"
		fi
	} | awk -F '\t' -v s="$SUITE" '$2 == s || index($2, s "-") == 1 { sub(/\/+$/, "", $1); print $1 "\t" $2 "\t" $3 }' OFS='\t'
}

# --- base image: debootstrap + docker import ---------------------------------
base_recipe() {
	{
		echo "berth.recipe v$RECIPE_VERSION base suite=$SUITE variant=$VARIANT"
		hash_tree "$HERE/base"
	} | sha
}

build_base() { # NAME RECIPE
	local name=$1 recipe=$2 t0=$SECONDS entries mirror rootfs old uri suites comps keyring
	command -v debootstrap >/dev/null || die "$name: debootstrap is not installed (apt-get install debootstrap)"
	[ "$(id -u)" = 0 ] || die "$name: debootstrap needs root"
	entries=$(host_apt_entries)
	mirror=$(awk -F '\t' -v s="$SUITE" '$2 == s { print $1; exit }' <<<"$entries")
	[ -n "$mirror" ] || die "$name: no '$SUITE' entry in this machine's apt sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list)"
	echo "$name: building (debootstrap --variant=$VARIANT $SUITE from $mirror)"

	rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/berth-rootfs.XXXXXX")
	BASE_ROOTFS=$rootfs
	chmod 0755 "$rootfs" # becomes the image's /
	local log=$rootfs.log include=()
	[[ $mirror != https:* ]] || include=(--include=ca-certificates)
	if ! debootstrap --variant="$VARIANT" "${include[@]}" "$SUITE" "$rootfs" "$mirror" >"$log" 2>&1; then
		tail -n 30 "$log" | sed "s|^|$name: |" >&2
		[ ! -f "$rootfs/debootstrap/debootstrap.log" ] || tail -n 20 "$rootfs/debootstrap/debootstrap.log" | sed "s|^|$name: |" >&2
		die "$name: debootstrap failed"
	fi

	# apt sources for containers: the host's entries for $SUITE*, one stanza
	# per mirror (e.g. the main archive with -updates, and -security)
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	local sources=$rootfs.sources
	: >"$sources"
	while IFS= read -r uri; do
		suites=$(awk -F '\t' -v u="$uri" '$1 == u && !seen[$2]++ { printf "%s%s", sep, $2; sep = " " }' <<<"$entries")
		comps=$(awk -F '\t' -v u="$uri" '$1 == u { print $3; exit }' <<<"$entries")
		{
			[ ! -s "$sources" ] || echo
			echo "Types: deb"
			echo "URIs: $uri"
			echo "Suites: $suites"
			echo "Components: ${comps:-main}"
			[ ! -f "$rootfs$keyring" ] || echo "Signed-By: $keyring"
		} >>"$sources"
	done < <(cut -f1 <<<"$entries" | awk '!seen[$0]++')

	"$HERE/base/finish-rootfs.sh" "$rootfs" "$sources"

	old=$(image_id "$name")
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" \
		--exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' \
		-cf - . |
		docker import \
			-c "LABEL berth.recipe=$recipe" \
			-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			-c 'CMD ["bash"]' \
			-m "berth: debootstrap --variant=$VARIANT $SUITE" \
			- "$name" >/dev/null
	cleanup_rootfs
	remove_if_replaced "$old" "$name"
	echo "$name: built in $(elapsed "$t0")"
}

BASE_ROOTFS=
cleanup_rootfs() {
	local r=$BASE_ROOTFS m
	[ -n "$r" ] || return 0
	BASE_ROOTFS=
	# debootstrap unmounts /proc, /sys (and binds) itself; if it was killed,
	# never let rm walk into a mount of the host
	if [ -d "$r" ]; then
		while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
			awk -v r="$r/" 'index($2, r) == 1 { print $2 }' /proc/self/mounts | sort -r)
		rm -rf --one-file-system "$r"
	fi
	rm -f "$r.log" "$r.sources"
}

# --- service images: docker build, in parallel ----------------------------------
service_recipe() { # SERVICE BASE_NAME BASE_RECIPE
	{
		echo "berth.recipe v$RECIPE_VERSION service=$1"
		echo "base-recipe=$3"
		echo "build-arg BASE=$2"
		hash_tree "$HERE/$1"
	} | sha
}

WORK=
cleanup() {
	local pid
	for pid in "${!PIDS[@]}"; do
		pkill -TERM -P "$pid" 2>/dev/null || true
		kill "$pid" 2>/dev/null || true
	done
	cleanup_rootfs
	[ -z "$WORK" ] || rm -rf "$WORK"
}
declare -A PIDS=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# one build at a time per machine: a second run waits, then finds it up to date
exec 9>"${TMPDIR:-/tmp}/berth-images.lock"
flock 9

# base
base=$BERTH_BASE_IMAGE
if is_local "$base"; then
	base_hash=$(base_recipe)
	if [ "$force" = 0 ] && [ "$(image_label "$base")" = "$base_hash" ]; then
		echo "$base: up to date"
	else
		build_base "$base" "$base_hash"
	fi
else
	external "$base" || die "base image $base is missing"
	base_hash=$(image_id "$base")
fi

# services
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-images.XXXXXX")
declare -A STARTED=()
failed=()
nocache=()
[ "$force" = 0 ] || nocache=(--no-cache)
for svc in "${SERVICES[@]}"; do
	key=${SERVICE_KEY[$svc]}
	name=${!key}
	if ! is_local "$name"; then
		external "$name" || failed+=("$name")
		continue
	fi
	recipe=$(service_recipe "$svc" "$base" "$base_hash")
	if [ "$force" = 0 ] && [ "$(image_label "$name")" = "$recipe" ]; then
		echo "$name: up to date"
		continue
	fi
	echo "$name: building from tests/images/$svc/"
	old=$(image_id "$name")
	(
		t0=$SECONDS
		docker build --force-rm "${nocache[@]}" \
			--build-arg "BASE=$base" \
			--label "berth.recipe=$recipe" \
			-t "$name" "$HERE/$svc" >"$WORK/$svc.log" 2>&1
		remove_if_replaced "$old" "$name"
		elapsed "$t0" >"$WORK/$svc.time"
	) &
	PIDS[$!]=$svc
	STARTED[$svc]=$!
done

for svc in "${SERVICES[@]}"; do
	pid=${STARTED[$svc]:-}
	[ -n "$pid" ] || continue
	key=${SERVICE_KEY[$svc]}
	if wait "$pid"; then
		echo "${!key}: built in $(cat "$WORK/$svc.time")"
	else
		failed+=("${!key}")
		echo "${!key}: BUILD FAILED (docker build tests/images/$svc/), last lines:" >&2
		tail -n 40 "$WORK/$svc.log" | sed "s|^|  $svc: |" >&2
	fi
	unset "PIDS[$pid]"
done
[ ${#failed[@]} -eq 0 ] || die "failed: ${failed[*]}"
