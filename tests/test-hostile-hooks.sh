#!/usr/bin/env bash
# Issue #20, item 4: the test hooks are not in the real swapbench.
# SWAPBENCH_TEST_KILL_AT (SIGKILL mid-change) and
# SWAPBENCH_TEST_TOUCH_CORRUPT (flip a bit in touch's pages) are compiled
# only into build/swapbench-test; build/swapbench, the root tool users
# run, must not know their names, and must ignore the variables.  No root
# needed.  Try:
#   tests/run-tests test-hostile-hooks.sh
# timeout: 60

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_swapbench
export SWAPBENCH_STATE_DIR=$tmp/state

for v in SWAPBENCH_TEST_KILL_AT SWAPBENCH_TEST_TOUCH_CORRUPT; do
	grep -aq "$v" "$SWAPBENCH" && fail "item 4: $SWAPBENCH reads the test hook $v"
done
info "item 4: $SWAPBENCH has no test hook"

SWAPBENCH_TEST_TOUCH_CORRUPT=1 with_timeout 30 "$SWAPBENCH" touch --bytes 1M --duration 1 >"$tmp/out" 2>&1 ||
	{ cat "$tmp/out" >&2; fail "item 4: SWAPBENCH_TEST_TOUCH_CORRUPT=1 made the real swapbench touch fail"; }
grep -q '"mismatches":0' "$tmp/out" || { cat "$tmp/out" >&2; fail "item 4: touch reported mismatches"; }
info "item 4: $SWAPBENCH ignores SWAPBENCH_TEST_TOUCH_CORRUPT"

# The test build keeps them, for the crash tests.
requires_swapbench_hooked
SWAPBENCH_TEST_TOUCH_CORRUPT=1 with_timeout 30 "$SWAPBENCH_HOOKED" touch --bytes 1M --duration 1 >"$tmp/out" 2>&1 &&
	fail "item 4: the test build ignored SWAPBENCH_TEST_TOUCH_CORRUPT"
grep -q 'read back wrong' "$tmp/out" || { cat "$tmp/out" >&2; fail "item 4: the test build's hook did not flip a bit"; }
grep -aq SWAPBENCH_TEST_KILL_AT "$SWAPBENCH_HOOKED" || fail "item 4: the test build has no SWAPBENCH_TEST_KILL_AT"
info "item 4: $SWAPBENCH_HOOKED has both hooks"
exit 0
