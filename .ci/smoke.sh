#!/usr/bin/env bash
# The README's first door: `make run` on a clean checkout of HEAD brings up
# the all-in-one; its printed token lists one node, online, with system info;
# no token gets 401. The dashboard is then tested in headless Chromium
# against that same server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
work=$(mktemp -d)
pgid=""
cleanup() {
	[ -n "$pgid" ] && kill -TERM -- "-$pgid" 2>/dev/null || true
	[ -n "$pgid" ] && for _ in $(seq 100); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
	rm -rf "$work"
}
trap cleanup EXIT

git clone -q --no-hardlinks "$ROOT" "$work/checkout"
cd "$work/checkout"
# Port 0: the printed URL carries the real port, so runs never collide.
CRAWLHUB_LISTEN=127.0.0.1:0 setsid make run >"$work/run.log" 2>&1 &
pgid=$!

url=""
for _ in $(seq 1800); do # the first build of a clean checkout may take a while
	url=$(grep -o 'http://[^ ]*?token=[0-9a-f]*' "$work/run.log" | head -1 || true)
	[ -n "$url" ] && break
	kill -0 "$pgid" 2>/dev/null || { cat "$work/run.log"; echo "smoke: make run exited"; exit 1; }
	sleep 0.1
done
[ -n "$url" ] || { cat "$work/run.log"; echo "smoke: make run printed no dashboard URL within 180 s"; exit 1; }
base=${url%%/\?token=*}
token=${url##*token=}
echo "smoke: make run is up at $base"

code=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/nodes")
[ "$code" = 401 ] || { echo "smoke: no token gave $code, want 401"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong" "$base/api/nodes")
[ "$code" = 401 ] || { echo "smoke: a wrong token gave $code, want 401"; exit 1; }

nodes=$(curl -sf -H "Authorization: Bearer $token" "$base/api/nodes")
id=$(printf '%s' "$nodes" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["total"] == 1 and len(d["items"]) == 1, d
n = d["items"][0]
assert n["status"] == "online", n
assert n["is_master"] is True, n
print(n["id"])')
info=$(curl -sf -H "Authorization: Bearer $token" "$base/api/nodes/$id/sysinfo")
printf '%s' "$info" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["cpus"] > 0 and d["mem_total"] > 0 and d["hostname"], d
print("smoke: node", d["hostname"], "has", d["cpus"], "CPUs")'
curl -sf "$base/" | grep -qi '<script' || { echo "smoke: the dashboard is not served at /"; exit 1; }

cd "$ROOT"
# CRAWLHUB_BIN: the binary make run built, for the tests that start
# their own crawlhub (busdown.test.mjs).
CRAWLHUB_BIN="$work/checkout/bin/crawlhub" CRAWLHUB_E2E_URL="$base" CRAWLHUB_E2E_TOKEN="$token" npm run --silent test:e2e
echo "smoke: make run and the dashboard passed"
