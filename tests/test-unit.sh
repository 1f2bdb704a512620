#!/bin/bash
# Runs the C unit tests (build/tests/unit-*, from tests/unit-*.c).
. "$(dirname "$0")/functions.sh"
n=0
for u in "$BUILD"/tests/unit-*; do
	[ -x "$u" ] || continue
	n=$((n + 1))
	"$u" || fail "$(basename "$u") failed"
	info "$(basename "$u") ok"
done
[ $n -gt 0 ] || fail "no unit test programs in $BUILD/tests (run make)"
