#!/usr/bin/env bash
# timeout: 420
# swapbench's crash-safe lifecycle.  For every tier this host supports:
# kill swapbench with SIGKILL while its workload is swapping, then
# `swapbench restore` must leave the machine exactly as before (the workload
# killed, swap off, devices detached, daemons stopped, settings back).
# The nbd tier is crashed through two transports, nbdfuse and vramd-fuse
# (vramd's own FUSE mount, FUSE over io_uring where the kernel has it).
# Then SIGKILL at every step of setting the nbd (both transports) and zram
# tiers up (SWAPBENCH_TEST_KILL_AT, in build/swapbench-test), each followed by a restore; vramd
# killed as well as swapbench (vramd-fuse: its mount left with a dead
# connection); an interrupted run restored by the next `tier up`; SIGTERM
# during a workload and SIGINT during --hold, which swapbench undoes by
# itself.  Try:
#   tests/run-tests test-harness-crash.sh

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

MEMTOUCH=$BUILD/tests/memtouch

requires_root
requires jq
requires_swapbench
requires_swapbench_hooked
requires_test_prog memtouch
[ -z "$(active_swaps)" ] ||
	skip "swap already active on this host: $(active_swaps | tr '\n' ' ')"
memcg_find || skip "no memory cgroup controller mounted (v1 or v2)"
keep_stderr
swapbench_isolate
before=$(machine_snapshot)
server_swap=on
[ -z "${SWAPBENCH_SANITIZED:-}" ] || server_swap=off

# Per case: the options that make it run here, with a swap file of our own.
# A case is a tier, or TIER/TRANSPORT for another transport of nbd.
declare -A args=(
	[zram]="--size 1G --algorithm lzo --page-cluster 0 --watermark-scale-factor 50 --thp never"
	[disk]="--size 1G --file /var/tmp/swapbench-test-crash-$$.swap"
	[zswap]="--size 1G --file /var/tmp/swapbench-test-crash-zswap-$$.swap --max-pool-percent 30"
	[nbd]="--size 1G --backend ram --transport nbdfuse --server-swap $server_swap"
	[nbd/vramd-fuse]="--size 1G --backend ram --transport vramd-fuse --fuse-uring auto --server-swap $server_swap"
)
tiers=()
for t in zram disk zswap nbd nbd/vramd-fuse; do
	if ! supported_tier "${t%%/*}"; then
		info "$t: not supported here: $(jq -r --arg t "${t%%/*}" '.tiers[$t].why' <<<"$_doctor_json")"
	elif [ "$t" = nbd/vramd-fuse ] &&
	     [ "$(jq -r '.nbd_transports["vramd-fuse"].offered' <<<"$_doctor_json")" != true ]; then
		info "$t: not offered here: $(jq -r '.nbd_transports["vramd-fuse"].detail' <<<"$_doctor_json")"
	else
		tiers+=("$t")
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
	start_up "${t%%/*}" ${args[$t]} -- "$MEMTOUCH" --bytes 512M --passes 4
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
		SWAPBENCH_TEST_KILL_AT=$n timeout 60 "$SWAPBENCH_HOOKED" tier up "${t%%/*}" "$@" -- true \
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
for t in nbd nbd/vramd-fuse zram; do
	# shellcheck disable=SC2086
	[[ " ${tiers[*]} " == *" $t "* ]] && kill_at_each "$t" ${args[$t]}
done

# --- vramd-fuse: vramd killed too, its mount left with a dead connection ----------

if [[ " ${tiers[*]} " == *" nbd/vramd-fuse "* ]]; then
	t=nbd/vramd-fuse
	# shellcheck disable=SC2086
	start_up nbd ${args[$t]} --hold
	for ((i = 0; i < 300; i++)); do
		grep -q 'holding it until' "$tmp/sb.log" && break
		sleep 0.1
	done
	grep -q 'holding it until' "$tmp/sb.log" || { cat "$tmp/sb.log" >&2; fail "$t --hold never held"; }
	state=$(jq -c .tier.state "$SWAPBENCH_STATE_DIR/state.json")
	dev=$(jq -r .swap_dev <<<"$state")
	vpid=$(jq -r .vramd_pid <<<"$state")
	mnt=$SWAPBENCH_STATE_DIR/nbd/mnt
	# Nothing may be swapped out to a device whose server is about to die.
	[ "$(swap_used_kib "$dev")" = 0 ] || fail "$t: '$dev' holds $(swap_used_kib "$dev") KiB before the kill"
	kill -KILL "$SB_PID"
	wait "$SB_PID"
	kill -KILL "$vpid" || fail "$t: no vramd (pid $vpid) to kill"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$vpid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q " $mnt fuse.vramd " /proc/mounts ||
		fail "$t: no fuse.vramd mount on '$mnt' after vramd was killed (expected a dead one)"
	info "$t: killed swapbench and vramd (pid $vpid), '$mnt' left mounted; restoring"
	restore_clean "$t after SIGKILL of swapbench and vramd"
	info "$t: the dead mount, its loop device and swap were undone"
fi

# --- the next start restores an interrupted run -----------------------------------

t=${tiers[0]}
# shellcheck disable=SC2086
SWAPBENCH_TEST_KILL_AT=3 "$SWAPBENCH_HOOKED" tier up "${t%%/*}" ${args[$t]} -- true >/dev/null 2>&1
[ -s "$SWAPBENCH_STATE_DIR/state.json" ] || fail "no journal after SIGKILL"
# shellcheck disable=SC2086
with_timeout 120 "$SWAPBENCH" tier up "${t%%/*}" ${args[$t]} -- true 2>"$tmp/next.log" ||
	{ cat "$tmp/next.log" >&2; fail "$t: the next start failed"; }
grep -q 'found the journal of an interrupted swapbench' "$tmp/next.log" ||
	{ cat "$tmp/next.log" >&2; fail "the next start did not say it restored"; }
same_machine "$before" "$t: next start after SIGKILL"
info "$t: the next 'tier up' restored the interrupted run first"

# --- SIGTERM during a workload, SIGINT during --hold: undone by swapbench ------------

# shellcheck disable=SC2086
start_up "${t%%/*}" ${args[$t]} -- "$MEMTOUCH" --bytes 512M --passes 20
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
start_up "${t%%/*}" ${args[$t]} --hold
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
