#!/usr/bin/env bash
# Readies SeaweedFS's `weed`, the S3-compatible server the storage tests start on free ports, printing an `export`
# line for make test: built once from the Go module proxy, pinned by version (WEED_VERSION), into
# ${XDG_CACHE_HOME:-$HOME/.cache}/concertmaster/tools/weed-<version>/ and reused after by every work tree (the first
# build compiles SeaweedFS: 20 minutes and more on a busy machine), as TEST_WEED. A lock (flock) makes concurrent
# callers wait for one build instead of running two.
# The build goes to stderr so that only the export line reaches stdout.
set -euo pipefail
WEED_VERSION=${WEED_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}

tools="${XDG_CACHE_HOME:-$HOME/.cache}/concertmaster/tools"
weed="$tools/weed-$WEED_VERSION/weed"
mkdir -p "$tools"
if [ ! -x "$weed" ]; then
	exec 9>"$tools/weed-$WEED_VERSION.lock"
	flock 9
	# Another caller may have finished the build while this one waited for the lock.
	if [ ! -x "$weed" ]; then
		echo "s3-env.sh: building weed $WEED_VERSION once into $(dirname "$weed") (20+ minutes on a cold Go cache)" >&2
		mkdir -p "$(dirname "$weed")"
		# `go install pkg@version` refuses modules with replace directives (SeaweedFS has one), so the module's
		# source is fetched through the module proxy and built as the main module in a scratch copy.
		src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$WEED_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		scratch=$(mktemp -d)
		trap 'chmod -R u+w "$scratch"; rm -rf "$scratch"' EXIT
		cp -r "$src/." "$scratch/"
		chmod -R u+w "$scratch"
		# Built to a temporary name and renamed, so an interrupted build never leaves a half-written binary behind.
		(cd "$scratch" && GOFLAGS=-mod=mod go build -o "$weed.tmp" ./weed) >&2
		mv "$weed.tmp" "$weed"
	fi
	exec 9>&-
fi
echo "export TEST_WEED='$weed'"
