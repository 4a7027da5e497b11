#!/bin/sh
# Entrypoint of berth's local redis image, after the official redis image's:
# - first argument a flag (-x, --x) or a *.conf file: run redis-server with it
# - redis-server started as root: fix /data ownership, drop to user redis
# - umask 0077 unless one was set
# The official image compiles protected mode off; Debian's redis-server has
# it on, so `--protected-mode no` is appended unless the arguments (or the
# config file given as first argument) set protected-mode themselves.
set -e

# first arg is `-f` or `--some-option`
# or first arg is `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# allow the container to be started with `--user`
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec gosu redis "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	want_protected_off=1
	first=1
	for arg; do
		if [ "$first" = 1 ]; then first=0; continue; fi # "redis-server"
		case "$arg" in
			--protected-mode | --protected-mode=*) want_protected_off= ;;
			-h | --help | -v | --version | --test-memory | --check-system) want_protected_off= ;;
			*.conf)
				if [ -r "$arg" ] && grep -qiE '^[[:space:]]*protected-mode[[:space:]]' "$arg"; then
					want_protected_off=
				fi
				;;
		esac
	done
	if [ -n "$want_protected_off" ]; then
		set -- "$@" --protected-mode no
	fi
fi

# set an appropriate umask (if one isn't set already)
# - https://github.com/docker-library/redis/issues/305
# - https://github.com/redis/redis/blob/bb875603fb7ff3f9d19aad906bd45d7db98d9a39/utils/systemd-redis_server.service#L37
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
