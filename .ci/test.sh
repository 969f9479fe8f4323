#!/usr/bin/env bash
# make test: installs what the tests need on a fresh Debian machine, starts
# the FerretDB test server on a loopback port and a directory of its own,
# runs `make lint` and every test (Go with -race, the fuzz targets, a
# 3-minute soak, the dashboard in headless Chromium, the `make run` smoke
# test), and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$PATH:/usr/sbin:/sbin"

# --- install -----------------------------------------------------------------
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ -x /usr/bin/chromium ] || missing+=(chromium)
/usr/bin/python3 -c 'import websockets' 2>/dev/null || missing+=(python3-websockets)
/usr/bin/python3 -c 'import scrapy' 2>/dev/null || missing+=(python3-scrapy)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	echo "make test: installing ${missing[*]} with apt-get"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/ws ] || [ ! -d node_modules/esbuild ]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build

mkdir -p .cache/bin
(cd tools/ferretdb && go build -o "$ROOT/.cache/bin/ferretdb-test" .)

# --- start -------------------------------------------------------------------
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

.cache/bin/ferretdb-test --listen 127.0.0.1:0 --dir "$work/ferretdb" >"$work/ferretdb.out" 2>"$work/ferretdb.err" &
pids+=($!)
for _ in $(seq 600); do
	grep -q '^ferretdb ready' "$work/ferretdb.out" && break
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/ferretdb.err"; echo "make test: FerretDB did not start"; exit 1; }
	sleep 0.1
done
uri=$(sed -n 's/^ferretdb ready //p' "$work/ferretdb.out")
[ -n "$uri" ] || { echo "make test: FerretDB not ready after 60 s"; exit 1; }
export CRAWLHUB_TEST_FERRETDB_URI="$uri"
export CRAWLHUB_FERRETDB_BIN="$ROOT/.cache/bin/ferretdb-test"
echo "make test: FerretDB test server at $uri"

# --- test --------------------------------------------------------------------
make --no-print-directory lint
go test -race -count=1 -timeout 40m ./...
bash .ci/fuzz.sh # every fuzz target for 5 s: about a minute
DURATION=3m SOAK_OUT="$work/soak" bash .ci/soak.sh # the soak, 3 minutes of load: about 6 in all
npm run --silent test:web
bash sdk/test.sh
bash .ci/smoke.sh
