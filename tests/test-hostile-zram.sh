#!/usr/bin/env bash
# Issue #20, item 14: the zram tier's kill-at-every-step guarantee holds on
# a host with no free zram device, where the tier must hot_add one.  The
# free zram devices are removed for the test (put back at its end), then
# swapbench (the test build) is SIGKILLed before each change of `tier up
# zram` in turn, each followed by `swapbench restore`: the machine must be
# as before every time, with no zram device left behind.  Try:
#   tests/run-tests test-hostile-zram.sh
# timeout: 300

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires jq
requires_swapbench
requires_swapbench_hooked
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' ')"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
supported_tier zram || skip "the zram tier cannot run here"
ctl=/sys/class/zram-control
[ -w "$ctl/hot_remove" ] || skip "no $ctl (zram built without hot_add/hot_remove?)"
keep_stderr
swapbench_isolate

# zram_ids: the numbers of the zram devices present.
zram_ids() {
	local d
	for d in /sys/block/zram*; do
		[ -e "$d" ] && echo "${d#/sys/block/zram}"
	done
}
# put_back: add zram devices until those removed are back; any other
# number hot_add gives on the way is removed again.
put_back() {
	local i n extra=()
	for ((i = 0; i < 16; i++)); do
		for n in "${removed[@]}"; do
			[ -e "/sys/block/zram$n" ] || break
			n=
		done
		[ -z "$n" ] && break
		n=$(cat "$ctl/hot_add") || break
		[[ " ${removed[*]} " == *" $n "* ]] || extra+=("$n")
	done
	for n in "${extra[@]}"; do
		echo "$n" >"$ctl/hot_remove"
	done
}

removed=()
for n in $(zram_ids); do
	[ "$(cat "/sys/block/zram$n/disksize")" = 0 ] || continue
	grep -q "^/dev/zram$n " /proc/swaps && continue
	if echo "$n" >"$ctl/hot_remove" 2>/dev/null; then
		removed+=("$n")
	fi
done
cleanup_add put_back
info "item 14: removed the free zram devices (${removed[*]:-none}); zram devices now: $(zram_ids | tr '\n' ' ')"
for n in $(zram_ids); do
	[ "$(cat "/sys/block/zram$n/disksize")" = 0 ] &&
		skip "zram$n is free but could not be removed (in use by someone else?)"
done

before=$(machine_snapshot)
args=(--size 256M --algorithm lzo --page-cluster 0 --watermark-scale-factor 50 --thp never)
for ((n = 1; n < 30; n++)); do
	SWAPBENCH_TEST_KILL_AT=$n timeout 60 "$SWAPBENCH_HOOKED" tier up zram "${args[@]}" -- true \
		>"$tmp/sb.log" 2>&1
	rc=$?
	[ $rc = 0 ] && break
	[ $rc = 137 ] && grep -q "SWAPBENCH_TEST_KILL_AT=$n: killing myself" "$tmp/sb.log" ||
		{ cat "$tmp/sb.log" >&2; fail "item 14: exit $rc with SWAPBENCH_TEST_KILL_AT=$n"; }
	with_timeout 120 "$SWAPBENCH" restore >"$tmp/restore.log" 2>&1 ||
		{ cat "$tmp/restore.log" >&2; fail "item 14: restore failed after a kill before change $n"; }
	same_machine "$before" "item 14: zram with no free device, killed before change $n"
done
[ $rc = 0 ] || fail "item 14: 'tier up zram' never got through"
same_machine "$before" "item 14: zram with no free device, after a run with no kill"
info "item 14: no free zram device: killed before each of $((n - 1)) changes, restored every time"
exit 0
