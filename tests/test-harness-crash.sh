#!/usr/bin/env bash
# swapbench's crash-safe lifecycle.  For every tier this host supports:
# kill swapbench with SIGKILL while its workload is swapping, then
# `swapbench restore` must leave the machine exactly as before (the workload
# killed, swap off, devices detached, daemons stopped, settings back).
# Then SIGKILL at every step of setting the nbd and zram tiers up
# (SWAPBENCH_TEST_KILL_AT), each followed by a restore; an interrupted run
# restored by the next `tier up`; SIGTERM during a workload and SIGINT
# during --hold, which swapbench undoes by itself.  Try:
#   tests/run-tests test-harness-crash.sh
# timeout: 240

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

MEMTOUCH=$BUILD/tests/memtouch

requires_root
requires jq
requires_swapbench
requires_test_prog memtouch
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' ')"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)
server_swap=on
[ -z "${SWAPBENCH_SANITIZED:-}" ] || server_swap=off

# Per tier: the options that make it run here, with a swap file of our own.
declare -A args=(
	[zram]="--size 1G --algorithm lzo --page-cluster 0 --watermark-scale-factor 50 --thp never"
	[disk]="--size 1G --file /var/tmp/swapbench-test-crash-$$.swap"
	[zswap]="--size 1G --file /var/tmp/swapbench-test-crash-zswap-$$.swap --max-pool-percent 30"
	[nbd]="--size 1G --backend ram --transport fuse --server-swap $server_swap"
)
tiers=()
for t in zram disk zswap nbd; do
	if supported_tier "$t"; then
		tiers+=("$t")
	else
		info "$t: not supported here: $(jq -r --arg t "$t" '.tiers[$t].why' <<<"$_doctor_json")"
	fi
done
[ ${#tiers[@]} -gt 0 ] || skip "no tier can run on this host"

# restore_clean WHAT: swapbench restore succeeds and the machine is as before.
restore_clean() {
	with_timeout 120 "$SWAPBENCH" restore || fail "$1: swapbench restore failed"
	[ ! -e "$SWAPBENCH_STATE_DIR/state.json" ] || fail "$1: journal left after restore"
	same_machine "$before" "$1"
}

# start_up TIER ARGS...: swapbench tier up in the background (SB_PID), its
# output in $tmp/sb.log.
start_up() {
	"$SWAPBENCH" tier up "$@" >"$tmp/sb.log" 2>&1 &
	SB_PID=$!
}

# --- SIGKILL while the workload swaps, then swapbench restore -------------------

for t in "${tiers[@]}"; do
	# shellcheck disable=SC2086 # the options are words
	start_up "$t" ${args[$t]} -- "$MEMTOUCH" --bytes 512M --passes 4
	dev=
	for ((i = 0; i < 300; i++)); do
		dev=$(jq -r '.tier.state.swap_dev // empty' "$SWAPBENCH_STATE_DIR/state.json" 2>/dev/null)
		[ -n "$dev" ] && break
		sleep 0.1
	done
	[ -n "$dev" ] || { cat "$tmp/sb.log" >&2; fail "$t: no swap device in the journal"; }
	wait_swap_used "$dev" $((64 << 10)) 60 ||
		{ cat "$tmp/sb.log" >&2; fail "$t: '$dev' never held 64 MiB"; }
	kill -KILL "$SB_PID"
	wait "$SB_PID"
	used=$(swap_used_kib "$dev")
	[ -n "$used" ] || fail "$t: '$dev' is not swap after swapbench was killed (nothing to restore?)"
	info "$t: killed swapbench with '$dev' holding ${used} KiB; restoring"
	restore_clean "$t after SIGKILL mid-run"
done

# --- SIGKILL at every step of setting up -----------------------------------------

# kill_at_each TIER ARGS...: SIGKILL before the Nth change for N = 1, 2, ...
# until a run gets through, each followed by a restore.
kill_at_each() {
	local t=$1 n rc
	shift
	for ((n = 1; n < 30; n++)); do
		# Not with_timeout: 137 is the expected SIGKILL here, not a timeout.
		SWAPBENCH_TEST_KILL_AT=$n timeout 60 "$SWAPBENCH" tier up "$t" "$@" -- true \
			>"$tmp/sb.log" 2>&1
		rc=$?
		[ $rc = 0 ] && break
		[ $rc = 137 ] && grep -q "SWAPBENCH_TEST_KILL_AT=$n: killing myself" "$tmp/sb.log" ||
			{ cat "$tmp/sb.log" >&2; fail "$t: exit $rc with SWAPBENCH_TEST_KILL_AT=$n"; }
		restore_clean "$t killed before change $n"
	done
	same_machine "$before" "$t after a run with no kill"
	info "$t: killed before each of its $((n - 1)) changes, restored every time"
}
for t in nbd zram; do
	# shellcheck disable=SC2086
	[[ " ${tiers[*]} " == *" $t "* ]] && kill_at_each "$t" ${args[$t]}
done

# --- the next start restores an interrupted run -----------------------------------

t=${tiers[0]}
# shellcheck disable=SC2086
SWAPBENCH_TEST_KILL_AT=3 "$SWAPBENCH" tier up "$t" ${args[$t]} -- true >/dev/null 2>&1
[ -s "$SWAPBENCH_STATE_DIR/state.json" ] || fail "no journal after SIGKILL"
# shellcheck disable=SC2086
with_timeout 120 "$SWAPBENCH" tier up "$t" ${args[$t]} -- true 2>"$tmp/next.log" ||
	{ cat "$tmp/next.log" >&2; fail "$t: the next start failed"; }
grep -q 'found the journal of an interrupted swapbench' "$tmp/next.log" ||
	{ cat "$tmp/next.log" >&2; fail "the next start did not say it restored"; }
same_machine "$before" "$t: next start after SIGKILL"
info "$t: the next 'tier up' restored the interrupted run first"

# --- SIGTERM during a workload, SIGINT during --hold: undone by swapbench ------------

# shellcheck disable=SC2086
start_up "$t" ${args[$t]} -- "$MEMTOUCH" --bytes 512M --passes 20
for ((i = 0; i < 300; i++)); do
	dev=$(jq -r '.tier.state.swap_dev // empty' "$SWAPBENCH_STATE_DIR/state.json" 2>/dev/null)
	[ -n "$dev" ] && wait_swap_used "$dev" $((32 << 10)) 30 && break
	sleep 0.1
done
kill -TERM "$SB_PID"
wait "$SB_PID"
rc=$?
[ $rc = 143 ] || { cat "$tmp/sb.log" >&2; fail "$t: exit $rc after SIGTERM, expected 143"; }
[ ! -e "$SWAPBENCH_STATE_DIR/state.json" ] || fail "$t: journal left after SIGTERM"
same_machine "$before" "$t after SIGTERM"
info "$t: SIGTERM mid-workload: exit 143, machine restored"

# shellcheck disable=SC2086
start_up "$t" ${args[$t]} --hold
for ((i = 0; i < 300; i++)); do
	grep -q 'holding it until' "$tmp/sb.log" && break
	sleep 0.1
done
grep -q 'holding it until' "$tmp/sb.log" || { cat "$tmp/sb.log" >&2; fail "$t --hold never held"; }
kill -INT "$SB_PID"
wait "$SB_PID"
rc=$?
[ $rc = 0 ] || { cat "$tmp/sb.log" >&2; fail "$t --hold: exit $rc after SIGINT"; }
same_machine "$before" "$t --hold after SIGINT"
info "$t: SIGINT ends --hold: exit 0, machine restored"
exit 0
