#!/usr/bin/env bash
# Entrypoint of berth's local rabbitmq image, after the official rabbitmq
# image's. For `rabbitmq*` commands it
#   - writes /etc/rabbitmq/conf.d/20-env.conf from RABBITMQ_DEFAULT_USER,
#     RABBITMQ_DEFAULT_PASS and RABBITMQ_DEFAULT_VHOST (those set; the image's
#     10-defaults.conf gives guest/guest and "/"; loopback_users = none so the
#     user may connect over the network). Like the official image, they only
#     take effect when the node initializes an empty data directory.
#   - enables the management plugin (port 15672) if RABBITMQ_ENABLE_MANAGEMENT
#     is true/yes/1 (the official image's :3-management tag does so always)
#   - writes RABBITMQ_ERLANG_COOKIE to /var/lib/rabbitmq/.erlang.cookie, or
#     creates a random cookie there if none exists
#   - uses long node names when the container hostname is a FQDN
#   - runs the server as user rabbitmq, in the foreground, node name
#     rabbit@<container hostname>
set -euo pipefail

data=${RABBITMQ_DATA_DIR:-/var/lib/rabbitmq}
cookie=$data/.erlang.cookie

is_true() { case "${1,,}" in 1 | y | yes | true | on) return 0 ;; *) return 1 ;; esac; }

# cuttlefish (rabbitmq.conf) values are taken verbatim up to the end of line
conf_value() {
	case "$2" in
		*$'\n'*) echo "error: $1 must not contain a newline" >&2; exit 1 ;;
	esac
	printf '%s = %s\n' "$1" "$2"
}

write_env_conf() {
	local f=/etc/rabbitmq/conf.d/20-env.conf tmp
	[ -w /etc/rabbitmq/conf.d ] || return 0
	tmp=$(mktemp /etc/rabbitmq/conf.d/.20-env.XXXXXX)
	{
		echo '# written by docker-entrypoint.sh from the container environment'
		[ -z "${RABBITMQ_DEFAULT_USER:-}" ] || conf_value default_user "$RABBITMQ_DEFAULT_USER"
		[ -z "${RABBITMQ_DEFAULT_PASS:-}" ] || conf_value default_pass "$RABBITMQ_DEFAULT_PASS"
		[ -z "${RABBITMQ_DEFAULT_VHOST:-}" ] || conf_value default_vhost "$RABBITMQ_DEFAULT_VHOST"
	} >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$f"
}

enable_management() {
	local f=${RABBITMQ_ENABLED_PLUGINS_FILE:-/etc/rabbitmq/enabled_plugins}
	is_true "${RABBITMQ_ENABLE_MANAGEMENT:-false}" || return 0
	if [ ! -s "$f" ] || grep -qE '^[[:space:]]*\[[[:space:]]*\][[:space:]]*\.[[:space:]]*$' "$f"; then
		echo '[rabbitmq_management].' >"$f"
	elif ! grep -q 'rabbitmq_management[],[:space:]]' "$f"; then
		rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
	fi
}

setup_cookie() {
	if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
		if [ ! -e "$cookie" ] || [ "$(cat "$cookie")" != "$RABBITMQ_ERLANG_COOKIE" ]; then
			rm -f "$cookie"
			(umask 077 && printf '%s' "$RABBITMQ_ERLANG_COOKIE" >"$cookie")
		fi
	elif [ ! -e "$cookie" ]; then
		(umask 077 && head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$cookie")
	fi
	chmod 0400 "$cookie"
}

if [[ ${1:-} == rabbitmq* ]]; then
	# if long and short hostnames are not the same, use long hostnames (also
	# for `docker exec rabbitmqctl`, hence rabbitmq-env.conf, not only the env)
	if [ -z "${RABBITMQ_USE_LONGNAME:-}" ] && [ "$(hostname)" != "$(hostname -s)" ]; then
		export RABBITMQ_USE_LONGNAME=true
		if [ -w /etc/rabbitmq ] && ! grep -qs '^USE_LONGNAME=' /etc/rabbitmq/rabbitmq-env.conf; then
			echo 'USE_LONGNAME=true' >>/etc/rabbitmq/rabbitmq-env.conf
		fi
	fi

	if [ "$(id -u)" = '0' ]; then
		write_env_conf
		enable_management
		mkdir -p "$data"
		setup_cookie
		if [ "$1" = 'rabbitmq-server' ]; then
			# only the data directory: config files may be mounted read-only
			find "$data" \! -user rabbitmq -exec chown rabbitmq:rabbitmq '{}' +
		fi
		exec gosu rabbitmq "${BASH_SOURCE[0]}" "$@"
	fi

	# started with --user: do what this user may
	if [ "$1" = 'rabbitmq-server' ]; then
		write_env_conf
		enable_management
		[ ! -w "$data" ] || setup_cookie
	fi
	# the cookie is in the file now; the variable only adds a deprecation warning
	unset RABBITMQ_ERLANG_COOKIE
	cd "$data"
fi

exec "$@"
