#!/usr/bin/env bash
# make fuzz: runs every native Go fuzz target in the tree for FUZZTIME each
# (5s by default, as make test does; FUZZTIME=10m to hunt longer). Go fuzzes
# one target per invocation, so the targets are found and run one by one.
# A failure leaves its input in the package's testdata/fuzz/<Target>/: keep
# it there as a regression test once the bug is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
n=0
while IFS=: read -r file target; do
	pkg=./$(dirname "$file")
	echo "fuzz: $target in $pkg for $FUZZTIME"
	$GO test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"
	n=$((n + 1))
done < <(git grep -o -e '^func Fuzz[A-Za-z0-9_]*' -- '*_test.go' | sed 's/:func /:/' | sort)
echo "fuzz: $n targets, $FUZZTIME each"
