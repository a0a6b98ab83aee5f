#!/usr/bin/env bash
# Readies SeaweedFS's `weed`, the S3-compatible server the storage tests start on free ports, printing an `export`
# line for make test: built once from the Go module proxy, pinned by version (WEED_VERSION), into
# .data/tools/weed-<version>/ and reused after (the first build compiles SeaweedFS: many minutes), as TEST_WEED.
# The build goes to stderr so that only the export line reaches stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
WEED_VERSION=${WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}

weed="$root/.data/tools/weed-$WEED_VERSION/weed"
if [ ! -x "$weed" ]; then
	echo "s3-env.sh: building weed $WEED_VERSION once into $(dirname "$weed") (many minutes on a cold Go cache)" >&2
	mkdir -p "$(dirname "$weed")"
	# `go install pkg@version` refuses modules with replace directives (SeaweedFS has one), so the module's source
	# is fetched through the module proxy and built as the main module in a scratch copy.
	src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$WEED_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	scratch=$(mktemp -d)
	trap 'chmod -R u+w "$scratch"; rm -rf "$scratch"' EXIT
	cp -r "$src/." "$scratch/"
	chmod -R u+w "$scratch"
	(cd "$scratch" && GOFLAGS=-mod=mod go build -o "$weed" ./weed) >&2
fi
echo "export TEST_WEED='$weed'"
