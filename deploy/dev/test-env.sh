#!/usr/bin/env bash
# Prints `export` lines for `make test` and `make bench`: TEST_DATABASE_URL and TEST_REDIS_URL, starting the private
# PostgreSQL cluster and Redis (installing their Debian packages when missing) for whichever is not already set.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

# The tests' cluster lives outside every checkout, on its own port: tests of several checkouts (a CI clone beside a
# working copy) share it, and removing a checkout never stops the PostgreSQL another one's tests are using.
export DEV_PG_DATA="${XDG_CACHE_HOME:-$HOME/.cache}/concertmaster/test-postgres" DEV_PG_PORT=55433

if [ -z "${TEST_DATABASE_URL:-}" ]; then
	"$root/deploy/dev/postgres.sh" start
	echo "export TEST_DATABASE_URL='$("$root/deploy/dev/postgres.sh" url)'"
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
	"$root/deploy/dev/redis.sh" start
	echo "export TEST_REDIS_URL='$("$root/deploy/dev/redis.sh" url)'"
fi
