#!/usr/bin/env bash
# vramd through libnbd's C API (tests/nbd-client-check.c): zero, trim, flush,
# FUA, 256 pipelined commands retired out of order, overlapping pipelined
# writes landing in issue order, lone reads on two connections after
# pauses, multi-conn, and errno from error replies, with structured replies
# on and off, and once with --busy-poll (its statistics must show work
# found while polling); writes to a --read-only export must fail with
# EPERM; --max-connections 2 serves two clients beside two negotiating
# ones and refuses a third, and a GO until a slot is free; a client that
# reads no more replies does not keep vramd from exiting.  The same checks
# run against the null backend must fail, or they would prove nothing.
# Try:
#   tests/run-tests test-libnbd.sh
# timeout: 180

. "$(dirname "$0")/functions.sh"
requires_vramd
requires_backend
requires_test_prog nbd-client-check
requires jq
check=$BUILD/tests/nbd-client-check

[ "$VRAMD_BACKEND" != null ] ||
	skip "backend null drops writes: nothing to read back (the negative control runs it)"

# run_check NAME ARGS...: run the checker, its TAP output in the log; on
# failure repeat the failed checks at the end, where the runner's log tail
# shows them, and count it.
failed=()
run_check() {
	local name=$1 rc
	shift
	info "nbd-client-check $*"
	with_timeout 90 "$check" "$@" >"$tmp/$name.tap" 2>&1
	rc=$?
	cat "$tmp/$name.tap"
	if [ $rc != 0 ]; then
		failed+=("$name")
		echo "--- failed checks ($name: nbd-client-check $*, exit status $rc):" >>"$tmp/summary"
		grep -E '^not ok|^# byte' "$tmp/$name.tap" >>"$tmp/summary"
	fi
}

start_vramd --size 256M --stats-file "$tmp/sleep.json" --stats-interval-ms 0
run_check structured "$NBD_URI"
run_check simple --no-structured "$NBD_URI"
no_stats() {
	failed+=(stats)
	echo "--- vramd wrote no statistics to $1 on SIGUSR1" >>"$tmp/summary"
}
fresh_stats "$VRAMD_PID" "$tmp/sleep.json" || no_stats "$tmp/sleep.json"
SOCK=$tmp/poll.sock start_vramd --size 64M --busy-poll 200 --stats-file "$tmp/poll.json" \
	--stats-interval-ms 0
run_check busy-poll "$NBD_URI"
fresh_stats "$VRAMD_PID" "$tmp/poll.json" || no_stats "$tmp/poll.json"
# Without the option a worker never polls; with it, some of the checker's
# requests must have come while it did.
hits=$(jq -c '[.busy_poll_hits]' "$tmp/sleep.json" "$tmp/poll.json" | paste -sd' ')
info "busy_poll_hits without and with --busy-poll 200: $hits"
case " ${VRAMD_ARGS:-}" in *" --busy-poll"*) want='true' ;; *) want='.busy_poll_hits == 0' ;; esac
jq -e "$want" "$tmp/sleep.json" >/dev/null && jq -e '.busy_poll_hits > 0' "$tmp/poll.json" >/dev/null || {
	failed+=(busy-poll-hits)
	echo "--- busy_poll_hits without and with --busy-poll 200: $hits" >>"$tmp/summary"
}

SOCK=$tmp/ro.sock start_vramd --size 64M --read-only
run_check ro-structured --read-only "$NBD_URI"
run_check ro-simple --read-only --no-structured "$NBD_URI"

# The connection limit: two clients still negotiating take no slot; a third
# served client is refused at once, with a log line, and the statistics
# count it; a negotiating one's GO is refused until a slot is free.
SOCK=$tmp/limit.sock start_vramd --size 1M --max-connections 2 --stats-file "$tmp/limit.json" \
	--stats-interval-ms 0
run_check limit --connection-limit 2 "$NBD_URI"
grep -q 'refusing connection: all 2 connections in use' "$tmp/vramd.log" || {
	failed+=(limit-log)
	echo "--- --max-connections 2: no 'refusing connection' line in vramd's log" >>"$tmp/summary"
}
# The silent connections' handshakes end once they close (asked again for
# up to 5 s: a loaded machine may take a while to run those threads).
limit_ok() {
	jq -e '.connections_max == 2 and .connections_refused >= 1 and .handshakes_current == 0' \
		"$tmp/limit.json" >/dev/null
}
for _ in 1 2 3 4 5 6 7 8 9 10; do
	fresh_stats "$VRAMD_PID" "$tmp/limit.json" || { no_stats "$tmp/limit.json"; break; }
	limit_ok && break
	sleep 0.5
done
limit_ok || {
	failed+=(limit-stats)
	echo "--- --max-connections 2: statistics $(jq -c '{connections_max, connections_refused,
		handshakes_current}' "$tmp/limit.json" 2>&1)" >>"$tmp/summary"
}

# A client that reads no more replies does not hold the exit: with its 64
# reads of 1 MiB unread (vramd's send blocked on the full socket), SIGTERM
# still ends vramd (no swap mode) within 10 s.
SOCK=$tmp/stall.sock start_vramd --size 64M
"$check" --stall-reads "$NBD_URI" >"$tmp/stall.out" 2>&1 &
stall_pid=$!
cleanup_add "kill $stall_pid 2>/dev/null"
for ((i = 0; i < 200; i++)); do
	grep -q '^stalled' "$tmp/stall.out" && break
	sleep 0.05
done
sleep 0.5 # the replies fill the socket
kill -TERM "$VRAMD_PID"
for ((i = 0; i < 200; i++)); do
	kill -0 "$VRAMD_PID" 2>/dev/null || break
	sleep 0.05
done
if ! grep -q '^stalled' "$tmp/stall.out"; then
	failed+=(stall)
	echo "--- nbd-client-check --stall-reads did not stall: $(cat "$tmp/stall.out")" >>"$tmp/summary"
elif kill -0 "$VRAMD_PID" 2>/dev/null; then
	failed+=(stall-exit)
	echo "--- vramd still running 10 s after SIGTERM, a client's replies unread" >>"$tmp/summary"
	kill -KILL "$VRAMD_PID"
fi
kill "$stall_pid" 2>/dev/null
wait "$stall_pid" 2>/dev/null

# Negative control: the null backend acknowledges writes and reads zeros,
# so the checker must catch it.
VRAMD_BACKEND=null SOCK=$tmp/null.sock start_vramd --size 256M
with_timeout 90 "$check" "$NBD_URI" >"$tmp/null.tap" 2>&1
rc=$?
if [ $rc != 1 ]; then
	failed+=(negative-control)
	echo "--- null backend: nbd-client-check exited with $rc, expected 1" >>"$tmp/summary"
elif ! grep -q '^not ok .*pwrite 4 MiB at 0: byte at 0 ' "$tmp/null.tap" ||
	! grep -q '^not ok .*pipelined read' "$tmp/null.tap"; then
	failed+=(negative-control)
	echo "--- null backend: the read-back checks did not catch the dropped writes" >>"$tmp/summary"
else
	info "ok: null backend fails the data checks ($(grep -c '^not ok' "$tmp/null.tap") failed)"
fi

if [ ${#failed[@]} != 0 ]; then
	cat "$tmp/summary"
	fail "nbd-client-check failed: ${failed[*]}"
fi
