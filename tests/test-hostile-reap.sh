#!/usr/bin/env bash
# Issue #20, item 9: swapbench never waits forever for a child it killed.
# A workload that outlives `tier up --timeout 1` gets SIGKILL; a preloaded
# shim drops SIGKILL to the workload's process group, so the workload
# survives it as one in D state on a dead NBD device would.  swapbench must
# give up after its deadline with the D-state diagnostics, tear the tier
# down (the cgroup's removal kills the workload) and leave the machine as
# it was; it used to wait in waitpid until the workload ended by itself.
# Try:  tests/run-tests test-hostile-reap.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_swapbench
requires cc jq timeout
[ -z "${SWAPBENCH_SANITIZED:-}" ] ||
	skip "a sanitizer build: the runtime's interposers get in the shim's way"
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' ')"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
supported_tier zram || skip "the zram tier cannot run here"
cc -shared -fPIC -O1 -o "$tmp/kill-group-survives.so" "$top/tests/shim/kill-group-survives.c" ||
	fail "cannot build the kill shim"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)

t0=$SECONDS
LD_PRELOAD=$tmp/kill-group-survives.so timeout --kill-after=5 40 "$SWAPBENCH" tier up zram \
	--size 256M --timeout 1 -- sleep 90 >"$tmp/out" 2>"$tmp/err"
rc=$?
took=$((SECONDS - t0))
info "item 9: tier up with a workload that survives SIGKILL: exit $rc after ${took} s"
grep -q 'SIGKILL to group .* dropped' "$tmp/err" || { cat "$tmp/err" >&2; fail "item 9: the shim dropped nothing"; }
[ $rc = 124 ] || [ $rc = 137 ] &&
	{ cat "$tmp/err" >&2; fail "item 9: swapbench waited for a child that survived SIGKILL (killed after 40 s)"; }
[ $took -le 25 ] || fail "item 9: swapbench took ${took} s to give up on the child"
[ $rc = 1 ] || { cat "$tmp/err" >&2; fail "item 9: exit $rc, expected 1"; }
grep -q "sleep (pid [0-9]*) did not end within [0-9]* ms of SIGKILL" "$tmp/err" ||
	{ cat "$tmp/err" >&2; fail "item 9: no message naming the child that did not end"; }
grep -q "diagnostics for 'sleep'" "$tmp/err" ||
	{ cat "$tmp/err" >&2; fail "item 9: no D-state diagnostics"; }
# The kernel log's tail follows them: messages, not /dev/kmsg's headers.
grep -qE '^  kernel log, last [0-9]+ lines:$|^  \(cannot read /dev/kmsg' "$tmp/err" &&
	! grep -qE '^    [0-9]+,[0-9]+,[0-9]+,' "$tmp/err" ||
	{ cat "$tmp/err" >&2; fail "item 9: no kernel log tail, or one with record headers"; }
for p in $(pgrep -x sleep); do
	grep -qzx "SWAPBENCH_TEST_ID=${SWAPBENCH_TEST_ID:-none}" "/proc/$p/environ" 2>/dev/null &&
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline")" = "sleep 90 " ] &&
		fail "item 9: the workload (pid $p) is still running after the tier went down"
done
[ ! -e "$SWAPBENCH_STATE_DIR/state.json" ] || fail "item 9: the tier was not taken down"
same_machine "$before" "item 9: after giving up on the workload"
info "item 9: gave up after the deadline with diagnostics, tier down, machine as before"
exit 0
