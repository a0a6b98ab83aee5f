#!/usr/bin/env bash
# Prints `export` lines for `make run`: whatever the environment does not set gets a development default, and when
# DATABASE_URL is unset the private PostgreSQL cluster is started (created the first time) and used.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ -z "${DATABASE_URL:-}" ]; then
	"$root/deploy/dev/postgres.sh" start
	echo "export DATABASE_URL='$("$root/deploy/dev/postgres.sh" url)'"
fi
if [ -z "${SECRET_KEY:-}" ]; then
	key="$root/.data/secret_key"
	if [ ! -s "$key" ]; then
		mkdir -p "$root/.data"
		(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key")
	fi
	echo "export SECRET_KEY='$(cat "$key")'"
fi
[ -n "${LOG_FORMAT:-}" ] || echo "export LOG_FORMAT=text"
[ -n "${DATA_DIR:-}" ] || echo "export DATA_DIR='$root/.data/files'"
