#!/usr/bin/env bash
# make soak: builds crawlhub, the FerretDB test server (as make test does)
# and the soak harness from this tree, and runs the harness: two masters,
# three agents, Redis and FerretDB on loopback under a mixed load for
# DURATION (30m by default), failing if a process grows without bound or a
# task or a log line is lost. It writes its report into docs/soak.md,
# docs/soak.svg (the chart) and docs/soak.json (the samples), or into
# SOAK_OUT when set (make test runs a 3-minute soak
# that way, leaving the committed report alone). Installs redis-server
# with apt-get when it is missing, as make test does.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
DURATION=${DURATION:-30m}
export PATH="$PATH:/usr/sbin:/sbin"

if ! command -v redis-server >/dev/null; then
	echo "soak: installing redis-server (apt-get)"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

mkdir -p .cache/bin
echo "soak: building crawlhub, the FerretDB test server and the harness"
"$GO" build -o .cache/bin/crawlhub ./cmd/crawlhub
"$GO" build -o .cache/bin/crawlhub-soak ./cmd/crawlhub-soak
(cd tools/ferretdb && "$GO" build -o "$ROOT/.cache/bin/ferretdb-test" .)

out=docs
if [ -n "${SOAK_OUT:-}" ]; then
	mkdir -p "$SOAK_OUT"
	out=$SOAK_OUT
fi
exec .cache/bin/crawlhub-soak -crawlhub .cache/bin/crawlhub -ferretdb .cache/bin/ferretdb-test \
	-duration "$DURATION" -report "$out/soak.md" -chart "$out/soak.svg" -samples "$out/soak.json" ${SOAK_ARGS:-}
