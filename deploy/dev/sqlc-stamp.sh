#!/usr/bin/env bash
# sqlc's drift check without sqlc's cold build (minutes on a fresh machine): sql/db/.generated-from records the
# hash of sqlc's inputs (sqlc.yaml, migrations/*.sql, sql/queries/*.sql) and of its outputs (sql/db/*.go) when
# `make generate` ran. While both still match, sql/db is what sqlc makes of those inputs and needs no new run.
#   deploy/dev/sqlc-stamp.sh write   record the hashes (after sqlc generate)
#   deploy/dev/sqlc-stamp.sh check   exit 0 when both match the record
set -euo pipefail
cd "$(dirname "$0")/../.."
stamp=sql/db/.generated-from

hashes() {
	echo "inputs $(cat sqlc.yaml $(ls migrations/*.sql sql/queries/*.sql | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)"
	echo "outputs $(cat $(ls sql/db/*.go | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)"
}

case "${1:-}" in
write) hashes >"$stamp" ;;
check) [ -f "$stamp" ] && [ "$(hashes)" = "$(cat "$stamp")" ] ;;
*)
	echo "usage: $0 write|check" >&2
	exit 2
	;;
esac
