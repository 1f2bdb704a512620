#!/usr/bin/env bash
# Issue #20, items 6 and 7: descriptor limits and floods of connections.
#  6. At a low open-file limit, accept4 failed with EMFILE, the connection
#     stayed queued and vramd spun at 99% CPU logging millions of lines:
#     now the soft limit is raised to what --max-connections needs, and a
#     hard limit below that is refused at start.
#  7. A connect/close loop made a warning per connection (93k lines in
#     3 s): repeated warnings are one line a second with a count.
# Try:  tests/run-tests test-hostile-limits.sh
# timeout: 90

. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_vramd
requires prlimit python3 timeout nbdinfo

sock=$tmp/v.sock

# cpu_s PID: user+system CPU seconds so far.
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

# --- 6: a low soft limit is raised ------------------------------------------------
prlimit --nofile=24:4096 "$VRAMD" --backend null --size 64M --socket "$sock" --no-swap \
	--pidfile "$tmp/v.pid" --log "$tmp/v.log" || fail "vramd did not start under a soft limit of 24"
pid=$(cat "$tmp/v.pid")
cleanup_add "kill $pid 2>/dev/null"
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$pid/limits")
info "item 6: soft open-file limit 24 at start, $soft in vramd"
c0=$(cpu_s "$pid")
python3 - "$sock" <<'PY' &
import socket, sys, time
held = []
for _ in range(60):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(3)
PY
holder=$!
sleep 1
timeout 10 nbdinfo --size "nbd+unix:///?socket=$sock" >/dev/null 2>"$tmp/nbdinfo.err" ||
	bad "item 6: a client could not connect beside 60 silent ones: $(head -n 1 "$tmp/nbdinfo.err")"
wait "$holder"
c1=$(cpu_s "$pid")
lines=$(grep -c '' "$tmp/v.log")
info "item 6: 60 silent connections for 3 s: vramd used $(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }') s of CPU, $lines log lines"
awk -v a="$c0" -v b="$c1" 'BEGIN { exit !(b - a < 1.0) }' ||
	bad "item 6: vramd used $c0 -> $c1 s of CPU while 60 connections waited (spinning?)"
[ "$lines" -lt 50 ] || bad "item 6: $lines log lines: $(sort "$tmp/v.log" | uniq -c | sort -rn | head -n 3)"
kill "$pid"

# --- 6: a hard limit too low is refused at start ------------------------------------
rm -f "$sock"
if timeout 10 prlimit --nofile=24:24 "$VRAMD" --foreground --backend null --size 64M \
	--socket "$sock" --no-swap >/dev/null 2>"$tmp/low.err"; then
	bad "item 6: vramd ran (and exited 0) with a hard limit of 24"
elif [ $? = 124 ]; then
	bad "item 6: vramd started with a hard open-file limit of 24"
else
	grep -q 'open-file limit' "$tmp/low.err" ||
		bad "item 6: refused without saying why: $(cat "$tmp/low.err")"
	info "item 6: hard limit 24: $(cat "$tmp/low.err")"
fi

# --- 7: a connect/close loop ----------------------------------------------------------
rm -f "$sock" "$tmp/v.log"
"$VRAMD" --backend null --size 64M --socket "$sock" --no-swap --pidfile "$tmp/v.pid" \
	--log "$tmp/v.log" || fail "vramd did not start"
pid=$(cat "$tmp/v.pid")
cleanup_add "kill $pid 2>/dev/null"
n=$(python3 - "$sock" <<'PY'
import socket, sys, time
end, n = time.time() + 3, 0
while time.time() < end:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
        s.recv(8)
    except OSError:
        pass
    s.close()
    n += 1
print(n)
PY
)
sleep 0.5
lines=$(grep -c '' "$tmp/v.log")
info "item 7: $n connect/close in 3 s: $lines log lines; $(grep -m1 'more like it' "$tmp/v.log")"
[ "$lines" -lt 30 ] || bad "item 7: $lines log lines for $n connections"
kill "$pid"

checks_done
