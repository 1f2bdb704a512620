#!/usr/bin/env bash
# Issue #20, item 11: `swapbench restore` signals only a process it can
# prove it started: the start time and name recorded in the journal must
# both be there and both match.  A `sleep` started here is named by journal
# entries with start_ticks 0, with its own start time but another name, and
# through a pid file by an entry made after it started: restore must leave
# it running.  An entry with its true start time and name stops it.  Try:
#   tests/run-tests test-hostile-restore.sh
# timeout: 120

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_root
requires_swapbench
requires jq
swapbench_isolate

sleep 600 &
victim=$!
cleanup_add "kill $victim"
for ((i = 0; i < 50; i++)); do
	[ "$(cat "/proc/$victim/comm" 2>/dev/null)" = sleep ] && break
	sleep 0.05
done
ticks=$(sed 's/.*) //' "/proc/$victim/stat" | awk '{ print $20 }')
[ -n "$ticks" ] && [ "$ticks" -gt 0 ] || fail "cannot read the start time of pid $victim"
echo "$victim" >"$tmp/victim.pid"
hz=$(getconf CLK_TCK)
now_ticks=$(awk -v hz="$hz" '{ printf "%d", $1 * hz + hz }' /proc/uptime)

# survives LABEL ENTRY: restore with ENTRY must leave the sleep running.
survives() {
	journal_write "[$2]"
	with_timeout 60 "$SWAPBENCH" restore >"$tmp/out" 2>&1
	kill -0 "$victim" 2>/dev/null ||
		{ cat "$tmp/out" >&2; fail "item 11: $1: swapbench restore killed an unrelated process"; }
	info "item 11: $1: left running ($(grep -m1 'not stopping' "$tmp/out"))"
	rm -f "$SWAPBENCH_STATE_DIR/state.json"
}

survives "start_ticks 0" \
	"{\"kind\": \"process\", \"name\": \"sleep\", \"pid\": $victim, \"start_ticks\": 0, \"pidfile\": \"$tmp/none.pid\"}"
survives "its start time, another name (vramd)" \
	"{\"kind\": \"process\", \"name\": \"vramd\", \"comm\": \"vramd\", \"pid\": $victim, \"start_ticks\": $ticks, \"pidfile\": \"$tmp/none.pid\"}"
survives "its start time, no name recorded" \
	"{\"kind\": \"process\", \"name\": \"sleep\", \"pid\": $victim, \"start_ticks\": $ticks, \"pidfile\": \"$tmp/none.pid\"}"
survives "its pid file, started before the entry" \
	"{\"kind\": \"process\", \"name\": \"sleep\", \"pid\": 0, \"start_ticks\": 0, \"not_before_ticks\": $now_ticks, \"pidfile\": \"$tmp/victim.pid\"}"

# The process it did start, recorded in full, is stopped.
journal_write "[{\"kind\": \"process\", \"name\": \"sleep\", \"comm\": \"sleep\", \"pid\": $victim, \"start_ticks\": $ticks, \"pidfile\": \"$tmp/none.pid\"}]"
with_timeout 60 "$SWAPBENCH" restore >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; fail "item 11: restore failed"; }
for ((i = 0; i < 50; i++)); do
	kill -0 "$victim" 2>/dev/null || break
	sleep 0.1
done
wait "$victim" 2>/dev/null
kill -0 "$victim" 2>/dev/null && fail "item 11: the process recorded with its start time and name was not stopped"
info "item 11: the process recorded with its start time and name was stopped"
exit 0
