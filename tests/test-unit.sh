#!/bin/bash
# Runs the C unit tests (build/tests/unit-*, from tests/unit-*.c), every one
# of them even after a failure: a program that exits 77 skips (its reason
# on stderr; the test fails only when every one skips), anything but 0 or
# 77 fails.  Try:  tests/run-tests test-unit.sh
. "$(dirname "$0")/functions.sh"
n=0 failed=() skipped=()
for u in "$BUILD"/tests/unit-*; do
	[ -x "$u" ] || continue
	n=$((n + 1))
	name=$(basename "$u")
	"$u"
	case $? in
	0) info "$name ok" ;;
	77) skipped+=("$name"); info "$name skipped" ;;
	*) failed+=("$name"); echo "FAIL: $name" >&2 ;;
	esac
done
[ $n -gt 0 ] || fail "no unit test programs in $BUILD/tests (run make)"
[ ${#failed[@]} = 0 ] || fail "${#failed[@]} of $n unit programs failed: ${failed[*]}"
[ ${#skipped[@]} -lt $n ] || skip "every unit program skipped"
info "$n unit programs, ${#skipped[@]} skipped $(printf '%s ' "${skipped[@]}")"
exit 0
