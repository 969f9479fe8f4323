#!/bin/sh
# Tests of the item SDKs: Python (unittest, with Debian's /usr/bin/python3,
# and a real Scrapy crawl when python3-scrapy is installed) and Node.js
# (node:test). Each runs against a fake items endpoint started by the test.
# Exits non-zero when any test fails.
set -u
cd "$(dirname "$0")" || exit 1

python=/usr/bin/python3
[ -x "$python" ] || python=python3
# Keep __pycache__ out of sdk/python: the directory is embedded as it is.
export PYTHONDONTWRITEBYTECODE=1

# A test that hangs fails after ten minutes rather than holding up the build.
limit=""
command -v timeout >/dev/null && limit="timeout 600"

status=0
if ! "$python" -c 'import scrapy' 2>/dev/null; then
	echo "sdk/test.sh: Scrapy is not installed for $python (apt-get install python3-scrapy): the Scrapy crawl test is skipped" >&2
fi
echo "== Python SDK ($python)"
$limit "$python" -m unittest discover -s tests -p 'test_*.py' || status=1
echo "== Node.js SDK ($(node --version))"
$limit node --test --test-reporter=spec tests/node.test.cjs || status=1
exit $status
