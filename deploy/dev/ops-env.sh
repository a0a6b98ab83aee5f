#!/usr/bin/env bash
# Readies the programs the deployment tests run (deploy/compose, deploy/helm), printing `export` lines for make test:
#   - Debian's nginx, prometheus (with promtool), prometheus-alertmanager and pgbackrest, installed when missing, as
#     TEST_NGINX, TEST_PROMETHEUS, TEST_PROMTOOL, TEST_AMTOOL and TEST_PGBACKREST;
#   - helm, pinned by version (HELM_VERSION), built once from the Go module proxy into .data/tools/helm-<version>/
#     and reused after (the first build compiles Kubernetes' client libraries: several minutes), as TEST_HELM.
# Installs and builds go to stderr so that only the export lines reach stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
HELM_VERSION=${HELM_VERSION:-v4.3.2}

missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v pgbackrest >/dev/null || missing+=(pgbackrest)
if [ ${#missing[@]} -gt 0 ]; then
	echo "ops-env.sh: installing ${missing[*]} for the deployment tests" >&2
	apt-get update -qq >&2
	# The packages' services are not wanted: the tests start their own copies on free ports.
	DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "${missing[@]}" >&2
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
echo "export TEST_NGINX='$nginx'"
echo "export TEST_PROMETHEUS='$(command -v prometheus)'"
echo "export TEST_PROMTOOL='$(command -v promtool)'"
echo "export TEST_AMTOOL='$(command -v amtool)'"
echo "export TEST_PGBACKREST='$(command -v pgbackrest)'"

helm="$root/.data/tools/helm-$HELM_VERSION/helm"
if [ ! -x "$helm" ]; then
	echo "ops-env.sh: building helm $HELM_VERSION once into $(dirname "$helm") (minutes on a cold Go cache)" >&2
	mkdir -p "$(dirname "$helm")"
	GOBIN="$(dirname "$helm")" GOFLAGS=-mod=mod go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" >&2
fi
echo "export TEST_HELM='$helm'"
