#!/usr/bin/env bash
# timeout: 420
# Tier stacks (`run --tiers 'A>B'`) on real swap: zram>disk and
# zswap>nbd:backend=ram each swap pages on both levels (each level's
# written_pages and held_peak_bytes in run.levels, both devices active at
# priorities 100 and 10 while up), and leave the machine as before; a
# stack interrupted with SIGINT tears itself down; one killed with
# SIGKILL mid-workload leaves a journal naming both levels, from which
# `swapbench restore` brings the machine back.  Sizes: the quick scenario at
# 3x its 256 MiB limit, so that zram (half the overflow, whatever the
# scenario's tier.size) fills and the disk takes the rest, and zswap's pool (1% of RAM, at most 250 MiB on a
# 24 GiB host) overflows to the nbd device.  Try:
#   tests/run-tests test-harness-stack.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires jq
requires_swapbench
requires_swap_tiers zram disk zswap nbd
mem_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
[ "$mem_kib" -le $((40 << 20)) ] ||
	skip "zswap's smallest pool (1% of RAM, $((mem_kib / 102400)) MiB) would hold all of this test's overflow"
keep_stderr
swapbench_isolate
export SWAPBENCH_SCENARIOS=$top/scenarios
before=$(machine_snapshot)
swapfile=/var/tmp/swapbench-test-stack-$$.swap
cleanup_add "rm -f '$swapfile'"
# vramd's swap mode (mlockall) is ruled out by ASan's shadow memory.
server_swap=on
[ -z "${SWAPBENCH_SANITIZED:-}" ] || server_swap=off
zs="zswap:max-pool-percent=1>nbd:backend=ram:size=1G:server-swap=$server_swap:as=zswap-nbd"
zd="zram>disk:file=$swapfile:as=zram-disk"

# --- both stacks, both levels -----------------------------------------------------
# (A scenario's tier.size goes to the lowest level: zram still gets half
# the overflow, 256 MiB.)
with_timeout 300 "$SWAPBENCH" run --scenario quick --tiers "$zd,$zs" --repeats 1 --set tier.size=1G \
	--set workload.ratio=3 --set workload.duration_s=4 --out "$tmp/run" >"$tmp/run.out" 2>&1 ||
	bad "run: $(tail -n 15 "$tmp/run.out")"
doc=$tmp/run/run.json
jq -e '[.runs[] | .tier] == ["zram-disk", "zswap-nbd"] and all(.runs[]; .valid == true)' \
	"$doc" >/dev/null || bad "runs: $(jq -c '[.runs[] | {tier, valid, invalid_reason}]' "$doc" 2>/dev/null)"
for t in zram-disk zswap-nbd; do
	jq -e --arg t "$t" '.runs[] | select(.tier == $t) | (.levels | length == 2) and
		all(.levels[]; .written_pages > 1000 and .held_peak_bytes > 0 and .first_took_s != null)' \
		"$doc" >/dev/null ||
		bad "$t: a level moved no pages: $(jq -c --arg t "$t" '.runs[] | select(.tier == $t) | .levels' "$doc")"
done
jq -e '.runs[0].stack == ["zram", "disk"] and
	([.runs[0].tier_counters_before.levels[] | .swaps.priority] == [100, 10]) and
	.fingerprint.tier_config["zram-disk"].levels[0].tier == "zram" and
	.fingerprint.tier_config["zram-disk"].levels[0].disksize_bytes == 268435456' "$doc" >/dev/null ||
	bad "zram>disk: stack, priorities or description: $(jq -c '.runs[0] | {stack, p: [.tier_counters_before.levels[]? | .swaps.priority]}' "$doc")"
grep -q 'zram+disk\|zram-disk' "$tmp/run.out" || bad "the run's progress does not name the stack"
same_machine "$before" "after the stacks' runs"

# run_bg: a long zram>disk run in the background (SB_PID); waits until both
# levels are swap.
run_bg() {
	"$SWAPBENCH" run --scenario quick --tiers "$zd" --repeats 1 --set workload.ratio=3 \
		--set workload.duration_s=60 --set workload.timeout_s=120 --out "$tmp/$1" >"$tmp/$1.out" 2>&1 &
	SB_PID=$!
	for ((i = 0; i < 300; i++)); do
		[ "$(active_swaps | wc -l)" = 2 ] && [ -n "$(jq -r '.tier.levels[0].state.swap_dev // empty' \
			"$SWAPBENCH_STATE_DIR/state.json" 2>/dev/null)" ] && break
		sleep 0.1
	done
	[ "$(active_swaps | wc -l)" = 2 ] || fail "$1: the stack never had both levels on: $(cat "$tmp/$1.out")"
	sleep 3	# the workload swapping
}

# --- SIGINT: swapbench tears the stack down itself ---------------------------------
run_bg sigint
kill -INT "$SB_PID"
with_timeout 90 tail --pid="$SB_PID" -f /dev/null
wait "$SB_PID"
rc=$?
[ $rc = 130 ] || bad "SIGINT: exit status $rc, expected 130: $(tail -n 5 "$tmp/sigint.out")"
[ ! -e "$SWAPBENCH_STATE_DIR/state.json" ] || bad "SIGINT: the journal was left"
same_machine "$before" "after SIGINT"

# --- SIGKILL, then swapbench restore -------------------------------------------------
run_bg sigkill
kill -KILL "$SB_PID"
wait "$SB_PID" 2>/dev/null
jq -e '.tier.name == "zram" and .tier.levels[0].name == "disk"' "$SWAPBENCH_STATE_DIR/state.json" >/dev/null ||
	bad "the journal does not name both levels: $(head -c 400 "$SWAPBENCH_STATE_DIR/state.json")"
with_timeout 120 "$SWAPBENCH" restore >"$tmp/restore.out" 2>&1 || bad "restore: $(tail -n 10 "$tmp/restore.out")"
[ ! -e "$SWAPBENCH_STATE_DIR/state.json" ] || bad "restore left the journal"
same_machine "$before" "after SIGKILL and restore"
checks_done
