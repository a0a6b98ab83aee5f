#!/usr/bin/env bash
# A private PostgreSQL cluster for development and tests, listening on 127.0.0.1 only: under .data/postgres on port
# 55432 unless DEV_PG_DATA and DEV_PG_PORT say otherwise.
#   deploy/dev/postgres.sh start   create (first time) and start it; prints nothing else on success
#   deploy/dev/postgres.sh stop    stop it
#   deploy/dev/postgres.sh url     the DATABASE_URL of its `concertmaster` database
# Uses the system's server binaries (/usr/lib/postgresql/*/bin) and installs Debian's postgresql package when
# there are none. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
data="${DEV_PG_DATA:-$root/.data/postgres}"
port="${DEV_PG_PORT:-55432}"
url="postgres://postgres@127.0.0.1:$port/concertmaster?sslmode=disable"

pg_bin() {
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# let_postgres_reach grants "others" the search (x) bit on each folder above the data directory that lacks it, so
# the postgres user can reach .data/postgres in a tree owned by root (a mktemp folder is 0700). Search alone lists
# nothing and reads nothing.
let_postgres_reach() {
	local dir
	dir=$(dirname "$1")
	while [ "$dir" != / ]; do
		runuser -u postgres -- test -x "$dir" || chmod o+x "$dir"
		dir=$(dirname "$dir")
	done
}

install_server() {
	[ -n "$(pg_bin)" ] && return
	echo "postgres.sh: no PostgreSQL server found; installing Debian's postgresql package" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# serving reports whether a PostgreSQL on the port lets us in as postgres without a password: this checkout's
# cluster, or another checkout's (a second clone, a CI run beside a working copy). Tests make their own databases
# in it, so sharing one is safe; a second cluster could not take the port anyway.
serving() {
	as_owner "$1/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1" >/dev/null 2>&1
}

start() {
	install_server
	local bin
	bin=$(pg_bin)
	if serving "$bin"; then
		ensure_database "$bin"
		return
	fi
	mkdir -p "$(dirname "$data")"
	[ "$(id -u)" = 0 ] && let_postgres_reach "$data"
	if [ ! -f "$data/PG_VERSION" ]; then
		mkdir -p "$data"
		[ "$(id -u)" = 0 ] && chown postgres: "$data"
		chmod 700 "$data"
		as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
		cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 300
shared_buffers = 256MB
log_min_messages = warning
CONF
	fi
	if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null ||
			{ tail -n 20 "$data/server.log" >&2; exit 1; }
	fi
	ensure_database "$bin"
}

ensure_database() {
	if ! as_owner "$1/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'concertmaster'" | grep -q 1; then
		as_owner "$1/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE concertmaster" >/dev/null
	fi
}

stop() {
	local bin
	bin=$(pg_bin)
	[ -n "$bin" ] && [ -f "$data/PG_VERSION" ] || return 0
	as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 || return 0
	as_owner "$bin/pg_ctl" -D "$data" -w -m fast stop >/dev/null
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) echo "$url" ;;
*)
	echo "usage: $0 start|stop|url" >&2
	exit 2
	;;
esac
