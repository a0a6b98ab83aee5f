#!/usr/bin/env bash
# Readies what the browser and asset tests need, printing `export` lines for `make test`:
#   - Debian's chromium (installed when missing; go-rod drives it headless), as TEST_CHROMIUM;
#   - static/editor/node_modules (npm ci from the lock file when missing or installed from another lock file), for
#     the test that rebuilds the bundle;
#   - curl, openssl and jq, which the README's quick start uses and a test runs word for word.
# Installs go to stderr so that only the export lines reach stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ -z "${TEST_CHROMIUM:-}" ]; then
	if ! command -v chromium >/dev/null; then
		echo "browser-env.sh: no chromium found; installing Debian's chromium package (a few minutes)" >&2
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
	fi
	echo "export TEST_CHROMIUM='$(command -v chromium)'"
fi
missing=()
for tool in curl openssl jq; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "browser-env.sh: installing ${missing[*]} for the quick-start test" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
# node_modules/.installed-from is the lock file it was installed from: a pull that changes the lock reinstalls.
editor="$root/static/editor"
if ! cmp -s "$editor/package-lock.json" "$editor/node_modules/.installed-from"; then
	echo "browser-env.sh: installing the asset toolchain (npm ci in static/editor)" >&2
	(cd "$editor" && npm ci --no-audit --no-fund >&2 && cp package-lock.json node_modules/.installed-from)
fi
