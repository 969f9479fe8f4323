#!/usr/bin/env bash
# make fuzz: runs every native Go fuzz target in the tree for FUZZTIME each
# (5s by default, as make test does; FUZZTIME=10m to hunt longer). Go fuzzes
# one target per invocation, so the targets are found and run one by one.
# A failure leaves its input in the package's testdata/fuzz/<Target>/: keep
# it there as a regression test once the bug is fixed.
#
# Go 1.26's fuzzing coordinator can end a run that found nothing with
# "--- FAIL: FuzzX ... context deadline exceeded" when -fuzztime expires while a
# worker is mid-call (go.dev/issue/75804, fixed in Go 1.27). Such a run wrote no
# failing input, so it says nothing about our code: the target is run again, up
# to twice. A run that wrote a failing input, or failed any other way, fails
# at once.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# coordinator_race: did the failed run in $out end only by the deadline race?
coordinator_race() {
	! grep -q 'Failing input written to' "$out" &&
		grep -q '^--- FAIL: Fuzz' "$out" &&
		grep -A1 '^--- FAIL: Fuzz' "$out" | grep -q '^    context deadline exceeded$'
}

n=0
while IFS=: read -r file target; do
	pkg=./$(dirname "$file")
	for try in 1 2 3; do
		echo "fuzz: $target in $pkg for $FUZZTIME"
		if $GO test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1 | tee "$out"; then
			break
		fi
		if [ "$try" -lt 3 ] && coordinator_race; then
			echo "fuzz: $target stopped by Go's deadline race (go.dev/issue/75804), no failing input: running it again"
			continue
		fi
		exit 1
	done
	n=$((n + 1))
done < <(git grep -o -e '^func Fuzz[A-Za-z0-9_]*' -- '*_test.go' | sed 's/:func /:/' | sort)
echo "fuzz: $n targets, $FUZZTIME each"
