#!/usr/bin/env bash
# make bench: installs what the harness needs when it is missing, builds
# crawlhub, the FerretDB test server and the harness from this tree, and
# runs the harness (cmd/crawlhub-bench), which writes BENCHMARKS.md and
# bench/results.json. Arguments go to the harness (-only 3, -quick, -keep).
#
# Centrifugo, the peer it is compared with, is built once with `go install`
# into a cache outside the repository ($CRAWLHUB_BENCH_CACHE, default
# ~/.cache/crawlhub-bench); when that fails, its columns say why and the
# rest still runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO="${GO:-go}"
CACHE="${CRAWLHUB_BENCH_CACHE:-$HOME/.cache/crawlhub-bench}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	echo "bench: installing redis-server and redis-tools (apt-get)"
	SUDO=""
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi

CENTRIFUGO="$BIN/centrifugo"
MISSING=""
if [ ! -x "$CENTRIFUGO" ]; then
	echo "bench: installing Centrifugo v6.9.1 into $BIN with go install (once; a few minutes)"
	if ! (cd "$CACHE" && GOBIN="$BIN" GOFLAGS=-buildvcs=false timeout 480 "$GO" install github.com/centrifugal/centrifugo/v6@v6.9.1) >"$CACHE/centrifugo-install.log" 2>&1; then
		MISSING="go install github.com/centrifugal/centrifugo/v6@v6.9.1 failed: $(tail -n 1 "$CACHE/centrifugo-install.log")"
		echo "bench: $MISSING (see $CACHE/centrifugo-install.log); running without it"
		rm -f "$CENTRIFUGO"
		CENTRIFUGO=""
	fi
fi

echo "bench: building crawlhub, the FerretDB test server and the harness"
"$GO" build -o "$BIN/crawlhub" ./cmd/crawlhub
"$GO" build -o "$BIN/crawlhub-bench" ./cmd/crawlhub-bench
(cd tools/ferretdb && "$GO" build -o "$BIN/ferretdb" .)

exec "$BIN/crawlhub-bench" -crawlhub "$BIN/crawlhub" -ferretdb "$BIN/ferretdb" \
	-centrifugo "$CENTRIFUGO" -centrifugo-missing "$MISSING" "$@"
