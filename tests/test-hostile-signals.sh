#!/usr/bin/env bash
# Issue #20, items 5 and 8: signals and exit under abuse.
#  5. A burst of SIGUSR1 must not delay SIGTERM (each used to queue a byte
#     and a full statistics dump: 1 s of them held exit for 70 s), and a
#     termination request must never be lost.
#  8. In swap mode SIGTERM is refused only for clients being served: a
#     silent connection still negotiating must not keep vramd alive, and
#     once exit is pending no new client gets in.
# Try:  tests/run-tests test-hostile-signals.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_vramd
requires timeout python3 nbdcopy nbdinfo

sock=$tmp/v.sock
uri="nbd+unix:///?socket=$sock"

# launch ARGS...: vramd in the foreground, in the background; PID set.
PID=''
launch() {
	local i
	rm -f "$sock"
	"$VRAMD" --foreground --backend null --size 64M --socket "$sock" "$@" \
		>"$tmp/out" 2>"$tmp/err" &
	PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && return 0
		sleep 0.05
	done
	fail "vramd did not listen on $sock: $(cat "$tmp/err")"
}
stop_leftover() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	return 0
}
cleanup_add stop_leftover

# gone_within SECONDS: vramd ($PID) exited within SECONDS; its status in RC.
RC=''
gone_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID"
			RC=$? PID=''
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# --- 5: a SIGUSR1 burst, then SIGTERM -------------------------------------------
launch --no-swap
end=$((SECONDS + 1))
n=0
while [ $SECONDS -lt $end ]; do
	kill -USR1 "$PID" 2>/dev/null || break
	n=$((n + 1))
done
kill -TERM "$PID"
t0=$SECONDS
if gone_within 5; then
	dumps=$(grep -c '"commands"' "$tmp/err")
	info "item 5: $n SIGUSR1 then SIGTERM: exit $RC after $((SECONDS - t0)) s, $dumps statistics dumps, $(stat -c %s "$tmp/err") bytes on stderr"
	[ "$RC" = 0 ] || bad "item 5: vramd exited with status $RC after SIGTERM"
else
	bad "item 5: vramd still runs 5 s after SIGTERM that followed $n SIGUSR1"
	kill -KILL "$PID"
	PID=''
fi

# --- 8: a silent connection does not hold a swap-mode exit ------------------------
if [ -n "${SWAPBENCH_SANITIZED:-}" ]; then
	info "item 8: skipped in a sanitizer build (no swap mode)"
elif [ "$(id -u)" != 0 ]; then
	info "item 8: skipped without root (swap mode needs mlockall)"
else
	launch --swap
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(20)' "$sock" &
	silent=$!
	cleanup_add "kill $silent 2>/dev/null"
	sleep 0.5
	kill -TERM "$PID"
	if gone_within 3; then
		info "item 8: SIGTERM with only a silent connection: exit $RC at once"
		[ "$RC" = 0 ] || bad "item 8: exit status $RC"
	else
		bad "item 8: a silent pre-handshake connection kept a swap-mode vramd alive 3 s after SIGTERM"
		kill -KILL "$PID"
		PID=''
	fi
	kill "$silent" 2>/dev/null
	wait "$silent" 2>/dev/null

	# A served client defers the exit; meanwhile a new one is refused.
	launch --swap
	# nbdcopy holds its connection while the pipe, unread for 3 s, is full.
	(nbdcopy "$uri" - 2>"$tmp/nbdsh.err" | (sleep 3; cat >/dev/null)) &
	served=$!
	cleanup_add "kill $served 2>/dev/null"
	sleep 1
	kill -TERM "$PID"
	sleep 0.5
	if ! kill -0 "$PID" 2>/dev/null; then
		bad "item 8: swap-mode vramd exited with a client being served"
	else
		grep -q 'refusing to exit' "$tmp/err" || bad "item 8: no refusal logged"
		if timeout 10 nbdinfo --size "$uri" >/dev/null 2>"$tmp/late.err"; then
			bad "item 8: a new client got in while exit was pending"
		else
			info "item 8: a new client while exit is pending: $(head -n 1 "$tmp/late.err")"
		fi
	fi
	wait "$served" || bad "item 8: the served client failed: $(cat "$tmp/nbdsh.err")"
	if gone_within 5; then
		info "item 8: exit $RC once the served client left"
		[ "$RC" = 0 ] || bad "item 8: exit status $RC"
	else
		bad "item 8: vramd did not exit within 5 s of its last client leaving"
	fi
fi

checks_done
