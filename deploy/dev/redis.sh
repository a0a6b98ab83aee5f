#!/usr/bin/env bash
# A private Redis for tests, under .data/redis, listening on 127.0.0.1 only and keeping nothing on disk.
#   deploy/dev/redis.sh start | stop | url
# Installs Debian's redis-server package when there is no redis-server.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dir="$root/.data/redis"
port="${DEV_REDIS_PORT:-56379}"

ping() {
	# RESP over bash's /dev/tcp, in a subshell because a failed redirection ends a non-interactive shell.
	(
		exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
		printf 'PING\r\n' >&3
		read -r -t 2 reply <&3 || exit 1
		[[ "$reply" == +PONG* ]]
	) 2>/dev/null
}

start() {
	if ! command -v redis-server >/dev/null; then
		echo "redis.sh: no redis-server found; installing Debian's redis-server package" >&2
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
	fi
	ping && return 0
	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --save '' --appendonly no \
		--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
	for _ in $(seq 50); do
		ping && return 0
		sleep 0.1
	done
	echo "redis.sh: redis did not start; see $dir/redis.log" >&2
	exit 1
}

stop() {
	[ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) echo "redis://127.0.0.1:$port/0" ;;
*)
	echo "usage: $0 start|stop|url" >&2
	exit 2
	;;
esac
