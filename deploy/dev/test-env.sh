#!/usr/bin/env bash
# Prints `export` lines for `make test` and `make bench`: TEST_DATABASE_URL and TEST_REDIS_URL, starting the private
# PostgreSQL cluster and Redis (installing their Debian packages when missing) for whichever is not already set.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ -z "${TEST_DATABASE_URL:-}" ]; then
	"$root/deploy/dev/postgres.sh" start
	echo "export TEST_DATABASE_URL='$("$root/deploy/dev/postgres.sh" url)'"
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
	"$root/deploy/dev/redis.sh" start
	echo "export TEST_REDIS_URL='$("$root/deploy/dev/redis.sh" url)'"
fi
